"""Clocks: the manual one only moves forward; the monotonic one is in time_msec()'s domain."""

from __future__ import annotations

import time

import pytest

from reference.udpif import Clock, ManualClock, MonotonicClock


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(500)
    assert isinstance(clock, Clock)
    assert clock.now_ms() == 500
    assert clock.advance(25) == 525
    clock.set(600)
    assert clock.now_ms() == 600
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(599)
    assert clock.now_ms() == 600


def test_monotonic_clock_is_time_monotonic_in_ms() -> None:
    clock = MonotonicClock()
    before = time.monotonic_ns() // 1_000_000
    now = clock.now_ms()
    after = time.monotonic_ns() // 1_000_000
    assert before <= now <= after
    assert MonotonicClock(offset_ms=1000).now_ms() >= now + 1000
