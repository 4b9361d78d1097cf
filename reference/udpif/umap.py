"""The sharded ukey map (``udpif->ukeys``, 512 ``struct umap``).

A ukey lives in shard ``hash(ident) % 512``, where the identity is the UFID
alone when there is no PMD id (always, for the reference) and
``(ufid, pmd_id)`` otherwise. Each shard has its own
lock, held to insert or remove; lookups read the shard's dict without it
(OVS reads its cmaps lock-free under RCU; a CPython dict read is atomic).
Every ukey also has its own mutex (``Ukey.lock``, kept in the lock table of
:mod:`reference.udpif._ukey_lock`).

:meth:`UkeyMap.install` reproduces ``ukey_install__``/``try_ukey_replace``:
a UFID already present with the same key bytes is replaced only when the old
ukey is EVICTED (the new one inherits its ``dump_seq``); otherwise the new
one is a duplicate upcall. The same UFID with different key bytes is a UFID
collision ("Conflicting ukey for flows"), logged and not installed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reference.udpif.config import N_UMAPS
from reference.udpif.ukey import Ukey, UkeyState
from reference.ufid import Ufid

__all__ = ["InstallResult", "KeptBlock", "Shard", "UkeyMap", "ident", "wire_of"]

_log = logging.getLogger("reference.udpif")


def ident(ufid: Any, pmd_id: int | None) -> Any:
    """A ukey's key in its umap: the UFID, or ``(ufid, pmd_id)`` when the datapath has PMD threads."""
    return ufid if pmd_id is None else (ufid, pmd_id)


class InstallResult(Enum):
    """What :meth:`UkeyMap.install` did; only INSTALLED and REPLACED leave the new ukey in the map."""

    INSTALLED = "installed"  # new UFID; the ukey is now VISIBLE
    REPLACED = "replaced"  # an EVICTED ukey with the same UFID and key was swapped out (upcall_ukey_replace)
    DUPLICATE = "duplicate"  # same UFID and key, old ukey still live (handler_duplicate_upcall)
    CONTENTION = "contention"  # same UFID and key, old ukey locked by someone else (ukey_replace_contention)
    CONFLICT = "conflict"  # same UFID, different key bytes: a UFID collision, not installed

    @property
    def installed(self) -> bool:
        return self in (InstallResult.INSTALLED, InstallResult.REPLACED)


def wire_of(ukey: Ukey) -> bytes | None:
    """The 16-byte UFID payload a datapath reports for ``ukey``'s flow, or None (no Ufid, or a PMD id)."""
    ufid = ukey.ufid
    return ufid.to_wire() if ukey.pmd_id is None and isinstance(ufid, Ufid) else None


@dataclass(slots=True, eq=False)
class KeptBlock:
    """A terse batch whose ukeys a revalidator kept all at once, as it left them (see :meth:`UkeyMap.kept_block`).

    ``ukeys`` are the lookups' answer for the batch's UFID block and
    ``versions`` their :attr:`~reference.udpif.ukey.Ukey.version` after the
    keep; the four columns are the batch's statistics as dumped then, every
    ukey holding the same counts; ``dump_seq`` and ``reval_seq`` are those the
    ukeys were kept under, and ``min_used`` the oldest "used" time the keep
    gave them. Not frozen: the revalidator moves ``dump_seq`` on when it keeps the block again.
    """

    ukeys: list[Ukey]
    versions: list[int]
    n_packets: Sequence[int]
    n_bytes: Sequence[int]
    used: Sequence[int]
    tcp_flags: Sequence[int]
    dump_seq: int
    reval_seq: int
    min_used: int


class Shard:
    """One umap: a lock and a dict from the ukey's identity (see :func:`ident`) to :class:`Ukey`.

    ``by_wire`` is the map-wide index by UFID payload (shared by every shard),
    kept in step with ``ukeys`` under the shard's lock.
    """

    __slots__ = ("by_wire", "index", "lock", "ukeys")

    def __init__(self, index: int, by_wire: dict[bytes, Ukey] | None = None) -> None:
        self.index = index
        self.lock = threading.Lock()
        self.ukeys: dict[Any, Ukey] = {}
        self.by_wire: dict[bytes, Ukey] = {} if by_wire is None else by_wire

    def snapshot(self) -> list[Ukey]:
        """The ukeys present now (the sweep iterates a copy; concurrent installs may be missed, as with a cmap)."""
        with self.lock:
            return list(self.ukeys.values())

    def delete(self, ukey: Ukey) -> None:
        """``ukey_delete``: remove ``ukey`` (if still present) and move it to DELETED; locks shard then ukey."""
        with self.lock, ukey.lock:
            if ukey.state < UkeyState.DELETED:
                # The slot may already hold a replacement ukey with the same UFID: only remove this one.
                key = ident(ukey.ufid, ukey.pmd_id)
                if self.ukeys.get(key) is ukey:
                    del self.ukeys[key]
                    wire = wire_of(ukey)
                    if wire is not None and self.by_wire.get(wire) is ukey:
                        del self.by_wire[wire]
                ukey.transition(UkeyState.DELETED)


class UkeyMap:
    """All ukeys of one udpif, in ``n_shards`` (512) independently locked shards.

    :attr:`by_wire` indexes the same ukeys by the UFID payload a datapath
    dumps (16 bytes), so that a revalidator can look a terse batch's UFIDs up
    without building a :class:`~reference.ufid.Ufid` per flow (OVS hashes the
    ``ovs_u128`` it received in place: ofproto-dpif-upcall.c ``ukey_lookup``).
    """

    __slots__ = ("_blocks", "_kept", "_last_blocks", "_last_kept", "by_wire", "n_shards", "shards")

    def __init__(self, n_shards: int = N_UMAPS) -> None:
        if n_shards < 1:
            raise ValueError(f"n_shards must be >= 1, got {n_shards}")
        self.n_shards = n_shards
        self.by_wire: dict[bytes, Ukey] = {}
        self.shards = tuple(Shard(i, self.by_wire) for i in range(n_shards))
        # lookup_block's memo: this round's and the last round's answers, by UFID block.
        self._blocks: dict[bytes, list[Ukey | None]] = {}
        self._last_blocks: dict[bytes, list[Ukey | None]] = {}
        # kept_block's memo, rotated the same way.
        self._kept: dict[bytes, KeptBlock] = {}
        self._last_kept: dict[bytes, KeptBlock] = {}

    def shard_of(self, ufid: Any, pmd_id: int | None) -> Shard:
        """The shard a ukey with this identity lives in (OVS: ``hash_2words(ufid.u32[0], pmd_id) % N_UMAPS``)."""
        return self.shards[hash(ident(ufid, pmd_id)) % self.n_shards]

    def lookup(self, ufid: Any, pmd_id: int | None = None) -> Ukey | None:
        """``ukey_lookup``: the ukey for this UFID and PMD, or None; takes no lock."""
        key = ufid if pmd_id is None else (ufid, pmd_id)
        return self.shards[hash(key) % self.n_shards].ukeys.get(key)

    def lookup_wire(self, wire: bytes) -> Ukey | None:
        """``ukey_lookup`` by the 16-byte UFID payload of a dump (no PMD id); takes no lock."""
        return self.by_wire.get(wire)

    def lookup_block(self, ufids: bytes, slices: Sequence[slice]) -> list[Ukey | None]:
        """:meth:`lookup_wire` for every 16-byte UFID of a terse batch's UFID block (``slices`` cut it).

        The answer is remembered for :meth:`remembered_block` in the next rounds.
        """
        got = list(map(self.by_wire.get, map(ufids.__getitem__, slices)))
        self._blocks[ufids] = got
        return got

    def remembered_block(self, ufids: bytes) -> list[Ukey | None] | None:
        """What :meth:`lookup_block` answered for this UFID block in an earlier round (kept for the next), or None.

        A datapath dumps its flows in the same batches round after round
        while its table is stable, so a revalidator can skip a dict lookup per
        flow (each a likely cache miss: the dump follows the datapath's
        order, not the map's). Not checked here: a ukey may have left the map
        since. Every OPERATIONAL ukey is in the map (a ukey leaves it only by
        becoming DELETED: :meth:`Shard.delete`, or replaced over EVICTED) and
        one UFID has at most one ukey there, so a caller that finds every
        ukey of the answer OPERATIONAL, with none of them locked, has the lookups' answer.
        """
        got = self._last_blocks.pop(ufids, None)
        if got is not None:
            self._blocks[ufids] = got
        return got

    def kept_block(self, ufids: bytes) -> KeptBlock | None:
        """The :class:`KeptBlock` recorded for this UFID block in the last round (kept for the next), or None.

        Not checked here: whether the ukeys changed since (compare their
        versions) or the batch did (compare its columns).
        """
        got = self._last_kept.pop(ufids, None)
        if got is not None:
            self._kept[ufids] = got
        return got

    def remember_kept(self, ufids: bytes, kept: KeptBlock) -> None:
        """Record that this UFID block's batch was kept at once (for :meth:`kept_block` in the next round)."""
        self._kept[ufids] = kept

    def start_round(self) -> None:
        """A revalidation round begins: :meth:`lookup_block` and :meth:`kept_block` forget the round before last.

        A round that looked no block up (a full dump) leaves the lookups' memo
        as it was; its ukeys were all written to, so no kept block survives it.
        """
        if self._blocks:
            self._last_blocks, self._blocks = self._blocks, {}
        self._last_kept, self._kept = self._kept, {}

    def install(self, new: Ukey, *, keep_locked: bool = False) -> InstallResult:
        """``ukey_install__``: insert ``new`` (state CREATED) unless its UFID is taken; see the module doc.

        With ``keep_locked`` an installed ukey is returned with its lock held
        (as OVS's ``ukey_acquire`` needs); otherwise it is released.
        """
        key = ident(new.ufid, new.pmd_id)
        shard = self.shards[hash(key) % self.n_shards]
        with shard.lock:
            old = shard.ukeys.get(key)
            if old is None:
                new.lock.acquire()
                shard.ukeys[key] = new
                self._index(new)
                new.transition(UkeyState.VISIBLE)
                result = InstallResult.INSTALLED
            elif old.key != new.key:
                _log.warning(
                    "Conflicting ukey for flows: %s key=%s / %s key=%s",
                    old.ufid,
                    old.key.hex(),
                    new.ufid,
                    new.key.hex(),
                )
                return InstallResult.CONFLICT
            elif not old.lock.acquire(blocking=False):
                return InstallResult.CONTENTION
            else:
                try:
                    if old.state != UkeyState.EVICTED:
                        return InstallResult.DUPLICATE
                    # try_ukey_replace: the old flow was deleted in this dump but its ukey waits for the
                    # sweep; upcalls for the same traffic install the new ukey at once.
                    new.lock.acquire()
                    shard.ukeys[key] = new
                    self._index(new)
                    new.dump_seq = old.dump_seq
                    old.transition(UkeyState.DELETED)
                    new.transition(UkeyState.VISIBLE)
                    result = InstallResult.REPLACED
                finally:
                    old.lock.release()
        if not keep_locked:
            new.lock.release()
        return result

    def _index(self, ukey: Ukey) -> None:
        wire = wire_of(ukey)
        if wire is not None:
            self.by_wire[wire] = ukey

    def __len__(self) -> int:
        return sum(len(s.ukeys) for s in self.shards)

    def __iter__(self) -> Iterator[Ukey]:
        """Every ukey, shard by shard (a snapshot per shard)."""
        for shard in self.shards:
            yield from shard.snapshot()
