"""struct sw_flow_key filled and re-serialised as Linux 6.1 does (reference._swkey, reference._kernel_actions).

Expected bytes are built here with ``struct``; every rule asserted below
also occurs in the replies recorded from the real kernel
(fixtures/kernel-6.1-flow-replies.json, replayed in tests/conformance/test_fidelity.py):
31 masks with IN_PORT 0xffff0000, 28 ARP masks with opcode 0x00ff.
"""

from __future__ import annotations

import struct

import pytest

from reference._kernel_actions import kernel_actions
from reference._swkey import SwKey, check_kernel_attrs, flow_images, put_key
from reference.errors import OdpDecodeError
from tests.reference._flowbuild import attr

RECIRC, DP_HASH, PRIORITY, IN_PORT, SKB_MARK, TUNNEL, TTL = 20, 19, 2, 3, 15, 16, 4
CT_STATE, CT_ZONE, CT_MARK, CT_LABELS = 22, 23, 24, 25
ETHERNET, ETHERTYPE, ARP = 4, 6, 13
U32 = struct.Struct("=I")


def _metadata(in_port: bytes | None, tunnel: bytes | None = None) -> bytes:
    out = attr(RECIRC, U32.pack(0)) + attr(DP_HASH, U32.pack(0)) + attr(PRIORITY, U32.pack(0))
    if tunnel is not None:
        out += attr(TUNNEL, tunnel)
    if in_port is not None:
        out += attr(IN_PORT, in_port)
    out += attr(SKB_MARK, U32.pack(0))
    return (
        out
        + attr(CT_STATE, U32.pack(0))
        + attr(CT_ZONE, b"\0\0")
        + attr(CT_MARK, U32.pack(0))
        + attr(CT_LABELS, bytes(16))
    )


def _replies(key: bytes, mask: bytes | None) -> tuple[bytes, bytes, bytes]:
    k, m = flow_images(key, mask)
    mk = k.masked(m)
    return put_key(k, k, False), put_key(mk, mk, False), put_key(mk, m, True)


ETH = bytes(range(1, 13))


def test_every_metadata_attribute_comes_back_and_in_port_mask_has_its_upper_bits() -> None:
    key = attr(ETHERNET, ETH) + attr(ETHERTYPE, b"\x12\x34")  # no IN_PORT, exact mask (absent)
    unmasked, masked, mask = _replies(key, None)
    # The key's in_port is DP_MAX_PORTS (not sent); the mask built from the key's
    # attributes wildcards it, so the masked key says 0 and the mask 0xffff0000.
    assert unmasked == _metadata(None) + key
    assert masked == _metadata(U32.pack(0)) + key
    ones = attr(ETHERNET, b"\xff" * 12) + attr(ETHERTYPE, b"\xff\xff")
    assert mask == _metadata(U32.pack(0xFFFF0000), tunnel=attr(TTL, b"\0")) + ones


def test_exact_in_port_mask_is_all_ones() -> None:
    key = attr(IN_PORT, U32.pack(7)) + attr(ETHERNET, ETH) + attr(ETHERTYPE, b"\x12\x34")
    _, masked, mask = _replies(key, None)
    assert attr(IN_PORT, U32.pack(7)) in masked
    assert attr(IN_PORT, b"\xff" * 4) in mask


def test_arp_opcode_mask_is_cut_to_the_u8_it_is_stored_in() -> None:
    arp = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b"\x00\x01" + bytes(range(12)) + b"\0\0"
    key = attr(IN_PORT, U32.pack(1)) + attr(ETHERNET, ETH) + attr(ETHERTYPE, b"\x08\x06") + attr(ARP, arp)
    mask = attr(IN_PORT, b"\xff" * 4) + attr(ETHERNET, bytes(12)) + attr(ETHERTYPE, b"\xff\xff")
    mask += attr(ARP, b"\xff" * 22 + b"\0\0")
    _, _, got = _replies(key, mask)
    assert attr(ARP, b"\xff" * 8 + b"\x00\xff" + b"\xff" * 12 + b"\0\0") in got


def test_a_wildcarded_ethertype_hides_the_l3_attribute() -> None:
    ipv4 = bytes([10, 0, 0, 1, 10, 0, 0, 2, 6, 0, 64, 0])
    key = attr(IN_PORT, U32.pack(1)) + attr(ETHERNET, ETH) + attr(ETHERTYPE, b"\x08\x00") + attr(7, ipv4)
    mask = attr(IN_PORT, b"\xff" * 4) + attr(ETHERNET, bytes(12)) + attr(7, b"\xff" * 12)  # no ETHERTYPE mask
    _, masked, got = _replies(key, mask)
    assert masked.endswith(attr(ETHERNET, bytes(12)) + attr(ETHERTYPE, b"\0\0"))
    assert got.endswith(attr(ETHERNET, bytes(12)) + attr(ETHERTYPE, b"\0\0"))


def test_kernel_refusals_the_codecs_let_through() -> None:
    key = attr(IN_PORT, U32.pack(1)) + attr(ETHERNET, ETH) + attr(ETHERTYPE, b"\x12\x34")
    with pytest.raises(OdpDecodeError, match="out of range"):
        check_kernel_attrs(key, attr(33, bytes(4)))  # all zero, still above OVS_KEY_ATTR_MAX
    no_ttl = attr(TUNNEL, attr(2, bytes([1, 2, 3, 4])))
    with pytest.raises(OdpDecodeError, match="TTL"):
        check_kernel_attrs(no_ttl + key, None)
    mixed = attr(TUNNEL, attr(2, bytes([1, 2, 3, 4])) + attr(13, bytes(range(16))) + attr(TTL, b"\x40"))
    with pytest.raises(OdpDecodeError, match="mixed"):
        check_kernel_attrs(mixed + key, None)
    check_kernel_attrs(attr(TUNNEL, attr(2, bytes([1, 2, 3, 4])) + attr(TTL, b"\x40")) + key, None)


def _masked_key(key: bytes) -> SwKey:
    k, m = flow_images(key, None)
    return k.masked(m)


IPV4_KEY = (
    attr(IN_PORT, U32.pack(1))
    + attr(ETHERNET, ETH)
    + attr(ETHERTYPE, b"\x08\x00")
    + attr(7, bytes([10, 0, 0, 1, 10, 0, 0, 2, 6, 0, 64, 0]))
    + attr(9, b"\0\x01\0\x02")
)


def test_actions_are_checked_against_the_masked_key() -> None:
    mk = _masked_key(IPV4_KEY)
    with pytest.raises(OdpDecodeError, match="pop_mpls"):
        kernel_actions(attr(10, b"\x08\x00"), mk)
    with pytest.raises(OdpDecodeError, match="push_eth"):
        kernel_actions(attr(14, bytes(12)), mk)
    with pytest.raises(OdpDecodeError, match="hash"):
        kernel_actions(attr(8, U32.pack(1) + U32.pack(0)), mk)
    with pytest.raises(OdpDecodeError, match="unknown to Linux"):
        kernel_actions(attr(26, b""), mk)
    with pytest.raises(OdpDecodeError, match="commit"):
        kernel_actions(attr(12, attr(3, U32.pack(1) + U32.pack(1))), mk)
    assert kernel_actions(attr(1, U32.pack(3)), mk) == attr(1, U32.pack(3))


def test_check_pkt_len_and_sample_come_back_in_the_kernels_order() -> None:
    mk = _masked_key(IPV4_KEY)
    out1 = attr(1, U32.pack(1))
    cpl = attr(21, attr(3, out1) + attr(2, b"") + attr(1, b"\x00\x01\0\0"[:2]))
    assert kernel_actions(cpl, mk) == attr(21, attr(1, b"\x00\x01") + attr(3, out1) + attr(2, b""))
    sample = attr(6, attr(2, out1) + attr(1, U32.pack(99)))
    assert kernel_actions(sample, mk) == attr(6, attr(1, U32.pack(99)) + attr(2, out1))
