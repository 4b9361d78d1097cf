"""The tuple-space classifier against an independent matcher (reference.odp.match.Match, written separately).

For random (key, mask) flows and packet keys, the classifier's lookup must
return one of the flows that Match.matches() says the packet hits, and
nothing exactly when none does; masked keys must agree field by field.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.strategies import flow_keys, keys_with_masks
from reference._classifier import TupleSpace, masked_fields, masked_key_bytes, parse_key, parse_mask
from reference.errors import OdpDecodeError
from reference.odp.keys import decode_key
from reference.odp.match import Match


def _nonzero_fields(data: bytes) -> dict[tuple[int, ...], bytes]:
    out: dict[tuple[int, ...], bytes] = {}

    def walk(attrs: object, prefix: tuple[int, ...]) -> None:
        for a in attrs:  # type: ignore[attr-defined]
            path = (*prefix, a.type)
            if a.children is not None:
                walk(a.children, path)
            elif a.payload.strip(b"\0"):
                out[path] = a.payload

    walk(decode_key(data).attrs, ())
    return out


def _perturb(key: bytes, edits: list[tuple[int, int]]) -> bytes:
    """``key`` with some top-level payload bytes replaced (TLV headers kept intact)."""
    payload_positions: list[int] = []
    pos = 0
    while pos + 4 <= len(key):
        length = int.from_bytes(key[pos : pos + 2], "little")
        if length < 4:
            break
        payload_positions.extend(range(pos + 4, min(pos + length, len(key))))
        pos += (length + 3) & ~3
    if not payload_positions:
        return key
    out = bytearray(key)
    for where, value in edits:
        out[payload_positions[where % len(payload_positions)]] = value
    return bytes(out)


@settings(max_examples=80)
@given(
    flows=st.lists(keys_with_masks(compact=True), min_size=1, max_size=6),
    others=st.lists(flow_keys(), max_size=3),
    pick=st.integers(0, 100),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
)
def test_lookup_agrees_with_match(
    flows: list[tuple[bytes, bytes]], others: list[bytes], pick: int, edits: list[tuple[int, int]]
) -> None:
    space: TupleSpace[int] = TupleSpace()
    matches: dict[int, Match] = {}
    for i, (key, mask) in enumerate(flows):
        try:
            pk = parse_key(key)
            ms = parse_mask(mask, pk)
            m = Match.from_netlink(key, mask)
        except OdpDecodeError:
            continue
        masked = masked_fields(pk.leaves, ms)
        if space.get(ms, masked) is not None:
            continue  # same mask and masked key: the datapath refuses the second one
        space.insert(ms, masked, i)
        matches[i] = m
    # packets: the flows' own keys (sure hits), the same keys with a few payload
    # bytes changed (hits or misses depending on the masks), unrelated keys
    base = flows[pick % len(flows)][0]
    packets = [k for k, _ in flows] + [_perturb(base, edits)] + others
    packet = packets[pick % len(packets)] if pick % 3 else packets[len(flows)]
    try:
        leaves = parse_key(packet).leaves
    except OdpDecodeError:
        return
    hit = space.lookup(leaves)
    expected = {i for i, m in matches.items() if m.matches(packet)}
    if expected:
        assert hit in expected
    else:
        assert hit is None


@settings(max_examples=100)
@given(km=keys_with_masks())
def test_masked_key_agrees_with_match(km: tuple[bytes, bytes]) -> None:
    key, mask = km
    try:
        pk = parse_key(key)
        ms = parse_mask(mask, pk)
    except OdpDecodeError:
        return
    ours = masked_key_bytes(pk, ms)
    theirs = Match.from_netlink(key, mask).masked_key
    # attribute layout may differ for wildcarded attributes; the non-zero fields must not
    assert _nonzero_fields(ours) == _nonzero_fields(theirs)
