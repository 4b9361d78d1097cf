"""The state of one certification run and the controller's side of it.

A :class:`CertificationRun` is created by the plugin's ``pytest_configure``
from the ``--dpif-*`` options, kept in ``config.stash`` and registered with
pytest's plugin manager, so its ``pytest_runtest_logreport`` hook sees
every test report (under pytest-xdist, the workers' reports reach the
controller's run). It folds them, with the backend's end-of-session
findings, into one :class:`~conformance.report.Report`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import settings

from conformance import _signals
from conformance.backend_session import NA_PREFIX, UNAVAILABLE_PREFIX, BackendSession
from conformance.profiles import CertProfile, hypothesis_profile_name
from conformance.provenance import provenance_records
from conformance.report import BackendInfo, Finding, Outcome, Report, TestRecord, build_report

__all__ = ["CertificationRun", "one_line", "per_test_seed", "session_end"]


def per_test_seed(run_seed: int, file_name: str, test_name: str) -> int:
    """The Hypothesis seed of one test: ``run_seed`` when forced (non-zero), else one derived from the test.

    The key is the test's file name and pytest name (with its parameter ids), never the node id,
    which depends on the rootdir and on how pytest was started (certify, plain pytest, an xdist
    worker): seed 0 draws the same examples however the suite is run.
    """
    if run_seed:
        return run_seed
    key = f"ufidcert/{file_name}::{test_name}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


@dataclass
class CertificationRun:
    """Options, collected results and the backend session of one pytest process's certification."""

    spec: str
    options: dict[str, str]
    profile: CertProfile
    report_dir: Path | None
    seed: int
    timeout_s: float
    started: str
    t0: float
    in_process: bool = False
    open_timeout_s: float | None = None
    memory_limit_mb: int = 0
    signals_installed: bool = False
    interrupted: bool = False
    root_cause: str | None = None
    findings: list[Finding] = field(default_factory=list)
    records: dict[str, TestRecord] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    report: Report | None = None

    previous_hypothesis_profile: str | None = None  # set when the run loads its own
    session: BackendSession | None = None  # this process's backend, opened lazily
    seeded: list[Callable[..., object]] = field(default_factory=list)  # tests given a seed by seed_test

    def new_session(self) -> BackendSession:
        """This process's backend session (created once)."""
        if self.session is None:
            self.session = BackendSession(
                self.spec,
                self.options,
                self.timeout_s,
                in_process=self.in_process,
                open_timeout_s=self.open_timeout_s,
                memory_limit_mb=self.memory_limit_mb,
                profile=self.profile,
                seed=self.seed,
            )
        return self.session

    def seed_test(self, item: pytest.Item) -> None:
        """Seed ``item``'s Hypothesis test (if it is one) with :func:`per_test_seed`, through ``hypothesis.seed``.

        Applied just before the test runs: the parametrized cases of one test share its function,
        and each case gets its own seed. :meth:`unseed` takes the seeds off again.
        """
        obj = getattr(item, "obj", None)
        test = getattr(obj, "__func__", obj)
        if test is None or not hypothesis.is_hypothesis_test(test):
            return
        hypothesis.seed(per_test_seed(self.seed, item.path.name, item.name))(test)
        if test not in self.seeded:
            self.seeded.append(test)

    def unseed(self) -> None:
        """Take the seeds of :meth:`seed_test` off (a test module stays imported after an in-process run)."""
        for test in self.seeded:
            hypothesis.seed(None)(test)  # None: the seed of a test nobody seeded
        self.seeded.clear()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # The profile's Hypothesis settings for the suite (conformance.profiles), loaded after every
        # pytest_configure (Hypothesis's own loads a --hypothesis-profile there): the certification's
        # counts and settings win. The plugin restores the previous profile at unconfigure.
        self.previous_hypothesis_profile = settings.get_current_profile_name()
        settings.load_profile(hypothesis_profile_name(self.profile))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Runs in the controller for every phase of every test (xdist sends workers' reports here).
        props = dict(report.user_properties)
        if "ufidcert.root_cause" in props and self.root_cause is None:
            self.root_cause = str(props["ufidcert.root_cause"])
        if "ufidcert.end" in props:
            self.merge_end(json.loads(str(props["ufidcert.end"])))
        if "ufidcert.requirements" not in props:
            return
        reqs = tuple(str(props["ufidcert.requirements"]).split(","))
        if "ufidcert.backend" in props and not self.backend:
            self.backend = json.loads(str(props["ufidcert.backend"]))
        if "ufidcert.backend" in props:
            worker = json.loads(str(props["ufidcert.backend"])).get("worker", "")
            self.backend.setdefault("workers", set()).add(worker)
        prev = self.records.get(report.nodeid)
        outcome: Outcome | None = None
        reason = ""
        if report.when == "call":
            outcome = "passed" if report.passed else "failed" if report.failed else None
        if report.failed and report.when != "call":
            outcome = "error"
        if report.skipped:
            msg = one_line(report)
            outcome = "not-applicable" if msg.startswith(NA_PREFIX) else "skipped"
            reason = msg.removeprefix(NA_PREFIX)
        if outcome is None:
            return
        if outcome in ("failed", "error"):
            reason = str(props.get("ufidcert.reason", "")) or one_line(report)
            if reason.startswith((UNAVAILABLE_PREFIX, "not run:")) or "ufidcert.error" in props:
                outcome = "error"
        if prev is not None and prev.outcome in ("failed", "error") and outcome == "passed":
            return  # keep the earlier failure (e.g. a teardown error after a pass is worse, not better)
        if prev is not None and prev.outcome == "failed" and outcome == "error":
            return
        # The whole failure text, uncut: diffs and sub-failures are the evidence.
        reproducer = str(props.get("ufidcert.reproducer", ""))
        if outcome in ("failed", "error"):
            failure = report.longreprtext
            reproducer = f"{reproducer}\n# --- the failure as reported ---\n{failure}" if reproducer else failure
        if reproducer and "ufidcert.rerun" in props:
            reproducer = f"{props['ufidcert.rerun']}\n{reproducer}"
        self.records[report.nodeid] = TestRecord(
            nodeid=report.nodeid,
            requirements=reqs,
            outcome=outcome,
            reason=reason,
            reproducer=reproducer,
            duration_s=report.duration + (prev.duration_s if prev else 0.0),
        )

    def merge_end(self, end: dict[str, Any]) -> None:
        """Fold a backend session's end (root cause, findings; see :func:`session_end`) into the run."""
        if end.get("root_cause") and self.root_cause is None:
            self.root_cause = str(end["root_cause"])
        for f in end.get("findings", []):
            finding = Finding(str(f["kind"]), str(f["message"]), tuple(str(d) for d in f.get("details", ())))
            if finding not in self.findings:
                self.findings.append(finding)

    def build_report(self) -> Report:
        """The merged report of this run (controller side)."""
        b = self.backend
        workers = b.get("workers", {""})
        notes = list(self.notes)
        if b.get("unavailable"):
            notes.insert(0, f"backend unavailable: {b['unavailable']}")
        info = b.get("info") or {"name": self.spec}
        root_cause = self.root_cause
        stopped = _signals.received()
        if stopped is not None:
            root_cause = f"the run was stopped by {stopped}" + (f"; before that: {root_cause}" if root_cause else "")
        elif self.interrupted and root_cause is None:
            root_cause = "the run was interrupted (SIGINT / Ctrl-C)"
        if root_cause:
            notes.insert(0, f"root cause: {root_cause.splitlines()[0]}")
        return build_report(
            self.records.values(),
            backend=BackendInfo(
                info.get("name", self.spec),
                info.get("description", ""),
                info.get("version", ""),
                provenance_records(info.get("provenance", ()), where="backend provenance"),
            ),
            features=b.get("features", {}),
            capabilities=b.get("capabilities", {}),
            semantics=b.get("semantics", "generic"),
            profile=self.profile.name,
            seed=self.seed,
            started=self.started,
            duration_s=time.monotonic() - self.t0,
            workers=max(1, len(workers)),
            notes=notes,
            unavailable=b.get("unavailable"),
            root_cause=root_cause,
            findings=self.findings,
        )


def session_end(session: BackendSession) -> dict[str, Any]:
    """What a backend session found by its end (root cause, findings), as JSON for the controller."""
    return {
        "root_cause": session.root_cause,
        "findings": [dataclasses.asdict(f) for f in session.findings],
    }


def one_line(rep: pytest.TestReport) -> str:
    """The one line that says why ``rep`` did not pass (a skip reason or the first ``E`` line)."""
    if rep.skipped and isinstance(rep.longrepr, tuple):
        return str(rep.longrepr[2]).removeprefix("Skipped: ")
    text = rep.longreprtext.strip()
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    line = lines[0][1:].strip() if lines else (text.splitlines()[-1] if text else rep.outcome)
    return line[:300]
