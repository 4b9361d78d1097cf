"""The dynamic flow limit that revalidators adapt after every dump.

Reproduces the leader's block at the end of ``udpif_revalidator()`` in
ofproto/ofproto-dpif-upcall.c: a slow dump shrinks the number of flows
handlers may install, a fast one grows it by 1000 per round. Pure integer
arithmetic, no clock: callers pass the measured duration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

from reference.errors import UfidcertInputError
from reference.udpif.config import (
    DUMP_FAST_MS,
    DUMP_SLOW_MS,
    DUMP_TOO_SLOW_MS,
    FLOW_LIMIT_FLOOR,
    FLOW_LIMIT_INITIAL_MAX,
    FLOW_LIMIT_STEP,
    OFPROTO_FLOW_LIMIT_DEFAULT,
)

__all__ = ["FlowLimit", "LimitChange", "LimitDecision", "adapt_flow_limit", "initial_flow_limit"]


class LimitChange(Enum):
    """Which branch of the adaptation fired (OVS counts them as coverage counters)."""

    SCALED = "upcall_flow_limit_scaled"  # duration > 2000 ms: divided by whole seconds
    REDUCED = "upcall_flow_limit_reduced"  # duration > 1300 ms: times 3/4
    GREW = "upcall_flow_limit_grew"  # duration < 1000 ms and more flows would fit: +1000
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """The outcome of one adaptation: the new limit, the branch taken and the duration used (>= 1 ms)."""

    limit: int
    change: LimitChange
    duration_ms: int


def initial_flow_limit(ofproto_flow_limit: int = OFPROTO_FLOW_LIMIT_DEFAULT) -> int:
    """``udpif->flow_limit`` at creation: MIN(ofproto_flow_limit, 10000)."""
    return min(ofproto_flow_limit, FLOW_LIMIT_INITIAL_MAX)


def adapt_flow_limit(
    flow_limit: int, duration_ms: int, n_flows: int, ofproto_flow_limit: int = OFPROTO_FLOW_LIMIT_DEFAULT
) -> LimitDecision:
    """The flow limit after a dump that took ``duration_ms`` with ``n_flows`` datapath flows at its start.

    ``duration_ms`` is clamped to at least 1 (OVS: ``MAX(now - start, 1)``);
    divisions are C unsigned integer divisions.
    """
    for name, value in (("flow_limit", flow_limit), ("n_flows", n_flows), ("ofproto_flow_limit", ofproto_flow_limit)):
        if value < 0:
            raise UfidcertInputError(f"adapt_flow_limit: {name} must be >= 0, got {value}")
    duration = max(duration_ms, 1)
    change = LimitChange.UNCHANGED
    if duration > DUMP_TOO_SLOW_MS:
        flow_limit //= duration // 1000
        change = LimitChange.SCALED
    elif duration > DUMP_SLOW_MS:
        flow_limit = flow_limit * 3 // 4
        change = LimitChange.REDUCED
    elif duration < DUMP_FAST_MS and flow_limit < n_flows * 1000 // duration:
        flow_limit += FLOW_LIMIT_STEP
        change = LimitChange.GREW
    return LimitDecision(min(ofproto_flow_limit, max(flow_limit, FLOW_LIMIT_FLOOR)), change, duration)


class FlowLimit:
    """The shared, thread-safe dynamic limit of one udpif (``udpif->flow_limit``).

    Handlers read :attr:`value`; the revalidator leader calls :meth:`after_dump`.
    ``set_cap`` is ``upcall/set-flow-limit`` (it changes ``ofproto_flow_limit``;
    the dynamic value follows at the next dump, as in OVS).
    """

    __slots__ = ("_cap", "_lock", "_value", "history")

    def __init__(self, cap: int = OFPROTO_FLOW_LIMIT_DEFAULT) -> None:
        if cap < 1:
            raise UfidcertInputError(f"flow limit must be >= 1, got {cap}")
        self._cap = cap
        self._value = initial_flow_limit(cap)
        self._lock = threading.Lock()
        self.history: list[LimitDecision] = []

    @property
    def value(self) -> int:
        return self._value

    @property
    def cap(self) -> int:
        return self._cap

    def set_cap(self, cap: int) -> None:
        """``upcall/set-flow-limit N``: the new ceiling for the dynamic limit."""
        if cap < 1:
            raise UfidcertInputError(f"flow limit must be >= 1, got {cap}")
        self._cap = cap

    def reset(self, value: int) -> None:
        """Set the dynamic value directly (clamped to [1, cap]): a simulation's or benchmark's starting point,
        as if the limit had already grown there. OVS itself only moves it in :meth:`after_dump`."""
        with self._lock:
            self._value = max(1, min(value, self._cap))

    def after_dump(self, duration_ms: int, n_flows: int) -> LimitDecision:
        """Adapt after a dump (see :func:`adapt_flow_limit`) and remember the decision in :attr:`history`."""
        with self._lock:
            decision = adapt_flow_limit(self._value, duration_ms, n_flows, self._cap)
            self._value = decision.limit
            self.history.append(decision)
            return decision
