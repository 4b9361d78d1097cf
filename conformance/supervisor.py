"""Run a backend in its own supervised process and talk to it through :mod:`conformance._rpc`.

:class:`SupervisedDpif` is a :class:`~reference.dpif.Dpif` whose every
call is a request to a host process (:mod:`conformance._backend_host`)
started in a new session (its own process group), where the vendor's
factory and backend run unchanged. Whatever the backend does (exit,
crash, hang, exhaust memory, leave processes running) the suite survives
it and says what happened:

* each call must be answered within the per-operation timeout (a batch
  within :func:`~conformance.guarded.batch_timeout`, each read of a dump
  within one timeout; the factory within ``open_timeout_s``); else
  :class:`~conformance.guarded.OperationTimeout` and the process group is
  ended;
* an exit, a signal, a broken protocol or a ``MemoryError`` raise
  :class:`~conformance.guarded.BackendDied` with the exit status and the
  end of the backend's stderr (which holds a ``faulthandler`` dump after a
  crash);
* after ``close()`` every process left in the backend's session or below
  the host is ended and listed in :attr:`SupervisedDpif.leftovers`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from conformance import _procs
from conformance._backend_host import DUMP_CHUNK
from conformance._rpc import (
    READ_SIZE,
    Call,
    Closed,
    Decoder,
    Fatal,
    Message,
    Open,
    Opened,
    ProcessInfo,
    Raised,
    Reply,
    RpcProtocolError,
    Undecodable,
    encode,
)
from conformance.errors import ConformanceError, UsageError
from conformance.guarded import BackendContractError, BackendDied, OperationTimeout, batch_timeout
from reference.dpif import Dpif, DpifFeatures, DpifFlow, DpifOp, DpifOpResult, FlowStats, PutFlags, UfidArg, Upcall

__all__ = ["BackendRaised", "SupervisedDpif", "describe_exit"]

_STDERR_TAIL = 12_000  # bytes of the backend's stderr kept for the report
_TERM_GRACE_S = 3.0  # after SIGTERM the host closes the backend (daemons, guests) before SIGKILL


class BackendRaised(ConformanceError, RuntimeError):
    """An exception of the backend that could not be carried across the process boundary as itself."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name


def describe_exit(returncode: int | None) -> str:
    """``exited with status 3`` / ``was killed by signal SIGSEGV (11)`` / ``is still running``."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "signal"
        return f"was killed by signal {name} ({-returncode})"
    return f"exited with status {returncode}"


class SupervisedDpif(Dpif):
    """The backend ``spec`` opened with ``options`` in a supervised child process."""

    def __init__(
        self,
        spec: str,
        options: Mapping[str, str],
        *,
        timeout_s: float,
        open_timeout_s: float | None = None,
        memory_limit_mb: int = 0,
    ) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self.leftovers: list[ProcessInfo] = []
        self.close_error: str | None = None
        self.dead: str | None = None
        self._seq = 0
        self._decoder = Decoder()
        self._queue: list[Message] = []
        self._closed = False
        self._stderr = tempfile.TemporaryFile(prefix="ufidcert-backend-stderr-")  # noqa: SIM115 - closed in close()
        to_host_r, self._w = os.pipe()
        self._r, from_host_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "conformance._backend_host", str(to_host_r), str(from_host_w)],
                pass_fds=(to_host_r, from_host_w),
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                start_new_session=True,  # its own session and process group, away from our terminal
                env={**os.environ, "PYTHONFAULTHANDLER": "1", "PYTHONUNBUFFERED": "1"},
            )
        finally:
            os.close(to_host_r)
            os.close(from_host_w)
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.pid = self._proc.pid
        self.type_name = "?"
        self.description = ""
        self.version = ""
        self._extras: frozenset[str] = frozenset()
        try:
            limit = open_timeout_s if open_timeout_s is not None else timeout_s
            self._send(Open(spec, dict(options), tuple(sys.path), memory_limit_mb), limit, "open")
            reply = self._next(0, "the factory", limit)
            if isinstance(reply, Raised):
                self._finish()
                raise self._rebuild(reply)
            if not isinstance(reply, Opened):
                raise self._die("the factory", f"answered {type(reply).__name__} instead of Opened")
        except BaseException:
            self._finish()
            raise
        self.type_name, self.description, self.version = reply.type_name, reply.description, reply.version
        self._extras = frozenset(reply.extras)
        self._provenance: tuple[Any, ...] = tuple(reply.provenance)
        self._provenance_error = reply.provenance_error

    # --- transport ---------------------------------------------------------------

    def _send(self, msg: Message, timeout_s: float, what: str) -> None:
        try:
            data = memoryview(encode(msg))
        except RpcProtocolError as exc:
            raise BackendContractError(f"{what}: arguments cannot be sent to the backend: {exc}") from None
        deadline = time.monotonic() + timeout_s
        while data:
            try:
                data = data[os.write(self._w, data) :]
                continue
            except BlockingIOError:
                pass  # the pipe is full: wait below until the host reads
            except BrokenPipeError:
                raise self._die(what, "closed its end of the pipe") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(what, timeout_s)
            select.select([], [self._w], [], left)

    def _next(self, seq: int, what: str, timeout_s: float) -> Message:
        """The next message for call ``seq`` (replies to abandoned calls are dropped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._queue:
                msg = self._queue.pop(0)
                if isinstance(msg, Fatal):
                    raise self._die(what, msg.message)
                if isinstance(msg, Undecodable):
                    raise BackendContractError(f"{what}: the backend's reply cannot be decoded here: {msg.error}")
                if isinstance(msg, Open | Call | Opened) and seq != 0:
                    raise self._die(what, f"sent a {type(msg).__name__} message")
                if isinstance(msg, Opened | Open | Call):
                    return msg
                if msg.seq == seq:
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(what, timeout_s)
            readable, _, _ = select.select([self._r], [], [], left)
            if not readable:
                continue
            try:
                data = os.read(self._r, READ_SIZE)
            except OSError as exc:
                raise self._die(what, f"pipe error {exc}") from None
            if not data:
                raise self._die(what, "closed its end of the pipe")
            try:
                self._queue += self._decoder.feed(data)
            except RpcProtocolError as exc:
                raise self._die(what, f"broke the protocol: {exc}") from None

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            return self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def _with_stderr(self, text: str) -> str:
        tail = self._stderr_tail()
        return f"{text}\n--- the backend's stderr (end) ---\n{tail}" if tail else f"{text} (no stderr output)"

    def _die(self, what: str, how: str) -> BackendDied:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=2)
        status = describe_exit(self._proc.returncode)
        self._finish()
        if self.dead is None:
            self.dead = self._with_stderr(f"the backend process {status} during {what} ({how})")
        return BackendDied(self.dead)

    def _timeout(self, what: str, timeout_s: float) -> OperationTimeout:
        if not self._closed and self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.send_signal(signal.SIGUSR1)  # faulthandler: the stacks of the hung backend
            time.sleep(0.2)
        self._finish()
        if self.dead is None:
            self.dead = self._with_stderr(
                f"{what} did not complete within {timeout_s:g} s (per-operation timeout {self.timeout_s:g} s); "
                "the backend's process group was ended"
            )
        return OperationTimeout(self.dead)

    def _finish(self) -> None:
        """End the host (SIGTERM, so the backend can close; then SIGKILL) and everything in its session."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._w, self._r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=_TERM_GRACE_S)
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        # Processes that left the group but not the session, or that the host could not end.
        rest = _procs.session_members(self.pid)
        if rest:
            self.leftovers += [p for p in rest if p.pid not in {q.pid for q in self.leftovers}]
            _procs.end_processes(rest)

    def _rebuild(self, raised: Raised) -> BaseException:
        exc = raised.exc if raised.exc is not None else BackendRaised(raised.type_name, raised.message)
        if raised.traceback:
            with contextlib.suppress(AttributeError, TypeError):
                exc.add_note(f"--- traceback in the backend process ---\n{raised.traceback.rstrip()}")
        return exc

    def _call(
        self, method: str, *args: Any, timeout_s: float | None = None, what: str | None = None, **kwargs: Any
    ) -> Any:
        what = what or method
        if self._closed:
            raise BackendDied(self.dead or f"the backend process was closed before {what}")
        self._seq += 1
        seq = self._seq
        limit = self.timeout_s if timeout_s is None else timeout_s
        self._send(Call(seq, method, args, kwargs), limit, what)
        reply = self._next(seq, what, limit)
        if isinstance(reply, Raised):
            raise self._rebuild(reply)
        if isinstance(reply, Reply):
            return reply.value
        raise self._die(what, f"answered {type(reply).__name__} to {method}")

    @property
    def provenance(self) -> tuple[Any, ...]:
        """The backend's :mod:`conformance.provenance` records, as read in its process when it opened."""
        if self._provenance_error:
            raise UsageError(self._provenance_error)
        return self._provenance

    def __getattr__(self, name: str) -> Any:
        # Optional extras of the backend (e.g. hash_bytes128), forwarded when it has them.
        if name.startswith("_") or name not in self.__dict__.get("_extras", ()):
            raise AttributeError(name)

        def remote(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, *args, **kwargs)

        return remote

    # --- the Dpif API -----------------------------------------------------------------

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self._call("flow_put", key, mask, actions, ufid=ufid, flags=flags)  # type: ignore[no-any-return]

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self._call("flow_get", ufid=ufid, key=key, terse=terse)  # type: ignore[no-any-return]

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self._call("flow_del", ufid=ufid, key=key, terse=terse)  # type: ignore[no-any-return]

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        return self._stream("flow_dump", {"terse": terse})

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        # The backend's own batching (or the default), not ours: the batches are the requirement.
        return self._stream("flow_dump_batches", {"terse": terse, "max_flows": max_flows})

    def _stream(self, method: str, kwargs: dict[str, Any]) -> Iterator[Any]:
        """A dump read as it is consumed: the backend's iterator advances as it would in-process.

        One item per request after any other call (a put or delete between two
        flows must reach the backend mid-iteration, as the revalidator's do);
        while the caller only iterates, requests double up to ``DUMP_CHUNK``.
        Each request is one operation under the per-operation timeout.
        """
        dump_id, items, done = self._call(method, **kwargs)  # opened, with its first item
        n, count = 1, 0
        while True:
            after = self._seq
            yield from items
            count += len(items)
            if done:
                return
            n = min(2 * n, DUMP_CHUNK) if self._seq == after else 1  # any other call: one at a time
            items, done = self._call("dump_next", dump_id, n, what=f"{method} (iterating, after {count} items)")

    def flow_flush(self) -> None:
        self._call("flow_flush")

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        return self._call("operate", list(ops), timeout_s=batch_timeout(self.timeout_s, len(ops)))  # type: ignore[no-any-return]

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self._call("execute", packet, actions, in_port=in_port)

    def port_add(self, name: str) -> int:
        return self._call("port_add", name)  # type: ignore[no-any-return]

    def port_del(self, port: int) -> None:
        self._call("port_del", port)

    def inject(self, port: int, packet: bytes) -> None:
        self._call("inject", port, packet)

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        return self._call("recv_upcalls", max)  # type: ignore[no-any-return]

    @property
    def features(self) -> DpifFeatures:
        return self._call("features")  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the backend (within the timeout), then end every process left in its session."""
        if self._closed:
            return
        self._seq += 1
        seq = self._seq
        try:
            self._send(Call(seq, "close"), self.timeout_s, "close")
            reply = self._next(seq, "close()", self.timeout_s)
        except (OperationTimeout, BackendDied) as exc:
            self.close_error = str(exc)
        else:
            if isinstance(reply, Closed):
                self.leftovers += list(reply.leftovers)
                if reply.error:
                    self.close_error = reply.error
            else:
                self.close_error = f"the backend answered close() with {type(reply).__name__}"
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=self.timeout_s)
            if self._proc.returncode not in (0, None):
                self.close_error = self._with_stderr(f"the backend process {describe_exit(self._proc.returncode)} "
                                                     "after close()")  # fmt: skip
        finally:
            self._finish()
            self._stderr.close()
