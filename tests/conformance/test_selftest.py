"""``ufidcert selftest``: kill matrix, JSON shape, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import mutants
from conformance.cli import main
from conformance.commands.selftest import RunResult, render_markdown, summarise
from conformance.mutants import BASES, Base, Mutant, MutantDpif, by_name


def _m(name: str, bases: tuple[str, ...]) -> Mutant:
    return Mutant(name, "stats", "flow_get", "d", "h", MutantDpif, bases)


def test_summary_kills_only_when_every_base_fails() -> None:
    ms = [_m("a", ("kernel", "netdev")), _m("b", ("kernel", "netdev")), _m("c", ("legacy",))]
    results = [
        RunResult(None, "kernel", "pass", (), (), 1.0, None),
        RunResult("a", "kernel", "fail", ("UFID-ID-001",), (), 1.0, 0.5),
        RunResult("a", "netdev", "fail", ("UFID-ID-002",), (), 1.0, 0.7),
        RunResult("b", "kernel", "fail", ("UFID-ID-001",), (), 1.0, 0.5),
        RunResult("b", "netdev", "pass", (), (), 2.0, None),
        RunResult("c", "legacy", "error", (), ("UFID-LEGACY-001",), 2.0, None),
    ]
    doc = summarise("smoke", ms, results)
    assert (doc["mutants"], doc["killed"], doc["runs"], doc["runs_killed"]) == (3, 1, 5, 3)
    assert doc["survivors"] == ["b (netdev)", "c (legacy)"]
    assert doc["matrix"]["a"] == {"kernel": ["UFID-ID-001"], "netdev": ["UFID-ID-002"]}
    assert doc["time_to_kill_s"]["a"] == {"kernel": 0.5, "netdev": 0.7}
    assert doc["controls"] == {"kernel": "pass"}
    md = render_markdown(doc, ms)
    assert "| `a` | stats |" in md and "**survives**" in md and "ID-001 (0.5 s)" in md


def test_selftest_kills_a_mutant_and_writes_json_and_markdown(tmp_path: Path) -> None:
    out, md = tmp_path / "st.json", tmp_path / "st.md"
    status = main(["selftest", "--profile", "smoke", "--mutant", "dump-skips-last-flow", "--base", "kernel",
                   "--json", str(out), "--markdown", str(md)])  # fmt: skip
    doc = json.loads(out.read_text())
    assert status == 0, doc
    assert {k: doc[k] for k in ("profile", "mutants", "killed", "survivors")} == {
        "profile": "smoke",
        "mutants": 1,
        "killed": 1,
        "survivors": [],
    }
    assert doc["matrix"]["dump-skips-last-flow"]["kernel"], "no killing requirement recorded"
    assert doc["controls"] == {"kernel": "pass"}
    assert "dump-skips-last-flow" in md.read_text() and "Requirement levels" in md.read_text()


def test_a_survivor_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    harmless = _m("harmless", ("kernel",))
    monkeypatch.setitem(mutants._BY_NAME, "harmless", harmless)
    status = main(["selftest", "--profile", "smoke", "--mutant", "harmless", "--base", "kernel",
                   "--json", str(tmp_path / "st.json")])  # fmt: skip
    doc = json.loads((tmp_path / "st.json").read_text())
    assert status == 1 and doc["survivors"] == ["harmless (kernel)"] and doc["killed"] == 0


def test_a_failing_control_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(BASES, "kernel", Base("kernel", "python:tests.conformance._broken:ignore_masks"))
    status = main(["selftest", "--profile", "smoke", "--mutant", "dump-skips-last-flow", "--base", "kernel"])
    assert status == 2
    assert "unmutated bases must pass" in capsys.readouterr().err


def test_unknown_mutant_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest", "--mutant", "no-such-mutant"]) == 2
    assert "no-such-mutant" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest", "--list"]) == 0
    out = capsys.readouterr().out
    assert by_name("dump-skips-last-flow").defect in out and f"{len(mutants.CATALOGUE)} mutants" in out
