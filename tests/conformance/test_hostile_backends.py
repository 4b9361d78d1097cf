"""Hostile backends: every way a backend can die or stall ends in a true verdict, a report and no leftovers.

Each case certifies a backend of tests/conformance/_hostile.py with a short
per-operation timeout and checks the exit status, the report's verdict
(which must match it), the root cause named in the report, and that no
process the run started is left (every process of a run carries a token in
its environment, inherited by the backend host and its children).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conformance._procs import process_table
from conformance.cli import main
from tests._support import require_module
from tests.conformance._hostile import MARKER

_HOSTILE = "python:tests.conformance._hostile:"
_ROOT = Path(__file__).resolve().parents[2]


def _with_token(token: str) -> list[str]:
    """Processes whose environment holds ``token`` (other than this one), as 'pid cmdline'."""
    found = []
    for st in process_table():
        if st.pid == os.getpid() or st.state == "Z":
            continue
        try:
            env = Path(f"/proc/{st.pid}/environ").read_bytes()
            cmd = Path(f"/proc/{st.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token.encode() in env:
            found.append(f"{st.pid} {cmd}")
    return found


def _alive(pid: int) -> bool:
    return any(st.pid == pid and st.state != "Z" for st in process_table())


def _certify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, *extra: str
) -> tuple[int, dict[str, Any], str]:
    token = uuid.uuid4().hex
    monkeypatch.setenv("UFIDCERT_TEST_TOKEN", token)
    report = tmp_path / "report"
    status = main(
        ["certify", "--backend", backend, "--profile", "smoke", "--report", str(report), "-q", "--timeout", "1", *extra]
    )
    doc = json.loads((report / "report.json").read_text())
    want = {"pass": 0, "fail": 1, "error": 2}[doc["verdict"]]
    assert status == want, f"exit {status} but the report's verdict is {doc['verdict']}"
    assert not _with_token(token), f"left running: {_with_token(token)}"
    return status, doc, token


@pytest.mark.parametrize(
    ("name", "extra", "cause"),
    [
        ("exit0_mid_run", (), "the backend process exited with status 0 during"),
        ("exit1_mid_run", (), "the backend process exited with status 1 during"),
        ("crash_segfault", (), "was killed by signal SIGSEGV (11)"),
        ("hang_in_call", (), "did not complete within"),
        ("hang_in_dump", (), "flow_dump (iterating, after"),
        ("hang_in_factory", ("--open-timeout", "3"), "the factory did not complete within 3 s"),
        ("out_of_memory", ("--memory-limit", "1024"), "ran out of memory"),
    ],
)
def test_death_or_stall_is_an_error_with_its_root_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, extra: tuple[str, ...], cause: str
) -> None:
    t0 = time.monotonic()
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + name, *extra)
    assert status == 2 and doc["verdict"] == "error"
    assert doc["root_cause"] and cause in doc["root_cause"], doc["root_cause"]
    assert doc["notes"][0].startswith("root cause: "), doc["notes"]
    if name == "crash_segfault":
        # The faulthandler dump names where it crashed.
        assert "Fatal Python error: Segmentation fault" in doc["root_cause"] and "string_at" in doc["root_cause"]
    if name.startswith("hang_in_") and name != "hang_in_factory":
        assert "time.sleep" in doc["root_cause"] or "_hostile.py" in doc["root_cause"], "no stack of the hang"
    # A death in one test leaves the others "not run", never "pass" against a dead backend.
    assert not [r for r in doc["requirements"] if r["status"] == "fail"]
    assert time.monotonic() - t0 < 120


def test_hang_in_close_is_an_error_with_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + "hang_in_close")
    assert status == 2 and doc["verdict"] == "error"
    assert "close() did not complete within 1 s" in doc["root_cause"]
    assert [f["kind"] for f in doc["findings"]] == ["close-failed"]
    # Every requirement was checked before close(): the error is the close, not them.
    assert not [r for r in doc["requirements"] if r["status"] in ("fail", "error")]


def test_leftover_processes_are_ended_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + "leave_children")
    assert status == 0 and doc["verdict"] == "pass"
    (finding,) = [f for f in doc["findings"] if f["kind"] == "leftover-processes"]
    # Both the child in the backend's group and the one that left it with setsid().
    assert sum(MARKER in d for d in finding["details"]) == 2, finding


def test_garbage_return_types_fail_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + "garbage_return")
    assert status == 1 and doc["verdict"] == "fail"
    failing = [r for r in doc["requirements"] if r["status"] == "fail"]
    assert any("flow_put returned str 'ok', not FlowStats" in r["reason"] for r in failing), failing


@pytest.mark.parametrize(
    ("name", "text"),
    [("factory_keyerror", "KeyError: 'socket'"), ("factory_typeerror", "TypeError: unsupported operand")],
)
def test_factory_errors_keep_type_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + name)
    assert status == 2 and text in doc["unavailable"], doc["unavailable"]
    assert "rejected options" not in doc["unavailable"]


def test_in_process_mode_still_times_out_a_hung_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, doc, _ = _certify(
        tmp_path, monkeypatch, _HOSTILE + "hang_in_factory", "--in-process", "--open-timeout", "1"
    )
    assert status == 2 and "did not complete within 1 s" in doc["unavailable"]


# --- stopping a run: SIGTERM, SIGHUP, SIGINT ------------------------------------------------


def _stop_mid_run(
    tmp_path: Path, backend: str, sig: int, *extra: str, delay_s: float = 3
) -> tuple[int, dict[str, Any], str]:
    token = uuid.uuid4().hex
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "UFIDCERT_TEST_TOKEN": token, "TMPDIR": str(tmp), "PYTHONPATH": str(_ROOT)}
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "certify", "--backend", backend, "--profile", "standard",
         "--report", str(report), "-q", *extra],
        cwd=_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ufidcert certify: backend"), "certify did not start"
        time.sleep(delay_s)  # into the run (a standard run of these backends lasts minutes)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    doc = json.loads((report / "report.json").read_text())
    assert proc.returncode == 2, out[-3000:]
    assert doc["verdict"] == "error"
    assert not _with_token(token), f"left running: {_with_token(token)}"
    assert not list(tmp.iterdir()), f"temporary files left: {list(tmp.iterdir())}"
    return proc.returncode, doc, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stopping_a_reference_run_writes_an_error_report(tmp_path: Path, sig: int) -> None:
    _, doc, _ = _stop_mid_run(tmp_path, _HOSTILE + "slow_reference", sig)
    name = signal.Signals(sig).name
    want = "SIGINT" if sig == signal.SIGINT else f"stopped by {name}"
    assert want in doc["root_cause"], doc["root_cause"]


def test_stopping_an_in_process_run_writes_an_error_report(tmp_path: Path) -> None:
    _, doc, _ = _stop_mid_run(tmp_path, _HOSTILE + "slow_reference", signal.SIGTERM, "--in-process")
    assert "stopped by SIGTERM" in doc["root_cause"]


@pytest.mark.parametrize(("sig", "delay_s"), [(signal.SIGTERM, 0.5), (signal.SIGTERM, 8), (signal.SIGINT, 8)])
def test_stopping_a_netdev_run_tears_everything_down(tmp_path: Path, sig: int, delay_s: float) -> None:
    # 0.5 s: while the factory starts ovsdb-server and ovs-vswitchd; 8 s: in the tests.
    from conformance.backends._ovsd import ovs_available
    from tests._ovs import netns_names
    from tests._support import require

    reason = ovs_available()
    require(reason is None, reason or "")

    def orphaned() -> set[str]:
        # Namespaces are named ufidcert-<owner pid>-<token>; other tests may own live ones.
        return {n for n in netns_names() if (m := re.match(r"ufidcert-(\d+)-", n)) and not _alive(int(m[1]))}

    before = orphaned()
    _, doc, _ = _stop_mid_run(tmp_path, "netdev", sig, delay_s=delay_s)
    assert signal.Signals(sig).name in doc["root_cause"], doc["root_cause"]
    # _stop_mid_run checked processes and temporary directories; the namespace is gone too.
    assert orphaned() <= before


def test_under_xdist_the_root_cause_and_findings_reach_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_module("xdist", "pytest-xdist is in the test extra")  # CI must not skip this silently
    status, doc, _ = _certify(tmp_path, monkeypatch, _HOSTILE + "exit1_mid_run", "-n", "2")
    assert status == 2 and "exited with status 1" in doc["root_cause"]
    status, doc, _ = _certify(tmp_path / "b", monkeypatch, _HOSTILE + "leave_children", "-n", "2")
    assert status == 0 and {f["kind"] for f in doc["findings"]} == {"leftover-processes"}
