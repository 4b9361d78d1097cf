"""SIGTERM, SIGHUP and SIGINT stop a certification the same recorded way.

CI runners, ``timeout`` and systemd stop a run with SIGTERM; a closed
terminal sends SIGHUP. Their default action kills the process at once, so
no ``finally``, fixture teardown or ``atexit`` handler runs: daemons,
guests, namespaces and temporary directories stay behind and no report is
written. Raising :class:`Terminated` (a :class:`KeyboardInterrupt`) instead
makes pytest unwind exactly as for Ctrl-C. SIGINT is recorded too: Python's
own KeyboardInterrupt is lost when it lands in a garbage-collector callback
(Hypothesis registers one), and the run then finished as if never stopped;
a recorded signal is raised again by :func:`check`.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Terminated", "check", "install", "received", "restore"]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_saved: dict[int, Any] = {}
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """The run was asked to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) > 1:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C interrupts the teardown, as it always does
        return  # already unwinding: let the teardown finish (SIGKILL is the way to force it)
    raise Terminated(signum)


def install() -> bool:
    """Handle SIGTERM/SIGHUP/SIGINT as a recorded interrupt until :func:`restore`; False outside the main thread."""
    if threading.current_thread() is not threading.main_thread() or _saved:
        return False
    _received.clear()
    for sig in _SIGNALS:
        _saved[sig] = signal.signal(sig, _handler)
    return True


def restore() -> None:
    """Put back the handlers :func:`install` replaced."""
    while _saved:
        sig, previous = _saved.popitem()
        signal.signal(sig, previous)
    _received.clear()


def check() -> None:
    """Raise :class:`Terminated` again if a signal arrived.

    The handler's exception can be lost: raised inside a garbage-collector
    callback or a ``__del__`` it is only printed as "unraisable". The suite
    calls this before each backend operation, so the run stops anyway.
    """
    if _received:
        raise Terminated(_received[0])


def received() -> str | None:
    """``"SIGTERM"`` (or ``"SIGHUP"``, ``"SIGINT"``) if such a signal arrived since :func:`install`."""
    return signal.Signals(_received[0]).name if _received else None
