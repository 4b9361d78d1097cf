"""Reference datapath benchmarks: put/get/del by UFID, terse vs full dump.

Run with ``pytest tests/benchmarks/test_bench_datapath.py --benchmark-enable -s``
(``tox -e bench``). Figures go to ``benchmark.extra_info`` and stdout; with
benchmarks disabled (the default test run) everything runs once on a small
table so the code stays exercised. Nothing here asserts on time.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from collections.abc import Callable

import pytest

from reference.datapath import ReferenceDatapath
from reference.ufid import Ufid

# The figure issue 4 asks for; UFIDCERT_BENCH_FLOWS overrides it.
DUMP_FLOWS = int(os.environ.get("UFIDCERT_BENCH_FLOWS", "160000"))
BATCH = 2000


def _attr(t: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * (-n % 4)


_PREFIX = _attr(3, struct.pack("=I", 1)) + _attr(4, bytes(range(12))) + _attr(6, b"\x08\x00")
_ACTIONS = _attr(1, struct.pack("=I", 2))


def key(i: int) -> bytes:
    """A distinct exact TCP/IPv4 key per ``i`` (destination address and port vary; tcp_flags as the kernel requires)."""
    ip = ipaddress.IPv4Address(0x0A000000 + i).packed
    return (
        _PREFIX
        + _attr(7, b"\x0a\x00\x00\x01" + ip + b"\x06\x00\x40\x00")
        + _attr(9, struct.pack("!HH", 1, i & 0xFFFF))
        + _attr(18, b"\x00\x00")
    )


def ufid(i: int) -> Ufid:
    return Ufid.from_words((i, 0x9E3779B9, i * 7 & 0xFFFFFFFF, 0x12345678))


def populated(n: int) -> ReferenceDatapath:
    dp = ReferenceDatapath(clock=lambda: 1)
    for i in range(n):
        dp.flow_put(key(i), None, _ACTIONS, ufid=ufid(i))
    return dp


def _enabled(benchmark: object) -> bool:
    return not getattr(benchmark, "disabled", False)


def _rate(n: int, fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def test_bench_put_by_ufid(benchmark: pytest.FixtureRequest) -> None:
    n = BATCH if _enabled(benchmark) else 50
    keys = [key(i) for i in range(n)]
    ufids = [ufid(i) for i in range(n)]

    def setup() -> tuple[tuple[ReferenceDatapath], dict[str, object]]:
        return (ReferenceDatapath(),), {}

    def run(dp: ReferenceDatapath) -> ReferenceDatapath:
        for k, u in zip(keys, ufids, strict=True):
            dp.flow_put(k, None, _ACTIONS, ufid=u)
        return dp

    dp = benchmark.pedantic(run, setup=setup, rounds=5 if _enabled(benchmark) else 1)  # type: ignore[attr-defined]
    assert len(dp) == n
    benchmark.extra_info["ops_per_round"] = n  # type: ignore[attr-defined]


def test_bench_get_by_ufid_is_o1(benchmark: pytest.FixtureRequest) -> None:
    small_n, big_n = (1000, 50000) if _enabled(benchmark) else (20, 200)
    small, big = populated(small_n), populated(big_n)
    probe = [ufid(i) for i in range(0, small_n)]

    def gets(dp: ReferenceDatapath) -> Callable[[], None]:
        def run() -> None:
            for u in probe:
                dp.flow_get(ufid=u, terse=True)

        return run

    rate_small = _rate(len(probe), gets(small))
    rate_big = _rate(len(probe), gets(big))
    benchmark(gets(big))  # type: ignore[operator]
    # O(1) on average: the per-get cost barely moves from 1k to 50k flows
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {
            "gets_per_s_1k_flows": rate_small,
            "gets_per_s_50k_flows": rate_big,
            "cost_ratio_50k_vs_1k": rate_small / rate_big,
        }
    )
    print(f"\nget by UFID: {rate_small:,.0f}/s at {small_n} flows, {rate_big:,.0f}/s at {big_n} flows")


def test_bench_del_by_ufid(benchmark: pytest.FixtureRequest) -> None:
    n = BATCH if _enabled(benchmark) else 50

    def setup() -> tuple[tuple[ReferenceDatapath], dict[str, object]]:
        return (populated(n),), {}

    def run(dp: ReferenceDatapath) -> ReferenceDatapath:
        for i in range(n):
            dp.flow_del(ufid=ufid(i), terse=True)
        return dp

    dp = benchmark.pedantic(run, setup=setup, rounds=3 if _enabled(benchmark) else 1)  # type: ignore[attr-defined]
    assert len(dp) == 0


def test_bench_dump_terse_vs_full(benchmark: pytest.FixtureRequest) -> None:
    n = DUMP_FLOWS if _enabled(benchmark) else 500
    dp = populated(n)

    def terse() -> int:
        return sum(1 for _ in dp.flow_dump(terse=True))

    def full() -> int:
        return sum(1 for _ in dp.flow_dump())

    assert terse() == full() == n
    # both measured in this one run, interleaved, best of 3 each
    full_rate = _rate(n, full)
    terse_rate = _rate(n, terse)
    count = benchmark.pedantic(terse, rounds=3 if _enabled(benchmark) else 1)  # type: ignore[attr-defined]
    assert count == n
    ratio = full_rate / terse_rate  # terse time as a fraction of full time
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {"flows": n, "terse_flows_per_s": terse_rate, "full_flows_per_s": full_rate, "terse_cost_vs_full": ratio}
    )
    print(
        f"\ndump of {n} flows: terse {terse_rate:,.0f} flows/s, full {full_rate:,.0f} flows/s, "
        f"terse costs {ratio:.2f} of full (target <= 0.60)"
    )
