"""The process a supervised backend runs in (``python -m conformance._backend_host RFD WFD``).

Started by :class:`conformance.supervisor.SupervisedDpif` in a new session.
It opens the backend with the vendor's factory, then answers one
:class:`~conformance._rpc.Call` at a time until ``close``. It is a child
subreaper, so processes the backend starts and orphans stay below it and
can be found and ended after ``close()``. SIGTERM and SIGHUP (also sent
when the suite itself dies, ``PR_SET_PDEATHSIG``) unwind the host so the
backend's ``close()`` and ``atexit`` handlers still run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import faulthandler
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from conformance import _procs
from conformance._rpc import (
    READ_SIZE,
    Call,
    Closed,
    Decoder,
    Fatal,
    Message,
    Open,
    Opened,
    Raised,
    Reply,
    RpcProtocolError,
    encode,
)
from conformance.guarded import BackendContractError
from conformance.provenance import provenance_records
from reference.dpif import Dpif

__all__ = ["DUMP_CHUNK", "main"]

# Most flows (or batches) one dump_next returns; each dump_next is one operation under the timeout.
DUMP_CHUNK = 500

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

# The Dpif API a Call may name; anything else must be one of the extras announced in Opened.
_API = frozenset(
    {
        "flow_put",
        "flow_get",
        "flow_del",
        "flow_dump",
        "flow_dump_batches",
        "dump_next",
        "flow_flush",
        "operate",
        "execute",
        "port_add",
        "port_del",
        "inject",
        "recv_upcalls",
        "features",
    }
)


class _Channel:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.decoder = Decoder()
        self.queue: list[Message] = []

    def recv(self) -> Message | None:
        while not self.queue:
            data = os.read(self.rfd, READ_SIZE)
            if not data:
                return None
            self.queue += self.decoder.feed(data)
        return self.queue.pop(0)

    def send(self, msg: Message) -> None:
        self.write(encode(msg))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view) :]


def _prctl(option: int, arg: int) -> None:
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name, use_errno=True).prctl(option, arg, 0, 0, 0)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    # Unwind: the finally blocks close the backend, then atexit handlers run.
    signal.signal(signum, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def _raised(seq: int, exc: BaseException) -> Raised:
    tb = "".join(traceback.format_exception(exc))[-8000:]
    keep: BaseException | None = exc
    try:
        encode(Raised(seq, "", "", "", exc))
    except RpcProtocolError:
        keep = None  # an exception that cannot be pickled travels as its type name and text
    return Raised(seq, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tb, keep)


def _send_reply(chan: _Channel, seq: int, method: str, value: Any) -> None:
    try:
        data = encode(Reply(seq, value))
    except RpcProtocolError as exc:
        chan.send(_raised(seq, BackendContractError(f"{method} returned a value that cannot be sent: {exc}")))
        return
    chan.write(data)


_OPEN_DUMPS = 16  # dumps a suite may leave unfinished (abandoned iterators); the oldest go first


def _dump_next(dumps: dict[int, Iterator[Any]], dump_id: int, n: int) -> tuple[tuple[Any, ...], bool]:
    """Advance dump ``dump_id`` by up to ``n`` items: ``(items, finished)``."""
    it = dumps.get(dump_id)
    if it is None:
        raise BackendContractError(f"dump {dump_id} is not open (finished, or abandoned for a newer one)")
    items: list[Any] = []
    for item in it:
        items.append(item)
        if len(items) >= n:
            return tuple(items), False
    del dumps[dump_id]
    return tuple(items), True


def _serve(chan: _Channel, dpif: Dpif, extras: frozenset[str]) -> Call | None:
    """Answer calls until ``close`` (returned) or the suite goes away (None)."""
    # A dump is iterated as the suite asks for it (dump_next), so that the backend's
    # iterator advances no further than it would in-process: puts and deletes the
    # suite makes between two flows of a dump reach the backend mid-iteration.
    dumps: dict[int, Iterator[Any]] = {}
    while True:
        msg = chan.recv()
        if msg is None:
            return None
        if not isinstance(msg, Call):
            raise RpcProtocolError(f"expected a Call, got {type(msg).__name__}")
        if msg.method == "close":
            return msg
        try:
            if msg.method not in _API and msg.method not in extras:
                raise BackendContractError(f"{msg.method} is not a dpif operation of this backend")
            if msg.method == "features":
                _send_reply(chan, msg.seq, "features", dpif.features)
            elif msg.method in ("flow_dump", "flow_dump_batches"):
                dumps[msg.seq] = iter(getattr(dpif, msg.method)(*msg.args, **msg.kwargs))
                while len(dumps) > _OPEN_DUMPS:
                    del dumps[next(iter(dumps))]
                # The first item travels with the opening: what the caller's first next() reads.
                _send_reply(chan, msg.seq, "flow_dump", (msg.seq, *_dump_next(dumps, msg.seq, 1)))
            elif msg.method == "dump_next":
                _send_reply(chan, msg.seq, "flow_dump", _dump_next(dumps, *msg.args))
            else:
                fn: Callable[..., Any] = getattr(dpif, msg.method)
                _send_reply(chan, msg.seq, msg.method, fn(*msg.args, **msg.kwargs))
        except (MemoryError, SystemExit, KeyboardInterrupt):
            raise
        except RpcProtocolError as exc:
            chan.send(_raised(msg.seq, BackendContractError(f"{msg.method}: {exc}")))
        except Exception as exc:
            chan.send(_raised(msg.seq, exc))


def _extras(dpif: Dpif) -> frozenset[str]:
    base = set(dir(Dpif))
    return frozenset(
        n for n in dir(type(dpif)) if not n.startswith("_") and n not in base and callable(getattr(type(dpif), n))
    )


def _leftovers() -> list[Any]:
    # Everything still below us once the backend has closed: its daemons, its children's orphans.
    found = _procs.descendants(os.getpid())
    _procs.end_processes(found, reap=True)
    return found


def main(argv: list[str]) -> int:
    """Serve one backend; the exit status is 0 after an orderly close."""
    rfd, wfd = int(argv[0]), int(argv[1])
    faulthandler.enable(file=sys.stderr, all_threads=True)
    # The supervisor sends SIGUSR1 before ending a hung backend: where it hung goes into the report.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the suite decides; a terminal's Ctrl-C is for it
    reserve = bytearray(4 << 20)  # freed on MemoryError so that the Fatal reply can still be built
    chan = _Channel(rfd, wfd)
    seq = 0
    dpif: Dpif | None = None
    try:
        first = chan.recv()
        if not isinstance(first, Open):
            return 3
        sys.path[:] = list(first.sys_path) or sys.path
        if first.memory_limit_mb > 0:
            limit = first.memory_limit_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from conformance.registry import open_backend

        try:
            dpif = open_backend(first.spec, dict(first.options))
        except Exception as exc:
            chan.send(_raised(0, exc))
            return 0
        description = str(getattr(dpif, "description", "") or type(dpif).__doc__ or "").strip().split("\n")[0]
        extras = _extras(dpif)
        provenance: tuple[Any, ...] = ()
        provenance_error = ""
        try:
            provenance = provenance_records(getattr(dpif, "provenance", ()), where=f"{first.spec}: provenance")
        except Exception as exc:  # reported by the suite as it would be in-process
            provenance_error = str(exc)
        chan.send(
            Opened(
                type(dpif).__name__,
                description,
                str(getattr(dpif, "version", "") or ""),
                tuple(extras),
                provenance,
                provenance_error,
            )
        )
        closing = _serve(chan, dpif, extras)
        if closing is None:
            return 0
        seq = closing.seq
        error = ""
        try:
            dpif.close()
        except Exception as exc:
            error = f"close() raised {type(exc).__name__}: {exc}"
        dpif = None
        chan.send(Closed(seq, tuple(_leftovers()), error))
        return 0
    except MemoryError:
        del reserve
        with contextlib.suppress(Exception):
            chan.send(Fatal(seq, "the backend ran out of memory (MemoryError)"))
        return 4
    finally:
        if dpif is not None:
            with contextlib.suppress(BaseException):
                dpif.close()
            with contextlib.suppress(BaseException):
                _leftovers()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
