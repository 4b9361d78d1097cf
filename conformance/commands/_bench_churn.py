"""The churn experiment of ``ufidcert bench``: flows kept under the dynamic flow limit, simulated.

Each round lasts what the measured rounds say a round over that many flows
costs (:class:`CostModel`, a linear fit per dump mode, plus the measured
extra cost of a flow a round sees for the first time); see :func:`simulate_churn`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.errors import UsageError
from reference.udpif import FlowLimit
from reference.udpif.config import (
    OFPROTO_FLOW_LIMIT_DEFAULT,
    OFPROTO_MAX_IDLE_DEFAULT,
    OFPROTO_MAX_REVALIDATOR_DEFAULT,
    OVER_LIMIT_MAX_IDLE_MS,
)

__all__ = ["ChurnResult", "CostModel", "downsample", "simulate_churn"]


@dataclass(frozen=True, slots=True)
class CostModel:
    """Round duration as a linear function of the flow count, fitted to measured rounds.

    ``first_sight_us`` is what a flow costs in the first round that sees it
    in this mode instead of ``per_flow_us`` (the ukey's move to OPERATIONAL
    through the per-flow path; for a full dump also the datapath's first
    rendering of its key and mask). None: the same as ``per_flow_us``.
    """

    base_ms: float
    per_flow_us: float
    first_sight_us: float | None = None

    def duration_ms(self, n_flows: int, n_new: int = 0) -> float:
        """A round over ``n_flows`` flows, ``n_new`` of them seen for the first time."""
        first = self.per_flow_us if self.first_sight_us is None else self.first_sight_us
        old = max(n_flows - n_new, 0)
        return max(self.base_ms + (self.per_flow_us * old + first * (n_flows - old)) / 1000.0, 0.0)

    def with_first_sight(self, n_flows: int, n_new: int, measured_ms: float) -> CostModel:
        """This model plus the first-sight cost implied by one measured round.

        The round covered ``n_flows`` flows, ``n_new`` of them new, and lasted ``measured_ms``.

        The rest of the round is taken at the model's base and per-flow cost; a negative remainder counts as 0.
        """
        if n_new < 1:
            raise UsageError("a first-sight cost needs a round with new flows")
        rest_ms = self.base_ms + self.per_flow_us * (n_flows - n_new) / 1000.0
        return CostModel(self.base_ms, self.per_flow_us, max((measured_ms - rest_ms) * 1000.0 / n_new, 0.0))

    @classmethod
    def fit(cls, points: Sequence[tuple[int, float]]) -> CostModel:
        """Least squares through ``(flows, ms)`` points (a single point: through the origin)."""
        if not points:
            raise UsageError("no measured rounds to fit a cost model to")
        if len(points) == 1:
            n, ms = points[0]
            return cls(0.0, 1000.0 * ms / max(n, 1))
        xs = [float(n) for n, _ in points]
        ys = [ms for _, ms in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
        return cls(my - slope * mx, slope * 1000.0)


@dataclass(frozen=True, slots=True)
class ChurnResult:
    """One mode's simulated run: time series and the flows sustained at the end."""

    mode: str
    sustained_flows: int
    final_limit: int
    times_s: tuple[float, ...]
    flows: tuple[int, ...]
    limits: tuple[int, ...]


def simulate_churn(
    model: CostModel,
    *,
    mode: str,
    seconds: float = 300.0,
    arrival_per_s: int = 40_000,
    active_ms: int = 1_000,
    max_idle: int = OFPROTO_MAX_IDLE_DEFAULT,
    max_revalidator: int = OFPROTO_MAX_REVALIDATOR_DEFAULT,
    flow_cap: int = OFPROTO_FLOW_LIMIT_DEFAULT,
) -> ChurnResult:
    """The series' churn experiment, as a simulation driven by a measured round cost.

    New flows arrive at ``arrival_per_s`` (more than any mode can keep),
    carry packets for ``active_ms`` and then go idle. Handlers install an
    arrival only while the flow count is below the dynamic limit. Rounds
    follow ``udpif_revalidator``: a round over ``n`` flows lasts
    ``model.duration_ms(n)``; the next starts ``max_revalidator`` ms after
    the previous start (or at once if the round took longer); the flows
    installed since the previous round are new to it (``first_sight_us``).
    At its dump a round deletes flows idle for more than ``max_idle`` (100 ms when above
    the limit, every flow when above twice the limit), then the real
    :class:`FlowLimit` adapts to the duration. Sustained = mean flow count
    over the last third of the run. CPU contention between handlers and
    revalidators is not modelled.
    """
    limit = FlowLimit(flow_cap)
    cohorts: list[list[int]] = []  # [count, created_ms]; last used = created + active_ms
    t = 0.0
    n = 0
    n_new = 0  # installed since the previous round
    times: list[float] = []
    flows: list[int] = []
    limits: list[int] = []
    end = seconds * 1000.0
    while t < end:
        n_start = n
        duration = max(int(model.duration_ms(n_start, n_new) + 0.5), 1)
        current = limit.value
        kill_all = n_start > 2 * current
        idle = OVER_LIMIT_MAX_IDLE_MS if n_start > current else max_idle
        now = t + duration / 2.0  # flows are looked at, on average, halfway through the dump
        kept: list[list[int]] = []
        for cohort in cohorts:
            last_used = cohort[1] + active_ms
            if kill_all or last_used < now - idle:
                n -= cohort[0]
            else:
                kept.append(cohort)
        cohorts = kept
        limit.after_dump(duration, n_start)
        step = max(float(duration), float(max_revalidator))
        # Handlers run meanwhile; they install while the count is under the limit.
        arrivals = int(arrival_per_s * step / 1000.0)
        room = max(0, limit.value - n)
        admitted = n_new = min(arrivals, room)
        if admitted:
            cohorts.append([admitted, int(t + step / 2.0)])
            n += admitted
        t += step
        times.append(t / 1000.0)
        flows.append(n)
        limits.append(limit.value)
    tail = [f for tt, f in zip(times, flows, strict=True) if tt >= seconds * 2 / 3]
    sustained = int(statistics.fmean(tail)) if tail else n
    return ChurnResult(mode, sustained, limit.value, tuple(times), tuple(flows), tuple(limits))


def downsample(result: ChurnResult, points: int = 120) -> list[list[float]]:
    stride = max(1, len(result.times_s) // points)
    return [
        [round(result.times_s[i], 2), result.flows[i], result.limits[i]] for i in range(0, len(result.times_s), stride)
    ]
