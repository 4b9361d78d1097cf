"""The Linux datapath's ``struct sw_flow_key``: filled from netlink, serialised back; no I/O.

The kernel does not keep the attributes a flow was put with. It parses key
and mask into two ``struct sw_flow_key`` (net/openvswitch/flow_netlink.c
``ovs_nla_get_match`` -> ``ovs_key_from_nlattrs``), stores the masked key, and
every reply re-serialises those structs (``__ovs_nla_put_key``): metadata
attributes appear whether they were put or not, in the kernel's order,
fields the struct cannot hold come back cut (the ARP opcode in a u8, the
in_port in a u16), and the mask gets a tunnel section and an in_port with
its upper 16 bits set. This module reproduces that for Linux 6.1.

The struct is modelled as a byte image with named fields at fixed offsets.
Offsets are ours, not the kernel's; what matters and is kept: every field's
size and byte order, and the unions (IPv4/ARP/IPv6/MPLS/NSH share one
region; ``ipv4.ct_orig`` overlaps the ARP hardware addresses), because a
mask's bytes AND a key's bytes over the whole struct
(flow_table.c ``ovs_flow_mask_key``).

Only accepted flows are serialised: the caller validates first
(:mod:`reference._match_validate`); this module does not decide acceptance.
"""

from __future__ import annotations

import struct
import sys

from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError
from reference.uapi import KeyAttr, TunnelKeyAttr

__all__ = ["SwKey", "check_kernel_attrs", "flow_images", "put_key", "without_zero_repeats"]

_L3 = 364
# name: (offset, size)
_F: dict[str, tuple[int, int]] = {
    "tun_opts": (0, 255),
    "tun_opts_len": (255, 1),
    "tun_id": (256, 8),
    "tun_ipv4_src": (264, 4),
    "tun_ipv4_dst": (268, 4),
    "tun_ipv6_src": (264, 16),
    "tun_ipv6_dst": (280, 16),
    "tun_flags": (296, 2),
    "tun_tos": (298, 1),
    "tun_ttl": (299, 1),
    "tun_tp_src": (304, 2),
    "tun_tp_dst": (306, 2),
    "priority": (308, 4),
    "skb_mark": (312, 4),
    "in_port": (316, 2),
    "mac_proto": (318, 1),
    "tun_proto": (319, 1),
    "dp_hash": (320, 4),
    "recirc_id": (324, 4),
    "eth_src": (328, 6),
    "eth_dst": (334, 6),
    "vlan_tpid": (340, 2),
    "vlan_tci": (342, 2),
    "cvlan_tpid": (344, 2),
    "cvlan_tci": (346, 2),
    "eth_type": (348, 2),
    "ct_state": (350, 1),
    "ct_orig_proto": (351, 1),
    "ip_proto": (352, 1),
    "ip_tos": (353, 1),
    "ip_ttl": (354, 1),
    "ip_frag": (355, 1),
    "ct_zone": (356, 2),
    "tp_src": (358, 2),
    "tp_dst": (360, 2),
    "tp_flags": (362, 2),
    # the L3 union
    "ipv4_src": (_L3, 4),
    "ipv4_dst": (_L3 + 4, 4),
    "ipv4_ct_orig_src": (_L3 + 8, 4),
    "ipv4_ct_orig_dst": (_L3 + 12, 4),
    "arp_sha": (_L3 + 8, 6),
    "arp_tha": (_L3 + 14, 6),
    "ipv6_src": (_L3, 16),
    "ipv6_dst": (_L3 + 16, 16),
    "ipv6_label": (_L3 + 32, 4),
    "ipv6_exthdrs": (_L3 + 36, 2),
    "nd_target": (_L3 + 40, 16),
    "nd_sll": (_L3 + 56, 6),
    "nd_tll": (_L3 + 62, 6),
    "ipv6_ct_orig_src": (_L3 + 68, 16),
    "ipv6_ct_orig_dst": (_L3 + 84, 16),
    "mpls_labels": (_L3, 4),
    "mpls_lse": (_L3 + 4, 12),
    "nsh_base": (_L3, 8),
    "nsh_context": (_L3 + 8, 16),
    # struct { orig_tp; mark; labels } ct
    "ct_orig_tp_src": (464, 2),
    "ct_orig_tp_dst": (466, 2),
    "ct_mark": (468, 4),
    "ct_labels": (472, 16),
}
_SIZE = 488
_OPTS_MAX = 255  # IP_TUNNEL_OPTS_MAX: options sit at the end of tun_opts (TUN_METADATA_OFFSET)

# include/net/ip_tunnels.h TUNNEL_* (__be16 in 6.1)
_T_CSUM, _T_KEY, _T_DF, _T_OAM = 0x0001, 0x0004, 0x0100, 0x0200
_T_GENEVE, _T_VXLAN, _T_ERSPAN, _T_GTP = 0x0800, 0x1000, 0x4000, 0x8000
_T_OPTIONS = _T_GENEVE | _T_VXLAN | _T_ERSPAN | _T_GTP
_AF_INET, _AF_INET6 = 2, 10
_MAC_PROTO_NONE, _MAC_PROTO_ETHERNET = 0, 1
_ETH_P_802_2 = 0x0004
_ETH_P_IP, _ETH_P_IPV6, _ETH_P_ARP, _ETH_P_RARP = 0x0800, 0x86DD, 0x0806, 0x8035
_ETH_P_MPLS_UC, _ETH_P_MPLS_MC, _ETH_P_NSH = 0x8847, 0x8848, 0x894F
_ETH_P_8021Q, _ETH_P_8021AD = 0x8100, 0x88A8
_DP_MAX_PORTS = 0xFFFF
_FRAG_LATER = 2
_VLAN_CFI = 0x1000
_CT_SUPPORTED_MASK = 0xFF
_NSH_M_TYPE1 = 1
_VXLAN_EXT_GBP = 1
_K = KeyAttr
_TK = TunnelKeyAttr


class SwKey:
    """A ``struct sw_flow_key`` image (all zeros when new)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | None = None) -> None:
        self.data = bytearray(data if data is not None else _SIZE)

    def get(self, name: str) -> bytes:
        off, size = _F[name]
        return bytes(self.data[off : off + size])

    def put(self, name: str, value: bytes) -> None:
        off, size = _F[name]
        self.data[off : off + size] = value[:size].ljust(size, b"\0")

    def be(self, name: str) -> int:
        return int.from_bytes(self.get(name), "big")

    def host(self, name: str) -> int:
        return int.from_bytes(self.get(name), sys.byteorder)

    def masked(self, mask: SwKey) -> SwKey:
        """``ovs_flow_mask_key``: this key ANDed with ``mask`` over the whole struct."""
        n = int.from_bytes(self.data, "big") & int.from_bytes(mask.data, "big")
        return SwKey(n.to_bytes(_SIZE, "big"))


def _nonzero(payload: bytes) -> bool:
    return any(payload)


def _be16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def _u8(v: int) -> bytes:
    return bytes([v & 0xFF])


def _tunnel(sk: SwKey, payload: bytes, is_mask: bool) -> None:
    # flow_netlink.c ip_tun_from_nlattr (no zero-skipping inside the nest).
    flags = 0
    ipv6 = False
    for t, p, _ in iter_attrs(payload, where="tunnel"):
        if t == _TK.ID:
            sk.put("tun_id", p)
            flags |= _T_KEY
        elif t == _TK.IPV4_SRC:
            sk.put("tun_ipv4_src", p)
        elif t == _TK.IPV4_DST:
            sk.put("tun_ipv4_dst", p)
        elif t == _TK.IPV6_SRC:
            sk.put("tun_ipv6_src", p)
            ipv6 = True
        elif t == _TK.IPV6_DST:
            sk.put("tun_ipv6_dst", p)
            ipv6 = True
        elif t == _TK.TOS:
            sk.put("tun_tos", p)
        elif t == _TK.TTL:
            sk.put("tun_ttl", p)
        elif t == _TK.DONT_FRAGMENT:
            flags |= _T_DF
        elif t == _TK.CSUM:
            flags |= _T_CSUM
        elif t == _TK.TP_SRC:
            sk.put("tun_tp_src", p)
        elif t == _TK.TP_DST:
            sk.put("tun_tp_dst", p)
        elif t == _TK.OAM:
            flags |= _T_OAM
        elif t in (_TK.GENEVE_OPTS, _TK.ERSPAN_OPTS, _TK.VXLAN_OPTS):
            if t == _TK.VXLAN_OPTS:
                # struct vxlan_metadata { u32 gbp; } from the nested OVS_VXLAN_EXT_GBP.
                gbp = b"\0" * 4
                for vt, vp, _ in iter_attrs(p, where="vxlan"):
                    if vt == _VXLAN_EXT_GBP:
                        gbp = vp[:4]
                opts = gbp
                flags |= _T_VXLAN
            else:
                opts = p
                flags |= _T_GENEVE if t == _TK.GENEVE_OPTS else _T_ERSPAN
            sk.put("tun_opts_len", b"\xff" if is_mask else bytes([len(opts)]))
            off = _OPTS_MAX - len(opts)
            sk.data[off:_OPTS_MAX] = opts
    sk.put("tun_flags", _be16(flags))
    sk.put("tun_proto", b"\xff" if is_mask else bytes([_AF_INET6 if ipv6 else _AF_INET]))


# flow_netlink.c ovs_tunnel_key_lens (-1: variable or nested); PAD has no entry (length 0).
_TUNNEL_LENS: dict[int, int] = {
    _TK.ID: 8,
    _TK.IPV4_SRC: 4,
    _TK.IPV4_DST: 4,
    _TK.TOS: 1,
    _TK.TTL: 1,
    _TK.DONT_FRAGMENT: 0,
    _TK.CSUM: 0,
    _TK.OAM: 0,
    _TK.GENEVE_OPTS: -1,
    _TK.TP_SRC: 2,
    _TK.TP_DST: 2,
    _TK.VXLAN_OPTS: -1,
    _TK.IPV6_SRC: 16,
    _TK.IPV6_DST: 16,
    _TK.PAD: 0,
    _TK.ERSPAN_OPTS: -1,
    _TK.IPV4_INFO_BRIDGE: 0,
}


def _check_tunnel(payload: bytes, is_mask: bool, key_opts_len: int, where: str) -> int:
    """ip_tun_from_nlattr's refusals (all EINVAL); returns the options length a key carries."""
    ipv4 = ipv6 = ttl = bridge = False
    opts_type = -1
    opts_len = 0
    dst4 = dst6 = b""
    for t, p, off in iter_attrs(payload, where=where):
        want = _TUNNEL_LENS.get(t)
        if want is None:
            raise OdpDecodeError(f"unknown tunnel attribute {t}", where=where, offset=off)
        if want >= 0 and len(p) != want:
            raise OdpDecodeError(f"tunnel attribute {t} of {len(p)} bytes, expected {want}", where=where, offset=off)
        if t in (_TK.IPV4_SRC, _TK.IPV4_DST):
            ipv4 = True
            dst4 = p if t == _TK.IPV4_DST else dst4
        elif t in (_TK.IPV6_SRC, _TK.IPV6_DST):
            ipv6 = True
            dst6 = p if t == _TK.IPV6_DST else dst6
        elif t == _TK.TTL:
            ttl = True
        elif t == _TK.IPV4_INFO_BRIDGE:
            bridge = ipv4 = True
        elif t in (_TK.GENEVE_OPTS, _TK.VXLAN_OPTS, _TK.ERSPAN_OPTS):
            if opts_type >= 0:
                raise OdpDecodeError("multiple tunnel metadata blocks", where=where, offset=off)
            opts_type = t
            if t == _TK.VXLAN_OPTS:
                for vt, vp, _ in iter_attrs(p, where=where):
                    if vt == _VXLAN_EXT_GBP and len(vp) < 4:
                        raise OdpDecodeError("vxlan gbp shorter than a u32", where=where, offset=off)
                opts_len = 4
            elif len(p) > _OPTS_MAX:
                raise OdpDecodeError("tunnel options longer than 255 bytes", where=where, offset=off)
            elif t == _TK.GENEVE_OPTS:
                if len(p) % 4:
                    raise OdpDecodeError("geneve options not a multiple of 4 bytes", where=where, offset=off)
                if is_mask and len(p) != key_opts_len:
                    raise OdpDecodeError("geneve option mask length differs from the key's", where=where, offset=off)
                opts_len = len(p)
            else:
                opts_len = 12  # sizeof(struct erspan_metadata)
    if ipv4 and ipv6:
        raise OdpDecodeError("mixed IPv4 and IPv6 tunnel attributes", where=where)
    if not is_mask and not bridge:
        if (not ipv6 and not any(dst4)) or (ipv6 and not any(dst6)):
            raise OdpDecodeError("tunnel destination address is zero", where=where)
        if not ttl:
            raise OdpDecodeError("tunnel TTL not specified", where=where)
    return opts_len


_KEY_ATTR_MAX = int(KeyAttr.IPV6_EXTHDRS)  # OVS_KEY_ATTR_MAX in Linux 6.1


def _check_types(data: bytes, where: str) -> None:
    # __parse_flow_nlattrs: a type above OVS_KEY_ATTR_MAX is EINVAL before
    # the all-zero test that lets a mask leave an attribute out.
    for t, p, off in iter_attrs(data, where=where):
        if t > _KEY_ATTR_MAX:
            raise OdpDecodeError(f"key type {t} is out of range max {_KEY_ATTR_MAX}", where=where, offset=off)
        if t == _K.ENCAP and p:
            _check_types(p, where + "/encap")


def without_zero_repeats(mask: bytes) -> bytes:
    """``mask`` without the all-zero copies of a repeated top-level attribute.

    __parse_flow_nlattrs (nz) records only non-zero mask attributes, and its
    duplicate check looks only at recorded ones: a repeated attribute is
    EINVAL in a mask only when two copies carry something.
    """
    parts = [(t, p) for t, p, _ in iter_attrs(mask, where="mask")]
    counts: dict[int, int] = {}
    for t, _ in parts:
        counts[t] = counts.get(t, 0) + 1
    if all(n == 1 for n in counts.values()):
        return mask
    out: list[bytes] = []
    kept: set[int] = set()
    for t, p in parts:
        repeated = counts[t] > 1
        if repeated and not _nonzero(p) and (t in kept or any(_nonzero(q) for u, q in parts if u == t)):
            continue
        kept.add(t)
        out.append(pack_attr(t, p))
    return b"".join(out)


def check_kernel_attrs(key: bytes, mask: bytes | None) -> None:
    """Raise :class:`OdpDecodeError` for what Linux refuses and the attribute codecs let through.

    Attribute types above OVS_KEY_ATTR_MAX (even all-zero ones in a mask),
    and the tunnel checks of ip_tun_from_nlattr on the key's and the mask's tunnel.
    """
    _check_types(key, "key")
    if mask is not None:
        _check_types(mask, "mask")
    opts_len = 0
    for t, p, _ in iter_attrs(key, where="key"):
        if t == _K.TUNNEL:
            opts_len = _check_tunnel(p, False, 0, "key/tunnel")
    if mask is not None:
        for t, p, _ in iter_attrs(mask, where="mask"):
            if t == _K.TUNNEL and _nonzero(p):
                _check_tunnel(p, True, opts_len, "mask/tunnel")


def _vlan(sk: SwKey, a: dict[int, bytes], inner: bool) -> None:
    # encode_vlan_from_nlattrs: TPID from ETHERTYPE, TCI from VLAN.
    pre = "cvlan" if inner else "vlan"
    sk.put(f"{pre}_tpid", a.get(_K.ETHERTYPE, b"\0\0"))
    sk.put(f"{pre}_tci", a.get(_K.VLAN, b"\0\0"))


def _fill(sk: SwKey, data: bytes, a: dict[int, bytes], key: SwKey | None = None) -> None:
    """ovs_key_from_nlattrs (with parse_vlan_from_nlattrs before it) for one key or mask.

    ``a`` is the kernel's ``a[]`` array, shared by the key's and the mask's
    parse (ovs_nla_get_match): a mask attribute that is all zero is skipped
    (__parse_flow_nlattrs with nz), so ``a[]`` still holds the key's, and
    encode_vlan_from_nlattrs reads VLAN and ETHERTYPE from ``a[]`` without
    looking at which were in the mask. ``key`` is the key's struct when
    filling the mask.
    """
    is_mask = key is not None
    present: set[int] = set()

    def parse(stream: bytes) -> None:
        for t, p, _ in iter_attrs(stream, where="mask" if is_mask else "key"):
            if is_mask and not _nonzero(p):
                continue
            a[t] = p
            present.add(t)

    parse(data)
    if is_mask:
        # "Always match on tci."
        sk.put("vlan_tci", b"\xff\xff")
        sk.put("cvlan_tci", b"\xff\xff")
    for inner in (False, True):
        # The C-VLAN layer is parsed iff the key's outer TCI has CFI set.
        if inner and not (key or sk).be("vlan_tci") & _VLAN_CFI:
            break
        if is_mask:
            if _K.ENCAP not in present:
                break
        else:
            et = a.get(_K.ETHERTYPE)
            if not (
                _K.ETHERNET in present
                and _K.ETHERTYPE in present
                and et is not None
                and int.from_bytes(et, "big") in (_ETH_P_8021Q, _ETH_P_8021AD)
            ):
                break
        _vlan(sk, a, inner)
        encap = a.get(_K.ENCAP, b"")
        present.difference_update((_K.ENCAP, _K.VLAN, _K.ETHERTYPE))
        parse(encap)
    has_eth = _K.ETHERNET in present
    a = {t: p for t, p in a.items() if t in present}
    # metadata_from_nlattrs
    for attr, name in ((_K.DP_HASH, "dp_hash"), (_K.RECIRC_ID, "recirc_id"), (_K.PRIORITY, "priority")):
        if attr in a:
            sk.put(name, a[attr])
    if _K.IN_PORT in a:
        sk.put("in_port", b"\xff\xff" if is_mask else a[_K.IN_PORT][:2])
    elif not is_mask:
        sk.put("in_port", _DP_MAX_PORTS.to_bytes(2, sys.byteorder))
    if _K.SKB_MARK in a:
        sk.put("skb_mark", a[_K.SKB_MARK])
    if _K.TUNNEL in a:
        _tunnel(sk, a[_K.TUNNEL], is_mask)
    if _K.CT_STATE in a:
        sk.put("ct_state", a[_K.CT_STATE][:1])
    if _K.CT_ZONE in a:
        sk.put("ct_zone", a[_K.CT_ZONE])
    if _K.CT_MARK in a:
        sk.put("ct_mark", a[_K.CT_MARK])
    if _K.CT_LABELS in a:
        sk.put("ct_labels", a[_K.CT_LABELS])
    _put_fields(sk, a, _K.CT_ORIG_TUPLE_IPV4, _K.CT_ORIG_TUPLE_IPV6)
    mac_proto = _MAC_PROTO_NONE if (not has_eth and _K.ETHERTYPE in a) else _MAC_PROTO_ETHERNET
    sk.put("mac_proto", b"\xff" if is_mask else bytes([mac_proto]))
    _put_fields(sk, a, _K.ETHERNET)
    if _K.ETHERTYPE in a and (has_eth or mac_proto == _MAC_PROTO_NONE):
        sk.put("eth_type", b"\xff\xff" if is_mask else a[_K.ETHERTYPE])  # "Always exact match EtherType."
    elif has_eth and not is_mask:
        sk.put("eth_type", _be16(_ETH_P_802_2))
    _put_fields(sk, a, _K.IPV4, _K.IPV6)
    if _K.IPV6_EXTHDRS in a:
        sk.put("ipv6_exthdrs", a[_K.IPV6_EXTHDRS])
    if _K.ARP in a:
        p = a[_K.ARP]
        sk.put("ipv4_src", p[0:4])
        sk.put("ipv4_dst", p[4:8])
        sk.put("ip_proto", _u8(int.from_bytes(p[8:10], "big")))  # the opcode lands in a u8
        sk.put("arp_sha", p[10:16])
        sk.put("arp_tha", p[16:22])
    if _K.NSH in a:
        for t, p, _ in iter_attrs(a[_K.NSH], where="nsh"):
            if t == 1:
                sk.put("nsh_base", p)
            elif t == 2:
                sk.put("nsh_context", p)
    if _K.MPLS in a:
        p = a[_K.MPLS]
        n = len(p) // 4
        sk.put("mpls_lse", p)
        sk.put("mpls_labels", ((1 << n) - 1).to_bytes(4, sys.byteorder))
    _put_fields(sk, a, _K.TCP, _K.UDP, _K.SCTP)
    if _K.TCP_FLAGS in a:
        sk.put("tp_flags", a[_K.TCP_FLAGS])
    for attr in (_K.ICMP, _K.ICMPV6):
        if attr in a:
            sk.put("tp_src", _be16(a[attr][0]))
            sk.put("tp_dst", _be16(a[attr][1]))
    _put_fields(sk, a, _K.ND)


# Where each byte range of a plain key attribute lands in struct sw_flow_key
# (flow_netlink.c ovs_key_from_nlattrs and ct_orig_tuple handling in metadata_from_nlattrs).
_TP = (("tp_src", 0, 2), ("tp_dst", 2, 4))
_FIELDS: dict[int, tuple[tuple[str, int, int], ...]] = {
    _K.CT_ORIG_TUPLE_IPV4: (
        ("ipv4_ct_orig_src", 0, 4),
        ("ipv4_ct_orig_dst", 4, 8),
        ("ct_orig_tp_src", 8, 10),
        ("ct_orig_tp_dst", 10, 12),
        ("ct_orig_proto", 12, 13),
    ),
    _K.CT_ORIG_TUPLE_IPV6: (
        ("ipv6_ct_orig_src", 0, 16),
        ("ipv6_ct_orig_dst", 16, 32),
        ("ct_orig_tp_src", 32, 34),
        ("ct_orig_tp_dst", 34, 36),
        ("ct_orig_proto", 36, 37),
    ),
    _K.ETHERNET: (("eth_src", 0, 6), ("eth_dst", 6, 12)),
    _K.IPV4: (
        ("ipv4_src", 0, 4),
        ("ipv4_dst", 4, 8),
        ("ip_proto", 8, 9),
        ("ip_tos", 9, 10),
        ("ip_ttl", 10, 11),
        ("ip_frag", 11, 12),
    ),
    _K.IPV6: (
        ("ipv6_src", 0, 16),
        ("ipv6_dst", 16, 32),
        ("ipv6_label", 32, 36),
        ("ip_proto", 36, 37),
        ("ip_tos", 37, 38),
        ("ip_ttl", 38, 39),
        ("ip_frag", 39, 40),
    ),
    _K.TCP: _TP,
    _K.UDP: _TP,
    _K.SCTP: _TP,
    _K.ND: (("nd_target", 0, 16), ("nd_sll", 16, 22), ("nd_tll", 22, 28)),
}


def _put_fields(sk: SwKey, a: dict[int, bytes], *attrs: int) -> None:
    """Copy each present attribute of ``attrs`` into ``sk`` by its :data:`_FIELDS` ranges."""
    for attr in attrs:
        if attr in a:
            payload = a[attr]
            for name, start, end in _FIELDS[attr]:
                sk.put(name, payload[start:end])


def _exact_mask_attrs(data: bytes, nested: bool = False) -> bytes:
    """flow_netlink.c mask_set_nlattr: the key's attributes with every payload byte 0xff (ct_state cut to 0xff)."""
    out = []
    for t, p, _ in iter_attrs(data, where="key"):
        if not nested and t == _K.ENCAP:
            out.append(pack_attr(t, _exact_mask_attrs(p)))
        elif (not nested and t == _K.TUNNEL) or (nested and t == _TK.VXLAN_OPTS) or (not nested and t == _K.NSH):
            out.append(pack_attr(t, _exact_mask_attrs(p, nested=True)))
        elif not nested and t == _K.CT_STATE:
            out.append(pack_attr(t, _CT_SUPPORTED_MASK.to_bytes(len(p), sys.byteorder)[: len(p)]))
        else:
            out.append(pack_attr(t, b"\xff" * len(p)))
    return b"".join(out)


def flow_images(key: bytes, mask: bytes | None) -> tuple[SwKey, SwKey]:
    """The (unmasked key, mask) structs ``ovs_nla_get_match`` builds from a validated request."""
    k = SwKey()
    a: dict[int, bytes] = {}
    _fill(k, key, a)
    m = SwKey()
    if mask is None:
        if k.get("tun_proto")[0]:
            # "The userspace does not send tunnel attributes that are 0, but
            # we should not wildcard them nonetheless."
            for name in ("tun_id", "tun_ipv6_src", "tun_ipv6_dst", "tun_flags", "tun_tos", "tun_ttl"):
                m.put(name, b"\xff" * _F[name][1])
            m.data[300:308] = b"\xff" * 8  # label, tp_src, tp_dst
        mask = _exact_mask_attrs(key)
    _fill(m, mask, a, key=k)
    return k, m


# -- __ovs_nla_put_key ------------------------------------------------------------


def _put_tunnel(swkey: SwKey, out: SwKey) -> bytes:
    # flow_netlink.c ip_tun_to_nlattr / __ip_tun_to_nlattr.
    flags = out.be("tun_flags")
    parts: list[bytes] = []
    if flags & _T_KEY:
        parts.append(pack_attr(_TK.ID, out.get("tun_id")))
    proto = swkey.get("tun_proto")[0]
    if proto == _AF_INET:
        for name, t in (("tun_ipv4_src", _TK.IPV4_SRC), ("tun_ipv4_dst", _TK.IPV4_DST)):
            if _nonzero(out.get(name)):
                parts.append(pack_attr(t, out.get(name)))
    elif proto == _AF_INET6:
        for name, t in (("tun_ipv6_src", _TK.IPV6_SRC), ("tun_ipv6_dst", _TK.IPV6_DST)):
            if _nonzero(out.get(name)):
                parts.append(pack_attr(t, out.get(name)))
    if _nonzero(out.get("tun_tos")):
        parts.append(pack_attr(_TK.TOS, out.get("tun_tos")))
    parts.append(pack_attr(_TK.TTL, out.get("tun_ttl")))
    if flags & _T_DF:
        parts.append(pack_attr(_TK.DONT_FRAGMENT))
    if flags & _T_CSUM:
        parts.append(pack_attr(_TK.CSUM))
    for name, t in (("tun_tp_src", _TK.TP_SRC), ("tun_tp_dst", _TK.TP_DST)):
        if _nonzero(out.get(name)):
            parts.append(pack_attr(t, out.get(name)))
    if flags & _T_OAM:
        parts.append(pack_attr(_TK.OAM))
    if flags & _T_OPTIONS:
        n = swkey.get("tun_opts_len")[0]
        opts = bytes(out.data[_OPTS_MAX - n : _OPTS_MAX])
        if flags & _T_GENEVE:
            parts.append(pack_attr(_TK.GENEVE_OPTS, opts))
        elif flags & _T_VXLAN:
            gbp = opts[:4].ljust(4, b"\0")
            inner = pack_attr(_VXLAN_EXT_GBP, gbp) if _nonzero(gbp) else b""
            parts.append(pack_attr(_TK.VXLAN_OPTS, inner))
        elif flags & _T_ERSPAN:
            parts.append(pack_attr(_TK.ERSPAN_OPTS, opts))
    return pack_attr(_K.TUNNEL, b"".join(parts))


def _put_vlan(out: SwKey, pre: str, is_mask: bool) -> bytes:
    # ovs_nla_put_vlan: the TPID as ETHERTYPE (0xffff in a mask), then the TCI.
    tpid = b"\xff\xff" if is_mask else out.get(f"{pre}_tpid")
    return pack_attr(_K.ETHERTYPE, tpid) + pack_attr(_K.VLAN, out.get(f"{pre}_tci"))


def _put_l3_l4(swkey: SwKey, out: SwKey) -> bytes:
    parts: list[bytes] = []
    et = swkey.be("eth_type")
    if et == _ETH_P_IP:
        parts.append(
            pack_attr(
                _K.IPV4,
                out.get("ipv4_src")
                + out.get("ipv4_dst")
                + out.get("ip_proto")
                + out.get("ip_tos")
                + out.get("ip_ttl")
                + out.get("ip_frag"),
            )
        )
    elif et == _ETH_P_IPV6:
        parts.append(
            pack_attr(
                _K.IPV6,
                out.get("ipv6_src")
                + out.get("ipv6_dst")
                + out.get("ipv6_label")
                + out.get("ip_proto")
                + out.get("ip_tos")
                + out.get("ip_ttl")
                + out.get("ip_frag"),
            )
        )
        parts.append(pack_attr(_K.IPV6_EXTHDRS, out.get("ipv6_exthdrs")))
    elif et == _ETH_P_NSH:
        nsh = pack_attr(1, out.get("nsh_base"))
        if out is not swkey or swkey.get("nsh_base")[2] == _NSH_M_TYPE1:
            nsh += pack_attr(2, out.get("nsh_context"))
        parts.append(pack_attr(_K.NSH, nsh))
    elif et in (_ETH_P_ARP, _ETH_P_RARP):
        parts.append(
            pack_attr(
                _K.ARP,
                out.get("ipv4_src")
                + out.get("ipv4_dst")
                + _be16(out.get("ip_proto")[0])
                + out.get("arp_sha")
                + out.get("arp_tha")
                + b"\0\0",
            )
        )
    elif et in (_ETH_P_MPLS_UC, _ETH_P_MPLS_MC):
        n = bin(out.host("mpls_labels")).count("1")
        parts.append(pack_attr(_K.MPLS, out.get("mpls_lse")[: 4 * n]))
    if et in (_ETH_P_IP, _ETH_P_IPV6) and swkey.get("ip_frag")[0] != _FRAG_LATER:
        proto = swkey.get("ip_proto")[0]
        ports = out.get("tp_src") + out.get("tp_dst")
        if proto == 6:
            parts.append(pack_attr(_K.TCP, ports))
            parts.append(pack_attr(_K.TCP_FLAGS, out.get("tp_flags")))
        elif proto == 17:
            parts.append(pack_attr(_K.UDP, ports))
        elif proto == 132:
            parts.append(pack_attr(_K.SCTP, ports))
        elif et == _ETH_P_IP and proto == 1:
            parts.append(pack_attr(_K.ICMP, bytes([out.get("tp_src")[1], out.get("tp_dst")[1]])))
        elif et == _ETH_P_IPV6 and proto == 58:
            parts.append(pack_attr(_K.ICMPV6, bytes([out.get("tp_src")[1], out.get("tp_dst")[1]])))
            if swkey.be("tp_src") in (135, 136):
                parts.append(pack_attr(_K.ND, out.get("nd_target") + out.get("nd_sll") + out.get("nd_tll")))
    return b"".join(parts)


def put_key(swkey: SwKey, out: SwKey, is_mask: bool) -> bytes:
    """``__ovs_nla_put_key(swkey, output, is_mask)``: the OVS_KEY_ATTR_* stream (without the outer nest).

    ``swkey`` decides which attributes appear (the flow's masked key, or the
    unmasked key for a key identifier), ``out`` supplies their values.
    """
    p: list[bytes] = [
        pack_attr(_K.RECIRC_ID, out.get("recirc_id")),
        pack_attr(_K.DP_HASH, out.get("dp_hash")),
        pack_attr(_K.PRIORITY, out.get("priority")),
    ]
    if swkey.get("tun_proto")[0] or is_mask:
        p.append(_put_tunnel(swkey, out))
    if swkey.host("in_port") == _DP_MAX_PORTS:
        if is_mask and out.host("in_port") == 0xFFFF:
            p.append(pack_attr(_K.IN_PORT, b"\xff\xff\xff\xff"))
    else:
        upper = 0xFFFF if is_mask else 0
        p.append(pack_attr(_K.IN_PORT, struct.pack("=I", (upper << 16) | out.host("in_port"))))
    p.append(pack_attr(_K.SKB_MARK, out.get("skb_mark")))
    # conntrack.c ovs_ct_put_key
    p.append(pack_attr(_K.CT_STATE, out.get("ct_state") + b"\0\0\0"))
    p.append(pack_attr(_K.CT_ZONE, out.get("ct_zone")))
    p.append(pack_attr(_K.CT_MARK, out.get("ct_mark")))
    p.append(pack_attr(_K.CT_LABELS, out.get("ct_labels")))
    if swkey.get("ct_orig_proto")[0]:
        et = swkey.be("eth_type")
        tp = out.get("ct_orig_tp_src") + out.get("ct_orig_tp_dst") + out.get("ct_orig_proto")
        if et == _ETH_P_IP:
            p.append(
                pack_attr(
                    _K.CT_ORIG_TUPLE_IPV4, out.get("ipv4_ct_orig_src") + out.get("ipv4_ct_orig_dst") + tp + b"\0" * 3
                )
            )
        elif et == _ETH_P_IPV6:
            p.append(
                pack_attr(
                    _K.CT_ORIG_TUPLE_IPV6, out.get("ipv6_ct_orig_src") + out.get("ipv6_ct_orig_dst") + tp + b"\0" * 3
                )
            )
    # Attributes go into the innermost open ENCAP nest (nla_nest_start), closed innermost first.
    stack: list[list[bytes]] = [p]

    def done() -> bytes:
        while len(stack) > 1:
            inner = stack.pop()
            stack[-1].append(pack_attr(_K.ENCAP, b"".join(inner)))
        return b"".join(p)

    vlan_type = swkey.be("eth_type") in (_ETH_P_8021Q, _ETH_P_8021AD)
    if swkey.get("mac_proto")[0] & 0x7F == _MAC_PROTO_ETHERNET:
        p.append(pack_attr(_K.ETHERNET, out.get("eth_src") + out.get("eth_dst")))
        if swkey.be("vlan_tci") or vlan_type:
            stack[-1].append(_put_vlan(out, "vlan", is_mask))
            stack.append([])
            if not swkey.be("vlan_tci"):
                return done()
            if swkey.be("cvlan_tci") or vlan_type:
                stack[-1].append(_put_vlan(out, "cvlan", is_mask))
                stack.append([])
                if not swkey.be("cvlan_tci"):
                    return done()
        if swkey.be("eth_type") == _ETH_P_802_2:
            # 802.2 frames have no ETHERTYPE in the key; a mask shows the
            # EtherType it matches (nothing if wildcarded).
            if is_mask and out.be("eth_type"):
                stack[-1].append(pack_attr(_K.ETHERTYPE, out.get("eth_type")))
            return done()
    stack[-1].append(pack_attr(_K.ETHERTYPE, out.get("eth_type")))
    if not vlan_type:  # after a third VLAN tag nothing more is known
        stack[-1].append(_put_l3_l4(swkey, out))
    return done()
