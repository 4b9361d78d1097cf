"""Small helpers shared by the suite's test modules (backend access only through Dpif)."""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from conformance.plugin import is_infrastructure_error
from conformance.suite._flows import FlowSpec, NormFlow, eth_frame, normalise
from reference.dpif import Dpif, DpifError, DpifFlow, FlowStats, PutFlags

if TYPE_CHECKING:
    from conformance.plugin import BackendSession

__all__ = [
    "dump_set",
    "errno_of",
    "expect_errno",
    "has",
    "del_flow",
    "flows_by_ufid",
    "get_flow",
    "install",
    "linux_release",
    "ovs_release",
    "ports_or_skip",
    "requirement",
    "send",
    "traffic_port",
]

requirement = pytest.mark.requirement


def _release(session: BackendSession, components: tuple[str, ...], pattern: str) -> tuple[int, int] | None:
    """(major, minor) from the first provenance record of ``components`` whose version ``pattern`` finds."""
    for record in session.info.provenance:
        if record.component in components:
            m = re.search(pattern, record.version)
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def linux_release(session: BackendSession) -> tuple[int, int] | None:
    """(major, minor) of the Linux kernel the backend runs, from its provenance; None when it names none."""
    return _release(session, ("Linux kernel",), r"^(\d+)\.(\d+)")


def ovs_release(session: BackendSession) -> tuple[int, int] | None:
    """(major, minor) of the Open vSwitch the backend runs (daemon or library), from its provenance; else None."""
    return _release(session, ("ovs-vswitchd", "libopenvswitch (dpif-netdev)"), r"(\d+)\.(\d+)\.\d+")


def has(session: BackendSession, capability: str) -> bool:
    """Whether the backend under test has ``capability``."""
    return session.capabilities.get(capability, "unknown") is None


def install(dpif: Dpif, spec: FlowSpec, flags: PutFlags = PutFlags.CREATE) -> FlowStats:
    """Put ``spec``."""
    return dpif.flow_put(spec.key, spec.mask, spec.actions, ufid=spec.ufid, flags=flags)


def get_flow(dpif: Dpif, spec: FlowSpec, *, terse: bool = False) -> DpifFlow:
    """get ``spec`` by its UFID when it has one, else by key (the key is always passed, as OVS does)."""
    return dpif.flow_get(ufid=spec.ufid, key=spec.key, terse=terse)


def del_flow(dpif: Dpif, spec: FlowSpec, *, terse: bool = False) -> FlowStats:
    """del ``spec`` by its UFID when it has one, else by key."""
    return dpif.flow_del(ufid=spec.ufid, key=spec.key, terse=terse)


def errno_of(fn: Callable[[], object]) -> int:
    """Run ``fn``; 0 on success, else the DpifError's errno."""
    try:
        fn()
    except DpifError as exc:
        if is_infrastructure_error(exc):
            raise
        return exc.errno or -1
    return 0


@contextmanager
def expect_errno(code: int, what: str) -> Iterator[None]:
    """Assert the block raises a DpifError with errno ``code``."""
    try:
        yield
    except DpifError as exc:
        if is_infrastructure_error(exc):
            raise  # the backend went away: an error of the run, not a wrong errno
        assert exc.errno == code, (
            f"{what}: expected {_errno.errorcode[code]}, got {_errno.errorcode.get(exc.errno or 0)} ({exc})"
        )
    else:
        raise AssertionError(f"{what}: expected {_errno.errorcode[code]}, but it succeeded")


def dump_set(dpif: Dpif, *, terse: bool = False, with_ufid: bool = True) -> list[NormFlow]:
    """The dump, normalised and sorted (order is not significant)."""
    return sorted((normalise(f, with_ufid=with_ufid) for f in dpif.flow_dump(terse=terse)), key=NormFlow.sort_key)


def ports_or_skip(session: BackendSession, n: int = 2) -> list[int]:
    """Ports for inject; the test must be marked with an inject-capability requirement."""
    return session.ports(n)


def traffic_port(session: BackendSession) -> int | None:
    """A port to inject on when the backend takes traffic, else None (the test then runs without traffic)."""
    if not has(session, "inject"):
        return None
    try:
        return session.ports(1)[0]
    except pytest.skip.Exception:  # port_add not supported
        return None


def send(dpif: Dpif, port: int, src: int, count: int, size: int = 60) -> int:
    """Inject ``count`` frames of ``size`` bytes from Ethernet source ``src``; return the bytes sent."""
    for _ in range(count):
        dpif.inject(port, eth_frame(src, size=size))
    return count * size


def flows_by_ufid(flows: list[DpifFlow]) -> dict[object, DpifFlow]:
    """Index a dump by UFID."""
    return {f.ufid: f for f in flows}
