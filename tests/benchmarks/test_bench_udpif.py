"""Udpif benchmarks: one revalidation round terse vs full, handler throughput, and the bench report.

``tox -e bench`` runs these with pytest-benchmark enabled over
UFIDCERT_BENCH_UDPIF_FLOWS flows (default 160,000: the series' figure; this
takes a few minutes). With benchmarks disabled (the normal test run) the same
code runs once over a few hundred flows. Nothing here asserts on time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

import pytest

from conformance.commands.bench import frame_for, measure_revalidation
from reference._netlink import pack_attr
from reference.datapath import ReferenceDatapath
from reference.uapi import ActionAttr
from reference.udpif import MonotonicClock, RuleTable, UdpifConfig
from reference.udpif.udpif import Udpif

FLOWS = int(os.environ.get("UFIDCERT_BENCH_UDPIF_FLOWS", "160000"))


def _enabled(benchmark: object) -> bool:
    return not getattr(benchmark, "disabled", False)


def _build(n: int) -> tuple[ReferenceDatapath, Udpif]:
    clock = MonotonicClock()
    dp = ReferenceDatapath(clock=clock.now_ms, max_upcalls=1 << 30)
    p_in, p_out = dp.port_add("in"), dp.port_add("out")
    rules = RuleTable()
    rules.add(10, [], pack_attr(ActionAttr.OUTPUT, p_out.to_bytes(4, "little")))
    config = UdpifConfig(flow_limit=max(2 * n, 1000), max_idle=3_600_000, enable_megaflows=False)
    udpif = Udpif(dp, rules, config=config, clock=clock, ufid_supported=True)
    udpif.flow_limit.reset(config.flow_limit)
    for start in range(0, n, 4096):
        for i in range(start, min(n, start + 4096)):
            dp.inject(p_in, frame_for(i))
        udpif.flow_limit.reset(config.flow_limit)
        udpif.handle_upcalls()
    return dp, udpif


@pytest.fixture(scope="module")
def installed(request: pytest.FixtureRequest) -> Iterator[tuple[ReferenceDatapath, Udpif]]:
    # pytest-benchmark: --benchmark-enable (tox -e bench) overrides the --benchmark-disable of addopts.
    disabled = request.config.getoption("benchmark_disable", default=True) and not request.config.getoption(
        "benchmark_enable", default=False
    )
    yield _build(300 if disabled else FLOWS)


@pytest.mark.parametrize("terse", [True, False], ids=["terse", "full"])
def test_bench_revalidation_round(
    benchmark: pytest.FixtureRequest, installed: tuple[ReferenceDatapath, Udpif], terse: bool
) -> None:
    dp, udpif = installed
    udpif.enable_ufid = terse

    def one_round() -> int:
        udpif.flow_limit.reset(udpif.config.flow_limit)  # keep slow rounds from shrinking it below the table
        return udpif.revalidate().n_dumped

    n = benchmark.pedantic(one_round, rounds=3 if _enabled(benchmark) else 1, warmup_rounds=1)  # type: ignore[attr-defined]
    assert n == len(dp) == len(udpif.ukeys)
    assert udpif.rounds[-1].terse is terse
    benchmark.extra_info["flows"] = n  # type: ignore[attr-defined]


def test_bench_terse_vs_full_side_by_side(
    benchmark: pytest.FixtureRequest, installed: tuple[ReferenceDatapath, Udpif]
) -> None:
    """Both modes in alternating blocks within one test: the ratio is the figure that matters."""
    _dp, udpif = installed
    times: dict[bool, list[float]] = {True: [], False: []}

    def block() -> None:
        for terse in (True, False, False, True):
            udpif.enable_ufid = terse
            udpif.flow_limit.reset(udpif.config.flow_limit)
            t0 = time.perf_counter()
            udpif.revalidate()
            times[terse].append(time.perf_counter() - t0)

    benchmark.pedantic(block, rounds=2 if _enabled(benchmark) else 1)  # type: ignore[attr-defined]
    terse_ms = statistics.median(times[True]) * 1000
    full_ms = statistics.median(times[False]) * 1000
    benchmark.extra_info.update({"terse_ms": terse_ms, "full_ms": full_ms, "ratio": terse_ms / full_ms})  # type: ignore[attr-defined]
    print(
        f"\nrevalidation of {len(udpif.ukeys)} flows: terse {terse_ms:.1f} ms, full {full_ms:.1f} ms, "
        f"ratio {terse_ms / full_ms:.3f}"
    )
    udpif.enable_ufid = True


def test_bench_handler_install(benchmark: pytest.FixtureRequest) -> None:
    n = 4096 if _enabled(benchmark) else 64

    def setup() -> tuple[tuple[Udpif], dict[str, object]]:
        clock = MonotonicClock()
        dp = ReferenceDatapath(clock=clock.now_ms, max_upcalls=1 << 20)
        p_in = dp.port_add("in")
        rules = RuleTable()
        rules.add(10, [], pack_attr(ActionAttr.OUTPUT, p_in.to_bytes(4, "little")))
        udpif = Udpif(dp, rules, config=UdpifConfig(enable_megaflows=False), clock=clock, ufid_supported=True)
        for i in range(n):
            dp.inject(p_in, frame_for(i))
        return (udpif,), {}

    def handle(udpif: Udpif) -> int:
        return udpif.handle_upcalls()

    handled = benchmark.pedantic(handle, setup=setup, rounds=3 if _enabled(benchmark) else 1)  # type: ignore[attr-defined]
    assert handled == n
    benchmark.extra_info["upcalls_per_round"] = n  # type: ignore[attr-defined]


def test_measure_revalidation_report_shape() -> None:
    """The bench command's measurement, tiny: consistent fields, one point per checkpoint."""
    result = measure_revalidation(160, rounds=1)
    assert [p["flows"] for p in result["points"]] == [10, 40, 160]
    for p in result["points"]:
        assert p["terse_ms"] > 0 and p["full_ms"] > 0
        assert p["ratio"] == pytest.approx(p["terse_ms"] / p["full_ms"], rel=0.05, abs=0.002)
    assert result["flows"] == 160
