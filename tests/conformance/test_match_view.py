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
    key = [(KeyAttr.CT_ORIG_TUPLE_IPV4, tuple4), ETH]
    got = view(key, [(KeyAttr.CT_ORIG_TUPLE_IPV4, b"\xff" * 13), ETH_M])
    if proto == 0:
        assert got == view([ETH], [ETH_M])
    else:
        assert got != view([ETH], [ETH_M])
