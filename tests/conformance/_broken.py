"""Deliberately broken backends: the reference datapath with one defect each.

Each factory is certified by tests/conformance/test_broken_backends.py as
``python:tests.conformance._broken:NAME``; the suite must report the
failure under the right requirement IDs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

from reference.datapath import ReferenceDatapath
from reference.dpif import DpifExists, DpifFlow, FlowStats, PutFlags, UfidArg
from reference.hash import hash_bytes128
from reference.ufid import Ufid

__all__ = [
    "accept_duplicate_ufid",
    "ignore_masks",
    "ignore_zero_stats",
    "leak_keys_in_terse_dumps",
    "right_hash",
    "stop_dump_at_1000",
    "swap_ufid_words",
    "wrong_hash_basis",
    "zero_stats_on_delete",
]


class _LeakKeys(ReferenceDatapath):
    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        for f in super().flow_dump(terse=False):
            yield dataclasses.replace(f, mask=None, actions=None) if terse else f


class _ZeroStatsOnDelete(ReferenceDatapath):
    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        super().flow_del(ufid=ufid, key=key, terse=terse)
        return FlowStats()


class _DuplicateUfid(ReferenceDatapath):
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
            return super().flow_put(key, mask, actions, ufid=ufid, flags=flags)
        except DpifExists:
            if ufid is None or PutFlags.MODIFY in flags:
                raise
            # The defect: a live UFID does not stop a second flow (installed under its key instead).
            return super().flow_put(key, mask, actions, ufid=None, flags=flags)


def _swap(u: Ufid | None) -> Ufid | None:
    if u is None:
        return None
    w = u.words
    return Ufid.from_words((w[1], w[0], w[3], w[2]))


class _SwapWords(ReferenceDatapath):
    # The defect: replies carry the UFID's 32-bit words in the wrong order.
    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        f = super().flow_get(ufid=ufid, key=key, terse=terse)
        return dataclasses.replace(f, ufid=_swap(f.ufid))

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        for f in super().flow_dump(terse=terse):
            yield dataclasses.replace(f, ufid=_swap(f.ufid))


class _IgnoreZeroStats(ReferenceDatapath):
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return super().flow_put(key, mask, actions, ufid=ufid, flags=flags & ~PutFlags.ZERO_STATS)


class _StopAt1000(ReferenceDatapath):
    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        return itertools.islice(super().flow_dump(terse=terse), 1000)


class _IgnoreMasks(ReferenceDatapath):
    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        return super().flow_put(key, None, actions, ufid=ufid, flags=flags)


class _WrongHash(ReferenceDatapath):
    def hash_bytes128(self, data: bytes, basis: int) -> bytes:
        # The defect: the basis (seed) is used with its lowest bit flipped.
        return hash_bytes128(data, basis ^ 1, variant="x64")


class _RightHash(ReferenceDatapath):
    def hash_bytes128(self, data: bytes, basis: int) -> bytes:
        return hash_bytes128(data, basis, variant="x64")


def wrong_hash_basis() -> ReferenceDatapath:
    """hash_bytes128 with a wrong seed."""
    return _WrongHash()


def right_hash() -> ReferenceDatapath:
    """Not broken: exposes the correct hash (HASH-001 applies and passes)."""
    return _RightHash()


def leak_keys_in_terse_dumps() -> ReferenceDatapath:
    """Terse dumps still carry the key."""
    return _LeakKeys()


def zero_stats_on_delete() -> ReferenceDatapath:
    """del returns zero statistics."""
    return _ZeroStatsOnDelete()


def accept_duplicate_ufid() -> ReferenceDatapath:
    """A second flow with a live UFID is accepted."""
    return _DuplicateUfid()


def swap_ufid_words() -> ReferenceDatapath:
    """UFID words swapped in replies."""
    return _SwapWords()


def ignore_zero_stats() -> ReferenceDatapath:
    """ZERO_STATS is ignored."""
    return _IgnoreZeroStats()


def stop_dump_at_1000() -> ReferenceDatapath:
    """Dumps end after 1000 flows."""
    return _StopAt1000()


def ignore_masks() -> ReferenceDatapath:
    """Every flow is installed as an exact match."""
    return _IgnoreMasks()
