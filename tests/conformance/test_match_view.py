"""The suite's match comparison (conformance.suite._flows.match_view): what a datapath stores, nothing more or less."""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from conformance.suite._flows import match_view
from reference._netlink import pack_attrs
from reference.uapi import KeyAttr

ETH = (KeyAttr.ETHERNET, bytes(12))
ETH_M = (KeyAttr.ETHERNET, b"\xff" * 12)


def _u32(n: int) -> bytes:
    return n.to_bytes(4, sys.byteorder)


def view(key: Sequence[tuple[int, bytes]], mask: Sequence[tuple[int, bytes]]) -> object:
    return match_view(pack_attrs(key), pack_attrs(mask))


@given(port=st.integers(0, 0xFFFF))
def test_in_port_mask_bits_above_16_over_a_16_bit_port_do_not_count(port: int) -> None:
    key = [(KeyAttr.IN_PORT, _u32(port)), ETH]
    exact = view(key, [(KeyAttr.IN_PORT, _u32(0xFFFFFFFF)), ETH_M])
    assert exact == view(key, [(KeyAttr.IN_PORT, _u32(0x0000FFFF)), ETH_M])
    # Linux returns a wildcarded port's mask as 0xffff0000 (flow_netlink.c __ovs_nla_put_key)
    assert view(key, [(KeyAttr.IN_PORT, _u32(0xFFFF0000)), ETH_M]) == view([ETH], [ETH_M])
    # the low 16 bits still decide
    assert view(key, [(KeyAttr.IN_PORT, _u32(0xFFFFFF00)), ETH_M]) != exact


def test_in_port_upper_bits_count_when_the_value_has_them() -> None:
    key = [(KeyAttr.IN_PORT, _u32(0x10001)), ETH]
    assert view(key, [(KeyAttr.IN_PORT, _u32(0xFFFFFFFF)), ETH_M]) != view(
        key, [(KeyAttr.IN_PORT, _u32(0x0000FFFF)), ETH_M]
    )


@given(op_mask=st.integers(0, 0xFFFF))
def test_arp_opcode_is_eight_bits(op_mask: int) -> None:
    def arp(op_m: int) -> bytes:
        return bytes(8) + struct.pack(">H", op_m) + bytes(12)

    key = [ETH, (KeyAttr.ETHERTYPE, b"\x08\x06"), (KeyAttr.ARP, arp(1))]
    base = [ETH_M, (KeyAttr.ETHERTYPE, b"\xff\xff")]
    assert view(key, [*base, (KeyAttr.ARP, arp(op_mask))]) == view(key, [*base, (KeyAttr.ARP, arp(op_mask & 0xFF))])
    if op_mask & 0xFF != 0xFF:
        assert view(key, [*base, (KeyAttr.ARP, arp(op_mask))]) != view(key, [*base, (KeyAttr.ARP, arp(0xFF))])


def test_ct_state_is_eight_bits() -> None:
    key = [(KeyAttr.CT_STATE, _u32(1)), ETH]
    assert view(key, [(KeyAttr.CT_STATE, _u32(0xFFFFFFFF)), ETH_M]) == view(
        key, [(KeyAttr.CT_STATE, _u32(0xFF)), ETH_M]
    )
    assert view(key, [(KeyAttr.CT_STATE, _u32(0xFF)), ETH_M]) != view(key, [(KeyAttr.CT_STATE, _u32(0xFE)), ETH_M])


@given(addr=st.binary(min_size=8, max_size=8), ports=st.binary(min_size=4, max_size=4), proto=st.integers(0, 255))
def test_a_conntrack_tuple_without_protocol_is_never_part_of_a_reply(addr: bytes, ports: bytes, proto: int) -> None:
    tuple4 = addr + ports + bytes([proto])
    key = [(KeyAttr.CT_ORIG_TUPLE_IPV4, tuple4), ETH, IPV4_TYPE]
    got = view(key, [(KeyAttr.CT_ORIG_TUPLE_IPV4, b"\xff" * 13), ETH_M, TYPE_M])
    if proto == 0:
        assert got == view([ETH, IPV4_TYPE], [ETH_M, TYPE_M])
    else:
        assert got != view([ETH, IPV4_TYPE], [ETH_M, TYPE_M])


IPV4_TYPE, IPV6_TYPE, TYPE_M = (
    (KeyAttr.ETHERTYPE, b"\x08\x00"),
    (KeyAttr.ETHERTYPE, b"\x86\xdd"),
    (KeyAttr.ETHERTYPE, b"\xff\xff"),
)


@given(
    eth_type=st.sampled_from([0x0800, 0x86DD, 0x0600, 0x0806, 0x8847]),
    v6=st.booleans(),
    vlan=st.booleans(),
    proto=st.integers(1, 255),
)
def test_a_conntrack_tuple_of_another_family_than_the_flow_is_never_part_of_a_reply(
    eth_type: int, v6: bool, vlan: bool, proto: int
) -> None:
    # ovs_ct_put_key / odp_flow_key_from_flow__ write ct_tuple4 only for an IPv4 flow, ct_tuple6 only
    # for an IPv6 flow: dpif-netdev accepts ct_tuple4 on an eth_type(0x0600) flow and returns it without.
    attr, size = (KeyAttr.CT_ORIG_TUPLE_IPV6, 37) if v6 else (KeyAttr.CT_ORIG_TUPLE_IPV4, 13)
    inner_key, inner_mask = [(KeyAttr.ETHERTYPE, struct.pack(">H", eth_type))], [TYPE_M]
    if vlan:  # the inner EtherType decides (the flow's dl_type)
        vlan_key = [(KeyAttr.ETHERTYPE, b"\x81\x00"), (KeyAttr.VLAN, b"\x10\x05")]
        inner_key = [*vlan_key, (KeyAttr.ENCAP, pack_attrs(inner_key))]
        inner_mask = [TYPE_M, (KeyAttr.VLAN, b"\xff\xff"), (KeyAttr.ENCAP, pack_attrs(inner_mask))]
    with_tuple = view(
        [(attr, bytes(size - 1) + bytes([proto])), ETH, *inner_key], [(attr, b"\xff" * size), ETH_M, *inner_mask]
    )
    without = view([ETH, *inner_key], [ETH_M, *inner_mask])
    assert (with_tuple == without) == (eth_type != (0x86DD if v6 else 0x0800))
