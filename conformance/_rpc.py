"""The wire protocol between the suite and a supervised backend process (sans-I/O).

The suite (:mod:`conformance.supervisor`) and the backend host
(:mod:`conformance._backend_host`) exchange the messages below over a pair
of pipes. This module only turns messages into bytes and bytes into
messages: no file descriptors, no processes, no clocks. A frame is a 4-byte
big-endian length followed by a pickled message; pickle carries the dpif
records (:class:`~reference.dpif.DpifFlow`, :class:`~reference.ufid.Ufid`,
:class:`~reference.dpif.DpifError`) unchanged. Both ends are ufidcert
itself, started by the same user, so pickle's trust model holds.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import pickle
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from conformance.errors import ConformanceError

__all__ = [
    "MAX_FRAME",
    "READ_SIZE",
    "Call",
    "Closed",
    "Decoder",
    "Fatal",
    "Message",
    "Open",
    "Opened",
    "ProcessInfo",
    "Raised",
    "Reply",
    "RpcProtocolError",
    "Undecodable",
    "encode",
]

# A dump of 10,000 flows is about 2 MB pickled; anything far beyond this is garbage on the pipe.
MAX_FRAME = 256 * 1024 * 1024
_HEADER = struct.Struct(">I")
# Bytes asked of one read(): a pipe's default capacity. Asking for more makes every read
# allocate (and the allocator mmap and unmap) a large buffer, which costs more than the call.
READ_SIZE = 64 * 1024


class RpcProtocolError(ConformanceError, ValueError):
    """Bytes on the backend pipe that are not a frame of this protocol, or a value that cannot be sent."""


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A process found running in the backend's session after it closed."""

    pid: int
    cmdline: str


@dataclass(frozen=True, slots=True)
class Open:
    """Suite -> host: import the factory ``spec`` and call it with ``options``."""

    spec: str
    options: Mapping[str, str]
    sys_path: tuple[str, ...] = ()
    memory_limit_mb: int = 0


@dataclass(frozen=True, slots=True)
class Opened:
    """Host -> suite: the factory returned a :class:`~reference.dpif.Dpif`."""

    type_name: str
    description: str
    version: str
    extras: tuple[str, ...] = ()  # optional callables the backend offers (e.g. hash_bytes128)
    provenance: tuple[Any, ...] = ()  # conformance.provenance records: what ran (read once opened)
    provenance_error: str = ""  # why the backend's provenance attribute could not be read


@dataclass(frozen=True, slots=True)
class Call:
    """Suite -> host: call ``method`` (``"close"`` ends the session, ``"features"`` reads the property)."""

    seq: int
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """Host -> suite: the call ``seq`` returned ``value``."""

    seq: int
    value: Any = None


@dataclass(frozen=True, slots=True)
class Raised:
    """Host -> suite: the call ``seq`` raised; ``exc`` is the exception when it could be pickled."""

    seq: int
    type_name: str
    message: str
    traceback: str
    exc: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Fatal:
    """Host -> suite: the host cannot go on (e.g. out of memory); it exits after sending this."""

    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class Closed:
    """Host -> suite: ``close()`` returned; ``leftovers`` were still running and have been ended."""

    seq: int
    leftovers: tuple[ProcessInfo, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Made by :class:`Decoder` (never sent): a whole frame whose payload could not be unpickled."""

    size: int
    error: str


Message: TypeAlias = "Open | Opened | Call | Reply | Raised | Fatal | Closed | Undecodable"
_MESSAGES = (Open, Opened, Call, Reply, Raised, Fatal, Closed)


def _by_fields(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    names = tuple(f.name for f in dataclasses.fields(cls))

    def reduce(obj: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, tuple(getattr(obj, n) for n in names)

    return reduce


def _dispatch_table() -> dict[type, Any]:
    # Slotted frozen dataclasses pickle through dataclasses' Python-level __getstate__ and
    # __setstate__; rebuilding them from their fields' values costs a third less, and a dump
    # is thousands of them. This table is this module's pickler's own (copyreg stays as is).
    from reference.dpif import DelOp, DpifFeatures, DpifFlow, DpifOpResult, ExecuteOp, FlowStats, GetOp, PutOp, Upcall
    from reference.ufid import Ufid

    table: dict[type, Any] = dict(copyreg.dispatch_table)
    for cls in (DpifFlow, FlowStats, DpifFeatures, DpifOpResult, PutOp, DelOp, GetOp, ExecuteOp, Upcall, Ufid):
        table[cls] = _by_fields(cls)
    return table


_TABLE: dict[type, Any] = {}


def encode(msg: Message) -> bytes:
    """One frame for ``msg``; :class:`RpcProtocolError` naming the value that cannot be sent."""
    if not isinstance(msg, _MESSAGES):
        raise RpcProtocolError(f"not a protocol message: {type(msg).__name__}")
    if not _TABLE:
        _TABLE.update(_dispatch_table())
    try:
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _TABLE
        pickler.dump(msg)
        payload = buf.getvalue()
    except Exception as exc:  # pickle raises PicklingError, TypeError, AttributeError, RecursionError...
        raise RpcProtocolError(f"{type(msg).__name__} cannot be sent: {type(exc).__name__}: {exc}") from None
    if len(payload) > MAX_FRAME:
        raise RpcProtocolError(f"{type(msg).__name__} is {len(payload)} bytes, more than the {MAX_FRAME} allowed")
    return _HEADER.pack(len(payload)) + payload


class Decoder:
    """Feed bytes as they arrive; get whole messages back.

    A payload that cannot be unpickled comes back as :class:`Undecodable`; a
    frame that breaks the framing (oversized, not a message) raises and
    poisons the decoder, since nothing after it can be trusted.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._error: RpcProtocolError | None = None

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by ``data`` (possibly none)."""
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buf)
            if size > MAX_FRAME:
                self._error = RpcProtocolError(f"frame of {size} bytes announced, more than the {MAX_FRAME} allowed")
                raise self._error
            if len(self._buf) < _HEADER.size + size:
                break
            payload = bytes(self._buf[_HEADER.size : _HEADER.size + size])
            del self._buf[: _HEADER.size + size]
            try:
                msg = pickle.loads(payload)  # both ends are ufidcert (module docstring)
            except Exception as exc:
                # The framing is intact, so the stream goes on; the caller decides what the frame meant.
                out.append(Undecodable(size, f"{type(exc).__name__}: {exc}"))
                continue
            if not isinstance(msg, _MESSAGES):
                self._error = RpcProtocolError(f"frame holds a {type(msg).__name__}, not a protocol message")
                raise self._error
            out.append(msg)
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buf)
