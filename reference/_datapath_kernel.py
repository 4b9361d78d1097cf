"""Kernel semantics of the reference datapath: the ``ovs_flow`` commands of net/openvswitch/datapath.c; no I/O.

:class:`FlowRequest` is one decoded ``ovs_flow`` message and :class:`FlowInfo`
what ``ovs_flow_cmd_fill_info`` puts in the reply; :class:`KernelCommands`
executes NEW, SET, GET, DEL and dumps on the table of
:class:`~reference._datapath_core.DatapathCore`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from reference._classifier import parse_key
from reference._datapath_core import DatapathCore, invalid
from reference._flow_slots import Flow, KernelForm
from reference._kernel_actions import NatConflict, kernel_actions
from reference._match_validate import validate_match
from reference._swkey import check_kernel_attrs, flow_images
from reference.dpif import DpifExists, DpifInvalid, DpifNotFound, DpifNotSupported, DpifOutOfRange, FlowStats
from reference.errors import OdpDecodeError
from reference.uapi import MAX_UFID_LENGTH, ActionAttr, FlowAttr, FlowCmd, UfidFlags

__all__ = ["FlowInfo", "FlowRequest", "KernelCommands"]

_STATS = struct.Struct("=QQ")  # struct ovs_flow_stats, host order
_U64 = struct.Struct("=Q")
_OMIT_KEY, _OMIT_MASK, _OMIT_ACTIONS = (
    int(f) for f in (UfidFlags.OMIT_KEY, UfidFlags.OMIT_MASK, UfidFlags.OMIT_ACTIONS)
)


@dataclass(frozen=True, slots=True)
class FlowRequest:
    """One decoded ``ovs_flow`` request (the attributes of datapath.c's ``info->attrs``).

    ``ufid`` is the raw ``OVS_FLOW_ATTR_UFID`` payload (any length, ``None``
    if absent); ``create`` is NLM_F_CREATE or NLM_F_EXCL; ``dump`` is
    NLM_F_DUMP on a GET.
    """

    cmd: FlowCmd
    key: bytes | None = None
    mask: bytes | None = None
    actions: bytes | None = None
    ufid: bytes | None = None
    ufid_flags: int = 0
    clear: bool = False
    probe: bool = False
    create: bool = False
    dump: bool = False


@dataclass(frozen=True, slots=True)
class FlowInfo:
    """What ``ovs_flow_cmd_fill_info`` puts in a reply, ``None`` for what it leaves out.

    ``key`` is the unmasked key for a key-identified flow (its identifier) and
    the masked key for a UFID flow. ``stats.tcp_flags`` is the u8 the kernel
    sends. :meth:`attrs` gives the attributes in the kernel's order.
    """

    ufid: bytes | None
    key: bytes | None
    mask: bytes | None
    actions: bytes | None
    stats: FlowStats

    def attrs(self) -> list[tuple[int, bytes]]:
        """``(OVS_FLOW_ATTR_*, payload)`` in the order the kernel emits them."""
        out: list[tuple[int, bytes]] = []
        if self.ufid is not None:
            out.append((FlowAttr.UFID, self.ufid))
        if self.key is not None:
            out.append((FlowAttr.KEY, self.key))
        if self.mask is not None:
            out.append((FlowAttr.MASK, self.mask))
        s = self.stats
        if s.used_ms:
            out.append((FlowAttr.USED, _U64.pack(s.used_ms)))
        if s.n_packets:
            out.append((FlowAttr.STATS, _STATS.pack(s.n_packets, s.n_bytes)))
        if s.tcp_flags & 0xFF:
            out.append((FlowAttr.TCP_FLAGS, bytes([s.tcp_flags & 0xFF])))
        if self.actions is not None:
            out.append((FlowAttr.ACTIONS, self.actions))
        return out


# Action types whose contents kernel_actions judges as the kernel does.
_KERNEL_CHECKED = frozenset({int(ActionAttr.CT)})


class KernelCommands(DatapathCore):
    """``ovs_flow_cmd_new/set/get/del`` and the flow dump, with the kernel's checks, errnos and replies."""

    def _request_ufid(self, raw: bytes | None, probe: bool) -> bytes | None:
        """The identifier a request carries (flow_netlink.c ovs_nla_get_ufid).

        A legacy kernel does not know the attribute and ignores it. 0 bytes
        fail the attribute policy (ERANGE); more than 16 are logged and
        treated as absent.
        """
        if raw is None or not self._ufid_support:
            return None
        if len(raw) == 0:
            raise DpifOutOfRange("OVS_FLOW_ATTR_UFID of 0 bytes (the policy minimum is 1)")
        if len(raw) > MAX_UFID_LENGTH:
            return None
        return bytes(raw)

    def flow_request(self, req: FlowRequest) -> list[FlowInfo]:
        """Execute one ``ovs_flow`` request with kernel semantics.

        Returns the reply contents: one :class:`FlowInfo` for NEW/SET/GET/DEL
        (sent by the kernel for GET, and for the others only on NLM_F_ECHO),
        every flow for a dump, nothing for a DEL that flushed. Raises a
        :class:`~reference.dpif.DpifError` with the kernel's errno, leaving
        the table unchanged.
        """
        if self._semantics != "kernel":
            raise DpifNotSupported("netlink requests are served with kernel semantics only")
        with self._lock:
            ufid = self._request_ufid(req.ufid, req.probe)
            flags = req.ufid_flags if self._ufid_support else 0
            if req.cmd == FlowCmd.NEW:
                return [self._k_new(req, ufid, flags)]
            if req.cmd == FlowCmd.SET:
                return [self._k_set(req, ufid, flags)]
            if req.cmd == FlowCmd.GET:
                if req.dump:
                    return [self._fill(f, flags) for f in self._table]
                return [self._k_get(req, ufid, flags)]
            if req.cmd == FlowCmd.DEL:
                info = self._k_del(req, ufid, flags)
                return [] if info is None else [info]
            raise DpifNotSupported(f"ovs_flow command {int(req.cmd)} is not implemented")

    def _fill(self, flow: Flow, ufid_flags: int) -> FlowInfo:
        # datapath.c ovs_flow_cmd_fill_info: identifier first (UFID, or the
        # unmasked key), then the masked key for UFID flows only, the mask,
        # the stats, the actions; OMIT_* honoured except for the identifier.
        # Rendering the kernel's struct images is the costly part: skip it for terse replies.
        key: bytes | None = None
        mask: bytes | None = None
        if flow.ufid is not None:
            ident = flow.ufid
            if not ufid_flags & _OMIT_KEY:
                key = self._kernel_replies(flow).masked_key()
        else:
            ident = None
            key = self._kernel_replies(flow).unmasked_key()
        if not ufid_flags & _OMIT_MASK:
            mask = self._kernel_replies(flow).mask()
        actions = None if ufid_flags & _OMIT_ACTIONS else flow.actions
        stats = FlowStats(flow.n_packets, flow.n_bytes, flow.used, flow.tcp_flags & 0xFF)
        return FlowInfo(ident, key, mask, actions, stats)

    def _kernel_check_actions(self, actions: bytes, key: bytes, mask: bytes | None) -> bytes:
        """The actions as the kernel stores them, after its checks against the masked key (EINVAL)."""
        if not isinstance(actions, (bytes, bytearray, memoryview)) or not actions:
            return self._check_actions(actions)  # a type error, or drop: valid for every flow
        k, m = flow_images(key, mask)
        try:
            # The kernel's own checks first: where they refuse, their errno is the answer
            # (parse_nat's ERANGE for two NAT types, which the generic check calls EINVAL).
            stored = kernel_actions(bytes(actions), k.masked(m))
        except NatConflict as exc:
            raise DpifOutOfRange(str(exc)) from None
        except OdpDecodeError as exc:
            raise invalid(exc) from None
        except (struct.error, IndexError, KeyError, ValueError):
            # Bytes the kernel model did not expect: the generic check names what is wrong.
            self._check_actions(actions)
            raise DpifInvalid("actions the kernel would refuse") from None
        # ct's contents are the kernel's to judge (conntrack.c parse_ct/parse_nat, modelled in
        # kernel_actions): it accepts forms OVS's printer calls errors, e.g. a port range alone.
        self._check_actions(actions, _KERNEL_CHECKED)
        return stored

    @classmethod
    def _masked_image(cls, flow: Flow) -> bytes:
        """The flow's stored (masked) struct sw_flow_key image."""
        return bytes(cls._kernel_replies(flow).masked_image.data)

    @staticmethod
    def _kernel_replies(flow: Flow) -> KernelForm:
        """The flow's key and mask as the kernel serialises them from its sw_flow_key structs, built on first use.

        flow_netlink.c ovs_nla_put_identifier / ovs_nla_put_masked_key /
        ovs_nla_put_mask: every metadata attribute, in the kernel's order,
        with the values the structs hold (see :mod:`reference._swkey`).
        """
        if flow.replies is None:
            flow.replies = KernelForm(*flow_images(flow.key, flow.raw_mask))
        return flow.replies

    def _k_new(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        if req.key is None:
            raise DpifInvalid("flow key attribute not present in new flow")
        if req.actions is None:
            raise DpifInvalid("flow actions attribute not present in new flow")
        pk, ms, masked = self._parse_match(req.key, req.mask)
        actions = self._kernel_check_actions(req.actions, pk.data, req.mask)
        found = self._by_ufid.get(ufid) if ufid is not None else None
        if found is None:
            # Packet-style lookup of the request's *unmasked* key over every
            # installed mask, as Linux does since "openvswitch: Fix flow
            # lookup to use unmasked key" (68bb10101e6b, in 6.1 stable): the
            # out-of-tree module looked up the masked key instead, which
            # misses an installed flow matching bits the new mask wildcards.
            found = self._table.lookup(pk.leaves)
        if found is None:
            flow = Flow(pk, ms, masked, actions, ufid, keep_tree=False)
            flow.raw_mask = req.mask
            self._insert(flow)
            return self._fill(flow, flags)
        if req.create:
            raise DpifExists("flow already exists (NLM_F_CREATE/NLM_F_EXCL)")
        # A modify: the identifier must match (ovs_flow_cmp). The request's
        # side is match.key, which since 68bb10101e6b is the *unmasked*
        # request key for every request: a UFID flow's stored masked key is
        # compared with it, so a UFID request whose key has bits where the
        # mask wildcards gets ENOENT (observed on Debian's 6.1.192).
        # (The kernel compares only the mask's byte range of struct
        # sw_flow_key; we compare every field, a documented simplification.)
        # The comparison is on the sw_flow_key structs, where an absent
        # in_port is DP_MAX_PORTS in the key but wildcarded by the mask the
        # kernel builds from the key's attributes: a UFID flow put without
        # in_port cannot be modified by a NEW (ENOENT, observed on 6.1).
        req_key = pk.fields
        if found.ufid is not None:
            if found.masked != req_key or self._masked_image(found) != flow_images(pk.data, None)[0].data:
                raise DpifNotFound("UFID matches but key is different")
        elif found.unmasked != req_key:
            found = self._lookup_exact(req_key)
            if found is None:
                raise DpifNotFound("no key-identified flow with this exact key")
        # Only the actions change; CLEAR is not looked at on this path.
        found.actions = actions
        return self._fill(found, flags)

    def _k_find(self, ufid: bytes | None, key: bytes | None) -> Flow | None:
        if ufid is not None:
            return self._by_ufid.get(ufid)
        assert key is not None
        try:
            pk = self._parse_key(key)
        except OdpDecodeError as exc:  # pragma: no cover - parsed before
            raise invalid(exc) from None
        return self._lookup_exact(pk.fields)

    def _k_set(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        if req.key is None and ufid is None:
            raise DpifInvalid("flow set message rejected, key attribute missing")
        actions: bytes | None = None
        if req.key is not None:
            self._parse_match(req.key, req.mask)
        if req.actions is not None:
            if req.key is None:
                raise DpifInvalid("flow key attribute not present in set flow")
            actions = self._kernel_check_actions(req.actions, req.key, req.mask)
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        if actions is not None:
            flow.actions = actions
        info = self._fill(flow, flags)  # filled before CLEAR: the stats before the update
        if req.clear:
            flow.n_packets = flow.n_bytes = flow.used = flow.tcp_flags = 0
        return info

    def _parse_lookup_key(self, req: FlowRequest) -> None:
        # GET and DEL parse a present KEY (without the mask) even when a UFID
        # is used for the lookup: a malformed key fails the request.
        if req.key is not None:
            try:
                pk = parse_key(req.key, where="key")
                check_kernel_attrs(pk.data, None)
                # ovs_nla_get_match with no mask (match.mask NULL): only the
                # "Missing key" half of match_validate applies.
                validate_match(pk.tree, None, has_mask=False, where="key")
            except OdpDecodeError as exc:
                raise invalid(exc) from None

    def _k_get(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        self._parse_lookup_key(req)
        if req.key is None and ufid is None:
            raise DpifInvalid("flow get message rejected, key attribute missing")
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        return self._fill(flow, flags)

    def _k_del(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo | None:
        self._parse_lookup_key(req)
        if req.key is None and ufid is None:
            self._flush()  # no identifier at all: the kernel flushes the table
            return None
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        info = self._fill(flow, flags)
        self._remove(flow)
        return info
