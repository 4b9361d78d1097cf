"""Which keys and masks the Linux datapath accepts in a flow request; no I/O.

Reproduces, at the level of attribute sets, what
``net/openvswitch/flow_netlink.c`` ``ovs_nla_get_match`` does on top of the
per-attribute length checks: the VLAN unwrapping (``parse_vlan_from_nlattrs``),
the value checks of ``metadata_from_nlattrs``/``ovs_key_from_nlattrs`` and
finally ``match_validate``, which refuses a key that lacks an attribute its
own values call for (``eth_type(0x0800)`` without ``ipv4()``, TCP without
``tcp_flags()``: "Missing key") and a mask that names an attribute it may
not ("Unexpected mask"). Every refusal is EINVAL in the kernel; here it is
:class:`~reference.errors.OdpDecodeError` naming the attributes.

Only what ``match_validate`` reads is tracked: ``eth.type``, ``ip.proto``,
``ip.frag``, ``tp.src`` and the VLAN TCIs, for the key and for the mask.
Like the kernel, key and mask share one attribute array: a mask check that
reads an attribute the mask leaves all-zero sees the key's attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.errors import OdpDecodeError
from reference.odp.keys import Attribute
from reference.uapi import KeyAttr

__all__ = ["validate_match"]


class _K:
    """Plain-int attribute numbers: IntEnum comparisons are slow on the put path."""

    ARP = int(KeyAttr.ARP)
    CT_ORIG_TUPLE_IPV4 = int(KeyAttr.CT_ORIG_TUPLE_IPV4)
    CT_ORIG_TUPLE_IPV6 = int(KeyAttr.CT_ORIG_TUPLE_IPV6)
    CT_STATE = int(KeyAttr.CT_STATE)
    ENCAP = int(KeyAttr.ENCAP)
    ETHERNET = int(KeyAttr.ETHERNET)
    ETHERTYPE = int(KeyAttr.ETHERTYPE)
    ICMP = int(KeyAttr.ICMP)
    ICMPV6 = int(KeyAttr.ICMPV6)
    IN_PORT = int(KeyAttr.IN_PORT)
    IPV4 = int(KeyAttr.IPV4)
    IPV6 = int(KeyAttr.IPV6)
    MPLS = int(KeyAttr.MPLS)
    ND = int(KeyAttr.ND)
    ND_EXTENSIONS = int(KeyAttr.ND_EXTENSIONS)
    NSH = int(KeyAttr.NSH)
    PACKET_TYPE = int(KeyAttr.PACKET_TYPE)
    SCTP = int(KeyAttr.SCTP)
    TCP = int(KeyAttr.TCP)
    TCP_FLAGS = int(KeyAttr.TCP_FLAGS)
    TUNNEL = int(KeyAttr.TUNNEL)
    TUNNEL_INFO = int(KeyAttr.TUNNEL_INFO)
    UDP = int(KeyAttr.UDP)
    VLAN = int(KeyAttr.VLAN)


_ETH_P_802_2 = 0x0004
_ETH_P_802_3_MIN = 0x0600
_ETH_P_IP, _ETH_P_IPV6, _ETH_P_ARP, _ETH_P_RARP, _ETH_P_NSH = 0x0800, 0x86DD, 0x0806, 0x8035, 0x894F
_ETH_P_MPLS = (0x8847, 0x8848)
_ETH_P_VLAN = (0x8100, 0x88A8)
_VLAN_CFI = 0x1000
_FRAG_LATER, _FRAG_MAX = 2, 2
_IPPROTO_TCP, _IPPROTO_UDP, _IPPROTO_SCTP, _IPPROTO_ICMP, _IPPROTO_ICMPV6 = 6, 17, 132, 1, 58
_ND_TYPES = (135, 136)  # NDISC_NEIGHBOUR_SOLICITATION, NDISC_NEIGHBOUR_ADVERTISEMENT
# datapath.h: DP_MAX_PORTS is USHRT_MAX; metadata_from_nlattrs refuses in_port >= it.
_DP_MAX_PORTS = 0xFFFF
# conntrack.h CT_SUPPORTED_MASK: OVS_CS_F_NEW ... OVS_CS_F_DST_NAT.
_CT_SUPPORTED_MASK = 0xFF
# __parse_flow_nlattrs: userspace-only or kernel-internal types are "not supported".
_NOT_SUPPORTED = frozenset({_K.PACKET_TYPE, _K.ND_EXTENSIONS, _K.TUNNEL_INFO})
# match_validate: a mask may name these only if the key's values allow it.
_GUARDED = frozenset(
    {
        _K.IPV4,
        _K.CT_ORIG_TUPLE_IPV4,
        _K.IPV6,
        _K.CT_ORIG_TUPLE_IPV6,
        _K.TCP,
        _K.TCP_FLAGS,
        _K.UDP,
        _K.SCTP,
        _K.ICMP,
        _K.ICMPV6,
        _K.ARP,
        _K.ND,
        _K.MPLS,
        _K.NSH,
    }
)
_ALWAYS_MASKABLE = frozenset({_K.TUNNEL, _K.IN_PORT, _K.ETHERTYPE})

Attrs = dict[int, Attribute]


@dataclass(slots=True)
class _Image:
    """The fields of ``struct sw_flow_key`` that match_validate reads (key or mask)."""

    eth_type: int = 0
    ip_proto: int = 0
    ip_frag: int = 0
    tp_src: int = 0
    vlan_tci: int = 0
    cvlan_tci: int = 0


def _name(t: int) -> str:
    try:
        return KeyAttr(t).name.lower()
    except ValueError:
        return f"key{t}"


def _names(types: set[int]) -> str:
    return ", ".join(_name(t) for t in sorted(types))


def _be(data: bytes, start: int, n: int) -> int:
    return int.from_bytes(data[start : start + n], "big")


def _host_u32(data: bytes) -> int:
    return int.from_bytes(data[:4], "little")


def _nonzero(a: Attribute) -> bool:
    # flow_netlink.c is_all_zero over the raw payload: a nested attribute
    # with children is never all-zero (their headers are not), an empty one is.
    return a.payload.count(0) != len(a.payload)


def _merge(attrs: Attrs, shared: Attrs, children: tuple[Attribute, ...], *, is_mask: bool, where: str) -> None:
    for c in children:
        if c.type in _NOT_SUPPORTED:
            raise OdpDecodeError(f"key type {c.type} ({_name(c.type)}) is not supported", where=where)
        if is_mask and not _nonzero(c):
            continue
        if c.type in attrs:
            raise OdpDecodeError(f"duplicate key {_name(c.type)} inside encap()", where=where)
        attrs[c.type] = c
        shared[c.type] = c


def _vlan_key(attrs: Attrs, shared: Attrs, img: _Image, inner: bool, where: str) -> bool:
    # validate_vlan_from_nlattrs + __parse_vlan_from_nlattrs (key side).
    what = "C-VLAN" if inner else "VLAN"
    et = attrs.get(_K.ETHERTYPE)
    if not (_K.ETHERNET in attrs and et is not None and _be(et.payload, 0, 2) in _ETH_P_VLAN):
        return False
    vlan, encap = attrs.get(_K.VLAN), attrs.get(_K.ENCAP)
    if vlan is None or encap is None:
        raise OdpDecodeError(f"invalid {what} frame: a VLAN Ethertype needs vlan() and encap()", where=where)
    tci = _be(vlan.payload, 0, 2)
    if not tci & _VLAN_CFI:
        if tci:
            raise OdpDecodeError(f"{what} TCI {tci:#06x} does not have the CFI bit set", where=where)
        if encap.payload:
            raise OdpDecodeError(f"truncated {what} header (TCI 0) has a non-empty encap()", where=where)
    if inner:
        img.cvlan_tci = tci
    else:
        img.vlan_tci = tci
    for t in (_K.ENCAP, _K.VLAN, _K.ETHERTYPE):
        del attrs[t]
    _merge(attrs, shared, encap.children or (), is_mask=False, where=where)
    return True


def _vlan_mask(attrs: Attrs, shared: Attrs, key: _Image, inner: bool, where: str) -> None:
    # validate_vlan_mask_from_nlattrs + __parse_vlan_from_nlattrs (mask side).
    what = "C-VLAN" if inner else "VLAN"
    encap = attrs.get(_K.ENCAP)
    if encap is None:
        return
    if not (key.cvlan_tci if inner else key.vlan_tci) & _VLAN_CFI:
        raise OdpDecodeError(f"encap() mask given for a non-{what} frame", where=where)
    vlan, tpid = shared.get(_K.VLAN), shared.get(_K.ETHERTYPE)
    if tpid is None or _be(tpid.payload, 0, 2) != 0xFFFF:
        raise OdpDecodeError(f"the mask must match the {what} TPID (eth_type) exactly", where=where)
    if vlan is None or not _be(vlan.payload, 0, 2) & _VLAN_CFI:
        raise OdpDecodeError(f"the {what} TCI mask must match the CFI bit exactly", where=where)
    for t in (_K.ENCAP, _K.VLAN, _K.ETHERTYPE):
        attrs.pop(t, None)
    _merge(attrs, shared, encap.children or (), is_mask=True, where=where)


def _fields(attrs: Attrs, img: _Image, *, is_mask: bool, where: str) -> None:
    # metadata_from_nlattrs and ovs_key_from_nlattrs: value checks and the
    # fields match_validate reads, written in the kernel's order.
    if not is_mask:
        port = attrs.get(_K.IN_PORT)
        if port is not None and _host_u32(port.payload) >= _DP_MAX_PORTS:
            raise OdpDecodeError(f"in_port {_host_u32(port.payload)} exceeds the maximum {_DP_MAX_PORTS}", where=where)
    ct = attrs.get(_K.CT_STATE)
    if ct is not None and _host_u32(ct.payload) & ~_CT_SUPPORTED_MASK:
        raise OdpDecodeError(f"ct_state flags {_host_u32(ct.payload):#010x} are not supported", where=where)
    et = attrs.get(_K.ETHERTYPE)
    if et is not None:
        value = _be(et.payload, 0, 2)
        if is_mask:
            value = 0xFFFF  # parse_eth_type_from_nlattrs: always an exact match
        elif value < _ETH_P_802_3_MIN:
            raise OdpDecodeError(f"EtherType {value:#x} is less than the minimum {_ETH_P_802_3_MIN:#x}", where=where)
        img.eth_type = value
    if _K.ETHERNET in attrs:
        if _K.VLAN in attrs:
            raise OdpDecodeError("vlan() unexpected: the Ethertype is not a VLAN TPID", where=where)
        if et is None and not is_mask:
            img.eth_type = _ETH_P_802_2
    elif et is None and not is_mask:
        raise OdpDecodeError("either eth() or eth_type() is required", where=where)
    for t, proto_at, frag_at in ((_K.IPV4, 8, 11), (_K.IPV6, 36, 39)):
        ip = attrs.get(t)
        if ip is None:
            continue
        if not is_mask and ip.payload[frag_at] > _FRAG_MAX:
            raise OdpDecodeError(f"{_name(t)} frag type {ip.payload[frag_at]} is out of range", where=where)
        if not is_mask and t == _K.IPV6 and _be(ip.payload, 32, 4) & 0xFFF00000:
            raise OdpDecodeError(f"ipv6 flow label {_be(ip.payload, 32, 4):#x} is out of range", where=where)
        img.ip_proto, img.ip_frag = ip.payload[proto_at], ip.payload[frag_at]
    arp = attrs.get(_K.ARP)
    if arp is not None:
        op = _be(arp.payload, 8, 2)
        if not is_mask and op & 0xFF00:
            raise OdpDecodeError(f"unknown ARP opcode {op}", where=where)
        img.ip_proto = op & 0xFF  # ip.proto is a u8
    for t in (_K.TCP, _K.UDP, _K.SCTP):
        if t in attrs:
            img.tp_src = _be(attrs[t].payload, 0, 2)
    for t in (_K.ICMP, _K.ICMPV6):
        if t in attrs:
            img.tp_src = attrs[t].payload[0]
    leftover = {t for t in (_K.ENCAP, _K.VLAN) if t in attrs}
    if leftover:
        raise OdpDecodeError(f"unexpected key attributes: {_names(leftover)}", where=where)


def _expectations(key: _Image, mask: _Image | None, key_attrs: set[int]) -> tuple[set[int], set[int]]:
    # match_validate: (key_expected, mask_allowed).
    expected: set[int] = set()
    allowed = (key_attrs - _GUARDED) | _ALWAYS_MASKABLE
    eth_exact = mask is not None and mask.eth_type == 0xFFFF
    proto_exact = mask is not None and mask.ip_proto == 0xFF

    def need(t: int, maskable: bool) -> None:
        expected.add(t)
        if maskable:
            allowed.add(t)

    et = key.eth_type
    if et in (_ETH_P_ARP, _ETH_P_RARP):
        need(_K.ARP, eth_exact)
    if et in _ETH_P_MPLS:
        need(_K.MPLS, eth_exact)
    if et in (_ETH_P_IP, _ETH_P_IPV6):
        v4 = et == _ETH_P_IP
        need(_K.IPV4 if v4 else _K.IPV6, eth_exact)
        if eth_exact:
            allowed.add(_K.CT_ORIG_TUPLE_IPV4 if v4 else _K.CT_ORIG_TUPLE_IPV6)
        if key.ip_frag != _FRAG_LATER:
            p = key.ip_proto
            if p == _IPPROTO_UDP:
                need(_K.UDP, proto_exact)
            if p == _IPPROTO_SCTP:
                need(_K.SCTP, proto_exact)
            if p == _IPPROTO_TCP:
                need(_K.TCP, proto_exact)
                need(_K.TCP_FLAGS, proto_exact)
            if p == _IPPROTO_ICMP and v4:
                need(_K.ICMP, proto_exact)
            if p == _IPPROTO_ICMPV6 and not v4:
                need(_K.ICMPV6, proto_exact)
                if key.tp_src in _ND_TYPES:
                    # The ND fields share space with the original-direction
                    # conntrack tuple: never both.
                    allowed.discard(_K.CT_ORIG_TUPLE_IPV6)
                    need(_K.ND, mask is not None and mask.tp_src == 0xFF)
    if et == _ETH_P_NSH:
        need(_K.NSH, eth_exact)
    return expected, allowed


def _top(tree: tuple[Attribute, ...], *, is_mask: bool, where: str) -> Attrs:
    attrs: Attrs = {}
    for a in tree:
        if a.type in _NOT_SUPPORTED:
            raise OdpDecodeError(f"key type {a.type} ({_name(a.type)}) is not supported", where=where)
        if is_mask and not _nonzero(a):
            continue  # parse_flow_mask_nlattrs: all-zero mask attributes are left out
        attrs[a.type] = a
    return attrs


def _exact_mask_tree(tree: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    # ovs_nla_get_match without a MASK: the key's attributes with every
    # payload byte set to 0xff (mask_set_nlattr); ct_state cut to the
    # supported bits.
    out = []
    for a in tree:
        if a.children is not None:
            kids = _exact_mask_tree(a.children)
            out.append(Attribute(a.type, b"".join(k.encode() for k in kids), kids))
        elif a.type == _K.CT_STATE:
            out.append(Attribute(a.type, _CT_SUPPORTED_MASK.to_bytes(4, "little")))
        else:
            out.append(Attribute(a.type, b"\xff" * len(a.payload)))
    return tuple(out)


def validate_match(
    key: tuple[Attribute, ...], mask: tuple[Attribute, ...] | None, *, has_mask: bool, where: str = "match"
) -> None:
    """Refuse what ``ovs_nla_get_match`` refuses; raise :class:`OdpDecodeError` naming the attributes.

    ``key``/``mask`` are decoded top-level attributes. ``has_mask`` is False
    for GET and DEL, which parse the key alone (``match.mask`` is NULL);
    with ``has_mask`` and ``mask=None`` the kernel's exact mask is used.
    Fix the key by adding what the message names (``tcp_flags()`` for TCP,
    ``ipv4()`` for ``eth_type(0x0800)``...) or narrowing the mask.
    """
    shared: Attrs = {}
    attrs = _top(key, is_mask=False, where=where)
    shared.update(attrs)
    kimg = _Image()
    if _vlan_key(attrs, shared, kimg, False, where) and kimg.vlan_tci & _VLAN_CFI:
        _vlan_key(attrs, shared, kimg, True, where)
    key_attrs = set(attrs)
    _fields(attrs, kimg, is_mask=False, where=where)
    mimg: _Image | None = None
    mask_attrs: set[int] = set()
    if has_mask:
        mtree = _exact_mask_tree(key) if mask is None else mask
        mattrs = _top(mtree, is_mask=True, where=where)
        shared.update(mattrs)
        mimg = _Image()
        _vlan_mask(mattrs, shared, kimg, False, where)
        if kimg.vlan_tci & _VLAN_CFI:
            _vlan_mask(mattrs, shared, kimg, True, where)
        mask_attrs = set(mattrs)
        _fields(mattrs, mimg, is_mask=True, where=where)
    expected, allowed = _expectations(kimg, mimg, key_attrs)
    missing = expected - key_attrs
    if missing:
        raise OdpDecodeError(
            f"missing key attributes: {_names(missing)} "
            f"(the kernel logs 'Missing key (keys={_bits(key_attrs):x}, expected={_bits(expected):x})')",
            where=where,
        )
    unexpected = mask_attrs - allowed
    if unexpected:
        raise OdpDecodeError(
            f"unexpected mask attributes: {_names(unexpected)}; mask eth_type exactly for L3 attributes, "
            "the IP protocol exactly for L4 ones "
            f"(the kernel logs 'Unexpected mask (mask={_bits(mask_attrs):x}, allowed={_bits(allowed):x})')",
            where=where,
        )


def _bits(types: set[int]) -> int:
    return sum(1 << t for t in types)
