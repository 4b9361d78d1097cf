"""Memory per flow-cache entry: :class:`reference.odp.Match` vs the netlink key + mask it replaces.

Run with ``pytest tests/benchmarks/test_bench_match.py -s`` to see the
figures (recorded in docs/performance.md). Memory is measured two ways: the
objects' own sizes (``sys.getsizeof``; a Match's layout is shared by every
match of the same shape, so it is amortised over the entries) and the bytes
``tracemalloc`` sees allocated while building N entries. At small N the
tracemalloc figure for Match is inflated by CPython's tuple free lists (up to
2000 freed temporaries stay allocated), so docs/performance.md quotes a
20,000-entry run; the assertion uses the object sizes. The two
``test_bench_from_netlink_*`` benchmarks time :meth:`Match.from_netlink` for
a seen and a new shape (``--benchmark-enable``; no timed assertion).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from reference.odp import Match, parse_flow
from reference.odp import match as match_module

N = 2000


def _exact(i: int) -> str:
    a, b = divmod(i, 250)
    return (
        f"in_port(1),eth(src=00:00:00:00:{a:02x}:{b:02x},dst=00:00:00:00:00:02),eth_type(0x0800),"
        f"ipv4(src=10.0.{a}.{b},dst=10.1.0.1,proto=6,tos=0,ttl=64,frag=no),tcp(src={1000 + i},dst=80)"
    )


def _megaflow(i: int) -> str:
    # As dpif-netdev reports a megaflow (dump-flows -m): most attributes wildcarded.
    a, b = divmod(i, 250)
    return (
        "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),"
        "dp_hash(0/0),in_port(1),packet_type(ns=0/0,id=0/0),eth(src=00:00:00:00:00:00/00:00:00:00:00:00,"
        "dst=00:00:00:00:00:00/00:00:00:00:00:00),eth_type(0x0800),"
        f"ipv4(src=10.0.{a}.{b},dst=0.0.0.0/0.0.0.0,proto=0/0,tos=0/0,ttl=0/0,frag=no)"
    )


def _compact(i: int) -> str:
    a, b = divmod(i, 250)
    return f"recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(src=10.0.{a}.{b},frag=no)"


SHAPES: dict[str, Callable[[int], str]] = {"exact 5-tuple": _exact, "megaflow (-m)": _megaflow, "compact": _compact}


def _traced(build: Callable[[], list[object]]) -> tuple[list[object], int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        objs = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return objs, after - before


@pytest.mark.parametrize("shape", list(SHAPES))
def test_match_memory_per_entry(shape: str) -> None:
    flows = [parse_flow(SHAPES[shape](i)) for i in range(N)]
    pairs = [(f.key, f.mask if f.mask is not None else b"") for f in flows]

    def netlink() -> list[object]:
        # Fresh copies, as a cache entry owns its buffers.
        return [(bytes(bytearray(k)), bytes(bytearray(m))) for k, m in pairs]

    def matches() -> list[object]:
        return [Match.from_netlink(k, m) for k, m in pairs]

    nl_objs, nl_traced = _traced(netlink)
    m_objs, m_traced = _traced(matches)
    k0, m0 = pairs[0]
    nl_own = sys.getsizeof(k0) + sys.getsizeof(m0)
    first = m_objs[0]
    assert isinstance(first, Match)
    match_own = sys.getsizeof(first) + sys.getsizeof(first.data)
    shared_layouts = len({id(m.layout) for m in m_objs if isinstance(m, Match)})
    print(
        f"\n{shape}: netlink key+mask {len(k0) + len(m0)} B of payload; per entry "
        f"netlink objects {nl_own} B vs Match {match_own} B (ratio {match_own / nl_own:.2f}); "
        f"tracemalloc per entry {nl_traced / N:.0f} B vs {m_traced / N:.0f} B "
        f"(ratio {m_traced / nl_traced:.2f}); {shared_layouts} layout(s) for {N} matches"
    )
    # The seed's claim: the same or smaller for simple flows.
    assert match_own <= nl_own
    assert shared_layouts == 1
    # Same information: the match gives back the key (unmasked, byte for byte) and the mask.
    for (key, m), obj in zip(pairs[:50], m_objs[:50], strict=True):
        assert isinstance(obj, Match)
        assert obj.key() == key
        assert obj.mask == m
        assert Match.from_netlink(*obj.to_netlink()) == obj
    del nl_objs


# A typical handler key: 7 attributes, megaflow mask (docs/performance.md, "Match construction").
_SEVEN = (
    "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
    "ipv4(src=10.0.0.1/255.255.255.0,dst=10.1.0.1,proto=6,tos=0/0,ttl=0/0,frag=no),tcp(src=1000/0,dst=80),tcp_flags(0/0)"
)


def test_bench_from_netlink_seen_shape(benchmark: Any) -> None:
    """µs per Match.from_netlink for a key whose shape (framing + mask) was seen before: no schema walk."""
    flow = parse_flow(_SEVEN)
    assert flow.mask is not None
    Match.from_netlink(flow.key, flow.mask)
    m = benchmark(Match.from_netlink, flow.key, flow.mask)
    assert m.key() == flow.key


def test_bench_from_netlink_new_shape(benchmark: Any) -> None:
    """µs per Match.from_netlink for a never-seen shape: validation + schema walk + interning (the old cost)."""
    flow = parse_flow(_SEVEN)
    assert flow.mask is not None

    def build() -> Match:
        match_module._SHAPES.clear()
        return Match.from_netlink(flow.key, flow.mask)

    m = benchmark(build)
    assert m.key() == flow.key
