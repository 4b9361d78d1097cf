"""Hypothesis strategies shared by the conformance suite and the project's tests.

One module for every strategy, so that the suite that ships and the project's
own tests draw inputs the same way. Each concept has its own headed section;
append new strategies in a new section (and to ``__all__``) rather than
editing someone else's.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from reference.ufid import Ufid

__all__ = [
    "hash_inputs",
    "seeds",
    "ufid_texts",
    "ufid_words",
    "ufids",
    # flow keys and masks
    "flow_keys",
    "keys_with_masks",
    "opaque_key_attrs",
    # packets (frames for inject / upcall-key tests)
    "frames",
    # dpif operations (conformance suite)
    "dpif_batches",
    "dpif_ops",
    # udpif: rule tables for the translation stand-in
    "keys_with_rules",
    # flow keys and masks a datapath accepts
    "datapath_keys_with_masks",
]

# --- bytes, seeds, UFIDs (hash/ufid) ---

_U32 = 0xFFFF_FFFF


def seeds() -> st.SearchStrategy[int]:
    """32-bit MurmurHash3 seeds (OVS's ``basis``), edges favoured."""
    return st.one_of(st.sampled_from([0, 1, 0x7FFF_FFFF, 0x8000_0000, _U32]), st.integers(0, _U32))


def hash_inputs(max_size: int = 300) -> st.SearchStrategy[bytes]:
    """Byte strings for hashing; sizes straddle the 16-byte block boundary often."""
    return st.one_of(
        st.binary(max_size=max_size),
        st.integers(0, 4).flatmap(lambda blocks: st.binary(min_size=max(0, blocks * 16 - 1), max_size=blocks * 16 + 1)),
    )


def ufid_words() -> st.SearchStrategy[tuple[int, int, int, int]]:
    """Four arbitrary 32-bit words, ``u32[0..3]`` of an ``ovs_u128``."""
    w = st.integers(0, _U32)
    return st.tuples(w, w, w, w)


def ufids() -> st.SearchStrategy[Ufid]:
    """Arbitrary 128-bit UFIDs (not only OVS-generated v4 ones)."""
    return ufid_words().map(Ufid.from_words)


def ufid_texts() -> st.SearchStrategy[str]:
    """Valid UFID text in OVS's accepted form, hex digits in mixed case."""

    def _mixed_case(text: str, flips: list[bool]) -> str:
        return "ufid:" + "".join(c.upper() if f else c for c, f in zip(text[5:], flips, strict=False))

    return st.builds(
        _mixed_case,
        ufids().map(str),
        st.lists(st.booleans(), min_size=36, max_size=36),
    )


# --- flow keys and masks (reference.odp.keys / flowtext) ---
#
# Keys are built the way OVS userspace lays them out (metadata, eth, optional
# VLAN + encap, eth_type, L3, L4). Every generated (key, mask) pair is
# "text-safe": format_key() prints it in a form that parse_flow() reads back
# to the same bytes (verbose form always; compact form when compact=True,
# which also applies the mask to the key and drops fully wildcarded
# attributes as the compact printer does). Known OVS text asymmetries are
# avoided: ct_tuple6 (printed as src_port=, parsed as tp_src=), nsh (ttl is
# printed but not parsed), nd_ext, and recirc_id masks (not parseable).

import struct as _struct  # noqa: E402

from reference._netlink import pack_attr as _pack_attr  # noqa: E402
from reference.uapi import KeyAttr as _KA  # noqa: E402
from reference.uapi import TunnelKeyAttr as _TKA  # noqa: E402

_KeyMaskAttr = tuple[int, bytes, bytes]


def _mask_bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b"\xff" * size), st.just(bytes(size)), st.binary(min_size=size, max_size=size))


@st.composite
def _fields(draw: st.DrawFn, sizes: tuple[int, ...]) -> tuple[bytes, bytes]:
    """Key and mask bytes for consecutive fields of the given sizes, each field's mask exact/zero/random."""
    key = b"".join(draw(st.binary(min_size=n, max_size=n)) for n in sizes)
    mask = b"".join(draw(_mask_bytes(n)) for n in sizes)
    return key, mask


@st.composite
def _frag(draw: st.DrawFn) -> tuple[int, int]:
    # format_frag prints nothing for a zero mask and refuses partial masks.
    if draw(st.booleans()):
        return draw(st.integers(0, 2)), 0xFF
    return 0, 0


@st.composite
def _flags_value(draw: st.DrawFn, allowed: int, exact_mask: int) -> tuple[int, int]:
    # ct_state / tcp_flags: exact (prints names) or a partial mask inside
    # 'allowed' with the key inside the mask (+flag/-flag form).
    if draw(st.booleans()):
        return draw(st.integers(0, allowed)), exact_mask
    mask = draw(st.integers(0, allowed).filter(lambda m: m != allowed))
    return draw(st.integers(0, allowed)) & mask, mask


def _u32h(v: int) -> bytes:
    return _struct.pack("=I", v)


@st.composite
def _metadata(draw: st.DrawFn) -> list[_KeyMaskAttr]:
    out: list[_KeyMaskAttr] = []
    u32 = st.integers(0, _U32)
    if draw(st.booleans()):
        out.append((_KA.RECIRC_ID, _u32h(draw(u32)), b"\xff" * 4))
    for t in (_KA.DP_HASH, _KA.PRIORITY):
        if draw(st.booleans()):
            out.append((t, _u32h(draw(u32)), draw(_mask_bytes(4))))
    if draw(st.integers(0, 3)) == 0:
        out.append(draw(_tunnel()))
    if draw(st.booleans()):
        mask = b"\xff" * 4 if draw(st.booleans()) else draw(_mask_bytes(4))
        out.append((_KA.IN_PORT, _u32h(draw(st.integers(0, 0xFFFF))), mask))
    if draw(st.booleans()):
        out.append((_KA.SKB_MARK, _u32h(draw(u32)), draw(_mask_bytes(4))))
    if draw(st.booleans()):
        state, state_mask = draw(_flags_value(0xFF, _U32))
        out.append((_KA.CT_STATE, _u32h(state), _u32h(state_mask)))
    if draw(st.booleans()):
        out.append((_KA.CT_ZONE, _struct.pack("=H", draw(st.integers(0, 0xFFFF))), draw(_mask_bytes(2))))
    if draw(st.booleans()):
        out.append((_KA.CT_MARK, _u32h(draw(u32)), draw(_mask_bytes(4))))
    if draw(st.booleans()):
        out.append((_KA.CT_LABELS, draw(st.binary(min_size=16, max_size=16)), draw(_mask_bytes(16))))
    if draw(st.integers(0, 3)) == 0:
        k, m = draw(_fields((4, 4, 2, 2, 1)))
        out.append((_KA.CT_ORIG_TUPLE_IPV4, k + bytes(3), m + bytes(3)))
    return out


def _nonzero_mask(n: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b"\xff" * n), st.binary(min_size=n, max_size=n).filter(any))


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
            mask += _struct.pack(">HBB", cls_m, type_m, len_m) + draw(_nonzero_mask(4 * words))
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
def _tunnel(draw: st.DrawFn) -> _KeyMaskAttr:
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
            mask.append(_pack_attr(t, draw(_nonzero_mask(n))))
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
def _l3_l4(draw: st.DrawFn) -> list[_KeyMaskAttr]:
    out: list[_KeyMaskAttr] = []
    kind = draw(st.sampled_from(["ipv4", "ipv6", "arp", "mpls", "other"]))
    if kind == "ipv4":
        out.append((_KA.ETHERTYPE, b"\x08\x00", b"\xff\xff"))
        k, m = draw(_fields((4, 4, 1, 1, 1)))
        frag, fmask = draw(_frag())
        out.append((_KA.IPV4, k + bytes([frag]), m + bytes([fmask])))
    elif kind == "ipv6":
        out.append((_KA.ETHERTYPE, b"\x86\xdd", b"\xff\xff"))
        k, m = draw(_fields((16, 16)))
        label = draw(st.integers(0, 0xFFFFF))
        lmask = draw(st.sampled_from([0xFFFFF, 0, draw(st.integers(0, 0xFFFFF))]))
        k2, m2 = draw(_fields((1, 1, 1)))
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
        k, m = draw(_fields((4, 4, 2, 6, 6)))
        out.append((_KA.ARP, k + bytes(2), m + bytes(2)))
        return out
    elif kind == "mpls":
        out.append((_KA.ETHERTYPE, b"\x88\x47", b"\xff\xff"))
        n = draw(st.integers(1, 3))
        k = draw(st.binary(min_size=4 * n, max_size=4 * n))
        m = draw(_mask_bytes(4 * n))
        out.append((_KA.MPLS, k, m))
        return out
    else:
        et = draw(st.integers(0x0600, 0xFFFF).filter(lambda v: v not in (0x0800, 0x86DD, 0x0806, 0x8847, 0x8100)))
        out.append((_KA.ETHERTYPE, et.to_bytes(2, "big"), draw(_mask_bytes(2))))
        return out
    l4 = draw(st.sampled_from(["tcp", "udp", "sctp", "icmp", "none"]))
    if l4 in ("tcp", "udp", "sctp"):
        t = {"tcp": _KA.TCP, "udp": _KA.UDP, "sctp": _KA.SCTP}[l4]
        k, m = draw(_fields((2, 2)))
        out.append((t, k, m))
        if l4 == "tcp" and draw(st.booleans()):
            v, fm = draw(_flags_value(0x0FFF, 0xFFFF))
            out.append((_KA.TCP_FLAGS, v.to_bytes(2, "big"), fm.to_bytes(2, "big")))
    elif l4 == "icmp":
        t = _KA.ICMP if kind == "ipv4" else _KA.ICMPV6
        k, m = draw(_fields((1, 1)))
        out.append((t, k, m))
        if kind == "ipv6" and draw(st.booleans()):
            k, m = draw(_fields((16, 6, 6)))
            out.append((_KA.ND, k, m))
    return out


def _vlan_attrs(draw: st.DrawFn, inner: list[_KeyMaskAttr]) -> list[_KeyMaskAttr]:
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


def _compact(attrs: list[_KeyMaskAttr]) -> list[_KeyMaskAttr]:
    """The pair as the compact printer + parser leave it (see section comment)."""
    out: list[_KeyMaskAttr] = []
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
def _key_mask_attrs(draw: st.DrawFn, compact: bool) -> list[_KeyMaskAttr]:
    attrs = draw(_metadata())
    k, m = draw(_fields((6, 6)))
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


# --- packets (reference/odp/extract: frames for inject / upcall tests) ---
#
# Frames are built with scapy (an independent packet library) and returned as
# bytes. Every frame drawn here reaches a kernel datapath port on both the
# internal-port and the veth path and yields an upcall key that
# reference.odp.extract_key predicts byte for byte: at least 14 bytes, no
# truncated VLAN tag, no IPv6 header cut below 40 bytes, no ND message with a
# non-zero code, no NSH header that parse_nsh() rejects (see
# docs/key-extraction.md for why those are excluded).


def _macs() -> st.SearchStrategy[str]:
    return st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


def _ipv4s() -> st.SearchStrategy[str]:
    return st.integers(0, _U32).map(lambda n: ".".join(str((n >> s) & 0xFF) for s in (24, 16, 8, 0)))


def _ipv6s() -> st.SearchStrategy[str]:
    import ipaddress

    return st.integers(0, (1 << 128) - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


def _ports() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([0, 1, 53, 80, 443, 0xFFFF]), st.integers(0, 0xFFFF))


def _l4(v6: bool) -> st.SearchStrategy[Any]:
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import (
        ICMPv6EchoRequest,
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        ICMPv6NDOptDstLLAddr,
        ICMPv6NDOptSrcLLAddr,
    )
    from scapy.layers.sctp import SCTP

    tcp = st.builds(
        lambda s, d, fl, res: TCP(sport=s, dport=d, flags=fl, reserved=res),
        _ports(),
        _ports(),
        st.integers(0, 0x1FF),
        st.integers(0, 7),
    )
    udp = st.builds(lambda s, d: UDP(sport=s, dport=d), _ports(), _ports())
    sctp = st.builds(lambda s, d: SCTP(sport=s, dport=d), _ports(), _ports())
    raw = st.binary(max_size=16)
    if not v6:
        icmp = st.builds(lambda t, c: ICMP(type=t, code=c), st.integers(0, 255), st.integers(0, 255))
        return st.one_of(tcp, udp, sctp, icmp, raw)

    def nd(kind: int, tgt: str, opts: list[tuple[int, str]]) -> Any:
        msg = ICMPv6ND_NS(tgt=tgt) if kind == 0 else ICMPv6ND_NA(tgt=tgt)
        for which, mac in opts:
            msg = msg / (ICMPv6NDOptSrcLLAddr(lladdr=mac) if which == 0 else ICMPv6NDOptDstLLAddr(lladdr=mac))
        return msg

    nds = st.builds(nd, st.integers(0, 1), _ipv6s(), st.lists(st.tuples(st.integers(0, 1), _macs()), max_size=3))
    echo = st.builds(lambda i: ICMPv6EchoRequest(id=i), st.integers(0, 0xFFFF))
    return st.one_of(tcp, udp, sctp, nds, echo, raw)


def _ipv4_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.inet import IP, IPOption_NOP, IPOption_RR

    def build(*, src: str, dst: str, tos: int, ttl: int, frag: int, mf: bool, opts: int, l4: Any) -> Any:
        options = [IPOption_RR(routers=["1.2.3.4"])] * (opts & 1) + [IPOption_NOP()] * (opts >> 1)
        return IP(src=src, dst=dst, tos=tos, ttl=ttl, frag=frag, flags="MF" if mf else 0, options=options) / l4

    frag = st.one_of(st.just(0), st.integers(1, 0x1FFF))
    return st.builds(
        build,
        src=_ipv4s(),
        dst=_ipv4s(),
        tos=st.integers(0, 255),
        ttl=st.integers(0, 255),
        frag=frag,
        mf=st.booleans(),
        opts=st.integers(0, 7),
        l4=_l4(False),
    )


def _ipv6_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.inet6 import (
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )

    def ext(kind: int, off: int, m: bool) -> Any:
        if kind == 0:
            return IPv6ExtHdrHopByHop()
        if kind == 1:
            return IPv6ExtHdrDestOpt()
        if kind == 2:
            return IPv6ExtHdrRouting()
        return IPv6ExtHdrFragment(offset=off, m=int(m))

    exts = st.lists(
        st.builds(ext, st.integers(0, 3), st.one_of(st.just(0), st.integers(1, 0x1FFF)), st.booleans()), max_size=3
    )

    def build(*, src: str, dst: str, tc: int, fl: int, hlim: int, chain: list[Any], l4: Any) -> Any:
        pkt = IPv6(src=src, dst=dst, tc=tc, fl=fl, hlim=hlim)
        for e in chain:
            pkt = pkt / e
        return pkt / l4

    return st.builds(
        build,
        src=_ipv6s(),
        dst=_ipv6s(),
        tc=st.integers(0, 255),
        fl=st.integers(0, 0xFFFFF),
        hlim=st.integers(0, 255),
        chain=exts,
        l4=_l4(True),
    )


def _arp_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.l2 import ARP

    def build(*, op: int, hw: str, ps: str, pd: str, hd: str, bad: bool) -> Any:
        # hwlen 8 is a malformed ARP for the kernel (it keys only Ethernet/IPv4 ARP).
        return ARP(op=op, hwsrc=hw, psrc=ps, pdst=pd, hwdst=hd, hwlen=8 if bad else 6)

    return st.builds(
        build,
        op=st.one_of(st.sampled_from([1, 2, 3, 4]), st.integers(0, 0xFFFF)),
        hw=_macs(),
        ps=_ipv4s(),
        pd=_ipv4s(),
        hd=_macs(),
        bad=st.booleans(),
    )


def _mpls_packets() -> st.SearchStrategy[Any]:
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import IP

    def build(labels: list[tuple[int, int, int]]) -> Any:
        pkt: Any = None
        for i, (label, cos, ttl) in enumerate(labels):
            lse = MPLS(label=label, cos=cos, ttl=ttl, s=int(i == len(labels) - 1))
            pkt = lse if pkt is None else pkt / lse
        return pkt / IP()

    lse = st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), st.integers(0, 255))
    return st.builds(build, st.lists(lse, min_size=1, max_size=5))


def frames(*, truncate: bool = True) -> st.SearchStrategy[bytes]:
    """Ethernet frames of many kinds, as bytes, for ``inject`` and upcall-key tests.

    Ethernet II, 802.1Q and QinQ (0x88a8 outer), 802.3 with LLC and with
    LLC/SNAP, IPv4 (options, first/later fragments) with TCP/UDP/SCTP/ICMP,
    IPv6 with hop-by-hop/destination/routing/fragment headers, TCP/UDP/SCTP,
    ICMPv6 echo and ND with SLL/TLL options, ARP/RARP (also malformed), MPLS
    stacks of 1-5 labels, unknown ethertypes. With ``truncate`` some frames
    are cut short past their layer-2 header (never inside an IPv6 header).
    Compare the upcall key of each with ``reference.odp.extract_key(frame, port)``.
    """
    from scapy.layers.l2 import LLC, SNAP, Dot1AD, Dot1Q, Dot3, Ether
    from scapy.packet import Raw

    l3 = st.one_of(
        _ipv4_packets().map(lambda p: (0x0800, p)),
        _ipv6_packets().map(lambda p: (0x86DD, p)),
        _arp_packets().map(lambda p: (0x0806, p)),
        _arp_packets().map(lambda p: (0x8035, p)),
        _mpls_packets().map(lambda p: (0x8847, p)),
        _mpls_packets().map(lambda p: (0x8848, p)),
        st.tuples(st.integers(0x0600, 0xFFFF).filter(lambda t: t not in _KNOWN_TYPES), st.binary(max_size=40)).map(
            lambda tp: (tp[0], Raw(tp[1]))
        ),
    )

    def build(
        *, src: str, dst: str, l2: int, tags: list[tuple[int, int, int]], inner: tuple[int, Any], cut: int
    ) -> bytes:
        eth_type, payload = inner
        frame: Any
        if l2 == 1:  # 802.3 + LLC/SNAP with a zero OUI carries an Ethernet II type
            frame = Dot3(src=src, dst=dst) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=eth_type) / payload
            head = 14 + 8
        elif l2 == 2:  # plain 802.2 LLC
            frame = Dot3(src=src, dst=dst) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(bytes(payload))
            head = 14 + 3
        else:
            frame = Ether(src=src, dst=dst)
            head = 14
            for i, (prio, dei, vid) in enumerate(tags):
                outer_ad = l2 == 3 and i == 0 and len(tags) == 2
                tag = (Dot1AD if outer_ad else Dot1Q)(prio=prio, dei=dei, vlan=vid)
                frame = frame / tag
                head += 4
            frame = frame / payload
            frame.getlayer(len(tags)).type = eth_type  # the last L2 header names the payload
        data = bytes(frame)
        if tags and l2 in (0, 3) and len(data) < 20:
            # The veth/NIC receive path (skb_vlan_untag) drops a tagged frame
            # with fewer than 6 bytes after the Ethernet header.
            data += bytes(20 - len(data))
        if not truncate or cut == 0:
            return data
        floor = head + (40 if eth_type == 0x86DD and l2 != 2 else 0)
        if tags and l2 in (0, 3):
            # The veth/NIC receive path (skb_vlan_untag) drops a tagged frame
            # with fewer than 6 bytes after the Ethernet header.
            floor = max(floor, 20)
        return data[: max(floor, len(data) - cut)]

    tags = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1), st.integers(0, 4095)), max_size=2)
    cut = st.one_of(st.just(0), st.just(0), st.integers(1, 40))
    return st.builds(
        build, src=_macs(), dst=_macs(), l2=st.sampled_from([0, 0, 0, 1, 2, 3]), tags=tags, inner=l3, cut=cut
    )


_KNOWN_TYPES = frozenset({0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x8100, 0x88A8, 0x894F})


# --- actions (reference.odp.actions) ---
#
# Netlink action lists (OVS_ACTION_ATTR_*) that validate_actions() accepts
# and that format_actions() prints in a form parse_actions() reads back to the
# same bytes ("canonical"). Forms OVS itself cannot round-trip are avoided:
# USERSPACE without USERDATA (the parser adds a 48-byte zero cookie), cookies
# whose unused bytes are non-zero, tnl_push headers with fields the parser zeroes
# (IPv4 id/length, IPv6 payload length, UDP length), CT/NAT attributes the parser never emits
# (zone 0, mark/label masks of 0, NAT flags without an address), DROP inside a
# list or with a non-zero reason, sample probabilities that no percentage with
# one decimal maps to, PSAMPLE (cookie printed without leading zeros), and
# set(nsh(...)) (not implemented). set()/set_masked() carry one key
# attribute of a type whose text form is unambiguous.

import socket as _socket  # noqa: E402

from reference._netlink import iter_attrs as _iter_attrs  # noqa: E402
from reference.uapi import ActionAttr as _AA  # noqa: E402
from reference.uapi import CheckPktLenAttr as _CPL  # noqa: E402
from reference.uapi import CtAttr as _CT  # noqa: E402
from reference.uapi import DecTtlAttr as _DTL  # noqa: E402
from reference.uapi import NatAttr as _NAT  # noqa: E402
from reference.uapi import SampleAttr as _SMP  # noqa: E402
from reference.uapi import UserspaceAttr as _USR  # noqa: E402

__all__ += ["actions", "action_lists"]

# Not IPV6: its text carries the 20-bit label, which parses back with mask 0xfffff, i.e. as set_masked.
_SETTABLE = (_KA.PRIORITY, _KA.SKB_MARK, _KA.ETHERNET, _KA.IPV4, _KA.TCP, _KA.UDP, _KA.SCTP)
_MASKABLE = (_KA.ETHERNET, _KA.IPV4, _KA.IPV6, _KA.TCP, _KA.UDP, _KA.SCTP)


def _act_u32(attr: int) -> st.SearchStrategy[bytes]:
    return st.integers(0, _U32).map(lambda v: _pack_attr(attr, _u32h(v)))


@st.composite
def _act_push_vlan(draw: st.DrawFn) -> bytes:
    tpid = draw(st.sampled_from([0x8100, 0x88A8]))
    tci = draw(st.integers(0, 4095)) | draw(st.integers(0, 7)) << 13 | 0x1000  # CFI/present bit required
    return _pack_attr(_AA.PUSH_VLAN, _struct.pack("!HH", tpid, tci))


@st.composite
def _act_mpls(draw: st.DrawFn, attr: int) -> bytes:
    lse = draw(st.integers(0, 0xFFFFF)) << 12 | draw(st.integers(0, 7)) << 9
    lse |= draw(st.integers(0, 1)) << 8 | draw(st.integers(0, 255))
    return _pack_attr(attr, _struct.pack("!IH2x", lse, draw(st.integers(0, 0xFFFF))))


@st.composite
def _act_nat(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([None, _NAT.SRC, _NAT.DST]))
    if kind is None:
        return _pack_attr(_CT.NAT)
    attrs = [_pack_attr(kind)]
    if draw(st.booleans()):
        size = draw(st.sampled_from([4, 16]))
        lo = draw(st.binary(min_size=size, max_size=size))
        attrs.append(_pack_attr(_NAT.IP_MIN, lo))
        hi = draw(st.binary(min_size=size, max_size=size))
        if hi > lo and draw(st.booleans()):
            attrs.append(_pack_attr(_NAT.IP_MAX, hi))
        if draw(st.booleans()):
            pmin = draw(st.integers(1, 0xFFFF))
            attrs.append(_pack_attr(_NAT.PROTO_MIN, _struct.pack("=H", pmin)))
            if pmin < 0xFFFF and draw(st.booleans()):
                attrs.append(_pack_attr(_NAT.PROTO_MAX, _struct.pack("=H", draw(st.integers(pmin + 1, 0xFFFF)))))
        if draw(st.booleans()):
            attrs.append(_pack_attr(_NAT.PERSISTENT))
        proto = draw(st.sampled_from([None, _NAT.PROTO_HASH, _NAT.PROTO_RANDOM]))
        if proto is not None:
            attrs.append(_pack_attr(proto))
    return _pack_attr(_CT.NAT, b"".join(attrs))


_CT_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=15)


@st.composite
def _act_ct(draw: st.DrawFn) -> bytes:
    attrs: list[bytes] = []
    commit = draw(st.sampled_from([None, _CT.COMMIT, _CT.FORCE_COMMIT]))
    if commit is not None:
        attrs.append(_pack_attr(commit))
    if draw(st.booleans()):
        attrs.append(_pack_attr(_CT.ZONE, _struct.pack("=H", draw(st.integers(1, 0xFFFF)))))
    if draw(st.booleans()):
        attrs.append(_pack_attr(_CT.MARK, _struct.pack("=II", draw(st.integers(0, _U32)), draw(st.integers(1, _U32)))))
    if draw(st.booleans()):
        value = draw(st.integers(0, (1 << 128) - 1))
        mask = draw(st.one_of(st.just((1 << 128) - 1), st.integers(1, (1 << 128) - 1)))
        attrs.append(_pack_attr(_CT.LABELS, value.to_bytes(16, "little") + mask.to_bytes(16, "little")))
    if draw(st.booleans()):
        attrs.append(_pack_attr(_CT.HELPER, draw(_CT_NAMES).encode() + b"\0"))
    if draw(st.booleans()):
        attrs.append(_pack_attr(_CT.TIMEOUT, draw(_CT_NAMES).encode() + b"\0"))
    if draw(st.booleans()):
        attrs.append(draw(_act_nat()))
    return _pack_attr(_AA.CT, b"".join(attrs))


def _cookie(kind: int, union: bytes) -> bytes:
    # struct user_action_cookie as the parser fills it: ofp_in_port OFPP_NONE, zero UUID.
    return (_struct.pack("=H2xI", kind, 0xFFFF) + bytes(16) + union).ljust(48, b"\0")


def _userdata() -> st.SearchStrategy[bytes]:
    u32, u16 = st.integers(0, _U32), st.integers(0, 0xFFFF)

    def sflow(vid: int, pcp: int, out: int) -> bytes:
        tci = vid | pcp << 13
        return _cookie(1, _struct.pack("!H", tci | (0x1000 if tci else 0)) + b"\0\0" + _u32h(out))

    def controller(flags: tuple[int, int], reason: int, recirc: int, cookie: int, tail: tuple[int, int]) -> bytes:
        union = _struct.pack("=BBHI", *flags, reason, recirc) + cookie.to_bytes(8, "big")
        cid, max_len = tail
        return _cookie(5, union + _struct.pack("=HH", cid, max_len))

    raw = st.binary(min_size=8, max_size=64).filter(
        lambda b: len(b) != 48 or not 1 <= int.from_bytes(b[:2], "little") <= 5
    )
    return st.one_of(
        raw,
        st.builds(sflow, st.integers(0, 4095), st.integers(0, 7), u32),
        st.integers(0, 0x7F).map(lambda r: _cookie(2, _struct.pack("=4xI", r))),
        st.builds(
            lambda p, a, b, c, d, e: _cookie(3, _struct.pack("=H2xIIIII", p, a, b, c, d, e)),
            u16,
            u32,
            u32,
            u32,
            u32,
            st.integers(0, 2),
        ),
        u32.map(lambda port: _cookie(4, _u32h(port))),
        st.builds(
            controller,
            st.tuples(st.integers(0, 1), st.integers(0, 1)),
            u16,
            u32,
            st.integers(0, 2**64 - 1),
            st.tuples(u16, u16),
        ),
    )


@st.composite
def _act_userspace(draw: st.DrawFn) -> bytes:
    attrs = [_pack_attr(_USR.PID, _u32h(draw(st.integers(0, _U32)))), _pack_attr(_USR.USERDATA, draw(_userdata()))]
    if draw(st.booleans()):
        attrs.append(_pack_attr(_USR.EGRESS_TUN_PORT, _u32h(draw(st.integers(0, _U32 - 1)))))
    if draw(st.booleans()):
        attrs.append(_pack_attr(_USR.ACTIONS))
    return _pack_attr(_AA.USERSPACE, b"".join(attrs))


@st.composite
def _act_set(draw: st.DrawFn, masked: bool) -> bytes:
    key, mask = draw(keys_with_masks(compact=masked))
    wanted = _MASKABLE if masked else _SETTABLE
    candidates = [
        (t, k, m)
        for (t, k, _), (_, m, _) in zip(_iter_attrs(key), _iter_attrs(mask), strict=True)
        if t in wanted and (not masked or (any(m) and m != b"\xff" * len(m)))
    ]
    if not candidates:
        return _pack_attr(_AA.SET, _pack_attr(_KA.SKB_MARK, _u32h(draw(st.integers(0, _U32)))))
    attr_type, k, m = draw(st.sampled_from(candidates))
    if masked:
        return _pack_attr(_AA.SET_MASKED, _pack_attr(attr_type, k + m))
    return _pack_attr(_AA.SET, _pack_attr(attr_type, k))


@st.composite
def _act_tnl_push(draw: st.DrawFn) -> bytes:
    """struct ovs_action_push_tnl with a header built by scapy (IP/IPv6) and by hand (tunnel headers)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, _U32)
    v6 = draw(st.booleans())
    kind = draw(st.sampled_from(["vxlan", "geneve", "gre", "gtpu", "erspan1", "erspan2"]))
    udp_proto = kind in ("vxlan", "geneve", "gtpu")
    proto = 17 if udp_proto else 47
    eth = draw(st.binary(min_size=12, max_size=12))
    if v6:
        ips = st.binary(min_size=16, max_size=16).map(lambda b: _socket.inet_ntop(_socket.AF_INET6, b))
        ip6 = IPv6(src=draw(ips), dst=draw(ips), tc=draw(u8), fl=draw(st.integers(0, 0xFFFFF)), nh=proto)
        ip6.hlim, ip6.plen = draw(u8), 0
        header = eth + b"\x86\xdd" + bytes(ip6)
    else:
        ips = st.binary(min_size=4, max_size=4).map(_socket.inet_ntoa)
        frag = draw(u16)
        ip4 = IP(src=draw(ips), dst=draw(ips), proto=proto, tos=draw(u8), ttl=draw(u8), id=0, len=0)
        ip4.flags, ip4.frag = frag >> 13, frag & 0x1FFF
        header = eth + b"\x08\x00" + bytes(ip4)
    if udp_proto:
        header += _struct.pack("!HHHH", draw(u16), draw(u16), 0, draw(u16))
    if kind == "vxlan":
        header += _struct.pack("!II", draw(u32), draw(st.integers(0, 0xFFFFFF)) << 8)
        tnl_type = 4
    elif kind == "geneve":
        opts = b""
        for length in draw(st.lists(st.sampled_from([0, 4, 8]), max_size=3)):
            opts += _struct.pack("!HBB", draw(u16), draw(u8), length // 4) + draw(
                st.binary(min_size=length, max_size=length)
            )
        flags = draw(st.sampled_from([0, 0x40, 0x80, 0xC0]))
        header += _struct.pack("!BBHI", len(opts) // 4, flags, 0x6558, draw(st.integers(0, 0xFFFFFF)) << 8) + opts
        tnl_type = 5
    elif kind == "gre":
        flags = draw(st.sampled_from([0, 0x8000, 0x2000, 0x1000, 0xA000, 0xB000, 0x3000]))
        header += _struct.pack("!HH", flags, draw(u16))
        if flags & 0x8000:
            header += draw(u16).to_bytes(2, "big") + b"\0\0"
        for bit in (0x2000, 0x1000):
            if flags & bit:
                header += draw(u32).to_bytes(4, "big")
        tnl_type = 109 if v6 else 3
    elif kind == "gtpu":
        header += _struct.pack("!BBHI", draw(u8), draw(u8), 0, draw(u32))
        tnl_type = 110
    else:
        ver = 1 if kind == "erspan1" else 2
        sid = draw(st.integers(0, 0x3FF))
        header += _struct.pack("!HH", 0x1000, 0x88BE if ver == 1 else 0x22EB) + bytes(4)
        header += bytes([ver << 4, 0, sid >> 8, sid & 0xFF])
        if ver == 1:
            header += draw(u32).to_bytes(4, "big")
        else:
            hwid, direction = draw(st.integers(0, 63)), draw(st.integers(0, 1))
            header += bytes(6) + bytes([hwid >> 4, (hwid & 0xF) << 4 | direction << 3])
        tnl_type = 108 if v6 else 107
    head = _struct.pack("=IIII", draw(u32), draw(u32), len(header), tnl_type)
    return _pack_attr(_AA.TUNNEL_PUSH, head + header)


@st.composite
def _act_push_nsh(draw: st.DrawFn) -> bytes:
    # Canonical: 2 flag bits, 6 TTL bits, MD type 1 with its context, or MD type 2 with metadata whose
    # first byte is >= 0x10 (OVS prints the first byte without a leading zero and parses whole pairs).
    from reference.uapi import NshKeyAttr as _NSH

    mdtype = draw(st.sampled_from([1, 2]))
    base = _struct.pack(
        "!BBBBI",
        draw(st.integers(0, 3)),
        draw(st.integers(0, 63)),
        mdtype,
        draw(st.integers(0, 255)),
        draw(st.integers(0, _U32)),
    )
    attrs = _pack_attr(_NSH.BASE, base)
    if mdtype == 1:
        attrs += _pack_attr(_NSH.MD1, draw(st.binary(min_size=16, max_size=16)))
    else:
        words = draw(st.integers(1, 50))  # OVS's parser limits the text before the end of md2 to 489 characters
        first = draw(st.integers(0x10, 0xFF))
        attrs += _pack_attr(_NSH.MD2, bytes([first]) + draw(st.binary(min_size=4 * words - 1, max_size=4 * words - 1)))
    return _pack_attr(_AA.PUSH_NSH, _pack_attr(_KA.NSH, attrs))


def _leaf_actions() -> st.SearchStrategy[bytes]:
    fixed = [_AA.OUTPUT, _AA.RECIRC, _AA.TRUNC, _AA.METER, _AA.TUNNEL_POP, _AA.LB_OUTPUT]
    empty = [_AA.POP_VLAN, _AA.CT_CLEAR, _AA.POP_ETH, _AA.POP_NSH]
    return st.one_of(
        *(_act_u32(a) for a in fixed),
        st.sampled_from([_pack_attr(a) for a in empty]),
        _act_push_vlan(),
        st.builds(
            lambda alg, basis: _pack_attr(_AA.HASH, _struct.pack("=II", alg, basis)),
            st.integers(0, 1),
            st.integers(0, _U32),
        ),
        _act_mpls(_AA.PUSH_MPLS),
        _act_mpls(_AA.ADD_MPLS),
        st.integers(0, 0xFFFF).map(lambda t: _pack_attr(_AA.POP_MPLS, _struct.pack("!H", t))),
        st.binary(min_size=12, max_size=12).map(lambda b: _pack_attr(_AA.PUSH_ETH, b)),
        _act_ct(),
        _act_userspace(),
        _act_set(False),
        _act_set(True),
        _act_tnl_push(),
        _act_push_nsh(),
        _empty_nested(),
    )


def _sample_probability(tenths: int) -> int:
    # parse_odp_action__(): floor(UINT32_MAX * pct / 100 + .5), so only these print back exactly.
    import math

    return min(max(math.floor(_U32 * (tenths / 10 / 100.0) + 0.5), 0), _U32)


def _sample(tenths: int, acts: bytes) -> bytes:
    probability = _pack_attr(_SMP.PROBABILITY, _u32h(_sample_probability(tenths)))
    return _pack_attr(_AA.SAMPLE, probability + _pack_attr(_SMP.ACTIONS, acts))


def _check_pkt_len(size: int, gt: bytes, le: bytes) -> bytes:
    body = _pack_attr(_CPL.PKT_LEN, _struct.pack("=H", size))
    body += _pack_attr(_CPL.ACTIONS_IF_GREATER, gt) + _pack_attr(_CPL.ACTIONS_IF_LESS_EQUAL, le)
    return _pack_attr(_AA.CHECK_PKT_LEN, body)


def _empty_nested() -> st.SearchStrategy[bytes]:
    """Nested actions with empty lists (printed as "drop" inside), as leaves of the recursion."""
    return st.one_of(
        st.integers(0, 1000).map(lambda t: _sample(t, b"")),
        st.just(_pack_attr(_AA.CLONE)),
        st.integers(0, 0xFFFF).map(lambda size: _check_pkt_len(size, b"", b"")),
        st.just(_pack_attr(_AA.DEC_TTL, _pack_attr(_DTL.ACTION))),
    )


def _nest(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    # Every branch needs at least one child (empty lists come from _empty_nested), so that
    # hypothesis sees the recursion use its argument.
    some = st.lists(children, min_size=1, max_size=3).map(b"".join)
    any_ = st.lists(children, max_size=3).map(b"".join)
    sizes = st.integers(0, 0xFFFF)
    return st.one_of(
        st.builds(_sample, st.integers(0, 1000), some),
        some.map(lambda acts: _pack_attr(_AA.CLONE, acts)),
        st.builds(_check_pkt_len, sizes, some, any_),
        st.builds(_check_pkt_len, sizes, any_, some),
        some.map(lambda acts: _pack_attr(_AA.DEC_TTL, _pack_attr(_DTL.ACTION, acts))),
    )


def action_lists(*, max_leaves: int = 10) -> st.SearchStrategy[bytes]:
    """Non-empty canonical action lists (no explicit DROP), nested actions included."""
    single = st.recursive(_leaf_actions(), _nest, max_leaves=max_leaves)
    return st.lists(single, min_size=1, max_size=4).map(b"".join)


def actions() -> st.SearchStrategy[bytes]:
    """Canonical netlink action lists: :func:`action_lists` or the explicit ``drop`` (DROP, reason 0)."""
    return st.one_of(st.just(_pack_attr(_AA.DROP, _u32h(0))), action_lists())


# --- dpif operations (conformance suite: batched operate, small pools so operations collide) ---


def dpif_ops(*, ufid: bool = True) -> st.SearchStrategy[Any]:
    """Put, get and del operations over 3 keys, 2 masks and 3 UFIDs (``ufid=False``: no UFIDs)."""
    from conformance.suite._flows import eth_key, eth_mask, output, ufid_n
    from reference.dpif import DelOp, GetOp, PutFlags, PutOp

    keys = st.integers(1, 3).map(lambda n: eth_key(1, src=n))
    masks = st.sampled_from([eth_mask(), eth_mask(dst=False)])
    ufids_ = st.one_of(st.none(), st.integers(1, 3).map(ufid_n)) if ufid else st.none()
    flags = st.sampled_from(
        [PutFlags.CREATE, PutFlags.MODIFY, PutFlags.CREATE | PutFlags.MODIFY, PutFlags.MODIFY | PutFlags.ZERO_STATS]
    )
    puts = st.builds(PutOp, keys, masks, st.sampled_from([2, 3]).map(output), ufid=ufids_, flags=flags)
    dels = st.builds(DelOp, ufid=ufids_, key=keys)
    gets = st.builds(GetOp, ufid=ufids_, key=keys)
    return st.one_of(puts, puts, dels, gets)


def dpif_batches(*, ufid: bool = True, max_size: int = 12) -> st.SearchStrategy[list[Any]]:
    """Lists of :func:`dpif_ops` for ``Dpif.operate``."""
    return st.lists(dpif_ops(ufid=ufid), min_size=1, max_size=max_size)


# --- udpif: rule tables for the translation stand-in (reference.udpif.xlate) ---


@st.composite
def _key_with_rules(draw: st.DrawFn, max_rules: int) -> tuple[bytes, list[tuple[int, list[Any]]]]:
    from reference._netlink import iter_attrs
    from reference.uapi import KeyAttr
    from reference.udpif.xlate import FieldMatch

    nested = {int(KeyAttr.ENCAP), int(KeyAttr.TUNNEL), int(KeyAttr.NSH)}
    key = draw(flow_keys())
    flat = [(t, p) for t, p, _ in iter_attrs(key) if t not in nested and p]
    if not flat:
        return key, []
    rules: list[tuple[int, list[Any]]] = []
    for _ in range(draw(st.integers(1, max_rules))):
        fields = []
        for t, p in draw(st.lists(st.sampled_from(flat), min_size=1, max_size=3)):
            n = len(p)
            mask = draw(st.binary(min_size=n, max_size=n))
            value = p if draw(st.booleans()) else draw(st.binary(min_size=n, max_size=n))
            fields.append(FieldMatch(t, value, mask))
        rules.append((draw(st.integers(0, 3)), fields))
    return key, rules


def keys_with_rules(max_rules: int = 6) -> st.SearchStrategy[tuple[bytes, list[tuple[int, list[Any]]]]]:
    """A flow key and rule specs ``(priority, [FieldMatch, ...])`` for :class:`reference.udpif.RuleTable`.

    Rules look at the key's top-level attributes, with values copied from the
    key (likely to match) or random, under random masks; the list is empty
    when the key has no flat attribute to match on.
    """
    return _key_with_rules(max_rules)


# --- flow keys and masks a datapath accepts (reference.datapath / conformance suite puts) ---
#
# keys_with_masks() is built for text round trips: its L3/L4 attributes do not
# agree with each other (random IP protocol next to tcp(), VLAN TCIs without
# the CFI bit, ct_state masks of 0xffffffff...), so a real datapath refuses
# most of them (flow_netlink.c match_validate, dpif-netdev's perfect-fitness
# rule). These pairs are consistent: the Ethertype matches the L3 attribute,
# the IP protocol matches the L4 attribute, TCP carries tcp_flags, ND comes
# with ICMPv6 types 135/136, MPLS stacks end with BOS, masks match the
# Ethertype and the IP protocol exactly where L3/L4 attributes are masked, and
# in_port is (almost always) exact. No tunnel: the reference does not model
# the kernel's tunnel-key checks (ip_tun_from_nlattr).

_DP_SPECIAL_ETHERTYPES = frozenset({0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x8100, 0x88A8, 0x894F})


@st.composite
def _dp_metadata(draw: st.DrawFn) -> list[_KeyMaskAttr]:
    out: list[_KeyMaskAttr] = []
    u32 = st.integers(0, _U32)
    if draw(st.booleans()):
        out.append((_KA.RECIRC_ID, _u32h(draw(u32)), b"\xff" * 4))
    for t in (_KA.DP_HASH, _KA.PRIORITY):
        if draw(st.booleans()):
            out.append((t, _u32h(draw(u32)), draw(_mask_bytes(4))))
    # DP_MAX_PORTS (65535) and above are EINVAL; dpif-netdev needs an exact in_port.
    port_mask = b"\xff" * 4 if draw(st.integers(0, 9)) else draw(_mask_bytes(4))
    out.append((_KA.IN_PORT, _u32h(draw(st.integers(0, 0xFFFE))), port_mask))
    if draw(st.booleans()):
        out.append((_KA.SKB_MARK, _u32h(draw(u32)), draw(_mask_bytes(4))))
    if draw(st.booleans()):
        # CT_SUPPORTED_MASK (0xff) bounds the key and the mask alike.
        state, state_mask = draw(_flags_value(0xFF, 0xFF))
        out.append((_KA.CT_STATE, _u32h(state), _u32h(state_mask)))
    if draw(st.booleans()):
        out.append((_KA.CT_ZONE, _struct.pack("=H", draw(st.integers(0, 0xFFFF))), draw(_mask_bytes(2))))
    if draw(st.booleans()):
        out.append((_KA.CT_MARK, _u32h(draw(u32)), draw(_mask_bytes(4))))
    if draw(st.booleans()):
        out.append((_KA.CT_LABELS, draw(st.binary(min_size=16, max_size=16)), draw(_mask_bytes(16))))
    return out


@st.composite
def _dp_l4(draw: st.DrawFn, v6: bool) -> tuple[int, list[_KeyMaskAttr]]:
    """(IP protocol, L4 attributes) for an IPv4 or IPv6 key."""
    l4 = draw(st.sampled_from(["tcp", "tcp", "udp", "sctp", "icmp", "none"]))
    if l4 in ("tcp", "udp", "sctp"):
        proto, t = {"tcp": (6, _KA.TCP), "udp": (17, _KA.UDP), "sctp": (132, _KA.SCTP)}[l4]
        k, m = draw(_fields((2, 2)))
        out: list[_KeyMaskAttr] = [(t, k, m)]
        if l4 == "tcp":
            v, fm = draw(_flags_value(0x0FFF, 0xFFFF))
            out.append((_KA.TCP_FLAGS, v.to_bytes(2, "big"), fm.to_bytes(2, "big")))
        return proto, out
    if l4 == "icmp" and not v6:
        k, m = draw(_fields((1, 1)))
        return 1, [(_KA.ICMP, k, m)]
    if l4 == "icmp":
        icmp_type = draw(st.sampled_from([135, 136, 128, 129, draw(st.integers(0, 255))]))
        code = draw(st.sampled_from([0, 0, 0, 1]))
        k = bytes([icmp_type, code])
        if icmp_type in (135, 136):
            # ND is required for these types; masking it needs an exact ICMPv6 type.
            nk, nm = draw(_fields((16, 6, 6)))
            return 58, [(_KA.ICMPV6, k, b"\xff" + draw(_mask_bytes(1))), (_KA.ND, nk, nm)]
        return 58, [(_KA.ICMPV6, k, draw(_mask_bytes(2)))]
    proto = draw(st.integers(0, 255).filter(lambda p: p not in (1, 6, 17, 58, 132)))
    return proto, []


@st.composite
def _dp_l3_l4(draw: st.DrawFn) -> list[_KeyMaskAttr]:
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "ipv6", "arp", "mpls", "other"]))
    if kind in ("ipv4", "ipv6"):
        v6 = kind == "ipv6"
        proto, l4 = draw(_dp_l4(v6))
        frag = draw(st.sampled_from([0, 0, 1, 2])) if not l4 else draw(st.sampled_from([0, 0, 1]))
        fmask = draw(st.sampled_from([0xFF, 0]))
        pmask = 0xFF if l4 else draw(_mask_bytes(1))[0]
        addrs, amask = draw(_fields((16, 16) if v6 else (4, 4)))
        tos_ttl, tmask = draw(_fields((1, 1)))
        if v6:
            label = draw(st.integers(0, 0xFFFFF))
            lmask = draw(st.sampled_from([0xFFFFF, 0, draw(st.integers(0, 0xFFFFF))]))
            key = addrs + label.to_bytes(4, "big") + bytes([proto]) + tos_ttl + bytes([frag])
            mask = amask + lmask.to_bytes(4, "big") + bytes([pmask]) + tmask + bytes([fmask])
        else:
            key = addrs + bytes([proto]) + tos_ttl + bytes([frag])
            mask = amask + bytes([pmask]) + tmask + bytes([fmask])
        out: list[_KeyMaskAttr] = [
            (_KA.ETHERTYPE, b"\x86\xdd" if v6 else b"\x08\x00", b"\xff\xff"),
            (_KA.IPV6 if v6 else _KA.IPV4, key, mask),
        ]
        if not v6 and draw(st.integers(0, 3)) == 0:
            k, m = draw(_fields((4, 4, 2, 2, 1)))
            out.append((_KA.CT_ORIG_TUPLE_IPV4, k + bytes(3), m + bytes(3)))
        return out + l4
    if kind == "arp":
        k, m = draw(_fields((4, 4)))
        op = draw(st.integers(0, 0xFF))  # ARP opcodes above 255 are EINVAL (ovs_key_from_nlattrs)
        k2, m2 = draw(_fields((6, 6)))
        key = k + op.to_bytes(2, "big") + k2 + bytes(2)
        return [(_KA.ETHERTYPE, b"\x08\x06", b"\xff\xff"), (_KA.ARP, key, m + draw(_mask_bytes(2)) + m2 + bytes(2))]
    if kind == "mpls":
        n = draw(st.integers(1, 3))
        lses = [draw(st.integers(0, _U32)) & ~0x100 for _ in range(n)]
        lses[-1] |= 0x100  # bottom of stack on the last entry only
        key = b"".join(v.to_bytes(4, "big") for v in lses)
        return [(_KA.ETHERTYPE, b"\x88\x47", b"\xff\xff"), (_KA.MPLS, key, draw(_mask_bytes(4 * n)))]
    et = draw(st.integers(0x0600, 0xFFFF).filter(lambda v: v not in _DP_SPECIAL_ETHERTYPES))
    return [(_KA.ETHERTYPE, et.to_bytes(2, "big"), draw(_mask_bytes(2)))]


@st.composite
def _dp_key_mask_attrs(draw: st.DrawFn) -> list[_KeyMaskAttr]:
    attrs = draw(_dp_metadata())
    attrs.append((_KA.ETHERNET, *draw(_fields((6, 6)))))
    inner = draw(_dp_l3_l4())
    if draw(st.integers(0, 4)) == 0:
        # A tagged frame: TCI with the CFI bit, TPID and CFI matched exactly.
        tci = draw(st.integers(0, 0xFFFF)) | 0x1000
        tmask = draw(st.integers(0, 0xFFFF)) | 0x1000
        attrs += [
            (_KA.ETHERTYPE, b"\x81\x00", b"\xff\xff"),
            (_KA.VLAN, tci.to_bytes(2, "big"), tmask.to_bytes(2, "big")),
            (
                _KA.ENCAP,
                b"".join(_pack_attr(t, k) for t, k, _ in inner),
                b"".join(_pack_attr(t, m) for t, _, m in inner),
            ),
        ]
    else:
        attrs += inner
    return attrs


def datapath_keys_with_masks() -> st.SearchStrategy[tuple[bytes, bytes]]:
    """``(key, mask)`` pairs that the Linux datapath and (mostly) dpif-netdev accept in a flow put.

    Use these, not :func:`keys_with_masks`, to exercise the success paths of
    flow installation; see the section comment for what "consistent" means.
    """
    return _dp_key_mask_attrs().map(
        lambda attrs: (
            b"".join(_pack_attr(t, k) for t, k, _ in attrs),
            b"".join(_pack_attr(t, m) for t, _, m in attrs),
        )
    )


# --- ovs_flow request sequences (conformance.fidelity: kernel differential) ---
#
# A case is a short sequence of ovs_flow requests against an empty flow
# table, as ``(cmd, nlmsg flags, OVS_FLOW_ATTR_* bytes)``; conformance.fidelity
# frames them (family id, ifindex, seq, pid) for the kernel and the endpoint
# alike. Requests draw on a small pool of matches so that later requests hit
# earlier flows. The pool mixes keys a datapath accepts, keys it refuses,
# keys reshaped the ways the key space allows (mask absent, all-ones, zero
# or partial per attribute; no ETHERTYPE (an 802.2 frame); no ETHERNET (an
# L3-only key); no IN_PORT) and malformed attribute streams.

from reference._netlink import split_attrs as _split_attrs  # noqa: E402
from reference.uapi import FlowAttr as _FA  # noqa: E402
from reference.uapi import FlowCmd as _FC  # noqa: E402

__all__ += ["flow_request_cases"]

_FlowReq = tuple[int, int, bytes]
_NLM_REQUEST, _NLM_ACK, _NLM_ECHO = 0x01, 0x04, 0x08
_NLM_REPLACE, _NLM_EXCL, _NLM_CREATE, _NLM_APPEND = 0x100, 0x200, 0x400, 0x800
_NLM_DUMP = 0x300


def _reshape_mask(draw: st.DrawFn, key: bytes, mask: bytes) -> bytes | None:
    """The drawn mask, absent, or per attribute all-ones / zero / as drawn."""
    how = draw(st.sampled_from(["as-is", "as-is", "absent", "per-attr"]))
    if how == "absent":
        return None
    if how == "as-is":
        return mask
    out: list[tuple[int, bytes]] = []
    for t, p in _split_attrs(mask, where="mask"):
        shape = draw(st.sampled_from(["keep", "ones", "zero", "drop"]))
        if shape == "drop":
            continue
        if t in (_KA.ENCAP, _KA.TUNNEL) or shape == "keep":
            out.append((t, p))
        else:
            out.append((t, (b"\xff" if shape == "ones" else b"\0") * len(p)))
    return b"".join(_pack_attr(t, p) for t, p in out)


def _malform(draw: st.DrawFn, attrs: bytes) -> bytes:
    """A key or mask made wrong in one place: a payload cut short or grown, an unknown or repeated attribute."""
    parts = _split_attrs(attrs, where="key")
    if not parts:
        return attrs
    i = draw(st.integers(0, len(parts) - 1))
    t, p = parts[i]
    how = draw(st.sampled_from(["short", "long", "unknown", "repeat", "zero-len"]))
    if how == "short" and p:
        parts[i] = (t, p[:-1])
    elif how == "long":
        parts[i] = (t, p + b"\0" * draw(st.sampled_from([1, 4])))
    elif how == "unknown":
        parts.insert(i, (draw(st.sampled_from([0, 33, 34, 63, 0x3FFF])), b"\0" * 4))
    elif how == "repeat":
        parts.insert(i, (t, p))
    else:
        parts[i] = (t, b"")
    return b"".join(_pack_attr(t, p) for t, p in parts)


@st.composite
def _flow_match(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    source = draw(st.sampled_from(["datapath"] * 5 + ["userspace", "userspace-compact"]))
    if source == "datapath":
        key, mask = draw(datapath_keys_with_masks())
    else:
        key, mask = draw(keys_with_masks(compact=source == "userspace-compact"))
    reshape = draw(st.sampled_from(["none"] * 6 + ["no-ethertype", "no-ethernet", "no-in-port", "malformed"]))
    drop = {
        "no-ethertype": {_KA.ETHERTYPE},
        "no-ethernet": {_KA.ETHERNET},
        "no-in-port": {_KA.IN_PORT},
    }.get(reshape, set())
    if drop:
        key = b"".join(_pack_attr(t, p) for t, p in _split_attrs(key) if t not in drop)
        mask = b"".join(_pack_attr(t, p) for t, p in _split_attrs(mask) if t not in drop)
    out_mask = _reshape_mask(draw, key, mask)
    if reshape == "malformed":
        if out_mask is not None and draw(st.booleans()):
            out_mask = _malform(draw, out_mask)
        else:
            key = _malform(draw, key)
    return key, out_mask


def _flow_ufid() -> st.SearchStrategy[bytes | None]:
    """Absent, or OVS_FLOW_ATTR_UFID of every interesting length (0 and >16 included)."""
    sized = st.sampled_from([0, 1, 4, 8, 15, 16, 17, 20]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    sixteen = st.binary(min_size=16, max_size=16)
    return st.one_of(st.none(), sixteen, sixteen, sized)


def _flow_actions() -> st.SearchStrategy[bytes]:
    output = st.integers(0, 0xFFFF).map(lambda p: _pack_attr(_AA.OUTPUT, _u32h(p)))
    # Mostly actions the kernel takes for any flow, so that flows get installed.
    return st.one_of(st.just(b""), output, output, output, action_lists(max_leaves=3))


def _ufid_flags_attr() -> st.SearchStrategy[bytes]:
    value = st.one_of(st.integers(0, 7), st.integers(0, _U32))
    full = value.map(lambda v: _pack_attr(_FA.UFID_FLAGS, _u32h(v)))
    short = st.binary(max_size=3).map(lambda b: _pack_attr(_FA.UFID_FLAGS, b))  # shorter than a u32
    return st.one_of(full, full, full, short)


@st.composite
def _flow_request(draw: st.DrawFn, pool: list[tuple[tuple[bytes, bytes | None], bytes | None]]) -> _FlowReq:
    (key, mask), ufid = draw(st.sampled_from(pool))
    kind = draw(st.sampled_from(["new"] * 4 + ["set", "get", "get", "del", "dump", "flush", "raw-cmd"]))
    flags = _NLM_REQUEST | draw(st.sampled_from([0, _NLM_ACK, _NLM_ACK, _NLM_ECHO, _NLM_ACK | _NLM_ECHO]))
    attrs: list[bytes] = []
    if ufid is not None and draw(st.integers(0, 9)):
        attrs.append(_pack_attr(_FA.UFID, ufid))
    if kind == "dump":
        if draw(st.booleans()):
            attrs.append(draw(_ufid_flags_attr()))
        return _FC.GET, flags | _NLM_DUMP, b"".join(attrs)
    if kind == "flush":
        return _FC.DEL, flags, b""
    if kind == "raw-cmd":
        return draw(st.sampled_from([0, 5, 0xFF])), flags, b"".join(attrs)
    with_key = draw(st.integers(0, 9)) > (0 if kind in ("new", "set") else 4)
    if with_key:
        attrs.append(_pack_attr(_FA.KEY, key))
        if mask is not None and kind in ("new", "set"):
            attrs.append(_pack_attr(_FA.MASK, mask))
    if kind in ("new", "set") and draw(st.integers(0, 9)):
        attrs.append(_pack_attr(_FA.ACTIONS, draw(_flow_actions())))
    if draw(st.integers(0, 2)) == 0:
        attrs.append(draw(_ufid_flags_attr()))
    if kind == "set" and draw(st.integers(0, 3)) == 0:
        attrs.append(_pack_attr(_FA.CLEAR, b"" if draw(st.integers(0, 5)) else b"\0"))
    if draw(st.integers(0, 9)) == 0:
        attrs.append(_pack_attr(_FA.PROBE, b"" if draw(st.integers(0, 5)) else b"\0"))
    if kind == "new":
        flags |= draw(st.sampled_from([0, _NLM_CREATE, _NLM_CREATE | _NLM_EXCL, _NLM_EXCL, _NLM_REPLACE, _NLM_APPEND]))
        return _FC.NEW, flags, b"".join(attrs)
    cmd = {"set": _FC.SET, "get": _FC.GET, "del": _FC.DEL}[kind]
    return cmd, flags, b"".join(attrs)


@st.composite
def _flow_request_case(draw: st.DrawFn, max_requests: int) -> list[_FlowReq]:
    pool = draw(st.lists(st.tuples(_flow_match(), _flow_ufid()), min_size=1, max_size=3))
    # Start by installing the pool's first flow most of the time, so that later requests find something.
    first: list[_FlowReq] = []
    if draw(st.integers(0, 4)):
        (key, mask), ufid = pool[0]
        attrs = _pack_attr(_FA.KEY, key) + (b"" if mask is None else _pack_attr(_FA.MASK, mask))
        attrs += _pack_attr(_FA.ACTIONS, b"") + (b"" if ufid is None else _pack_attr(_FA.UFID, ufid))
        first.append((_FC.NEW, _NLM_REQUEST | _NLM_ACK | _NLM_CREATE, attrs))
    rest = draw(st.lists(_flow_request(pool), min_size=1, max_size=max_requests))
    return first + rest


def flow_request_cases(*, max_requests: int = 5) -> st.SearchStrategy[list[_FlowReq]]:
    """Sequences of raw ``ovs_flow`` requests ``(cmd, nlmsg flags, attrs)`` for an empty flow table.

    Every command (NEW with and without CREATE/EXCL, SET, GET, DEL, a flush,
    dump, unknown commands), every UFID_FLAGS value (and a short one), UFID
    lengths 0..20, NLM_F_ACK/ECHO, CLEAR and PROBE (empty or not), keys and
    masks as described in the section comment.
    """
    return _flow_request_case(max_requests)


# --- the supervised backend's wire protocol (conformance/_rpc.py) ------------------------

__all__ += ["rpc_messages"]


def rpc_messages() -> st.SearchStrategy[Any]:
    """Protocol messages as the suite and the backend host exchange them: puts, replies, dumped flows."""
    from conformance._rpc import Call, Closed, ProcessInfo, Reply
    from reference.dpif import DpifFlow, FlowStats, PutFlags, PutOp

    stats = st.builds(FlowStats, *(st.integers(0, 2**64 - 1) for _ in range(3)), st.integers(0, 0xFFF))
    flows = st.builds(
        DpifFlow,
        st.none() | ufids(),
        st.booleans(),
        st.none() | flow_keys(),
        st.none() | st.binary(max_size=64),
        st.none() | actions(),
        stats,
    )
    seqs = st.integers(0, 2**31)
    puts = st.builds(
        lambda seq, km, acts, ufid, flags: Call(seq, "flow_put", (km[0], km[1], acts), {"ufid": ufid, "flags": flags}),
        seqs,
        datapath_keys_with_masks(),
        actions(),
        st.none() | ufids(),
        st.sampled_from(list(PutFlags)),
    )
    batches = st.builds(
        lambda seq, ops: Call(seq, "operate", (ops,), {}),
        seqs,
        st.lists(st.builds(PutOp, flow_keys(), st.none(), actions(), st.none() | ufids()), max_size=5),
    )
    return st.one_of(
        puts,
        batches,
        st.builds(Reply, seqs, stats | st.none()),
        st.builds(Reply, seqs, st.tuples(st.lists(flows, max_size=4).map(tuple), st.booleans())),
        st.builds(
            Closed, seqs, st.lists(st.builds(ProcessInfo, st.integers(1, 2**22), st.text()), max_size=3).map(tuple)
        ),
    )
