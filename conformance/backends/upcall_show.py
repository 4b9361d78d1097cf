"""Parser for ``ovs-appctl upcall/show`` replies (sans I/O: text in, records out).

The format is ``upcall_unixctl_show()`` in ofproto/ofproto-dpif-upcall.c
(OVS 3.1.0): per datapath a ``<dpif name>:``
header, a ``flows`` line ``(current N) (avg N) (max N) (limit N)``, an optional
``offloaded flows : N`` line, ``dump duration : Nms``, ``ufid enabled :
true|false``, a blank line and one ``<id>: (keys N)`` line per revalidator.

Use :func:`parse_upcall_show` on the reply of ``upcall/show``; bad text raises
:class:`UpcallShowError` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.errors import ConformanceError

__all__ = ["RevalidatorKeys", "UdpifStatus", "UpcallShowError", "parse_upcall_show"]

_HEADER = re.compile(r"^(\S.*):$")
_FLOWS = re.compile(r"^\s+flows\s*:\s*\(current (\d+)\)\s*\(avg (\d+)\)\s*\(max (\d+)\)\s*\(limit (\d+)\)$")
_OFFLOADED = re.compile(r"^\s+offloaded flows\s*:\s*(\d+)$")
_DURATION = re.compile(r"^\s+dump duration\s*:\s*(-?\d+)ms$")
_UFID = re.compile(r"^\s+ufid enabled\s*:\s*(true|false)$")
_KEYS = re.compile(r"^\s+(\d+): \(keys (-?\d+)\)$")


class UpcallShowError(ConformanceError, ValueError):
    """``upcall/show`` text that does not have the format of OVS's ``upcall_unixctl_show()``."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(f"upcall/show line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class RevalidatorKeys:
    """One revalidator thread's line: its id and how many ukeys its share of the umaps holds."""

    thread_id: int
    keys: int


@dataclass(frozen=True, slots=True)
class UdpifStatus:
    """One datapath's block of ``upcall/show``.

    ``ufid_enabled`` is ``udpif_use_ufid()``: whether dumps are terse (the
    runtime switch AND datapath support). ``dump_duration_ms`` is the last
    revalidation round, dump and sweep, as timed by the leader revalidator.
    """

    dpif: str
    current: int
    avg: int
    max: int
    limit: int
    dump_duration_ms: int
    ufid_enabled: bool
    offloaded: int | None = None
    revalidators: tuple[RevalidatorKeys, ...] = ()


def parse_upcall_show(text: str) -> tuple[UdpifStatus, ...]:
    """All datapath blocks of an ``upcall/show`` reply, in order (empty text: no datapath)."""
    out: list[UdpifStatus] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        header = _HEADER.match(lines[i])
        if header is None:
            raise UpcallShowError(f"expected a '<dpif name>:' header, got {lines[i]!r}", line=i + 1)
        name = header.group(1)
        i += 1
        flows = _expect(lines, i, _FLOWS, "flows : (current N) (avg N) (max N) (limit N)")
        i += 1
        offloaded: int | None = None
        if i < len(lines):
            m = _OFFLOADED.match(lines[i])
            if m is not None:
                offloaded = int(m.group(1))
                i += 1
        duration = _expect(lines, i, _DURATION, "dump duration : Nms")
        i += 1
        ufid = _expect(lines, i, _UFID, "ufid enabled : true|false")
        i += 1
        # A blank line separates the summary from the per-revalidator lines.
        while i < len(lines) and not lines[i].strip():
            i += 1
        revalidators: list[RevalidatorKeys] = []
        while i < len(lines):
            m = _KEYS.match(lines[i])
            if m is None:
                break
            revalidators.append(RevalidatorKeys(int(m.group(1)), int(m.group(2))))
            i += 1
        current, avg, max_, limit = (int(g) for g in flows.groups())
        out.append(
            UdpifStatus(
                dpif=name,
                current=current,
                avg=avg,
                max=max_,
                limit=limit,
                dump_duration_ms=int(duration.group(1)),
                ufid_enabled=ufid.group(1) == "true",
                offloaded=offloaded,
                revalidators=tuple(revalidators),
            )
        )
    return tuple(out)


def _expect(lines: list[str], i: int, pattern: re.Pattern[str], what: str) -> re.Match[str]:
    if i >= len(lines):
        raise UpcallShowError(f"text ends where '{what}' was expected", line=i + 1)
    m = pattern.match(lines[i])
    if m is None:
        raise UpcallShowError(f"expected '{what}', got {lines[i]!r}", line=i + 1)
    return m
