"""Tests for reference.odp.match: Match from/to netlink, masked key, matches().

The oracle here is a deliberately naive second implementation of the
kernel's masked comparison (flow_table.c ovs_flow_cmp_masked_key) written
directly on netlink attributes: find each attribute by type, AND with the
mask, compare.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import keys_with_masks
from reference._netlink import iter_attrs, pack_attr, split_attrs
from reference.errors import OdpDecodeError
from reference.odp import Match, parse_flow
from reference.uapi import KeyAttr, TunnelKeyAttr
from tests.reference.odp.test_keys import kernel_upcall_keys

# Nested attribute types per level: key (and encap) level, tunnel level, vxlan level.
_NESTED: dict[str, dict[int, str]] = {
    "key": {KeyAttr.ENCAP: "key", KeyAttr.TUNNEL: "tunnel"},
    "tunnel": {TunnelKeyAttr.VXLAN_OPTS: "vxlan"},
}


def _inner(t: int, level: str) -> str | None:
    return _NESTED.get(level, {}).get(t)


def _masked(key: bytes, mask: bytes, level: str = "key") -> bytes:
    """key & mask attribute by attribute (mask attributes found by type; absent = zero)."""
    masks = dict(reversed(split_attrs(mask)))
    out = []
    for t, p in split_attrs(key):
        m = masks.get(t)
        inner = _inner(t, level)
        if inner is not None:
            out.append(pack_attr(t, _masked(p, m if m is not None else b"", inner)))
        elif m is None:
            out.append(pack_attr(t, bytes(len(p))))
        else:
            out.append(pack_attr(t, bytes(a & b for a, b in zip(p, m, strict=True))))
    return b"".join(out)


def _naive_matches(key: bytes, mask: bytes, packet: bytes, level: str = "key") -> bool:
    pk = dict(reversed(split_attrs(packet)))
    masks = dict(reversed(split_attrs(mask)))
    for t, p in split_attrs(key):
        m = masks.get(t)
        if m is None:
            continue
        got = pk.get(t)
        inner = _inner(t, level)
        if inner is not None:
            if not _naive_matches(p, m, got or b"", inner):
                return False
        elif not p:
            if got is None:
                return False
        else:
            g = (got or b"").ljust(len(p), b"\0")
            if any((a & c) != (b & c) for a, b, c in zip(g, p, m, strict=False)):
                return False
    # Flag attributes present in the mask but not the key must be absent.
    keytypes = {t for t, _ in split_attrs(key)}
    return not any(not mp and t not in keytypes and t in pk for t, mp in split_attrs(mask))


def _packet_for(key: bytes, mask: bytes, rnd: random.Random, level: str = "key") -> bytes:
    """An exact packet key inside the match: masked bits from the key, the rest random."""
    masks = dict(reversed(split_attrs(mask)))
    out = []
    for t, p in split_attrs(key):
        m = masks.get(t)
        inner = _inner(t, level)
        if inner is not None:
            out.append(pack_attr(t, _packet_for(p, m if m is not None else b"", rnd, inner)))
            continue
        m = m if m is not None else bytes(len(p))
        noise = bytes(rnd.getrandbits(8) for _ in p)
        out.append(pack_attr(t, bytes((a & c) | (n & ~c & 0xFF) for a, c, n in zip(p, m, noise, strict=True))))
    return b"".join(out)


@given(keys_with_masks())
def test_round_trip_and_masked_key(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    m = Match.from_netlink(key, mask)
    assert m.mask == mask
    assert m.masked_key == _masked(key, mask)
    assert m.to_netlink() == (m.masked_key, m.mask)
    assert Match.from_netlink(*m.to_netlink()) == m
    # The same shape shares one layout object.
    assert Match.from_netlink(key, mask).layout is m.layout


@given(keys_with_masks(), st.randoms(use_true_random=False))
def test_packets_inside_the_match_match(pair: tuple[bytes, bytes], rnd: random.Random) -> None:
    key, mask = pair
    packet = _packet_for(key, mask, rnd)
    assert _naive_matches(key, mask, packet)
    assert Match.from_netlink(key, mask).matches(packet)


@given(keys_with_masks(), st.randoms(use_true_random=False), st.data())
def test_matches_agrees_with_naive_comparison(
    pair: tuple[bytes, bytes], rnd: random.Random, data: st.DataObject
) -> None:
    key, mask = pair
    packet = bytearray(_packet_for(key, mask, rnd))
    # Flip a few bits anywhere in the payloads (headers stay intact enough or
    # the packet key is rejected as malformed, which we skip).
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, len(packet) - 1))
        packet[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        got = Match.from_netlink(key, mask).matches(bytes(packet))
    except OdpDecodeError:
        return
    assert got == _naive_matches(key, mask, bytes(packet))


@given(keys_with_masks())
def test_without_mask_every_attribute_is_exact(pair: tuple[bytes, bytes]) -> None:
    key, _ = pair
    m = Match.from_netlink(key)
    assert m.masked_key == key
    assert m.matches(key)


def test_flipping_a_masked_bit_misses() -> None:
    flow = parse_flow("in_port(1),eth(),eth_type(0x0800),ipv4(src=10.0.0.0/255.0.0.0,frag=no)")
    assert flow.mask is not None
    m = Match.from_netlink(flow.key, flow.mask)
    hit = parse_flow(
        "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
        "ipv4(src=10.9.8.7,dst=1.1.1.1,proto=17,tos=0,ttl=9,frag=no)",
        with_mask=False,
    ).key
    assert m.matches(hit)
    assert not m.matches(hit.replace(bytes([10, 9, 8, 7]), bytes([11, 9, 8, 7])))
    assert not m.matches(hit.replace(pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0"), pack_attr(KeyAttr.IN_PORT, b"\2\0\0\0")))


def test_missing_attribute_counts_as_zero() -> None:
    # vlan(tci=0/0x1000) is "no VLAN tag": a packet without vlan() matches.
    key = pack_attr(KeyAttr.VLAN, b"\0\0")
    mask = pack_attr(KeyAttr.VLAN, b"\x10\x00")
    m = Match.from_netlink(key, mask)
    assert m.matches(pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0"))
    assert not m.matches(pack_attr(KeyAttr.VLAN, b"\x10\x05"))


def test_bad_input() -> None:
    key = pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0")
    with pytest.raises(OdpDecodeError):
        Match.from_netlink(key, pack_attr(KeyAttr.IN_PORT, b"\xff\xff"))
    with pytest.raises(OdpDecodeError):
        Match.from_netlink(b"\x05\x00")
    with pytest.raises(OdpDecodeError):
        Match.from_netlink(key).matches(b"\x01")
    with pytest.raises(OdpDecodeError):
        Match.from_netlink("in_port(1)")  # type: ignore[arg-type]
    with pytest.raises(OdpDecodeError):
        Match.from_netlink(key, 5)  # type: ignore[arg-type]


def test_linux_upcall_keys_as_exact_matches() -> None:
    # Keys the real Linux 6.1 module sent (IPV6_EXTHDRS, empty MPLS stacks...).
    keys = kernel_upcall_keys()
    for key in keys:
        m = Match.from_netlink(key)
        assert m.masked_key == key
        assert m.matches(key)
        assert Match.from_netlink(*m.to_netlink()) == m
    # Distinct keys do not match each other, as the naive comparison says.
    rnd = random.Random(7)
    for key, other in zip(keys, rnd.sample(keys, len(keys)), strict=True):
        _, full = Match.from_netlink(key).to_netlink()
        assert Match.from_netlink(key).matches(other) == _naive_matches(key, full, other)


# --- the unmasked key (Match.key) and the layout cache ---


def _renoise(key: bytes, rnd: random.Random) -> bytes:
    """``key`` with every leaf payload byte replaced by noise, framing (headers, padding) kept."""
    out = bytearray(key)
    stack = [(0, key, "key")]
    while stack:
        base, data, level = stack.pop()
        for t, p, off in iter_attrs(data):
            start = base + off + 4
            inner = _inner(t, level)
            if inner is not None:
                stack.append((start, p, inner))
                continue
            out[start : start + len(p)] = bytes(rnd.getrandbits(8) for _ in p)
    return bytes(out)


@given(keys_with_masks())
def test_key_gives_back_the_unmasked_key(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    assert Match.from_netlink(key, mask).key() == key
    assert Match.from_netlink(key).key() == key
    # Built again (now from the cached layout): still the same bytes.
    assert Match.from_netlink(key, mask).key() == key


@given(keys_with_masks(), st.randoms(use_true_random=False))
def test_seen_shape_with_other_payloads(pair: tuple[bytes, bytes], rnd: random.Random) -> None:
    key, mask = pair
    first = Match.from_netlink(key, mask)
    other = _renoise(key, rnd)
    try:
        m = Match.from_netlink(other, mask)
    except OdpDecodeError:
        return  # noise made a nested payload malformed
    assert m.key() == other
    assert m.masked_key == _masked(other, mask)
    assert m.mask == mask
    assert (m == first) == (_masked(other, mask) == _masked(key, mask))


def test_key_keeps_non_canonical_padding() -> None:
    # eth_type has 2 bytes of payload and 2 of padding; the padding here is
    # not zero. The key must come back as given (the UFID hashes these bytes).
    key = pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0") + b"\x06\x00" + bytes([KeyAttr.ETHERTYPE, 0]) + b"\x08\x00\xab\xcd"
    assert split_attrs(key)[1] == (KeyAttr.ETHERTYPE, b"\x08\x00")
    canonical = pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0") + pack_attr(KeyAttr.ETHERTYPE, b"\x08\x00")
    m, c = Match.from_netlink(key), Match.from_netlink(canonical)
    assert m.key() == key
    assert c.key() == canonical
    assert m.matches(canonical)


def test_linux_upcall_keys_give_back_the_key() -> None:
    for key in kernel_upcall_keys():
        assert Match.from_netlink(key).key() == key
