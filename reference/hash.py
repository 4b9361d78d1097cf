"""MurmurHash3 128-bit, exactly as Open vSwitch's ``hash_bytes128`` computes it.

OVS (``lib/hash.c``, ``hash_bytes128``) imported MurmurHash3 r150 from
SMHasher (``src/MurmurHash3.cpp``) and picks the variant at compile time:
``MurmurHash3_x64_128`` on x86_64 and aarch64, ``MurmurHash3_x86_128`` on
every other target (ppc64le, s390x and riscv64 included). On a
little-endian host both produce the same 16-byte image as the canonical C
code, which is also the memory image of OVS's ``ovs_u128`` result.

Two layers:

* :func:`murmur3_x64_128` and :func:`murmur3_x86_128` are pure-Python,
  step-by-step implementations: the executable specification.
* :func:`hash_bytes128` is the fast path (the ``mmh3`` C extension) with the
  same output, choosing the variant the way OVS does.

Next: :class:`reference.ufid.Ufid` turns a hash into a UFID.
"""

from __future__ import annotations

import platform
import struct
from collections.abc import Callable
from typing import Final, Literal, TypeAlias

import mmh3

from reference.errors import UfidcertInputError

__all__ = [
    "VARIANTS",
    "BytesLike",
    "Variant",
    "hash_bytes128",
    "murmur3_128",
    "murmur3_x64_128",
    "murmur3_x86_128",
    "native_variant",
    "variant_for_machine",
]

Variant: TypeAlias = Literal["x64", "x86"]
#: What the hash functions accept as input (``str`` is refused: encode it first).
BytesLike: TypeAlias = bytes | bytearray | memoryview
VARIANTS: Final[tuple[Variant, ...]] = ("x64", "x86")

_M32: Final = 0xFFFF_FFFF
_M64: Final = 0xFFFF_FFFF_FFFF_FFFF

# Machine names (as platform.machine() / uname -m / Debian / Go spell them) that
# OVS builds with the 64-bit branch: lib/hash.c tests `__x86_64__ || __aarch64__`.
_X64_MACHINES: Final = frozenset({"x86_64", "amd64", "x64", "aarch64", "arm64", "aarch64_be"})


# --- input validation --------------------------------------------------------


def _as_bytes(data: object) -> bytes:
    """``data`` as ``bytes``; any bytes-like object is accepted, ``str`` is not."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"data must be bytes (or bytes-like), not {type(data).__name__}; encode text first")


def _check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` if it is a 32-bit unsigned int (OVS's ``uint32_t basis``)."""
    if not isinstance(seed, int):
        raise TypeError(f"{name} must be an int in 0..0xffffffff, not {type(seed).__name__}")
    if not 0 <= seed <= _M32:
        raise UfidcertInputError(f"{name} {seed:#x} is outside the 32-bit range 0..0xffffffff")
    return int(seed)


def _check_variant(variant: object) -> Variant:
    if variant == "x64":
        return "x64"
    if variant == "x86":
        return "x86"
    if not isinstance(variant, str):
        raise TypeError(f"variant must be 'x64', 'x86' or None, not {type(variant).__name__}")
    raise UfidcertInputError(f"unknown MurmurHash3 variant {variant!r}: expected 'x64' or 'x86'")


# --- architecture -> variant ---------------------------------------------------


def variant_for_machine(machine: str) -> Variant:
    """The variant OVS's ``hash_bytes128`` uses on ``machine`` (e.g. ``uname -m``).

    ``x64`` for x86_64/amd64 and aarch64/arm64, ``x86`` for everything else,
    64-bit ppc64le, s390x and riscv64 included (lib/hash.c's #if is on the
    compiler's architecture macros, not on the word size). ``aarch64_be``
    also takes the x64 branch, but there ``ovs_u128`` stores ``hi`` first, so
    its memory image would differ from the little-endian one modelled here.
    """
    if not isinstance(machine, str):
        raise TypeError(f"machine must be a str, not {type(machine).__name__}")
    return "x64" if machine.strip().lower() in _X64_MACHINES else "x86"


def native_variant() -> Variant:
    """The variant an OVS built for this machine would use."""
    return variant_for_machine(platform.machine())


# --- pure-Python MurmurHash3_x64_128 -----------------------------------------------

_X64_C1: Final = 0x87C37B91114253D5
_X64_C2: Final = 0x4CF5AD432745937F
_QQ: Final = struct.Struct("<QQ")


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix64(k: int) -> int:
    """Final avalanche of one 64-bit lane (``fmix64``)."""
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def _x64_mix_k1(k1: int) -> int:
    k1 = (k1 * _X64_C1) & _M64
    k1 = _rotl64(k1, 31)
    return (k1 * _X64_C2) & _M64


def _x64_mix_k2(k2: int) -> int:
    k2 = (k2 * _X64_C2) & _M64
    k2 = _rotl64(k2, 33)
    return (k2 * _X64_C1) & _M64


def murmur3_x64_128(data: BytesLike, seed: int = 0) -> bytes:
    """Canonical ``MurmurHash3_x64_128`` (pure Python): the 16-byte image h1 || h2, each little-endian."""
    data = _as_bytes(data)
    seed = _check_seed(seed)
    length = len(data)
    nblocks = length // 16

    # Both 64-bit lanes start from the 32-bit seed, zero-extended.
    h1 = h2 = seed

    # Body: 16-byte blocks, read as two little-endian 64-bit words k1, k2.
    for k1, k2 in _QQ.iter_unpack(data[: nblocks * 16]):
        h1 ^= _x64_mix_k1(k1)
        h1 = _rotl64(h1, 27)
        h1 = (h1 + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64

        h2 ^= _x64_mix_k2(k2)
        h2 = _rotl64(h2, 31)
        h2 = (h2 + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64

    # Tail: the last 0..15 bytes. Bytes 8..14 form k2, bytes 0..7 form k1,
    # each little-endian (the C switch falls through from case 15 to case 1).
    tail = data[nblocks * 16 :]
    if len(tail) > 8:
        h2 ^= _x64_mix_k2(int.from_bytes(tail[8:], "little"))
    if tail:
        h1 ^= _x64_mix_k1(int.from_bytes(tail[:8], "little"))

    # Finalisation: mix in the length, cross-add, avalanche, cross-add.
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix64(h1)
    h2 = _fmix64(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return _QQ.pack(h1, h2)


# --- pure-Python MurmurHash3_x86_128 -----------------------------------------------

_X86_C: Final = (0x239B961B, 0xAB0E9789, 0x38B34AE5, 0xA1E38B93)
# Per lane i: rotation of k_i, rotation of h_i, additive constant of h_i.
_X86_K_ROT: Final = (15, 16, 17, 18)
_X86_H_ROT: Final = (19, 17, 15, 13)
_X86_H_ADD: Final = (0x561CCD1B, 0x0BCAA747, 0x96CD1C35, 0x32AC3B17)
_IIII: Final = struct.Struct("<IIII")


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _fmix32(h: int) -> int:
    """Final avalanche of one 32-bit lane (``fmix32``; OVS's ``mhash_finish``)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _x86_mix_k(lane: int, k: int) -> int:
    """Scramble input word k of ``lane`` (0..3): times c[lane], rotate, times c[lane+1]."""
    k = (k * _X86_C[lane]) & _M32
    k = _rotl32(k, _X86_K_ROT[lane])
    return (k * _X86_C[(lane + 1) % 4]) & _M32


def murmur3_x86_128(data: BytesLike, seed: int = 0) -> bytes:
    """Canonical ``MurmurHash3_x86_128`` (pure Python): the 16-byte image h1..h4, each little-endian."""
    data = _as_bytes(data)
    seed = _check_seed(seed)
    length = len(data)
    nblocks = length // 16

    # All four 32-bit lanes start from the seed.
    h = [seed, seed, seed, seed]

    # Body: 16-byte blocks as four little-endian 32-bit words. Lane i mixes
    # k_i into h_i, rotates, adds the next lane h_{i+1} (lane 3 adds the
    # already updated h_0), then h = h * 5 + constant.
    for block in _IIII.iter_unpack(data[: nblocks * 16]):
        for lane in range(4):
            x = h[lane] ^ _x86_mix_k(lane, block[lane])
            x = _rotl32(x, _X86_H_ROT[lane])
            x = (x + h[(lane + 1) % 4]) & _M32
            h[lane] = (x * 5 + _X86_H_ADD[lane]) & _M32

    # Tail: the last 0..15 bytes; bytes 4i..4i+3 form k_i (little-endian).
    # The C switch handles k4 first and falls through to k1; the lanes are
    # independent here, so the order does not matter.
    tail = data[nblocks * 16 :]
    for lane in range(4):
        chunk = tail[4 * lane : 4 * lane + 4]
        if chunk:
            h[lane] ^= _x86_mix_k(lane, int.from_bytes(chunk, "little"))

    # Finalisation: mix in the length, h1 absorbs the other lanes and is
    # added back to them, avalanche each lane, and the same cross-add again.
    h = [x ^ (length & _M32) for x in h]
    h = _x86_cross_add(h)
    h = [_fmix32(x) for x in h]
    h = _x86_cross_add(h)
    return _IIII.pack(*h)


def _x86_cross_add(h: list[int]) -> list[int]:
    h1 = (h[0] + h[1] + h[2] + h[3]) & _M32
    return [h1, (h[1] + h1) & _M32, (h[2] + h1) & _M32, (h[3] + h1) & _M32]


def murmur3_128(variant: Variant) -> Callable[[BytesLike, int], bytes]:
    """The pure-Python implementation of ``variant`` (``"x64"`` or ``"x86"``)."""
    return murmur3_x64_128 if _check_variant(variant) == "x64" else murmur3_x86_128


# --- fast path -------------------------------------------------------------------

_NATIVE: Final[Variant] = native_variant()


def hash_bytes128(data: BytesLike, basis: int = 0, *, variant: Variant | None = None) -> bytes:
    """OVS's ``hash_bytes128(data, len, basis)``: the 16-byte ``ovs_u128`` image.

    ``variant`` ``None`` means the variant OVS uses on this machine
    (:func:`native_variant`). Same output as the pure-Python functions, via
    ``mmh3``. ``basis`` must be in 0..0xffffffff.
    """
    x64 = (_NATIVE if variant is None else _check_variant(variant)) == "x64"
    if type(data) is not bytes:
        data = _as_bytes(data)
    if type(basis) is not int or not 0 <= basis <= _M32:
        basis = _check_seed(basis, "basis")
    return mmh3.hash_bytes(data, basis, x64)
