"""Benchmark: dpctl commands to a private ovs-vswitchd through the stdlib unixctl client.

Run with ``tox -e bench`` (or ``pytest tests/benchmarks --benchmark-enable``).
One private daemon (PrivateOvs: own netns, standalone netdev datapath, no
bridge) serves every benchmark in this module. Single-flow rounds do 1000
commands over one persistent connection; ``extra_info`` carries commands per
second. The dump benchmark reads 10,000 flows with ``dpctl/dump-flows -m
--no-names`` (about 4 MB of JSON). Nothing is asserted about time. Results:
docs/performance.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from conformance.backends._ovsd import PrivateOvs
from tests._ovs import private_ovs

_N = 1000
_KEY = (
    "in_port({port}),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
    "ipv4(src=10.{a}.{b}.1,dst=10.0.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=2)"
)


@pytest.fixture(scope="module")
def ovs() -> Iterator[PrivateOvs]:
    yield from private_ovs()


def _flows(ovs: PrivateOvs, n: int, base: int = 0) -> list[tuple[str, str]]:
    out = []
    for i in range(base, base + n):
        ufid = f"{i:08x}-0000-4000-8000-000000000000"
        out.append((ufid, f"ufid:{ufid}," + _KEY.format(port=ovs.ports[0], a=i >> 8 & 255, b=i & 255)))
    return out


def _rate(benchmark: BenchmarkFixture, n: int) -> None:
    stats = benchmark.stats
    if stats is not None and stats.stats.mean:
        benchmark.extra_info["commands_per_second"] = round(n / stats.stats.mean)


def test_bench_add_get_del(benchmark: BenchmarkFixture, ovs: PrivateOvs) -> None:
    flows = _flows(ovs, _N)
    call, dp, out = ovs.client.call, ovs.dp, str(ovs.ports[1])

    def round_trip() -> None:
        for _, text in flows:
            call("dpctl/add-flow", dp, text, out)
        for ufid, _ in flows:
            call("dpctl/get-flow", dp, f"ufid:{ufid}")
        for ufid, _ in flows:
            call("dpctl/del-flow", dp, f"ufid:{ufid}")

    benchmark.pedantic(round_trip, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    _rate(benchmark, 3 * _N)
    assert "flows: 0" in call("dpctl/show", dp)


def test_bench_dump_10000(benchmark: BenchmarkFixture, ovs: PrivateOvs, tmp_path: Path) -> None:
    flows = _flows(ovs, 10_000, base=100_000)
    batch = tmp_path / "flows.txt"
    batch.write_text("".join(f"add {text} {ovs.ports[1]}\n" for _, text in flows))
    ovs.appctl("dpctl/add-flows", ovs.dp, batch)
    sizes: list[int] = []

    def dump() -> None:
        sizes.append(len(ovs.client.call("dpctl/dump-flows", "-m", "--no-names", ovs.dp)))

    start = time.perf_counter()
    benchmark.pedantic(dump, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    benchmark.extra_info["reply_bytes"] = sizes[-1]
    benchmark.extra_info["wall_s"] = round(time.perf_counter() - start, 3)
    assert sizes[-1] > 3_000_000
    ovs.appctl("dpctl/del-flows", ovs.dp)
