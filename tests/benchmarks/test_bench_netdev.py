"""netdev backend throughput against the real ovs-vswitchd: put, get, del by UFID and a 10,000-flow dump.

Run with ``pytest tests/benchmarks/test_bench_netdev.py --benchmark-enable -s``
(``tox -e bench``). Every operation is one unixctl round trip to the daemon
(``dpctl/add-flow``, ``get-flow``, ``del-flow -s``, ``dump-flows -m``) plus
the project's text codec on both sides. With benchmarks disabled (the
default test run) each runs once on a small table. Nothing asserts on time.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator

import pytest

from conformance.backends._ovsd import ovs_available
from conformance.backends.netdev import NetdevDpif, netdev
from reference.ufid import Ufid
from tests._support import require

# The figure issue 7 asks for; UFIDCERT_BENCH_NETDEV_FLOWS overrides it.
DUMP_FLOWS = int(os.environ.get("UFIDCERT_BENCH_NETDEV_FLOWS", "10000"))
SINGLE = 2000  # single-flow operations per measurement


def _dpctl_netdev(**options: str) -> NetdevDpif:
    """The netdev backend through dpctl (the default access path), typed as what it is."""
    d = netdev(**options)
    assert isinstance(d, NetdevDpif)
    return d


def _attr(t: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * (-n % 4)


_PREFIX = _attr(3, struct.pack("=I", 1)) + _attr(4, bytes(range(12))) + _attr(6, b"\x08\x00")
_ACTIONS = _attr(1, struct.pack("=I", 2))


def key(i: int) -> bytes:
    """A complete exact IPv4/TCP key per ``i`` (dpif-netdev refuses incomplete keys)."""
    ip = (0x0A000000 + i).to_bytes(4, "big")
    return (
        _PREFIX + _attr(7, b"\x0a\x00\x00\x01" + ip + b"\x06\x00\x40\x00") + _attr(9, struct.pack("!HH", 1, i & 0xFFFF))
    )


def ufid(i: int) -> Ufid:
    return Ufid.from_words((i, 0x9E3779B9, i * 7 & 0xFFFFFFFF, 0x12345678))


def _enabled(benchmark: object) -> bool:
    return not getattr(benchmark, "disabled", False)


@pytest.fixture(scope="module")
def dp() -> Iterator[NetdevDpif]:
    require(ovs_available() is None, f"private ovs-vswitchd unavailable: {ovs_available()}")
    d = _dpctl_netdev()
    try:
        yield d
    finally:
        d.close()


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def test_bench_netdev_single_flow_ops(benchmark: pytest.FixtureRequest, dp: NetdevDpif) -> None:
    n = SINGLE if _enabled(benchmark) else 20
    dp.flow_flush()
    keys = [key(i) for i in range(n)]
    ufids = [ufid(i) for i in range(n)]

    def puts() -> None:
        for k, u in zip(keys, ufids, strict=True):
            dp.flow_put(k, None, _ACTIONS, ufid=u)

    def gets() -> None:
        for u in ufids:
            dp.flow_get(ufid=u)

    def dels() -> None:
        for u in ufids:
            dp.flow_del(ufid=u)

    rates: dict[str, float] = {}
    for _ in range(3 if _enabled(benchmark) else 1):  # best of 3 rounds each
        for name, fn in (("put", puts), ("get", gets), ("del", dels)):
            rates[name] = max(rates.get(name, 0.0), n / _timed(fn))
    assert list(dp.flow_dump()) == []
    benchmark.pedantic(puts, rounds=1)  # type: ignore[attr-defined]
    dp.flow_flush()
    benchmark.extra_info.update({f"{k}_per_s": v for k, v in rates.items()})  # type: ignore[attr-defined]
    print(
        f"\nnetdev ({dp.version}): put {rates['put']:,.0f}/s, get {rates['get']:,.0f}/s, "
        f"del {rates['del']:,.0f}/s ({n} flows, best of rounds)"
    )


def test_bench_netdev_dump(benchmark: pytest.FixtureRequest, dp: NetdevDpif) -> None:
    n = DUMP_FLOWS if _enabled(benchmark) else 200
    dp.flow_flush()
    t_install = _timed(lambda: [dp.flow_put(key(i), None, _ACTIONS, ufid=ufid(i)) for i in range(n)])

    def dump() -> int:
        return sum(1 for _ in dp.flow_dump())

    dp._attr_cache.clear()  # the first dump parses every distinct attribute text
    counted: list[int] = []
    cold = _timed(lambda: counted.append(dump()))
    assert counted == [n]
    best = min(_timed(dump) for _ in range(3 if _enabled(benchmark) else 1))
    benchmark.pedantic(dump, rounds=1)  # type: ignore[attr-defined]
    dp.flow_flush()
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {"dump_flows": n, "dump_s": best, "first_dump_s": cold, "flows_per_s": n / best}
    )
    print(
        f"\nnetdev dump of {n:,} flows: first {cold:.3f} s, then best {best:.3f} s ({n / best:,.0f} flows/s); "
        f"install {n / t_install:,.0f} puts/s"
    )
