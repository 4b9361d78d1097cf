"""Test helpers around private ovs-vswitchd daemons (conformance/backends/_ovsd.py)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Generator
from pathlib import Path

from conformance.backends import _ovslib
from conformance.backends._ovs_install import resolve_install
from conformance.backends._ovsd import PrivateOvs, ovs_available
from tests._support import require

__all__ = ["OVS_VERSIONS", "alive", "assert_no_leftovers", "netns_names", "ovs_release", "ovs_tree", "private_ovs"]

# The ovs-vswitchd versions tests run against: the host's (Debian bookworm's
# 3.1.0 where CI installs it) and trixie's 3.5.0 from a cached minimal root.
OVS_VERSIONS = ("host", "debian:trixie")


def ovs_release(daemon: PrivateOvs) -> tuple[int, ...]:
    """The daemon's release as numbers, from its ``version`` reply ("ovs-vswitchd (Open vSwitch) 3.5.0")."""
    word = daemon.version.split()[-1]
    return tuple(int(p) for p in word.split(".")[:3] if p.isdigit())


def private_ovs(ports: int = 2, ovs: str | None = None) -> Generator[PrivateOvs, None, None]:
    """Body of a module-scoped ``ovs`` fixture: a started PrivateOvs, closed afterwards.

    Use as ``yield from private_ovs()``. ``ovs`` names the version as the
    netdev backend's ``ovs=`` option does (``debian:trixie``, a directory;
    default the host's). Skips (fails under UFIDCERT_STRICT=1)
    when ovs-vswitchd is not installed. A start is retried: on a loaded
    machine ovs-vswitchd's control socket occasionally answers before its
    dpctl commands are registered.
    """
    reason = ovs_available()
    require(reason is None, reason or "")
    install = resolve_install(ovs)
    last: Exception | None = None
    for _ in range(4):
        daemon = PrivateOvs(ports=ports, install=install)
        try:
            daemon.start()
        except Exception as exc:  # retried, re-raised below
            last = exc
            daemon.close()
            time.sleep(1.0)
            continue
        try:
            yield daemon
        finally:
            daemon.close()
        return
    assert last is not None
    raise last


def ovs_tree(release: str) -> _ovslib.OvsTree:
    """The built OVS library of a Debian release (for the dpif driver).

    Built here when missing under ``UFIDCERT_STRICT=1`` (CI, a fresh cache);
    otherwise a missing build skips (it takes minutes: certify once with
    ``--option via=dpif --option ovs=debian:RELEASE``).
    """
    tree = _ovslib.cached_tree(release)
    if tree is None and os.environ.get("UFIDCERT_STRICT") == "1":
        tree = _ovslib.debian_tree(release)
    require(tree is not None, f"OVS library of debian:{release} not built (certify with ovs=debian:{release} once)")
    assert tree is not None
    return tree


def netns_names() -> set[str]:
    """The network namespaces that exist now."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies count as gone: they hold no resources and cannot act)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_no_leftovers(pids: list[int], netns: str, rundir: Path) -> None:
    """The daemons are gone (within 5 s), and so are their namespace and run directory."""
    for _ in range(100):
        if not any(alive(p) for p in pids):
            break
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "daemons still running"
    assert netns not in netns_names(), f"network namespace {netns} (and its tap devices) left behind"
    assert not rundir.exists(), f"run directory {rundir} left behind"
