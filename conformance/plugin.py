"""The ufidcert pytest plugin (entry point ``pytest11: ufidcert``).

``pytest --dpif-backend NAME|python:MODULE:FACTORY`` collects the shipped
suite (:mod:`conformance.suite`) and runs it against that backend:

* ``--dpif-option key=value`` (repeatable) is passed to the factory;
* ``--dpif-profile smoke|standard|full`` sets example counts;
* ``--dpif-report DIR`` writes report.json, report.md and report.html;
* ``--dpif-seed N`` (0 = derandomised per test) and ``--dpif-timeout S``
  (per operation; a hung backend fails instead of hanging the run);
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
import errno as _errno
import json
import math
import os
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import _signals
from conformance.errors import BackendUnavailable, ConformanceError, UsageError
from conformance.guarded import BackendBroken, BackendDied, GuardedDpif, OperationTimeout, call_with_timeout
from conformance.provenance import provenance_records
from conformance.report import (
    BackendInfo,
    Finding,
    Outcome,
    Report,
    TestRecord,
    build_report,
    prepare_report_dir,
    write_report,
)
from conformance.requirements import Capability, Requirement, by_id, not_applicable_reason
from reference.dpif import Dpif, DpifError, DpifNotSupported
from reference.uapi import UfidFlags

__all__ = [
    "PROFILES",
    "BackendSession",
    "CertProfile",
    "active_profile",
    "active_seed",
    "build_session_report",
    "is_infrastructure_error",
    "session_report",
    "parse_options",
    "record_reproducer",
]

_NA_PREFIX = "not applicable: "
_UNAVAILABLE_PREFIX = "backend unavailable: "


@dataclass(frozen=True, slots=True)
class CertProfile:
    """Example counts for one ``--dpif-profile``."""

    name: str
    max_examples: int  # hypothesis properties
    machine_examples: int  # differential state machine runs
    machine_steps: int  # steps per state machine run
    big_dump: int  # flows in the large-dump check (must exceed 1000)


PROFILES: dict[str, CertProfile] = {
    "smoke": CertProfile("smoke", max_examples=5, machine_examples=3, machine_steps=10, big_dump=1001),
    "standard": CertProfile("standard", max_examples=150, machine_examples=100, machine_steps=50, big_dump=2000),
    "full": CertProfile("full", max_examples=500, machine_examples=300, machine_steps=60, big_dump=10_000),
}


def _register_hypothesis_profiles() -> None:
    # Named profiles for vendors who run their own properties the certification way:
    # settings.load_profile("ufidcert-standard").
    from hypothesis import HealthCheck, settings

    for prof in PROFILES.values():
        settings.register_profile(
            f"ufidcert-{prof.name}",
            max_examples=prof.max_examples,
            stateful_step_count=prof.machine_steps,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )


_register_hypothesis_profiles()


@dataclass
class _Run:
    # Process-wide state of the current certification: hooks without a config
    # argument (pytest_runtest_logreport) and the suite's settings read it.
    profile: CertProfile
    seed: int = 0
    config: pytest.Config | None = None


_RUN = _Run(PROFILES["standard"])
_reproducer: list[str] = []


def active_profile() -> CertProfile:
    """The profile of the running certification (``standard`` outside one)."""
    return _RUN.profile


def active_seed() -> int:
    """The seed of the running certification (0 = derandomised per test)."""
    return _RUN.seed


def record_reproducer(text: str) -> None:
    """Attach ``text`` (a runnable reproducer) to the current test's report entry."""
    _reproducer[:] = [text]


def parse_options(items: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; :class:`UsageError` naming a malformed item."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--dpif-option {item!r}: expected key=value")
        out[key.strip()] = value
    return out


def _capabilities(dpif: Dpif) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Features as JSON and each capability -> None (available) or the reason it is not."""
    from reference.probe import probe_ufid

    feats = dpif.features
    features: dict[str, Any] = {
        "ufid": feats.ufid,
        "omit_flags": int(feats.omit_flags),
        "max_ufid_len": feats.max_ufid_len,
        "semantics": feats.semantics,
        "packet_io": feats.packet_io,
        "ufidless_put": feats.ufidless_put,
        "terse_get": feats.terse_get,
    }
    try:
        probed = probe_ufid(dpif)
    except DpifError as exc:
        probed = False
        features["probe_error"] = str(exc)
    features["probe_ufid"] = probed
    caps: dict[str, str | None] = {Capability.NONE.value: None}
    # UFID requirements apply when either the declaration or the probe says UFIDs work: a
    # disagreement fails UFID-PROBE-001 and must never turn the UFID requirements into
    # "not applicable" (that would hide the defect).
    if feats.ufid or probed:
        caps["ufid"] = None
        caps["legacy"] = "the datapath supports UFIDs (declared or probed)"
    else:
        caps["ufid"] = "features.ufid is false and probe_ufid() found no UFID support"
        caps["legacy"] = None
    omit_all = UfidFlags.OMIT_KEY | UfidFlags.OMIT_MASK | UfidFlags.OMIT_ACTIONS
    if caps["ufid"] is not None:
        caps["terse"] = "terse replies need UFID support"
    elif feats.omit_flags & omit_all != omit_all:
        caps["terse"] = f"features.omit_flags is {int(feats.omit_flags):#x}, not all of OMIT_KEY|OMIT_MASK|OMIT_ACTIONS"
    else:
        caps["terse"] = None
    if caps["terse"] is not None:
        caps["terse_get"] = caps["terse"]
    elif not feats.terse_get:
        caps["terse_get"] = "features.terse_get is false (a terse get cannot be expressed to this datapath)"
    else:
        caps["terse_get"] = None
    io = None if feats.packet_io else "features.packet_io is false"
    caps["inject"] = io
    caps["execute"] = io
    caps["upcalls"] = io
    if io is None:
        try:
            dpif.recv_upcalls(1)
        except DpifNotSupported as exc:
            caps["upcalls"] = f"recv_upcalls: {exc}"
    caps["ufidless_put"] = None if feats.ufidless_put else "features.ufidless_put is false"
    caps["hash"] = None if callable(getattr(dpif, "hash_bytes128", None)) else "the backend has no hash_bytes128"
    caps["clock"] = None if callable(getattr(dpif, "clock_ms", None)) else "the backend has no clock_ms"
    return features, caps


class BackendSession:
    """The backend of one pytest process (each xdist worker has its own)."""

    def __init__(
        self,
        spec: str,
        options: dict[str, str],
        timeout_s: float,
        *,
        in_process: bool = False,
        open_timeout_s: float | None = None,
        memory_limit_mb: int = 0,
    ) -> None:
        self.spec = spec
        self.options = options
        self.timeout_s = timeout_s
        self.in_process = in_process
        self.open_timeout_s = open_timeout_s if open_timeout_s is not None else _default_open_timeout(spec, timeout_s)
        self.memory_limit_mb = memory_limit_mb
        self.dpif: GuardedDpif | None = None
        self.root_cause: str | None = None  # the first death or stall, in full
        self.root_cause_sent = False  # attached to a test report (travels to the xdist controller)
        self.findings: list[Finding] = []
        self.closed = False
        self.end_reported = False
        self.unavailable: str | None = None
        self.info = BackendInfo(spec)
        self.features: dict[str, Any] = {}
        self.capabilities: dict[str, str | None] = {}
        self.semantics = "generic"
        self._ports: list[int] = []
        self.smoke_failed: str | None = None

    def open(self) -> None:
        """Open the backend once; on failure remember the one-line reason."""
        if self.dpif is not None or self.unavailable is not None:
            return
        try:
            inner = self._open_inner()
        except Exception as exc:  # any failure to open means "could not run"
            text = str(exc) if isinstance(exc, ConformanceError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, OperationTimeout | BackendDied):  # it hung or died in the factory
                self.root_cause = f"opening the backend (its factory): {text}"
            self.unavailable = f"{self.spec}: {text if text.strip() else type(exc).__name__}"  # in full: evidence
            return
        self.dpif = GuardedDpif(inner, timeout_s=self.timeout_s, timer=self.in_process)
        self.info = BackendInfo(
            name=self.spec,
            description=str(getattr(inner, "description", "") or type(inner).__doc__ or "").strip().split("\n")[0],
            version=str(getattr(inner, "version", "") or ""),
        )
        try:
            provenance = provenance_records(getattr(inner, "provenance", ()), where=f"{self.spec}: provenance")
            self.info = dataclasses.replace(self.info, provenance=provenance)
            self.features, self.capabilities = _capabilities(self.dpif)
            self.semantics = str(self.features["semantics"])
            self.dpif.flow_flush()
        except Exception as exc:
            self.unavailable = f"{self.spec}: opened, but reading its features or probing failed: {exc}"

    def _open_inner(self) -> Dpif:
        from conformance.registry import open_backend

        if self.in_process:
            spec, opts = self.spec, dict(self.options)
            return call_with_timeout("the factory", lambda: open_backend(spec, opts), self.open_timeout_s)
        from conformance.supervisor import SupervisedDpif

        return SupervisedDpif(
            self.spec,
            self.options,
            timeout_s=self.timeout_s,
            open_timeout_s=self.open_timeout_s,
            memory_limit_mb=self.memory_limit_mb,
        )

    def fresh(self) -> Dpif:
        """The backend with an empty flow table and no queued upcalls."""
        self.open()
        if self.dpif is None:
            pytest.fail(f"{_UNAVAILABLE_PREFIX}{self.unavailable}", pytrace=False)
        self.dpif.flow_flush()
        if self.capabilities.get("upcalls") is None:
            while self.dpif.recv_upcalls(64):
                pass
        return self.dpif

    def ports(self, n: int = 2) -> list[int]:
        """``n`` datapath ports added once per session (for inject)."""
        dpif = self.fresh()
        while len(self._ports) < n:
            try:
                self._ports.append(dpif.port_add(f"ufc{os.getpid() % 10000}p{len(self._ports)}"))
            except DpifNotSupported as exc:
                # Declared packet I/O but no ports to inject on: the traffic checks cannot apply.
                pytest.skip(f"{_NA_PREFIX}port_add is not supported ({exc}); traffic cannot be injected")
        return self._ports[:n]

    def close(self) -> None:
        """Close the backend; a failing or hanging close() and leftover processes become findings."""
        if self.closed:
            return
        self.closed = True
        if self.dpif is None:
            return
        dpif, self.dpif = self.dpif, None
        error: str | None = None
        try:
            dpif.close()
        except Exception as exc:  # closing must never mask the run's results: it is reported instead
            error = str(exc) if isinstance(exc, ConformanceError) else f"close() raised {type(exc).__name__}: {exc}"
        from conformance.supervisor import SupervisedDpif

        inner = dpif.inner
        if isinstance(inner, SupervisedDpif):
            error = error or inner.close_error
            if inner.leftovers:
                self.findings.append(
                    Finding(
                        "leftover-processes",
                        f"{len(inner.leftovers)} process(es) the backend started were still running after "
                        "close(); ufidcert ended them",
                        tuple(f"pid {p.pid}: {p.cmdline}" for p in inner.leftovers[:50]),
                    )
                )
        if error:
            self.findings.append(Finding("close-failed", error.splitlines()[0], tuple(error.splitlines()[1:60])))
            if self.root_cause is None and dpif.broken is None:
                self.root_cause = f"closing the backend: {error}"


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
        "--dpif-seed", metavar="N", type=int, default=0, help="hypothesis seed (0, the default: derandomised per test)"
    )
    group.addoption("--dpif-timeout", metavar="SECONDS", type=float, default=30.0,
                    help="per-operation timeout; a backend that does not answer fails (default 30)")  # fmt: skip
    group.addoption("--dpif-open-timeout", metavar="SECONDS", type=float, default=None,
                    help="timeout of the backend's factory (default 10 x --dpif-timeout)")  # fmt: skip
    group.addoption("--dpif-in-process", action="store_true", default=False,
                    help="run the backend inside this process (debugging; no crash or exit protection)")  # fmt: skip
    group.addoption("--dpif-memory-limit", metavar="MIB", type=int, default=0,
                    help="address-space limit of the supervised backend process (default none)")  # fmt: skip


@dataclass
class _State:
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


_STATE = pytest.StashKey[_State]()
_SESSION = pytest.StashKey[BackendSession]()


def _suite_dir() -> Path:
    import conformance.suite

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
            from conformance.registry import check_options

            if report_dir is not None:
                prepare_report_dir(report_dir)
            with contextlib.suppress(BackendUnavailable):  # reported by the run itself ("could not run")
                check_options(spec, options)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = _State(
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
    config.stash[_STATE] = state
    if spec.startswith("python:"):
        _importable_from(str(config.invocation_params.dir))
    if not hasattr(config, "workerinput"):
        state.signals_installed = _signals.install()
    _RUN.profile = state.profile
    _RUN.seed = state.seed
    _RUN.config = config
    if state.seed:
        # A forced seed replaces derandomisation (hypothesis honours derandomize first).
        from hypothesis import core

        setattr(core, "global_force_seed", state.seed)  # what --hypothesis-seed does  # noqa: B010
    _maybe_force_single_worker(config, state)
    suite = str(_suite_dir())
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [suite]
    elif not any(suite.startswith(str(Path(a.split("::")[0]).resolve())) or a.startswith(suite) for a in config.args):
        config.args.append(suite)


def _importable_from(here: str) -> None:
    # Like `python -m`: a vendor's module in the directory pytest was started from is importable.
    if here not in sys.path:
        sys.path.insert(0, here)


def _default_open_timeout(spec: str, timeout_s: float) -> float:
    """10 per-operation timeouts, or the factory's own ``open_timeout_s`` when it declares a longer one.

    A factory that downloads a kernel or a Debian root and boots a guest
    before it returns declares how long that may take.
    """
    from conformance.registry import resolve_factory

    try:
        declared = getattr(resolve_factory(spec), "open_timeout_s", None)
    except Exception:  # an unknown or unimportable backend is reported when it is opened
        declared = None
    if isinstance(declared, bool) or not isinstance(declared, int | float) or not math.isfinite(declared):
        return 10 * timeout_s
    return max(10 * timeout_s, float(declared))


def _positive_seconds(option: str, value: object) -> float:
    seconds = float(value)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{option} {value}: expected a number of seconds > 0")
    return seconds


def _new_session(st: _State) -> BackendSession:
    return BackendSession(
        st.spec,
        st.options,
        st.timeout_s,
        in_process=st.in_process,
        open_timeout_s=st.open_timeout_s,
        memory_limit_mb=st.memory_limit_mb,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _STATE in config.stash and config.stash[_STATE].signals_installed:
        _signals.restore()
    if _STATE in config.stash and config.stash[_STATE].seed:
        # Leave no forced seed behind for an enclosing process (``ufidcert certify`` runs in-process).
        from hypothesis import core

        setattr(core, "global_force_seed", None)  # noqa: B010
    if _RUN.config is config:
        _RUN.config = None
        _RUN.profile, _RUN.seed = PROFILES["standard"], 0


def _maybe_force_single_worker(config: pytest.Config, state: _State) -> None:
    """Run in one process when the backend cannot open one datapath per xdist worker.

    A factory says so with a ``single_worker`` attribute (a one-line reason,
    e.g. "one kernel datapath per VM"). This runs before pytest-xdist sets up
    its workers (its pytest_configure is trylast).
    """
    if hasattr(config, "workerinput") or not getattr(config.option, "tx", None):
        return
    from conformance.registry import resolve_factory

    try:
        reason = getattr(resolve_factory(state.spec), "single_worker", None)
    except Exception:  # an unknown backend is reported when it is opened
        return
    if reason:
        config.option.dist = "no"
        config.option.tx = []
        config.option.numprocesses = 0
        state.notes.append(
            f"ran in a single process, -n ignored: {reason if isinstance(reason, str) else 'single_worker'}"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _STATE not in config.stash:
        return
    # The smoke check first: when it fails, the rest is not run (a clear message, not 300 failures).
    items.sort(key=lambda it: 0 if _is_smoke(it) else 1)


@pytest.fixture(scope="session")
def dpif_session(request: pytest.FixtureRequest) -> Iterator[BackendSession]:
    """This process's backend (opened lazily, closed at the end of the session)."""
    config = request.config
    if _STATE not in config.stash:
        pytest.skip("the ufidcert suite needs --dpif-backend NAME|python:MODULE:FACTORY")
    if _SESSION not in config.stash:
        config.stash[_SESSION] = _new_session(config.stash[_STATE])
    session = config.stash[_SESSION]
    yield session
    session.close()


@pytest.fixture
def dpif(dpif_session: BackendSession) -> Dpif:
    """The backend under test with an empty flow table."""
    return dpif_session.fresh()


def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    if _STATE not in config.stash:
        return
    stopped = _signals.received()
    if stopped is not None:  # the interrupt was swallowed somewhere: stop before the next test
        pytest.exit(f"stopped by {stopped}", returncode=pytest.ExitCode.INTERRUPTED)
    reqs = _requirements_of(item)
    if not reqs:
        return
    if _SESSION not in config.stash:
        config.stash[_SESSION] = _new_session(config.stash[_STATE])
    session = config.stash[_SESSION]
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
        pytest.fail(f"{_UNAVAILABLE_PREFIX}{session.unavailable}", pytrace=False)
    for req in reqs:
        why = not_applicable_reason(req, semantics=session.semantics, capabilities=session.capabilities)
        if why is not None:
            pytest.skip(f"{_NA_PREFIX}{req.id} {why}")
    if session.smoke_failed is not None and not _is_smoke(item):
        pytest.fail(f"not run: the smoke check failed ({session.smoke_failed})", pytrace=False)
    _reproducer.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # Hypothesis derandomises by a digest that includes the pytest node id, which depends on the
    # rootdir and on how pytest was invoked (certify, plain pytest, an xdist worker). A stable key
    # makes the same profile and seed generate the same examples however the suite is run.
    if _STATE not in item.config.stash:
        return
    inner = getattr(getattr(getattr(item, "obj", None), "hypothesis", None), "inner_test", None)
    if inner is not None:
        inner._hypothesis_internal_add_digest = f"ufidcert/{item.path.name}::{item.name}".encode()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    rep = yield
    if _STATE not in item.config.stash:
        return rep
    session: BackendSession | None = item.config.stash.get(_SESSION, None)
    if session is not None:
        _attribute_root_cause(item, call, rep, session)
    if rep.failed:
        if _reproducer:
            rep.user_properties.append(("ufidcert.reproducer", _reproducer[0]))
        reason = _group_reason(call.excinfo.value) if call.excinfo is not None else None
        if reason is not None and "ufidcert.reason" not in dict(rep.user_properties):
            rep.user_properties.append(("ufidcert.reason", reason))
        st = item.config.stash[_STATE]
        opts = "".join(f" --dpif-option {k}={v}" for k, v in st.options.items())
        rep.user_properties.append(
            (
                "ufidcert.rerun",
                f"# re-run this check alone:\n#   pytest -p no:cacheprovider --dpif-backend {st.spec}{opts} "
                f"--dpif-profile {st.profile.name} --dpif-seed {st.seed} '{item.path}::{item.name}'\n",
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
            session.smoke_failed = _one_line(rep)
    if session is not None and session.closed and not session.end_reported:
        # The last test's teardown closed the backend: its findings travel with this report
        # (under xdist, from the worker to the controller that writes the report).
        session.end_reported = True
        rep.user_properties.append(("ufidcert.end", json.dumps(_session_end(session))))
    return rep


def _session_end(session: BackendSession) -> dict[str, Any]:
    return {
        "root_cause": session.root_cause,
        "findings": [dataclasses.asdict(f) for f in session.findings],
    }


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


# Exceptions that say the backend (not the requirement) failed: a hung or vanished datapath.
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OperationTimeout,
    BackendBroken,
    BackendUnavailable,
    ConnectionError,
    EOFError,
)


# errnos no flow operation returns by contract: they mean the daemon, socket or datapath is gone.
_INFRASTRUCTURE_ERRNOS = frozenset(
    {_errno.ECONNREFUSED, _errno.ECONNRESET, _errno.EPIPE, _errno.ENOTCONN, _errno.ESHUTDOWN, _errno.ENODEV}
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the backend itself failed (hung, gone), not a requirement."""
    if isinstance(exc, _INFRASTRUCTURE):
        return True
    return isinstance(exc, DpifError) and exc.errno in _INFRASTRUCTURE_ERRNOS


def _one_line(rep: pytest.TestReport) -> str:
    if rep.skipped and isinstance(rep.longrepr, tuple):
        return str(rep.longrepr[2]).removeprefix("Skipped: ")
    text = rep.longreprtext.strip()
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    line = lines[0][1:].strip() if lines else (text.splitlines()[-1] if text else rep.outcome)
    return line[:300]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the controller for every phase of every test (xdist sends workers' reports here).
    config = _RUN.config
    if config is None or _STATE not in config.stash:
        return
    props = dict(report.user_properties)
    state = config.stash[_STATE]
    if "ufidcert.root_cause" in props and state.root_cause is None:
        state.root_cause = str(props["ufidcert.root_cause"])
    if "ufidcert.end" in props:
        _merge_end(state, json.loads(str(props["ufidcert.end"])))
    if "ufidcert.requirements" not in props:
        return
    state = config.stash[_STATE]
    reqs = tuple(str(props["ufidcert.requirements"]).split(","))
    if "ufidcert.backend" in props and not state.backend:
        state.backend = json.loads(str(props["ufidcert.backend"]))
    if "ufidcert.backend" in props:
        worker = json.loads(str(props["ufidcert.backend"])).get("worker", "")
        state.backend.setdefault("workers", set()).add(worker)
    prev = state.records.get(report.nodeid)
    outcome: Outcome | None = None
    reason = ""
    if report.when == "call":
        outcome = "passed" if report.passed else "failed" if report.failed else None
    if report.failed and report.when != "call":
        outcome = "error"
    if report.skipped:
        msg = _one_line(report)
        outcome = "not-applicable" if msg.startswith(_NA_PREFIX) else "skipped"
        reason = msg.removeprefix(_NA_PREFIX)
    if outcome is None:
        return
    if outcome in ("failed", "error"):
        reason = str(props.get("ufidcert.reason", "")) or _one_line(report)
        if reason.startswith((_UNAVAILABLE_PREFIX, "not run:")) or "ufidcert.error" in props:
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
    state.records[report.nodeid] = TestRecord(
        nodeid=report.nodeid,
        requirements=reqs,
        outcome=outcome,
        reason=reason,
        reproducer=reproducer,
        duration_s=report.duration + (prev.duration_s if prev else 0.0),
    )


def _merge_end(state: _State, end: dict[str, Any]) -> None:
    if end.get("root_cause") and state.root_cause is None:
        state.root_cause = str(end["root_cause"])
    for f in end.get("findings", []):
        finding = Finding(str(f["kind"]), str(f["message"]), tuple(str(d) for d in f.get("details", ())))
        if finding not in state.findings:
            state.findings.append(finding)


def build_session_report(config: pytest.Config) -> Report | None:
    """The merged report of this run (controller side), or None outside a certification."""
    if _STATE not in config.stash:
        return None
    state = config.stash[_STATE]
    b = state.backend
    workers = b.get("workers", {""})
    notes = list(state.notes)
    if b.get("unavailable"):
        notes.insert(0, f"backend unavailable: {b['unavailable']}")
    info = b.get("info") or {"name": state.spec}
    root_cause = state.root_cause
    stopped = _signals.received()
    if stopped is not None:
        root_cause = f"the run was stopped by {stopped}" + (f"; before that: {root_cause}" if root_cause else "")
    elif state.interrupted and root_cause is None:
        root_cause = "the run was interrupted (SIGINT / Ctrl-C)"
    if root_cause:
        notes.insert(0, f"root cause: {root_cause.splitlines()[0]}")
    return build_report(
        state.records.values(),
        backend=BackendInfo(
            info.get("name", state.spec),
            info.get("description", ""),
            info.get("version", ""),
            provenance_records(info.get("provenance", ()), where="backend provenance"),
        ),
        features=b.get("features", {}),
        capabilities=b.get("capabilities", {}),
        semantics=b.get("semantics", "generic"),
        profile=state.profile.name,
        seed=state.seed,
        started=state.started,
        duration_s=time.monotonic() - state.t0,
        workers=max(1, len(workers)),
        notes=notes,
        unavailable=b.get("unavailable"),
        root_cause=root_cause,
        findings=state.findings,
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _STATE not in config.stash or hasattr(config, "workerinput"):
        return  # xdist workers report to the controller, which writes the one merged report
    state = config.stash[_STATE]
    backend: BackendSession | None = config.stash.get(_SESSION, None)
    if backend is not None:
        backend.close()  # normally done by the last teardown; not when the run was interrupted
        if not backend.end_reported:
            backend.end_reported = True
            _merge_end(state, _session_end(backend))
    state.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    state.report = build_session_report(config)
    if state.report is not None and state.report_dir is not None:
        write_report(state.report, state.report_dir)


def session_report(config: pytest.Config) -> Report | None:
    """The report built at the end of the session (for in-process callers such as ``ufidcert certify``)."""
    return config.stash[_STATE].report if _STATE in config.stash else None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _STATE not in config.stash or hasattr(config, "workerinput"):
        return
    rep = config.stash[_STATE].report
    if rep is None:
        return
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
    rd = config.stash[_STATE].report_dir
    if rd is not None:
        tr.write_line(f"report: {rd / 'report.html'} (also report.json, report.md)")
