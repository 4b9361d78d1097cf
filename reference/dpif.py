"""The dpif contract: what every datapath backend implements.

This is OVS's datapath interface (``lib/dpif.h``, ``lib/dpif-provider.h``)
reduced to the flow, packet and port operations that UFIDs touch. The
reference datapath (:mod:`reference.datapath`), the kernel and netdev
backends and vendors' own backends all subclass :class:`Dpif`; the
conformance suite only ever talks to this API. docs/dpif-contract.md
describes every method, flag and error for backend authors.

Keys, masks and actions are netlink attribute blobs (``OVS_KEY_ATTR_*`` and
``OVS_ACTION_ATTR_*`` streams), exactly as OVS passes them to a provider.
"""

from __future__ import annotations

import errno as _errno
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass, field
from enum import IntFlag
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, cast, overload

from reference.errors import UfidcertError
from reference.uapi import UfidFlags

if TYPE_CHECKING:
    from reference.ufid import Ufid

__all__ = [
    "PMD_ID_NULL",
    "DelOp",
    "DatapathClock",
    "Dpif",
    "DpifE2Big",
    "DpifEFBig",
    "DpifError",
    "DpifExists",
    "DpifFeatures",
    "DpifFlow",
    "DpifInvalid",
    "DpifNotFound",
    "DpifNotSupported",
    "DpifOp",
    "DpifOpResult",
    "DpifOutOfRange",
    "DpifTooBig",
    "ExecuteOp",
    "FlowStats",
    "GetOp",
    "KeyHasher",
    "PutFlags",
    "PutOp",
    "Semantics",
    "TerseBatch",
    "UfidArg",
    "Upcall",
    "datapath_clock",
    "dpif_error",
    "check_max_flows",
    "flow_count",
    "key_hasher",
    "ufid_wire",
]

# lib/dpif.h: PMD_ID_NULL (= OVS_CORE_UNSPEC = INT_MAX) means "any PMD"; kept
# for backends that model PMD threads. The reference has none.
PMD_ID_NULL = 0x7FFF_FFFF

Semantics: TypeAlias = Literal["kernel", "netdev", "generic"]

# A UFID argument is normally a :class:`reference.ufid.Ufid` (the 16-byte
# ``ovs_u128`` OVS always sends). Raw ``bytes`` are the ``OVS_FLOW_ATTR_UFID``
# payload as given, which lets tests exercise the kernel's 1..16-byte rule
# (0 bytes -> ERANGE, more than 16 -> ignored).
UfidArg: TypeAlias = "Ufid | bytes"


def ufid_wire(ufid: UfidArg) -> bytes:
    """The ``OVS_FLOW_ATTR_UFID`` payload for ``ufid`` (host-order words, as OVS sends them)."""
    if isinstance(ufid, (bytes, bytearray, memoryview)):
        return bytes(ufid)
    to_wire = getattr(ufid, "to_wire", None)
    if to_wire is None:
        raise TypeError(f"ufid must be a reference.ufid.Ufid or bytes, got {type(ufid).__name__}")
    data = to_wire()
    if not isinstance(data, bytes):
        raise TypeError("Ufid.to_wire() did not return bytes")
    return data


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class DpifError(UfidcertError, OSError):
    """A datapath operation failed; ``.errno`` says why, as the provider would return it.

    Catch a subclass to handle one meaning (:class:`DpifNotFound`, ...), or
    this class and inspect ``.errno``. Build one from an errno with
    :func:`dpif_error`.
    """

    default_errno: int = _errno.EIO

    def __init__(self, message: str = "", *, errno: int | None = None) -> None:
        code = self.default_errno if errno is None else errno
        OSError.__init__(self, code, message or os.strerror(code))

    def __str__(self) -> str:
        code = self.errno or 0
        return f"{self.strerror} ({_errno.errorcode.get(code, str(code))})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (self.errno, self.strerror))


class DpifNotFound(DpifError):
    """ENOENT: no flow with that identifier (or a put without CREATE found none)."""

    default_errno = _errno.ENOENT


class DpifExists(DpifError):
    """EEXIST: the flow (or an overlapping one) is already installed and MODIFY was not given."""

    default_errno = _errno.EEXIST


class DpifInvalid(DpifError):
    """EINVAL: malformed key, mask or actions, a missing required argument, an unknown flag."""

    default_errno = _errno.EINVAL


class DpifOutOfRange(DpifError):
    """ERANGE: an attribute of a length the datapath refuses (e.g. a 0-byte UFID)."""

    default_errno = _errno.ERANGE


class DpifNotSupported(DpifError):
    """EOPNOTSUPP: the datapath does not implement this operation or flag combination."""

    default_errno = _errno.EOPNOTSUPP


class DpifTooBig(DpifError):
    """E2BIG or EFBIG: too many flows, masks or actions for the datapath."""

    default_errno = _errno.E2BIG


class DpifE2Big(DpifTooBig):
    """E2BIG: e.g. the flow table is full."""

    default_errno = _errno.E2BIG


class DpifEFBig(DpifTooBig):
    """EFBIG: e.g. a flow whose actions do not fit."""

    default_errno = _errno.EFBIG


# Each errno is stated once, on its class; DpifTooBig is left out because its
# two meanings (E2BIG, EFBIG) have classes of their own.
_BY_ERRNO: dict[int, type[DpifError]] = {
    cls.default_errno: cls
    for cls in (DpifNotFound, DpifExists, DpifInvalid, DpifOutOfRange, DpifNotSupported, DpifE2Big, DpifEFBig)
}


def dpif_error(code: int, message: str = "") -> DpifError:
    """The :class:`DpifError` subclass for a positive errno (``DpifError`` itself for others).

    Backends that receive an errno from a real datapath (a netlink error
    reply, an appctl message) turn it into the matching class with this.
    """
    code = abs(code)
    cls = _BY_ERRNO.get(code, DpifError)
    return cls(message, errno=code)


def _rebuild_error(code: int, message: str) -> DpifError:
    return dpif_error(code, message)


def check_max_flows(max_flows: object) -> int:
    """``max_flows`` of :meth:`Dpif.flow_dump_batches`, checked: an int >= 1, else EINVAL."""
    if isinstance(max_flows, bool) or not isinstance(max_flows, int) or max_flows < 1:
        raise DpifInvalid(f"max_flows must be an int >= 1, got {max_flows!r}")
    return max_flows


def _batched(flows: Iterator[DpifFlow], n: int) -> Iterator[Sequence[DpifFlow]]:
    """Lists of up to ``n`` flows from ``flows``; the dump is closed when the consumer stops early."""
    it = iter(flows)
    try:
        while batch := list(islice(it, n)):
            yield batch
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


class PutFlags(IntFlag):
    """``enum dpif_flow_put_flags`` (lib/dpif.h)."""

    NONE = 0
    CREATE = 1 << 0  # may create a new flow
    MODIFY = 1 << 1  # may modify an existing flow
    ZERO_STATS = 1 << 2  # zero the stats of a modified flow
    PROBE = 1 << 3  # a feature probe: the datapath should not log failures


@dataclass(frozen=True, slots=True)
class FlowStats:
    """``struct dpif_flow_stats``: packets, bytes, last use (ms, 0 = never) and OR of TCP flags."""

    n_packets: int = 0
    n_bytes: int = 0
    used_ms: int = 0
    tcp_flags: int = 0


@dataclass(frozen=True, slots=True)
class DpifFlow:
    """One flow as a datapath reports it (``struct dpif_flow``).

    ``key``, ``mask`` and ``actions`` are ``None`` when the datapath left them
    out (a terse reply). ``ufid_present`` is true only if the datapath itself
    supplied the identifier; a datapath without UFID support (or a flow the
    kernel identifies by its key) reports ``ufid=None, ufid_present=False``
    and the caller derives a UFID from the key, as dpif-netlink does.
    ``ufid_bytes`` is the identifier exactly as stored (1..16 bytes); it
    differs from ``ufid`` only for the non-16-byte UFIDs that the kernel
    accepts but OVS never sends (then ``ufid`` is ``None``).
    """

    ufid: Ufid | None
    ufid_present: bool
    key: bytes | None
    mask: bytes | None
    actions: bytes | None
    stats: FlowStats = field(default_factory=FlowStats)
    ufid_bytes: bytes | None = None


@dataclass(frozen=True, slots=True)
class TerseBatch(Sequence[DpifFlow]):
    """A batch of terse dump records in columns (the array ``dpif_flow_dump_next()`` fills, turned sideways).

    ``ufids`` holds one 16-byte ``OVS_FLOW_ATTR_UFID`` payload per flow, in
    dump order; ``n_packets``, ``n_bytes``, ``used_ms`` and ``tcp_flags`` hold
    the flows' statistics at the same positions. Every flow of the batch has
    its UFID and nothing else: no key, mask or actions. A consumer that needs
    records gets them by indexing or iterating (each a terse :class:`DpifFlow`);
    one that does not reads the columns and builds no object per flow.
    """

    ufids: bytes
    n_packets: Sequence[int]
    n_bytes: Sequence[int]
    used_ms: Sequence[int]
    tcp_flags: Sequence[int]

    def __post_init__(self) -> None:
        n = len(self.n_packets)
        if len(self.ufids) != 16 * n or not len(self.n_bytes) == len(self.used_ms) == len(self.tcp_flags) == n:
            raise DpifInvalid(
                f"terse batch columns disagree: {len(self.ufids)} UFID bytes, {n} packet counts, "
                f"{len(self.n_bytes)}/{len(self.used_ms)}/{len(self.tcp_flags)} byte/used/tcp_flags entries"
            )

    def __len__(self) -> int:
        return len(self.n_packets)

    def ufid_bytes(self, i: int) -> bytes:
        """The ``i``-th flow's UFID payload (16 bytes)."""
        return self.ufids[16 * i : 16 * i + 16]

    def stats(self, i: int) -> FlowStats:
        """The ``i``-th flow's statistics."""
        return FlowStats(self.n_packets[i], self.n_bytes[i], self.used_ms[i], self.tcp_flags[i])

    @overload
    def __getitem__(self, i: int) -> DpifFlow: ...

    @overload
    def __getitem__(self, i: slice) -> list[DpifFlow]: ...

    def __getitem__(self, i: int | slice) -> DpifFlow | list[DpifFlow]:
        from reference.ufid import Ufid

        n = len(self)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if not -n <= i < n:
            raise IndexError("terse batch index out of range")
        i %= n
        raw = self.ufid_bytes(i)
        return DpifFlow(Ufid.from_wire(raw), True, None, None, None, self.stats(i), raw)

    def __iter__(self) -> Iterator[DpifFlow]:
        for i in range(len(self)):
            yield self[i]


@dataclass(frozen=True, slots=True)
class DpifFeatures:
    """What a datapath says it supports.

    ``ufid``: flows can be identified by UFID (what :func:`reference.probe.probe_ufid`
    checks). ``omit_flags``: the ``OVS_UFID_F_*`` bits honoured in terse
    replies. ``max_ufid_len``: longest UFID the datapath stores (16; 0 without
    UFID support). ``semantics``: which model the backend follows: ``"kernel"``
    (Linux datapath), ``"netdev"`` (dpif-netdev) or ``"generic"`` (only the
    common part of lib/dpif.h). ``packet_io``: ``port_add``, ``inject``,
    ``recv_upcalls`` and ``execute`` are available. ``ufidless_put``: a
    ``flow_put`` without a UFID reaches the datapath without one (False when
    the backend's access path always supplies a UFID, as ``ovs-appctl
    dpctl/add-flow`` does; the suite then sends no UFID-less put where the
    difference matters). ``terse_get``: ``flow_get`` honours ``terse`` (the
    kernel's ``OVS_FLOW_CMD_GET`` takes the OMIT flags; lib/dpif.h ``struct
    dpif_flow_get`` has no terse flag, so a provider reached through OVS's
    dpif API cannot).
    """

    ufid: bool
    omit_flags: UfidFlags
    max_ufid_len: int
    semantics: Semantics
    packet_io: bool = True
    ufidless_put: bool = True
    terse_get: bool = True


@dataclass(frozen=True, slots=True)
class Upcall:
    """A packet the datapath could not match (``OVS_PACKET_CMD_MISS``).

    ``key`` is the flow key the datapath extracted; ``ufid`` is set only if
    the datapath computed one (dpif-netdev does, the kernel does not).
    """

    packet: bytes
    key: bytes
    in_port: int
    ufid: Ufid | None = None


@dataclass(frozen=True, slots=True)
class PutOp:
    """``DPIF_OP_FLOW_PUT``; see :meth:`Dpif.flow_put`."""

    key: bytes
    mask: bytes | None
    actions: bytes
    ufid: UfidArg | None = None
    flags: PutFlags = PutFlags.CREATE


@dataclass(frozen=True, slots=True)
class DelOp:
    """``DPIF_OP_FLOW_DEL``; see :meth:`Dpif.flow_del`."""

    ufid: UfidArg | None = None
    key: bytes | None = None
    terse: bool = False


@dataclass(frozen=True, slots=True)
class GetOp:
    """``DPIF_OP_FLOW_GET``; see :meth:`Dpif.flow_get`."""

    ufid: UfidArg | None = None
    key: bytes | None = None
    terse: bool = False


@dataclass(frozen=True, slots=True)
class ExecuteOp:
    """``DPIF_OP_EXECUTE``; see :meth:`Dpif.execute`."""

    packet: bytes
    actions: bytes
    in_port: int


DpifOp: TypeAlias = "PutOp | DelOp | GetOp | ExecuteOp"


@dataclass(frozen=True, slots=True)
class DpifOpResult:
    """The outcome of one operation of :meth:`Dpif.operate`.

    ``error`` is ``None`` on success. ``stats`` is set for puts (stats before
    the update) and deletes (final stats); ``flow`` for gets.
    """

    op: DpifOp
    error: DpifError | None = None
    stats: FlowStats | None = None
    flow: DpifFlow | None = None

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.error is None


# ---------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------


class Dpif(ABC):
    """A datapath, as OVS's dpif layer sees it. Subclass it to write a backend.

    Flow methods raise a :class:`DpifError` subclass on failure and leave
    the flow table unchanged. Use the instance as a context manager, or call
    :meth:`close` when done. docs/dpif-contract.md has the full contract.
    """

    # --- flows ------------------------------------------------------------

    @abstractmethod
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        """Install or modify a flow; return its stats before the update (zero for a new flow).

        ``mask`` ``None`` means an exact match on every key attribute. With
        CREATE an absent flow is added (EEXIST if present and no MODIFY);
        with MODIFY a present flow gets the new actions (ENOENT if absent and
        no CREATE); ZERO_STATS also zeroes its stats; PROBE silences logging.
        """

    @abstractmethod
    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        """The flow with this UFID (or, without one, this key); ENOENT if absent.

        When both are given the key is ignored for the lookup. ``terse``
        asks the datapath to leave key, mask and actions out of the reply.
        """

    @abstractmethod
    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        """Delete one flow and return its final stats; ENOENT if absent."""

    @abstractmethod
    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        """Every installed flow once; terse dumps may leave key, mask and actions out."""

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        """The dump of :meth:`flow_dump` in batches of 1 to ``max_flows`` flows (``dpif_flow_dump_next``).

        Together the batches hold the same flows and statistics as
        ``flow_dump(terse=terse)``. A batch is a sequence of :class:`DpifFlow`;
        a backend may return a :class:`TerseBatch` for terse flows, whose
        columns a consumer can read without building records. The default
        cuts ``flow_dump`` into lists. ``max_flows`` below 1 is EINVAL.
        """
        return _batched(self.flow_dump(terse=terse), check_max_flows(max_flows))

    @abstractmethod
    def flow_flush(self) -> None:
        """Delete every flow."""

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        """Run a batch in order; each op gets its own result or error (``dpif_operate``).

        The default runs the ops one by one; backends with a real batch
        path (e.g. one netlink transaction) override it.
        """
        results: list[DpifOpResult] = []
        for op in ops:
            try:
                if isinstance(op, PutOp):
                    stats = self.flow_put(op.key, op.mask, op.actions, ufid=op.ufid, flags=op.flags)
                    results.append(DpifOpResult(op, stats=stats))
                elif isinstance(op, DelOp):
                    stats = self.flow_del(ufid=op.ufid, key=op.key, terse=op.terse)
                    results.append(DpifOpResult(op, stats=stats))
                elif isinstance(op, GetOp):
                    flow = self.flow_get(ufid=op.ufid, key=op.key, terse=op.terse)
                    results.append(DpifOpResult(op, flow=flow, stats=flow.stats))
                elif isinstance(op, ExecuteOp):
                    self.execute(op.packet, op.actions, in_port=op.in_port)
                    results.append(DpifOpResult(op))
                else:
                    raise DpifInvalid(f"unknown dpif operation {type(op).__name__}")
            except DpifError as exc:
                results.append(DpifOpResult(op, error=exc))
        return results

    # --- packets and ports ------------------------------------------------

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        """Apply ``actions`` to ``packet`` as if it had arrived on ``in_port``."""
        raise DpifNotSupported(f"{type(self).__name__} does not execute packets")

    def port_add(self, name: str) -> int:
        """Add a port; return its datapath port number."""
        raise DpifNotSupported(f"{type(self).__name__} does not add ports")

    def port_del(self, port: int) -> None:
        """Remove a port; ENOENT if there is none with that number."""
        raise DpifNotSupported(f"{type(self).__name__} does not delete ports")

    def inject(self, port: int, packet: bytes) -> None:
        """A frame arrives on ``port``: extract its key, look it up, credit stats or queue an upcall."""
        raise DpifNotSupported(f"{type(self).__name__} cannot inject packets")

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        """Up to ``max`` queued upcalls, oldest first (empty list if none)."""
        raise DpifNotSupported(f"{type(self).__name__} does not deliver upcalls")

    # --- the datapath itself ----------------------------------------------

    @property
    @abstractmethod
    def features(self) -> DpifFeatures:
        """What this datapath supports; see :class:`DpifFeatures`."""

    def close(self) -> None:  # noqa: B027 - a no-op default is the right thing for in-process backends
        """Release the datapath's resources. Further calls are undefined."""

    def __enter__(self) -> Dpif:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------
# Optional extras
# ---------------------------------------------------------------------------
#
# A backend may offer more than the dpif API: these are found by presence, not
# declared on Dpif, because the wrappers between the suite and a backend (the
# timeout guard, the supervised process, a mutant) forward exactly the extras
# the backend has. A default on Dpif would make every backend appear to have
# them. Ask for one with the accessor below; it is None when the backend has
# none (docs/backend-guide.md).


class KeyHasher(Protocol):
    """The backend's own ``hash_bytes128(data, basis)`` (OVS lib/hash.c), checked by UFID-HASH-001."""

    def hash_bytes128(self, data: bytes, basis: int) -> bytes: ...


class DatapathClock(Protocol):
    """The clock the backend's ``used`` values are on, in milliseconds (``clock_ms()``)."""

    def clock_ms(self) -> int: ...


def key_hasher(dpif: object) -> KeyHasher | None:
    """``dpif`` as a :class:`KeyHasher` when it has a callable ``hash_bytes128``, else None."""
    return cast("KeyHasher", dpif) if callable(getattr(dpif, "hash_bytes128", None)) else None


def datapath_clock(dpif: object) -> DatapathClock | None:
    """``dpif`` as a :class:`DatapathClock` when it has a callable ``clock_ms``, else None."""
    return cast("DatapathClock", dpif) if callable(getattr(dpif, "clock_ms", None)) else None


def flow_count(dpif: object) -> int | None:
    """The number of flows in the backend's table (OVS ``dpif_get_dp_stats().n_flows``), or None.

    A backend that can count its flows is :class:`~collections.abc.Sized`:
    ``len(dpif)`` is the count.
    """
    return len(dpif) if isinstance(dpif, Sized) else None
