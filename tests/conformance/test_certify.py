"""``ufidcert certify`` and ``ufidcert backends``: exit statuses, summary, report files."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.commands.certify import build_pytest_args, summary_table


def test_certify_reference_passes_and_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["certify", "--profile", "smoke", "--report", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert status == 0, out[-2000:]
    assert "VERDICT: PASS" in out and "REQUIREMENT" in out
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["backend"]["name"] == "reference" and doc["verdict"] == "pass" and doc["profile"] == "smoke"
    assert (tmp_path / "r" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "r" / "report.md").read_text().startswith("# ufidcert certification")


def test_unknown_backend_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--backend", "no-such-backend", "--profile", "smoke"]) == 2
    assert "no-such-backend" in capsys.readouterr().err


def test_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--option", "oops", "--profile", "smoke"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_unavailable_backend_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gone_backend.py").write_text(
        "from conformance.errors import BackendUnavailable\n"
        "def make(**options):\n"
        "    raise BackendUnavailable('the daemon is not installed')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["certify", "--backend", "python:gone_backend:make", "--profile", "smoke", "-q"]) == 2
    captured = capsys.readouterr()
    assert "the daemon is not installed" in captured.err + captured.out


def test_backends_lists_the_references(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    for name in ("reference ", "reference-legacy"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert " yes " in line


def test_pytest_args(tmp_path: Path) -> None:
    ns = argparse.Namespace(
        backend="reference", option=["semantics=netdev"], profile="full", report=None, seed=7, timeout=5.0,
        workers="2", junitxml=str(tmp_path / "j.xml"), quiet=False,
    )  # fmt: skip
    args = build_pytest_args(ns, tmp_path / "pytest.ini")
    joined = " ".join(args)
    assert "--dpif-backend reference" in joined and "--dpif-option=semantics=netdev" in args
    assert "--dpif-seed 7" in joined and "-n 2" in joined and "--junitxml" in args
    assert "--dpif-report" not in args


def test_summary_table_failures_first() -> None:
    doc = {
        "requirements": [
            {"id": "UFID-A-001", "level": "MUST", "status": "pass", "reason": ""},
            {"id": "UFID-B-001", "level": "MUST", "status": "not-applicable", "reason": "no ufid"},
            {"id": "UFID-C-001", "level": "MUST", "status": "fail", "reason": "boom"},
        ],
        "counts": {"pass": 1, "fail": 1, "error": 0, "not-applicable": 1},
        "backend": {"name": "x"},
        "semantics": "kernel",
        "profile": "smoke",
        "seed": 0,
        "duration_s": 1.0,
        "verdict": "fail",
    }
    text = summary_table(doc)
    assert text.index("UFID-C-001") < text.index("UFID-B-001")
    assert "VERDICT: FAIL" in text and "(1 more)" in text


def test_console_script_end_to_end(tmp_path: Path) -> None:
    exe = shutil.which("ufidcert")
    cmd = [exe] if exe else [sys.executable, "-m", "conformance"]
    proc = subprocess.run(
        [*cmd, "certify", "--profile", "smoke", "--report", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "VERDICT: PASS" in proc.stdout


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_timeout_must_be_positive_and_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--profile", "smoke", "-q", f"--timeout={value}"]) == 2
    captured = capsys.readouterr()
    assert "--timeout" in captured.err and "expected a number of seconds > 0" in captured.err
    assert "VERDICT" not in captured.out  # nothing ran


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--option", "max_flows=-3"], "max_flows='-3': expected a positive integer"),
        (["--option", "max_flows=many"], "expected an integer"),
        (["--option", "colour=blue"], "unknown option(s) colour"),
        (["--junitxml", "/"], "--junitxml /: is a directory"),
        (["--junitxml", "/proc/ufidcert/j.xml"], "--junitxml /proc/ufidcert/j.xml: cannot write there"),
        (["--open-timeout", "0"], "--open-timeout 0"),
        (["--memory-limit", "-1"], "--memory-limit -1"),
    ],
)
def test_bad_arguments_are_usage_errors_before_anything_runs(
    args: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certify", "--profile", "smoke", "-q", *args]) == 2
    captured = capsys.readouterr()
    assert text in captured.err and "VERDICT" not in captured.out
    assert len(captured.err.strip().splitlines()) == 1, captured.err  # one clear line, no traceback


def test_a_report_path_that_cannot_be_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["certify", "--profile", "smoke", "-q", "--report", str(tmp_path / "file" / "r")]) == 2
    captured = capsys.readouterr()
    assert "report directory" in captured.err and "VERDICT" not in captured.out


def test_a_stale_report_never_passes_for_this_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r"
    report.mkdir()
    for name in ("report.json", "report.md", "report.html"):
        (report / name).write_text('{"verdict": "pass", "requirements": []}')
    # A usage error: nothing runs, and the earlier verdict is gone.
    assert main(["certify", "--profile", "smoke", "-q", "--report", str(report), "--timeout", "0"]) == 2
    assert not list(report.iterdir())
    # A run that cannot open its backend writes its own (error) report.
    assert main(["certify", "--backend", "python:tests.conformance._hostile:factory_keyerror", "--profile",
                 "smoke", "-q", "--report", str(report)]) == 2  # fmt: skip
    assert json.loads((report / "report.json").read_text())["verdict"] == "error"
    assert not [p for p in report.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_exit_0_needs_the_pass_report_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import conformance.plugin

    monkeypatch.setattr(conformance.plugin, "write_report", lambda report, directory: [])
    assert main(["certify", "--profile", "smoke", "-q", "--report", str(tmp_path / "r")]) == 2
    assert "the PASS report was not written" in capsys.readouterr().err


def test_the_report_names_what_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A backend declares its components (conformance.provenance); the merged report carries them verbatim.
    (tmp_path / "traced_backend.py").write_text(
        "from reference.datapath import ReferenceDatapath\n"
        "from conformance.provenance import Provenance\n"
        "def make(**options):\n"
        "    dp = ReferenceDatapath()\n"
        "    dp.provenance = [Provenance('Linux kernel', '6.12.9-amd64', 'debian:trixie linux-image-x=1'),\n"
        "                     {'component': 'ovs-vswitchd', 'version': '3.5.0', 'source': '/opt/ovs'}]\n"
        "    return dp\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["certify", "--backend", "python:traced_backend:make", "--profile", "smoke", "-q"]
    assert main([*argv, "--report", str(tmp_path / "r")]) == 0
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["backend"]["provenance"] == [
        {"component": "Linux kernel", "version": "6.12.9-amd64", "source": "debian:trixie linux-image-x=1"},
        {"component": "ovs-vswitchd", "version": "3.5.0", "source": "/opt/ovs"},
    ]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "- ran: Linux kernel `6.12.9-amd64` from debian:trixie linux-image-x=1\n" in md
    assert "ovs-vswitchd 3.5.0 from /opt/ovs" in (tmp_path / "r" / "report.html").read_text()


def test_a_malformed_provenance_is_a_run_that_could_not_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad_trace_backend.py").write_text(
        "from reference.datapath import ReferenceDatapath\n"
        "def make(**options):\n"
        "    dp = ReferenceDatapath()\n"
        "    dp.provenance = [{'component': 'Linux kernel', 'version': 6}]\n"
        "    return dp\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["certify", "--backend", "python:bad_trace_backend:make", "--profile", "smoke", "-q"]) == 2
    err = capsys.readouterr().err
    assert "provenance[0]: missing or not a string: version, source" in err
