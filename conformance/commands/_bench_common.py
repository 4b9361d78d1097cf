"""What every part of ``ufidcert bench`` shares: the progress line, the test frames, resident memory."""

from __future__ import annotations

import struct
import sys
import time
from typing import TextIO

__all__ = ["Progress", "frame_for", "per_flow", "rss_bytes"]


class Progress:
    """A one-line progress display on a stream (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._width = 0

    def update(self, phase: str, done: int | None = None, total: int | None = None, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and self.tty and now - self._last < 0.1:
            return
        if not force and not self.tty and now - self._last < 5.0:
            return
        self._last = now
        text = f"[bench] {phase}"
        if done is not None and total:
            filled = int(30 * done / total)
            text += f" [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, message: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + f"[bench] {message}".ljust(self._width) + "\n")
            self._width = 0
        else:
            self.stream.write(f"[bench] {message}\n")
        self.stream.flush()


def frame_for(i: int) -> bytes:
    """A distinct Ethernet/IPv4/UDP frame per ``i`` (source MAC, source IP and ports vary)."""
    src = b"\x06" + i.to_bytes(5, "big")
    eth = b"\x02\x00\x00\x00\x00\x01" + src + b"\x08\x00"
    udp = struct.pack("!HHHH", 1024 + (i & 0x7FFF), 53, 8, 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, (0x0A000000 + i).to_bytes(4, "big"), b"\x0a\xff\0\1"
    )
    return eth + ip + udp + bytes(18)


def rss_bytes(pid: int | None = None) -> int | None:
    """Resident memory of a process (default: this one) from /proc, or None where there is no /proc."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def per_flow(before: int | None, after: int | None, flows: int) -> int | None:
    return None if before is None or after is None or flows < 1 else round((after - before) / flows)
