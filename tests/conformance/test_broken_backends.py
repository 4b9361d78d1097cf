"""The suite's honesty: deliberately broken backends fail the right requirements; the references pass.

Each broken backend is the reference datapath with one defect
(tests/conformance/_broken.py), certified through ``ufidcert certify`` as a
``python:MODULE:FACTORY`` backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

_BROKEN = {
    "leak_keys_in_terse_dumps": {"UFID-TERSE-001"},
    "zero_stats_on_delete": {"UFID-DEL-002", "UFID-TERSE-004"},
    "accept_duplicate_ufid": {"UFID-ID-004"},
    "swap_ufid_words": {"UFID-ID-001", "UFID-ID-002", "UFID-PROBE-001"},
    "ignore_zero_stats": {"UFID-PUT-005"},
    "stop_dump_at_1000": {"UFID-DUMP-005"},
    "ignore_masks": {"UFID-MASK-001", "UFID-KEY-001"},
    "wrong_hash_basis": {"UFID-HASH-001"},
}


def _certify(tmp_path: Path, backend: str, *extra: str) -> tuple[int, dict[str, object]]:
    report = tmp_path / "report"
    status = main(["certify", "--backend", backend, "--profile", "smoke", "--report", str(report), "-q", *extra])
    return status, json.loads((report / "report.json").read_text())


def _by_status(doc: dict[str, object], status: str) -> set[str]:
    return {r["id"] for r in doc["requirements"] if r["status"] == status}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(_BROKEN))
def test_broken_backend_fails_the_right_requirements(tmp_path: Path, name: str) -> None:
    status, doc = _certify(tmp_path, f"python:tests.conformance._broken:{name}")
    failed = _by_status(doc, "fail")
    assert status == 1 and doc["verdict"] == "fail", f"{name}: verdict {doc['verdict']}, exit {status}"
    assert _BROKEN[name] <= failed, f"{name}: expected failures {sorted(_BROKEN[name])}, got {sorted(failed)}"
    assert "UFID-SMOKE-001" not in failed, f"{name}: the defect broke the smoke check, not just its requirement"
    assert not _by_status(doc, "error"), f"{name}: errors {sorted(_by_status(doc, 'error'))}"
    failing = [r for r in doc["requirements"] if r["status"] == "fail"]  # type: ignore[attr-defined]
    assert all(r["reason"] and r["reproducer"] for r in failing), "a failure without reason or reproducer"


def test_reference_passes(tmp_path: Path) -> None:
    status, doc = _certify(tmp_path, "reference")
    assert status == 0 and doc["verdict"] == "pass"
    assert not _by_status(doc, "fail") and not _by_status(doc, "error")
    assert "UFID-ID-001" in _by_status(doc, "pass")


def test_exposed_hash_is_checked(tmp_path: Path) -> None:
    status, doc = _certify(tmp_path, "python:tests.conformance._broken:right_hash")
    assert status == 0 and "UFID-HASH-001" in _by_status(doc, "pass")


def test_legacy_passes_with_ufid_requirements_not_applicable(tmp_path: Path) -> None:
    status, doc = _certify(tmp_path, "reference-legacy")
    assert status == 0 and doc["verdict"] == "pass", _by_status(doc, "fail")
    na = _by_status(doc, "not-applicable")
    assert {"UFID-ID-001", "UFID-ID-004", "UFID-GET-001", "UFID-TERSE-001"} <= na
    assert {"UFID-LEGACY-001", "UFID-LEGACY-002", "UFID-PROBE-001"} <= _by_status(doc, "pass")
    reasons = {r["id"]: r["reason"] for r in doc["requirements"]}  # type: ignore[attr-defined]
    assert "ufid" in reasons["UFID-ID-001"]


def test_netdev_semantics_reference_passes(tmp_path: Path) -> None:
    status, doc = _certify(tmp_path, "reference", "--option", "semantics=netdev")
    assert status == 0 and doc["verdict"] == "pass", _by_status(doc, "fail")
    assert {"UFID-PUT-006", "UFID-GEN-001", "UFID-DUMP-004"} <= _by_status(doc, "pass")
    assert {"UFID-PUT-005", "UFID-GET-003"} <= _by_status(doc, "not-applicable")


def test_differential_reproducer_is_runnable(tmp_path: Path) -> None:
    report = tmp_path / "report"
    status = main(
        ["certify", "--backend", "python:tests.conformance._broken:ignore_zero_stats", "--report", str(report), "-q"]
    )
    doc = json.loads((report / "report.json").read_text())
    assert status == 1
    state = next(r for r in doc["requirements"] if r["id"] == "UFID-STATE-001")
    assert state["status"] == "fail", "the differential state machine missed an ignored ZERO_STATS"
    python_part, _, dpctl_part = state["reproducer"].partition("\n# Equivalent dpctl commands")
    assert "ovs-appctl dpctl/mod-flow --clear" in dpctl_part
    script = tmp_path / "repro.py"
    script.write_text(python_part)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=root, check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The replay shows the defect: after MODIFY|ZERO_STATS the flow still has packets.
    assert "n_packets=" in proc.stdout
