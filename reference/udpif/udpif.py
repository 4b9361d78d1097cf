"""The udpif: one datapath's handlers, revalidators, ukey cache and dynamic flow limit.

Reproduces the wiring of ofproto/ofproto-dpif-upcall.c (``struct udpif``,
``udpif_revalidator``'s round structure). Two ways to drive it:

* step by step, deterministic: :meth:`Udpif.handle_upcalls` drains upcalls
  through the handlers, :meth:`Udpif.revalidate` runs one complete round
  (dump, sweep, flow-limit update) with every revalidator in turn;
* threaded: :meth:`Udpif.start` runs ``n_handlers`` handler threads and
  ``n_revalidators`` revalidator threads that meet at barriers like OVS's;
  :meth:`Udpif.stop` joins them and re-raises the first thread failure.

Terse operation (terse dumps and deletes) is used only when the datapath's
UFID support was probed positive and ``enable_ufid`` is on (``udpif_use_ufid``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from reference.dpif import Dpif, flow_count
from reference.errors import UfidcertError
from reference.udpif.clock import Clock, MonotonicClock
from reference.udpif.config import N_FLOWS_CACHE_MS, REVALIDATE_MAX_BATCH, UdpifConfig
from reference.udpif.flow_limit import FlowLimit, LimitDecision
from reference.udpif.handler import Handler
from reference.udpif.revalidator import Revalidator, RoundTally
from reference.udpif.shared_dump import SharedDump
from reference.udpif.umap import UkeyMap
from reference.udpif.xlate import RuleTable
from reference.ufid import Ufid, UfidGenerator

__all__ = ["RoundReport", "SharedDump", "Udpif", "dp_flow_count"]

_log = logging.getLogger("reference.udpif")


def dp_flow_count(dpif: Dpif) -> int | None:
    """The datapath's flow count (``dpif_get_dp_stats().n_flows``), or None if the backend cannot tell.

    The :class:`Dpif` ABC has no statistics call; a backend that can count
    its flows is ``Sized`` (:func:`reference.dpif.flow_count`).
    """
    return flow_count(dpif)


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one revalidation round did (returned by :meth:`Udpif.revalidate`)."""

    dump_seq: int
    terse: bool
    n_flows: int  # datapath flow count sampled when the round started
    n_dumped: int
    duration_ms: int
    limit: LimitDecision
    kept: int
    modified: int
    deleted: int
    swept: int  # ukeys removed from the umaps by the sweep


class Udpif:
    """Handlers, revalidators and the ukey cache over one datapath; see the module doc.

    ``ufid_supported`` is the result of :func:`reference.probe.probe_ufid`;
    pass it explicitly, or leave it None to probe now. ``ufid_generator``
    derives UFIDs from keys where the datapath gives none (dpif-netlink's
    ``odp_flow_key_hash``); inject one with a fixed secret to be reproducible.
    """

    def __init__(
        self,
        dpif: Dpif,
        rules: RuleTable | None = None,
        *,
        config: UdpifConfig | None = None,
        clock: Clock | None = None,
        ufid_supported: bool | None = None,
        ufid_generator: UfidGenerator | None = None,
    ) -> None:
        self.dpif = dpif
        self.rules = rules if rules is not None else RuleTable()
        self.config = config if config is not None else UdpifConfig()
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        if ufid_supported is None:
            from reference.probe import probe_ufid

            ufid_supported = probe_ufid(dpif)
        self.ufid_supported = ufid_supported
        self.enable_ufid = self.config.enable_ufid
        self.enable_megaflows = self.config.enable_megaflows
        self.ufid_generator = ufid_generator if ufid_generator is not None else UfidGenerator()
        self.ukeys = UkeyMap()
        self.flow_limit = FlowLimit(self.config.flow_limit)
        self.dump_seq = 1
        self.dump_duration = 0  # ms, of the last completed round
        self.max_n_flows = 0
        self.avg_n_flows = 0
        self.rounds: list[RoundReport] = []
        self.coverage: Counter[str] = Counter()
        self.errors: list[BaseException] = []
        self._cov_lock = threading.Lock()
        self._n_flows = 0
        self._n_flows_stamp: int | None = None
        self._n_flows_lock = threading.Lock()
        self.handlers = [Handler(self, i) for i in range(self.config.n_handlers)]
        self.revalidators = [Revalidator(self, i) for i in range(self.config.n_revalidators)]
        # Threaded mode.
        self._threads: list[threading.Thread] = []
        self._exit = threading.Event()
        self._wake = threading.Event()
        self._round_done = threading.Condition()
        self._barrier: threading.Barrier | None = None
        self._dump: SharedDump | None = None
        self._round_start = 0
        self._round_n_flows = 0
        self._tallies: list[RoundTally] = []
        self._reval_exit = False
        self.rules.watch(self._wake)

    # --- small shared services ------------------------------------------------------

    def use_ufid(self) -> bool:
        """``udpif_use_ufid``: terse dumps and deletes only when enabled AND the datapath supports UFIDs."""
        return self.enable_ufid and self.ufid_supported

    def ufid_for_key(self, key: bytes) -> Ufid:
        """The UFID userspace derives for a key the datapath reported without one."""
        return self.ufid_generator(key)

    def count(self, name: str, n: int = 1) -> None:
        """Bump a coverage counter (OVS's COVERAGE_INC)."""
        if n:
            with self._cov_lock:
                self.coverage[name] += n

    def n_flows(self) -> int:
        """``udpif_get_n_flows``: the datapath's flow count, re-read at most every 100 ms.

        Falls back to the number of ukeys when the backend cannot count.
        """
        now = self.clock.now_ms()
        stamp = self._n_flows_stamp
        if (stamp is None or stamp < now - N_FLOWS_CACHE_MS) and self._n_flows_lock.acquire(blocking=False):
            try:
                self._n_flows_stamp = now
                count = dp_flow_count(self.dpif)
                self._n_flows = count if count is not None else len(self.ukeys)
            finally:
                self._n_flows_lock.release()
        return self._n_flows

    def refresh_n_flows(self) -> int:
        """Forget the cached flow count and read it again (for step-by-step drivers and tests)."""
        self._n_flows_stamp = None
        return self.n_flows()

    def set_flow_limit(self, limit: int) -> str:
        """``upcall/set-flow-limit N``; returns OVS's reply text."""
        self.flow_limit.set_cap(limit)
        return f"set flow_limit to {limit}"

    def set_ufid(self, enabled: bool) -> str:
        """``upcall/enable-ufid`` / ``upcall/disable-ufid``; returns OVS's reply text."""
        self.enable_ufid = enabled
        if enabled:
            return "Datapath dumping tersely using UFID enabled for supported datapaths"
        return "Datapath dumping tersely using UFID disabled"

    def show(self, name: str = "reference") -> str:
        """``upcall/show`` for this udpif (``name`` stands for ``dpif_name()``), in OVS's layout.

        Revalidator ids are their indexes + 1 (OVS prints thread ids).
        """
        lines = [
            f"{name}:",
            f"  flows         : (current {self.n_flows()}) (avg {self.avg_n_flows}) (max {self.max_n_flows}) "
            f"(limit {self.flow_limit.value})",
            f"  dump duration : {self.dump_duration}ms",
            f"  ufid enabled : {'true' if self.use_ufid() else 'false'}",
            "",
        ]
        n = len(self.revalidators)
        for rev in self.revalidators:
            keys = sum(len(self.ukeys.shards[j].ukeys) for j in range(rev.index, len(self.ukeys.shards), n))
            lines.append(f"  {rev.index + 1}: (keys {keys})")
        return "\n".join(lines) + "\n"

    # --- step-by-step driving -----------------------------------------------------------

    def handle_upcalls(self, *, max_batches: int | None = None) -> int:
        """Let the handlers (in turn) process queued upcalls until none are left; returns how many."""
        total = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            n = 0
            for handler in self.handlers:
                n += handler.handle_batch()
                batches += 1
            total += n
            if n == 0:
                break
        return total

    def revalidate(self, *, purge: bool = False) -> RoundReport:
        """Run one whole revalidation round with every revalidator in turn (no threads); see :class:`RoundReport`."""
        if self._threads:
            raise UfidcertError("revalidator threads are running: use wait_rounds(), or stop() before revalidate()")
        self._begin_round()
        tallies = [RoundTally() for _ in self.revalidators]
        assert self._dump is not None
        for rev, tally in zip(self.revalidators, tallies, strict=True):
            rev.revalidate(self._dump, tally)
        all_kept = self._all_kept_at_once(tallies)
        for rev, tally in zip(self.revalidators, tallies, strict=True):
            rev.sweep(tally, purge=purge, all_kept_at_once=all_kept)
        return self._end_round(tallies)

    def purge(self) -> RoundReport:
        """``revalidator/purge``: a round whose sweep deletes every flow that has a ukey."""
        return self.revalidate(purge=True)

    # --- the round, shared by both modes ----------------------------------------------

    def _begin_round(self, *, background: bool = False) -> None:
        """The leader's part before the barrier: sample the flow count, start the dump."""
        n_flows = self.refresh_n_flows()
        self.max_n_flows = max(n_flows, self.max_n_flows)
        self.avg_n_flows = (self.avg_n_flows + n_flows) // 2
        self._round_n_flows = n_flows
        self._round_start = self.clock.now_ms()
        self.ukeys.start_round()
        terse = self.use_ufid()
        batches = self.dpif.flow_dump_batches(terse=terse, max_flows=REVALIDATE_MAX_BATCH)
        self._dump = SharedDump(iter(batches), terse=terse, background=background)

    def _all_kept_at_once(self, tallies: list[RoundTally]) -> bool:
        """After the dump phase: did the whole-batch path keep every ukey of the map?

        Such ukeys stay in the map until the sweep (no op was queued for them;
        replacement needs an EVICTED ukey) and are distinct (one per dump), so
        if they are as many as the map holds, they are the map.
        """
        kept = sum(t.kept_at_once for t in tallies)
        return kept > 0 and kept == len(self.ukeys)

    def _end_round(self, tallies: list[RoundTally]) -> RoundReport:
        """The leader's part after the last barrier: close the dump, bump dump_seq, adapt the flow limit."""
        dump = self._dump
        assert dump is not None
        dump.close()
        self._dump = None
        seq = self.dump_seq
        self.dump_seq += 1
        duration = max(self.clock.now_ms() - self._round_start, 1)
        self.dump_duration = duration
        decision = self.flow_limit.after_dump(duration, self._round_n_flows)
        if duration > 2000:
            _log.warning("Spent an unreasonably long %dms dumping flows", duration)
        report = RoundReport(
            dump_seq=seq,
            terse=dump.terse,
            n_flows=self._round_n_flows,
            n_dumped=dump.n_dumped,
            duration_ms=duration,
            limit=decision,
            kept=sum(t.kept for t in tallies),
            modified=sum(t.modified for t in tallies),
            deleted=sum(t.deleted for t in tallies),
            swept=sum(t.swept for t in tallies),
        )
        self.rounds.append(report)
        with self._round_done:
            self._round_done.notify_all()
        return report

    # --- threads ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the handler and revalidator threads (call :meth:`stop` to end them)."""
        if self._threads:
            raise UfidcertError("udpif threads already running")
        self._exit.clear()
        self._barrier = threading.Barrier(len(self.revalidators))
        for handler in self.handlers:
            self._spawn(f"handler{handler.index}", handler.run)
        for rev in self.revalidators:
            self._spawn(f"revalidator{rev.index}", functools.partial(self._revalidator_thread, rev))

    def _revalidator_thread(self, rev: Revalidator) -> None:
        """One revalidator thread (``udpif_revalidator``): rounds separated by barriers.

        The udpif owns the round: the leader (index 0) opens it (flow count,
        shared dump) before the first barrier and closes it (dump_seq, flow
        limit) after the last; every revalidator only runs its
        :meth:`~Revalidator.revalidate` and :meth:`~Revalidator.sweep` parts.
        """
        barrier = self._barrier
        assert barrier is not None
        leader = rev.index == 0
        while True:
            if leader:
                self._reval_exit = self.exiting
                if not self._reval_exit:
                    self._begin_round(background=True)
                    self._tallies = [RoundTally() for _ in self.revalidators]
            barrier.wait()
            if self._reval_exit:
                return
            dump = self._dump
            assert dump is not None
            tally = self._tallies[rev.index]
            rev.revalidate(dump, tally)
            barrier.wait()
            rev.sweep(tally, all_kept_at_once=self._all_kept_at_once(self._tallies))
            barrier.wait()
            if leader:
                self._end_round(self._tallies)
                self._leader_wait()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def body() -> None:
            try:
                target()
            except threading.BrokenBarrierError:
                if not self._exit.is_set():
                    raise
            except BaseException as exc:
                with self._cov_lock:
                    self.errors.append(exc)
                self._exit.set()
                self._wake.set()
                if self._barrier is not None:
                    self._barrier.abort()
                _log.exception("udpif thread %s failed", name)

        thread = threading.Thread(target=body, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    @property
    def exiting(self) -> bool:
        return self._exit.is_set()

    def stop(self) -> None:
        """Stop every thread, wait for them, and re-raise the first failure of any thread."""
        self._exit.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=60)
        stuck = [t.name for t in self._threads if t.is_alive()]
        self._threads = []
        self._barrier = None
        if self.errors:
            raise self.errors[0]
        if stuck:
            raise UfidcertError(f"udpif threads did not stop within 60 s: {', '.join(stuck)}")

    def wait_rounds(self, n: int = 1, timeout: float = 60.0) -> None:
        """``revalidator/wait``: block until ``n`` more rounds have completed (threaded mode)."""
        with self._round_done:
            target = len(self.rounds) + n
            self._wake.set()
            ok = self._round_done.wait_for(lambda: len(self.rounds) >= target or self._exit.is_set(), timeout)
        if self.errors:
            raise self.errors[0]
        if not ok:
            raise TimeoutError(f"no revalidation round completed within {timeout} s")

    def kick(self) -> None:
        """Wake the revalidator leader now (as a reval_seq change does)."""
        self._wake.set()

    def _leader_wait(self) -> None:
        """Sleep until start + MIN(max_idle, max_revalidator), or a wake-up (reval_seq change, kick, exit)."""
        period = min(self.config.max_idle, self.config.max_revalidator)
        remaining = self._round_start + period - self.clock.now_ms()
        if remaining > 0:
            self._wake.wait(min(remaining, period) / 1000.0)
        self._wake.clear()

    def __enter__(self) -> Udpif:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._threads:
            return
        if exc is None:
            self.stop()
        else:
            with contextlib.suppress(BaseException):
                self.stop()
