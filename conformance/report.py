"""The certification report: per-requirement results, verdict, report.json/.md/.html.

The pytest plugin turns test outcomes into :class:`TestRecord` values;
:func:`build_report` folds them into one status per requirement of the
catalogue and a verdict; :func:`write_report` writes the three files.
docs/report-schema.md documents report.json. Pure data in, files out only
in :func:`write_report`.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, TypeAlias

from conformance.errors import UsageError
from conformance.provenance import Provenance
from conformance.requirements import CATALOGUE, Level, Requirement, area_title, not_applicable_reason

__all__ = [
    "SCHEMA_VERSION",
    "REPORT_FILES",
    "BackendInfo",
    "Finding",
    "Outcome",
    "Report",
    "RequirementResult",
    "Status",
    "TestRecord",
    "Verdict",
    "build_report",
    "load_report_json",
    "render_html",
    "prepare_report_dir",
    "render_markdown",
    "report_to_json",
    "suite_version",
    "write_report",
]

SCHEMA_VERSION = 1

Status: TypeAlias = Literal["pass", "fail", "error", "not-applicable"]
Verdict: TypeAlias = Literal["pass", "fail", "error"]
# One test's outcome; "not-applicable" = skipped because a capability or the semantics is missing.
Outcome: TypeAlias = Literal["passed", "failed", "error", "not-applicable", "skipped"]


def suite_version() -> str:
    """The installed ufidcert version (the suite's version)."""
    try:
        return metadata.version("ufidcert")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


_installed_version = suite_version


@dataclass(frozen=True, slots=True)
class TestRecord:
    """One test of the suite and what happened to it (one per pytest node id)."""

    __test__ = False  # not a pytest test class despite the name

    nodeid: str
    requirements: tuple[str, ...]
    outcome: Outcome
    reason: str = ""
    reproducer: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """Who was certified, and what exactly ran (:mod:`conformance.provenance`)."""

    name: str
    description: str = ""
    version: str = ""
    provenance: tuple[Provenance, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the run observed about the backend outside the requirements (e.g. leftover processes)."""

    kind: str  # "leftover-processes", "close-failed"
    message: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequirementResult:
    """One requirement's status with the tests that decided it."""

    requirement: Requirement
    status: Status
    reason: str
    tests: tuple[str, ...]
    reproducer: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything report.json holds."""

    backend: BackendInfo
    features: Mapping[str, Any]
    capabilities: Mapping[str, str | None]
    semantics: str
    profile: str
    seed: int
    started: str
    duration_s: float
    verdict: Verdict
    requirements: tuple[RequirementResult, ...]
    suite_version: str = field(default_factory=_installed_version)
    workers: int = 1
    notes: tuple[str, ...] = ()
    unavailable: str | None = None
    root_cause: str | None = None
    findings: tuple[Finding, ...] = ()

    def counts(self) -> dict[str, int]:
        """Number of requirements per status."""
        out = {"pass": 0, "fail": 0, "error": 0, "not-applicable": 0}
        for res in self.requirements:
            out[res.status] += 1
        return out


def _fold(req: Requirement, records: Sequence[TestRecord], na_reason: str | None) -> RequirementResult:
    tests = tuple(r.nodeid for r in records)
    if na_reason is not None:
        return RequirementResult(req, "not-applicable", na_reason, tests)
    if not records:
        return RequirementResult(req, "error", "no test of this requirement ran (deselected or interrupted)", ())
    for wanted, status in (("failed", "fail"), ("error", "error")):
        bad = [r for r in records if r.outcome == wanted]
        if bad:
            first = bad[0]
            return RequirementResult(req, status, f"{first.nodeid}: {first.reason}", tests, first.reproducer)  # type: ignore[arg-type]
    ran = [r for r in records if r.outcome == "passed"]
    if ran:
        return RequirementResult(req, "pass", f"{len(ran)} test(s) passed", tests)
    # Every test skipped itself: a capability found missing while running (e.g. no upcalls).
    reasons = sorted({r.reason for r in records if r.reason})
    return RequirementResult(req, "not-applicable", "; ".join(reasons) or "every test was skipped", tests)


def build_report(
    records: Iterable[TestRecord],
    *,
    backend: BackendInfo,
    features: Mapping[str, Any],
    capabilities: Mapping[str, str | None],
    semantics: str,
    profile: str,
    seed: int,
    started: str,
    duration_s: float,
    workers: int = 1,
    notes: Sequence[str] = (),
    unavailable: str | None = None,
    root_cause: str | None = None,
    findings: Sequence[Finding] = (),
    catalogue: Sequence[Requirement] = CATALOGUE,
) -> Report:
    """Fold test records into one result per requirement and the verdict.

    A requirement fails if any of its tests failed, is an error if one
    errored (or none ran), passes if its tests passed, and is not
    applicable when the backend's semantics or capabilities exclude it.
    The verdict is ``fail`` when an applicable MUST requirement failed,
    ``error`` when one could not be checked (or the backend could not be
    opened: ``unavailable`` says why; or it died, hung or the run was
    stopped: ``root_cause`` says how), else ``pass``.
    """
    by_req: dict[str, list[TestRecord]] = {req.id: [] for req in catalogue}
    for rec in records:
        for rid in rec.requirements:
            if rid not in by_req:
                raise UsageError(f"test {rec.nodeid} names unknown requirement {rid!r}")
            by_req[rid].append(rec)
    results = tuple(
        _fold(
            req,
            by_req[req.id],
            not_applicable_reason(req, semantics=semantics, capabilities=capabilities),
        )
        for req in catalogue
    )
    musts = [r for r in results if r.requirement.level is Level.MUST]
    verdict: Verdict = "pass"
    if unavailable is not None:
        verdict = "error"
    elif any(r.status == "fail" for r in musts):
        verdict = "fail"
    elif any(r.status == "error" for r in musts) or root_cause is not None:
        verdict = "error"
    return Report(
        backend=backend,
        features=dict(features),
        capabilities=dict(capabilities),
        semantics=semantics,
        profile=profile,
        seed=seed,
        started=started,
        duration_s=round(duration_s, 3),
        verdict=verdict,
        requirements=results,
        workers=workers,
        notes=tuple(notes),
        unavailable=unavailable,
        root_cause=root_cause,
        findings=tuple(findings),
    )


def report_to_json(report: Report) -> dict[str, Any]:
    """The report.json document (docs/report-schema.md)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "suite_version": report.suite_version,
        "backend": {
            "name": report.backend.name,
            "description": report.backend.description,
            "version": report.backend.version,
            "provenance": [p.as_dict() for p in report.backend.provenance],
        },
        "features": dict(report.features),
        "capabilities": dict(report.capabilities),
        "semantics": report.semantics,
        "profile": report.profile,
        "seed": report.seed,
        "started": report.started,
        "duration_s": report.duration_s,
        "workers": report.workers,
        "verdict": report.verdict,
        "unavailable": report.unavailable,
        "root_cause": report.root_cause,
        "findings": [{"kind": f.kind, "message": f.message, "details": list(f.details)} for f in report.findings],
        "counts": report.counts(),
        "notes": list(report.notes),
        "requirements": [
            {
                "id": r.requirement.id,
                "level": r.requirement.level.value,
                "title": r.requirement.title,
                "capability": r.requirement.capability.value,
                "semantics": r.requirement.semantics.value,
                "source": r.requirement.source,
                "status": r.status,
                "reason": r.reason,
                "tests": list(r.tests),
                "reproducer": r.reproducer,
            }
            for r in report.requirements
        ],
    }


def load_report_json(path: Path) -> dict[str, Any]:
    """Read a report.json; :class:`UsageError` naming the file when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable report.json ({exc})") from None
    if not isinstance(doc, dict) or "verdict" not in doc or "requirements" not in doc:
        raise UsageError(f"{path}: not a ufidcert report.json (no verdict/requirements)")
    return doc


_ORDER: dict[str, int] = {"fail": 0, "error": 1, "pass": 2, "not-applicable": 3}


def _failures_first(report: Report) -> list[RequirementResult]:
    return sorted((r for r in report.requirements if r.status in ("fail", "error")), key=lambda r: _ORDER[r.status])


def _groups(report: Report) -> dict[str, list[RequirementResult]]:
    groups: dict[str, list[RequirementResult]] = {}
    for res in report.requirements:
        groups.setdefault(area_title(res.requirement.id), []).append(res)
    return groups


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    """report.md: header, counts, failures with reproducers, then every requirement by area."""
    c = report.counts()
    out = [
        f"# ufidcert certification: {report.backend.name} - {report.verdict.upper()}",
        "",
        f"- backend: `{report.backend.name}` {report.backend.version} {report.backend.description}".rstrip(),
        *(f"- ran: {p.component} `{p.version}` from {p.source}" for p in report.backend.provenance),
        f"- semantics: {report.semantics}; profile: {report.profile}; seed: {report.seed}; workers: {report.workers}",
        f"- suite version: {report.suite_version}; started: {report.started}; duration: {report.duration_s:.1f} s",
        f"- requirements: {c['pass']} pass, {c['fail']} fail, {c['error']} error, {c['not-applicable']} not applicable",
        "",
    ]
    if report.root_cause:
        out += ["## Root cause", "", "```", report.root_cause.rstrip(), "```", ""]
    out += [f"> {note}" for note in report.notes]
    if report.findings:
        out += ["", "## Findings", ""]
        for f in report.findings:
            out += [f"- **{f.kind}**: {f.message}"] + [f"  - `{d}`" for d in f.details]
        out.append("")
    bad = _failures_first(report)
    if bad:
        out += ["## Failures", ""]
        for res in bad:
            req = res.requirement
            out += [f"### {req.id} ({req.level.value}) - {res.status}", "", req.title, "", f"Reason: {res.reason}", ""]
            if res.reproducer:
                out += ["```", res.reproducer.rstrip(), "```", ""]
    for title, results in _groups(report).items():
        out += [f"## {title}", "", "| ID | Level | Status | Requirement | Reason |", "|---|---|---|---|---|"]
        for res in results:
            req = res.requirement
            out.append(
                f"| {req.id} | {req.level.value} | {res.status} | {_md_cell(req.title)} | {_md_cell(res.reason)} |"
            )
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
h1 .v{padding:.1em .5em;border-radius:.3em;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}.error{background:#9a6700}.not-applicable{background:#6e7781}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}
td,th{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
td.s{color:#fff;white-space:nowrap}pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}
details{margin:.3em 0}.meta td:first-child{font-weight:bold;width:12em}
"""


def render_html(report: Report) -> str:
    """report.html: one self-contained page (inline CSS, no scripts), failures first."""
    e = html.escape
    c = report.counts()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ufidcert: {e(report.backend.name)} {e(report.verdict)}</title><style>{_CSS}</style></head><body>",
        f"<h1>ufidcert certification of <code>{e(report.backend.name)}</code>: "
        f'<span class="v {e(report.verdict)}">{e(report.verdict.upper())}</span></h1>',
        '<table class="meta">',
    ]
    meta = [
        ("Backend", f"{report.backend.name} {report.backend.version} {report.backend.description}"),
        *(("Ran", f"{p.component} {p.version} from {p.source}") for p in report.backend.provenance),
        ("Semantics", report.semantics),
        ("Profile / seed", f"{report.profile} / {report.seed}"),
        ("Suite version", report.suite_version),
        ("Started / duration", f"{report.started} / {report.duration_s:.1f} s ({report.workers} worker(s))"),
        (
            "Requirements",
            f"{c['pass']} pass, {c['fail']} fail, {c['error']} error, {c['not-applicable']} not applicable",
        ),
        ("Features", json.dumps(dict(report.features), sort_keys=True)),
    ]
    parts += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in meta]
    parts.append("</table>")
    if report.root_cause:
        parts.append(f"<h2>Root cause</h2><pre>{e(report.root_cause)}</pre>")
    parts += [f"<p><em>{e(note)}</em></p>" for note in report.notes]
    if report.findings:
        parts.append("<h2>Findings</h2><ul>")
        for f in report.findings:
            items = "".join(f"<li><code>{e(d)}</code></li>" for d in f.details)
            parts.append(f"<li><strong>{e(f.kind)}</strong>: {e(f.message)}<ul>{items}</ul></li>")
        parts.append("</ul>")
    bad = _failures_first(report)
    if bad:
        parts.append("<h2>Failures</h2>")
        for res in bad:
            req = res.requirement
            parts.append(
                f'<h3 id="{e(req.id)}"><span class="v {e(res.status)}" style="color:#fff;padding:0 .4em">'
                f"{e(res.status)}</span> {e(req.id)} ({e(req.level.value)})</h3>"
                f"<p>{e(req.title)}</p><p><strong>Reason:</strong> {e(res.reason)}</p>"
            )
            if res.reproducer:
                parts.append(f"<details open><summary>Reproducer</summary><pre>{e(res.reproducer)}</pre></details>")
    for title, results in _groups(report).items():
        parts += [f"<h2>{e(title)}</h2>", "<table><tr><th>ID</th><th>Level</th><th>Status</th>"]
        parts[-1] += "<th>Requirement</th><th>Reason / tests</th><th>Source</th></tr>"
        for res in results:
            req = res.requirement
            tests = "".join(f"<li><code>{e(t)}</code></li>" for t in res.tests)
            detail = f"{e(res.reason)}" + (
                f"<details><summary>tests</summary><ul>{tests}</ul></details>" if tests else ""
            )
            parts.append(
                f'<tr><td><a href="#{e(req.id)}">{e(req.id)}</a></td><td>{e(req.level.value)}</td>'
                f'<td class="s {e(res.status)}">{e(res.status)}</td><td>{e(req.title)}</td>'
                f"<td>{detail}</td><td>{e(req.source)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


REPORT_FILES = ("report.json", "report.md", "report.html")


def prepare_report_dir(directory: Path) -> None:
    """Create ``directory``, check it is writable and remove a report left there by an earlier run.

    Called before a run starts, so a bad path is a usage error at once and a
    stale verdict can never be read as this run's.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".ufidcert-probe-"):
            pass
        for name in REPORT_FILES:
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
    except OSError as exc:
        raise UsageError(f"report directory {directory}: {exc.strerror or exc}") from None


def write_report(report: Report, directory: Path) -> list[Path]:
    """Write report.json, report.md and report.html into ``directory`` (created); return their paths.

    Each file is written to a temporary name and renamed into place, and
    report.json last: a reader never sees a half-written file, and a
    report.json present means the whole report is.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report directory {directory}: {exc.strerror}") from None
    files = {
        "report.md": render_markdown(report),
        "report.html": render_html(report),
        "report.json": json.dumps(report_to_json(report), indent=2, sort_keys=False) + "\n",
    }
    paths = []
    for name, text in files.items():
        path = directory / name
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; a report is for reading
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        paths.append(path)
    return paths
