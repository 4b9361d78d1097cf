"""A vendor's own project: only a python:MODULE:FACTORY backend, ufidcert installed, nothing else.

The backend is the example from docs/backend-guide.md, extracted as it stands
there, so the guide's example is certified by this test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "backend-guide.md"


def _example_backend() -> str:
    text = _GUIDE.read_text()
    start = text.index("<!-- example-backend")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, "docs/backend-guide.md lost its example backend"
    return match.group(1)


@pytest.fixture
def vendor_dir(tmp_path: Path) -> Path:
    (tmp_path / "dictdp.py").write_text(_example_backend())
    # The vendor's own unrelated tests must not disturb the certification.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_theirs.py").write_text("def test_theirs():\n    assert True\n")
    return tmp_path


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment apart from PATH/HOME: no PYTHONPATH pointing at this checkout.
    env = {k: v for k, v in __import__("os").environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env, check=False)


def test_pytest_from_vendor_project(vendor_dir: Path) -> None:
    exe = shutil.which("pytest")
    cmd = [exe] if exe else [sys.executable, "-m", "pytest"]
    proc = _run(
        [*cmd, "-p", "no:cacheprovider", "--dpif-backend=python:dictdp:open_backend", "--dpif-profile=smoke",
         "--dpif-report=cert"],
        vendor_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads((vendor_dir / "cert" / "report.json").read_text())
    assert doc["verdict"] == "pass" and doc["semantics"] == "generic"
    assert doc["backend"]["description"] == "dict-based example datapath" and doc["backend"]["version"] == "1.0"
    statuses = {r["id"]: r["status"] for r in doc["requirements"]}
    assert statuses["UFID-ID-001"] == "pass" and statuses["UFID-TERSE-001"] == "pass"
    assert statuses["UFID-STATS-001"] == "not-applicable" and statuses["UFID-DUP-001"] == "not-applicable"
    assert "test_theirs" not in proc.stdout


def test_guide_example_uses_only_public_names() -> None:
    private = re.findall(r"^\s*(?:from|import) (\S*\._\w+)", _example_backend(), re.M)
    assert not private, f"the guide's example imports private modules: {private}"


def test_pytest_route_keeps_the_vendors_own_tests_when_named(vendor_dir: Path) -> None:
    exe = shutil.which("pytest")
    cmd = [exe] if exe else [sys.executable, "-m", "pytest"]
    proc = _run(
        [*cmd, "-p", "no:cacheprovider", "tests", "--dpif-backend=python:dictdp:open_backend",
         "--dpif-profile=smoke", "--dpif-report=cert", "-rA"],
        vendor_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "PASSED tests/test_theirs.py::test_theirs" in proc.stdout
    doc = json.loads((vendor_dir / "cert" / "report.json").read_text())
    assert doc["verdict"] == "pass" and not any("test_theirs" in t for r in doc["requirements"] for t in r["tests"])


def test_certify_command_from_vendor_project(vendor_dir: Path) -> None:
    exe = shutil.which("ufidcert")
    cmd = [exe] if exe else [sys.executable, "-m", "conformance"]
    proc = _run([*cmd, "certify", "--backend", "python:dictdp:open_backend", "--profile", "smoke"], vendor_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "VERDICT: PASS" in proc.stdout
