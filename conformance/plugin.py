"""The ufidcert pytest plugin (entry point ``pytest11: ufidcert``).

``pytest --dpif-backend NAME|python:MODULE:FACTORY`` collects the shipped
suite (:mod:`conformance.suite`) and runs it against that backend:

* ``--dpif-option key=value`` (repeatable) is passed to the factory;
* ``--dpif-profile smoke|standard|full`` sets example counts;
* ``--dpif-report DIR`` writes report.json, report.md and report.html;
* ``--dpif-seed N`` (0 = a seed per test, derived from its file and name)
  and ``--dpif-timeout S`` (per operation; a hung backend fails instead of
  hanging the run);
* ``--dpif-in-process`` runs the backend inside the pytest process (for a
  debugger); by default it runs in its own supervised process
  (:mod:`conformance.supervisor`), so an exit, crash, hang or leftover
  process of the backend becomes an ERROR verdict with evidence, never a
  false verdict or a hung run.

Each test names the requirements it checks with
``@pytest.mark.requirement("UFID-...")``. Requirements whose capability
(from ``features`` and the UFID probe) or semantics the backend lacks are
skipped and reported "not applicable" with the reason, never as passed.
Under pytest-xdist every worker opens its own backend and the controller
merges all workers' results into one report. Without ``--dpif-backend`` the
plugin does nothing, so installing ufidcert never changes other projects'
test runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import conformance.suite
from conformance import _signals
from conformance.backend_session import (
    NA_PREFIX,
    UNAVAILABLE_PREFIX,
    BackendSession,
    default_open_timeout,
    is_infrastructure_error,
)
from conformance.certification_run import CertificationRun, one_line, session_end
from conformance.errors import BackendUnavailable, UsageError
from conformance.profiles import PROFILES, CertProfile, active_profile
from conformance.registry import check_options, factory_metadata, resolve_factory
from conformance.report import Report, prepare_report_dir, write_report
from conformance.requirements import Requirement, by_id, not_applicable_reason
from reference.dpif import Dpif

__all__ = [
    "PROFILES",
    "BackendSession",
    "CertProfile",
    "CertificationRun",
    "active_profile",
    "build_session_report",
    "default_open_timeout",
    "is_infrastructure_error",
    "parse_options",
    "session_report",
]

_RUN = pytest.StashKey[CertificationRun]()
# The name the run is registered under with pytest's plugin manager.
_RUN_PLUGIN = "ufidcert-run"


def parse_options(items: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; :class:`UsageError` naming a malformed item."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--dpif-option {item!r}: expected key=value")
        out[key.strip()] = value
    return out


def _is_smoke(item: pytest.Item) -> bool:
    return any(str(a).startswith("UFID-SMOKE-") for m in item.iter_markers("requirement") for a in m.args)


def _requirements_of(item: pytest.Item) -> tuple[Requirement, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return tuple(by_id(rid) for rid in dict.fromkeys(ids))


# --- pytest hooks -----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ufidcert", "ufidcert dpif certification")
    group.addoption(
        "--dpif-backend",
        metavar="NAME|python:MODULE:FACTORY",
        default=None,
        help="certify this backend: run the shipped conformance suite against it",
    )
    group.addoption(
        "--dpif-option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="option passed to the backend factory (repeatable)",
    )
    group.addoption(
        "--dpif-profile",
        choices=sorted(PROFILES),
        default="standard",
        help="example counts: smoke, standard (default) or full",
    )
    group.addoption(
        "--dpif-report", metavar="DIR", default=None, help="write report.json, report.md and report.html into DIR"
    )
    group.addoption(
        "--dpif-seed",
        metavar="N",
        type=int,
        default=0,
        help="hypothesis seed (0, the default: one per test, from its name)",
    )
    group.addoption("--dpif-timeout", metavar="SECONDS", type=float, default=30.0,
                    help="per-operation timeout; a backend that does not answer fails (default 30)")  # fmt: skip
    group.addoption("--dpif-open-timeout", metavar="SECONDS", type=float, default=None,
                    help="timeout of the backend's factory (default 10 x --dpif-timeout)")  # fmt: skip
    group.addoption("--dpif-in-process", action="store_true", default=False,
                    help="run the backend inside this process (debugging; no crash or exit protection)")  # fmt: skip
    group.addoption("--dpif-memory-limit", metavar="MIB", type=int, default=0,
                    help="address-space limit of the supervised backend process (default none)")  # fmt: skip


def _suite_dir() -> Path:
    return Path(conformance.suite.__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the ufidcert requirement IDs a test checks")
    spec = config.getoption("dpif_backend")
    if spec is None:
        return
    try:
        options = parse_options(config.getoption("dpif_option"))
        timeout_s = _positive_seconds("--dpif-timeout", config.getoption("dpif_timeout"))
        open_timeout = config.getoption("dpif_open_timeout")
        if open_timeout is not None:
            open_timeout = _positive_seconds("--dpif-open-timeout", open_timeout)
        memory_limit = int(config.getoption("dpif_memory_limit"))
        if memory_limit < 0:
            raise UsageError(f"--dpif-memory-limit {memory_limit}: expected a size in MiB >= 0 (0 = none)")
        report_dir = Path(config.getoption("dpif_report")) if config.getoption("dpif_report") else None
        if not hasattr(config, "workerinput"):
            # Before anything runs: a bad backend option or report path is a usage error now, and
            # a report of an earlier run in the same directory cannot pass for this run's.
            if spec.startswith("python:"):
                _importable_from(str(config.invocation_params.dir))
            if report_dir is not None:
                prepare_report_dir(report_dir)
            with contextlib.suppress(BackendUnavailable):  # reported by the run itself ("could not run")
                check_options(spec, options)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    run = CertificationRun(
        spec=spec,
        options=options,
        profile=PROFILES[config.getoption("dpif_profile")],
        report_dir=report_dir,
        seed=int(config.getoption("dpif_seed")),
        timeout_s=timeout_s,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        t0=time.monotonic(),
        in_process=bool(config.getoption("dpif_in_process")),
        open_timeout_s=open_timeout,
        memory_limit_mb=memory_limit,
    )
    config.stash[_RUN] = run
    config.pluginmanager.register(run, _RUN_PLUGIN)
    if spec.startswith("python:"):
        _importable_from(str(config.invocation_params.dir))
    if not hasattr(config, "workerinput"):
        run.signals_installed = _signals.install()
    _maybe_force_single_worker(config, run)
    suite = str(_suite_dir())
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [suite]
    elif not any(suite.startswith(str(Path(a.split("::")[0]).resolve())) or a.startswith(suite) for a in config.args):
        config.args.append(suite)


def _importable_from(here: str) -> None:
    # Like `python -m`: a vendor's module in the directory pytest was started from is importable.
    if here not in sys.path:
        sys.path.insert(0, here)


def _positive_seconds(option: str, value: object) -> float:
    seconds = float(value)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{option} {value}: expected a number of seconds > 0")
    return seconds


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    if run.signals_installed:
        _signals.restore()
    if run.previous_hypothesis_profile is not None:
        # Leave the enclosing process's Hypothesis settings as they were (``ufidcert certify`` runs in-process).
        settings.load_profile(run.previous_hypothesis_profile)
    run.unseed()
    config.pluginmanager.unregister(run, _RUN_PLUGIN)


def _maybe_force_single_worker(config: pytest.Config, run: CertificationRun) -> None:
    """Run in one process when the backend cannot open one datapath per xdist worker.

    A factory says so with its ``single_worker`` metadata (a one-line reason,
    e.g. "one kernel datapath per VM"). This runs before pytest-xdist sets up
    its workers (its pytest_configure is trylast).
    """
    if hasattr(config, "workerinput") or not getattr(config.option, "tx", None):
        return
    try:
        reason = factory_metadata(resolve_factory(run.spec)).single_worker
    except Exception:  # an unknown backend is reported when it is opened
        return
    if reason:
        config.option.dist = "no"
        config.option.tx = []
        config.option.numprocesses = 0
        run.notes.append(f"ran in a single process, -n ignored: {reason}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    # The smoke check first: when it fails, the rest is not run (a clear message, not 300 failures).
    items.sort(key=lambda it: 0 if _is_smoke(it) else 1)


def _run_of(config: pytest.Config) -> CertificationRun | None:
    return config.stash.get(_RUN, None)


@pytest.fixture(scope="session")
def dpif_session(request: pytest.FixtureRequest) -> Iterator[BackendSession]:
    """This process's backend (opened lazily, closed at the end of the session)."""
    run = _run_of(request.config)
    if run is None:
        pytest.skip("the ufidcert suite needs --dpif-backend NAME|python:MODULE:FACTORY")
    session = run.new_session()
    yield session
    session.close()


@pytest.fixture
def dpif(dpif_session: BackendSession) -> Dpif:
    """The backend under test with an empty flow table."""
    return dpif_session.fresh()


def pytest_runtest_setup(item: pytest.Item) -> None:
    run = _run_of(item.config)
    if run is None:
        return
    stopped = _signals.received()
    if stopped is not None:  # the interrupt was swallowed somewhere: stop before the next test
        pytest.exit(f"stopped by {stopped}", returncode=pytest.ExitCode.INTERRUPTED)
    reqs = _requirements_of(item)
    if not reqs:
        return
    session = run.new_session()
    session.open()
    item.user_properties.append(("ufidcert.requirements", ",".join(r.id for r in reqs)))
    item.user_properties.append(
        (
            "ufidcert.backend",
            json.dumps(
                {
                    "info": dataclasses.asdict(session.info),
                    "features": session.features,
                    "capabilities": session.capabilities,
                    "semantics": session.semantics,
                    "unavailable": session.unavailable,
                    "worker": os.environ.get("PYTEST_XDIST_WORKER", ""),
                }
            ),
        )
    )
    if session.unavailable is not None:
        pytest.fail(f"{UNAVAILABLE_PREFIX}{session.unavailable}", pytrace=False)
    for req in reqs:
        why = not_applicable_reason(req, semantics=session.semantics, capabilities=session.capabilities)
        if why is not None:
            pytest.skip(f"{NA_PREFIX}{req.id} {why}")
    if session.smoke_failed is not None and not _is_smoke(item):
        pytest.fail(f"not run: the smoke check failed ({session.smoke_failed})", pytrace=False)
    session.reproducer = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # Every property is seeded with hypothesis.seed, which overrides settings.derandomize: the
    # forced --dpif-seed, or for 0 a seed derived from the test's file and name. Derandomising
    # alone would not do: Hypothesis's pytest plugin mixes the node id (which depends on the rootdir
    # and on how pytest was started) into a parametrized test's digest. The state machine is not a
    # property: its test seeds it with a forced seed, and at 0 the profile derandomises it by the
    # machine class (see conformance.profiles).
    run = _run_of(item.config)
    if run is not None:
        run.seed_test(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    rep = yield
    run = _run_of(item.config)
    if run is None:
        return rep
    session = run.session
    if session is not None:
        _attribute_root_cause(item, call, rep, session)
    if rep.failed:
        if session is not None and session.reproducer is not None:
            rep.user_properties.append(("ufidcert.reproducer", session.reproducer))
        reason = _group_reason(call.excinfo.value) if call.excinfo is not None else None
        if reason is not None and "ufidcert.reason" not in dict(rep.user_properties):
            rep.user_properties.append(("ufidcert.reason", reason))
        opts = "".join(f" --dpif-option {k}={v}" for k, v in run.options.items())
        rep.user_properties.append(
            (
                "ufidcert.rerun",
                f"# re-run this check alone:\n#   pytest -p no:cacheprovider --dpif-backend {run.spec}{opts} "
                f"--dpif-profile {run.profile.name} --dpif-seed {run.seed} '{item.path}::{item.name}'\n",
            )
        )
        if call.excinfo is not None and is_infrastructure_error(call.excinfo.value):
            # The backend stopped answering or went away: the requirement could not be checked
            # ("error", not "fail"), and later tests are not attempted against it.
            exc = call.excinfo.value
            rep.user_properties.append(("ufidcert.error", type(exc).__name__))
            if session is not None and session.dpif is not None and session.dpif.broken is None:
                session.dpif.broken = f"the backend failed in an earlier test: {exc}"
                if session.root_cause is None:  # e.g. its daemon went away (ECONNRESET)
                    session.root_cause = f"in {item.nodeid} ({call.when}): {type(exc).__name__}: {exc}"
                    session.root_cause_sent = True
                    rep.user_properties.append(("ufidcert.root_cause", session.root_cause))
        if _is_smoke(item) and session is not None:
            session.smoke_failed = one_line(rep)
    if session is not None and session.closed and not session.end_reported:
        # The last test's teardown closed the backend: its findings travel with this report
        # (under xdist, from the worker to the controller that writes the report).
        session.end_reported = True
        rep.user_properties.append(("ufidcert.end", json.dumps(session_end(session))))
    return rep


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _group_reason(exc: BaseException) -> str | None:
    """For an exception group (Hypothesis's several distinct failures): each sub-failure's own first line.

    The rendered traceback of a group starts with box-drawing lines, not the
    assertion, so the first ``E`` line says nothing.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return None
    leaves: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if isinstance(e, BaseExceptionGroup):
            todo[:0] = list(e.exceptions)
        else:
            leaves.append(e)
    lines = list(dict.fromkeys(_first_line(e) for e in leaves))
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} distinct failures: " + "; ".join(f"({i}) {ln}" for i, ln in enumerate(lines, 1))


def _attribute_root_cause(
    item: pytest.Item, call: pytest.CallInfo[None], rep: pytest.TestReport, session: BackendSession
) -> None:
    """Name the first death or stall of the backend, and the test in which it happened, once."""
    if session.root_cause is not None and not session.root_cause_sent:
        session.root_cause_sent = True
        rep.user_properties.append(("ufidcert.root_cause", session.root_cause))
        return
    failure = session.dpif.failure if session.dpif is not None else None
    if failure is None or session.root_cause is not None:
        return
    session.root_cause = f"in {item.nodeid} ({call.when}): {failure}"
    session.root_cause_sent = True
    rep.user_properties.append(("ufidcert.root_cause", session.root_cause))
    if rep.failed:
        # Whatever the test framework made of it (Hypothesis may report a flaky or
        # inconsistent test after the backend stopped answering), the cause is the backend.
        rep.user_properties.append(("ufidcert.error", "backend"))
        rep.user_properties.append(("ufidcert.reason", failure.splitlines()[0]))


def build_session_report(config: pytest.Config) -> Report | None:
    """The merged report of this run (controller side), or None outside a certification."""
    run = _run_of(config)
    return None if run is None else run.build_report()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = _run_of(config)
    if run is None or hasattr(config, "workerinput"):
        return  # xdist workers report to the controller, which writes the one merged report
    backend = run.session
    if backend is not None:
        backend.close()  # normally done by the last teardown; not when the run was interrupted
        if not backend.end_reported:
            backend.end_reported = True
            run.merge_end(session_end(backend))
    run.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    run.report = run.build_report()
    if run.report_dir is not None:
        write_report(run.report, run.report_dir)


def session_report(config: pytest.Config) -> Report | None:
    """The report built at the end of the session (for in-process callers such as ``ufidcert certify``)."""
    run = _run_of(config)
    return None if run is None else run.report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = _run_of(config)
    if run is None or hasattr(config, "workerinput") or run.report is None:
        return
    rep = run.report
    c = rep.counts()
    tr = terminalreporter
    tr.section("ufidcert certification")
    tr.write_line(
        f"backend {rep.backend.name} ({rep.semantics}), profile {rep.profile}, seed {rep.seed}: "
        f"verdict {rep.verdict.upper()} - {c['pass']} pass, {c['fail']} fail, {c['error']} error, "
        f"{c['not-applicable']} not applicable"
    )
    for note in rep.notes:
        tr.write_line(f"note: {note}")
    for res in rep.requirements:
        if res.status in ("fail", "error"):
            tr.write_line(
                f"  {res.status.upper():5} {res.requirement.id} ({res.requirement.level.value}): {res.reason}"
            )
    rd = run.report_dir
    if rd is not None:
        tr.write_line(f"report: {rd / 'report.html'} (also report.json, report.md)")
