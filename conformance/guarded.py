"""A per-operation timeout around any :class:`~reference.dpif.Dpif`.

The suite talks to the backend under test only through :class:`GuardedDpif`,
so a backend that hangs (a dead daemon, a guest that stopped answering)
makes the current test fail with :class:`OperationTimeout` instead of
hanging the certification. In the main thread the timeout is a
``SIGALRM`` interval timer (cheap, interrupts blocking calls); elsewhere
(no signals) the operation runs in a helper thread that is abandoned on
timeout. After one timeout the guard refuses further calls: the backend's
state is unknown, so later tests are reported as errors at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TypeVar

from conformance.errors import ConformanceError
from reference.dpif import Dpif, DpifFeatures, DpifFlow, DpifOp, DpifOpResult, FlowStats, PutFlags, UfidArg, Upcall

__all__ = ["BackendBroken", "GuardedDpif", "OperationTimeout"]

T = TypeVar("T")


class OperationTimeout(ConformanceError, TimeoutError):
    """The backend did not finish an operation within the per-operation timeout."""


class BackendBroken(ConformanceError):
    """An earlier operation timed out; the backend is no longer used."""


class _Alarm(BaseException):
    # BaseException so that a backend's own ``except Exception`` cannot swallow it.
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


class GuardedDpif(Dpif):
    """Delegates every operation to ``inner`` with a timeout of ``timeout_s`` seconds each."""

    def __init__(self, inner: Dpif, *, timeout_s: float) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.broken: str | None = None

    def __getattr__(self, name: str) -> object:
        # Optional extras (e.g. hash_bytes128) pass through, guarded when callable.
        attr = getattr(self.inner, name)
        if callable(attr):
            fn = attr

            def guarded(*args: object, **kwargs: object) -> object:
                return self._call(name, lambda: fn(*args, **kwargs))

            return guarded
        return attr

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        if self.broken is not None:
            raise BackendBroken(f"not run: {self.broken}")
        if self.timeout_s <= 0:
            return fn()
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            return self._call_alarm(what, fn)
        return self._call_thread(what, fn)

    def _timed_out(self, what: str) -> OperationTimeout:
        self.broken = f"the backend did not answer {what} within {self.timeout_s:g} s in an earlier test"
        return OperationTimeout(f"{what} did not complete within {self.timeout_s:g} s (per-operation timeout)")

    def _call_alarm(self, what: str, fn: Callable[[], T]) -> T:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            return fn()
        except _Alarm:
            raise self._timed_out(what) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _call_thread(self, what: str, fn: Callable[[], T]) -> T:
        box: list[T] = []
        err: list[BaseException] = []

        def run() -> None:
            try:
                box.append(fn())
            except BaseException as exc:  # re-raised in the caller's thread
                err.append(exc)

        worker = threading.Thread(target=run, name=f"ufidcert-{what}", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            raise self._timed_out(what)
        if err:
            raise err[0]
        return box[0]

    # --- the Dpif API, each call guarded ------------------------------------

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self._call("flow_put", lambda: self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags))

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self._call("flow_get", lambda: self.inner.flow_get(ufid=ufid, key=key, terse=terse))

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self._call("flow_del", lambda: self.inner.flow_del(ufid=ufid, key=key, terse=terse))

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        # The whole dump is one operation: a backend that stalls mid-dump times out too.
        flows = self._call("flow_dump", lambda: list(self.inner.flow_dump(terse=terse)))
        return iter(flows)

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        # As flow_dump: the whole batched dump is one guarded operation.
        batches = self._call(
            "flow_dump_batches", lambda: list(self.inner.flow_dump_batches(terse=terse, max_flows=max_flows))
        )
        return iter(batches)

    def flow_flush(self) -> None:
        self._call("flow_flush", self.inner.flow_flush)

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        return self._call("operate", lambda: self.inner.operate(ops))

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self._call("execute", lambda: self.inner.execute(packet, actions, in_port=in_port))

    def port_add(self, name: str) -> int:
        return self._call("port_add", lambda: self.inner.port_add(name))

    def port_del(self, port: int) -> None:
        self._call("port_del", lambda: self.inner.port_del(port))

    def inject(self, port: int, packet: bytes) -> None:
        self._call("inject", lambda: self.inner.inject(port, packet))

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        return self._call("recv_upcalls", lambda: self.inner.recv_upcalls(max))

    @property
    def features(self) -> DpifFeatures:
        return self._call("features", lambda: self.inner.features)

    def close(self) -> None:
        if self.broken is None:
            self._call("close", self.inner.close)
        else:
            # Best effort: a hung backend may still release its resources (daemons, VMs).
            worker = threading.Thread(target=self.inner.close, name="ufidcert-close", daemon=True)
            worker.start()
            worker.join(self.timeout_s)
