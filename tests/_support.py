"""Helpers shared by the project's own tests."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

__all__ = ["qemu_children", "require", "require_module"]


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false.

    ``UFIDCERT_STRICT=1`` (set by .ci/run) turns the skip into a failure:
    CI installs every real component (ovs-vswitchd, a C compiler, ...) and
    must never silently skip the checks against them.
    """
    if condition:
        return
    if os.environ.get("UFIDCERT_STRICT") == "1":
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


def require_module(name: str, reason: str) -> ModuleType:
    """Import ``name``, or skip (fail under UFIDCERT_STRICT=1) with ``reason``.

    Unlike ``pytest.importorskip`` this also catches a module that is
    present but cannot import (e.g. ``ovs.flow`` without pyparsing), and CI
    cannot skip it silently.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(False, f"{reason} ({exc})")
        raise  # unreachable: require() skipped or failed


def qemu_children() -> list[int]:
    """Live QEMU processes started by this test process (a guest left behind shows up here)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"qemu-system" in cmd and fields[0] != "Z":
            out.append(int(pid))
    return out
