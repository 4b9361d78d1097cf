"""Finding and ending the processes a backend left behind (Linux ``/proc``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from conformance._rpc import ProcessInfo

__all__ = ["ProcStat", "end_processes", "process_table", "session_members", "descendants"]


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` the supervisor needs."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int


def _stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcStat(pid, rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
    except (IndexError, ValueError):
        return None


def process_table() -> list[ProcStat]:
    """Every process visible in /proc (those that vanish while reading are skipped)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                out.append(st)
    return out


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return (text or "?")[:300]


def descendants(root: int, table: list[ProcStat] | None = None) -> list[ProcessInfo]:
    """Live (not zombie) descendants of ``root``."""
    table = process_table() if table is None else table
    children: dict[int, list[ProcStat]] = {}
    for st in table:
        children.setdefault(st.ppid, []).append(st)
    out: list[ProcessInfo] = []
    todo = [root]
    while todo:
        for st in children.get(todo.pop(), []):
            todo.append(st.pid)
            if st.state != "Z":
                out.append(ProcessInfo(st.pid, _cmdline(st.pid)))
    return out


def session_members(sid: int, *, exclude: int = 0) -> list[ProcessInfo]:
    """Live processes whose session or process group is ``sid`` (except ``exclude``)."""
    return [
        ProcessInfo(st.pid, _cmdline(st.pid))
        for st in process_table()
        if sid in (st.session, st.pgrp) and st.pid != exclude and st.state != "Z"
    ]


def end_processes(procs: list[ProcessInfo], *, grace_s: float = 1.0, reap: bool = False) -> None:
    """SIGTERM, then SIGKILL after ``grace_s`` for those still alive.

    ``reap`` waits for any exited child of ours: only for a process that owns
    no :class:`subprocess.Popen` (the backend host, a child subreaper).
    """
    for p in procs:
        with contextlib.suppress(OSError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        if reap:
            _reap()
        alive = [p for p in alive if (st := _stat(p.pid)) is not None and st.state != "Z"]
        if alive:
            time.sleep(0.02)
    for p in alive:
        with contextlib.suppress(OSError):
            os.kill(p.pid, signal.SIGKILL)
    if reap:
        time.sleep(0.01 if alive else 0)
        _reap()


def _reap() -> None:
    # Orphans re-parented to us (a child subreaper) must be waited for, or they stay zombies.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
