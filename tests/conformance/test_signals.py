"""conformance/_signals.py: a stop request survives an exception the interpreter swallows."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator

import pytest

from conformance import _signals


@pytest.fixture
def installed() -> Iterator[None]:
    assert _signals.install()
    try:
        yield
    finally:
        _signals.restore()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_lost_in_a_gc_callback_is_raised_again_by_check(
    installed: None, sig: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python prints an exception raised inside a gc callback as "unraisable" and carries on:
    # that is how a Ctrl-C landing in Hypothesis's gc callback let a run finish as a PASS.
    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc.callbacks.remove(callback)
            os.kill(os.getpid(), sig)

    swallowed: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_value))
    gc.callbacks.append(callback)
    gc.collect()
    assert [type(e) for e in swallowed] == [_signals.Terminated]  # the interrupt itself was lost
    assert _signals.received() == signal.Signals(sig).name
    with pytest.raises(_signals.Terminated) as info:
        _signals.check()
    assert info.value.signum == sig


def test_a_second_ctrl_c_interrupts_the_teardown(installed: None) -> None:
    with pytest.raises(_signals.Terminated):
        os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as info:
        os.kill(os.getpid(), signal.SIGINT)
    assert not isinstance(info.value, _signals.Terminated)


def test_restore_puts_back_the_previous_handlers() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    assert _signals.install()
    _signals.restore()
    assert {s: signal.getsignal(s) for s in before} == before
    assert _signals.received() is None
