"""Check a MurmurHash3 128-bit implementation against ufidcert's test vectors.

The vectors (fixtures/murmur3_vectors.json, shipped as
``conformance.fixtures``) hold, per variant, groups of (data, seed, 16-byte
image) triples and SMHasher's verification value. An implementation is any
callable ``f(data: bytes, seed: int) -> bytes`` returning the 16-byte image
(OVS's ``ovs_u128`` memory on a little-endian host);
:func:`resolve_implementation` builds one from a ``--impl`` spec:

* ``python``: the pure-Python reference (:mod:`reference.hash`);
* ``mmh3``: the mmh3 C extension;
* ``python:MODULE:CALLABLE``: any importable callable;
* ``c:LIBRARY:SYMBOL``: a C function with OVS's ``hash_bytes128`` signature
  ``void f(const void *p, size_t n, uint32_t basis, ovs_u128 *out)``, loaded
  with ctypes (a wrong signature can crash the process: ctypes cannot check it).

Typical use: ``check_vectors(resolve_implementation("mmh3", "x64"),
load_vectors("x64"))`` returns a :class:`VectorReport`; ``format_report``
renders it. The ``ufidcert vectors`` command does exactly that.
"""

from __future__ import annotations

import ctypes
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any, Final

import mmh3

from conformance.errors import ConformanceError, UsageError
from reference.hash import VARIANTS, Variant, murmur3_128

__all__ = [
    "SMHASHER_GROUP",
    "GroupResult",
    "HashFunction",
    "HashVector",
    "Mismatch",
    "UfidVector",
    "VectorGroup",
    "VectorReport",
    "VectorSuite",
    "check_vectors",
    "format_report",
    "load_vectors",
    "parse_vectors",
    "resolve_implementation",
    "smhasher_verification",
]

HashFunction = Callable[[bytes, int], bytes]

SMHASHER_GROUP: Final = "smhasher-verification"
_FIXTURE: Final = "murmur3_vectors.json"
_FORMAT: Final = "ufidcert-murmur3-vectors/1"
_IMPL_FORMS: Final = "python, mmh3, python:MODULE:CALLABLE or c:LIBRARY:SYMBOL"


# --- records -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashVector:
    """One known answer: ``H(data, seed) == expected`` (16-byte image)."""

    data: bytes
    seed: int
    expected: bytes
    source: str = ""


@dataclass(frozen=True, slots=True)
class VectorGroup:
    name: str
    about: str
    vectors: tuple[HashVector, ...]


@dataclass(frozen=True, slots=True)
class UfidVector:
    """``Ufid.from_key(key, secret, variant=variant)`` prints as ``text``."""

    key: bytes
    secret: int
    variant: Variant
    text: str


@dataclass(frozen=True, slots=True)
class VectorSuite:
    """All vectors of one variant."""

    variant: Variant
    groups: tuple[VectorGroup, ...]
    smhasher_expected: int
    smhasher_algorithm: str
    ufid_vectors: tuple[UfidVector, ...]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A failed vector: which case, what was expected, what came back (or what was raised)."""

    case: str
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class GroupResult:
    name: str
    total: int
    failed: int
    first_mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True, slots=True)
class VectorReport:
    implementation: str
    variant: Variant
    groups: tuple[GroupResult, ...]

    @property
    def ok(self) -> bool:
        return all(g.ok for g in self.groups)

    @property
    def failed_groups(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups if not g.ok)


# --- loading -------------------------------------------------------------------


def _bad(message: str) -> ConformanceError:
    return ConformanceError(f"{_FIXTURE}: {message}")


def _hex(value: object, where: str, *, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{where}: expected a hex string, found {type(value).__name__}")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise _bad(f"{where}: not hex ({exc})") from None
    if size is not None and len(raw) != size:
        raise _bad(f"{where}: expected {size} bytes, found {len(raw)}")
    return raw


def _u32(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise _bad(f"{where}: expected a 32-bit unsigned int, found {value!r}")
    return value


def parse_vectors(doc: Mapping[str, Any], variant: Variant) -> VectorSuite:
    """The :class:`VectorSuite` for ``variant`` from the parsed JSON document ``doc``."""
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    if doc.get("format") != _FORMAT:
        raise _bad(f"unknown format {doc.get('format')!r}, expected {_FORMAT!r}")
    try:
        groups = []
        for gi, g in enumerate(doc["hash_groups"]):
            where = f"hash_groups[{gi}] ({g.get('name', '?')})"
            vectors = tuple(
                HashVector(
                    data=_hex(v["data"], f"{where} vector {vi} data"),
                    seed=_u32(v["seed"], f"{where} vector {vi} seed"),
                    expected=_hex(v[variant], f"{where} vector {vi} {variant}", size=16),
                    source=str(v.get("source", "")),
                )
                for vi, v in enumerate(g["vectors"])
                if variant in v
            )
            groups.append(VectorGroup(name=str(g["name"]), about=str(g.get("about", "")), vectors=vectors))
        smh = doc["smhasher"]
        expected_text = smh[variant]
        if not isinstance(expected_text, str):
            raise _bad(f"smhasher.{variant}: expected a hex string like '0x6384BA69'")
        smhasher_expected = int(expected_text, 16)
        ufids = tuple(
            UfidVector(
                key=_hex(u["key"], f"ufid_vectors[{ui}] key"),
                secret=_u32(u["secret"], f"ufid_vectors[{ui}] secret"),
                variant=variant,
                text=str(u["ufid"]),
            )
            for ui, u in enumerate(doc["ufid_vectors"]["vectors"])
            if u["variant"] == variant
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, ConformanceError):
            raise
        raise _bad(f"malformed vector file ({type(exc).__name__}: {exc})") from None
    return VectorSuite(
        variant=variant,
        groups=tuple(groups),
        smhasher_expected=smhasher_expected,
        smhasher_algorithm=str(smh.get("algorithm", "")),
        ufid_vectors=ufids,
    )


def load_vectors(variant: Variant) -> VectorSuite:
    """The shipped vectors for ``variant`` (``"x64"`` or ``"x86"``)."""
    text = resources.files("conformance.fixtures").joinpath(_FIXTURE).read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _bad("top level is not an object")
    return parse_vectors(doc, variant)


# --- implementations -------------------------------------------------------------


def _mmh3(data: bytes, seed: int, *, x64: bool) -> bytes:
    return mmh3.hash_bytes(data, seed, x64)


def _c_function(library: str, symbol: str) -> HashFunction:
    try:
        lib = ctypes.CDLL(library)
    except OSError as exc:
        raise UsageError(f"cannot load C library {library!r}: {exc}") from None
    try:
        fn = getattr(lib, symbol)
    except AttributeError:
        raise UsageError(f"C library {library!r} has no symbol {symbol!r}") from None
    # void f(const void *p, size_t n, uint32_t basis, ovs_u128 *out) -- lib/hash.h hash_bytes128
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p]
    fn.restype = None

    def call(data: bytes, seed: int) -> bytes:
        out = ctypes.create_string_buffer(16)
        fn(bytes(data), len(data), seed, out)
        return out.raw

    return call


def _python_callable(module_name: str, attr_path: str) -> HashFunction:
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the user's module's problem
        raise UsageError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise UsageError(f"{module_name}:{attr_path} is not callable")
    fn: HashFunction = obj
    return fn


def resolve_implementation(spec: str, variant: Variant) -> HashFunction:
    """The hash function named by an ``--impl`` spec, for ``variant``.

    Raises :class:`UsageError` when the spec is malformed or cannot be loaded.
    """
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    if spec == "python":
        return murmur3_128(variant)
    if spec == "mmh3":
        return partial(_mmh3, x64=variant == "x64")
    kind, _, rest = spec.partition(":")
    if kind == "python":
        module_name, _, attr = rest.partition(":")
        if not module_name or not attr:
            raise UsageError(f"--impl {spec!r}: expected python:MODULE:CALLABLE")
        return _python_callable(module_name, attr)
    if kind == "c":
        library, _, symbol = rest.rpartition(":")
        if not library or not symbol:
            raise UsageError(f"--impl {spec!r}: expected c:LIBRARY:SYMBOL")
        return _c_function(library, symbol)
    raise UsageError(f"--impl {spec!r}: unknown implementation; expected {_IMPL_FORMS}")


# --- checking ----------------------------------------------------------------------


def smhasher_verification(fn: HashFunction) -> int:
    """SMHasher's ``VerificationTest`` value of a 128-bit hash (src/KeysetTest.cpp).

    Hash key[0:i] with seed 256-i for i in 0..255 (key = bytes 0..255),
    hash the 4096 concatenated digests with seed 0, and read the first 4
    bytes of that as a little-endian uint32.
    """
    key = bytes(range(256))
    digests = b"".join(_digest(fn, key[:i], 256 - i) for i in range(256))
    return int.from_bytes(_digest(fn, digests, 0)[:4], "little")


class _BadOutput(Exception):
    """The implementation returned something other than 16 bytes."""


def _digest(fn: HashFunction, data: bytes, seed: int) -> bytes:
    out = fn(data, seed)
    if not isinstance(out, (bytes, bytearray, memoryview)):
        raise _BadOutput(f"returned {type(out).__name__}, not 16 bytes")
    out = bytes(out)
    if len(out) != 16:
        raise _BadOutput(f"returned {len(out)} bytes, not 16: {out.hex()}")
    return out


def _case(data: bytes, seed: int) -> str:
    shown = data.hex() if len(data) <= 24 else f"{data[:24].hex()}..."
    return f"data={shown or '(empty)'} ({len(data)} bytes) seed={seed:#010x}"


def _run(fn: HashFunction, data: bytes, seed: int) -> tuple[bytes | None, str]:
    """(output, "") or (None, what went wrong)."""
    try:
        return _digest(fn, data, seed), ""
    except _BadOutput as exc:
        return None, str(exc)
    except Exception as exc:  # a checker must survive any bug in the checked code
        return None, f"raised {type(exc).__name__}: {exc}"


def _check_group(fn: HashFunction, group: VectorGroup) -> GroupResult:
    failed = 0
    first: Mismatch | None = None
    for v in group.vectors:
        got, error = _run(fn, v.data, v.seed)
        if got == v.expected:
            continue
        failed += 1
        if first is None:
            first = Mismatch(case=_case(v.data, v.seed), expected=v.expected.hex(), got=error or (got or b"").hex())
    return GroupResult(name=group.name, total=len(group.vectors), failed=failed, first_mismatch=first)


def _check_smhasher(fn: HashFunction, expected: int) -> GroupResult:
    try:
        got = f"0x{smhasher_verification(fn):08X}"
    except _BadOutput as exc:
        got = str(exc)
    except Exception as exc:  # a checker must survive any bug in the checked code
        got = f"raised {type(exc).__name__}: {exc}"
    want = f"0x{expected:08X}"
    mismatch = None if got == want else Mismatch(case="SMHasher VerificationTest", expected=want, got=got)
    return GroupResult(name=SMHASHER_GROUP, total=1, failed=int(mismatch is not None), first_mismatch=mismatch)


def check_vectors(fn: HashFunction, suite: VectorSuite, *, implementation: str = "") -> VectorReport:
    """Run every group of ``suite`` and SMHasher's verification against ``fn``."""
    results = [_check_group(fn, g) for g in suite.groups]
    results.append(_check_smhasher(fn, suite.smhasher_expected))
    return VectorReport(implementation=implementation, variant=suite.variant, groups=tuple(results))


def format_report(report: VectorReport) -> str:
    """A plain-text table: group, vectors, pass/FAIL, first mismatch as expected vs got."""
    width = max(len("group"), *(len(g.name) for g in report.groups))
    lines = [
        f"MurmurHash3 {report.variant}_128 vectors, implementation {report.implementation or '(unnamed)'}",
        f"  {'group':<{width}}  {'vectors':>7}  result",
    ]
    for g in report.groups:
        verdict = "pass" if g.ok else f"FAIL ({g.failed} of {g.total})"
        lines.append(f"  {g.name:<{width}}  {g.total:>7}  {verdict}")
        if g.first_mismatch is not None:
            m = g.first_mismatch
            lines.append(f"      first mismatch: {m.case}")
            lines.append(f"        expected {m.expected}")
            lines.append(f"        got      {m.got}")
    total = sum(g.total for g in report.groups)
    if report.ok:
        lines.append(f"  result: PASS ({total} checks in {len(report.groups)} groups)")
    else:
        lines.append(f"  result: FAIL (groups failing: {', '.join(report.failed_groups)})")
    return "\n".join(lines)
