"""The dynamic flow limit: OVS's arithmetic, scripted dump durations, and the thresholds' edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.errors import UfidcertInputError
from reference.udpif.flow_limit import FlowLimit, LimitChange, adapt_flow_limit, initial_flow_limit


def ovs_adapt(limit: int, duration: int, n_flows: int, cap: int) -> int:
    """udpif_revalidator()'s block, transcribed with C unsigned integer division."""
    duration = max(duration, 1)
    if duration > 2000:
        limit = limit // (duration // 1000)
    elif duration > 1300:
        limit = limit * 3 // 4
    elif duration < 1000 and limit < n_flows * 1000 // duration:
        limit += 1000
    return min(cap, max(limit, 1000))


@given(
    limit=st.integers(0, 2**32 - 1),
    duration=st.one_of(st.integers(-5, 5000), st.sampled_from([999, 1000, 1001, 1299, 1300, 1301, 1999, 2000, 2001])),
    n_flows=st.integers(0, 10**6),
    cap=st.integers(1, 10**6),
)
def test_matches_ovs_transcription(limit: int, duration: int, n_flows: int, cap: int) -> None:
    decision = adapt_flow_limit(limit, duration, n_flows, cap)
    assert decision.limit == ovs_adapt(limit, duration, n_flows, cap)
    assert 1 <= min(1000, cap) <= decision.limit <= cap
    assert decision.duration_ms == max(duration, 1)


@pytest.mark.parametrize(
    ("limit", "duration", "n_flows", "expected", "change"),
    [
        (10000, 2500, 5000, 5000, LimitChange.SCALED),  # 2.5 s -> divided by 2 whole seconds
        (10000, 3999, 5000, 3333, LimitChange.SCALED),
        (10000, 2000, 5000, 7500, LimitChange.REDUCED),  # exactly 2000 is not "> 2000"
        (10000, 1301, 5000, 7500, LimitChange.REDUCED),
        (10000, 1300, 50000, 10000, LimitChange.UNCHANGED),  # 1000..1300 ms: hold
        (10000, 1000, 50000, 10000, LimitChange.UNCHANGED),
        (10000, 999, 50000, 11000, LimitChange.GREW),
        (10000, 500, 5001, 11000, LimitChange.GREW),  # 5001 flows in 500 ms -> 10002 > 10000
        (10000, 500, 5000, 10000, LimitChange.UNCHANGED),  # 10000 does not exceed the limit
        (1200, 1800, 0, 1000, LimitChange.REDUCED),  # floor
        (199500, 10, 10**6, 200000, LimitChange.GREW),  # cap
    ],
)
def test_thresholds(limit: int, duration: int, n_flows: int, expected: int, change: LimitChange) -> None:
    decision = adapt_flow_limit(limit, duration, n_flows)
    assert (decision.limit, decision.change) == (expected, change)


def test_initial_limit() -> None:
    assert initial_flow_limit() == 10000
    assert initial_flow_limit(4000) == 4000
    assert FlowLimit().value == 10000
    assert FlowLimit(2500).value == 2500


def test_scripted_durations_drive_the_shared_limit() -> None:
    limit = FlowLimit()
    script = [(100, 20000), (100, 20000), (1500, 20000), (2600, 20000), (1100, 20000), (50, 0)]
    expected = [11000, 12000, 9000, 4500, 4500, 4500]
    assert [limit.after_dump(d, n).limit for d, n in script] == expected
    assert [d.limit for d in limit.history] == expected


def test_set_cap_applies_at_next_dump() -> None:
    limit = FlowLimit()
    limit.set_cap(3000)
    assert limit.value == 10000
    assert limit.after_dump(1100, 0).limit == 3000


def test_bad_arguments() -> None:
    with pytest.raises(UfidcertInputError):
        adapt_flow_limit(-1, 10, 0)
    with pytest.raises(UfidcertInputError):
        FlowLimit(0)
