"""Folding test records into requirement statuses, the verdict, and the three report files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.errors import UsageError
from conformance.report import (
    BackendInfo,
    Report,
    TestRecord,
    build_report,
    load_report_json,
    render_html,
    render_markdown,
    report_to_json,
    write_report,
)
from conformance.requirements import Capability, Level, Requirement, Semantics

_CAT = (
    Requirement("UFID-A-001", Level.MUST, Capability.NONE, Semantics.COMMON, "first <b>rule</b>", "src a"),
    Requirement("UFID-A-002", Level.MUST, Capability.UFID, Semantics.COMMON, "needs ufid", "src b"),
    Requirement("UFID-B-001", Level.SHOULD, Capability.NONE, Semantics.COMMON, "a should", "src c"),
    Requirement("UFID-B-002", Level.MUST, Capability.NONE, Semantics.NETDEV, "netdev only", "src d"),
)


def _report(
    records: list[TestRecord], caps: dict[str, str | None] | None = None, unavailable: str | None = None
) -> Report:
    return build_report(
        records,
        backend=BackendInfo("demo", "a demo", "1.0"),
        features={"ufid": True},
        capabilities={"ufid": None} if caps is None else caps,
        semantics="kernel",
        profile="smoke",
        seed=0,
        started="2026-01-01T00:00:00+00:00",
        duration_s=1.25,
        catalogue=_CAT,
        unavailable=unavailable,
    )


def _status(rep: Report) -> dict[str, str]:
    return {r.requirement.id: r.status for r in rep.requirements}


def test_fold_rules_and_verdict() -> None:
    recs = [
        TestRecord("t::a1", ("UFID-A-001",), "passed"),
        TestRecord("t::a1b", ("UFID-A-001",), "failed", "boom", "repro text"),
        TestRecord("t::a2", ("UFID-A-002",), "passed"),
        TestRecord("t::b1", ("UFID-B-001",), "passed"),
    ]
    rep = _report(recs)
    assert _status(rep) == {
        "UFID-A-001": "fail",
        "UFID-A-002": "pass",
        "UFID-B-001": "pass",
        "UFID-B-002": "not-applicable",
    }
    assert rep.verdict == "fail"
    a1 = rep.requirements[0]
    assert a1.reproducer == "repro text" and "boom" in a1.reason and a1.tests == ("t::a1", "t::a1b")


def test_missing_capability_is_not_applicable_never_pass() -> None:
    recs = [TestRecord("t::a1", ("UFID-A-001",), "passed"), TestRecord("t::a2", ("UFID-A-002",), "passed")]
    rep = _report([*recs, TestRecord("t::b1", ("UFID-B-001",), "passed")], caps={"ufid": "no ufid here"})
    assert _status(rep)["UFID-A-002"] == "not-applicable"
    assert "no ufid here" in rep.requirements[1].reason
    assert rep.verdict == "pass"


def test_should_failure_does_not_fail_the_verdict_and_untested_must_is_error() -> None:
    recs = [TestRecord("t::a1", ("UFID-A-001",), "passed"), TestRecord("t::b1", ("UFID-B-001",), "failed", "x")]
    rep = _report(recs)
    assert _status(rep)["UFID-B-001"] == "fail"
    assert _status(rep)["UFID-A-002"] == "error"  # no test ran
    assert rep.verdict == "error"
    rep = _report([*recs, TestRecord("t::a2", ("UFID-A-002",), "passed")])
    assert rep.verdict == "pass"


def test_error_outcome_and_unavailable_backend() -> None:
    recs = [TestRecord("t::a1", ("UFID-A-001",), "error", "timeout"), TestRecord("t::a2", ("UFID-A-002",), "passed")]
    rep = _report([*recs, TestRecord("t::b1", ("UFID-B-001",), "passed")])
    assert _status(rep)["UFID-A-001"] == "error" and rep.verdict == "error"
    rep = _report([], unavailable="no daemon")
    assert rep.verdict == "error" and rep.unavailable == "no daemon"


def test_runtime_skips_make_not_applicable() -> None:
    recs = [
        TestRecord("t::a1", ("UFID-A-001",), "not-applicable", "no upcalls"),
        TestRecord("t::a2", ("UFID-A-002",), "passed"),
        TestRecord("t::b1", ("UFID-B-001",), "passed"),
    ]
    rep = _report(recs)
    assert _status(rep)["UFID-A-001"] == "not-applicable"
    assert rep.requirements[0].reason == "no upcalls"


def test_unknown_requirement_in_record() -> None:
    with pytest.raises(UsageError, match="UFID-Z-009"):
        _report([TestRecord("t::z", ("UFID-Z-009",), "passed")])


def test_files_and_schema(tmp_path: Path) -> None:
    recs = [
        TestRecord("t::a1", ("UFID-A-001",), "failed", "boom", "dpif.flow_put(<x>)"),
        TestRecord("t::a2", ("UFID-A-002",), "passed"),
        TestRecord("t::b1", ("UFID-B-001",), "passed"),
    ]
    rep = _report(recs)
    paths = write_report(rep, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["report.html", "report.json", "report.md"]
    doc = load_report_json(tmp_path / "out" / "report.json")
    for field in ("suite_version", "backend", "features", "profile", "seed", "started", "duration_s", "verdict"):
        assert field in doc
    assert doc["backend"] == {"name": "demo", "description": "a demo", "version": "1.0", "provenance": []}
    assert {r["status"] for r in doc["requirements"]} <= {"pass", "fail", "error", "not-applicable"}
    assert set(doc["requirements"][0]) >= {"id", "level", "title", "status", "reason", "tests"}
    assert doc == json.loads(json.dumps(report_to_json(rep)))


def test_html_is_self_contained_escaped_failures_first() -> None:
    recs = [
        TestRecord("t::a1", ("UFID-A-001",), "failed", "boom", "dpif.flow_put(<x>)"),
        TestRecord("t::a2", ("UFID-A-002",), "passed"),
        TestRecord("t::b1", ("UFID-B-001",), "passed"),
    ]
    page = render_html(_report(recs))
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)
    assert "first &lt;b&gt;rule&lt;/b&gt;" in page and "dpif.flow_put(&lt;x&gt;)" in page
    assert page.index("Failures") < page.index("needs ufid")
    md = render_markdown(_report(recs))
    assert md.index("## Failures") < md.index("| UFID-A-002 |") and "dpif.flow_put(<x>)" in md


def test_load_report_json_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a ufidcert report"):
        load_report_json(bad)
    with pytest.raises(UsageError, match="not a readable"):
        load_report_json(tmp_path / "missing.json")
