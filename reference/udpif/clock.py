"""Millisecond clocks for the upcall machinery: the real one and a manual one for tests.

OVS reads ``time_msec()`` everywhere in ofproto-dpif-upcall.c; here every
component takes a :class:`Clock` so that tests and simulations can drive
time explicitly with :class:`ManualClock`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now_ms()``: monotonic milliseconds (never 0 in practice)."""

    def now_ms(self) -> int: ...


class MonotonicClock:
    """``time.monotonic_ns`` in milliseconds, the domain OVS's ``time_msec()`` and the reference datapath use.

    Keep the udpif's clock in the same domain as the datapath's ``used``
    timestamps; ``offset_ms`` shifts it (e.g. to simulate a later start).
    """

    __slots__ = ("_offset",)

    def __init__(self, offset_ms: int = 0) -> None:
        self._offset = offset_ms

    def now_ms(self) -> int:
        return self._offset + time.monotonic_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    __slots__ = ("_lock", "_now")

    def __init__(self, start_ms: int = 1_000_000) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` (>= 0) and return the new time."""
        if ms < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {ms} ms)")
        with self._lock:
            self._now += ms
            return self._now

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms``, which must not be in the past."""
        with self._lock:
            if now_ms < self._now:
                raise ValueError(f"a clock cannot go backwards ({self._now} -> {now_ms})")
            self._now = now_ms
