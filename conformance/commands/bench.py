"""``ufidcert bench``: the UFID series' headline results, reproduced over the reference datapath.

Three measurements in one run, side by side:

* **revalidation**: flows are installed through the handlers (one packet
  each, megaflows off so every packet makes its own flow, as in the OVS
  measurement of docs/performance.md), then whole revalidation rounds are
  timed in alternating terse/full blocks at 1/16, 1/4 and all of ``--flows``;
  the figure is the median round at ``--flows``, ratio = terse/full.
* **churn**: how many short-lived flows the dynamic flow limit lets the
  system keep, terse vs full. A simulation of ``udpif_revalidator``'s
  schedule and limit (the real :class:`~reference.udpif.FlowLimit`) in
  virtual time, where each round lasts what the measured rounds say a round
  over that many flows costs (linear fit per mode); see :func:`simulate_churn`.
* **memory** per ukey at 200,000 ukeys (tracemalloc) against the netlink
  bytes of key + mask + actions.

``--backend netdev`` measures something else for the first figure: the REAL
ovs-vswitchd's own revalidator rounds, terse vs full (see
:func:`measure_ovs_revalidation`); churn is then not measured.

``--compare netdev`` runs both in one go: the real revalidator first, then
the reference at the flow count ovs-vswitchd installed, and reports
ours/OVS for terse and full rounds and resident memory per flow (the
``compare`` object of the JSON; :func:`compare`).

``--json`` prints one JSON object; ``--plot PATH`` writes an SVG (churn:
flows and limit over time for both modes; revalidation: round time against
flows). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from conformance.commands._bench_churn import ChurnResult, CostModel, downsample, simulate_churn
from conformance.commands._bench_common import Progress, frame_for, per_flow, rss_bytes
from conformance.commands._bench_ovs import OVS_CHURN_NOTE, measure_ovs_revalidation
from conformance.commands._bench_plot import write_svg
from conformance.errors import ConformanceError, UsageError
from reference._netlink import pack_attr
from reference.datapath import ReferenceDatapath
from reference.dpif import Dpif
from reference.uapi import ActionAttr
from reference.udpif import MonotonicClock, RuleTable, Ukey, UkeyMap
from reference.udpif.config import (
    UdpifConfig,
)
from reference.udpif.udpif import Udpif
from reference.ufid import UfidGenerator

__all__ = [
    "ChurnResult",
    "compare",
    "CostModel",
    "Progress",
    "frame_for",
    "measure_memory",
    "measure_ovs_revalidation",
    "measure_revalidation",
    "register",
    "rss_bytes",
    "run",
    "run_bench",
    "simulate_churn",
]

DEFAULT_FLOWS = 160_000
MEMORY_UKEYS = 200_000


# --- revalidation cost ------------------------------------------------------------------------


def _checkpoints(flows: int) -> list[int]:
    points = sorted({max(1, flows // 16), max(1, flows // 4), flows})
    return points


def _open_datapath(backend: str | None, options: dict[str, str], clock: MonotonicClock) -> tuple[Dpif, str]:
    if backend is None:
        dp = ReferenceDatapath(clock=clock.now_ms, max_upcalls=1 << 30)
        return dp, "reference (kernel semantics, in process)"
    from conformance.registry import open_backend

    dpif = open_backend(backend, options)
    if not dpif.features.packet_io:
        dpif.close()
        raise UsageError(f"backend {backend!r} has no packet I/O: the bench installs flows through upcalls")
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return dpif, backend + (f" ({opts})" if opts else "")


def measure_revalidation(
    flows: int = DEFAULT_FLOWS,
    *,
    rounds: int = 3,
    backend: str | None = None,
    options: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Install ``flows`` flows through the handlers and time revalidation rounds, terse vs full.

    ``backend`` is a registry name or ``python:MODULE:FACTORY`` (default:
    the reference datapath, kernel semantics); it needs packet I/O.
    Returns ``{"flows", "terse_ms", "full_ms", "ratio", "points": [...],
    "handler_flows_per_s", ...}``; each point holds the median of ``rounds``
    rounds per mode, measured in alternating blocks.
    """
    if flows < 1:
        raise UsageError(f"--flows must be >= 1, got {flows}")
    prog = progress if progress is not None else Progress(enabled=False)
    clock = MonotonicClock()
    dp, label = _open_datapath(backend, dict(options or {}), clock)
    try:
        return _measure(dp, label, flows, rounds=rounds, clock=clock, prog=prog)
    finally:
        dp.close()


def _measure(dp: Dpif, label: str, flows: int, *, rounds: int, clock: MonotonicClock, prog: Progress) -> dict[str, Any]:
    p_in, p_out = dp.port_add("in"), dp.port_add("out")
    rules = RuleTable()
    rules.add(10, [], pack_attr(ActionAttr.OUTPUT, struct.pack("=I", p_out)))
    # As in the OVS measurement: flow limit raised above the flow count, flows never idle out.
    config = UdpifConfig(flow_limit=max(2 * flows, 1000), max_idle=3_600_000, enable_megaflows=False)
    udpif = Udpif(dp, rules, config=config, clock=clock, ufid_generator=UfidGenerator())
    if not udpif.ufid_supported:
        raise UsageError("the datapath does not support UFIDs (probe failed): terse rounds cannot be measured")
    udpif.flow_limit.reset(config.flow_limit)
    points: list[dict[str, Any]] = []
    installed = 0
    handler_s = 0.0
    gc.collect()
    rss_before = rss_bytes()
    rss_after: int | None = None

    def install(upto: int) -> float:
        """Send one new frame per flow up to ``upto`` flows and let the handlers install them; handler seconds."""
        nonlocal installed
        spent = 0.0
        while installed < upto:
            chunk = min(1024, upto - installed)
            for i in range(installed, installed + chunk):
                dp.inject(p_in, frame_for(i))
            udpif.flow_limit.reset(config.flow_limit)
            t0 = time.perf_counter()
            udpif.handle_upcalls()
            spent += time.perf_counter() - t0
            if isinstance(dp, ReferenceDatapath):
                # The frames the handlers' executes sent out of port "out": a real datapath transmits
                # them; the reference keeps them for take_output(), which would count them as memory.
                dp.take_output()
            installed += chunk
            prog.update("installing flows through the handlers", installed, upto)
        if len(udpif.ukeys) != upto:
            raise ConformanceError(f"{len(udpif.ukeys)} flows installed for {upto} packets (upcalls lost?)")
        return spent

    def timed_round(terse: bool, expect: int) -> float:
        udpif.enable_ufid = terse
        # Pin the dynamic limit above the flow count: a slow (full) round would otherwise shrink it
        # below the table size and the next round would start deleting the flows being measured.
        udpif.flow_limit.reset(config.flow_limit)
        # The cyclic GC is paused while a round is timed (and run just before): a full collection
        # over the million objects of a big table would land in a random round and swamp it.
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            report = udpif.revalidate()
            ms = (time.perf_counter() - t0) * 1000.0
        finally:
            gc.enable()
            udpif.enable_ufid = True
        if report.n_dumped != expect or report.deleted:
            raise ConformanceError(f"revalidation round dumped {report.n_dumped}/{expect}, deleted {report.deleted}")
        return ms

    for target in _checkpoints(flows):
        handler_s += install(target)
        if target == flows:
            rss_after = rss_bytes()  # every flow installed, before the rounds' transient garbage
        udpif.flow_limit.reset(config.flow_limit)
        udpif.revalidate()  # warm-up: every ukey seen once
        times: dict[bool, list[float]] = {True: [], False: []}
        for r in range(rounds):
            for terse in (True, False) if r % 2 == 0 else (False, True):
                times[terse].append(timed_round(terse, target))
            prog.update(f"timing rounds at {target} flows", r + 1, rounds, force=not prog.tty)
        terse_ms, full_ms = statistics.median(times[True]), statistics.median(times[False])
        points.append(
            {
                "flows": target,
                "terse_ms": round(terse_ms, 3),
                "full_ms": round(full_ms, 3),
                "ratio": round(terse_ms / full_ms, 3),
                "terse_rounds_ms": [round(t, 3) for t in times[True]],
                "full_rounds_ms": [round(t, 3) for t in times[False]],
            }
        )
    # Churn brings flows a round sees for the first time: their ukeys go VISIBLE -> OPERATIONAL through
    # the per-flow path, and a full dump renders their key and mask for the first time. One round per
    # mode over the table plus a tenth of new flows measures it (full first: its new flows are then
    # old to the terse round, which gets a tenth of its own).
    new = max(1, flows // 10)
    first_sight: dict[str, dict[str, Any]] = {}
    for mode, terse in (("full", False), ("terse", True)):
        install(installed + new)
        first_sight[mode] = {"flows": installed, "new": new, "ms": round(timed_round(terse, installed), 3)}
    prog.done(f"revalidation measured at {', '.join(str(p['flows']) for p in points)} flows")
    last = points[-1]
    return {
        "flows": last["flows"],
        "terse_ms": last["terse_ms"],
        "full_ms": last["full_ms"],
        "ratio": last["ratio"],
        "target_ratio": 0.60,
        "target_terse_ms": 150,
        "datapath": label,
        "rounds_per_mode": rounds,
        "points": points,
        "first_sight": first_sight,
        "handler_flows_per_s": round(flows / handler_s) if handler_s else None,
        # Resident memory growth of this process while the flows were installed (datapath entries, ukeys,
        # and whatever the interpreter keeps): the same measure as the OVS figure of --compare netdev.
        "rss_bytes_per_flow": per_flow(rss_before, rss_after, flows),
    }


def _run_ovs(args: argparse.Namespace, options: dict[str, str], prog: Progress) -> dict[str, Any]:
    if options:
        raise UsageError("--backend netdev takes no --option: the bridge recipe is fixed")
    if args.plot:
        raise UsageError("--plot needs the churn series, which --backend netdev does not measure")
    started = time.time()
    reval = measure_ovs_revalidation(args.flows, blocks=args.rounds, progress=prog)
    memory = measure_memory(args.ukeys, progress=prog)
    return {
        "machine": _machine(),
        "revalidation": reval,
        "churn": {"measured": False, "note": OVS_CHURN_NOTE},
        "memory": memory,
        "elapsed_s": round(time.time() - started, 1),
    }


def _format_ovs_text(result: dict[str, Any]) -> str:
    r = result["revalidation"]
    m = result["memory"]
    mach = result["machine"]
    n = r["blocks_per_mode"] * r["samples_per_block"]
    return "\n".join(
        [
            f"machine: {mach['processor']}, {mach['cpus']} CPUs, Python {mach['python']} ({mach['platform']})",
            "",
            f"revalidation round of {r['datapath']}",
            f"  source: {r['source']}, median of {n} rounds per mode in {r['blocks_per_mode']} alternating blocks",
            f"  {'flows':>8}  {'terse ms':>9}  {'full ms':>9}  {'terse/full':>10}",
            f"  {r['flows']:>8}  {r['terse_ms']:>9.1f}  {r['full_ms']:>9.1f}  {r['ratio']:>10.3f}",
            f"  ({r['requested_flows']} packets sent at {r['packets_per_s']}/s; datapath lookups "
            f"{r['datapath_lookups'] or 'unknown'}; dump duration has 1 ms resolution)",
            "",
            f"churn: {OVS_CHURN_NOTE}",
            "",
            f"memory (reference udpif, not ovs-vswitchd): {m['bytes_per_ukey']} bytes per ukey at {m['ukeys']} "
            f"ukeys, netlink key+mask+actions {m['netlink_bytes_per_ukey']} bytes (x{m['ratio']})",
        ]
    )


# --- memory --------------------------------------------------------------------------------


def measure_memory(n: int = MEMORY_UKEYS, *, progress: Progress | None = None) -> dict[str, Any]:
    """Bytes per ukey (tracemalloc) for ``n`` ukeys in a :class:`UkeyMap`, vs their netlink bytes.

    Each ukey is made as a handler makes it: its own key (a real extracted
    key, one byte varied), the mask and actions its translation returns
    (megaflows off; translations of flows of one shape share those objects).
    """
    prog = progress if progress is not None else Progress(enabled=False)
    dp = ReferenceDatapath(max_upcalls=16)
    port = dp.port_add("in")
    dp.inject(port, frame_for(0))
    (up,) = dp.recv_upcalls()
    template = up.key
    rules = RuleTable()
    rules.add(10, [], pack_attr(ActionAttr.OUTPUT, struct.pack("=I", 2)))
    gen = UfidGenerator(1)
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    umap = UkeyMap()
    netlink = 0
    for i in range(n):
        key = template[:-1] + bytes([i & 0xFF])
        xl = rules.translate(key, megaflows=False)
        ukey = Ukey(
            ufid=gen(key + i.to_bytes(4, "little")),
            key=key,
            mask=xl.mask,
            actions=xl.actions,
            reval_seq=xl.reval_seq,
            created=1,
            xcache=xl.rule_id,
        )
        umap.install(ukey)
        netlink += len(key) + len(xl.mask) + len(xl.actions)
        if i % 8192 == 0:
            prog.update("allocating ukeys under tracemalloc", i, n)
    gc.collect()
    used, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    prog.done(f"memory measured with {n} ukeys")
    per = (used - base) / n
    del umap
    return {
        "ukeys": n,
        "bytes_per_ukey": round(per),
        "netlink_bytes_per_ukey": round(netlink / n),
        "ratio": round(per / (netlink / n), 2),
        "what": (
            "Ukey object (its mutex is an entry of the lock table only while held), its Match (key payloads), "
            "Ufid, umap entry; "
            "key framing, masks and actions shared per flow shape"
        ),
    }


# --- the whole run ------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_bench(
    *,
    flows: int = DEFAULT_FLOWS,
    rounds: int = 3,
    ukeys: int = MEMORY_UKEYS,
    churn_seconds: float = 300.0,
    backend: str | None = None,
    options: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, ChurnResult]]:
    """Run all three measurements; returns the JSON-ready result and the churn time series."""
    prog = progress if progress is not None else Progress(enabled=False)
    started = time.time()
    reval = measure_revalidation(flows, rounds=rounds, backend=backend, options=options, progress=prog)
    models = {
        mode: CostModel.fit([(p["flows"], p[f"{mode}_ms"]) for p in reval["points"]]).with_first_sight(
            reval["first_sight"][mode]["flows"], reval["first_sight"][mode]["new"], reval["first_sight"][mode]["ms"]
        )
        for mode in ("terse", "full")
    }
    prog.update("simulating churn", force=True)
    churn = {mode: simulate_churn(models[mode], mode=mode, seconds=churn_seconds) for mode in ("terse", "full")}
    prog.done("churn simulated")
    memory = measure_memory(ukeys, progress=prog)
    terse, full = churn["terse"], churn["full"]
    result: dict[str, Any] = {
        "machine": _machine(),
        "revalidation": reval,
        "churn": {
            "terse_flows": terse.sustained_flows,
            "full_flows": full.sustained_flows,
            "ratio": round(terse.sustained_flows / max(full.sustained_flows, 1), 3),
            "target_ratio": 1.4,
            "method": "simulation of the revalidator schedule and dynamic flow limit, round cost = linear fit "
            "of the measured rounds, flows new to a round at the cost measured for a round with new flows",
            "model": {
                mode: {
                    "base_ms": round(m.base_ms, 2),
                    "per_flow_us": round(m.per_flow_us, 3),
                    "first_sight_us": round(m.first_sight_us or 0.0, 3),
                }
                for mode, m in models.items()
            },
            "seconds": churn_seconds,
            "arrival_per_s": 40_000,
            "series": {mode: downsample(r) for mode, r in churn.items()},
        },
        "memory": memory,
        "elapsed_s": round(time.time() - started, 1),
    }
    return result, churn


def _format_text(result: dict[str, Any]) -> str:
    r = result["revalidation"]
    c = result["churn"]
    m = result["memory"]
    mach = result["machine"]
    lines = [
        f"machine: {mach['processor']}, {mach['cpus']} CPUs, Python {mach['python']} ({mach['platform']})",
        "",
        f"revalidation round over {r['datapath']} (median of {r['rounds_per_mode']} per mode):",
        f"  {'flows':>8}  {'terse ms':>9}  {'full ms':>9}  {'terse/full':>10}",
    ]
    for p in r["points"]:
        lines.append(f"  {p['flows']:>8}  {p['terse_ms']:>9.1f}  {p['full_ms']:>9.1f}  {p['ratio']:>10.3f}")
    verdict = "met" if r["ratio"] <= r["target_ratio"] else "NOT met"
    t_verdict = "met" if r["terse_ms"] <= r["target_terse_ms"] else "NOT met"
    if r["flows"] < DEFAULT_FLOWS:
        t_verdict += f" (the target is for {DEFAULT_FLOWS} flows)"
    lines += [
        f"  ratio target <= {r['target_ratio']}: {verdict}; terse round <= {r['target_terse_ms']} ms: {t_verdict}",
        f"  handlers installed {r['handler_flows_per_s']} flows/s",
        "",
        f"flows sustained under churn ({c['seconds']:.0f} s simulated, round cost fitted from the rounds above,"
        " flows new to a round at their first-sight cost):",
        f"  terse {c['terse_flows']}, full {c['full_flows']}, ratio {c['ratio']:.3f} "
        f"(target >= {c['target_ratio']}: {'met' if c['ratio'] >= c['target_ratio'] else 'NOT met'})",
        "",
        f"memory: {m['bytes_per_ukey']} bytes per ukey at {m['ukeys']} ukeys, "
        f"netlink key+mask+actions {m['netlink_bytes_per_ukey']} bytes (x{m['ratio']})",
    ]
    if result.get("compare"):
        lines += ["", *_format_compare(result["compare"], result["ovs"])]
    if result.get("plot"):
        lines += ["", f"plot written to {result['plot']}"]
    return "\n".join(lines)


# --- the reference against ovs-vswitchd ---------------------------------------------------------

COMPARE_TARGETS = {"ratio_terse": 1.0, "ratio_memory": 1.0}


def compare(ours: dict[str, Any], ovs: dict[str, Any]) -> dict[str, Any]:
    """Ours/OVS for the terse and full rounds (and resident memory per flow) of two measurements at one flow count.

    ``ours`` is :func:`measure_revalidation`'s result, ``ovs``
    :func:`measure_ovs_revalidation`'s; ratios above 1 mean ours is slower
    (or bigger).
    """

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else round(a / b, 3)

    ours_mem, ovs_mem = ours.get("rss_bytes_per_flow"), ovs.get("rss_bytes_per_flow")
    return {
        "flows": ours["flows"],
        "ovs_flows": ovs["flows"],
        "ours_terse_ms": ours["terse_ms"],
        "ovs_terse_ms": ovs["terse_ms"],
        "ratio_terse": ratio(ours["terse_ms"], ovs["terse_ms"]),
        "ours_full_ms": ours["full_ms"],
        "ovs_full_ms": ovs["full_ms"],
        "ratio_full": ratio(ours["full_ms"], ovs["full_ms"]),
        "ours_terse_full": ours["ratio"],
        "ovs_terse_full": ovs["ratio"],
        "ours_bytes_per_flow": ours_mem,
        "ovs_bytes_per_flow": ovs_mem,
        "ratio_memory": ratio(ours_mem, ovs_mem),
        "memory_method": "resident memory (VmRSS) growth of each process while its flows were installed",
        "targets": COMPARE_TARGETS,
    }


def _format_compare(c: dict[str, Any], ovs: dict[str, Any]) -> list[str]:
    def verdict(key: str) -> str:
        v = c[key]
        return "unknown" if v is None else ("met" if v <= COMPARE_TARGETS[key] else "NOT met")

    n = ovs["blocks_per_mode"] * ovs["samples_per_block"]
    return [
        f"against {ovs['source']} at {c['flows']} flows ({n} rounds per mode; 1 ms resolution):",
        f"  {'':>6}  {'ours ms':>9}  {'OVS ms':>9}  {'ours/OVS':>9}",
        f"  {'terse':>6}  {c['ours_terse_ms']:>9.1f}  {c['ovs_terse_ms']:>9.1f}  {c['ratio_terse']:>9.3f}"
        f"  (target <= {COMPARE_TARGETS['ratio_terse']}: {verdict('ratio_terse')})",
        f"  {'full':>6}  {c['ours_full_ms']:>9.1f}  {c['ovs_full_ms']:>9.1f}  {c['ratio_full']:>9.3f}",
        f"  terse/full: ours {c['ours_terse_full']:.3f}, OVS {c['ovs_terse_full']:.3f}",
        f"  resident memory per flow: ours {c['ours_bytes_per_flow']} bytes, OVS {c['ovs_bytes_per_flow']} bytes"
        f" (target: below OVS: {verdict('ratio_memory')})",
    ]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="revalidation cost, flows kept under churn and memory per ukey, terse vs full dumps",
        description="Reproduce the UFID series' results over the reference datapath: revalidation round time "
        "(terse vs full dumps), flows sustained under churn with the dynamic flow limit, memory per ukey.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument(
        "--flows", type=int, default=DEFAULT_FLOWS, metavar="N", help=f"flows to revalidate (default {DEFAULT_FLOWS})"
    )
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="timed rounds per mode (default 3)")
    parser.add_argument(
        "--ukeys", type=int, default=MEMORY_UKEYS, metavar="N", help=f"ukeys for the memory figure ({MEMORY_UKEYS})"
    )
    parser.add_argument("--plot", metavar="PATH", help="write an SVG plot of the churn and revalidation results")
    parser.add_argument(
        "--backend",
        metavar="SPEC",
        help="revalidate over this backend (registry name or python:MODULE:FACTORY; needs packet I/O) "
        "instead of the in-process reference datapath; 'netdev' times the real ovs-vswitchd's own revalidator "
        "(terse vs full dumps; --rounds = alternating blocks per mode; no churn figure)",
    )
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, repeatable (e.g. -o semantics=netdev)",
    )
    parser.add_argument(
        "--compare",
        choices=["netdev"],
        help="also time the real ovs-vswitchd's revalidator (as --backend netdev) in the same run, then the "
        "reference at the flow count ovs-vswitchd installed, and report ours/OVS for terse and full rounds and "
        "memory per flow",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, write: Callable[[str], object] | None = None) -> int:
    for name in ("flows", "rounds", "ukeys"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    out = write if write is not None else sys.stdout.write
    options: dict[str, str] = {}
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--option expects KEY=VALUE, got {item!r}")
        options[name] = value
    if options and not args.backend:
        raise UsageError("--option needs --backend")
    if args.plot:
        # Fail before minutes of measuring, not after.
        try:
            with open(args.plot, "w", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot write the plot to {args.plot!r}: {exc.strerror or exc}") from exc
    prog = Progress(enabled=not args.quiet)
    if getattr(args, "compare", None) is not None and (args.backend or options):
        raise UsageError("--compare runs the reference datapath itself: no --backend or --option")
    if args.backend == "netdev":
        # The real daemon's own revalidator, not our udpif over dpctl (which cannot give upcalls or terse dumps).
        result = _run_ovs(args, options, prog)
        out(json.dumps(result, indent=2) + "\n" if args.json else _format_ovs_text(result) + "\n")
        return 0
    # Slow full rounds make the revalidator warn ("Spent an unreasonably long ...ms dumping flows"); that is
    # the point of the measurement, not news for the reader of the report.
    udpif_log = logging.getLogger("reference.udpif")
    level = udpif_log.level
    udpif_log.setLevel(logging.ERROR)
    try:
        ovs: dict[str, Any] | None = None
        flows = args.flows
        if getattr(args, "compare", None) == "netdev":
            # OVS first: ours then runs at the flow count ovs-vswitchd actually installed.
            ovs = measure_ovs_revalidation(args.flows, blocks=args.rounds, progress=prog)
            flows = ovs["flows"]
        result, churn = run_bench(
            flows=flows,
            rounds=args.rounds,
            ukeys=args.ukeys,
            backend=args.backend,
            options=options,
            progress=prog,
        )
        if ovs is not None:
            result["ovs"] = ovs
            result["compare"] = compare(result["revalidation"], ovs)
    finally:
        udpif_log.setLevel(level)
    if args.plot:
        try:
            write_svg(args.plot, result, churn)
        except OSError as exc:
            raise UsageError(f"cannot write the plot to {args.plot!r}: {exc.strerror or exc}") from exc
        result["plot"] = args.plot
    out(json.dumps(result, indent=2) + "\n" if args.json else _format_text(result) + "\n")
    return 0
