"""Revalidators: dump the datapath's flows, revalidate them against the ukey cache, sweep the cache.

Reproduces ``revalidate()``, ``revalidate_ukey()``, ``should_revalidate()``,
``push_dp_ops()``/``push_ukey_ops()`` and ``revalidator_sweep__()`` from
ofproto/ofproto-dpif-upcall.c. The round around them (``udpif_revalidator()``:
barriers, the shared dump, dump_seq, the flow limit) belongs to the udpif; a
revalidator sees its udpif only through
:class:`~reference.udpif._services.UdpifServices`.

Statistics: a ukey remembers the counters it last pushed; every delta
(dumped minus remembered, or a deleted flow's final counters minus
remembered) is credited to the rule in the ukey's ``xcache`` exactly once.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from operator import attrgetter
from typing import cast

from reference.dpif import DelOp, DpifError, DpifFlow, PutFlags, PutOp, TerseBatch
from reference.errors import UfidcertInputError
from reference.uapi import ActionAttr, KeyAttr
from reference.udpif._megaflow import key_fields, mask_has_extra
from reference.udpif._services import UdpifServices
from reference.udpif._ukey_lock import UKEY_LOCKS
from reference.udpif.config import (
    MAX_MISSED_DUMPS,
    N_UMAPS,
    OVER_LIMIT_MAX_IDLE_MS,
    REVALIDATE_MAX_BATCH,
    UINT64_THREE_QUARTERS,
)
from reference.udpif.shared_dump import SharedDump
from reference.udpif.ukey import Ukey, UkeyState
from reference.udpif.umap import KeptBlock, Shard

__all__ = ["RevalResult", "Revalidator", "RoundTally", "UkeyOp"]

_log = logging.getLogger("reference.udpif")
_S = UkeyState


class RevalResult(Enum):
    """``enum reval_result``."""

    KEEP = "keep"
    MODIFY = "modify"
    DELETE = "delete"


@dataclass(slots=True)
class RoundTally:
    """Per-revalidator counts for one round."""

    kept: int = 0
    modified: int = 0
    deleted: int = 0
    swept: int = 0
    kept_at_once: int = 0  # of ``kept``: ukeys kept by the whole-batch path (nothing left for the sweep)


@dataclass(slots=True)
class UkeyOp:
    """``struct ukey_op``: a datapath op plus the ukey it concerns (None for a flow without one)."""

    ukey: Ukey | None
    op: PutOp | DelOp
    key: bytes | None  # the key to translate for stats of a ukey-less delete


# Slices of a terse batch's UFID block, one per flow of a full batch (REVALIDATE_MAX_BATCH flows).
_SLICES = tuple(slice(j, j + 16) for j in range(0, 16 * REVALIDATE_MAX_BATCH, 16))
# Whole-batch reads of ukey fields, each a C-level loop (map over an attrgetter), for the batch fast paths.
_STATE, _REVAL_SEQ, _DUMP_SEQ = (attrgetter(a) for a in ("state", "reval_seq", "dump_seq"))
_N_PACKETS, _N_BYTES, _USED, _CREATED = (attrgetter(a) for a in ("n_packets", "n_bytes", "used", "created"))
_MISSED, _VERSION = attrgetter("missed_dumps"), attrgetter("version")
# ... and writes, through the slots themselves: the whole-batch paths' own writes do not bump a ukey's
# version (Ukey.__setattr__ does), so that a block they kept is recognised as unchanged in the next round.
_SET_USED, _SET_TCP_FLAGS, _SET_DUMP_SEQ = (Ukey.__dict__[a].__set__ for a in ("used", "tcp_flags", "dump_seq"))
# The per-flow loops trylock and unlock ukeys through the lock table directly (no UkeyMutex handle).
try_lock, unlock = UKEY_LOCKS.try_acquire, UKEY_LOCKS.release


def _consume(it: object) -> None:
    deque(it, maxlen=0)  # type: ignore[call-overload]


def _keep_as_before(kept: KeptBlock, batch: TerseBatch, ctx: _Pass) -> bool:
    """Keep a terse batch at once if neither it nor its ukeys changed since a round kept it all at once.

    The ukeys' versions say nobody wrote to them since (no stats pushed,
    no state change, no miss counted, not dumped again); the batch's columns
    equal to those of that round mean the same counts, "used" times and
    flags; with the same ``reval_seq``, a limit that kills nothing and
    ``min_used`` still recent enough, :func:`_keep_unchanged_batch` would
    decide KEEP for every flow and write only ``dump_seq``, which is what
    this does, with one read of each ukey (its version) instead of all its fields.
    """
    if (
        kept.reval_seq != ctx.reval_seq
        or kept.dump_seq == ctx.dump_seq
        or ctx.kill_them_all
        or not ctx.terse
        or kept.min_used < ctx.now - ctx.max_idle
        or batch.n_packets != kept.n_packets
        or batch.n_bytes != kept.n_bytes
        or batch.used_ms != kept.used
        or batch.tcp_flags != kept.tcp_flags
    ):
        return False
    ukeys = kept.ukeys
    n = len(ukeys)
    with UKEY_LOCKS.guard:
        if not UKEY_LOCKS.none_held(ukeys) or list(map(_VERSION, ukeys)) != kept.versions:
            return False
        _consume(map(_SET_DUMP_SEQ, ukeys, repeat(ctx.dump_seq, n)))
    kept.dump_seq = ctx.dump_seq
    ctx.tally.kept += n
    ctx.tally.kept_at_once += n
    return True


def _keep_unchanged_batch(ukeys: list[Ukey | None], batch: TerseBatch, ctx: _Pass) -> KeptBlock | None:
    """Keep a whole terse batch at once if every flow is in ``revalidate_ukey()``'s trivial case.

    That is: each flow has a ukey, OPERATIONAL, not yet seen in this dump,
    never missed by a dump, revalidated under the current ``reval_seq``,
    with the packet and byte counts the ukey last pushed and used recently
    enough (so the sweep will have nothing to do for it either). Then the decision
    is KEEP for all with nothing to push, and only ``used``, ``tcp_flags``
    and ``dump_seq`` change, as the per-flow loop would write them. Every
    test and write is a C-level loop over the batch, under the lock table's
    guard with none of the ukeys locked (as if holding all their mutexes).
    Returns the :class:`KeptBlock` to remember, or None (having changed
    nothing) when any flow needs the per-flow path.
    """
    n = len(ukeys)
    if not ctx.terse or ctx.kill_them_all or None in ukeys:
        return None
    live = cast("list[Ukey]", ukeys)
    dump_seq = ctx.dump_seq
    with UKEY_LOCKS.guard:
        if (
            not UKEY_LOCKS.none_held(live)
            or dump_seq in map(_DUMP_SEQ, live)
            or list(map(_STATE, live)).count(_S.OPERATIONAL) != n
            or list(map(_REVAL_SEQ, live)).count(ctx.reval_seq) != n
            or list(map(_N_PACKETS, live)) != list(batch.n_packets)
            or list(map(_N_BYTES, live)) != list(batch.n_bytes)
            or any(map(_MISSED, live))
        ):
            return None
        # udpif_update_used() without packet growth: the dumped "used", else the ukey's, else its creation.
        used = list(batch.used_ms)
        kept_used: list[int] | None = None
        if 0 in used:
            kept_used = list(map(_USED, live))
            if used.count(0) != n or 0 in kept_used:
                created = list(map(_CREATED, live))
                used = [d or k or c for d, k, c in zip(used, kept_used, created, strict=True)]
            else:
                used = kept_used
        min_used = min(used)
        if min_used < ctx.now - ctx.max_idle:
            return None
        if used is not kept_used:  # (else every ukey keeps the "used" it has)
            _consume(map(_SET_USED, live, used))
        _consume(map(_SET_TCP_FLAGS, live, batch.tcp_flags))
        _consume(map(_SET_DUMP_SEQ, live, repeat(dump_seq, n)))
        versions = list(map(_VERSION, live))
    ctx.tally.kept += n
    ctx.tally.kept_at_once += n
    # The columns are copied: a backend may refill the same buffers in the next dump (as a C datapath
    # refills one array per dpif_flow_dump_next), and a batch must not be compared with itself.
    return KeptBlock(
        live,
        versions,
        batch.n_packets[:],
        batch.n_bytes[:],
        batch.used_ms[:],
        batch.tcp_flags[:],
        dump_seq,
        ctx.reval_seq,
        min_used,
    )


class _Pass:
    """What one ``revalidate()`` call decides with: the sequence numbers, and per batch the clock and limits."""

    __slots__ = ("dump_seq", "kill_them_all", "max_idle", "now", "ops", "reval_seq", "tally", "terse")

    def __init__(self, rev: Revalidator, dump: SharedDump, tally: RoundTally) -> None:
        self.dump_seq = rev.udpif.dump_seq
        self.reval_seq = rev.udpif.rules.reval_seq
        self.terse = dump.terse
        self.tally = tally
        self.kill_them_all = False
        self.max_idle = 0
        self.now = 0
        self.ops: list[UkeyOp] = []


class Revalidator:
    """One revalidator thread's work; revalidator ``index`` sweeps umaps index, index+n, index+2n, ..."""

    def __init__(self, udpif: UdpifServices, index: int) -> None:
        self.udpif = udpif
        self.index = index

    # --- the dump phase -----------------------------------------------------------------

    def revalidate(self, dump: SharedDump, tally: RoundTally) -> None:
        """``revalidate()``: handle batches of up to 50 dumped flows until the dump is exhausted.

        A :class:`~reference.dpif.TerseBatch` is handled on its columns
        (:meth:`_revalidate_columns`); any other batch flow by flow.
        """
        udpif = self.udpif
        config = udpif.config
        flow_limit = udpif.flow_limit.value
        clock = udpif.clock
        ctx = _Pass(self, dump, tally)
        kill_warned = False
        while True:
            flows = dump.next_batch(REVALIDATE_MAX_BATCH)
            if not flows:
                break
            # Above the limit keep flows only 100 ms; above twice the limit delete everything
            # ("kill them all"), reassessed per batch so that it stops once the count is back down.
            n_dp_flows = udpif.n_flows()
            if n_dp_flows >= flow_limit:
                udpif.count("upcall_flow_limit_hit")
            kill_them_all = n_dp_flows > 2 * flow_limit
            if kill_them_all:
                udpif.count("upcall_flow_limit_kill")
                if not kill_warned:
                    kill_warned = True
                    _log.warning(
                        "Number of datapath flows (%d) twice as high as current dynamic flow limit (%d). "
                        "Starting to delete flows unconditionally as an emergency measure.",
                        n_dp_flows,
                        2 * flow_limit,
                    )
            ctx.kill_them_all = kill_them_all
            ctx.max_idle = OVER_LIMIT_MAX_IDLE_MS if n_dp_flows > flow_limit else config.max_idle
            ctx.now = clock.now_ms()
            ops: list[UkeyOp] = []
            ctx.ops = ops
            if type(flows) is TerseBatch:
                self._revalidate_columns(flows, ctx)
            else:
                self._revalidate_records(flows, ctx)
            if ops:
                # Ukeys of deleted flows stay in the umaps until the sweep.
                self.push_dp_ops(ops)

    def _revalidate_records(self, flows: Sequence[DpifFlow], ctx: _Pass) -> None:
        """The per-flow loop of ``revalidate()`` over dumped records."""
        udpif = self.udpif
        lookup = udpif.ukeys.lookup
        dump_seq = ctx.dump_seq
        for flow in flows:
            # ukey_acquire's common case inline: a known UFID whose ukey is free.
            ufid = flow.ufid
            ukey = lookup(ufid) if ufid is not None else None
            if ukey is None:
                ukey = self._acquire(flow, ctx.reval_seq, ctx.now, ctx.ops)
                if ukey is None:
                    continue
            elif not try_lock(ukey):
                udpif.count("upcall_ukey_contention")
                continue
            try:
                if ukey.dump_seq == dump_seq:
                    # Already handled in this dump (a flow can be dumped twice while it moves).
                    udpif.count("dumped_duplicate_flow")
                    continue
                stats = flow.stats
                self._judge(ukey, stats.n_packets, stats.n_bytes, stats.used_ms, stats.tcp_flags, ctx)
            finally:
                unlock(ukey)

    def _revalidate_columns(self, batch: TerseBatch, ctx: _Pass) -> None:
        """The per-flow loop of ``revalidate()`` on a terse batch's columns.

        The common case, a known flow whose ukey is OPERATIONAL, already
        revalidated under the current ``reval_seq``, not idle and without new
        packets, is decided here on the column values: the ukey is looked up
        by the UFID's 16 bytes and updated in place, and no record, stats or
        Ufid object is built. Every other flow goes the way of a record
        (:meth:`_judge`, or :meth:`_acquire` for a flow without a ukey).
        """
        udpif = self.udpif
        n = len(batch)
        ufids = batch.ufids
        slices = _SLICES if n <= len(_SLICES) else tuple(slice(j, j + 16) for j in range(0, 16 * n, 16))
        umap = udpif.ukeys
        # A batch kept at once in the last round, unchanged and with unchanged ukeys, is kept again.
        memo = umap.kept_block(ufids)
        if memo is not None and _keep_as_before(memo, batch, ctx):
            return
        # The ukeys this block had in an earlier round are the lookups' answer if they are all still
        # OPERATIONAL (see UkeyMap.remembered_block), which _keep_unchanged_batch checks under the guard.
        remembered = umap.remembered_block(ufids)
        ukeys = remembered
        if remembered is None or (new_kept := _keep_unchanged_batch(remembered, batch, ctx)) is None:
            ukeys = umap.lookup_block(ufids, slices[:n])
            new_kept = _keep_unchanged_batch(ukeys, batch, ctx) if ukeys != remembered else None
        if new_kept is not None:
            umap.remember_kept(ufids, new_kept)
            return
        assert ukeys is not None
        packets, nbytes, useds, flags = batch.n_packets, batch.n_bytes, batch.used_ms, batch.tcp_flags
        dump_seq, reval_seq, now = ctx.dump_seq, ctx.reval_seq, ctx.now
        idle_before = now - ctx.max_idle
        fast = ctx.terse and not ctx.kill_them_all
        operational = _S.OPERATIONAL
        kept = 0
        i = -1
        for found, n_packets, n_bytes, stats_used, tcp_flags in zip(ukeys, packets, nbytes, useds, flags, strict=True):
            i += 1
            if found is None:
                ukey = self._acquire(batch[i], reval_seq, now, ctx.ops)
                if ukey is None:
                    continue
            elif try_lock(found):
                ukey = found
            else:
                udpif.count("upcall_ukey_contention")
                continue
            if ukey.dump_seq == dump_seq:
                unlock(ukey)
                udpif.count("dumped_duplicate_flow")
                continue
            if fast and ukey.state is operational and ukey.reval_seq == reval_seq and n_packets == ukey.n_packets:
                # The terse "used" inference of udpif_update_used() with no packet growth.
                used = stats_used or ukey.used or ukey.created
                if used >= idle_before and n_bytes == ukey.n_bytes:
                    # revalidate_ukey()'s trivial case: nothing to push, nothing to re-translate.
                    ukey.note_dumped(used, tcp_flags, dump_seq)
                    unlock(ukey)
                    kept += 1
                    continue
            try:
                self._judge(ukey, n_packets, n_bytes, stats_used, tcp_flags, ctx)
            finally:
                unlock(ukey)
        ctx.tally.kept += kept

    def _judge(  # noqa: PLR0917 - the four counters of struct dpif_flow_stats, unpacked
        self, ukey: Ukey, n_packets: int, n_bytes: int, stats_used: int, tcp_flags: int, ctx: _Pass
    ) -> None:
        """The keep/modify/delete decision for one dumped flow whose ukey is locked and not yet seen in this dump."""
        tally = ctx.tally
        state = ukey.state
        if state is _S.INCONSISTENT:
            ukey.dump_seq = ctx.dump_seq
            ctx.ops.append(self._reval_op(RevalResult.DELETE, ukey))
            tally.deleted += 1
            return
        if state is not _S.OPERATIONAL:
            if state < _S.OPERATIONAL:
                ukey.transition(_S.OPERATIONAL)  # the flow is confirmed in the datapath
            else:
                _log.info("Unexpected ukey transition from state %s", state.name)
                return
        now = ctx.now
        used = stats_used
        if not used:
            # udpif_update_used(): a full dump falls back on the creation time; a terse one
            # infers use from packet growth and records that as the flow's "used".
            if not ctx.terse:
                used = ukey.created
            elif n_packets > ukey.n_packets:
                used = stats_used = now
            else:
                used = stats_used = ukey.used or ukey.created
        reval_seq = ctx.reval_seq
        if ctx.kill_them_all or (used and used < now - ctx.max_idle):
            result = RevalResult.DELETE
        elif ukey.reval_seq == reval_seq and n_packets == ukey.n_packets and n_bytes == ukey.n_bytes:
            # revalidate_ukey()'s trivial case: nothing new to push, nothing to re-translate.
            ukey.note_dumped(stats_used, tcp_flags, ctx.dump_seq)
            tally.kept += 1
            return
        else:
            result = self.revalidate_ukey(
                ukey, reval_seq, n_packets=n_packets, n_bytes=n_bytes, used=stats_used, tcp_flags=tcp_flags
            )
        ukey.dump_seq = ctx.dump_seq
        if result is RevalResult.KEEP:
            tally.kept += 1
        else:
            ctx.ops.append(self._reval_op(result, ukey))
            if result is RevalResult.DELETE:
                tally.deleted += 1
            else:
                tally.modified += 1

    def _acquire(self, flow: DpifFlow, reval_seq: int, now: int, ops: list[UkeyOp]) -> Ukey | None:
        """``ukey_acquire``: the flow's ukey, locked; builds one for a flow that has none.

        Returns None when the flow must be skipped (another thread holds its
        ukey) or dropped (then a delete op may have been queued in ``ops``).
        """
        udpif = self.udpif
        ufid = flow.ufid
        if ufid is None:
            if flow.key is None:
                _log.warning("dumped flow has neither UFID nor key; skipped")
                return None
            ufid = udpif.ufid_for_key(flow.key)  # dpif-netlink derives it when the datapath has none
        ukey = udpif.ukeys.lookup(ufid)
        if ukey is not None:
            if try_lock(ukey):
                return ukey
            udpif.count("upcall_ukey_contention")
            return None
        # A datapath flow without a ukey (e.g. left from before a restart): adopt it.
        try:
            ukey = self._ukey_from_flow(flow, ufid, reval_seq, now)
        except DpifError as exc:
            code = exc.errno or errno.EINVAL
            _log.warning("Failed to acquire udpif_key corresponding to unexpected flow (%s): %s", exc, ufid)
            udpif.count("unexpected_flow")
            if code != errno.ENOENT:
                ops.append(self._delete_op_for_flow(flow))
            return None
        if udpif.ukeys.install(ukey, keep_locked=True).installed:
            udpif.count("ukey_adopted")
            return ukey
        udpif.count("upcall_ukey_contention")
        return None

    def _ukey_from_flow(self, flow: DpifFlow, ufid: object, reval_seq: int, now: int) -> Ukey:
        """``ukey_create_from_dpif_flow``: fetch the full flow if the dump was terse; refuse recirculation."""
        udpif = self.udpif
        if flow.key is None or flow.actions is None:
            udpif.count("ukey_flow_get")
            flow = udpif.dpif.flow_get(ufid=flow.ufid if flow.ufid_present else None, key=flow.key)
        if flow.key is None or flow.actions is None:
            raise DpifError("datapath returned a flow without key or actions", errno=errno.EINVAL)
        # Recirculation state does not survive a restart: such flows are deleted instead.
        try:
            fields = key_fields(flow.key)
            actions = key_fields(flow.actions, where="actions")
        except UfidcertInputError as exc:
            raise DpifError(f"malformed flow: {exc}", errno=errno.EINVAL) from exc
        recirc = fields.get(KeyAttr.RECIRC_ID)
        if (recirc is not None and any(recirc)) or ActionAttr.RECIRC in actions:
            raise DpifError("flow uses recirculation", errno=errno.EINVAL)
        return Ukey(
            ufid=ufid,
            ufid_present=flow.ufid_present,
            key=flow.key,
            mask=flow.mask if flow.mask is not None else b"",
            actions=flow.actions,
            reval_seq=reval_seq - 1,  # force a full revalidation
            created=now,
            used=flow.stats.used_ms,
        )

    # --- deciding ----------------------------------------------------------------------

    def should_revalidate(self, ukey: Ukey, packets: int) -> bool:
        """``should_revalidate``: is a full re-translation worth it, or should the flow just go?"""
        config = self.udpif.config
        if not config.min_revalidate_pps:
            return True
        used = ukey.used
        if not used:
            return True  # always revalidate the first time a flow is dumped
        if self.udpif.dump_duration < config.max_revalidator // 2:
            return True
        packets = max(packets, 1)
        now = max(used, self.udpif.clock.now_ms())
        metric = (now - used) // packets
        return metric < 1000 // config.min_revalidate_pps

    def revalidate_ukey(
        self, ukey: Ukey, reval_seq: int, *, n_packets: int, n_bytes: int, used: int, tcp_flags: int
    ) -> RevalResult:
        """``revalidate_ukey``: KEEP, MODIFY or DELETE a flow; pushes its new packets to its rule unless DELETE.

        The caller holds ``ukey.lock``. On MODIFY the new actions are in
        ``ukey.actions`` already.
        """
        udpif = self.udpif
        push_packets = n_packets - ukey.n_packets
        push_bytes = n_bytes - ukey.n_bytes
        if n_packets < ukey.n_packets and ukey.n_packets < UINT64_THREE_QUARTERS:
            udpif.count("ukey_invalid_stat_reset")
            _log.warning("Unexpected jump in packet stats from %d to %d for %s", ukey.n_packets, n_packets, ukey.ufid)
        result = RevalResult.DELETE
        if ukey.reval_seq != reval_seq:
            if self.should_revalidate(ukey, push_packets):
                result = self._revalidate_ukey__(ukey)
            else:
                udpif.count("revalidate_too_expensive")
        elif not push_packets or ukey.xcache is not None or self._populate_xcache(ukey):
            result = RevalResult.KEEP
        if result is not RevalResult.DELETE:
            # Stats of deleted flows are credited when the delete returns their final counters.
            if push_packets and ukey.xcache is not None:
                udpif.rules.credit(ukey.xcache, push_packets, push_bytes, used)
            ukey.set_stats(n_packets, n_bytes, used, tcp_flags)
            ukey.reval_seq = reval_seq
        return result

    def _populate_xcache(self, ukey: Ukey) -> bool:
        try:
            ukey.xcache = self.udpif.rules.translate(ukey.key).rule_id
        except UfidcertInputError:
            return False
        return True

    def _revalidate_ukey__(self, ukey: Ukey) -> RevalResult:
        """Re-translate the cached key; DELETE if the installed mask is now too wide, MODIFY if actions changed."""
        udpif = self.udpif
        try:
            xlated = udpif.rules.translate(ukey.key, megaflows=udpif.enable_megaflows)
        except UfidcertInputError:
            udpif.count("revalidate_xlate_error")
            return RevalResult.DELETE
        ukey.xcache = xlated.rule_id
        if mask_has_extra(ukey.mask, xlated.mask):
            udpif.count("revalidate_flow_wildcarded")
            return RevalResult.DELETE
        if xlated.actions != ukey.actions:
            ukey.actions = xlated.actions
            return RevalResult.MODIFY
        return RevalResult.KEEP

    # --- datapath operations -------------------------------------------------------------

    def _reval_op(self, result: RevalResult, ukey: Ukey) -> UkeyOp:
        """``reval_op_init``: a delete (ukey -> EVICTING) or a modify with the ukey's new actions."""
        ufid = ukey.ufid if ukey.ufid_present else None
        if result is RevalResult.DELETE:
            ukey.transition(_S.EVICTING)
            return UkeyOp(ukey, DelOp(ufid=ufid, key=ukey.key, terse=self.udpif.use_ufid()), ukey.key)
        return UkeyOp(ukey, PutOp(ukey.key, ukey.mask or None, ukey.actions, ufid=ufid, flags=PutFlags.MODIFY), None)

    def _delete_op_for_flow(self, flow: DpifFlow) -> UkeyOp:
        """``delete_op_init__``: delete a dumped flow that has no ukey."""
        ufid = flow.ufid if flow.ufid_present else None
        return UkeyOp(None, DelOp(ufid=ufid, key=flow.key, terse=self.udpif.use_ufid()), flow.key)

    def push_dp_ops(self, ops: list[UkeyOp]) -> None:
        """``push_dp_ops``: one ``operate`` batch; failed deletes -> EVICTED, failed modifies -> INCONSISTENT,
        and every successful delete's remaining packets credited to the ukey's rule."""
        udpif = self.udpif
        results = udpif.dpif.operate([o.op for o in ops])
        for uop, res in zip(ops, results, strict=True):
            ukey = uop.ukey
            is_del = isinstance(uop.op, DelOp)
            if res.error is not None:
                if ukey is not None:
                    with ukey.lock:
                        if is_del:
                            ukey.transition(_S.EVICTED)
                        elif ukey.state == _S.OPERATIONAL:
                            ukey.transition(_S.INCONSISTENT)
                udpif.count("dp_op_error")
                continue
            if not is_del:
                continue
            final = res.stats
            if final is None:
                continue
            rule: int | None = None
            key: bytes | None
            if ukey is not None:
                with ukey.lock:
                    ukey.transition(_S.EVICTED)
                    push_packets = final.n_packets - ukey.n_packets
                    push_bytes = final.n_bytes - ukey.n_bytes
                    used = max(final.used_ms, ukey.used)
                    rule = ukey.xcache
                    key = ukey.key
            else:
                push_packets, push_bytes, used, key = final.n_packets, final.n_bytes, final.used_ms, uop.key
            if not push_packets:
                continue
            if rule is None and key is not None:
                try:
                    rule = udpif.rules.translate(key).rule_id
                except UfidcertInputError:
                    rule = None
            if rule is None:
                udpif.count("xlate_key_failed")
                _log.warning("xlate_key failed: %d packets of a deleted flow not credited", push_packets)
                continue
            udpif.rules.credit(rule, push_packets, push_bytes, used)

    def push_ukey_ops(self, shard: Shard, ops: list[UkeyOp], tally: RoundTally) -> None:
        """``push_ukey_ops``: push the ops, then remove the ukeys of deleted flows from their umap."""
        self.push_dp_ops(ops)
        for uop in ops:
            if isinstance(uop.op, DelOp) and uop.ukey is not None:
                shard.delete(uop.ukey)
                tally.swept += 1

    # --- the sweep ---------------------------------------------------------------------

    def sweep(self, tally: RoundTally, *, purge: bool = False, all_kept_at_once: bool = False) -> None:
        """``revalidator_sweep__``: revisit this revalidator's umaps after the dump.

        Deletes flows of INCONSISTENT ukeys (and all flows when purging),
        revalidates ukeys that were neither dumped nor revalidated in this
        round, deletes those missed by 4 consecutive dumps, and removes
        EVICTED ukeys from the umaps. ``all_kept_at_once``: the udpif found
        that the round's whole-batch path kept every ukey of the map, each
        OPERATIONAL, dumped in this round and never missed, for which the
        sweep would decide KEEP and write nothing: it is skipped (unless purging).
        """
        if all_kept_at_once and not purge:
            return
        udpif = self.udpif
        dump_seq = udpif.dump_seq
        reval_seq = udpif.rules.reval_seq
        n = udpif.config.n_revalidators
        shards = udpif.ukeys.shards
        operational, inconsistent, visible, evicted = _S.OPERATIONAL, _S.INCONSISTENT, _S.VISIBLE, _S.EVICTED
        keep = RevalResult.KEEP
        for i in range(self.index, min(N_UMAPS, len(shards)), n):
            shard = shards[i]
            ops: list[UkeyOp] = []
            ukeys = shard.snapshot()
            if not purge:
                # A ukey dumped and kept in this round, never missed, has nothing to sweep: the decision
                # below would be KEEP with nothing to write. Skipping it on an unlocked read is what a
                # failed trylock does anyway (it is looked at again in the next round). The common case, a
                # whole shard of such ukeys, is recognised with C-level loops before any per-ukey test.
                n_ukeys = len(ukeys)
                if (
                    list(map(_DUMP_SEQ, ukeys)).count(dump_seq) != n_ukeys
                    or list(map(_STATE, ukeys)).count(operational) != n_ukeys
                    or any(map(_MISSED, ukeys))
                ):
                    ukeys = [u for u in ukeys if u.dump_seq != dump_seq or u.state is not operational or u.missed_dumps]
                else:
                    ukeys = []
            for ukey in ukeys:
                # Handlers may hold a ukey lock while installing: never wait for it.
                if not try_lock(ukey):
                    udpif.count("upcall_ukey_contention")
                    continue
                try:
                    state = ukey.state
                    if state is operational or state is inconsistent or (state is visible and purge):
                        if purge or state is inconsistent:
                            result = RevalResult.DELETE
                        elif ukey.dump_seq == dump_seq or ukey.reval_seq == reval_seq:
                            result = keep
                        else:
                            udpif.count("revalidate_missed_dp_flow")
                            result = self.revalidate_ukey(
                                ukey,
                                reval_seq,
                                n_packets=ukey.n_packets,
                                n_bytes=ukey.n_bytes,
                                used=ukey.used,
                                tcp_flags=ukey.tcp_flags,
                            )
                        if ukey.dump_seq != dump_seq:
                            ukey.missed_dumps += 1
                            if ukey.missed_dumps >= MAX_MISSED_DUMPS:
                                # Not dumped for 4 rounds: the datapath flow is assumed gone.
                                udpif.count("revalidate_missing_dp_flow")
                                result = RevalResult.DELETE
                        else:
                            ukey.missed_dumps = 0
                        if result is not keep:
                            ops.append(self._reval_op(result, ukey))
                finally:
                    unlock(ukey)
                if state is evicted:
                    shard.delete(ukey)
                    tally.swept += 1
                if len(ops) == REVALIDATE_MAX_BATCH:
                    self.push_ukey_ops(shard, ops, tally)
                    ops = []
            if ops:
                self.push_ukey_ops(shard, ops, tally)
