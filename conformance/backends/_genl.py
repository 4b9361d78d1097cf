"""Sans-I/O generic-netlink messages of the four openvswitch families (bytes in, records out).

Requests are encoded as OVS's lib/dpif-netlink.c encodes them
(``dpif_netlink_flow_to_ofpbuf``, ``dpif_netlink_dp_to_ofpbuf``,
``dpif_netlink_vport_to_ofpbuf``); replies are parsed as
``dpif_netlink_flow_from_ofpbuf`` does. Framing: ``struct nlmsghdr`` +
``struct genlmsghdr`` + ``struct ovs_header`` + attributes (see
:mod:`reference.flow_netlink`). Nothing here reads or writes a socket.
"""

from __future__ import annotations

import errno as _errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from reference._netlink import GENLMSGHDR, NLMSGERR, OVS_HEADER, iter_attrs, pack_attrs
from reference.dpif import DpifError, DpifFlow, FlowStats, PutFlags, UfidArg, dpif_error, ufid_wire
from reference.errors import OdpDecodeError
from reference.flow_netlink import split_messages
from reference.uapi import (
    GENL_ID_CTRL,
    CtrlAttr,
    CtrlCmd,
    DatapathAttr,
    DatapathCmd,
    FlowAttr,
    FlowCmd,
    KeyAttr,
    NlmFlag,
    NlmsgType,
    PacketAttr,
    PacketCmd,
    UfidFlags,
    VportAttr,
    VportCmd,
    VportType,
)
from reference.ufid import Ufid

__all__ = [
    "Answer",
    "FlowRequestSpec",
    "GenlHeader",
    "MissUpcall",
    "decode_answer",
    "del_request",
    "dp_del",
    "dp_new",
    "dump_request",
    "encode",
    "exclude_packet_type",
    "family_request",
    "flush_request",
    "get_request",
    "packet_execute",
    "parse_datapath_ifindex",
    "parse_family_id",
    "parse_flow",
    "parse_miss",
    "parse_vport_no",
    "put_request",
    "vport_del",
    "vport_new",
]

_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_STATS = struct.Struct("=QQ")
# lib/dpif-netlink.c dpif_netlink_dp_transact: OVS_DP_F_UNALIGNED | OVS_DP_F_VPORT_PIDS.
_DP_FEATURES = (1 << 0) | (1 << 1)


@dataclass(frozen=True, slots=True)
class GenlHeader:
    """Where a request goes: family id, command, family version, ``dp_ifindex`` (None: no ovs_header)."""

    family: int
    cmd: int
    version: int
    dp_ifindex: int | None = 0


@dataclass(frozen=True, slots=True)
class FlowRequestSpec:
    """One ``ovs_flow`` request before framing: command, netlink flags and attributes in order."""

    cmd: FlowCmd
    nlm_flags: int
    attrs: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """The kernel's answer to one request: the reply payloads (after nlmsghdr) and the DONE/ACK state.

    ``interrupted`` is true when a dump message carried NLM_F_DUMP_INTR (the
    table changed during the dump; dpif-netlink's callers restart it).
    """

    payloads: tuple[bytes, ...]
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class MissUpcall:
    """An ``OVS_PACKET_CMD_MISS`` message: the frame and the key the kernel extracted."""

    packet: bytes
    key: bytes


def encode(hdr: GenlHeader, attrs: Sequence[tuple[int, bytes]], *, flags: int, seq: int) -> bytes:
    """One framed request (``NLM_F_REQUEST`` is always added)."""
    body = GENLMSGHDR.pack(hdr.cmd, hdr.version, 0)
    if hdr.dp_ifindex is not None:
        body += OVS_HEADER.pack(hdr.dp_ifindex)
    body += pack_attrs(list(attrs))
    total = 16 + len(body)
    return struct.pack("=IHHII", total, hdr.family, flags | NlmFlag.REQUEST, seq, 0) + body


def _attrs(payload: bytes, skip: int, where: str) -> list[tuple[int, bytes]]:
    try:
        return [(t & 0x3FFF, p) for t, p, _ in iter_attrs(payload[skip:], where=where)]
    except OdpDecodeError as exc:
        raise DpifError(f"malformed kernel reply: {exc}", errno=_errno.EPROTO) from None


def decode_answer(data: bytes, seq: int) -> Answer:
    """Split the kernel's answer to request ``seq``; NLMSG_ERROR with a non-zero code raises :class:`DpifError`.

    Messages for other sequence numbers (a late answer to an abandoned
    request) are ignored, as libnl and lib/netlink-socket.c do.
    """
    try:
        msgs = split_messages(data, where="kernel answer")
    except OdpDecodeError as exc:
        raise DpifError(f"kernel answer does not frame: {exc}", errno=_errno.EPROTO) from None
    payloads: list[bytes] = []
    interrupted = False
    for msg in msgs:
        if msg.seq != seq:
            continue
        if msg.type == NlmsgType.ERROR:
            if len(msg.payload) < 4:
                raise DpifError("truncated NLMSG_ERROR", errno=_errno.EPROTO)
            (code,) = NLMSGERR.unpack_from(msg.payload)
            if code:
                raise dpif_error(-code, f"kernel: {_errno.errorcode.get(-code, str(-code))}")
            break
        if msg.type == NlmsgType.DONE:
            if len(msg.payload) >= 4 and NLMSGERR.unpack_from(msg.payload)[0] < 0:
                raise dpif_error(-NLMSGERR.unpack_from(msg.payload)[0], "kernel: dump failed")
            interrupted = interrupted or bool(msg.flags & NlmFlag.DUMP_INTR)
            break
        if msg.type < NlmsgType.MIN_TYPE:
            continue
        interrupted = interrupted or bool(msg.flags & NlmFlag.DUMP_INTR)
        payloads.append(msg.payload)
    return Answer(tuple(payloads), interrupted)


# -- nlctrl -----------------------------------------------------------------


def family_request(name: str, seq: int) -> bytes:
    """``CTRL_CMD_GETFAMILY`` for ``name``."""
    hdr = GenlHeader(GENL_ID_CTRL, CtrlCmd.GETFAMILY, 1, None)
    return encode(hdr, [(CtrlAttr.FAMILY_NAME, name.encode() + b"\0")], flags=NlmFlag.ACK, seq=seq)


def parse_family_id(answer: Answer) -> int:
    """The family id in a GETFAMILY answer; ENOENT if the answer has none."""
    for payload in answer.payloads:
        for t, p in _attrs(payload, GENLMSGHDR.size, "nlctrl reply"):
            if t == CtrlAttr.FAMILY_ID and len(p) >= 2:
                return int(struct.unpack_from("=H", p)[0])
    raise DpifError("generic netlink family not found", errno=_errno.ENOENT)


# -- ovs_datapath / ovs_vport ---------------------------------------------


def dp_new(family: int, name: str, upcall_pid: int, seq: int) -> bytes:
    """``OVS_DP_CMD_NEW`` (echoed: the reply's ovs_header carries the new datapath's ifindex)."""
    attrs = [
        (DatapathAttr.NAME, name.encode() + b"\0"),
        (DatapathAttr.UPCALL_PID, _U32.pack(upcall_pid)),
        (DatapathAttr.USER_FEATURES, _U32.pack(_DP_FEATURES)),
    ]
    hdr = GenlHeader(family, DatapathCmd.NEW, 2, 0)
    return encode(hdr, attrs, flags=NlmFlag.ACK | NlmFlag.ECHO | NlmFlag.CREATE, seq=seq)


def dp_del(family: int, name: str, seq: int) -> bytes:
    """``OVS_DP_CMD_DEL`` by name (the kernel removes the datapath's ports and flows with it)."""
    hdr = GenlHeader(family, DatapathCmd.DEL, 2, 0)
    return encode(hdr, [(DatapathAttr.NAME, name.encode() + b"\0")], flags=NlmFlag.ACK, seq=seq)


def parse_datapath_ifindex(answer: Answer) -> int:
    """The ``dp_ifindex`` of an echoed datapath reply."""
    for payload in answer.payloads:
        if len(payload) >= GENLMSGHDR.size + OVS_HEADER.size:
            return int(OVS_HEADER.unpack_from(payload, GENLMSGHDR.size)[0])
    raise DpifError("datapath reply without ovs_header", errno=_errno.EPROTO)


def vport_new(family: int, dp_ifindex: int, name: str, upcall_pid: int, seq: int) -> bytes:
    """``OVS_VPORT_CMD_NEW`` for an internal port (the kernel picks the port number)."""
    attrs = [
        (VportAttr.TYPE, _U32.pack(VportType.INTERNAL)),
        (VportAttr.NAME, name.encode() + b"\0"),
        (VportAttr.UPCALL_PID, _U32.pack(upcall_pid)),
    ]
    hdr = GenlHeader(family, VportCmd.NEW, 1, dp_ifindex)
    return encode(hdr, attrs, flags=NlmFlag.ACK | NlmFlag.ECHO | NlmFlag.CREATE, seq=seq)


def vport_del(family: int, dp_ifindex: int, port_no: int, seq: int) -> bytes:
    hdr = GenlHeader(family, VportCmd.DEL, 1, dp_ifindex)
    return encode(hdr, [(VportAttr.PORT_NO, _U32.pack(port_no))], flags=NlmFlag.ACK, seq=seq)


def parse_vport_no(answer: Answer) -> int:
    """The port number in an echoed vport reply."""
    for payload in answer.payloads:
        for t, p in _attrs(payload, GENLMSGHDR.size + OVS_HEADER.size, "vport reply"):
            if t == VportAttr.PORT_NO and len(p) >= 4:
                return int(_U32.unpack_from(p)[0])
    raise DpifError("vport reply without a port number", errno=_errno.EPROTO)


# -- ovs_packet -------------------------------------------------------------


def packet_execute(family: int, dp_ifindex: int, *, packet: bytes, key: bytes, actions: bytes, seq: int) -> bytes:
    """``OVS_PACKET_CMD_EXECUTE`` (lib/dpif-netlink.c dpif_netlink_encode_execute)."""
    attrs = [(PacketAttr.PACKET, packet), (PacketAttr.KEY, key), (PacketAttr.ACTIONS, actions)]
    return encode(GenlHeader(family, PacketCmd.EXECUTE, 1, dp_ifindex), attrs, flags=NlmFlag.ACK, seq=seq)


def parse_miss(data: bytes, family: int) -> list[MissUpcall]:
    """The MISS upcalls in one datagram read from an upcall socket (other messages are skipped)."""
    out: list[MissUpcall] = []
    try:
        msgs = split_messages(data, where="upcall")
    except OdpDecodeError as exc:
        raise DpifError(f"upcall does not frame: {exc}", errno=_errno.EPROTO) from None
    for msg in msgs:
        if msg.type != family or len(msg.payload) < GENLMSGHDR.size + OVS_HEADER.size:
            continue
        if msg.payload[0] != PacketCmd.MISS:
            continue
        got = dict(_attrs(msg.payload, GENLMSGHDR.size + OVS_HEADER.size, "upcall"))
        if PacketAttr.PACKET in got and PacketAttr.KEY in got:
            out.append(MissUpcall(got[PacketAttr.PACKET], got[PacketAttr.KEY]))
    return out


# -- ovs_flow ---------------------------------------------------------------


def _terse_attrs() -> tuple[int, bytes]:
    return (FlowAttr.UFID_FLAGS, _U32.pack(int(UfidFlags.TERSE)))


def exclude_packet_type(attrs: bytes) -> bytes:
    """``attrs`` without OVS_KEY_ATTR_PACKET_TYPE (lib/dpif-netlink.c put_exclude_packet_type).

    The kernel's key has no packet type attribute; OVS strips it from every
    key and mask it sends. Bytes that do not parse are sent unchanged, for
    the kernel to judge.
    """
    try:
        parts = list(iter_attrs(attrs, where="key"))
    except OdpDecodeError:
        return attrs
    if all(t != KeyAttr.PACKET_TYPE for t, _, _ in parts):
        return attrs
    return pack_attrs([(t, p) for t, p, _ in parts if t != KeyAttr.PACKET_TYPE])


def put_request(
    key: bytes, mask: bytes | None, actions: bytes, *, ufid: UfidArg | None, flags: PutFlags
) -> FlowRequestSpec:
    """A put as dpif-netlink sends it.

    lib/dpif-netlink.c dpif_netlink_init_flow_put: CREATE -> OVS_FLOW_CMD_NEW
    else SET; NLM_F_CREATE unless MODIFY is also asked; ZERO_STATS -> CLEAR;
    PROBE -> OVS_FLOW_ATTR_PROBE; an empty ACTIONS attribute is still sent;
    stats are wanted, so NLM_F_ECHO.
    """
    cmd = FlowCmd.NEW if flags & PutFlags.CREATE else FlowCmd.SET
    nlm = int(NlmFlag.ACK | NlmFlag.ECHO)
    if flags & PutFlags.CREATE and not flags & PutFlags.MODIFY:
        nlm |= int(NlmFlag.CREATE)
    attrs: list[tuple[int, bytes]] = []
    if ufid is not None:
        attrs.append((FlowAttr.UFID, ufid_wire(ufid)))
    attrs.append((FlowAttr.KEY, exclude_packet_type(key)))
    if mask is not None:
        attrs.append((FlowAttr.MASK, exclude_packet_type(mask)))
    attrs.append((FlowAttr.ACTIONS, actions))
    if flags & PutFlags.ZERO_STATS:
        attrs.append((FlowAttr.CLEAR, b""))
    if flags & PutFlags.PROBE:
        attrs.append((FlowAttr.PROBE, b""))
    return FlowRequestSpec(cmd, nlm, tuple(attrs))


def _lookup_attrs(
    ufid: UfidArg | None, key: bytes | None, terse: bool, ufid_supported: bool
) -> list[tuple[int, bytes]]:
    # dpif_netlink_flow_to_ofpbuf: UFID whenever given; UFID_FLAGS when terse;
    # the key unless the request is terse *and* identified by UFID. Terse is
    # only asked when the probe found UFID support (udpif_use_ufid).
    terse = terse and ufid_supported
    attrs: list[tuple[int, bytes]] = []
    if ufid is not None:
        attrs.append((FlowAttr.UFID, ufid_wire(ufid)))
    if terse:
        attrs.append(_terse_attrs())
    if key is not None and not (terse and ufid is not None):
        attrs.append((FlowAttr.KEY, exclude_packet_type(key)))
    return attrs


def get_request(*, ufid: UfidArg | None, key: bytes | None, terse: bool, ufid_supported: bool) -> FlowRequestSpec:
    """``OVS_FLOW_CMD_GET`` of one flow (without UFID and key the kernel answers EINVAL)."""
    attrs = _lookup_attrs(ufid, key, terse, ufid_supported)
    return FlowRequestSpec(FlowCmd.GET, int(NlmFlag.ACK), tuple(attrs))


def del_request(*, ufid: UfidArg | None, key: bytes | None, terse: bool, ufid_supported: bool) -> FlowRequestSpec:
    """``OVS_FLOW_CMD_DEL`` of one flow, echoed for its final stats.

    Without UFID and key this is the kernel's flush (datapath.c
    ovs_flow_cmd_del), which the dpif contract's kernel semantics keep.
    """
    attrs = _lookup_attrs(ufid, key, terse, ufid_supported)
    return FlowRequestSpec(FlowCmd.DEL, int(NlmFlag.ACK | NlmFlag.ECHO), tuple(attrs))


def flush_request() -> FlowRequestSpec:
    """``OVS_FLOW_CMD_DEL`` with neither key nor UFID: delete every flow (dpif_netlink_flow_flush)."""
    return FlowRequestSpec(FlowCmd.DEL, int(NlmFlag.ACK), ())


def dump_request(*, terse: bool, ufid_supported: bool) -> FlowRequestSpec:
    """``OVS_FLOW_CMD_GET`` with NLM_F_DUMP; a terse dump carries only UFID_FLAGS."""
    attrs = (_terse_attrs(),) if terse and ufid_supported else ()
    return FlowRequestSpec(FlowCmd.GET, int(NlmFlag.DUMP), attrs)


def parse_flow(payload: bytes) -> DpifFlow:
    """A flow reply (after nlmsghdr) as a :class:`DpifFlow` (dpif_netlink_flow_from_ofpbuf).

    The kernel puts the identifier first: a UFID, or for a key-identified
    flow the unmasked key (then no second KEY follows). A 16-byte UFID
    becomes a :class:`Ufid`; other lengths are kept only in ``ufid_bytes``.
    """
    ufid_raw: bytes | None = None
    key = mask = actions = None
    n_packets = n_bytes = used = tcp = 0
    for t, p in _attrs(payload, GENLMSGHDR.size + OVS_HEADER.size, "flow reply"):
        try:
            if t == FlowAttr.UFID:
                ufid_raw = p
            elif t == FlowAttr.KEY:
                key = p
            elif t == FlowAttr.MASK:
                mask = p
            elif t == FlowAttr.ACTIONS:
                actions = p
            elif t == FlowAttr.STATS:
                n_packets, n_bytes = _STATS.unpack_from(p)
            elif t == FlowAttr.USED:
                (used,) = _U64.unpack_from(p)
            elif t == FlowAttr.TCP_FLAGS:
                tcp = p[0]
        except (struct.error, IndexError):
            raise DpifError(f"flow reply attribute {t} has {len(p)} bytes", errno=_errno.EPROTO) from None
    ufid = Ufid.from_wire(ufid_raw) if ufid_raw is not None and len(ufid_raw) == 16 else None
    stats = FlowStats(n_packets, n_bytes, used, tcp)
    return DpifFlow(ufid, ufid_raw is not None, key, mask, actions, stats, ufid_raw)
