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


def test_certify_command_from_vendor_project(vendor_dir: Path) -> None:
    exe = shutil.which("ufidcert")
    cmd = [exe] if exe else [sys.executable, "-m", "conformance"]
    proc = _run([*cmd, "certify", "--backend", "python:dictdp:open_backend", "--profile", "smoke"], vendor_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "VERDICT: PASS" in proc.stdout
