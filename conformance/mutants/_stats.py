"""Statistics mutants: counters, bytes counted, unit and clock of ``used``, tcp_flags, freshness per reply kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from conformance.mutants._mutant import IDLE, KN, KNL, PUSH, REVAL, Hooked, Mutant, fixed
from conformance.mutants._wrapper import ALL_KINDS, Hooks, Kind, do_put, ident
from reference.dpif import Dpif, DpifError, FlowStats, PutOp

__all__ = ["STATS", "ZERO_DELETES"]


def _stats_map(change: Callable[[FlowStats], FlowStats], kinds: Iterable[Kind] = ALL_KINDS) -> Hooks:
    """The statistics of replies of ``kinds`` go through ``change``."""
    of = frozenset(kinds)
    return Hooks(stats=lambda kind, s, flow_ident: change(s) if kind in of else s)


def _used(fn: Callable[[int], int]) -> Callable[[FlowStats], FlowStats]:
    def change(s: FlowStats) -> FlowStats:
        return replace(s, used_ms=fn(s.used_ms)) if s.used_ms else s

    return change


def _on_wall_clock(used_ms: int) -> int:
    # The same instant on CLOCK_REALTIME instead of CLOCK_MONOTONIC.
    return used_ms + time.time_ns() // 1_000_000 - time.monotonic_ns() // 1_000_000


_V = TypeVar("_V")


def _per_flow(
    stats: Callable[[dict[bytes, _V], Kind, FlowStats, bytes], FlowStats],
    put: Callable[[dict[bytes, _V], Dpif, PutOp], FlowStats] | None = None,
) -> Hooked:
    """A mutant that remembers one value per flow (``memo``), forgotten when the flow leaves the table."""

    def make() -> Hooks:
        memo: dict[bytes, _V] = {}

        def forget(flow_ident: bytes | None) -> None:
            if flow_ident is None:
                memo.clear()
            else:
                memo.pop(flow_ident, None)

        return Hooks(
            stats=lambda kind, s, flow_ident: stats(memo, kind, s, flow_ident),
            put=None if put is None else lambda inner, op: put(memo, inner, op),
            forget=forget,
        )

    return Hooked(make)


def _stale_in(stale: Kind) -> Hooked:
    """Replies of ``stale`` kind serve a per-flow snapshot refreshed only by the other reply kinds."""

    def stats(memo: dict[bytes, FlowStats], kind: Kind, s: FlowStats, flow_ident: bytes) -> FlowStats:
        if not flow_ident:
            return s
        if kind == stale:
            return memo.setdefault(flow_ident, s)
        memo[flow_ident] = s
        return s

    return _per_flow(stats)


def _first_used_only(memo: dict[bytes, int], kind: Kind, s: FlowStats, flow_ident: bytes) -> FlowStats:
    """``used`` is the time of the first packet: later packets do not refresh it."""
    if not flow_ident or not s.used_ms:
        return s
    return replace(s, used_ms=memo.setdefault(flow_ident, s.used_ms))


def _read_and_clear(memo: dict[bytes, tuple[int, int]], kind: Kind, s: FlowStats, flow_ident: bytes) -> FlowStats:
    """Counters are read-and-clear (as some offload hardware): each reply reports traffic since the last one."""
    if not flow_ident:
        return s
    p, b = memo.get(flow_ident, (0, 0))
    memo[flow_ident] = (s.n_packets, s.n_bytes)
    return replace(s, n_packets=s.n_packets - p, n_bytes=s.n_bytes - b)


def _install_time(memo: dict[bytes, int], inner: Dpif, op: PutOp) -> FlowStats:
    """``used`` is set when the flow is installed, not when a packet first matches."""
    out = do_put(inner, op)
    try:
        flow_ident = ident(inner.flow_get(ufid=op.ufid, key=op.key))
    except DpifError:
        return out
    memo.setdefault(flow_ident, time.monotonic_ns() // 1_000_000)
    return out


def _used_at_install(memo: dict[bytes, int], kind: Kind, s: FlowStats, flow_ident: bytes) -> FlowStats:
    if s.used_ms or flow_ident not in memo:
        return s
    return replace(s, used_ms=memo[flow_ident])


def _bytes_without_eth(s: FlowStats) -> FlowStats:
    return replace(s, n_bytes=max(0, s.n_bytes - 14 * s.n_packets))


def _tcp_flags_swapped(s: FlowStats) -> FlowStats:
    return replace(s, tcp_flags=((s.tcp_flags & 0xFF) << 8) | (s.tcp_flags >> 8))


_USED_UNITS: tuple[tuple[str, Callable[[int], int], str], ...] = (
    ("seconds", lambda u: max(1, u // 1000), "seconds"),
    ("microseconds", lambda u: u * 1000, "microseconds"),
    ("jiffies-hz250", lambda u: max(1, u // 4), "unconverted jiffies (HZ=250)"),
)
# Each kind of reply but put, with the requirement that killed its stale cache.
_STALE: tuple[tuple[Kind, str], ...] = (
    ("get", "UFID-STATS-002"),
    ("get-terse", "UFID-STATS-007"),
    ("dump", "UFID-STATS-007"),
    ("dump-terse", "UFID-STATS-007"),
    ("del", "UFID-STATS-007"),
    ("del-terse", "UFID-STATS-007"),
)

STATS: tuple[Mutant, ...] = (
    # --- units and clock of used
    *(
        Mutant(
            f"stats-used-in-{label}",
            "stats",
            "all replies",
            f"used is reported in {why} instead of milliseconds",
            f"{IDLE}: a wrong unit makes active flows look idle (or idle ones active) and "
            "lib/dpif-netlink.c passes OVS_FLOW_ATTR_USED through unconverted",
            fixed(_stats_map(_used(fn))),
            KNL,
            ("UFID-STATS-005",),
        )
        for label, fn, why in _USED_UNITS
    ),
    Mutant(
        "stats-used-wall-clock",
        "stats",
        "all replies",
        "used is taken from the wall clock instead of the monotonic clock",
        f"{IDLE}: time_msec() is CLOCK_MONOTONIC (lib/timeval.c); wall-clock used values are always in the "
        "future, so flows never expire",
        fixed(_stats_map(_used(_on_wall_clock))),
        KNL,
        ("UFID-STATS-006",),
    ),
    Mutant(
        "stats-used-first-packet-only",
        "stats",
        "all replies",
        "used is the time of the first packet; later packets do not refresh it",
        f"{IDLE}: a busy flow looks idle max_idle after its first packet and is deleted",
        _per_flow(_first_used_only),
        KNL,
        ("UFID-STATS-005",),
    ),
    Mutant(
        "stats-used-at-install",
        "stats",
        "all replies",
        "used is set when the flow is installed, before any packet",
        f"{IDLE} uses ukey->created when used is 0; a non-zero used on an unused flow hides that it never "
        "matched (ofproto-dpif-upcall.c udpif_flow_dump 'used:never')",
        _per_flow(_used_at_install, put=_install_time),
        KNL,
        ("UFID-STATS-002",),
    ),
    # --- counters
    Mutant(
        "stats-bytes-without-ethernet-header",
        "stats",
        "all replies",
        "n_bytes counts from the L3 header (14 bytes less per packet)",
        "ofproto/ofproto-dpif-upcall.c xlate_push_stats credits n_bytes to OpenFlow rules: byte counters "
        "and meters see less than the frames (net/openvswitch/flow.c ovs_flow_stats_update counts skb->len)",
        fixed(_stats_map(_bytes_without_eth)),
        KNL,
        ("UFID-DEL-002",),
    ),
    Mutant(
        "stats-bytes-with-fcs",
        "stats",
        "all replies",
        "n_bytes adds a 4-byte FCS per packet",
        "OpenFlow byte counters would exceed the bytes forwarded (net/openvswitch/flow.c ovs_flow_stats_update "
        "counts skb->len)",
        fixed(_stats_map(lambda s: replace(s, n_bytes=s.n_bytes + 4 * s.n_packets))),
        KNL,
        ("UFID-DEL-002",),
    ),
    Mutant(
        "stats-packets-doubled",
        "stats",
        "all replies",
        "every packet is counted twice",
        f"{PUSH}: OpenFlow packet counters double",
        fixed(_stats_map(lambda s: replace(s, n_packets=2 * s.n_packets))),
        KNL,
        ("UFID-DEL-002",),
    ),
    Mutant(
        "stats-read-and-clear",
        "stats",
        "all replies",
        "counters are read-and-clear: each reply reports only the traffic since the previous reply",
        f"{PUSH} subtracts the last seen cumulative stats; deltas make it push nothing (clamped) or lose traffic",
        _per_flow(_read_and_clear),
        KNL,
        ("UFID-DUMP-006",),
    ),
    Mutant(
        "stats-tcp-flags-never",
        "stats",
        "all replies",
        "tcp_flags is always 0",
        "ofproto/ofproto-dpif-xlate.c xlate_fin_timeout shortens idle timeouts on FIN/RST from "
        "stats->tcp_flags; NetFlow reports them",
        fixed(_stats_map(lambda s: replace(s, tcp_flags=0))),
        KNL,
        ("UFID-STATS-003",),
    ),
    Mutant(
        "stats-tcp-flags-byte-swapped",
        "stats",
        "all replies",
        "tcp_flags is reported with its two bytes swapped (be16 read as host order)",
        "ofproto/ofproto-dpif-xlate.c xlate_fin_timeout tests TCP_FIN|TCP_RST in the low byte; "
        "lib/dpif-netlink.c takes OVS_FLOW_ATTR_TCP_FLAGS as network order",
        fixed(_stats_map(_tcp_flags_swapped)),
        KNL,
        ("UFID-STATS-003",),
    ),
    # --- freshness per reply kind
    *(
        Mutant(
            f"stats-stale-in-{kind}",
            "stats",
            "flow_get" if kind.startswith("get") else "flow_dump" if kind.startswith("dump") else "flow_del",
            f"{kind} replies serve a per-flow statistics snapshot refreshed only by the other kinds of reply",
            f"{REVAL} reads stats from (terse) dumps, revalidator_sweep and push_dp_ops from deletes, "
            "dpif_flow_get for single flows: whichever kind is stale, that traffic is never pushed or the flow "
            "looks idle",
            _stale_in(kind),
            KNL if "terse" not in kind else KN,
            (killer,),
        )
        for kind, killer in _STALE
    ),
)

# Deletes, terse or not, that report zero statistics.
ZERO_DELETES: tuple[Mutant, ...] = (
    Mutant(
        "terse-del-returns-zero",
        "terse",
        "flow_del",
        "terse deletes return zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops credits the final stats of (terse) deletes",
        fixed(_stats_map(lambda s: FlowStats(), ("del-terse",))),
        KN,
        ("UFID-TERSE-004",),
    ),
    Mutant(
        "del-returns-zero",
        "stats",
        "flow_del",
        "deletes return zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops credits a deleted flow's final stats",
        fixed(_stats_map(lambda s: FlowStats(), ("del",))),
        KNL,
        ("UFID-DEL-002",),
    ),
)
