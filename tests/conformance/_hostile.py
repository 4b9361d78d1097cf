"""Hostile backends: the reference datapath that exits, crashes, hangs or misbehaves mid-run.

Certified by tests/conformance/test_hostile_backends.py as
``python:tests.conformance._hostile:NAME``. Each misbehaviour starts after a
few operations (``_AFTER``), so the backend opens and passes the smoke check
first, as a real backend that fails under load would. Child processes they
start carry :data:`MARKER` in their command line so a test can look for them.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from reference.datapath import ReferenceDatapath
from reference.dpif import DpifFlow, DpifNotFound, FlowStats, PutFlags, UfidArg

__all__ = [
    "MARKER",
    "crash_segfault",
    "exit0_mid_run",
    "exit1_mid_run",
    "factory_keyerror",
    "factory_typeerror",
    "garbage_return",
    "hang_in_call",
    "hang_in_close",
    "hang_in_dump",
    "hang_in_factory",
    "lazy_dump",
    "leave_children",
    "out_of_memory",
    "slow_reference",
]

MARKER = "ufidcert-hostile-child"
_AFTER = 40  # puts before the misbehaviour starts


class _Hostile(ReferenceDatapath):
    def __init__(self, act: str) -> None:
        super().__init__()
        self.act = act
        self.puts = 0

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        self.puts += 1
        if self.puts > _AFTER:
            self._misbehave()
        stats = super().flow_put(key, mask, actions, ufid=ufid, flags=flags)
        if self.act == "garbage" and self.puts > _AFTER:
            return "ok"  # type: ignore[return-value]
        return stats

    def _misbehave(self) -> None:
        if self.act == "exit0":
            os._exit(0)
        if self.act == "exit1":
            os._exit(1)
        if self.act == "segv":
            ctypes.string_at(0)
        if self.act == "hang":
            time.sleep(3600)
        if self.act == "oom":
            hog = []
            while True:
                hog.append(bytes(64 << 20))  # calloc: address space at once, no page touched
        if self.act == "children" and self.puts == _AFTER + 1:
            # One child in our group and one that leaves it (a daemon's setsid): both must be found.
            sleeper = [sys.executable, "-c", "import time; time.sleep(300)", MARKER]
            subprocess.Popen(sleeper)
            subprocess.Popen(sleeper, start_new_session=True)

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        for i, flow in enumerate(super().flow_dump(terse=terse)):
            if self.act == "hang-dump" and i == 3:
                time.sleep(3600)
            yield flow

    def close(self) -> None:
        if self.act == "hang-close":
            time.sleep(3600)
        super().close()


def exit0_mid_run() -> ReferenceDatapath:
    """Calls os._exit(0) in the middle of the run."""
    return _Hostile("exit0")


def exit1_mid_run() -> ReferenceDatapath:
    """Calls os._exit(1) in the middle of the run."""
    return _Hostile("exit1")


def crash_segfault() -> ReferenceDatapath:
    """Dereferences NULL (SIGSEGV) in the middle of the run."""
    return _Hostile("segv")


def hang_in_call() -> ReferenceDatapath:
    """flow_put stops answering in the middle of the run."""
    return _Hostile("hang")


def hang_in_dump() -> ReferenceDatapath:
    """flow_dump stops after three flows."""
    return _Hostile("hang-dump")


def hang_in_close() -> ReferenceDatapath:
    """close() never returns."""
    return _Hostile("hang-close")


def hang_in_factory() -> ReferenceDatapath:
    """The factory never returns."""
    time.sleep(3600)
    return _Hostile("none")


def leave_children() -> ReferenceDatapath:
    """Starts processes that outlive close()."""
    return _Hostile("children")


def garbage_return() -> ReferenceDatapath:
    """flow_put returns a str instead of FlowStats."""
    return _Hostile("garbage")


def out_of_memory() -> ReferenceDatapath:
    """Allocates without bound in the middle of the run."""
    return _Hostile("oom")


def slow_reference() -> ReferenceDatapath:
    """A correct backend whose every put takes a moment (for stopping a run part-way)."""
    return _Slow("none")


class _Slow(_Hostile):
    def _misbehave(self) -> None:
        time.sleep(0.01)


class _LazyDump(ReferenceDatapath):
    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        # Reads each flow when the iteration reaches it: one deleted before then is not returned.
        for ufid in [f.ufid for f in super().flow_dump(terse=terse)]:
            try:
                yield self.flow_get(ufid=ufid, terse=terse)
            except DpifNotFound:
                continue


def lazy_dump() -> ReferenceDatapath:
    """A correct backend whose dump reads each flow when the iteration reaches it."""
    return _LazyDump()


def factory_keyerror() -> ReferenceDatapath:
    """The factory fails with KeyError('socket')."""
    raise KeyError("socket")


def factory_typeerror() -> ReferenceDatapath:
    """The factory fails with a TypeError of its own (not an option mismatch)."""
    raise TypeError("unsupported operand in the vendor's setup")
