"""The cost of the process boundary: ``ufidcert certify`` supervised vs ``--in-process``, and one RPC.

Run with ``pytest tests/benchmarks/test_bench_supervisor.py --benchmark-enable -s``
(``tox -e bench``). Both modes are measured in this one run, interleaved
(``UFIDCERT_BENCH_ROUNDS`` pairs, default 3), each certification a fresh
``python -m conformance certify`` process whose wall time and CPU time
(its own and its children's, the backend process included) are taken.
With benchmarks disabled everything runs once at the smoke profile. Nothing
here asserts on time; the figures go to docs/performance.md.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.suite._flows import flow_spec
from conformance.supervisor import SupervisedDpif
from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif

_ROOT = Path(__file__).resolve().parents[2]


def _enabled(benchmark: object) -> bool:
    return not getattr(benchmark, "disabled", False)


def _certify(profile: str, *extra: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "certify", "--profile", profile, "-q", *extra],
        cwd=_ROOT, capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def test_bench_certify_supervised_vs_in_process(benchmark: pytest.FixtureRequest) -> None:
    on = _enabled(benchmark)
    profile = os.environ.get("UFIDCERT_BENCH_PROFILE", "standard") if on else "smoke"
    rounds = int(os.environ.get("UFIDCERT_BENCH_ROUNDS", "3")) if on else 1
    runs: dict[str, list[tuple[float, float]]] = {"in-process": [], "supervised": []}
    for _ in range(rounds):
        runs["in-process"].append(_certify(profile, "--in-process"))
        runs["supervised"].append(_certify(profile))
    benchmark.pedantic(lambda: None, rounds=1)  # type: ignore[attr-defined]
    wall = {m: statistics.median(w for w, _ in r) for m, r in runs.items()}
    cpu = {m: statistics.median(c for _, c in r) for m, r in runs.items()}
    info = {
        "profile": profile,
        "rounds": rounds,
        "load_average": os.getloadavg()[0],
        **{f"{m}_wall_s": wall[m] for m in wall},
        **{f"{m}_cpu_s": cpu[m] for m in cpu},
        "wall_ratio": wall["supervised"] / wall["in-process"],
        "cpu_ratio": cpu["supervised"] / cpu["in-process"],
    }
    benchmark.extra_info.update(info)  # type: ignore[attr-defined]
    print(f"\ncertify reference {profile}, median of {rounds}: " + ", ".join(f"{k}={v:.3g}" for k, v in info.items()
                                                                             if not isinstance(v, str)))  # fmt: skip


def _round_trips(dp: Dpif, n: int) -> float:
    spec = flow_spec(1)
    t0 = time.perf_counter()
    for _ in range(n):
        dp.flow_get(ufid=spec.ufid)
    return (time.perf_counter() - t0) / n


def test_bench_one_call_across_the_boundary(benchmark: pytest.FixtureRequest) -> None:
    n = 5000 if _enabled(benchmark) else 50
    local = ReferenceDatapath()
    remote = SupervisedDpif("reference", {}, timeout_s=30)
    try:
        spec = flow_spec(1)
        for dp in (local, remote):
            dp.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid)
        per_call = {"in-process": _round_trips(local, n), "supervised": _round_trips(remote, n)}
        benchmark.pedantic(lambda: remote.flow_get(ufid=spec.ufid), rounds=3)  # type: ignore[attr-defined]
    finally:
        remote.close()
    benchmark.extra_info.update({f"{k}_us": v * 1e6 for k, v in per_call.items()})  # type: ignore[attr-defined]
    local_us, remote_us = per_call["in-process"] * 1e6, per_call["supervised"] * 1e6
    print(f"\nflow_get: in-process {local_us:.1f} us, supervised {remote_us:.1f} us")
