"""Benchmark: UFID generation from 64-200 byte keys vs a bare ``mmh3.hash_bytes`` call.

Run with ``tox -e bench`` (or ``pytest tests/benchmarks --benchmark-enable``).
Each benchmark round hashes the same 1000 keys; the figures per UFID are the
round time / 1000. ``extra_info`` carries UFIDs/second and the ratio to the
bare hash measured in the same test. Targets (issue 2): >= 1,000,000 UFIDs/s
and within 3x of the bare call; they are reported, never asserted (tests do
not time). Results: docs/performance.md.
"""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable

import mmh3
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from reference.hash import murmur3_128, native_variant
from reference.ufid import Ufid, UfidGenerator

_N_KEYS = 1000
_SECRET = 0x5EC12E7A
_RNG = random.Random(20261127)
KEYS: list[bytes] = [_RNG.randbytes(_RNG.randint(64, 200)) for _ in range(_N_KEYS)]
_X64 = native_variant() == "x64"


def _bare() -> None:
    hash_bytes = mmh3.hash_bytes
    for key in KEYS:
        hash_bytes(key, _SECRET, _X64)


def _from_key() -> Ufid:
    from_key = Ufid.from_key
    u = None
    for key in KEYS:
        u = from_key(key, _SECRET)
    assert u is not None
    return u


def _generator() -> Ufid:
    gen = UfidGenerator(_SECRET)
    u = None
    for key in KEYS:
        u = gen(key)
    assert u is not None
    return u


def _per_call(fn: Callable[[], object]) -> float:
    """Seconds per key: best of 5 repeats of 20 rounds over all keys."""
    return min(timeit.repeat(fn, number=20, repeat=5)) / (20 * _N_KEYS)


def _expected_last() -> Ufid:
    # Not timed: the last key's UFID computed the slow way (pure-Python hash + v4 bits).
    image = murmur3_128(native_variant())(KEYS[-1], _SECRET)
    w = list(Ufid.from_wire(image).words)
    w[1] = (w[1] & ~0xF000) | 0x4000
    w[2] = (w[2] & ~0xC000_0000) | 0x8000_0000
    return Ufid.from_words(w)


def _record(benchmark: BenchmarkFixture, fn: Callable[[], object]) -> None:
    if benchmark.disabled:
        return
    bare, ours = _per_call(_bare), _per_call(fn)
    benchmark.extra_info.update(
        {
            "keys": "1000 random keys, 64-200 bytes",
            "ufids_per_second": round(1 / ours),
            "bare_hash_bytes_per_second": round(1 / bare),
            "ratio_to_bare_hash_bytes": round(ours / bare, 2),
            "ns_per_ufid": round(ours * 1e9, 1),
            "ns_per_bare_hash": round(bare * 1e9, 1),
        }
    )
    print(f"\n{fn.__name__}: {benchmark.extra_info}")


@pytest.mark.benchmark(group="ufid-generation")
def test_bench_bare_mmh3_hash_bytes(benchmark: BenchmarkFixture) -> None:
    benchmark(_bare)


@pytest.mark.benchmark(group="ufid-generation")
def test_bench_ufid_from_key(benchmark: BenchmarkFixture) -> None:
    assert benchmark(_from_key) == _expected_last()
    _record(benchmark, _from_key)


@pytest.mark.benchmark(group="ufid-generation")
def test_bench_ufid_generator(benchmark: BenchmarkFixture) -> None:
    assert benchmark(_generator) == _expected_last()
    _record(benchmark, _generator)
