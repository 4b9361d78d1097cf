"""netdev via=dpif: what the JSON-lines pipe costs next to the dpif calls themselves.

Run with ``pytest tests/benchmarks/test_bench_dpif_driver.py --benchmark-enable -s``
(``UFIDCERT_CACHE`` holding a built OVS library; ``UFIDCERT_BENCH_DPIF_RELEASE``
picks it, default trixie). Each figure is taken side by side in one run: the
wall time of a request seen from Python, and the time the driver itself
spent on it in-process (each reply's ``ns``: JSON parsing, the dpif call,
rendering the reply). Their ratio is the pipe's overhead. With benchmarks
disabled (the normal test run) each runs once on a few flows. Nothing
asserts on time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from conformance.backends import _ovslib
from conformance.backends.netdev_dpif import DpifDriverBackend
from reference.dpif import PutFlags, PutOp
from tests._ovs import ovs_tree
from tests.benchmarks.test_bench_netdev import _ACTIONS, key, ufid

RELEASE = os.environ.get("UFIDCERT_BENCH_DPIF_RELEASE", "trixie")
SINGLE = 2000
BATCH = 64
DUMP_FLOWS = 10000


def _enabled(benchmark: object) -> bool:
    return not getattr(benchmark, "disabled", False)


def _once(benchmark: object, fn: Callable[[], None]) -> None:
    benchmark.pedantic(fn, rounds=1)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def driver() -> Iterator[DpifDriverBackend]:
    tree = ovs_tree(RELEASE)
    d = DpifDriverBackend(_ovslib.build_driver(tree), timeout=30)
    yield d
    d.close()


def _report(label: str, n: int, wall_s: float, inproc_ns: int) -> None:
    inproc_s = inproc_ns / 1e9
    print(
        f"\n{label}: {n / wall_s:,.0f} ops/s through the pipe, {n / inproc_s:,.0f} ops/s in-process, "
        f"{wall_s / n * 1e6:.1f} us vs {inproc_s / n * 1e6:.2f} us per op, ratio {wall_s / inproc_s:.1f}"
    )


def test_startup(benchmark: object) -> None:
    tree = ovs_tree(RELEASE)
    exe = _ovslib.build_driver(tree)
    runs = 10 if _enabled(benchmark) else 1

    def run() -> None:
        best = float("inf")
        for _ in range(runs):
            t0 = time.perf_counter()
            d = DpifDriverBackend(exe, timeout=30)
            best = min(best, time.perf_counter() - t0)
            d.close()
        print(f"\nstart-up (process + dpif_create_and_open + ready line), best of {runs}: {best * 1000:.1f} ms")

    _once(benchmark, run)


def test_single_ops(driver: DpifDriverBackend, benchmark: object) -> None:
    n = SINGLE if _enabled(benchmark) else 20
    driver.flow_flush()

    def run() -> None:
        for label, op in (
            ("put", lambda i: driver.flow_put(key(i), None, _ACTIONS, ufid=ufid(i))),
            ("get", lambda i: driver.flow_get(ufid=ufid(i))),
            ("del", lambda i: driver.flow_del(ufid=ufid(i))),
        ):
            ns = 0
            t0 = time.perf_counter()
            for i in range(n):
                op(i)
                ns += driver.last_ns
            _report(f"single {label}", n, time.perf_counter() - t0, ns)

    _once(benchmark, run)


def test_batched_puts(driver: DpifDriverBackend, benchmark: object) -> None:
    n = SINGLE * 4 if _enabled(benchmark) else BATCH
    driver.flow_flush()
    ops = [PutOp(key(i), None, _ACTIONS, ufid(i), PutFlags.CREATE) for i in range(n)]

    def run() -> None:
        ns = 0
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            results = driver.operate(ops[start : start + BATCH])
            ns += driver.last_ns
            assert all(r.ok for r in results)
        _report(f"batched put ({BATCH} per dpif_operate)", n, time.perf_counter() - t0, ns)

    _once(benchmark, run)


def test_dump_terse_and_full(driver: DpifDriverBackend, benchmark: object) -> None:
    n = DUMP_FLOWS if _enabled(benchmark) else 50
    driver.flow_flush()
    ops = [PutOp(key(i), None, _ACTIONS, ufid(i), PutFlags.CREATE) for i in range(n)]
    for start in range(0, n, 1024):
        driver.operate(ops[start : start + 1024])

    def run() -> None:
        for terse in (True, False, True, False):
            t0 = time.perf_counter()
            flows = list(driver.flow_dump(terse=terse))
            wall = time.perf_counter() - t0
            assert len(flows) == n
            _report(f"dump of {n} flows, {'terse' if terse else 'full'}", n, wall, driver.last_ns)

    _once(benchmark, run)
