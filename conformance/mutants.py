"""The mutant catalogue: realistic one-defect datapaths that measure the suite (``ufidcert selftest``).

A mutant wraps any :class:`~reference.dpif.Dpif` and corrupts exactly one
thing a real provider can get wrong: one field, flag or rule of one
``Dpif`` method in one kind of reply. ``ufidcert selftest`` certifies every
mutant, on every base configuration it applies to (the reference in kernel
and netdev semantics and in legacy mode), and counts it killed when the
verdict is FAIL (a MUST requirement failed). Each entry says what
ovs-vswitchd relies on that the defect breaks, with the upstream code, so
that a surviving mutant is a gap in the suite and never a matter of taste.

The catalogue is built per method and per field: identity (UFID bytes,
word and byte order per reply kind, lengths, partial comparisons),
statistics (counts, bytes, units and clock of ``used``, freshness per reply
kind, MODIFY/ZERO_STATS, tcp_flags), dumps (completeness, batch
boundaries, changes during a dump, terse vs full), terse flags one by one,
batches, flush, masks, upcalls, the probe, legacy behaviour and execute.
:data:`NOT_MUTANTS` lists the defects deliberately left out, with the
reason, and :data:`LEVELS` the review of every requirement's level.

Certify one by hand: ``ufidcert certify --backend python:conformance.mutants:mutant
--option mutant=NAME [--option base=reference-legacy] [--option semantics=netdev]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno as _errno
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from conformance.errors import UsageError
from reference._netlink import iter_attrs, pack_attrs
from reference.dpif import (
    Dpif,
    DpifError,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    FlowStats,
    PutFlags,
    UfidArg,
    Upcall,
    check_max_flows,
    ufid_wire,
)
from reference.odp.match import Match
from reference.uapi import KeyAttr, UfidFlags
from reference.ufid import Ufid

__all__ = ["BASES", "CATALOGUE", "LEVELS", "NOT_MUTANTS", "Base", "Mutant", "MutantDpif", "by_name", "mutant"]

Kind: TypeAlias = Literal["put", "get", "get-terse", "dump", "dump-terse", "del", "del-terse"]
_ALL_KINDS: tuple[Kind, ...] = ("put", "get", "get-terse", "dump", "dump-terse", "del", "del-terse")


@dataclass(frozen=True, slots=True)
class Base:
    """A configuration mutants run on: a backend name and its options."""

    name: str  # short label used in the kill matrix
    backend: str
    options: tuple[tuple[str, str], ...] = ()


BASES: dict[str, Base] = {
    "kernel": Base("kernel", "reference"),
    "netdev": Base("netdev", "reference", (("semantics", "netdev"),)),
    "legacy": Base("legacy", "reference-legacy"),
}
_KN = ("kernel", "netdev")
_KNL = ("kernel", "netdev", "legacy")
_K = ("kernel",)
_KL = ("kernel", "legacy")


# ---------------------------------------------------------------------------
# The wrapper every mutant builds on
# ---------------------------------------------------------------------------


def _ident(flow: DpifFlow) -> bytes:
    """What identifies a reply's flow: its UFID bytes when it has one, else its key."""
    if flow.ufid_present:
        if flow.ufid_bytes:
            return flow.ufid_bytes
        if flow.ufid is not None:
            return flow.ufid.to_wire()
    return b"k" + (flow.key or b"")


class MutantDpif(Dpif):
    """Delegates everything to ``inner``; subclasses override one hook or method (the defect).

    ``stats_of`` sees the statistics of every reply by kind (put, get, terse
    get, full and terse dump, del, terse del) and the flow's identity;
    ``flow_of`` every returned flow. Batches use :meth:`Dpif.operate`'s
    default, so a defect in a method shows in batches too.
    """

    # Set when a mutant needs the identity of the flow a del removes (one extra get first).
    needs_del_ident = False

    def __init__(self, inner: Dpif) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        # Optional extras (hash_bytes128, clock_ms, take_output, ...) pass through.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # --- hooks ---------------------------------------------------------------

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        return stats

    def flow_of(self, kind: Kind, flow: DpifFlow) -> DpifFlow:
        s = self.stats_of(kind, flow.stats, _ident(flow))
        return flow if s is flow.stats else dataclasses.replace(flow, stats=s)

    def dump_source(self, terse: bool) -> Iterator[DpifFlow]:
        return self.inner.flow_dump(terse=terse)

    def forget(self, ident: bytes | None) -> None:
        """A flow left the table (``None``: all of them)."""

    # --- Dpif ----------------------------------------------------------------

    @property
    def features(self) -> DpifFeatures:
        return self.inner.features

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self.stats_of("put", self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags), b"")

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self.flow_of("get-terse" if terse else "get", self.inner.flow_get(ufid=ufid, key=key, terse=terse))

    def _del_ident(self, ufid: UfidArg | None, key: bytes | None) -> bytes:
        if not self.needs_del_ident or (ufid is None and key is None):
            return b""
        try:
            return _ident(self.inner.flow_get(ufid=ufid, key=key))
        except DpifError:
            return b""

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        ident = self._del_ident(ufid, key)
        stats = self.inner.flow_del(ufid=ufid, key=key, terse=terse)
        out = self.stats_of("del-terse" if terse else "del", stats, ident)
        self.forget(ident if ident else None if ufid is None and key is None else b"")
        return out

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        kind: Kind = "dump-terse" if terse else "dump"
        for f in self.dump_source(terse):
            yield self.flow_of(kind, f)

    def flow_flush(self) -> None:
        self.inner.flow_flush()
        self.forget(None)

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self.inner.execute(packet, actions, in_port=in_port)

    def port_add(self, name: str) -> int:
        return self.inner.port_add(name)

    def port_del(self, port: int) -> None:
        self.inner.port_del(port)

    def inject(self, port: int, packet: bytes) -> None:
        self.inner.inject(port, packet)

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        return self.inner.recv_upcalls(max)

    def close(self) -> None:
        self.inner.close()


# ---------------------------------------------------------------------------
# Defect building blocks (each mutant below is one of these with one parameter)
# ---------------------------------------------------------------------------


def _swap_words(u: Ufid) -> Ufid:
    w = u.words
    return Ufid.from_words((w[1], w[0], w[3], w[2]))


def _byteswap_words(u: Ufid) -> Ufid:
    return Ufid.from_wire(u.to_wire("little"), "big")


def _swap_halves(u: Ufid) -> Ufid:
    w = u.words
    return Ufid.from_words((w[2], w[3], w[0], w[1]))


class _UfidInReplies(MutantDpif):
    """The UFID of replies of some kinds goes through ``change``."""

    kinds: frozenset[Kind] = frozenset()
    change: Callable[[Ufid], Ufid] = staticmethod(_swap_words)

    def flow_of(self, kind: Kind, flow: DpifFlow) -> DpifFlow:
        if kind in self.kinds and flow.ufid is not None:
            u = self.change(flow.ufid)
            return dataclasses.replace(flow, ufid=u, ufid_bytes=u.to_wire())
        return flow


class _UfidNotPresent(MutantDpif):
    kinds: frozenset[Kind] = frozenset()

    def flow_of(self, kind: Kind, flow: DpifFlow) -> DpifFlow:
        if kind in self.kinds:
            return dataclasses.replace(flow, ufid=None, ufid_present=False, ufid_bytes=None)
        return flow


class _PutDropsUfid(MutantDpif):
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self.inner.flow_put(key, mask, actions, ufid=None, flags=flags)


class _PartialUfidLookup(MutantDpif):
    """get/del by UFID compare only the bytes in ``part``: a near UFID finds an installed flow."""

    part = slice(0, 8)

    def _resolve(self, ufid: UfidArg | None) -> UfidArg | None:
        if ufid is None:
            return None
        want = ufid_wire(ufid)
        if len(want) != 16:
            return ufid
        for f in self.inner.flow_dump(terse=False):
            have = f.ufid_bytes or (f.ufid.to_wire() if f.ufid is not None else b"")
            if f.ufid_present and len(have) == 16 and have[self.part] == want[self.part]:
                return f.ufid if f.ufid is not None else have
        return ufid

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self.inner.flow_get(ufid=self._resolve(ufid), key=key, terse=terse)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self.inner.flow_del(ufid=self._resolve(ufid), key=key, terse=terse)


def _map_ufid_arg(ufid: UfidArg | None, change: Callable[[bytes], bytes | None]) -> UfidArg | None:
    if ufid is None or not isinstance(ufid, (bytes, bytearray, memoryview)):
        return ufid
    return change(bytes(ufid))


class _UfidArgBytes(MutantDpif):
    """Raw-bytes UFID arguments (the ``OVS_FLOW_ATTR_UFID`` payload) go through ``change`` on every call."""

    @staticmethod
    def change(raw: bytes) -> bytes | None:
        return raw

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self.inner.flow_put(key, mask, actions, ufid=_map_ufid_arg(ufid, self.change), flags=flags)

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self.inner.flow_get(ufid=_map_ufid_arg(ufid, self.change), key=key, terse=terse)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self.inner.flow_del(ufid=_map_ufid_arg(ufid, self.change), key=key, terse=terse)


class _WireByteOrder(_UfidArgBytes):
    # The 16-byte wire form read as network-order words (ovs_u128 is host order).
    @staticmethod
    def change(raw: bytes) -> bytes | None:
        if len(raw) != 16:
            return raw
        return b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))


class _ShortUfidPadded(_UfidArgBytes):
    @staticmethod
    def change(raw: bytes) -> bytes | None:
        return raw.ljust(16, b"\0") if 0 < len(raw) < 16 else raw


class _LongUfidTruncated(_UfidArgBytes):
    @staticmethod
    def change(raw: bytes) -> bytes | None:
        return raw[:16]


class _ZeroLengthUfidIgnored(_UfidArgBytes):
    @staticmethod
    def change(raw: bytes) -> bytes | None:
        return None if raw == b"" else raw


class _LongUfidRejected(_UfidArgBytes):
    @staticmethod
    def change(raw: bytes) -> bytes | None:
        if len(raw) > 16:
            raise DpifInvalid("UFID longer than 16 bytes")
        return raw


class _DuplicateUfid(MutantDpif):
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        try:
            return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        except DpifError as exc:
            if exc.errno != _errno.EEXIST or ufid is None or PutFlags.MODIFY in flags:
                raise
            # Only the UFID collides: the second flow goes in under its key.
            return self.inner.flow_put(key, mask, actions, ufid=None, flags=flags)


class _KeyWinsLookup(MutantDpif):
    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        return self.inner.flow_get(ufid=None if key is not None else ufid, key=key, terse=terse)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        return self.inner.flow_del(ufid=None if key is not None else ufid, key=key, terse=terse)


class _KeyFindsUfidFlows(MutantDpif):
    """A key-only lookup also finds flows installed with a UFID (kernel keeps them apart)."""

    def _by_key(self, key: bytes | None) -> DpifFlow | None:
        if key is None:
            return None
        for f in self.inner.flow_dump():
            if f.ufid_present and f.key is not None and Match.from_netlink(f.key, f.mask).matches(key):
                return f
        return None

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        try:
            return self.inner.flow_get(ufid=ufid, key=key, terse=terse)
        except DpifNotFound:
            f = self._by_key(key) if ufid is None else None
            if f is None:
                raise
            return self.inner.flow_get(ufid=f.ufid_bytes, terse=terse)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        try:
            return self.inner.flow_del(ufid=ufid, key=key, terse=terse)
        except DpifNotFound:
            f = self._by_key(key) if ufid is None else None
            if f is None:
                raise
            return self.inner.flow_del(ufid=f.ufid_bytes, terse=terse)


class _AbsentIsEinval(MutantDpif):
    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        try:
            return self.inner.flow_get(ufid=ufid, key=key, terse=terse)
        except DpifNotFound:
            raise DpifInvalid("no such flow") from None


class _DelAbsentSucceeds(MutantDpif):
    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        try:
            return self.inner.flow_del(ufid=ufid, key=key, terse=terse)
        except DpifNotFound:
            return FlowStats()


class _DelLeavesFlow(MutantDpif):
    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        if ufid is None and key is None:
            return self.inner.flow_del()
        return self.inner.flow_get(ufid=ufid, key=key, terse=terse).stats


class _DelNoIdentifierInvalid(MutantDpif):
    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        if ufid is None and key is None:
            raise DpifInvalid("del needs a UFID or a key")
        return self.inner.flow_del(ufid=ufid, key=key, terse=terse)


class _PutFlagsMutant(MutantDpif):
    """One put rule broken; ``put`` receives the original arguments."""

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return self.put(key, mask, actions, ufid, PutFlags(flags))

    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _CreateModifies(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if PutFlags.CREATE in flags:
            flags |= PutFlags.MODIFY
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ModifyCreates(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if PutFlags.MODIFY in flags:
            flags |= PutFlags.CREATE
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ModifyZeroes(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if PutFlags.MODIFY in flags and self.inner.features.semantics != "netdev":
            flags |= PutFlags.ZERO_STATS
        elif PutFlags.MODIFY in flags:
            old = self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
            # dpif-netdev refuses ZERO_STATS: the defect there is a delete and re-create.
            self.inner.flow_del(ufid=ufid, key=key)
            self.inner.flow_put(key, mask, actions, ufid=ufid, flags=PutFlags.CREATE)
            return old
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ModifyReturnsZero(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        return FlowStats()


class _ModifyKeepsActions(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if PutFlags.MODIFY in flags:
            try:
                old = self.inner.flow_get(ufid=ufid, key=key)
            except DpifNotFound:
                old = None
            if old is not None and old.actions is not None:
                actions = old.actions
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ZeroStatsIgnored(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags & ~PutFlags.ZERO_STATS)


class _ZeroStatsReturnsAfter(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        old = self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        return FlowStats() if PutFlags.ZERO_STATS in flags else old


class _ProbeFlagRejected(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if PutFlags.PROBE in flags:
            raise DpifInvalid("unknown put flag")
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ProbeFlowsUndeletable(MutantDpif):
    """Flows put with PROBE are kept in a side table del does not search."""

    def __init__(self, inner: Dpif) -> None:
        super().__init__(inner)
        self.probed: set[bytes] = set()

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        out = self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        if PutFlags.PROBE in flags:
            self.probed.add(key)
        return out

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        if key is not None and key in self.probed:
            return self.inner.flow_get(ufid=ufid, key=key).stats
        return self.inner.flow_del(ufid=ufid, key=key, terse=terse)

    def flow_flush(self) -> None:
        self.inner.flow_flush()
        self.probed.clear()


# --- statistics -------------------------------------------------------------


class _StatsMap(MutantDpif):
    """The statistics of replies of some kinds go through ``change``."""

    kinds: frozenset[Kind] = frozenset(_ALL_KINDS)

    @staticmethod
    def change(s: FlowStats) -> FlowStats:
        return s

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        return self.change(stats) if kind in self.kinds else stats


def _used(fn: Callable[[int], int]) -> Callable[[FlowStats], FlowStats]:
    def change(s: FlowStats) -> FlowStats:
        return dataclasses.replace(s, used_ms=fn(s.used_ms)) if s.used_ms else s

    return change


def _on_wall_clock(used_ms: int) -> int:
    # The same instant on CLOCK_REALTIME instead of CLOCK_MONOTONIC.
    return used_ms + time.time_ns() // 1_000_000 - time.monotonic_ns() // 1_000_000


_V = TypeVar("_V")


class _PerFlowMemo(MutantDpif, Generic[_V]):
    """A mutant that remembers one value per flow, forgotten when the flow leaves the table."""

    needs_del_ident = True

    def __init__(self, inner: Dpif) -> None:
        super().__init__(inner)
        self.memo: dict[bytes, _V] = {}

    def forget(self, ident: bytes | None) -> None:
        if ident is None:
            self.memo.clear()
        else:
            self.memo.pop(ident, None)


class _StaleCache(_PerFlowMemo[FlowStats]):
    """Replies of ``stale`` kind serve a per-flow snapshot refreshed only by the other reply kinds."""

    stale: Kind = "get"

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        if not ident:
            return stats
        if kind == self.stale:
            return self.memo.setdefault(ident, stats)
        self.memo[ident] = stats
        return stats


class _FirstUsedOnly(_PerFlowMemo[int]):
    """``used`` is the time of the first packet: later packets do not refresh it."""

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        if not ident or not stats.used_ms:
            return stats
        return dataclasses.replace(stats, used_ms=self.memo.setdefault(ident, stats.used_ms))


class _ReadAndClear(_PerFlowMemo[tuple[int, int]]):
    """Counters are read-and-clear (as some offload hardware): each reply reports traffic since the last one."""

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        if not ident:
            return stats
        p, b = self.memo.get(ident, (0, 0))
        self.memo[ident] = (stats.n_packets, stats.n_bytes)
        return dataclasses.replace(stats, n_packets=stats.n_packets - p, n_bytes=stats.n_bytes - b)


class _UsedAtInstall(_PerFlowMemo[int]):
    """``used`` is set when the flow is installed, not when a packet first matches."""

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        out = self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        try:
            ident = _ident(self.inner.flow_get(ufid=ufid, key=key))
        except DpifError:
            return out
        self.memo.setdefault(ident, time.monotonic_ns() // 1_000_000)
        return out

    def stats_of(self, kind: Kind, stats: FlowStats, ident: bytes) -> FlowStats:
        if stats.used_ms or ident not in self.memo:
            return stats
        return dataclasses.replace(stats, used_ms=self.memo[ident])


# --- dumps ------------------------------------------------------------------


class _DumpFilter(MutantDpif):
    """A dump of ``terse_only``/``full_only`` kind yields ``pick(index, flows)``."""

    which: Literal["full", "terse", "both"] = "both"

    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        return flows

    def dump_source(self, terse: bool) -> Iterator[DpifFlow]:
        flows = list(self.inner.flow_dump(terse=terse))
        if self.which == "both" or (self.which == "terse") == terse:
            flows = self.pick(flows)
        return iter(flows)


class _DumpSkipsLast(_DumpFilter):
    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        return flows[:-1]


class _DumpDropsBatchHead(_DumpFilter):
    # The first flow of every reply batch after the first is lost (a resume cursor one too far).
    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        return [f for i, f in enumerate(flows) if i == 0 or i % 1000]


class _DumpStopsAfterBatch(_DumpFilter):
    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        return flows[:1000]


class _DumpFullOmits(_DumpFilter):
    which = "full"
    field = "actions"

    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        gone: dict[str, Any] = {self.field: None}
        return [dataclasses.replace(f, **gone) for f in flows]


class _DumpAbortsOnChange(MutantDpif):
    """A dump ends as soon as the table changes under it (an invalidated iterator treated as the end)."""

    def __init__(self, inner: Dpif) -> None:
        super().__init__(inner)
        self.generation = 0

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        self.generation += 1
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        self.generation += 1
        return self.inner.flow_del(ufid=ufid, key=key, terse=terse)

    def dump_source(self, terse: bool) -> Iterator[DpifFlow]:
        start = self.generation
        for f in list(self.inner.flow_dump(terse=terse)):
            if self.generation != start:
                return
            yield f


class _DumpResumesByOffset(MutantDpif):
    """Each batch of 8 re-reads the table and skips as many flows as were already returned."""

    batch = 8

    def dump_source(self, terse: bool) -> Iterator[DpifFlow]:
        offset = 0
        while True:
            flows = list(self.inner.flow_dump(terse=terse))[offset : offset + self.batch]
            if not flows:
                return
            offset += len(flows)
            yield from flows


class _DumpKeyMasked(_DumpFilter):
    """Full dumps return key-identified flows' keys masked (the kernel keeps the unmasked key)."""

    which = "full"

    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        out = []
        for f in flows:
            if f.key is not None and (not f.ufid_present or self.inner.features.semantics == "netdev"):
                out.append(dataclasses.replace(f, key=Match.from_netlink(f.key, f.mask).masked_key))
            else:
                out.append(f)
        return out


# --- batched dumps (dpif_flow_dump_next) -------------------------------------


class _BatchMutant(MutantDpif):
    """``flow_dump_batches`` cuts this wrapper's dump with ``cut`` instead of into batches of ``max_flows``."""

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        return iter(self.cut(list(self.flow_dump(terse=terse)), check_max_flows(max_flows)))

    def cut(self, flows: list[DpifFlow], n: int) -> list[list[DpifFlow]]:
        return [flows[i : i + n] for i in range(0, len(flows), n)]


class _BatchOverfull(_BatchMutant):
    # One flow more than the caller's array holds.
    def cut(self, flows: list[DpifFlow], n: int) -> list[list[DpifFlow]]:
        return [flows[i : i + n + 1] for i in range(0, len(flows), n + 1)]


class _BatchEmptyFirst(_BatchMutant):
    def cut(self, flows: list[DpifFlow], n: int) -> list[list[DpifFlow]]:
        return [[], *super().cut(flows, n)]


class _BatchDropsTail(_BatchMutant):
    # A last batch that does not fill the array is never handed out.
    def cut(self, flows: list[DpifFlow], n: int) -> list[list[DpifFlow]]:
        return [b for b in super().cut(flows, n) if len(b) == n]


class _BatchStatsShifted(_BatchMutant):
    """In terse batches the statistics column is one position off the UFID column."""

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        batches = super().flow_dump_batches(terse=terse, max_flows=max_flows)
        return batches if not terse else iter([self.shift(list(b)) for b in batches])

    @staticmethod
    def shift(batch: list[DpifFlow]) -> list[DpifFlow]:
        at = [i for i, f in enumerate(batch) if f.ufid_present and f.key is None]
        stats = [batch[i].stats for i in at]
        for i, s in zip(at, stats[1:] + stats[:1], strict=True):
            batch[i] = dataclasses.replace(batch[i], stats=s)
        return batch


# --- terse ------------------------------------------------------------------


class _TerseKeeps(MutantDpif):
    """One OVS_UFID_F_OMIT_* flag ignored in terse replies of some kinds: that field is still sent."""

    field = "key"
    kinds: frozenset[Kind] = frozenset({"get-terse", "dump-terse"})

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        if terse and "get-terse" in self.kinds:
            full = self.inner.flow_get(ufid=ufid, key=key)
            if full.ufid_present:
                got = self.inner.flow_get(ufid=ufid, key=key, terse=True)
                kept: dict[str, Any] = {self.field: getattr(full, self.field)}
                return dataclasses.replace(got, **kept)
        return self.inner.flow_get(ufid=ufid, key=key, terse=terse)

    def dump_source(self, terse: bool) -> Iterator[DpifFlow]:
        if not terse or "dump-terse" not in self.kinds:
            return self.inner.flow_dump(terse=terse)
        full = {_ident(f): f for f in self.inner.flow_dump()}
        return iter(
            [
                dataclasses.replace(f, **{self.field: getattr(full[_ident(f)], self.field)})
                if f.ufid_present and _ident(f) in full
                else f
                for f in self.inner.flow_dump(terse=True)
            ]
        )


class _TerseDropsKeyOfKeyFlows(_DumpFilter):
    which = "terse"

    def pick(self, flows: list[DpifFlow]) -> list[DpifFlow]:
        return [f if f.ufid_present else dataclasses.replace(f, key=None, mask=None, actions=None) for f in flows]


# --- batches ----------------------------------------------------------------


class _OperateMutant(MutantDpif):
    pass


class _OperateStopsAtError(_OperateMutant):
    def operate(self, ops: object) -> list[object]:  # type: ignore[override]
        out = []
        for r in Dpif.operate(self, ops):  # type: ignore[arg-type]
            out.append(r)
            if not r.ok:
                break
        return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mutant:
    """One defect: where it is, what it does, why ovs-vswitchd cares, and how to build it."""

    name: str
    area: str
    method: str
    defect: str
    harm: str
    build: Callable[[Dpif], Dpif]
    bases: tuple[str, ...] = _KNL


def _sub(base: type[MutantDpif], **attrs: object) -> Callable[[Dpif], Dpif]:
    cls = type(f"{base.__name__}_mutant", (base,), attrs)
    return cls


def _stats_mutant(
    change: Callable[[FlowStats], FlowStats], kinds: Iterable[Kind] = _ALL_KINDS
) -> Callable[[Dpif], Dpif]:
    return _sub(_StatsMap, change=staticmethod(change), kinds=frozenset(kinds))


def _bytes_without_eth(s: FlowStats) -> FlowStats:
    return dataclasses.replace(s, n_bytes=max(0, s.n_bytes - 14 * s.n_packets))


def _bytes_with_fcs(s: FlowStats) -> FlowStats:
    return dataclasses.replace(s, n_bytes=s.n_bytes + 4 * s.n_packets)


def _packets_doubled(s: FlowStats) -> FlowStats:
    return dataclasses.replace(s, n_packets=2 * s.n_packets)


def _tcp_flags_never(s: FlowStats) -> FlowStats:
    return dataclasses.replace(s, tcp_flags=0)


def _tcp_flags_swapped(s: FlowStats) -> FlowStats:
    return dataclasses.replace(s, tcp_flags=((s.tcp_flags & 0xFF) << 8) | (s.tcp_flags >> 8))


def _zeroed(s: FlowStats) -> FlowStats:
    return FlowStats()


def _in_port_plus_one(u: Upcall) -> Upcall:
    return dataclasses.replace(u, in_port=u.in_port + 1)


def _packet_truncated(u: Upcall) -> Upcall:
    return dataclasses.replace(u, packet=u.packet[:-4])


_REVAL = "ofproto/ofproto-dpif-upcall.c revalidate()"
_UKEY = "ofproto/ofproto-dpif-upcall.c ukey_lookup()/ukey_acquire() (ukeys hashed by the UFID's 128 bits)"
_PUSH = "ofproto/ofproto-dpif-upcall.c revalidate_ukey() (pushes stats minus ukey->stats)"
_IDLE = "ofproto/ofproto-dpif-upcall.c revalidate() (idle test: used < now - max_idle, now = time_msec())"


def _build() -> tuple[Mutant, ...]:
    m: list[Mutant] = []

    def add(  # noqa: PLR0917
        name: str, area: str, method: str, defect: str, harm: str, build: Callable[[Dpif], Dpif], bases: tuple[str, ...]
    ) -> None:
        m.append(Mutant(name, area, method, defect, harm, build, bases))

    # --- identity: word order, byte order, halves; per reply kind
    for kind, method in (
        ("get", "flow_get"),
        ("dump", "flow_dump"),
        ("get-terse", "flow_get"),
        ("dump-terse", "flow_dump"),
    ):
        for what, change in (
            ("words-swapped", _swap_words),
            ("bytes-swapped", _byteswap_words),
            ("halves-swapped", _swap_halves),
        ):
            if what == "halves-swapped" and kind in ("get-terse", "dump-terse"):
                continue
            add(
                f"ufid-{what}-in-{kind}",
                "identity",
                method,
                f"the UFID in {kind} replies has its {what.replace('-', ' ')} (32-bit words, bytes within each "
                "word, or 64-bit halves)",
                f"{_UKEY}: a reply UFID that is not the installed one finds no ukey, so {_REVAL} deletes the flow "
                "as unknown",
                _sub(_UfidInReplies, kinds=frozenset({kind}), change=staticmethod(change)),
                _KN,
            )
    for kind in ("dump", "dump-terse", "get"):
        add(
            f"ufid-not-present-in-{kind}",
            "identity",
            "flow_dump" if "dump" in kind else "flow_get",
            f"{kind} replies leave OVS_FLOW_ATTR_UFID out for UFID-identified flows",
            "lib/dpif-netlink.c dpif_netlink_flow_to_dpif_flow hashes the key instead: a different UFID, an "
            f"unknown ukey, {_REVAL} deletes the flow",
            _sub(_UfidNotPresent, kinds=frozenset({kind})),
            _KN,
        )
    add(
        "ufid-dropped-on-put",
        "identity",
        "flow_put",
        "put ignores the UFID and installs a key-identified flow",
        "ofproto/ofproto-dpif.c check_ufid would say yes while terse dumps and UFID gets/deletes of "
        f"{_REVAL} find nothing",
        _PutDropsUfid,
        _KN,
    )
    for part, label in ((slice(0, 8), "first-64-bits"), (slice(12, 16), "last-32-bits")):
        add(
            f"ufid-lookup-compares-{label}",
            "identity",
            "flow_get/flow_del",
            f"get and del by UFID compare only the {label.replace('-', ' ')} of the UFID",
            f"{_UKEY}: two flows whose UFIDs share those bits are different flows to OVS; a delete of one "
            "removes the other",
            _sub(_PartialUfidLookup, part=part),
            _KN,
        )
    add(
        "ufid-wire-words-big-endian",
        "identity",
        "flow_put/flow_get/flow_del",
        "the 16-byte OVS_FLOW_ATTR_UFID payload is read as big-endian 32-bit words",
        "lib/dpif-netlink.c puts ovs_u128 in host order; a reordered UFID is echoed differently and no ukey matches it",
        _WireByteOrder,
        _KN,
    )
    add(
        "ufid-duplicate-accepted",
        "identity",
        "flow_put",
        "a CREATE reusing a live UFID with another key installs a second flow",
        f"{_UKEY}: one ukey per UFID; the second datapath flow is never revalidated or deleted by OVS",
        _DuplicateUfid,
        _KN,
    )
    add(
        "ufid-zero-length-ignored",
        "identity",
        "flow_put/flow_get/flow_del",
        "a 0-byte UFID is treated as absent (flow installed key-identified) instead of ERANGE",
        "net/openvswitch/datapath.c flow_policy (.len = 1 minimum); a datapath accepting what the kernel "
        "refuses lets a buggy caller install flows OVS cannot address by UFID",
        _ZeroLengthUfidIgnored,
        _K,
    )
    add(
        "ufid-long-rejected",
        "identity",
        "flow_put/flow_get/flow_del",
        "a UFID longer than 16 bytes is rejected with EINVAL instead of ignored",
        "net/openvswitch/flow_netlink.c ovs_nla_get_ufid ignores it (installs key-identified); callers "
        "relying on that fall back get errors",
        _LongUfidRejected,
        _K,
    )
    add(
        "ufid-long-truncated",
        "identity",
        "flow_put/flow_get/flow_del",
        "a UFID longer than 16 bytes is truncated to 16 and used",
        "net/openvswitch/flow_netlink.c ovs_nla_get_ufid ignores over-long UFIDs; key lookups then miss the flow",
        _LongUfidTruncated,
        _K,
    )
    add(
        "ufid-short-padded",
        "identity",
        "flow_put/flow_get/flow_del",
        "UFIDs of 1..15 bytes are zero-padded to 16",
        "net/openvswitch/flow_table.c compares ufid_len bytes and echoes exactly that length",
        _ShortUfidPadded,
        _K,
    )

    # --- lookups
    add(
        "lookup-key-wins-over-ufid",
        "lookup",
        "flow_get/flow_del",
        "with both a UFID and a key, the key decides the lookup",
        "lib/dpif.h flow_get/flow_del: 'if both are specified, key will be ignored'; revalidator deletes "
        "pass both (ofproto-dpif-upcall.c delete_op_init)",
        _KeyWinsLookup,
        _KN,
    )
    add(
        "lookup-key-finds-ufid-flows",
        "lookup",
        "flow_get/flow_del",
        "a key-only get/del also finds flows installed with a UFID",
        "net/openvswitch/datapath.c ovs_flow_cmd_get/del look UFID flows up by UFID only; a key delete "
        "(dpctl, old callers) must not remove a UFID flow OVS still tracks",
        _KeyFindsUfidFlows,
        _K,
    )
    add(
        "lookup-absent-is-einval",
        "lookup",
        "flow_get",
        "get of an absent flow fails with EINVAL instead of ENOENT",
        "ofproto/ofproto-dpif-upcall.c ukey_install/handle_upcalls and lib/dpif.c treat ENOENT as 'no flow'; "
        "other errnos are logged as datapath failures",
        _AbsentIsEinval,
        _KNL,
    )
    add(
        "del-absent-succeeds",
        "lookup",
        "flow_del",
        "del of an absent flow succeeds with zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops: ENOENT on delete means the flow was already gone; "
        "success with zero stats hides a lost flow",
        _DelAbsentSucceeds,
        _KNL,
    )
    add(
        "del-leaves-flow",
        "lookup",
        "flow_del",
        "del returns the statistics but leaves the flow installed",
        f"{_REVAL} deletes idle and stale flows: a flow that stays keeps forwarding with old actions",
        _DelLeavesFlow,
        _KNL,
    )
    add(
        "del-without-identifier-einval",
        "flush",
        "flow_del",
        "del with neither UFID nor key fails with EINVAL instead of flushing",
        "lib/dpif-netlink.c dpif_netlink_flow_flush sends OVS_FLOW_CMD_DEL without key or UFID "
        "(net/openvswitch/datapath.c ovs_flow_cmd_del flushes)",
        _DelNoIdentifierInvalid,
        _KL,
    )

    # --- put flags
    add(
        "put-create-modifies-existing",
        "put",
        "flow_put",
        "CREATE of an installed flow modifies it instead of failing with EEXIST",
        "ofproto/ofproto-dpif-upcall.c ukey_install/handle_upcalls: EEXIST tells a handler another thread "
        "installed the flow first; silently replacing its actions races revalidation",
        _CreateModifies,
        _KNL,
    )
    add(
        "put-modify-creates-absent",
        "put",
        "flow_put",
        "MODIFY of an absent flow creates it instead of failing with ENOENT",
        f"{_REVAL} modifies flows it believes installed; re-creating one deleted meanwhile leaks a flow without a ukey",
        _ModifyCreates,
        _KNL,
    )
    add(
        "put-modify-resets-stats",
        "stats",
        "flow_put",
        "MODIFY (without ZERO_STATS) zeroes the flow's statistics",
        f"{_PUSH}: a reset counter makes the next push negative (clamped to 0): OpenFlow stats lose traffic",
        _ModifyZeroes,
        _KNL,
    )
    add(
        "put-modify-returns-zero",
        "stats",
        "flow_put",
        "MODIFY returns zero statistics instead of those before the update",
        "lib/dpif.h flow_put stats (the stats from before the put); ofproto-dpif-upcall.c push_dp_ops credits them",
        _ModifyReturnsZero,
        _KNL,
    )
    add(
        "put-modify-keeps-actions",
        "put",
        "flow_put",
        "MODIFY succeeds but keeps the old actions",
        f"{_REVAL} modify_op_init updates actions after an OpenFlow change; stale actions keep forwarding",
        _ModifyKeepsActions,
        _KNL,
    )
    add(
        "put-zero-stats-ignored",
        "stats",
        "flow_put",
        "MODIFY|ZERO_STATS keeps the statistics",
        "lib/dpif.h DPIF_FP_ZERO_STATS (dpctl/mod-flow --clear, net/openvswitch/datapath.c ovs_flow_cmd_set "
        "OVS_FLOW_ATTR_CLEAR)",
        _ZeroStatsIgnored,
        _K,
    )
    add(
        "put-zero-stats-returns-after",
        "stats",
        "flow_put",
        "MODIFY|ZERO_STATS returns the zeroed statistics instead of those before",
        "lib/dpif.h flow_put stats are the stats before the update",
        _ZeroStatsReturnsAfter,
        _K,
    )

    # --- statistics: units and clock of used
    for label, fn, why in (
        ("seconds", lambda u: max(1, u // 1000), "seconds"),
        ("microseconds", lambda u: u * 1000, "microseconds"),
        ("jiffies-hz250", lambda u: max(1, u // 4), "unconverted jiffies (HZ=250)"),
    ):
        add(
            f"stats-used-in-{label}",
            "stats",
            "all replies",
            f"used is reported in {why} instead of milliseconds",
            f"{_IDLE}: a wrong unit makes active flows look idle (or idle ones active) and "
            "lib/dpif-netlink.c passes OVS_FLOW_ATTR_USED through unconverted",
            _stats_mutant(_used(fn)),
            _KNL,
        )
    add(
        "stats-used-wall-clock",
        "stats",
        "all replies",
        "used is taken from the wall clock instead of the monotonic clock",
        f"{_IDLE}: time_msec() is CLOCK_MONOTONIC (lib/timeval.c); wall-clock used values are always in the "
        "future, so flows never expire",
        _stats_mutant(_used(_on_wall_clock)),
        _KNL,
    )
    add(
        "stats-used-first-packet-only",
        "stats",
        "all replies",
        "used is the time of the first packet; later packets do not refresh it",
        f"{_IDLE}: a busy flow looks idle max_idle after its first packet and is deleted",
        _FirstUsedOnly,
        _KNL,
    )
    add(
        "stats-used-at-install",
        "stats",
        "all replies",
        "used is set when the flow is installed, before any packet",
        f"{_IDLE} uses ukey->created when used is 0; a non-zero used on an unused flow hides that it never "
        "matched (ofproto-dpif-upcall.c udpif_flow_dump 'used:never')",
        _UsedAtInstall,
        _KNL,
    )
    # --- statistics: counters
    add(
        "stats-bytes-without-ethernet-header",
        "stats",
        "all replies",
        "n_bytes counts from the L3 header (14 bytes less per packet)",
        "ofproto/ofproto-dpif-upcall.c xlate_push_stats credits n_bytes to OpenFlow rules: byte counters "
        "and meters see less than the frames (net/openvswitch/flow.c ovs_flow_stats_update counts skb->len)",
        _stats_mutant(_bytes_without_eth),
        _KNL,
    )
    add(
        "stats-bytes-with-fcs",
        "stats",
        "all replies",
        "n_bytes adds a 4-byte FCS per packet",
        "OpenFlow byte counters would exceed the bytes forwarded (net/openvswitch/flow.c ovs_flow_stats_update "
        "counts skb->len)",
        _stats_mutant(_bytes_with_fcs),
        _KNL,
    )
    add(
        "stats-packets-doubled",
        "stats",
        "all replies",
        "every packet is counted twice",
        f"{_PUSH}: OpenFlow packet counters double",
        _stats_mutant(_packets_doubled),
        _KNL,
    )
    add(
        "stats-read-and-clear",
        "stats",
        "all replies",
        "counters are read-and-clear: each reply reports only the traffic since the previous reply",
        f"{_PUSH} subtracts the last seen cumulative stats; deltas make it push nothing (clamped) or lose traffic",
        _ReadAndClear,
        _KNL,
    )
    add(
        "stats-tcp-flags-never",
        "stats",
        "all replies",
        "tcp_flags is always 0",
        "ofproto/ofproto-dpif-xlate.c xlate_fin_timeout shortens idle timeouts on FIN/RST from "
        "stats->tcp_flags; NetFlow reports them",
        _stats_mutant(_tcp_flags_never),
        _KNL,
    )
    add(
        "stats-tcp-flags-byte-swapped",
        "stats",
        "all replies",
        "tcp_flags is reported with its two bytes swapped (be16 read as host order)",
        "ofproto/ofproto-dpif-xlate.c xlate_fin_timeout tests TCP_FIN|TCP_RST in the low byte; "
        "lib/dpif-netlink.c takes OVS_FLOW_ATTR_TCP_FLAGS as network order",
        _stats_mutant(_tcp_flags_swapped),
        _KNL,
    )
    # --- statistics: freshness per reply kind
    for kind in _ALL_KINDS:
        if kind == "put":
            continue
        add(
            f"stats-stale-in-{kind}",
            "stats",
            "flow_get" if kind.startswith("get") else "flow_dump" if kind.startswith("dump") else "flow_del",
            f"{kind} replies serve a per-flow statistics snapshot refreshed only by the other kinds of reply",
            f"{_REVAL} reads stats from (terse) dumps, revalidator_sweep and push_dp_ops from deletes, "
            "dpif_flow_get for single flows: whichever kind is stale, that traffic is never pushed or the flow "
            "looks idle",
            _sub(_StaleCache, stale=kind),
            _KNL if "terse" not in kind else _KN,
        )

    # --- dumps
    add(
        "dump-skips-last-flow",
        "dump",
        "flow_dump",
        "full and terse dumps leave out the last flow",
        f"{_REVAL}: a flow never dumped is never revalidated with its stats (revalidator_sweep counts "
        "revalidate_missed_dp_flow) and never idles out",
        _DumpSkipsLast,
        _KNL,
    )
    add(
        "dump-terse-skips-last-flow",
        "dump",
        "flow_dump",
        "terse dumps leave out the last flow",
        f"{_REVAL} uses terse dumps when the datapath supports UFIDs (udpif_revalidator: dpif_flow_dump_create "
        "terse=true)",
        _sub(_DumpSkipsLast, which="terse"),
        _KN,
    )
    add(
        "dump-drops-batch-head",
        "dump",
        "flow_dump",
        "the first flow of every reply batch after the first is lost",
        "lib/dpif-netlink.c dpif_netlink_flow_dump_next resumes multipart dumps; a lost flow per batch is "
        f"never revalidated ({_REVAL})",
        _DumpDropsBatchHead,
        _KNL,
    )
    add(
        "dump-terse-drops-batch-head",
        "dump",
        "flow_dump",
        "the first flow of every terse reply batch after the first is lost",
        f"{_REVAL} dumps tersely on UFID datapaths",
        _sub(_DumpDropsBatchHead, which="terse"),
        _KN,
    )
    add(
        "dump-stops-after-first-batch",
        "dump",
        "flow_dump",
        "a dump ends after its first batch of 1000 flows",
        "ofproto/ofproto-dpif-upcall.c revalidate(): with more flows than one batch the rest are never revalidated",
        _DumpStopsAfterBatch,
        _KNL,
    )
    add(
        "dump-aborts-when-table-changes",
        "dump",
        "flow_dump",
        "a dump ends as soon as a flow is added or deleted while it runs",
        f"{_REVAL} deletes flows (push_dp_ops) between dpif_flow_dump_next batches and handlers install flows "
        "concurrently: the flows after the first change are never revalidated",
        _DumpAbortsOnChange,
        _KNL,
    )
    add(
        "dump-resumes-by-offset",
        "dump",
        "flow_dump",
        "each batch re-reads the table and skips as many flows as were returned so far",
        f"{_REVAL} deletes flows it has just dumped; an offset cursor then skips as many live flows",
        _DumpResumesByOffset,
        _KNL,
    )
    for fld in ("actions", "mask", "key"):
        add(
            f"dump-full-omits-{fld}",
            "dump",
            "flow_dump",
            f"full dumps leave out the {fld}",
            "ofproto/ofproto-dpif-upcall.c revalidate_ukey (full dumps on datapaths without UFID) and "
            f"dpctl/dump-flows need the {fld}",
            _sub(_DumpFullOmits, field=fld),
            _KNL,
        )
    add(
        "dump-key-identified-key-masked",
        "dump",
        "flow_dump",
        "full dumps return key-identified flows' keys masked instead of unmasked",
        "net/openvswitch/datapath.c ovs_flow_cmd_fill_match sends the unmasked key for key-identified flows; "
        "lib/dpif-netlink.c hashes it into the UFID OVS uses for them, so a masked key is another UFID",
        _DumpKeyMasked,
        _KL,
    )
    add(
        "dump-netdev-key-masked",
        "dump",
        "flow_dump",
        "dpif-netdev dumps return masked keys",
        "lib/dpif-netdev.c dp_netdev_flow_to_dpif_flow returns the original key; dpctl output and key-hashed "
        "UFIDs depend on it",
        _DumpKeyMasked,
        ("netdev",),
    )

    # --- batched dumps
    _BATCH = "lib/dpif.c dpif_flow_dump_next fills the caller's array of up to max_flows (REVALIDATE_MAX_BATCH = 50)"
    add(
        "batch-overfull",
        "dump",
        "flow_dump_batches",
        "batches hold one flow more than max_flows",
        f"{_BATCH}; a datapath writing past it overruns the revalidator's stack array (ofproto-dpif-upcall.c "
        "revalidate: struct dpif_flow flows[REVALIDATE_MAX_BATCH])",
        _BatchOverfull,
        _KNL,
    )
    add(
        "batch-empty-first",
        "dump",
        "flow_dump_batches",
        "the first batch is empty",
        f"{_BATCH}; a return of 0 flows ends the dump (ofproto-dpif-upcall.c revalidate leaves its loop), so "
        "nothing is revalidated",
        _BatchEmptyFirst,
        _KNL,
    )
    add(
        "batch-drops-partial-tail",
        "dump",
        "flow_dump_batches",
        "a last batch shorter than max_flows is never returned",
        f"{_BATCH}; the flows of the short last batch are never revalidated and never idle out",
        _BatchDropsTail,
        _KNL,
    )
    add(
        "batch-terse-stats-shifted",
        "dump",
        "flow_dump_batches",
        "in terse batches each flow carries its neighbour's statistics (columns out of step)",
        f"{_PUSH}: stats are pushed to the wrong ukey, so OpenFlow counters and idle times belong to other flows",
        _BatchStatsShifted,
        _KN,
    )

    # --- terse flags, one by one
    for fld in ("key", "mask", "actions"):
        for kind, label in (("dump-terse", "dump"), ("get-terse", "get")):
            add(
                f"terse-{label}-keeps-{fld}",
                "terse",
                "flow_dump" if label == "dump" else "flow_get",
                f"OMIT_{fld.upper()} is ignored in terse {label}s: the {fld} is still sent",
                "lib/dpif-netlink.c sets OVS_UFID_F_OMIT_* so that revalidator dumps stay small "
                "(udpif_revalidator); ovs_flow_cmd_fill_info honours each flag",
                _sub(_TerseKeeps, field=fld, kinds=frozenset({kind})),
                _KN,
            )
    add(
        "terse-drops-key-of-key-flows",
        "terse",
        "flow_dump",
        "terse dumps omit the key of key-identified flows too",
        "net/openvswitch/datapath.c ovs_flow_cmd_fill_info: OMIT_KEY applies only to UFID flows; without "
        "key and UFID OVS cannot identify the flow",
        _TerseDropsKeyOfKeyFlows,
        _K,
    )
    add(
        "terse-del-returns-zero",
        "terse",
        "flow_del",
        "terse deletes return zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops credits the final stats of (terse) deletes",
        _stats_mutant(_zeroed, ("del-terse",)),
        _KN,
    )
    add(
        "del-returns-zero",
        "stats",
        "flow_del",
        "deletes return zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops credits a deleted flow's final stats",
        _stats_mutant(_zeroed, ("del",)),
        _KNL,
    )

    # --- batches
    add(
        "operate-stops-at-first-error",
        "batch",
        "operate",
        "operate stops at the first failed operation and returns fewer results",
        "lib/dpif.h dpif_operate: every op gets its own error; ofproto-dpif-upcall.c push_dp_ops reads each op's stats",
        _OperateStopsAtError,
        _KNL,
    )
    add(
        "operate-reverses-order",
        "batch",
        "operate",
        "operate executes a batch in reverse order",
        "lib/dpif.h dpif_operate executes in order; handle_upcalls puts a flow then executes its packet",
        _OperateReversed,
        _KNL,
    )
    add(
        "operate-first-error-for-all",
        "batch",
        "operate",
        "when one operation fails, every result carries that error",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops/handle_upcalls act per op (ukey state, stats)",
        _OperateSharedError,
        _KNL,
    )
    add(
        "operate-get-without-flow",
        "batch",
        "operate",
        "batched gets return no flow",
        "lib/dpif.h DPIF_OP_FLOW_GET fills op->flow_get.flow; ukey_install reads it",
        _OperateGetNoFlow,
        _KNL,
    )

    # --- flush
    add(
        "flush-keeps-key-identified",
        "flush",
        "flow_flush",
        "flow_flush removes only UFID-identified flows",
        "ofproto/ofproto-dpif.c and dpctl/del-flows flush at startup and on request: left-over flows forward "
        "with stale actions",
        _sub(_FlushPartial, keep_ufid=False),
        _KL,
    )
    add(
        "flush-keeps-ufid-flows",
        "flush",
        "flow_flush",
        "flow_flush removes only key-identified flows",
        "lib/dpif.c dpif_flow_flush (udpif_flush, dpctl/del-flows) must leave nothing behind",
        _sub(_FlushPartial, keep_ufid=True),
        _KN,
    )

    # --- masks
    add(
        "mask-ignored",
        "mask",
        "flow_put",
        "every flow is installed as an exact match",
        "ofproto/ofproto-dpif-upcall.c installs megaflows: ignoring masks multiplies upcalls and breaks the "
        "installed match dump",
        _MaskIgnored,
        _KNL,
    )
    add(
        "mask-ethernet-wildcarded",
        "mask",
        "flow_put",
        "the Ethernet address mask is ignored (wildcarded)",
        "a flow matching more than its mask says forwards other traffic with its actions (lib/dpif.h megaflow "
        "contract)",
        _MaskEthWildcarded,
        _KNL,
    )

    # --- upcalls
    add(
        "upcall-in-port-off-by-one",
        "upcall",
        "recv_upcalls",
        "upcalls report in_port + 1",
        "ofproto/ofproto-dpif-upcall.c upcall_receive derives the ofport from the key's in_port",
        _sub(_UpcallMap, change=staticmethod(_in_port_plus_one)),
        _KNL,
    )
    add(
        "upcall-packet-truncated",
        "upcall",
        "recv_upcalls",
        "upcall packets lose their last 4 bytes",
        "ofproto/ofproto-dpif-upcall.c handle_upcalls executes the upcall's packet: a truncated frame is forwarded",
        _sub(_UpcallMap, change=staticmethod(_packet_truncated)),
        _KNL,
    )
    add(
        "upcall-key-without-in-port",
        "upcall",
        "recv_upcalls",
        "upcall keys lack OVS_KEY_ATTR_IN_PORT",
        "ofproto/ofproto-dpif-upcall.c upcall_receive/odp_flow_key_to_flow need in_port to find the bridge",
        _sub(_UpcallMap, change=staticmethod(_strip_in_port)),
        _KL,
    )
    add(
        "upcall-dropped",
        "upcall",
        "inject/recv_upcalls",
        "misses are counted but never queued",
        "ofproto/ofproto-dpif-upcall.c handlers install flows only from upcalls: nothing is ever learned",
        _sub(_UpcallMap, drop=True),
        _KNL,
    )

    # --- probe and legacy
    add(
        "probe-declares-no-ufid",
        "probe",
        "features",
        "features.ufid is false although UFIDs work",
        "ofproto/ofproto-dpif.c check_ufid decides from the probe; backends that disagree with it mislead "
        "every caller that reads features",
        _sub(_FeaturesMap, ufid=False),
        _KN,
    )
    add(
        "probe-flag-rejected",
        "probe",
        "flow_put",
        "puts with the PROBE flag fail with EINVAL",
        "lib/dpif.c dpif_probe_feature puts with DPIF_FP_PROBE: OVS concludes UFIDs are unsupported",
        _ProbeFlagRejected,
        _KN,
    )
    add(
        "probe-flow-undeletable",
        "probe",
        "flow_del",
        "flows put with PROBE cannot be deleted",
        "lib/dpif.c dpif_probe_feature deletes its probe flow; one left behind matches real traffic",
        _ProbeFlowsUndeletable,
        _KNL,
    )
    add(
        "legacy-declares-ufid",
        "legacy",
        "features",
        "a datapath without UFID support declares features.ufid",
        "ofproto/ofproto-dpif.c check_ufid: OVS must fall back to key-identified flows there",
        _sub(_FeaturesMap, ufid=True),
        ("legacy",),
    )
    add(
        "legacy-echoes-ufid",
        "legacy",
        "flow_get/flow_dump",
        "a datapath without UFID support echoes the caller's UFID in replies",
        "ofproto/ofproto-dpif.c check_ufid would believe UFIDs work and use terse dumps the datapath cannot do",
        _LegacyEchoes,
        ("legacy",),
    )
    add(
        "legacy-rejects-ufid",
        "legacy",
        "flow_put",
        "a datapath without UFID support rejects puts that carry one",
        "old kernels ignore OVS_FLOW_ATTR_UFID (lib/dpif-netlink.c); check_ufid's probe put must succeed",
        _LegacyRejects,
        ("legacy",),
    )

    # --- execute
    add(
        "execute-accepts-malformed-actions",
        "execute",
        "execute",
        "execute accepts actions it cannot run (malformed or unknown) without error",
        "ofproto/ofproto-dpif.c check_masked_set_action/check_trunc_action probe datapath features by executing "
        "the action: no EINVAL means supported, so OVS would install flows with actions the datapath cannot run "
        "(dpif-netdev does not check, so the rule is the kernel's)",
        _ExecuteLax,
        _KL,
    )
    return tuple(m)


class _OperateReversed(_OperateMutant):
    def operate(self, ops: object) -> list[object]:  # type: ignore[override]
        seq = list(ops)  # type: ignore[call-overload]
        results = Dpif.operate(self, seq[::-1])
        return results[::-1]  # type: ignore[return-value]


class _OperateSharedError(_OperateMutant):
    def operate(self, ops: object) -> list[object]:  # type: ignore[override]
        results = Dpif.operate(self, list(ops))  # type: ignore[call-overload]
        err = next((r.error for r in results if r.error is not None), None)
        if err is None:
            return results  # type: ignore[return-value]
        return [dataclasses.replace(r, error=err) for r in results]


class _OperateGetNoFlow(_OperateMutant):
    def operate(self, ops: object) -> list[object]:  # type: ignore[override]
        results = Dpif.operate(self, list(ops))  # type: ignore[call-overload]
        return [dataclasses.replace(r, flow=None) if r.flow is not None else r for r in results]


class _FlushPartial(MutantDpif):
    keep_ufid = False

    def flow_flush(self) -> None:
        for f in list(self.inner.flow_dump()):
            if f.ufid_present == self.keep_ufid:
                continue
            try:
                if f.ufid_present:
                    self.inner.flow_del(ufid=f.ufid_bytes or f.ufid)
                else:
                    self.inner.flow_del(key=f.key)
            except DpifNotFound:
                pass


class _MaskIgnored(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        return self.inner.flow_put(key, None, actions, ufid=ufid, flags=flags)


class _MaskEthWildcarded(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if mask is not None:
            try:
                attrs = [(t, p) for t, p, _ in iter_attrs(mask)]
            except ValueError:
                attrs = None
            if attrs is not None:
                mask = pack_attrs((t, bytes(len(p)) if t == KeyAttr.ETHERNET else p) for t, p in attrs)
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


def _strip_in_port(u: Upcall) -> Upcall:
    try:
        attrs = [(t, p) for t, p, _ in iter_attrs(u.key)]
    except ValueError:
        return u
    return dataclasses.replace(u, key=pack_attrs((t, p) for t, p in attrs if t != KeyAttr.IN_PORT))


class _UpcallMap(MutantDpif):
    drop = False

    @staticmethod
    def change(u: Upcall) -> Upcall:
        return u

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        ups = self.inner.recv_upcalls(max)
        return [] if self.drop else [self.change(u) for u in ups]


class _FeaturesMap(MutantDpif):
    ufid = True

    @property
    def features(self) -> DpifFeatures:
        f = self.inner.features
        omit = f.omit_flags if self.ufid else UfidFlags(0)
        return dataclasses.replace(f, ufid=self.ufid, omit_flags=omit, max_ufid_len=16 if self.ufid else 0)


class _LegacyEchoes(MutantDpif):
    """Remembers each put's UFID by key and reports it in replies."""

    def __init__(self, inner: Dpif) -> None:
        super().__init__(inner)
        self.ufids: dict[bytes, Ufid] = {}

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        out = self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        if isinstance(ufid, Ufid):
            # Remembered under the key the datapath replies with (it may serialise more than it was given).
            try:
                self.ufids[self.inner.flow_get(key=key).key or key] = ufid
            except DpifError:
                self.ufids[key] = ufid
        return out

    def flow_of(self, kind: Kind, flow: DpifFlow) -> DpifFlow:
        u = self.ufids.get(flow.key or b"")
        if u is None or flow.ufid_present:
            return flow
        return dataclasses.replace(flow, ufid=u, ufid_present=True, ufid_bytes=u.to_wire())


class _LegacyRejects(_PutFlagsMutant):
    def put(self, key: bytes, mask: bytes | None, actions: bytes, ufid: UfidArg | None, flags: PutFlags) -> FlowStats:
        if ufid is not None:
            raise DpifInvalid("unknown attribute OVS_FLOW_ATTR_UFID")
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)


class _ExecuteLax(MutantDpif):
    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        with contextlib.suppress(DpifInvalid):
            self.inner.execute(packet, actions, in_port=in_port)


CATALOGUE: tuple[Mutant, ...] = _build()
_BY_NAME = {m.name: m for m in CATALOGUE}
if len(_BY_NAME) != len(CATALOGUE):  # pragma: no cover - a catalogue bug, caught by the tests
    raise RuntimeError("duplicate mutant names")


def by_name(name: str) -> Mutant:
    """The mutant called ``name``; :class:`UsageError` naming it when unknown."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown mutant {name!r} (see ufidcert selftest --list)") from None


def mutant(**options: str) -> Dpif:
    """Backend factory: ``mutant=NAME`` around ``base=BACKEND`` (default ``reference``).

    Other options go to the base backend.
    """
    from conformance.registry import open_backend

    name = options.pop("mutant", None)
    if not name:
        raise UsageError("option mutant=NAME is required (see ufidcert selftest --list)")
    m = by_name(name)
    base = options.pop("base", "reference")
    return m.build(open_backend(base, options))


# ---------------------------------------------------------------------------
# What is not a mutant, and the review of levels
# ---------------------------------------------------------------------------

NOT_MUTANTS: tuple[tuple[str, str], ...] = (
    (
        "a flow delivered twice in one dump",
        "harmless to ovs-vswitchd: ofproto/ofproto-dpif-upcall.c revalidate() skips a flow whose ukey->dump_seq "
        "already equals the current dump_seq (coverage counter dumped_duplicate_flow), because the kernel itself "
        "may repeat flows when its table is rehashed during a dump. UFID-DUMP-009 still reports it (SHOULD).",
    ),
    (
        "a flow added during a dump is (or is not) returned by that dump",
        "both are correct: flows installed after dpif_flow_dump_create may or may not be seen "
        "(net/openvswitch/flow_table.c ovs_flow_tbl_dump_next walks live buckets); revalidate() handles new "
        "ukeys in the next round.",
    ),
    (
        "a flow deleted during a dump is still returned by it",
        "harmless: revalidate() then fails to delete it with ENOENT, which push_dp_ops ignores; the kernel's "
        "multipart dump (one skb filled per recv) does the same.",
    ),
    (
        "32-bit n_bytes or n_packets counters that wrap",
        "harmful (revalidate_ukey pushes negative deltas clamped to 0), but only observable after 2^32 bytes "
        "of injected traffic, out of reach of an in-process certification; listed so it is not forgotten.",
    ),
    (
        "execute drops the packet instead of applying the actions",
        "harmful, but the Dpif contract has no way to observe a port's transmit queue; backends are "
        "cross-checked on packet output by their own test suites (tests/reference/test_datapath.py).",
    ),
)


# Every requirement's level, and why (what ovs-vswitchd does with the behaviour).
LEVELS: dict[str, str] = {
    "UFID-SMOKE-001": "MUST: nothing else can be checked without put/get/del.",
    "UFID-ID-001": f"MUST: {_UKEY}; a get reply with another UFID finds no ukey.",
    "UFID-ID-002": f"MUST: {_REVAL} looks every dumped flow up by its UFID.",
    "UFID-ID-003": f"MUST: {_UKEY} hashes and compares all 128 bits.",
    "UFID-ID-004": "MUST: one ukey per UFID (ukey_install fails on a duplicate); a second flow is never revalidated.",
    "UFID-LEN-001": "MUST: the kernel's contract (flow_netlink.c ovs_nla_get_identifier), used by other callers.",
    "UFID-LEN-002": "MUST: kernel flow_policy rejects 0-byte UFIDs; accepting them hides caller bugs.",
    "UFID-LEN-003": "MUST: kernel ovs_nla_get_ufid ignores over-long UFIDs; key lookups must still find the flow.",
    "UFID-LEN-004": "MUST: lib/dpif-netlink.c sends ovs_u128 in host order; both forms must address one flow.",
    "UFID-GET-001": "MUST: ENOENT is how ukey_install and push_dp_ops learn a flow is gone.",
    "UFID-GET-002": "MUST: lib/dpif.h; revalidator deletes pass both UFID and key.",
    "UFID-GET-003": "MUST: kernel ovs_flow_cmd_get/del; a key delete must not remove a flow OVS tracks by UFID.",
    "UFID-GET-004": "MUST: legacy datapaths and dpctl address flows by key.",
    "UFID-GET-005": "MUST: ENOENT means 'no flow' to every caller.",
    "UFID-GET-006": "MUST: kernel ovs_flow_cmd_get returns EINVAL; anything else is a different API.",
    "UFID-GET-007": "MUST: dpif-netdev hashes the key into the UFID (dpctl by key relies on it).",
    "UFID-PUT-001": "MUST: handle_upcalls installs flows with CREATE and credits the returned stats.",
    "UFID-PUT-002": "MUST: revalidate modifies flows it believes installed; ENOENT reports the race.",
    "UFID-PUT-003": "MUST: EEXIST tells a handler another thread installed the flow.",
    "UFID-PUT-004": "MUST: modify_op_init changes actions; revalidate_ukey relies on cumulative stats.",
    "UFID-PUT-005": "MUST: the kernel's OVS_FLOW_ATTR_CLEAR contract (dpctl/mod-flow --clear).",
    "UFID-PUT-006": "MUST: dpif-netdev's documented behaviour (flow_put_on_pmd).",
    "UFID-PUT-007": "MUST: dpif_probe_feature puts with CREATE|MODIFY.",
    "UFID-PUT-008": "MUST: a rejected put must leave the table unchanged (handle_upcalls retries).",
    "UFID-DUP-001": "MUST: kernel ovs_flow_cmd_new; overlapping flows make the hit flow unspecified.",
    "UFID-DUP-002": "MUST: kernel ovs_flow_cmd_new; ukey_install relies on EEXIST.",
    "UFID-DUP-003": "MUST: kernel ovs_flow_cmd_new ('UFID matches but key is different').",
    "UFID-TERSE-001": "MUST: udpif_revalidator dumps tersely; leaked fields cost, missing UFIDs are fatal.",
    "UFID-TERSE-002": f"MUST: {_REVAL} replaces full dumps with terse ones.",
    "UFID-TERSE-003": "MUST: dpif_flow_get with terse flags (ukey_revalidate paths).",
    "UFID-TERSE-004": "MUST: push_dp_ops credits terse deletes' final stats.",
    "UFID-TERSE-005": "MUST: a key-identified flow has nothing but its key to be found by.",
    "UFID-DUMP-001": f"MUST: {_REVAL} needs every flow; a missed flow never idles out.",
    "UFID-DUMP-002": "MUST: kernel ovs_flow_cmd_fill_match; dpctl and datapath-flow parsing read it.",
    "UFID-DUMP-003": "MUST: dpif-netlink hashes the unmasked key into the UFID of key-identified flows.",
    "UFID-DUMP-004": "MUST: dpif-netdev dp_netdev_flow_to_dpif_flow.",
    "UFID-DUMP-005": "MUST: tables larger than one batch are normal (flow-limit defaults to 200000).",
    "UFID-DUMP-006": "MUST: ofproto-dpif-upcall.c revalidate() reads dumps through dpif_flow_dump_next in batches "
    "of up to REVALIDATE_MAX_BATCH into a fixed array; a batch of 0 ends the dump.",
    "UFID-DUMP-008": f"MUST: {_REVAL} deletes flows between dump batches while handlers install new ones.",
    "UFID-DUMP-009": "SHOULD: revalidate() skips a flow seen twice in one dump (dumped_duplicate_flow).",
    "UFID-DEL-001": "MUST: deleting idle and stale flows is the revalidator's job.",
    "UFID-DEL-002": "MUST: push_dp_ops credits the final stats to OpenFlow rules.",
    "UFID-FLUSH-001": "MUST: dpif_flow_flush at startup and dpctl/del-flows.",
    "UFID-FLUSH-002": "MUST: dpif_netlink_flow_flush sends a DEL with neither key nor UFID.",
    "UFID-STATS-001": "MUST: OpenFlow packet and byte counters come from these.",
    "UFID-STATS-002": "MUST: the idle test uses ukey->created while used is 0.",
    "UFID-STATS-003": "MUST (was SHOULD): xlate_fin_timeout and NetFlow read tcp_flags; the Linux datapath "
    "reports them (kernel 6.1 passes).",
    "UFID-STATS-004": f"MUST: {_PUSH} mixes get, dump and delete stats.",
    "UFID-STATS-005": f"MUST: {_IDLE} compares used with time_msec() in milliseconds.",
    "UFID-STATS-006": f"MUST: {_IDLE}: used must be on the datapath host's CLOCK_MONOTONIC, like time_msec().",
    "UFID-STATS-007": f"MUST: {_REVAL}, push_dp_ops and dpif_flow_get each read stats from a different reply kind.",
    "UFID-MASK-001": "MUST: megaflows are the datapath's reason to exist.",
    "UFID-UPCALL-001": "MUST: handlers install flows from upcalls (packet, key, in_port).",
    "UFID-UPCALL-002": "MUST: odp_flow_key_to_flow of the upcall key must give the packet's flow.",
    "UFID-OP-001": "MUST: push_dp_ops reads each op's own result.",
    "UFID-OP-002": "MUST: handle_upcalls relies on put-then-execute order within a batch.",
    "UFID-EXEC-001": "MUST (was SHOULD): handle_upcalls executes every missed packet, and ofproto-dpif.c "
    "check_trunc_action and its siblings take EINVAL from an execute as 'feature unsupported' (kernel semantics); "
    "the Linux datapath 6.1 passes.",
    "UFID-PROBE-001": "MUST: check_ufid's answer decides whether OVS sends UFIDs at all.",
    "UFID-PROBE-002": "MUST: a probe flow left behind would match real traffic.",
    "UFID-LEGACY-001": "MUST: OVS sends UFIDs to old kernels too; they must be ignored harmlessly.",
    "UFID-LEGACY-002": "MUST: check_ufid must say no so that OVS uses keys.",
    "UFID-KEY-001": "MUST: dumps are parsed back into flows (odp_flow_key_to_flow) by dpctl and revalidate_ukey.",
    "UFID-KEY-002": "MUST: a fitness other than ODP_FIT_PERFECT makes revalidate_ukey delete the flow.",
    "UFID-STATE-001": "MUST: the reference encodes the kernel and dpif-netdev contracts as sequences.",
    "UFID-HASH-001": "MUST: UFIDs are hash_bytes128 of the key; another hash gives other UFIDs.",
    "UFID-GEN-001": "MUST: dpif-netdev generates version-4 UFIDs (odp_flow_key_hash).",
}
