"""The backend of one certification process: opened once, guarded, its capabilities read.

Each pytest process (each xdist worker) has one :class:`BackendSession`;
the plugin creates it from the run's options and the suite's tests reach it
through the ``dpif_session`` fixture.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import os
from typing import Any

import pytest

from conformance.errors import BackendUnavailable, ConformanceError, UsageError
from conformance.guarded import BackendBroken, BackendDied, GuardedDpif, OperationTimeout, call_with_timeout
from conformance.profiles import PROFILES, CertProfile
from conformance.provenance import describe_backend
from conformance.registry import factory_metadata, open_backend, resolve_factory
from conformance.report import BackendInfo, Finding
from conformance.requirements import Capability
from conformance.supervisor import SupervisedDpif
from reference.dpif import Dpif, DpifError, DpifNotSupported, datapath_clock, key_hasher
from reference.probe import probe_ufid
from reference.uapi import UfidFlags

__all__ = ["NA_PREFIX", "UNAVAILABLE_PREFIX", "BackendSession", "default_open_timeout", "is_infrastructure_error"]

# Prefixes of skip and failure messages the plugin turns into "not applicable" and "error" results.
NA_PREFIX = "not applicable: "
UNAVAILABLE_PREFIX = "backend unavailable: "


def _capabilities(dpif: Dpif) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Features as JSON and each capability -> None (available) or the reason it is not."""
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
    caps["hash"] = None if key_hasher(dpif) is not None else "the backend has no hash_bytes128"
    caps["clock"] = None if datapath_clock(dpif) is not None else "the backend has no clock_ms"
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
        profile: CertProfile = PROFILES["standard"],
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.options = options
        self.timeout_s = timeout_s
        self.in_process = in_process
        self.open_timeout_s = open_timeout_s if open_timeout_s is not None else default_open_timeout(spec, timeout_s)
        self.memory_limit_mb = memory_limit_mb
        self.profile = profile
        self.seed = seed  # 0: derandomised per test
        self.reproducer: str | None = None  # a runnable reproducer for the current test's report
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
        about = describe_backend(inner, where=self.spec)
        self.info = BackendInfo(name=self.spec, description=about.description, version=about.version)
        try:
            if about.provenance_error:
                raise UsageError(about.provenance_error)
            self.info = dataclasses.replace(self.info, provenance=about.provenance)
            self.features, self.capabilities = _capabilities(self.dpif)
            self.semantics = str(self.features["semantics"])
            self.dpif.flow_flush()
        except Exception as exc:
            self.unavailable = f"{self.spec}: opened, but reading its features or probing failed: {exc}"

    def _open_inner(self) -> Dpif:
        if self.in_process:
            spec, opts = self.spec, dict(self.options)
            return call_with_timeout("the factory", lambda: open_backend(spec, opts), self.open_timeout_s)
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
            pytest.fail(f"{UNAVAILABLE_PREFIX}{self.unavailable}", pytrace=False)
        self.dpif.flow_flush()
        if self.capabilities.get("upcalls") is None:
            while self.dpif.recv_upcalls(64):
                pass
        return self.dpif

    def record_reproducer(self, text: str) -> None:
        """Attach ``text`` (a runnable reproducer) to the current test's report entry."""
        self.reproducer = text

    def ports(self, n: int = 2) -> list[int]:
        """``n`` datapath ports added once per session (for inject)."""
        dpif = self.fresh()
        while len(self._ports) < n:
            try:
                self._ports.append(dpif.port_add(f"ufc{os.getpid() % 10000}p{len(self._ports)}"))
            except DpifNotSupported as exc:
                # Declared packet I/O but no ports to inject on: the traffic checks cannot apply.
                pytest.skip(f"{NA_PREFIX}port_add is not supported ({exc}); traffic cannot be injected")
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


def default_open_timeout(spec: str, timeout_s: float) -> float:
    """10 per-operation timeouts, or the factory's own ``open_timeout_s`` when it declares a longer one.

    A factory that downloads a kernel or a Debian root and boots a guest
    before it returns declares how long that may take.
    """
    try:
        declared = factory_metadata(resolve_factory(spec)).open_timeout_s
    except Exception:  # an unknown or unimportable backend is reported when it is opened
        declared = None
    if declared is None:
        return 10 * timeout_s
    return max(10 * timeout_s, declared)


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
