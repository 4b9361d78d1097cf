"""``Dpif.flow_dump_batches`` and the reference datapath's columnar terse batches.

The oracle is ``flow_dump`` of the same table (an independent code path: it
walks the classifier and builds a record per flow) and, for the default
implementation, plain slicing of a list.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif, DpifFeatures, DpifFlow, DpifInvalid, FlowStats, TerseBatch
from reference.uapi import UfidFlags
from reference.ufid import Ufid
from tests.reference._flowbuild import ipv4_key, output

MODES = [("kernel", True), ("netdev", True), ("kernel", False)]


def wire(i: int) -> bytes:
    return (i * 0x9E3779B97F4A7C15 % (1 << 128)).to_bytes(16, "little")


def record(f: DpifFlow) -> tuple[object, ...]:
    return (f.ufid_bytes, f.ufid, f.ufid_present, f.key, f.mask, f.actions, f.stats)


def ufid_for(semantics: str, i: int) -> bytes | None:
    """Kernel tables mix key-identified flows and 5-byte UFIDs among 16-byte ones."""
    if semantics == "kernel" and i % 7 == 0:
        return None
    if semantics == "kernel" and i % 11 == 0:
        return wire(i)[:5]
    return wire(i)


def agree(dp: Dpif, max_flows: int) -> None:
    for terse in (True, False):
        want = Counter(record(f) for f in dp.flow_dump(terse=terse))
        batches = list(dp.flow_dump_batches(terse=terse, max_flows=max_flows))
        assert all(1 <= len(b) <= max_flows for b in batches), [len(b) for b in batches]
        assert Counter(record(f) for b in batches for f in b) == want
        for b in batches:
            if isinstance(b, TerseBatch):
                assert terse and len(b.ufids) == 16 * len(b)
                assert all((f.key, f.mask, f.actions) == (None, None, None) for f in b)


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    n=st.integers(0, 160),
    deletes=st.lists(st.integers(0, 159), max_size=80),
    refill=st.integers(0, 40),
    traffic=st.lists(st.tuples(st.integers(0, 159), st.integers(1, 3)), max_size=20),
    max_flows=st.sampled_from([1, 2, 7, 50, 1000]),
)
def test_batches_equal_flow_dump(  # noqa: PLR0917 - one argument per drawn value
    mode: tuple[str, bool],
    n: int,
    deletes: list[int],
    refill: int,
    traffic: list[tuple[int, int]],
    max_flows: int,
) -> None:
    semantics, support = mode
    dp = ReferenceDatapath(semantics=semantics, ufid_support=support)  # type: ignore[arg-type]
    installed: dict[int, tuple[bytes, bytes | None]] = {}
    for i in range(1, n + 1):
        key, u = ipv4_key(sport=i), ufid_for(semantics, i)
        dp.flow_put(key, None, output(2), ufid=u)
        installed[i] = (key, u)
    for d in deletes:  # holes in the slot columns
        if d + 1 in installed:
            key, u = installed.pop(d + 1)
            dp.flow_del(ufid=u, key=key)
    for i in range(1000, 1000 + refill):  # reuse of freed slots
        dp.flow_put(ipv4_key(sport=i), None, output(2), ufid=ufid_for(semantics, i))
    for j, (i, count) in enumerate(traffic):  # stats through the slots, as inject credits them
        flows = list(dp._table)
        if flows:
            flow = flows[i % len(flows)]
            flow.n_packets += count
            flow.n_bytes += 60 * count
            flow.used = 1000 + j
            flow.tcp_flags |= 0x1_02 if j % 2 else 0x10
    agree(dp, max_flows)


@pytest.mark.parametrize(("semantics", "support"), MODES)
def test_kernel_reports_the_tcp_flags_u8_and_netdev_all_bits(semantics: str, support: bool) -> None:
    dp = ReferenceDatapath(semantics=semantics, ufid_support=support)  # type: ignore[arg-type]
    dp.flow_put(ipv4_key(sport=1), None, output(2), ufid=wire(1))
    (flow,) = dp._table
    flow.tcp_flags = 0x1_12
    (batch,) = dp.flow_dump_batches(terse=True)
    want = 0x1_12 if semantics == "netdev" else 0x12
    assert [f.stats.tcp_flags for f in batch] == [want]


def test_a_flow_installed_throughout_the_dump_is_dumped_exactly_once() -> None:
    dp = ReferenceDatapath()
    for i in range(1, 301):
        dp.flow_put(ipv4_key(sport=i), None, output(2), ufid=wire(i))
    stay = {wire(i) for i in range(1, 301) if i % 3}
    rng = random.Random(5)
    seen: list[bytes] = []
    extra = 1000
    for k, batch in enumerate(dp.flow_dump_batches(terse=True, max_flows=20)):
        seen += [f.ufid_bytes or b"" for f in batch]
        if k >= 10:
            continue  # (flows added after every batch would keep a dump going for ever, here as in the kernel)
        # Between batches: delete a flow that is not kept, add new ones (they may reuse its slot).
        victims = [i for i in range(1, 301) if i % 3 == 0]
        i = rng.choice(victims)
        if dp._by_ufid.get(wire(i)) is not None:
            dp.flow_del(ufid=wire(i))
        for _ in range(2):
            extra += 1
            dp.flow_put(ipv4_key(sport=extra), None, output(2), ufid=wire(extra))
    counts = Counter(seen)
    assert all(counts[u] == 1 for u in stay)
    assert all(c == 1 for c in counts.values())


def test_flush_during_a_batched_dump_ends_it() -> None:
    dp = ReferenceDatapath()
    for i in range(1, 101):
        dp.flow_put(ipv4_key(sport=i), None, output(2), ufid=wire(i))
    it = dp.flow_dump_batches(terse=True, max_flows=10)
    assert len(next(it)) == 10
    dp.flow_flush()
    for i in range(500, 560):  # enough to refill the slots past the dump's position
        dp.flow_put(ipv4_key(sport=i), None, output(2), ufid=wire(i))
    assert list(it) == []


def test_columns_grow_past_their_first_capacity() -> None:
    dp = ReferenceDatapath(semantics="netdev")
    for i in range(1, 2501):  # the columns start with 1024 slots
        dp.flow_put(ipv4_key(sport=i), None, output(2), ufid=wire(i))
    agree(dp, 50)
    assert sum(len(b) for b in dp.flow_dump_batches(terse=True)) == 2500


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "50", None])
def test_max_flows_must_be_a_positive_int(bad: object) -> None:
    dp = ReferenceDatapath()
    for terse in (True, False):
        with pytest.raises(DpifInvalid):
            dp.flow_dump_batches(terse=terse, max_flows=bad)  # type: ignore[arg-type]


class _ListDpif(Dpif):
    """The smallest Dpif: a fixed dump, and a record of whether the dump was closed."""

    def __init__(self, n: int) -> None:
        self.flows = [
            DpifFlow(Ufid.from_wire(wire(i)), True, None, None, None, FlowStats(i, 2 * i, 0, 0), wire(i))
            for i in range(n)
        ]
        self.closed = False

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        try:
            yield from self.flows
        finally:
            self.closed = True

    def flow_put(self, *a: object, **k: object) -> FlowStats:
        raise NotImplementedError

    def flow_get(self, **k: object) -> DpifFlow:
        raise NotImplementedError

    def flow_del(self, **k: object) -> FlowStats:
        raise NotImplementedError

    def flow_flush(self) -> None:
        raise NotImplementedError

    @property
    def features(self) -> DpifFeatures:
        return DpifFeatures(True, UfidFlags.TERSE, 16, "generic")


@pytest.mark.parametrize(("n", "max_flows"), [(0, 1), (1, 1), (5, 2), (50, 50), (51, 50), (7, 100)])
def test_default_batches_are_slices_of_flow_dump(n: int, max_flows: int) -> None:
    dpif = _ListDpif(n)
    got = list(dpif.flow_dump_batches(terse=True, max_flows=max_flows))
    assert got == [dpif.flows[i : i + max_flows] for i in range(0, n, max_flows)]


def test_default_batches_close_the_dump_when_abandoned() -> None:
    dpif = _ListDpif(10)
    it = dpif.flow_dump_batches(terse=True, max_flows=3)
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert dpif.closed


def test_terse_batch_records_and_column_checks() -> None:
    ufids = wire(1) + wire(2)
    batch = TerseBatch(ufids, array("Q", [1, 2]), array("Q", [60, 120]), array("Q", [0, 7]), b"\x00\x12")
    assert len(batch) == 2
    assert batch[1] == DpifFlow(Ufid.from_wire(wire(2)), True, None, None, None, FlowStats(2, 120, 7, 0x12), wire(2))
    assert batch[-2] == batch[0] == next(iter(batch))
    assert batch.ufid_bytes(1) == wire(2) and batch.stats(0) == FlowStats(1, 60, 0, 0)
    assert batch[1:] == [batch[1]] and batch[::-1] == [batch[1], batch[0]] and list(reversed(batch)) == batch[::-1]
    with pytest.raises(IndexError):
        batch[2]
    with pytest.raises(DpifInvalid, match="disagree"):
        TerseBatch(ufids[:-1], [1, 2], [1, 2], [1, 2], [1, 2])
    with pytest.raises(DpifInvalid, match="disagree"):
        TerseBatch(ufids, [1, 2], [1], [1, 2], [1, 2])
