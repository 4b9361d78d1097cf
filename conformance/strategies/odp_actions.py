"""Canonical netlink action lists (reference.odp.actions).

Netlink action lists (OVS_ACTION_ATTR_*) that validate_actions() accepts
and that format_actions() prints in a form parse_actions() reads back to the
same bytes ("canonical"). Forms OVS itself cannot round-trip are avoided:
USERSPACE without USERDATA (the parser adds a 48-byte zero cookie), cookies
whose unused bytes are non-zero, tnl_push headers with fields the parser zeroes
(IPv4 id/length, IPv6 payload length, UDP length), CT/NAT attributes the parser never emits
(zone 0, mark/label masks of 0, NAT flags without an address), DROP inside a
list or with a non-zero reason, sample probabilities that no percentage with
one decimal maps to, PSAMPLE (cookie printed without leading zeros), and
set(nsh(...)) (not implemented). set()/set_masked() carry one key
attribute of a type whose text form is unambiguous.
"""

from __future__ import annotations

import math
import socket as _socket
import struct as _struct

from hypothesis import strategies as st

from conformance.strategies._common import U32, u32h
from conformance.strategies.keys import keys_with_masks
from reference._netlink import iter_attrs as _iter_attrs
from reference._netlink import pack_attr as _pack_attr
from reference.uapi import ActionAttr as _AA
from reference.uapi import CheckPktLenAttr as _CPL
from reference.uapi import CtAttr as _CT
from reference.uapi import DecTtlAttr as _DTL
from reference.uapi import KeyAttr as _KA
from reference.uapi import NatAttr as _NAT
from reference.uapi import NshKeyAttr as _NSH
from reference.uapi import SampleAttr as _SMP
from reference.uapi import UserspaceAttr as _USR

__all__ = ["action_lists", "actions"]


# Not IPV6: its text carries the 20-bit label, which parses back with mask 0xfffff, i.e. as set_masked.
_SETTABLE = (_KA.PRIORITY, _KA.SKB_MARK, _KA.ETHERNET, _KA.IPV4, _KA.TCP, _KA.UDP, _KA.SCTP)
_MASKABLE = (_KA.ETHERNET, _KA.IPV4, _KA.IPV6, _KA.TCP, _KA.UDP, _KA.SCTP)


def _act_u32(attr: int) -> st.SearchStrategy[bytes]:
    return st.integers(0, U32).map(lambda v: _pack_attr(attr, u32h(v)))


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
        attrs.append(_pack_attr(_CT.MARK, _struct.pack("=II", draw(st.integers(0, U32)), draw(st.integers(1, U32)))))
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
    u32, u16 = st.integers(0, U32), st.integers(0, 0xFFFF)

    def sflow(vid: int, pcp: int, out: int) -> bytes:
        tci = vid | pcp << 13
        return _cookie(1, _struct.pack("!H", tci | (0x1000 if tci else 0)) + b"\0\0" + u32h(out))

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
        u32.map(lambda port: _cookie(4, u32h(port))),
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
    attrs = [_pack_attr(_USR.PID, u32h(draw(st.integers(0, U32)))), _pack_attr(_USR.USERDATA, draw(_userdata()))]
    if draw(st.booleans()):
        attrs.append(_pack_attr(_USR.EGRESS_TUN_PORT, u32h(draw(st.integers(0, U32 - 1)))))
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
        return _pack_attr(_AA.SET, _pack_attr(_KA.SKB_MARK, u32h(draw(st.integers(0, U32)))))
    attr_type, k, m = draw(st.sampled_from(candidates))
    if masked:
        return _pack_attr(_AA.SET_MASKED, _pack_attr(attr_type, k + m))
    return _pack_attr(_AA.SET, _pack_attr(attr_type, k))


@st.composite
def _act_tnl_push(draw: st.DrawFn) -> bytes:
    """struct ovs_action_push_tnl with a header built by scapy (IP/IPv6) and by hand (tunnel headers)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, U32)
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
    mdtype = draw(st.sampled_from([1, 2]))
    base = _struct.pack(
        "!BBBBI",
        draw(st.integers(0, 3)),
        draw(st.integers(0, 63)),
        mdtype,
        draw(st.integers(0, 255)),
        draw(st.integers(0, U32)),
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
            st.integers(0, U32),
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
    return min(max(math.floor(U32 * (tenths / 10 / 100.0) + 0.5), 0), U32)


def _sample(tenths: int, acts: bytes) -> bytes:
    probability = _pack_attr(_SMP.PROBABILITY, u32h(_sample_probability(tenths)))
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
    return st.one_of(st.just(_pack_attr(_AA.DROP, u32h(0))), action_lists())
