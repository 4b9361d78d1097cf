"""Revalidators: dump the datapath's flows, revalidate them against the ukey cache, sweep the cache.

Reproduces ``revalidate()``, ``revalidate_ukey()``, ``should_revalidate()``,
``push_dp_ops()``/``push_ukey_ops()`` and ``revalidator_sweep__()`` from
ofproto/ofproto-dpif-upcall.c (facts: /work/shared/ovs-ufid-facts.md 7.5-7.8).

Statistics: a ukey remembers the counters it last pushed; every delta
(dumped minus remembered, or a deleted flow's final counters minus
remembered) is credited to the rule in the ukey's ``xcache`` exactly once.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from reference.dpif import DelOp, DpifError, DpifFlow, PutFlags, PutOp
from reference.errors import UfidcertInputError
from reference.uapi import ActionAttr, KeyAttr
from reference.udpif._megaflow import key_fields, mask_has_extra
from reference.udpif.config import (
    MAX_MISSED_DUMPS,
    N_UMAPS,
    OVER_LIMIT_MAX_IDLE_MS,
    REVALIDATE_MAX_BATCH,
    UINT64_THREE_QUARTERS,
)
from reference.udpif.ukey import Ukey, UkeyState
from reference.udpif.umap import Shard

if TYPE_CHECKING:
    from reference.udpif.udpif import SharedDump, Udpif

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


@dataclass(slots=True)
class UkeyOp:
    """``struct ukey_op``: a datapath op plus the ukey it concerns (None for a flow without one)."""

    ukey: Ukey | None
    op: PutOp | DelOp
    key: bytes | None  # the key to translate for stats of a ukey-less delete


class Revalidator:
    """One revalidator thread's work; revalidator ``index`` sweeps umaps index, index+n, index+2n, ..."""

    def __init__(self, udpif: Udpif, index: int) -> None:
        self.udpif = udpif
        self.index = index

    # --- the dump phase -----------------------------------------------------------------

    def revalidate(self, dump: SharedDump, tally: RoundTally) -> None:
        """``revalidate()``: handle batches of up to 50 dumped flows until the dump is exhausted."""
        udpif = self.udpif
        config = udpif.config
        dump_seq = udpif.dump_seq
        reval_seq = udpif.rules.reval_seq
        flow_limit = udpif.flow_limit.value
        terse = dump.terse
        clock = udpif.clock
        lookup = udpif.ukeys.lookup
        operational, inconsistent = _S.OPERATIONAL, _S.INCONSISTENT
        keep, delete = RevalResult.KEEP, RevalResult.DELETE
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
            max_idle = OVER_LIMIT_MAX_IDLE_MS if n_dp_flows > flow_limit else config.max_idle
            now = clock.now_ms()
            ops: list[UkeyOp] = []
            for flow in flows:
                # ukey_acquire's common case inline: a known UFID whose ukey is free.
                ufid = flow.ufid
                ukey = lookup(ufid) if ufid is not None else None
                if ukey is None:
                    ukey = self._acquire(flow, reval_seq, now, ops)
                    if ukey is None:
                        continue
                elif not ukey.lock.acquire(blocking=False):
                    udpif.count("upcall_ukey_contention")
                    continue
                try:
                    if ukey.dump_seq == dump_seq:
                        # Already handled in this dump (a flow can be dumped twice while it moves).
                        udpif.count("dumped_duplicate_flow")
                        continue
                    state = ukey.state
                    if state is inconsistent:
                        ukey.dump_seq = dump_seq
                        ops.append(self._reval_op(delete, ukey))
                        tally.deleted += 1
                        continue
                    if state is not operational:
                        if state < operational:
                            ukey.transition(operational)  # the flow is confirmed in the datapath
                        else:
                            _log.info("Unexpected ukey transition from state %s", state.name)
                            continue
                    stats = flow.stats
                    n_packets = stats.n_packets
                    used = stats_used = stats.used_ms
                    if not used:
                        # udpif_update_used(): a full dump falls back on the creation time; a terse one
                        # infers use from packet growth and records that as the flow's "used".
                        if not terse:
                            used = ukey.created
                        elif n_packets > ukey.n_packets:
                            used = stats_used = now
                        else:
                            used = stats_used = ukey.used or ukey.created
                    if kill_them_all or (used and used < now - max_idle):
                        result = delete
                    elif ukey.reval_seq == reval_seq and n_packets == ukey.n_packets and stats.n_bytes == ukey.n_bytes:
                        # revalidate_ukey()'s trivial case: nothing new to push, nothing to re-translate.
                        ukey.used = stats_used
                        ukey.tcp_flags = stats.tcp_flags
                        result = keep
                    else:
                        result = self.revalidate_ukey(
                            ukey,
                            reval_seq,
                            n_packets=n_packets,
                            n_bytes=stats.n_bytes,
                            used=stats_used,
                            tcp_flags=stats.tcp_flags,
                        )
                    ukey.dump_seq = dump_seq
                    if result is keep:
                        tally.kept += 1
                    else:
                        ops.append(self._reval_op(result, ukey))
                        if result is delete:
                            tally.deleted += 1
                        else:
                            tally.modified += 1
                finally:
                    ukey.lock.release()
            if ops:
                # Ukeys of deleted flows stay in the umaps until the sweep.
                self.push_dp_ops(ops)

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
            if ukey.lock.acquire(blocking=False):
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

    def sweep(self, tally: RoundTally, *, purge: bool = False) -> None:
        """``revalidator_sweep__``: revisit this revalidator's umaps after the dump.

        Deletes flows of INCONSISTENT ukeys (and all flows when purging),
        revalidates ukeys that were neither dumped nor revalidated in this
        round, deletes those missed by 4 consecutive dumps, and removes
        EVICTED ukeys from the umaps.
        """
        udpif = self.udpif
        dump_seq = udpif.dump_seq
        reval_seq = udpif.rules.reval_seq
        n = len(udpif.revalidators)
        shards = udpif.ukeys.shards
        operational, inconsistent, visible, evicted = _S.OPERATIONAL, _S.INCONSISTENT, _S.VISIBLE, _S.EVICTED
        keep = RevalResult.KEEP
        for i in range(self.index, min(N_UMAPS, len(shards)), n):
            shard = shards[i]
            ops: list[UkeyOp] = []
            for ukey in shard.snapshot():
                # Handlers may hold a ukey lock while installing: never wait for it.
                if not ukey.lock.acquire(blocking=False):
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
                    ukey.lock.release()
                if state is evicted:
                    shard.delete(ukey)
                    tally.swept += 1
                if len(ops) == REVALIDATE_MAX_BATCH:
                    self.push_ukey_ops(shard, ops, tally)
                    ops = []
            if ops:
                self.push_ukey_ops(shard, ops, tally)

    # --- thread body -------------------------------------------------------------------

    def run(self) -> None:
        """The revalidator thread (``udpif_revalidator``): rounds separated by barriers, the leader adapts."""
        udpif = self.udpif
        barrier = udpif._barrier
        assert barrier is not None
        leader = self.index == 0
        while True:
            if leader:
                udpif._reval_exit = udpif.exiting
                if not udpif._reval_exit:
                    udpif._begin_round(background=True)
                    udpif._tallies = [RoundTally() for _ in udpif.revalidators]
            barrier.wait()
            if udpif._reval_exit:
                return
            dump = udpif._dump
            assert dump is not None
            tally = udpif._tallies[self.index]
            self.revalidate(dump, tally)
            barrier.wait()
            self.sweep(tally)
            barrier.wait()
            if leader:
                udpif._end_round(udpif._tallies)
                udpif._leader_wait()
