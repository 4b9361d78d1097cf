"""The ``ufidcert`` command line wiring (conformance/cli.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.cli import build_parser, main


def test_every_subcommand_is_registered() -> None:
    # The README documents these; a module missing from _COMMAND_MODULES would drop one silently.
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"vectors", "ufid", "certify", "backends", "requirements", "bench"} <= set(sub.choices)  # type: ignore[arg-type]


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # `ufidcert requirements | head -1`: the pipe closes while we still print.
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "requirements"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # Close our end before the child has imported anything, so that its
    # first write (not some later one, past the pipe buffer) hits EPIPE.
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
