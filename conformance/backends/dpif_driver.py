"""The line protocol of the dpif driver (``dpifdrv/``), without I/O: requests to bytes, reply lines to records.

The driver (``conformance/backends/dpifdrv/driver.c``, protocol reference in
its README.md) serves OVS's own dpif API over stdin/stdout, one JSON object
per line each way. Keys, masks, actions, packets and UFIDs are hex strings
(UFIDs: the 16 bytes of OVS's ``ovs_u128`` in host memory order, as
``OVS_FLOW_ATTR_UFID`` carries them); every reply has an integer ``error``
(0 or a positive errno) and ``ns``, the time the driver spent on the
request in-process.

:class:`DriverConnection` is the protocol's state machine (h11 style):
:meth:`~DriverConnection.send` turns a :class:`Request` into bytes to write,
:meth:`~DriverConnection.receive_data` takes whatever the driver wrote and
:meth:`~DriverConnection.next_reply` yields complete replies. The
``decode_*`` functions turn a reply into the :mod:`reference.dpif` records.
Anything malformed raises :class:`DriverProtocolError`, naming what and where.
"""

from __future__ import annotations

import enum
import errno as _errno
import json
import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from conformance.errors import ConformanceError
from reference.dpif import (
    DelOp,
    DpifError,
    DpifFlow,
    DpifInvalid,
    DpifNotSupported,
    DpifOp,
    DpifOpResult,
    ExecuteOp,
    FlowStats,
    GetOp,
    PutOp,
    UfidArg,
    Upcall,
    dpif_error,
    ufid_wire,
)
from reference.ufid import Ufid

__all__ = [
    "MAX_OPS",
    "MAX_REPLY_BYTES",
    "DriverConnection",
    "DriverProtocolError",
    "Ready",
    "Reply",
    "Request",
    "State",
    "check",
    "decode_flows",
    "decode_hash",
    "decode_port",
    "decode_ready",
    "decode_results",
    "decode_upcalls",
    "request",
    "request_operate",
]

# driver.c MAX_OPS: ops in one "operate" request (one dpif_operate call).
MAX_OPS = 4096
# A reply longer than this is not a reply but a runaway driver.
MAX_REPLY_BYTES = 256 << 20
_BYTEORDER: Literal["little", "big"] = sys.byteorder


class DriverProtocolError(ConformanceError, ValueError):
    """A reply line that is not what the protocol says, or a request the driver refused as malformed."""

    errno = _errno.EPROTO


class State(enum.Enum):
    """Where the conversation is: the driver's ready line, one request at a time, closed."""

    STARTING = "starting"  # waiting for the driver's ready line
    IDLE = "idle"  # no request outstanding
    WAITING = "waiting"  # one request sent, its reply not yet complete
    CLOSED = "closed"


class _Event(enum.Enum):
    READY = "ready"
    SEND = "send"
    REPLY = "reply"
    CLOSE = "close"


# The whole state machine: (state, event) -> next state; anything else raises.
_TRANSITIONS: dict[tuple[State, _Event], State] = {
    (State.STARTING, _Event.READY): State.IDLE,
    (State.IDLE, _Event.SEND): State.WAITING,
    (State.WAITING, _Event.REPLY): State.IDLE,
    (State.STARTING, _Event.CLOSE): State.CLOSED,
    (State.IDLE, _Event.CLOSE): State.CLOSED,
    (State.WAITING, _Event.CLOSE): State.CLOSED,
}


@dataclass(frozen=True, slots=True)
class Request:
    """One request: its ``op`` and the JSON line that carries it."""

    op: str
    line: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: the request it answers, its members, its errno and the driver's in-process time."""

    op: str
    body: Mapping[str, Any]
    error: int
    ns: int


@dataclass(frozen=True, slots=True)
class Ready:
    """The driver's first line: OVS's version, the datapath's name and the driver's pid."""

    version: str
    dp: str
    pid: int


def _where(op: str) -> str:
    return f"the dpif driver's reply to {op!r}"


def _parse_object(line: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DriverProtocolError(f"{where} is not JSON ({exc}): {line[:200]!r}") from None
    if not isinstance(obj, dict):
        raise DriverProtocolError(f"{where} is not a JSON object: {line[:200]!r}")
    return obj


def _int(obj: Mapping[str, Any], name: str, where: str, *, lo: int = 0, hi: int = (1 << 64) - 1) -> int:
    value = obj.get(name)
    if type(value) is not int or not lo <= value <= hi:
        raise DriverProtocolError(f"{where}: {name!r} is {value!r}, not an integer in {lo}..{hi}")
    return value


def _hex(obj: Mapping[str, Any], name: str, where: str, *, nullable: bool = False) -> bytes | None:
    value = obj.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise DriverProtocolError(f"{where}: {name!r} is {value!r}, not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise DriverProtocolError(f"{where}: {name!r} is not hex: {value[:80]!r}") from None


def _bytes(obj: Mapping[str, Any], name: str, where: str) -> bytes:
    value = _hex(obj, name, where)
    assert value is not None  # not nullable
    return value


def _object(value: object, what: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise DriverProtocolError(f"{where}: {what} is {value!r}, not an object")
    return value


def _list(obj: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise DriverProtocolError(f"{where}: {name!r} is {value!r}, not an array")
    return value


class DriverConnection:
    """The protocol's state machine; does no I/O."""

    def __init__(self) -> None:
        self.state = State.STARTING
        self._buffer = bytearray()
        self._pending: Request | None = None
        self.ready: Ready | None = None

    def _move(self, event: _Event) -> None:
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise DriverProtocolError(f"dpif driver protocol: {event.value} is not allowed while {self.state.value}")
        self.state = nxt

    def send(self, req: Request) -> bytes:
        """The bytes to write for ``req``; only one request may be outstanding."""
        self._move(_Event.SEND)
        self._pending = req
        return req.line

    def receive_data(self, data: bytes) -> None:
        """Bytes the driver wrote (any split); ``b""`` is not end of file here, use :meth:`close`."""
        if self.state is State.CLOSED:
            raise DriverProtocolError("dpif driver protocol: data after close")
        self._buffer += data
        if len(self._buffer) > MAX_REPLY_BYTES and b"\n" not in self._buffer:
            raise DriverProtocolError(f"the dpif driver wrote {len(self._buffer)} bytes without ending a line")

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def next_ready(self) -> Ready | None:
        """The ready line once it is complete (``None``: more data needed)."""
        line = self._line()
        if line is None:
            return None
        self.ready = decode_ready(line)
        self._move(_Event.READY)
        return self.ready

    def next_reply(self) -> Reply | None:
        """The reply to the outstanding request once complete (``None``: more data needed)."""
        if self.state is not State.WAITING or self._pending is None:
            raise DriverProtocolError(f"dpif driver protocol: no request outstanding ({self.state.value})")
        line = self._line()
        if line is None:
            return None
        op = self._pending.op
        where = _where(op)
        obj = _parse_object(line, where)
        error = _int(obj, "error", where, hi=4095)
        ns = _int(obj, "ns", where)
        if self._buffer:
            raise DriverProtocolError(f"{where} is followed by unrequested output: {bytes(self._buffer[:80])!r}")
        self._move(_Event.REPLY)
        self._pending = None
        if error == _errno.EPROTO and isinstance(obj.get("msg"), str):
            raise DriverProtocolError(f"the dpif driver refused the {op!r} request: {obj['msg']}")
        return Reply(op, obj, error, ns)

    def close(self) -> None:
        """No more requests or replies."""
        self._move(_Event.CLOSE)


# --- requests -------------------------------------------------------------------


def _line(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def request(op: str, **members: object) -> Request:
    """A request ``{"op": op, **members}`` (bytes members become hex)."""
    body: dict[str, object] = {"op": op}
    for name, value in members.items():
        body[name] = value.hex() if isinstance(value, (bytes, bytearray)) else value
    return Request(op, _line(body))


def _ufid_hex(ufid: UfidArg | None) -> str | None:
    if ufid is None:
        return None
    raw = ufid_wire(ufid) if not isinstance(ufid, Ufid) else ufid.to_wire(_BYTEORDER)
    if len(raw) != 16:
        # lib/dpif.h: every UFID argument is a const ovs_u128 *.
        raise DpifNotSupported(f"the dpif API takes 16-byte UFIDs only (struct ovs_u128); got {len(raw)} bytes")
    return raw.hex()


def _op_body(op: DpifOp) -> dict[str, object]:
    if isinstance(op, PutOp):
        return {
            "type": "put",
            "key": op.key.hex(),
            "mask": None if op.mask is None else op.mask.hex(),
            "actions": op.actions.hex(),
            "ufid": _ufid_hex(op.ufid),
            "flags": int(op.flags),
        }
    if isinstance(op, GetOp):
        return {"type": "get", "key": None if op.key is None else op.key.hex(), "ufid": _ufid_hex(op.ufid)}
    if isinstance(op, DelOp):
        return {
            "type": "del",
            "key": None if op.key is None else op.key.hex(),
            "ufid": _ufid_hex(op.ufid),
            "terse": op.terse,
        }
    if isinstance(op, ExecuteOp):
        return {"type": "execute", "packet": op.packet.hex(), "actions": op.actions.hex(), "in_port": op.in_port}
    raise DpifInvalid(f"unknown dpif operation {type(op).__name__}")


def request_operate(ops: Sequence[DpifOp]) -> Request:
    """One ``operate`` request: the ops go to OVS in one ``dpif_operate`` call."""
    if len(ops) > MAX_OPS:
        raise DpifInvalid(f"{len(ops)} ops in one request; the driver takes at most {MAX_OPS}")
    return Request("operate", _line({"op": "operate", "ops": [_op_body(op) for op in ops]}))


# --- replies ----------------------------------------------------------------------


def decode_ready(line: bytes) -> Ready:
    """The driver's first line; an error there (e.g. the datapath could not be created) raises DpifError."""
    where = "the dpif driver's ready line"
    obj = _parse_object(line, where)
    if obj.get("ready") is not True:
        code = obj.get("error")
        raise dpif_error(code if type(code) is int and code > 0 else _errno.EIO, f"{where}: {line[:200]!r}")
    version, dp = obj.get("version"), obj.get("dp")
    if not isinstance(version, str) or not isinstance(dp, str):
        raise DriverProtocolError(f"{where} lacks version or dp: {line[:200]!r}")
    return Ready(version, dp, _int(obj, "pid", where, lo=1, hi=(1 << 31) - 1))


def _check(reply: Reply) -> None:
    if reply.error:
        raise dpif_error(reply.error, f"{reply.op}: {reply.body.get('msg') or ''}".rstrip(": "))


def _stats(value: object, where: str) -> FlowStats:
    obj = _object(value, "stats", where)
    return FlowStats(
        n_packets=_int(obj, "n_packets", where),
        n_bytes=_int(obj, "n_bytes", where),
        used_ms=_int(obj, "used", where, lo=0, hi=(1 << 63) - 1),
        tcp_flags=_int(obj, "tcp_flags", where, hi=0xFFFF),
    )


def _flow(value: object, where: str) -> DpifFlow:
    obj = _object(value, "a flow", where)
    raw = _bytes(obj, "ufid", where)
    if len(raw) != 16:
        raise DriverProtocolError(f"{where}: a flow's ufid has {len(raw)} bytes, not 16")
    present = obj.get("ufid_present")
    if not isinstance(present, bool):
        raise DriverProtocolError(f"{where}: ufid_present is {present!r}")
    ufid = Ufid.from_wire(raw, _BYTEORDER) if present else None
    return DpifFlow(
        ufid=ufid,
        ufid_present=present,
        key=_hex(obj, "key", where, nullable=True),
        mask=_hex(obj, "mask", where, nullable=True),
        actions=_hex(obj, "actions", where, nullable=True),
        stats=_stats(obj.get("stats"), where),
        ufid_bytes=raw if present else None,
    )


def decode_results(reply: Reply, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
    """One result per op of an ``operate`` request, in order."""
    _check(reply)
    where = _where(reply.op)
    items = _list(reply.body, "results", where)
    if len(items) != len(ops):
        raise DriverProtocolError(f"{where}: {len(items)} results for {len(ops)} ops")
    out: list[DpifOpResult] = []
    for i, (item, op) in enumerate(zip(items, ops, strict=True)):
        at = f"{where}, result {i}"
        obj = _object(item, "a result", at)
        code = _int(obj, "error", at, hi=4095)
        if code:
            err: DpifError = dpif_error(code, f"{type(op).__name__} failed in dpif_operate")
            out.append(DpifOpResult(op, error=err))
        elif isinstance(op, GetOp):
            flow = _flow(obj.get("flow"), at)
            out.append(DpifOpResult(op, flow=flow, stats=flow.stats))
        elif isinstance(op, (PutOp, DelOp)):
            out.append(DpifOpResult(op, stats=_stats(obj.get("stats"), at)))
        else:
            out.append(DpifOpResult(op))
    return out


def decode_flows(reply: Reply) -> list[DpifFlow]:
    """The flows of a ``dump`` reply."""
    _check(reply)
    where = _where(reply.op)
    flows = [_flow(item, where) for item in _list(reply.body, "flows", where)]
    code = _int(reply.body, "dump_error", where, hi=4095)
    if code:
        raise dpif_error(code, "dpif_flow_dump_destroy reported an error")
    return flows


def decode_upcalls(reply: Reply) -> list[Upcall]:
    """The upcalls of an ``upcalls`` reply (misses and userspace actions, oldest first)."""
    _check(reply)
    where = _where(reply.op)
    out: list[Upcall] = []
    for item in _list(reply.body, "upcalls", where):
        obj = _object(item, "an upcall", where)
        if obj.get("type") not in ("miss", "action"):
            raise DriverProtocolError(f"{where}: upcall type {obj.get('type')!r}")
        raw = _bytes(obj, "ufid", where)
        if len(raw) != 16:
            raise DriverProtocolError(f"{where}: an upcall's ufid has {len(raw)} bytes, not 16")
        out.append(
            Upcall(
                packet=_bytes(obj, "packet", where),
                key=_bytes(obj, "key", where),
                in_port=_int(obj, "in_port", where, hi=0xFFFFFFFF),
                ufid=Ufid.from_wire(raw, _BYTEORDER),
            )
        )
    return out


def decode_port(reply: Reply) -> int:
    """The port number of a ``port_add`` reply."""
    _check(reply)
    return _int(reply.body, "port", _where(reply.op), hi=0xFFFFFFFF)


def decode_hash(reply: Reply) -> bytes:
    """OVS's ``hash_bytes128`` from a ``hash`` reply, as MurmurHash3_x64_128's digest (h1 then h2, little-endian).

    The driver sends the ``ovs_u128`` in memory order; lib/hash.c stores h1
    in ``u64.lo`` and h2 in ``u64.hi``.
    """
    _check(reply)
    where = _where(reply.op)
    value = _bytes(reply.body, "hash", where)
    if len(value) != 16:
        raise DriverProtocolError(f"{where}: hash has {len(value)} bytes, not 16")
    return struct.pack("<QQ", *struct.unpack("=QQ", value))


def check(reply: Reply) -> None:
    """Raise the DpifError of a reply's errno (for requests whose reply has no members)."""
    _check(reply)
