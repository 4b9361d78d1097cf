"""A per-operation timeout around any :class:`~reference.dpif.Dpif`.

The suite talks to the backend under test only through :class:`GuardedDpif`,
so a backend that hangs (a dead daemon, a guest that stopped answering)
makes the current test fail with :class:`OperationTimeout` instead of
hanging the certification. In the main thread the timeout is a
``SIGALRM`` interval timer (cheap, interrupts blocking calls); elsewhere
(no signals) the operation runs in a helper thread that is abandoned on
timeout. After one timeout the guard refuses further calls: the backend's
state is unknown, so later tests are reported as errors at once.

A supervised backend (:class:`~conformance.supervisor.SupervisedDpif`)
enforces its deadlines itself, across the process boundary; the guard then
runs with ``timer=False`` and only checks the replies' types and remembers
the first failure. Batches get a timeout proportional to their size
(:func:`batch_timeout`).
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, TypeVar

from conformance import _signals
from conformance.errors import ConformanceError
from reference.dpif import Dpif, DpifFeatures, DpifFlow, DpifOp, DpifOpResult, FlowStats, PutFlags, UfidArg, Upcall

__all__ = [
    "BATCH_OPS_PER_TIMEOUT",
    "BackendBroken",
    "BackendContractError",
    "BackendDied",
    "GuardedDpif",
    "OperationTimeout",
    "batch_timeout",
    "call_with_timeout",
    "check_reply",
]

T = TypeVar("T")

# How many operations of a batch (dpif operate) one per-operation timeout covers: a batch of
# n ops gets ceil(n / 100) timeouts. A kernel backend in a TCG guest needs a few ms per op.
BATCH_OPS_PER_TIMEOUT = 100


class OperationTimeout(ConformanceError, TimeoutError):
    """The backend did not finish an operation within the per-operation timeout."""


class BackendBroken(ConformanceError):
    """An earlier operation timed out; the backend is no longer used."""


class BackendDied(ConformanceError, ConnectionError):
    """The supervised backend process exited, was killed or stopped speaking the protocol."""


class BackendContractError(ConformanceError, TypeError):
    """The backend answered with a value of the wrong type (e.g. flow_put returned a str)."""


def batch_timeout(timeout_s: float, n_ops: int) -> float:
    """The deadline of a batch of ``n_ops`` operations."""
    return timeout_s * max(1, math.ceil(n_ops / BATCH_OPS_PER_TIMEOUT))


# What each Dpif method must return (checked in both modes; a wrong type fails the test).
_RETURNS: dict[str, type] = {
    "flow_put": FlowStats,
    "flow_get": DpifFlow,
    "flow_del": FlowStats,
    "flow_flush": type(None),
    "operate": list,
    "execute": type(None),
    "port_add": int,
    "port_del": type(None),
    "inject": type(None),
    "recv_upcalls": list,
    "features": DpifFeatures,
}
_ITEMS: dict[str, type] = {"operate": DpifOpResult, "recv_upcalls": Upcall, "flow_dump": DpifFlow}


def check_reply(what: str, value: Any) -> Any:
    """``value`` if it has the type ``what`` must return; :class:`BackendContractError` otherwise."""
    want = _RETURNS.get(what)
    if want is not None and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
        raise BackendContractError(f"{what} returned {type(value).__name__} {value!r:.200}, not {want.__name__}")
    item = _ITEMS.get(what)
    if item is not None and isinstance(value, list):
        for i, v in enumerate(value):
            if not isinstance(v, item):
                raise BackendContractError(
                    f"{what} returned a list whose item {i} is {type(v).__name__}, not {item.__name__}"
                )
    return value


class _Alarm(BaseException):
    # BaseException so that a backend's own ``except Exception`` cannot swallow it.
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


def call_with_timeout(what: str, fn: Callable[[], T], timeout_s: float) -> T:
    """``fn()``, or :class:`OperationTimeout` after ``timeout_s`` (in-process: SIGALRM or a helper thread)."""
    return GuardedDpif._timed(what, fn, timeout_s)


class GuardedDpif(Dpif):
    """Delegates every operation to ``inner`` with a timeout of ``timeout_s`` seconds each."""

    def __init__(self, inner: Dpif, *, timeout_s: float, timer: bool = True) -> None:
        self.inner = inner
        self.timeout_s = timeout_s
        self.timer = timer
        self.broken: str | None = None
        self.failure: str | None = None  # the full text of the first timeout or death

    def __getattr__(self, name: str) -> object:
        # Optional extras (e.g. hash_bytes128) pass through, guarded when callable.
        attr = getattr(self.inner, name)
        if callable(attr):
            fn = attr

            def guarded(*args: object, **kwargs: object) -> object:
                return self._call(name, lambda: fn(*args, **kwargs))

            return guarded
        return attr

    def _call(self, what: str, fn: Callable[[], T], *, timeout_s: float | None = None) -> T:
        if self.broken is not None:
            raise BackendBroken(f"not run: {self.broken}")
        try:
            if not self.timer or self.timeout_s <= 0:
                return fn()
            return self._timed(what, fn, self.timeout_s if timeout_s is None else timeout_s)
        except (OperationTimeout, BackendDied) as exc:
            if self.broken is None:
                self.failure = str(exc)
                first = self.failure.splitlines()[0] if self.failure else type(exc).__name__
                self.broken = f"the backend failed in an earlier test: {first}"
            raise

    @staticmethod
    def _timed(what: str, fn: Callable[[], T], timeout_s: float) -> T:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            return GuardedDpif._call_alarm(what, fn, timeout_s)
        return GuardedDpif._call_thread(what, fn, timeout_s)

    @staticmethod
    def _timed_out(what: str, timeout_s: float) -> OperationTimeout:
        return OperationTimeout(f"{what} did not complete within {timeout_s:g} s (per-operation timeout)")

    @staticmethod
    def _call_alarm(what: str, fn: Callable[[], T], timeout_s: float) -> T:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return fn()
        except _Alarm:
            raise GuardedDpif._timed_out(what, timeout_s) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @staticmethod
    def _call_thread(what: str, fn: Callable[[], T], timeout_s: float) -> T:
        box: list[T] = []
        err: list[BaseException] = []

        def run() -> None:
            try:
                box.append(fn())
            except BaseException as exc:  # re-raised in the caller's thread
                err.append(exc)

        worker = threading.Thread(target=run, name=f"ufidcert-{what}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            raise GuardedDpif._timed_out(what, timeout_s)
        if err:
            raise err[0]
        return box[0]

    def _checked(self, what: str, fn: Callable[[], Any], *, timeout_s: float | None = None) -> Any:
        _signals.check()  # a stop request whose KeyboardInterrupt was swallowed still stops the run
        return check_reply(what, self._call(what, fn, timeout_s=timeout_s))

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
        put = self.inner.flow_put
        return self._checked("flow_put", lambda: put(key, mask, actions, ufid=ufid, flags=flags))  # type: ignore[no-any-return]

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self._checked("flow_get", lambda: self.inner.flow_get(ufid=ufid, key=key, terse=terse))  # type: ignore[no-any-return]

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self._checked("flow_del", lambda: self.inner.flow_del(ufid=ufid, key=key, terse=terse))  # type: ignore[no-any-return]

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        # Lazy, each flow guarded: the caller may change the table between flows, as ovs-vswitchd's
        # revalidator deletes flows between dump batches (UFID-DUMP-008); a stall mid-dump times out too.
        # (A supervised backend times each chunk of the dump itself.)
        it = self._call("flow_dump", lambda: iter(self.inner.flow_dump(terse=terse)))
        return self._each("flow_dump", it)

    def _each(self, what: str, it: Iterator[DpifFlow]) -> Iterator[DpifFlow]:
        while True:
            _signals.check()  # a stop request whose KeyboardInterrupt was swallowed still stops the run
            flow = self._call(what, lambda: next(it, None))
            if flow is None:
                return
            check_reply(what, [flow])  # each item a DpifFlow
            yield flow

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        # As flow_dump: the whole batched dump is one guarded operation.
        batches = self._call(
            "flow_dump_batches", lambda: list(self.inner.flow_dump_batches(terse=terse, max_flows=max_flows))
        )
        return iter(batches)

    def flow_flush(self) -> None:
        self._checked("flow_flush", self.inner.flow_flush)

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        timeout = batch_timeout(self.timeout_s, len(ops))
        return self._checked("operate", lambda: self.inner.operate(ops), timeout_s=timeout)  # type: ignore[no-any-return]

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self._checked("execute", lambda: self.inner.execute(packet, actions, in_port=in_port))

    def port_add(self, name: str) -> int:
        return self._checked("port_add", lambda: self.inner.port_add(name))  # type: ignore[no-any-return]

    def port_del(self, port: int) -> None:
        self._checked("port_del", lambda: self.inner.port_del(port))

    def inject(self, port: int, packet: bytes) -> None:
        self._checked("inject", lambda: self.inner.inject(port, packet))

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        return self._checked("recv_upcalls", lambda: self.inner.recv_upcalls(max))  # type: ignore[no-any-return]

    @property
    def features(self) -> DpifFeatures:
        return self._checked("features", lambda: self.inner.features)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self.timer:
            self.inner.close()  # the supervisor bounds close() and ends the process group itself
        elif self.broken is None:
            self._call("close", self.inner.close)
        else:
            # Best effort: a hung backend may still release its resources (daemons, VMs).
            worker = threading.Thread(target=self.inner.close, name="ufidcert-close", daemon=True)
            worker.start()
            worker.join(self.timeout_s)
