"""conformance.vectors and ``ufidcert vectors``: good implementations pass, broken ones are reported."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import mmh3
import pytest

from conformance.cli import main
from conformance.errors import ConformanceError, UsageError
from conformance.vectors import (
    SMHASHER_GROUP,
    check_vectors,
    format_report,
    load_vectors,
    parse_vectors,
    resolve_implementation,
    smhasher_verification,
)
from reference.hash import VARIANTS, Variant, murmur3_x64_128, murmur3_x86_128
from tests._support import require
from tests.c.build import SYMBOLS, c_compiler, compile_murmur3

_GROUPS = {"lengths-0-64", "block-boundaries", "seeds", "patterns", "published", SMHASHER_GROUP}


# Deliberately wrong implementations, importable as python:tests.conformance.test_vectors:NAME.
def tail_bug_x64(data: bytes, seed: int) -> bytes:
    """Forgets the last byte of a partial tail block (a classic port bug)."""
    if len(data) % 16:
        return murmur3_x64_128(data[:-1], seed)
    return murmur3_x64_128(data, seed)


def swapped_lanes_x86(data: bytes, seed: int) -> bytes:
    """Writes h2 h1 h4 h3: right hash, wrong ovs_u128 layout."""
    out = murmur3_x86_128(data, seed)
    return out[4:8] + out[0:4] + out[12:16] + out[8:12]


def short_output(data: bytes, seed: int) -> bytes:
    return mmh3.hash_bytes(data, seed)[:15]


def raises(data: bytes, seed: int) -> bytes:
    raise RuntimeError("not implemented")


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        resources.files("conformance.fixtures").joinpath("murmur3_vectors.json").read_text(encoding="utf-8")
    )
    return doc


# --- the fixture -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_fixture_covers_what_the_issue_asks(variant: Variant) -> None:
    suite = load_vectors(variant)
    groups = {g.name: g for g in suite.groups}
    assert set(groups) | {SMHASHER_GROUP} == _GROUPS
    lengths = {len(v.data) for g in suite.groups for v in g.vectors}
    assert set(range(65)) <= lengths
    assert {15, 16, 17, 31, 32, 33, 255, 256, 257} <= lengths
    assert {0, 1, 0xFFFFFFFF} <= {v.seed for g in suite.groups for v in g.vectors}
    assert all(v.source for v in groups["published"].vectors)
    assert suite.smhasher_expected == {"x64": 0x6384BA69, "x86": 0xB3ECE62A}[variant]
    assert suite.ufid_vectors


def test_fixture_records_provenance() -> None:
    doc = _doc()
    assert {"mmh3", "c-port", "reference", "published", "smhasher"} <= set(doc["sources"])
    for group in doc["hash_groups"]:
        assert set(group["agreed_by"]) <= set(doc["sources"])
        assert len(group["agreed_by"]) >= 3
    assert "KeysetTest" in doc["smhasher"]["source"]
    assert "256-i" in doc["smhasher"]["algorithm"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_fixture_vector_equals_mmh3(variant: Variant) -> None:
    # Independent of the checker: the raw file against the mmh3 C extension.
    for group in _doc()["hash_groups"]:
        for v in group["vectors"]:
            if variant in v:
                assert mmh3.hash_bytes(bytes.fromhex(v["data"]), v["seed"], variant == "x64").hex() == v[variant]


# --- checking in-process ------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["python", "mmh3"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_builtin_implementations_pass(impl: str, variant: Variant) -> None:
    report = check_vectors(resolve_implementation(impl, variant), load_vectors(variant), implementation=impl)
    assert report.ok, format_report(report)
    assert {g.name for g in report.groups} == _GROUPS


@pytest.mark.parametrize(("variant", "expected"), [("x64", 0x6384BA69), ("x86", 0xB3ECE62A)])
def test_smhasher_verification_of_mmh3(variant: Variant, expected: int) -> None:
    assert smhasher_verification(lambda d, s: mmh3.hash_bytes(d, s, variant == "x64")) == expected


def test_wrong_variant_fails_everywhere() -> None:
    report = check_vectors(resolve_implementation("mmh3", "x86"), load_vectors("x64"))
    assert not report.ok
    # Only the empty input with seed 0 hashes to zero in both variants.
    assert set(report.failed_groups) == _GROUPS


def test_tail_bug_is_reported_with_first_mismatch() -> None:
    report = check_vectors(tail_bug_x64, load_vectors("x64"), implementation="tail-bug")
    assert not report.ok
    lengths = {g.name: g for g in report.groups}["lengths-0-64"]
    # Lengths 0..64 x 4 seeds; the bug only shows when len % 16 != 0 (4 * 5 lengths are whole blocks).
    assert lengths.failed == 260 - 4 * 5
    assert lengths.first_mismatch is not None
    assert lengths.first_mismatch.case.startswith("data=")
    assert "(1 bytes)" in lengths.first_mismatch.case
    text = format_report(report)
    assert "FAIL" in text
    assert "expected" in text
    assert "got" in text


@pytest.mark.parametrize("fn", [short_output, raises])
def test_misbehaving_implementation_is_a_failure_not_a_crash(fn: Any) -> None:
    report = check_vectors(fn, load_vectors("x64"))
    assert set(report.failed_groups) == _GROUPS
    mismatch = report.groups[0].first_mismatch
    assert mismatch is not None
    assert ("15 bytes" in mismatch.got) if fn is short_output else ("RuntimeError" in mismatch.got)


def test_corrupted_expected_value_is_detected() -> None:
    doc = copy.deepcopy(_doc())
    vec = doc["hash_groups"][1]["vectors"][3]
    vec["x64"] = ("00" if vec["x64"][:2] != "00" else "11") + vec["x64"][2:]
    report = check_vectors(resolve_implementation("mmh3", "x64"), parse_vectors(doc, "x64"))
    assert report.failed_groups == ("block-boundaries",)
    assert {g.name: g for g in report.groups}["block-boundaries"].failed == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("hash_groups"),
        lambda d: d.__setitem__("format", "something-else"),
        lambda d: d["hash_groups"][0]["vectors"][0].__setitem__("x64", "zz"),
        lambda d: d["hash_groups"][0]["vectors"][0].__setitem__("x64", "00"),
        lambda d: d["hash_groups"][0]["vectors"][0].__setitem__("seed", -1),
        lambda d: d["smhasher"].__setitem__("x64", 5),
    ],
)
def test_malformed_vector_file_is_a_conformance_error(mutate: Any) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(ConformanceError):
        parse_vectors(doc, "x64")


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "python:",
        "python:reference.hash",
        "python:reference.hash:no_such",
        "python:no_such_module:f",
        "c:",
        "c:lib",
    ],
)
def test_bad_impl_specs(spec: str) -> None:
    with pytest.raises(UsageError):
        resolve_implementation(spec, "x64")


def test_non_callable_is_rejected() -> None:
    with pytest.raises(UsageError, match="not callable"):
        resolve_implementation("python:reference.hash:VARIANTS", "x64")


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["python", "mmh3"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_cli_builtin_pass(impl: str, variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", impl, "--variant", variant]) == 0
    out = capsys.readouterr().out
    assert f"{variant}_128" in out
    assert "result: PASS" in out
    assert "FAIL" not in out


def test_cli_default_checks_both_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors"]) == 0
    out = capsys.readouterr().out
    assert "x64_128" in out
    assert "x86_128" in out


@pytest.mark.parametrize(
    ("spec", "variant"),
    [("python:reference.hash:murmur3_x64_128", "x64"), ("python:reference.hash:murmur3_x86_128", "x86")],
)
def test_cli_python_callable_pass(spec: str, variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", spec, "--variant", variant]) == 0
    assert "result: PASS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "variant"),
    [
        ("python:tests.conformance.test_vectors:tail_bug_x64", "x64"),
        ("python:tests.conformance.test_vectors:swapped_lanes_x86", "x86"),
        ("python:reference.hash:murmur3_x64_128", "x86"),
    ],
)
def test_cli_wrong_implementation_exits_1(spec: str, variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", spec, "--variant", variant]) == 1
    out = capsys.readouterr().out
    assert "result: FAIL" in out
    assert "first mismatch" in out


def test_cli_bad_impl_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", "python:no_such_module:f"]) == 2
    err = capsys.readouterr().err
    assert "no_such_module" in err
    assert "Traceback" not in err


# --- the C path: our own C port, compiled now ---------------------------------------------


@pytest.fixture(scope="module")
def c_libs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    require(c_compiler() is not None, "no C compiler (gcc/cc) to build tests/c/murmur3.c")
    out = tmp_path_factory.mktemp("murmur3-c")
    yield {"good": compile_murmur3(out), "broken": compile_murmur3(out, broken=True)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_cli_c_port_passes(variant: Variant, c_libs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"c:{c_libs['good']}:{SYMBOLS[variant]}"
    assert main(["vectors", "--impl", spec, "--variant", variant]) == 0
    assert "result: PASS" in capsys.readouterr().out


@pytest.mark.parametrize("variant", VARIANTS)
def test_cli_broken_c_port_fails(variant: Variant, c_libs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"c:{c_libs['broken']}:{SYMBOLS[variant]}"
    assert main(["vectors", "--impl", spec, "--variant", variant]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    # Whole-block inputs are unaffected by a tail bug, so some groups still pass...
    report = check_vectors(resolve_implementation(spec, variant), load_vectors(variant))
    lengths = {g.name: g for g in report.groups}["lengths-0-64"]
    assert 0 < lengths.failed < lengths.total
    # ...but the SMHasher verification covers every length and catches it.
    assert SMHASHER_GROUP in report.failed_groups


def test_cli_c_errors_exit_2(c_libs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", f"c:{c_libs['good']}:no_such_symbol", "--variant", "x64"]) == 2
    assert "no_such_symbol" in capsys.readouterr().err
    assert main(["vectors", "--impl", f"c:{tmp_path / 'missing.so'}:f", "--variant", "x64"]) == 2
    assert "missing.so" in capsys.readouterr().err


def test_console_script_finds_vendor_module_in_cwd(tmp_path: Path) -> None:
    # The console script's sys.path does not include the current directory;
    # a vendor runs `ufidcert vectors --impl python:myport:fn` from their project.
    exe = shutil.which("ufidcert")
    require(exe is not None, "the ufidcert console script is not installed (pip install -e .)")
    assert exe is not None
    (tmp_path / "vendor_port_h1.py").write_text(
        "import mmh3\n\ndef h(data, seed):\n    return mmh3.hash_bytes(data, seed, False)\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [exe, "vectors", "--impl", "python:vendor_port_h1:h", "--variant", "x86"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "result: PASS" in proc.stdout


def test_cli_external_impl_needs_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--impl", "python:reference.hash:murmur3_x64_128"]) == 2
    assert "--variant" in capsys.readouterr().err


_HOSTILE_IMPLS = {
    "exits0": "import os\ndef h(data, seed):\n    os._exit(0)\n",
    "exits1": "import os\ndef h(data, seed):\n    os._exit(1)\n",
    "crashes": "import ctypes\ndef h(data, seed):\n    ctypes.string_at(0)\n",
    "hangs": "import time\ndef h(data, seed):\n    time.sleep(3600)\n",
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("exits0", "exited with status 0 before reporting a result"),
        ("exits1", "exited with status 1 before reporting a result"),
        ("crashes", "killed by signal SIGSEGV"),
        ("hangs", "did not finish within 3 s"),
    ],
)
def test_cli_an_implementation_that_exits_crashes_or_hangs_fails(
    name: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / f"impl_{name}.py").write_text(_HOSTILE_IMPLS[name])
    monkeypatch.chdir(tmp_path)
    args = ["vectors", "--impl", f"python:impl_{name}:h", "--variant", "x64", "--timeout", "3"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and text in out, out


def test_cli_timeout_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--timeout", "0"]) == 2
    assert "--timeout 0" in capsys.readouterr().err
