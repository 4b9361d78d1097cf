"""Flow keys and masks that survive OVS's text form (reference.odp.keys / flowtext).

Keys are built the way OVS userspace lays them out (metadata, eth, optional
VLAN + encap, eth_type, L3, L4). Every generated (key, mask) pair is
"text-safe": format_key() prints it in a form that parse_flow() reads back
to the same bytes (verbose form always; compact form when compact=True,
which also applies the mask to the key and drops fully wildcarded
attributes as the compact printer does). Known OVS text asymmetries are
avoided: ct_tuple6 (printed as src_port=, parsed as tp_src=), nsh (ttl is
printed but not parsed), nd_ext, and recirc_id masks (not parseable).
"""

from __future__ import annotations

import struct as _struct

from hypothesis import strategies as st

from conformance.strategies._common import (
    U32,
    KeyMaskAttr,
    draw_conntrack_metadata,
    draw_metadata_head,
    fields,
    flags_value,
    mask_bytes,
    nonzero_mask,
    u32h,
)
from reference._netlink import pack_attr as _pack_attr
from reference.uapi import KeyAttr as _KA
from reference.uapi import TunnelKeyAttr as _TKA

__all__ = ["flow_keys", "keys_with_masks", "opaque_key_attrs"]


@st.composite
def _frag(draw: st.DrawFn) -> tuple[int, int]:
    # format_frag prints nothing for a zero mask and refuses partial masks.
    if draw(st.booleans()):
        return draw(st.integers(0, 2)), 0xFF
    return 0, 0


@st.composite
def _metadata(draw: st.DrawFn) -> list[KeyMaskAttr]:
    out = draw_metadata_head(draw)
    if draw(st.integers(0, 3)) == 0:
        out.append(draw(_tunnel()))
    if draw(st.booleans()):
        mask = b"\xff" * 4 if draw(st.booleans()) else draw(mask_bytes(4))
        out.append((_KA.IN_PORT, u32h(draw(st.integers(0, 0xFFFF))), mask))
    out += draw_conntrack_metadata(draw, ct_state_exact_mask=U32)
    if draw(st.integers(0, 3)) == 0:
        k, m = draw(fields((4, 4, 2, 2, 1)))
        out.append((_KA.CT_ORIG_TUPLE_IPV4, k + bytes(3), m + bytes(3)))
    return out


@st.composite
def _tunnel_options(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """vxlan(gbp()), geneve({...}), erspan() and gtpu() option attributes (key, mask).

    Masks are non-zero wherever the compact printer would otherwise omit a
    field the parser cannot restore (geneve len/data, gbp id/flags, ...).
    """
    out: list[tuple[bytes, bytes]] = []
    nz8 = st.integers(1, 0xFF)
    if draw(st.integers(0, 3)) == 0:
        # struct: u32 host order, id in bits 0-15, flags in bits 16-23.
        gid, gflags = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFF))
        value = (gflags << 16) | gid or 1
        mvalue = (draw(nz8) << 16) | draw(st.integers(1, 0xFFFF))
        out.append(
            (
                _pack_attr(_TKA.VXLAN_OPTS, _pack_attr(1, _struct.pack("=I", value))),
                _pack_attr(_TKA.VXLAN_OPTS, _pack_attr(1, _struct.pack("=I", mvalue))),
            )
        )
    if draw(st.integers(0, 3)) == 0:
        key, mask = b"", b""
        for _ in range(draw(st.integers(1, 3))):
            words = draw(st.integers(0, 4))
            hdr = _struct.pack(">HBB", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFF)), words)
            cls_m, type_m = draw(st.integers(1, 0xFFFF)), draw(nz8)
            len_m = draw(st.sampled_from([0x1F, draw(st.integers(1, 0x1E))]))
            key += hdr + draw(st.binary(min_size=4 * words, max_size=4 * words))
            mask += _struct.pack(">HBB", cls_m, type_m, len_m) + draw(nonzero_mask(4 * words))
        out.append((_pack_attr(_TKA.GENEVE_OPTS, key), _pack_attr(_TKA.GENEVE_OPTS, mask)))
    if draw(st.integers(0, 4)) == 0:
        # struct erspan_metadata: int version, then index (v1) or md2 (v2).
        ver_mask = draw(st.sampled_from([0xFFFF_FFFF, 0, draw(st.integers(1, 0xFE))]))
        if draw(st.booleans()):
            key = _struct.pack("=I", 1) + draw(st.binary(min_size=4, max_size=4)) + bytes(4)
            mask = _struct.pack("=I", ver_mask) + draw(st.binary(min_size=4, max_size=4)) + b"\xff" * 4
        else:
            hwid, direction = draw(st.integers(0, 15)), draw(st.integers(0, 1))
            key = _struct.pack("=I", 2) + bytes(7) + bytes([hwid | direction << 4])
            mask = _struct.pack("=I", ver_mask) + b"\xff" * 7 + bytes([0xE0 | 0x10 | draw(st.integers(1, 15))])
        out.append((_pack_attr(_TKA.ERSPAN_OPTS, key), _pack_attr(_TKA.ERSPAN_OPTS, mask)))
    if draw(st.integers(0, 4)) == 0:
        gtpu = 16  # OVS_TUNNEL_KEY_ATTR_GTPU_OPTS in OVS userspace
        key = draw(st.binary(min_size=2, max_size=2))
        mask = bytes([draw(nz8), draw(nz8)])
        out.append((_pack_attr(gtpu, key), _pack_attr(gtpu, mask)))
    return out


@st.composite
def _tunnel(draw: st.DrawFn) -> KeyMaskAttr:
    # tun_key_to_attr order; flags (df, csum, oam) last as the parser emits
    # them; a key flag is only present where the mask has it.
    key: list[bytes] = []
    mask: list[bytes] = []
    key.append(_pack_attr(_TKA.ID, draw(st.binary(min_size=8, max_size=8))))
    mask.append(_pack_attr(_TKA.ID, b"\xff" * 8))
    simple = (
        (_TKA.IPV4_SRC, 4),
        (_TKA.IPV4_DST, 4),
        (_TKA.IPV6_SRC, 16),
        (_TKA.IPV6_DST, 16),
        (_TKA.TOS, 1),
        (_TKA.TTL, 1),
        (_TKA.TP_SRC, 2),
        (_TKA.TP_DST, 2),
    )
    for t, n in simple:
        if draw(st.booleans()):
            key.append(_pack_attr(t, draw(st.binary(min_size=n, max_size=n))))
            mask.append(_pack_attr(t, draw(nonzero_mask(n))))
    # Options, each with masks the compact printer cannot drop (see _tunnel_options).
    for k, m in draw(_tunnel_options()):
        key.append(k)
        mask.append(m)
    mask_flags = draw(st.sets(st.sampled_from([_TKA.DONT_FRAGMENT, _TKA.CSUM, _TKA.OAM])))
    key_flags = draw(st.sets(st.sampled_from(sorted(mask_flags)))) if mask_flags else set()
    for t in (_TKA.DONT_FRAGMENT, _TKA.CSUM, _TKA.OAM):
        if t in key_flags:
            key.append(_pack_attr(t))
    for t in (_TKA.DONT_FRAGMENT, _TKA.CSUM, _TKA.OAM):
        if t in mask_flags:
            mask.append(_pack_attr(t))
    return (_KA.TUNNEL, b"".join(key), b"".join(mask))


@st.composite
def _l3_l4(draw: st.DrawFn) -> list[KeyMaskAttr]:
    out: list[KeyMaskAttr] = []
    kind = draw(st.sampled_from(["ipv4", "ipv6", "arp", "mpls", "other"]))
    if kind == "ipv4":
        out.append((_KA.ETHERTYPE, b"\x08\x00", b"\xff\xff"))
        k, m = draw(fields((4, 4, 1, 1, 1)))
        frag, fmask = draw(_frag())
        out.append((_KA.IPV4, k + bytes([frag]), m + bytes([fmask])))
    elif kind == "ipv6":
        out.append((_KA.ETHERTYPE, b"\x86\xdd", b"\xff\xff"))
        k, m = draw(fields((16, 16)))
        label = draw(st.integers(0, 0xFFFFF))
        lmask = draw(st.sampled_from([0xFFFFF, 0, draw(st.integers(0, 0xFFFFF))]))
        k2, m2 = draw(fields((1, 1, 1)))
        frag, fmask = draw(_frag())
        out.append(
            (
                _KA.IPV6,
                k + label.to_bytes(4, "big") + k2 + bytes([frag]),
                m + lmask.to_bytes(4, "big") + m2 + bytes([fmask]),
            )
        )
    elif kind == "arp":
        out.append((_KA.ETHERTYPE, b"\x08\x06", b"\xff\xff"))
        k, m = draw(fields((4, 4, 2, 6, 6)))
        out.append((_KA.ARP, k + bytes(2), m + bytes(2)))
        return out
    elif kind == "mpls":
        out.append((_KA.ETHERTYPE, b"\x88\x47", b"\xff\xff"))
        n = draw(st.integers(1, 3))
        k = draw(st.binary(min_size=4 * n, max_size=4 * n))
        m = draw(mask_bytes(4 * n))
        out.append((_KA.MPLS, k, m))
        return out
    else:
        et = draw(st.integers(0x0600, 0xFFFF).filter(lambda v: v not in (0x0800, 0x86DD, 0x0806, 0x8847, 0x8100)))
        out.append((_KA.ETHERTYPE, et.to_bytes(2, "big"), draw(mask_bytes(2))))
        return out
    l4 = draw(st.sampled_from(["tcp", "udp", "sctp", "icmp", "none"]))
    if l4 in ("tcp", "udp", "sctp"):
        t = {"tcp": _KA.TCP, "udp": _KA.UDP, "sctp": _KA.SCTP}[l4]
        k, m = draw(fields((2, 2)))
        out.append((t, k, m))
        if l4 == "tcp" and draw(st.booleans()):
            v, fm = draw(flags_value(0x0FFF, 0xFFFF))
            out.append((_KA.TCP_FLAGS, v.to_bytes(2, "big"), fm.to_bytes(2, "big")))
    elif l4 == "icmp":
        t = _KA.ICMP if kind == "ipv4" else _KA.ICMPV6
        k, m = draw(fields((1, 1)))
        out.append((t, k, m))
        if kind == "ipv6" and draw(st.booleans()):
            k, m = draw(fields((16, 6, 6)))
            out.append((_KA.ND, k, m))
    return out


def _vlan_attrs(draw: st.DrawFn, inner: list[KeyMaskAttr]) -> list[KeyMaskAttr]:
    tci = draw(st.integers(0, 0xFFFF))
    # The parser always sets the CFI bit in the mask (vlan() starts from CFI).
    tmask = draw(st.integers(0, 0xFFFF)) | 0x1000
    encap_key = b"".join(_pack_attr(t, k) for t, k, _ in inner)
    encap_mask = b"".join(_pack_attr(t, m) for t, _, m in inner)
    return [
        (_KA.ETHERTYPE, b"\x81\x00", b"\xff\xff"),
        (_KA.VLAN, tci.to_bytes(2, "big"), tmask.to_bytes(2, "big")),
        (_KA.ENCAP, encap_key, encap_mask),
    ]


def _compact(attrs: list[KeyMaskAttr]) -> list[KeyMaskAttr]:
    """The pair as the compact printer + parser leave it (see section comment)."""
    out: list[KeyMaskAttr] = []
    for t, k, m in attrs:
        if t in (_KA.ENCAP, _KA.TUNNEL):
            out.append((t, k, m))
            continue
        if t == _KA.VLAN:
            kv, mv = int.from_bytes(k, "big"), int.from_bytes(m, "big")
            # vid/pcp printed only when key or mask non-zero; cfi only when clear.
            out.append((t, ((kv & mv & 0xEFFF) | (kv & 0x1000)).to_bytes(2, "big"), m))
            continue
        masked = bytes(a & b for a, b in zip(k, m, strict=True))
        if t == _KA.ETHERNET or any(m):
            out.append((t, masked, m))
    return out


@st.composite
def _key_mask_attrs(draw: st.DrawFn, compact: bool) -> list[KeyMaskAttr]:
    attrs = draw(_metadata())
    k, m = draw(fields((6, 6)))
    if compact and not any(m) and draw(st.booleans()):
        m = b"\xff" * 12
    attrs.append((_KA.ETHERNET, k, m))
    inner = draw(_l3_l4())
    if draw(st.integers(0, 4)) == 0:
        attrs += _vlan_attrs(draw, _compact(inner) if compact else inner)
    else:
        attrs += inner
    return _compact(attrs) if compact else attrs


def keys_with_masks(*, compact: bool = False) -> st.SearchStrategy[tuple[bytes, bytes]]:
    """Valid ``(key, mask)`` netlink byte pairs that survive format_key -> parse_flow unchanged.

    With ``compact=True`` the pair is in the form the compact printer
    preserves (key bits outside the mask cleared, wildcarded attributes
    dropped); otherwise it survives the verbose (``-m``) form. A datapath
    refuses most of these pairs (their L3/L4 attributes need not agree);
    use :func:`datapath_keys_with_masks` for puts that should succeed.
    """
    return _key_mask_attrs(compact).map(
        lambda attrs: (
            b"".join(_pack_attr(t, k) for t, k, _ in attrs),
            b"".join(_pack_attr(t, m) for t, _, m in attrs),
        )
    )


def flow_keys() -> st.SearchStrategy[bytes]:
    """Valid netlink flow keys (the key half of :func:`keys_with_masks`)."""
    return keys_with_masks().map(lambda pair: pair[0])


def opaque_key_attrs() -> st.SearchStrategy[bytes]:
    """Keys with unknown attribute types (33..0x3fff) mixed in, for netlink-only round trips."""
    unknown = st.lists(st.integers(33, 0x3FFF), max_size=3, unique=True).flatmap(
        lambda types: st.tuples(*(st.builds(_pack_attr, st.just(t), st.binary(max_size=24)) for t in types))
    )
    return st.tuples(flow_keys(), unknown).map(lambda kv: kv[0] + b"".join(kv[1]))
