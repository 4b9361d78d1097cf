"""Flow keys and masks a datapath accepts in a flow put (reference.datapath, the suite's puts).

keys_with_masks() is built for text round trips: its L3/L4 attributes do not
agree with each other (random IP protocol next to tcp(), VLAN TCIs without
the CFI bit, ct_state masks of 0xffffffff...), so a real datapath refuses
most of them (flow_netlink.c match_validate, dpif-netdev's perfect-fitness
rule). These pairs are consistent: the Ethertype matches the L3 attribute,
the IP protocol matches the L4 attribute, TCP carries tcp_flags, ND comes
with ICMPv6 types 135/136, MPLS stacks end with BOS, masks match the
Ethertype and the IP protocol exactly where L3/L4 attributes are masked, and
in_port is (almost always) exact. No tunnel: the reference does not model
the kernel's tunnel-key checks (ip_tun_from_nlattr).
"""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.strategies._common import (
    SPECIAL_ETHERTYPES,
    U32,
    KeyMaskAttr,
    draw_conntrack_metadata,
    draw_metadata_head,
    fields,
    flags_value,
    mask_bytes,
    u32h,
)
from reference._netlink import pack_attr as _pack_attr
from reference.uapi import KeyAttr as _KA

__all__ = ["datapath_keys_with_masks"]


@st.composite
def _dp_metadata(draw: st.DrawFn) -> list[KeyMaskAttr]:
    out = draw_metadata_head(draw)
    # DP_MAX_PORTS (65535) and above are EINVAL; dpif-netdev needs an exact in_port.
    port_mask = b"\xff" * 4 if draw(st.integers(0, 9)) else draw(mask_bytes(4))
    out.append((_KA.IN_PORT, u32h(draw(st.integers(0, 0xFFFE))), port_mask))
    # CT_SUPPORTED_MASK (0xff) bounds the ct_state key and mask alike.
    return out + draw_conntrack_metadata(draw, ct_state_exact_mask=0xFF)


@st.composite
def _dp_l4(draw: st.DrawFn, v6: bool) -> tuple[int, list[KeyMaskAttr]]:
    """(IP protocol, L4 attributes) for an IPv4 or IPv6 key."""
    l4 = draw(st.sampled_from(["tcp", "tcp", "udp", "sctp", "icmp", "none"]))
    if l4 in ("tcp", "udp", "sctp"):
        proto, t = {"tcp": (6, _KA.TCP), "udp": (17, _KA.UDP), "sctp": (132, _KA.SCTP)}[l4]
        k, m = draw(fields((2, 2)))
        out: list[KeyMaskAttr] = [(t, k, m)]
        if l4 == "tcp":
            v, fm = draw(flags_value(0x0FFF, 0xFFFF))
            out.append((_KA.TCP_FLAGS, v.to_bytes(2, "big"), fm.to_bytes(2, "big")))
        return proto, out
    if l4 == "icmp" and not v6:
        k, m = draw(fields((1, 1)))
        return 1, [(_KA.ICMP, k, m)]
    if l4 == "icmp":
        icmp_type = draw(st.sampled_from([135, 136, 128, 129, draw(st.integers(0, 255))]))
        code = draw(st.sampled_from([0, 0, 0, 1]))
        k = bytes([icmp_type, code])
        if icmp_type in (135, 136):
            # ND is required for these types; masking it needs an exact ICMPv6 type.
            nk, nm = draw(fields((16, 6, 6)))
            return 58, [(_KA.ICMPV6, k, b"\xff" + draw(mask_bytes(1))), (_KA.ND, nk, nm)]
        return 58, [(_KA.ICMPV6, k, draw(mask_bytes(2)))]
    proto = draw(st.integers(0, 255).filter(lambda p: p not in (1, 6, 17, 58, 132)))
    return proto, []


@st.composite
def _dp_l3_l4(draw: st.DrawFn) -> list[KeyMaskAttr]:
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "ipv6", "arp", "mpls", "other"]))
    if kind in ("ipv4", "ipv6"):
        v6 = kind == "ipv6"
        proto, l4 = draw(_dp_l4(v6))
        frag = draw(st.sampled_from([0, 0, 1, 2])) if not l4 else draw(st.sampled_from([0, 0, 1]))
        fmask = draw(st.sampled_from([0xFF, 0]))
        pmask = 0xFF if l4 else draw(mask_bytes(1))[0]
        addrs, amask = draw(fields((16, 16) if v6 else (4, 4)))
        tos_ttl, tmask = draw(fields((1, 1)))
        if v6:
            label = draw(st.integers(0, 0xFFFFF))
            lmask = draw(st.sampled_from([0xFFFFF, 0, draw(st.integers(0, 0xFFFFF))]))
            key = addrs + label.to_bytes(4, "big") + bytes([proto]) + tos_ttl + bytes([frag])
            mask = amask + lmask.to_bytes(4, "big") + bytes([pmask]) + tmask + bytes([fmask])
        else:
            key = addrs + bytes([proto]) + tos_ttl + bytes([frag])
            mask = amask + bytes([pmask]) + tmask + bytes([fmask])
        out: list[KeyMaskAttr] = [
            (_KA.ETHERTYPE, b"\x86\xdd" if v6 else b"\x08\x00", b"\xff\xff"),
            (_KA.IPV6 if v6 else _KA.IPV4, key, mask),
        ]
        if not v6 and draw(st.integers(0, 3)) == 0:
            k, m = draw(fields((4, 4, 2, 2, 1)))
            out.append((_KA.CT_ORIG_TUPLE_IPV4, k + bytes(3), m + bytes(3)))
        return out + l4
    if kind == "arp":
        k, m = draw(fields((4, 4)))
        op = draw(st.integers(0, 0xFF))  # ARP opcodes above 255 are EINVAL (ovs_key_from_nlattrs)
        k2, m2 = draw(fields((6, 6)))
        key = k + op.to_bytes(2, "big") + k2 + bytes(2)
        return [(_KA.ETHERTYPE, b"\x08\x06", b"\xff\xff"), (_KA.ARP, key, m + draw(mask_bytes(2)) + m2 + bytes(2))]
    if kind == "mpls":
        n = draw(st.integers(1, 3))
        lses = [draw(st.integers(0, U32)) & ~0x100 for _ in range(n)]
        lses[-1] |= 0x100  # bottom of stack on the last entry only
        key = b"".join(v.to_bytes(4, "big") for v in lses)
        return [(_KA.ETHERTYPE, b"\x88\x47", b"\xff\xff"), (_KA.MPLS, key, draw(mask_bytes(4 * n)))]
    et = draw(st.integers(0x0600, 0xFFFF).filter(lambda v: v not in SPECIAL_ETHERTYPES))
    return [(_KA.ETHERTYPE, et.to_bytes(2, "big"), draw(mask_bytes(2)))]


@st.composite
def _dp_key_mask_attrs(draw: st.DrawFn) -> list[KeyMaskAttr]:
    attrs = draw(_dp_metadata())
    attrs.append((_KA.ETHERNET, *draw(fields((6, 6)))))
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
