"""reference.hash: pure-Python MurmurHash3 against mmh3, published answers and SMHasher."""

from __future__ import annotations

import platform
from collections.abc import Callable

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import hash_inputs, seeds
from reference.errors import UfidcertInputError
from reference.hash import (
    VARIANTS,
    Variant,
    hash_bytes128,
    murmur3_128,
    murmur3_x64_128,
    murmur3_x86_128,
    native_variant,
    variant_for_machine,
)

HashFn = Callable[[bytes, int], bytes]


def _mmh3(variant: Variant) -> HashFn:
    return lambda data, seed: mmh3.hash_bytes(data, seed, variant == "x64")


# --- differential: pure Python == mmh3 (independent C implementation) ---------------


@given(data=hash_inputs(), seed=seeds())
def test_x64_equals_mmh3(data: bytes, seed: int) -> None:
    assert murmur3_x64_128(data, seed) == mmh3.hash_bytes(data, seed, True)


@given(data=hash_inputs(), seed=seeds())
def test_x86_equals_mmh3(data: bytes, seed: int) -> None:
    assert murmur3_x86_128(data, seed) == mmh3.hash_bytes(data, seed, False)


@given(data=hash_inputs(), seed=seeds(), variant=st.sampled_from(VARIANTS))
def test_fast_path_equals_pure(data: bytes, seed: int, variant: Variant) -> None:
    assert hash_bytes128(data, seed, variant=variant) == murmur3_128(variant)(data, seed)


@given(data=hash_inputs(max_size=64), seed=seeds())
def test_default_variant_is_native(data: bytes, seed: int) -> None:
    assert hash_bytes128(data, seed) == hash_bytes128(data, seed, variant=native_variant())


@pytest.mark.parametrize("variant", VARIANTS)
def test_long_input_equals_mmh3(variant: Variant) -> None:
    data = bytes(range(256)) * 40 + b"tail!"
    assert murmur3_128(variant)(data, 0xDEADBEEF) == mmh3.hash_bytes(data, 0xDEADBEEF, variant == "x64")


@pytest.mark.parametrize("variant", VARIANTS)
def test_bytes_like_inputs_hash_like_bytes(variant: Variant) -> None:
    raw = bytes(range(40))
    fn = murmur3_128(variant)
    view = memoryview(b"x" + raw)[1:]  # an unaligned view, as test-hash.c checks misaligned input
    assert fn(bytearray(raw), 7) == fn(view, 7) == fn(raw, 7)
    assert hash_bytes128(bytearray(raw), 7, variant=variant) == hash_bytes128(view, 7, variant=variant)


# --- published known answers (values from other projects, not from our code) ---------


@pytest.mark.parametrize(
    ("variant", "data", "seed", "expected"),
    [
        # Guava Hashing.murmur3_128() / boost::hash2 tests (canonical x64 byte image).
        ("x64", b"The quick brown fox jumps over the lazy dog", 0, "6c1b07bc7bbc4be347939ac4a93c437a"),
        ("x64", b"The quick brown fox jumps over the lazy cog", 0, "9a2685ff70a98c653e5c8ea6eae3fe43"),
        # mmh3 README: hash_bytes('foo').
        ("x64", b"foo", 0, "6145f501578671e2877dba2be487af7e"),
        # MurmurHash-Swift test_x86_128 prints h1..h4 as words; here as the LE image.
        ("x86", b"Hello World!", 0, "8398ee6bf5e41beb7271fb9da9be3fae"),
        ("x86", b"H", 0, "5deb9ff6a03756f4a03756f4a03756f4"),
    ],
)
def test_published_known_answers(variant: Variant, data: bytes, seed: int, expected: str) -> None:
    assert murmur3_128(variant)(data, seed).hex() == expected
    assert hash_bytes128(data, seed, variant=variant).hex() == expected


def test_mmh3_readme_hash128_with_seed() -> None:
    # mmh3 README: hash128('foo', 42) == 215966891540331383248189432718888555506 (LE image as an int).
    assert int.from_bytes(murmur3_x64_128(b"foo", 42), "little") == 215966891540331383248189432718888555506


def test_ovs_ordering_of_words_for_x64() -> None:
    # OVS's hash_bytes128 compiled on x86_64 (fixtures/make_murmur3_vectors.py): u32[0..3] of the quick-brown-fox hash.
    words = [
        int.from_bytes(murmur3_x64_128(b"The quick brown fox jumps over the lazy dog")[i : i + 4], "little")
        for i in range(0, 16, 4)
    ]
    assert words == [0xBC071B6C, 0xE34BBC7B, 0xC49A9347, 0x7A433CA9]


# --- SMHasher verification (values from SMHasher's own table) -------------------------


def _smhasher(fn: HashFn) -> int:
    key = bytes(range(256))
    digests = b"".join(fn(key[:i], 256 - i) for i in range(256))
    return int.from_bytes(fn(digests, 0)[:4], "little")


@pytest.mark.parametrize(("variant", "expected"), [("x64", 0x6384BA69), ("x86", 0xB3ECE62A)])
def test_smhasher_verification(variant: Variant, expected: int) -> None:
    assert _smhasher(murmur3_128(variant)) == expected
    assert _smhasher(lambda d, s: hash_bytes128(d, s, variant=variant)) == expected


# --- architecture -> variant (lib/hash.c: __x86_64__ || __aarch64__) -----------------


@pytest.mark.parametrize("machine", ["x86_64", "AMD64", "amd64", "aarch64", "arm64", "ARM64"])
def test_x64_machines(machine: str) -> None:
    assert variant_for_machine(machine) == "x64"


@pytest.mark.parametrize("machine", ["i686", "i386", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "mips64", ""])
def test_x86_machines(machine: str) -> None:
    assert variant_for_machine(machine) == "x86"


def test_native_variant_follows_platform() -> None:
    assert native_variant() == variant_for_machine(platform.machine())


# --- bad input ---------------------------------------------------------------------

_ALL: list[HashFn] = [
    murmur3_x64_128,
    murmur3_x86_128,
    hash_bytes128,
    lambda d, s: hash_bytes128(d, s, variant="x86"),
]


@pytest.mark.parametrize("fn", _ALL)
@pytest.mark.parametrize("seed", [-1, 2**32, 2**64])
def test_seed_out_of_range_is_value_error(fn: HashFn, seed: int) -> None:
    with pytest.raises(UfidcertInputError, match="0xffffffff"):
        fn(b"abc", seed)


@pytest.mark.parametrize("fn", _ALL)
@pytest.mark.parametrize("seed", ["1", 1.0, None])
def test_seed_of_wrong_type_is_type_error(fn: HashFn, seed: object) -> None:
    with pytest.raises(TypeError, match="int"):
        fn(b"abc", seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", _ALL)
@pytest.mark.parametrize("data", ["abc", None, 123, [1, 2]])
def test_non_bytes_data_is_type_error(fn: HashFn, data: object) -> None:
    with pytest.raises(TypeError, match="bytes"):
        fn(data, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["x32", "X64", "", "x86_64"])
def test_unknown_variant(variant: str) -> None:
    with pytest.raises(UfidcertInputError, match="variant"):
        hash_bytes128(b"", 0, variant=variant)  # type: ignore[arg-type]
    with pytest.raises(UfidcertInputError, match="variant"):
        murmur3_128(variant)  # type: ignore[arg-type]


def test_machine_must_be_str() -> None:
    with pytest.raises(TypeError):
        variant_for_machine(None)  # type: ignore[arg-type]
