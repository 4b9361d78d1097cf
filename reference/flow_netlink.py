"""A sans-I/O generic-netlink ``ovs_flow`` endpoint in front of the reference datapath.

Feed it the bytes a netlink client would ``send()`` to the kernel; it
returns the bytes the client would ``recv()``. Nothing is read or written.
This lets a netlink client (the kernel backend, pyroute2, a vendor's C
library over a socketpair) be tested against the reference without a kernel.

Framing (include/uapi/linux/netlink.h, genetlink.h, openvswitch.h), all
integers in host byte order::

    struct nlmsghdr   { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }   16 bytes
    struct genlmsghdr { u8 cmd; u8 version; u16 reserved; }                  4 bytes
    struct ovs_header { int dp_ifindex; }                                    4 bytes
    attributes        OVS_FLOW_ATTR_* (struct nlattr TLVs, 4-byte aligned)

``type`` is the ``ovs_flow`` family id (:attr:`FlowNetlinkEndpoint.family_id`;
``CTRL_CMD_GETFAMILY`` on ``nlctrl`` (0x10) resolves it by name). One input
buffer may hold several messages; the replies are concatenated in order.

Replies, as net/openvswitch/datapath.c and net/netlink/af_netlink.c send them:

* GET: one message (cmd GET) with the flow's attributes in the kernel's
  order (:meth:`reference.datapath.FlowInfo.attrs`).
* GET with NLM_F_DUMP: one NLM_F_MULTI message per flow, then NLMSG_DONE
  (payload: int 0). The kernel splits a dump over several ``recv()`` calls;
  here the whole dump is one buffer.
* NEW/SET/DEL: a reply message (cmd NEW/SET/DEL) only with NLM_F_ECHO.
* Errors: NLMSG_ERROR with ``-errno`` and the whole request echoed back
  (a socket without NETLINK_CAP_ACK or NETLINK_EXT_ACK, the default: no
  extended-ack TLVs); with NLM_F_ACK a success is acknowledged by
  NLMSG_ERROR with error 0 and the request's header only (NLM_F_CAPPED).
  Messages without NLM_F_REQUEST and control messages are skipped, but
  acked when they ask for it.

Attribute policy (datapath.c ``flow_policy``): attributes above
OVS_FLOW_ATTR_MAX are ignored (for a legacy datapath, everything above
PROBE, so UFID and UFID_FLAGS); CLEAR and PROBE must be empty and UFID_FLAGS
at least 4 bytes, else ERANGE; a 0-byte UFID is ERANGE; a repeated
attribute takes the last value. A buffer whose netlink headers do not frame
(truncated, a length that lies) raises :class:`~reference.errors.OdpDecodeError`:
the kernel would not see it as messages at all.
"""

from __future__ import annotations

import errno as _errno
import struct
from dataclasses import dataclass

from reference._netlink import GENLMSGHDR, NLMSGERR, NLMSGHDR, OVS_HEADER, align, iter_attrs, pack_attr, pack_attrs
from reference.datapath import FlowInfo, FlowRequest, ReferenceDatapath
from reference.dpif import DpifError
from reference.errors import OdpDecodeError
from reference.uapi import (
    GENL_ID_CTRL,
    OVS_FLOW_FAMILY,
    OVS_FLOW_VERSION,
    CtrlAttr,
    CtrlCmd,
    FlowAttr,
    FlowCmd,
    NlmFlag,
    NlmsgType,
)

__all__ = [
    "DEFAULT_DP_IFINDEX",
    "DEFAULT_FAMILY_ID",
    "GENL_ID_CTRL",
    "FlowNetlinkEndpoint",
    "NetlinkMessage",
    "split_messages",
]

_HDRS = NLMSGHDR.size + GENLMSGHDR.size + OVS_HEADER.size


DEFAULT_FAMILY_ID = 0x20
DEFAULT_DP_IFINDEX = 1
_FLOW_ATTR_MAX = int(FlowAttr.PAD)
# A kernel from before the UFID series knew attributes up to PROBE only.
_LEGACY_FLOW_ATTR_MAX = int(FlowAttr.PROBE)


@dataclass(frozen=True, slots=True)
class NetlinkMessage:
    """One framed netlink message: header fields and the payload after ``struct nlmsghdr``."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes

    def header(self, length: int | None = None) -> bytes:
        """The 16-byte ``struct nlmsghdr`` (``length`` defaults to this message's)."""
        n = NLMSGHDR.size + len(self.payload) if length is None else length
        return NLMSGHDR.pack(n, self.type, self.flags, self.seq, self.pid)


def split_messages(data: bytes, *, where: str = "netlink") -> list[NetlinkMessage]:
    """Split a buffer into messages (NLMSG_OK/NLMSG_NEXT); raises :class:`OdpDecodeError` if it does not frame."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OdpDecodeError(f"expected bytes, got {type(data).__name__}", where=where)
    data = bytes(data)
    out: list[NetlinkMessage] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < NLMSGHDR.size:
            raise OdpDecodeError(f"truncated nlmsghdr ({len(data) - pos} bytes, need 16)", where=where, offset=pos)
        length, mtype, flags, seq, pid = NLMSGHDR.unpack_from(data, pos)
        if length < NLMSGHDR.size or pos + length > len(data):
            raise OdpDecodeError(
                f"nlmsg_len {length} does not fit the {len(data) - pos} bytes left", where=where, offset=pos
            )
        out.append(NetlinkMessage(mtype, flags, seq, pid, data[pos + NLMSGHDR.size : pos + length]))
        pos += align(length)
    return out


def _message(mtype: int, flags: int, seq: int, pid: int, payload: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), mtype, flags, seq, pid) + payload


class FlowNetlinkEndpoint:
    """Serve ``ovs_flow`` generic-netlink requests from a :class:`ReferenceDatapath` (kernel semantics).

    ``family_id`` is the id this fake kernel gave the ``ovs_flow`` family;
    ``dp_ifindex`` the datapath's ifindex that requests must carry in
    ``struct ovs_header`` (others get ENODEV). Call :meth:`handle` with
    request bytes; it returns the reply bytes.
    """

    def __init__(
        self,
        datapath: ReferenceDatapath,
        *,
        family_id: int = DEFAULT_FAMILY_ID,
        dp_ifindex: int = DEFAULT_DP_IFINDEX,
    ) -> None:
        if datapath.semantics != "kernel":
            raise ValueError("the netlink endpoint serves kernel semantics; the datapath is " + datapath.semantics)
        if not NlmsgType.MIN_TYPE < family_id <= 0xFFFF:
            raise ValueError(f"family id {family_id} must be above {int(NlmsgType.MIN_TYPE)} and fit 16 bits")
        self.datapath = datapath
        self.family_id = family_id
        self.dp_ifindex = dp_ifindex
        self._maxattr = _FLOW_ATTR_MAX if datapath.features.ufid else _LEGACY_FLOW_ATTR_MAX

    # -- entry point ------------------------------------------------------

    def handle(self, data: bytes) -> bytes:
        """Process every request message in ``data``; return all reply messages, concatenated."""
        replies: list[bytes] = []
        for msg in split_messages(data, where="request"):
            replies.extend(self._one(msg))
        return b"".join(replies)

    # -- one message --------------------------------------------------------

    def _error(self, msg: NetlinkMessage, code: int) -> bytes:
        # af_netlink.c netlink_ack: struct nlmsgerr { int error; struct nlmsghdr msg; }.
        # An error echoes the whole request (a socket without NETLINK_CAP_ACK,
        # the default); an ACK (error 0) carries the header only, NLM_F_CAPPED.
        if code:
            payload = NLMSGERR.pack(-code) + msg.header() + msg.payload
            return _message(NlmsgType.ERROR, 0, msg.seq, msg.pid, payload)
        payload = NLMSGERR.pack(0) + msg.header()
        return _message(NlmsgType.ERROR, int(NlmFlag.CAPPED), msg.seq, msg.pid, payload)

    def _one(self, msg: NetlinkMessage) -> list[bytes]:
        # af_netlink.c netlink_rcv_skb: what is not a request, and control
        # messages (NOOP, DONE, ...), are not processed but still acked on NLM_F_ACK.
        if not msg.flags & NlmFlag.REQUEST or msg.type < NlmsgType.MIN_TYPE:
            return [self._error(msg, 0)] if msg.flags & NlmFlag.ACK else []
        try:
            if msg.type == GENL_ID_CTRL:
                out = self._ctrl(msg)
            elif msg.type == self.family_id:
                out = self._flow(msg)
            else:
                raise DpifError("no such generic netlink family", errno=_errno.ENOENT)
        except DpifError as exc:
            return [self._error(msg, exc.errno or _errno.EINVAL)]
        if msg.flags & NlmFlag.ACK and not (msg.type == self.family_id and self._is_dump(msg)):
            out.append(self._error(msg, 0))
        return out

    def _is_dump(self, msg: NetlinkMessage) -> bool:
        return (msg.flags & NlmFlag.DUMP) == NlmFlag.DUMP

    def _genl(self, msg: NetlinkMessage) -> tuple[int, bytes]:
        if len(msg.payload) < GENLMSGHDR.size:
            raise DpifError("message shorter than its genlmsghdr", errno=_errno.EINVAL)
        cmd, _version, _reserved = GENLMSGHDR.unpack_from(msg.payload)
        return cmd, msg.payload[GENLMSGHDR.size :]

    def _ctrl(self, msg: NetlinkMessage) -> list[bytes]:
        # Just enough of nlctrl for a client to resolve "ovs_flow" by name.
        cmd, body = self._genl(msg)
        if cmd != CtrlCmd.GETFAMILY:
            raise DpifError("nlctrl command not supported here", errno=_errno.EOPNOTSUPP)
        name = None
        for attr_type, payload in self._attrs(body):
            if attr_type == CtrlAttr.FAMILY_NAME:
                name = payload.split(b"\0", 1)[0].decode("ascii", "replace")
        if name != OVS_FLOW_FAMILY:
            raise DpifError(f"no generic netlink family {name!r}", errno=_errno.ENOENT)
        attrs = pack_attrs(
            [
                (CtrlAttr.FAMILY_ID, struct.pack("=H", self.family_id)),
                (CtrlAttr.FAMILY_NAME, OVS_FLOW_FAMILY.encode() + b"\0"),
                (CtrlAttr.VERSION, struct.pack("=I", OVS_FLOW_VERSION)),
                (CtrlAttr.HDRSIZE, struct.pack("=I", OVS_HEADER.size)),
                (CtrlAttr.MAXATTR, struct.pack("=I", self._maxattr)),
            ]
        )
        payload = GENLMSGHDR.pack(CtrlCmd.NEWFAMILY, 2, 0) + attrs
        return [_message(GENL_ID_CTRL, 0, msg.seq, msg.pid, payload)]

    @staticmethod
    def _attrs(body: bytes) -> list[tuple[int, bytes]]:
        try:
            return [(t, p) for t, p, _ in iter_attrs(body, where="attributes")]
        except OdpDecodeError as exc:
            raise DpifError(str(exc), errno=_errno.EINVAL) from None

    def _parse_request(self, msg: NetlinkMessage) -> FlowRequest:
        cmd, body = self._genl(msg)
        if len(body) < OVS_HEADER.size:
            raise DpifError("message shorter than its ovs_header", errno=_errno.EINVAL)
        (ifindex,) = OVS_HEADER.unpack_from(body)
        if cmd not in (FlowCmd.NEW, FlowCmd.DEL, FlowCmd.GET, FlowCmd.SET):
            raise DpifError(f"ovs_flow command {cmd} not supported", errno=_errno.EOPNOTSUPP)
        got: dict[int, bytes] = {}
        for attr_type, payload in self._attrs(body[OVS_HEADER.size :]):
            if attr_type > self._maxattr:
                continue  # beyond the policy: ignored, as by the deprecated genl parser
            got[attr_type] = payload  # a repeated attribute: the last one wins
        for flag in (FlowAttr.CLEAR, FlowAttr.PROBE):
            if got.get(flag):
                raise DpifError(f"flag attribute {flag.name} carries {len(got[flag])} bytes", errno=_errno.ERANGE)
        ufid_flags = 0
        if FlowAttr.UFID_FLAGS in got:
            raw_flags = got[FlowAttr.UFID_FLAGS]
            if len(raw_flags) < 4:
                raise DpifError("OVS_FLOW_ATTR_UFID_FLAGS shorter than a u32", errno=_errno.ERANGE)
            (ufid_flags,) = struct.unpack_from("=I", raw_flags)
        if ifindex != self.dp_ifindex:
            raise DpifError(f"no datapath with ifindex {ifindex}", errno=_errno.ENODEV)
        return FlowRequest(
            FlowCmd(cmd),
            key=got.get(FlowAttr.KEY),
            mask=got.get(FlowAttr.MASK),
            actions=got.get(FlowAttr.ACTIONS),
            ufid=got.get(FlowAttr.UFID),
            ufid_flags=ufid_flags,
            clear=FlowAttr.CLEAR in got,
            probe=FlowAttr.PROBE in got,
            create=bool(msg.flags & (NlmFlag.CREATE | NlmFlag.EXCL)) and cmd == FlowCmd.NEW,
            dump=cmd == FlowCmd.GET and self._is_dump(msg),
        )

    def _reply(self, cmd: int, info: FlowInfo, msg: NetlinkMessage, flags: int) -> bytes:
        payload = (
            GENLMSGHDR.pack(cmd, OVS_FLOW_VERSION, 0)
            + OVS_HEADER.pack(self.dp_ifindex)
            + b"".join(pack_attr(t, p) for t, p in info.attrs())
        )
        return _message(self.family_id, flags, msg.seq, msg.pid, payload)

    def _flow(self, msg: NetlinkMessage) -> list[bytes]:
        if self._is_dump(msg):
            # genetlink.c genl_family_rcv_msg: NLM_F_DUMP needs a dumpit
            # handler (only GET has one) and a whole header; past that, what
            # ovs_flow_cmd_dump refuses (attribute policy, no such datapath)
            # ends the dump: NLMSG_DONE carries the -errno (netlink_dump).
            cmd, body = self._genl(msg)
            if cmd != FlowCmd.GET:
                raise DpifError(f"ovs_flow command {cmd} has no dump", errno=_errno.EOPNOTSUPP)
            if len(body) < OVS_HEADER.size:
                raise DpifError("message shorter than its ovs_header", errno=_errno.EINVAL)
            try:
                req = self._parse_request(msg)
                infos = self.datapath.flow_request(req)
            except DpifError as exc:
                code = -(exc.errno or _errno.EINVAL)
                return [_message(NlmsgType.DONE, int(NlmFlag.MULTI), msg.seq, msg.pid, NLMSGERR.pack(code))]
        else:
            req = self._parse_request(msg)
            infos = self.datapath.flow_request(req)
        if req.dump:
            out = [self._reply(FlowCmd.GET, i, msg, int(NlmFlag.MULTI)) for i in infos]
            out.append(_message(NlmsgType.DONE, int(NlmFlag.MULTI), msg.seq, msg.pid, NLMSGERR.pack(0)))
            return out
        if req.cmd == FlowCmd.GET or msg.flags & NlmFlag.ECHO:
            return [self._reply(req.cmd, i, msg, 0) for i in infos]
        return []
