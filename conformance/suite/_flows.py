"""Flows, frames and comparisons the suite's tests build (no backend access here).

Keys are small and flat on purpose (in_port, Ethernet, ethertype and, for
TCP traffic, IPv4 and TCP with wildcarded masks), so that every datapath
model accepts them and injected frames hit exactly the intended flow.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from dataclasses import dataclass, field
from typing import Literal

from reference._netlink import iter_attrs, pack_attr, pack_attrs
from reference.dpif import DpifFlow, FlowStats
from reference.errors import UfidcertError
from reference.uapi import ActionAttr, KeyAttr
from reference.ufid import Ufid

__all__ = [
    "CT_TUPLES",
    "apply_mask",
    "ct_tuple_written",
    "flow_eth_type",
    "ETH_TYPE",
    "FlowSpec",
    "NormFlow",
    "ReturnedMatch",
    "actions_text",
    "eth_frame",
    "eth_key",
    "eth_mask",
    "flow_spec",
    "flow_text",
    "mac",
    "match_of",
    "match_view",
    "normalise",
    "normalise_attrs",
    "output",
    "tcp_frame",
    "tcp_key",
    "tcp_mask",
    "ufid_n",
]

ETH_TYPE = 0x1234  # the probe's ethertype: no L3 parsing in any datapath


def mac(n: int) -> bytes:
    """A locally administered unicast MAC address numbered ``n``."""
    return bytes([0x02, 0x00]) + struct.pack(">I", n & 0xFFFF_FFFF)


def ufid_n(n: int) -> Ufid:
    """A distinct, recognisable UFID for ``n`` (all four words differ, so a word swap shows)."""
    return Ufid.from_words((0x1000_0000 + n, 0x2000_0000 + n, 0x3000_0000 + n, 0x4000_0000 + n))


def output(port: int) -> bytes:
    """``output(port)`` actions."""
    return pack_attr(ActionAttr.OUTPUT, struct.pack("=I", port))


def eth_key(port: int, src: int, dst: int = 0xFFFF, ethertype: int = ETH_TYPE) -> bytes:
    """``in_port(port),eth(src=mac(src),dst=mac(dst)),eth_type(ethertype)``."""
    return pack_attrs(
        [
            (KeyAttr.IN_PORT, struct.pack("=I", port)),
            (KeyAttr.ETHERNET, mac(src) + mac(dst)),
            (KeyAttr.ETHERTYPE, struct.pack(">H", ethertype)),
        ]
    )


def eth_mask(*, src: bool = True, dst: bool = True) -> bytes:
    """Exact in_port and ethertype; Ethernet source/destination exact or wildcarded."""
    return pack_attrs(
        [
            (KeyAttr.IN_PORT, b"\xff" * 4),
            (KeyAttr.ETHERNET, (b"\xff" * 6 if src else bytes(6)) + (b"\xff" * 6 if dst else bytes(6))),
            (KeyAttr.ETHERTYPE, b"\xff\xff"),
        ]
    )


def eth_frame(src: int, dst: int = 0xFFFF, ethertype: int = ETH_TYPE, size: int = 60) -> bytes:
    """An Ethernet frame of ``size`` bytes (padding counts towards n_bytes)."""
    head = mac(dst) + mac(src) + struct.pack(">H", ethertype)
    return head + bytes(max(0, size - len(head)))


def tcp_key(port: int, src: int, dst: int = 0xFFFF) -> bytes:
    """An IPv4/TCP key whose IPv4 and TCP fields the matching mask wildcards."""
    return pack_attrs(
        [
            (KeyAttr.IN_PORT, struct.pack("=I", port)),
            (KeyAttr.ETHERNET, mac(src) + mac(dst)),
            (KeyAttr.ETHERTYPE, struct.pack(">H", 0x0800)),
            (KeyAttr.IPV4, struct.pack(">4s4sBBBB", bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 6, 0, 64, 0)),
            (KeyAttr.TCP, struct.pack(">HH", 1000, 80)),
            # The Linux datapath requires TCP_FLAGS in every TCP key (flow_netlink.c match_validate).
            (KeyAttr.TCP_FLAGS, struct.pack(">H", 0)),
        ]
    )


def tcp_mask() -> bytes:
    """Exact in_port/Ethernet/ethertype; IPv4 protocol exact (so TCP may be present), the rest wildcarded."""
    return pack_attrs(
        [
            (KeyAttr.IN_PORT, b"\xff" * 4),
            (KeyAttr.ETHERNET, b"\xff" * 12),
            (KeyAttr.ETHERTYPE, b"\xff\xff"),
            (KeyAttr.IPV4, struct.pack(">4s4sBBBB", bytes(4), bytes(4), 0xFF, 0, 0, 0)),
            (KeyAttr.TCP, bytes(4)),
            (KeyAttr.TCP_FLAGS, bytes(2)),
        ]
    )


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def tcp_frame(src: int, flags: int, dst: int = 0xFFFF) -> bytes:
    """An Ethernet/IPv4/TCP frame 10.0.0.1:1000 -> 10.0.0.2:80 with TCP ``flags``."""
    tcp = struct.pack(">HHIIBBHHH", 1000, 80, 1, 0, 5 << 4, flags & 0xFF, 8192, 0, 0)
    total = 20 + len(tcp)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack(">H", _csum(ip)) + ip[12:]
    frame = mac(dst) + mac(src) + struct.pack(">H", 0x0800) + ip + tcp
    return frame + bytes(max(0, 60 - len(frame)))


# Packet metadata every frame arriving on a port has at 0 (Linux datapath and dpif-netdev): a
# datapath may add them to the flows it returns (recirc_id(0), skb_mark(0), ct_state(0/...),
# packet_type(ns=0,id=0), ...); matching them at 0 is the same match as leaving them out.
_DEFAULT_ZERO = frozenset(
    {
        KeyAttr.PRIORITY,
        KeyAttr.SKB_MARK,
        KeyAttr.DP_HASH,
        KeyAttr.RECIRC_ID,
        KeyAttr.CT_STATE,
        KeyAttr.CT_ZONE,
        KeyAttr.CT_MARK,
        KeyAttr.CT_LABELS,
        KeyAttr.PACKET_TYPE,
        KeyAttr.TUNNEL,
    }
)
# in_port: every datapath numbers its ports below 2**16: the Linux datapath keeps
# the port in the u16 sw_flow_key.phy.in_port (net/openvswitch/flow.h), and
# dpif-netdev allocates port numbers 1..UINT16_MAX (lib/dpif-netdev.c
# choose_port). Mask bits above bit 15 over a zero value therefore match every
# packet, which is why Linux may return a wildcarded port's mask as 0xffff0000
# (flow_netlink.c __ovs_nla_put_key sets the upper 16 mask bits). They are not
# part of the match.
_PORT_BITS = 0xFFFF
# Fields both datapaths store in fewer bits than their attribute carries, so
# mask bits beyond them are dropped by both and are not part of the match:
# (attribute, byte offset, size, byte order, bits stored).
# * ARP opcode: 8 bits, in the Linux datapath's u8 sw_flow_key.ip.proto
#   (flow_netlink.c ovs_key_from_nlattrs stores ntohs(arp_op)) and in OVS
#   userspace's u8 flow->nw_proto (lib/odp-util.c put_arp_key/get_arp_key).
# * ct_state: 8 bits, the u8 sw_flow_key.ct_state (net/openvswitch/flow.h) and
#   the u8 flow->ct_state (lib/packets.h CS_* bits; odp-util.c
#   odp_ct_state_to_ovs), although OVS_KEY_ATTR_CT_STATE is a u32.
_STORED: dict[int, tuple[int, int, Literal["little", "big"], int]] = {
    KeyAttr.ARP: (8, 2, "big", 0x00FF),
    KeyAttr.CT_STATE: (0, 4, sys.byteorder, 0xFF),
}
# The conntrack original tuple is serialised only when its protocol is not 0
# and the flow's EtherType is the tuple's family (IPv4 for ct_tuple4, IPv6 for
# ct_tuple6), by both datapaths: Linux's ovs_ct_put_key (net/openvswitch/
# conntrack.c, "if (swkey->ct_orig_proto)" then "swkey->eth.type ==
# htons(ETH_P_IP)" / ETH_P_IPV6) and OVS userspace's odp_flow_key_from_flow__
# (lib/odp-util.c, "if (flow->ct_nw_proto)" then "flow->dl_type ==
# htons(ETH_TYPE_IP)" / ETH_TYPE_IPV6), for the key and for the mask alike
# (both are written against the flow's key). Such a tuple (the all-zero tuple
# of a packet that never went through conntrack, or a tuple under another
# EtherType, which dpif-netdev accepts and Linux refuses) can therefore never
# come back in a reply: it is not part of the match as a reply carries it.
# Offset of ``ipv4_proto``/``ipv6_proto`` in struct ovs_key_ct_tuple_ipv4/ipv6
# (include/uapi/linux/openvswitch.h), and the family's EtherType.
_CT_TUPLE_PROTO: dict[int, int] = {KeyAttr.CT_ORIG_TUPLE_IPV4: 12, KeyAttr.CT_ORIG_TUPLE_IPV6: 36}
_CT_TUPLE_ETH_TYPE: dict[int, bytes] = {
    KeyAttr.CT_ORIG_TUPLE_IPV4: b"\x08\x00",
    KeyAttr.CT_ORIG_TUPLE_IPV6: b"\x86\xdd",
}
CT_TUPLES = frozenset(_CT_TUPLE_PROTO)
_NESTED = frozenset({KeyAttr.ENCAP, KeyAttr.TUNNEL, KeyAttr.NSH})

Match = tuple[tuple[int, bytes, bytes], ...]


def match_view(key: bytes, mask: bytes | None, *, masked: bool = True) -> Match:
    """A key and mask as a canonical match: sorted ``(type, value, mask)`` triples.

    ``mask`` ``None`` is an exact match on every key attribute (the kernel's
    rule without OVS_FLOW_ATTR_MASK). Fully wildcarded attributes and
    default-zero packet metadata are dropped, so representations of the same
    match compare equal whatever the datapath adds or omits. ``masked``
    gives ``value AND mask``; ``masked=False`` keeps the value as returned (to
    tell a datapath's original key from its masked key).
    """
    keys = {t: p for t, p, _ in iter_attrs(key, where="flow key")}
    eth_type = flow_eth_type(keys)
    masks = (
        {t: b"\xff" * len(p) for t, p in keys.items()}
        if mask is None
        else {t: p for t, p, _ in iter_attrs(mask, where="flow mask")}
    )
    out = []
    for t in sorted(set(keys) | set(masks)):
        m = masks.get(t, b"")
        v = keys.get(t, b"")
        if t in _NESTED:
            # Nested attributes (tunnel, encap): the TLV headers inside are not match bits.
            try:
                inner = match_view(v, m, masked=masked) if v or m else ()
            except UfidcertError:
                inner = ((-1, v, m),)  # not a TLV stream: compare the bytes as they are
            if not inner or (t in _DEFAULT_ZERO and not any(any(iv) for _, iv, _ in inner)):
                continue
            out.append((t, repr(inner).encode(), b""))
            continue
        v = v or bytes(len(m))
        m = m.ljust(len(v), b"\0")
        if t in CT_TUPLES and not ct_tuple_written(t, v, eth_type):
            continue
        v, m = _canonical(t, v, m)
        anded = bytes(a & b for a, b in zip(v, m, strict=False))
        if not any(m) or (t in _DEFAULT_ZERO and not any(anded)):
            continue
        out.append((t, anded if masked else v, m))
    return tuple(out)


def ct_tuple_written(t: int, payload: bytes, eth_type: bytes) -> bool:
    """Whether a datapath serialises conntrack original tuple ``t`` of a flow whose EtherType is ``eth_type``.

    See the comment above ``_CT_TUPLE_PROTO``: its protocol must not be 0 and
    its family must be the flow's (``eth_type`` as :func:`flow_eth_type` reads it).
    """
    proto_at = _CT_TUPLE_PROTO[t]
    return len(payload) > proto_at and payload[proto_at] != 0 and eth_type == _CT_TUPLE_ETH_TYPE[t]


def flow_eth_type(keys: dict[int, bytes]) -> bytes:
    """The flow's EtherType as both datapaths read it: the innermost one, inside VLAN encapsulations."""
    # A VLAN key carries the outer TPID as OVS_KEY_ATTR_ETHERTYPE and the rest of
    # the key in OVS_KEY_ATTR_ENCAP (flow_netlink.c parse_vlan_from_nlattrs, odp-util.c
    # parse_8021q_onward): swkey->eth.type and flow->dl_type are the inner type.
    while KeyAttr.ENCAP in keys:
        try:
            keys = {t: p for t, p, _ in iter_attrs(keys[KeyAttr.ENCAP], where="flow key encap")}
        except UfidcertError:
            return b""
    return keys.get(KeyAttr.ETHERTYPE, b"")


def _canonical(t: int, v: bytes, m: bytes) -> tuple[bytes, bytes]:
    """Value and mask of attribute ``t`` with the mask bits no datapath stores removed (see above)."""
    if t == KeyAttr.IN_PORT and len(v) == 4 == len(m):
        value, mask = int.from_bytes(v, sys.byteorder), int.from_bytes(m, sys.byteorder)
        if value >> 16 == 0:
            mask &= _PORT_BITS
        return v, mask.to_bytes(4, sys.byteorder)
    stored = _STORED.get(t)
    if stored is not None:
        off, size, order, bits = stored
        if len(m) >= off + size:
            field = int.from_bytes(m[off : off + size], order) & bits
            m = m[:off] + field.to_bytes(size, order) + m[off + size :]
    return v, m


def match_of(key: bytes, mask: bytes | None) -> Match:
    """The match a key and mask describe (masked values); see :func:`match_view`."""
    return match_view(key, mask, masked=True)


def apply_mask(key: bytes, mask: bytes) -> bytes:
    """A flat key ANDed with its mask, attribute by attribute (what the kernel stores for a UFID flow)."""
    masks = {t: p for t, p, _ in iter_attrs(mask, where="flow mask")}
    out = []
    for t, p, _ in iter_attrs(key, where="flow key"):
        m = masks.get(t, bytes(len(p)))
        out.append((t, bytes(a & b for a, b in zip(p, m.ljust(len(p), b"\0"), strict=False))))
    return pack_attrs(out)


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A flow to install: arguments of ``flow_put``."""

    key: bytes
    mask: bytes | None
    actions: bytes
    ufid: Ufid | None


def flow_spec(n: int, *, port: int = 1, with_ufid: bool = True, out: int = 2) -> FlowSpec:
    """Flow number ``n``: distinct Ethernet source, exact mask, output to ``out``."""
    return FlowSpec(eth_key(port, src=n), eth_mask(), output(out), ufid_n(n) if with_ufid else None)


def normalise_attrs(data: bytes | None) -> tuple[tuple[int, bytes], ...] | None:
    """Attributes sorted by type (order is not significant in keys and masks); raw on malformed input."""
    if data is None:
        return None
    try:
        from reference.odp import canonical_key

        data = canonical_key(data)
    except (UfidcertError, ImportError, NotImplementedError):
        pass
    try:
        return tuple(sorted((t, p) for t, p, _ in iter_attrs(data, where="flow key")))
    except UfidcertError:
        return ((-1, data),)


@dataclass(frozen=True, slots=True)
class NormFlow:
    """A returned flow in comparable form (used time reduced to used/unused)."""

    ufid: Ufid | None
    ufid_present: bool
    key: tuple[tuple[int, bytes], ...] | None
    mask: tuple[tuple[int, bytes], ...] | None
    match: Match | None
    actions: bytes | None
    n_packets: int
    n_bytes: int
    used: bool
    tcp_flags: int
    # The flow as returned, for the evidence only (not compared).
    raw_key: bytes | None = field(default=None, compare=False)
    raw_mask: bytes | None = field(default=None, compare=False)

    def sort_key(self) -> str:
        """An order for lists of flows built from the compared fields only (not the raw bytes)."""
        return repr(tuple(getattr(self, f.name) for f in _COMPARED))

    def __repr__(self) -> str:
        # One field per line, keys and actions in OVS flow text with their bytes: a failed
        # comparison then shows, line by line, which field differs and how (pytest's diff).
        if self.raw_key is None:
            flow = "key=None (omitted)"
        else:
            flow = f"key={flow_text(self.raw_key, self.raw_mask)}"
            mask_hex = "None" if self.raw_mask is None else self.raw_mask.hex()
            flow += f"\n  key bytes={self.raw_key.hex()}\n  mask bytes={mask_hex}"
        acts = (
            "None (omitted)" if self.actions is None else f"{actions_text(self.actions)} (bytes {self.actions.hex()})"
        )
        return (
            f"NormFlow(\n  ufid={self.ufid}\n  ufid_present={self.ufid_present}\n  {flow}\n"
            f"  mask={'None (omitted)' if self.mask is None else 'present'}\n  actions={acts}\n"
            f"  n_packets={self.n_packets}\n  n_bytes={self.n_bytes}\n  used={self.used}\n"
            f"  tcp_flags={self.tcp_flags:#x}\n)"
        )


@dataclass(frozen=True, slots=True)
class ReturnedMatch:
    """What a datapath returned for a flow as a match (masked values), its actions and UFID presence.

    Compared by the match (:func:`match_view`); printed in OVS flow text with
    the bytes as returned, so a failed comparison shows which field differs.
    """

    match: Match | None
    actions: bytes | None
    ufid_present: bool
    raw_key: bytes | None = field(default=None, compare=False)
    raw_mask: bytes | None = field(default=None, compare=False)

    @classmethod
    def of(cls, flow: DpifFlow) -> ReturnedMatch:
        """The view of ``flow`` (a missing key is an empty match)."""
        return cls(
            match_view(flow.key or b"", flow.mask),
            flow.actions,
            flow.ufid_present,
            flow.key,
            flow.mask,
        )

    def __repr__(self) -> str:
        key = "None" if self.raw_key is None else flow_text(self.raw_key, self.raw_mask)
        acts = "None" if self.actions is None else actions_text(self.actions)
        return (
            f"ReturnedMatch(\n  flow={key}\n  key bytes={self.raw_key.hex() if self.raw_key else None}\n"
            f"  mask bytes={self.raw_mask.hex() if self.raw_mask is not None else None}\n"
            f"  actions={acts}\n  ufid_present={self.ufid_present}\n)"
        )


_COMPARED = tuple(f for f in dataclasses.fields(NormFlow) if f.compare)


def flow_text(key: bytes, mask: bytes | None) -> str:
    """``key``/``mask`` as ``ovs-appctl dpctl/dump-flows`` prints them; the hex when they do not parse."""
    try:
        from reference.odp import format_key

        return format_key(key, mask)
    except Exception:  # malformed bytes are evidence too
        return f"<unprintable: {key.hex()}>"


def actions_text(actions: bytes) -> str:
    """``actions`` as OVS prints them (``drop`` when empty); the hex when they do not parse."""
    if not actions:
        return "drop"
    try:
        from reference.odp.actions import format_actions

        return format_actions(actions)
    except Exception:  # malformed bytes are evidence too
        return f"<unprintable: {actions.hex()}>"


def _match_or_raw(key: bytes | None, mask: bytes | None) -> Match | None:
    if key is None:
        return None
    try:
        return match_view(key, mask, masked=False)
    except UfidcertError:  # malformed bytes: compare them as they are
        return ((-1, key, mask or b""),)


def normalise(flow: DpifFlow, *, with_ufid: bool = True) -> NormFlow:
    """``flow`` as a :class:`NormFlow`; ``with_ufid=False`` drops the UFID (netdev's generated ones)."""
    s: FlowStats = flow.stats
    return NormFlow(
        ufid=flow.ufid if with_ufid else None,
        ufid_present=flow.ufid_present,
        # The match as returned (values unmasked: masked vs original keys must still differ);
        # key/mask stay None when omitted, so terse replies are told apart from full ones.
        key=None if flow.key is None else (),
        mask=None if flow.mask is None else (),
        match=_match_or_raw(flow.key, flow.mask),
        actions=flow.actions,
        n_packets=s.n_packets,
        n_bytes=s.n_bytes,
        used=s.used_ms != 0,
        tcp_flags=s.tcp_flags,
        raw_key=flow.key,
        raw_mask=flow.mask,
    )
