"""Dump mutants: completeness, batch boundaries, changes during a dump, batched dumps, terse replies; batches of ops."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

from conformance.mutants._mutant import KL, KN, KNL, PUSH, REVAL, Hooked, K, Mutant, fixed
from conformance.mutants._wrapper import Hooks, Kind, Runner, do_del, do_get, do_put, ident
from reference.dpif import DelOp, Dpif, DpifFlow, DpifOp, DpifOpResult, FlowStats, GetOp, PutOp
from reference.odp.match import Match

__all__ = ["DUMPS", "OPERATE"]


def _dump_filter(
    pick: Callable[[Dpif, list[DpifFlow]], list[DpifFlow]], which: Literal["full", "terse", "both"] = "both"
) -> Hooks:
    """Dumps of kind ``which`` yield ``pick(inner, flows)`` of the inner datapath's dump."""

    def dump(inner: Dpif, terse: bool) -> Iterator[DpifFlow]:
        flows = list(inner.flow_dump(terse=terse))
        if which == "both" or (which == "terse") == terse:
            flows = pick(inner, flows)
        return iter(flows)

    return Hooks(dump=dump)


def _omit(field: str) -> Callable[[Dpif, list[DpifFlow]], list[DpifFlow]]:
    def pick(inner: Dpif, flows: list[DpifFlow]) -> list[DpifFlow]:
        gone: dict[str, Any] = {field: None}
        return [replace(f, **gone) for f in flows]

    return pick


def _key_masked(inner: Dpif, flows: list[DpifFlow]) -> list[DpifFlow]:
    """Key-identified flows' keys (every key on dpif-netdev) come back masked; the kernel keeps them unmasked."""
    out = []
    for f in flows:
        if f.key is not None and (not f.ufid_present or inner.features.semantics == "netdev"):
            out.append(replace(f, key=Match.from_netlink(f.key, f.mask).masked_key))
        else:
            out.append(f)
    return out


def _aborts_on_change() -> Hooks:
    """A dump ends as soon as the table changes under it (an invalidated iterator treated as the end)."""
    generation = [0]

    def put(inner: Dpif, op: PutOp) -> FlowStats:
        generation[0] += 1
        return do_put(inner, op)

    def delete(inner: Dpif, op: DelOp) -> FlowStats:
        generation[0] += 1
        return do_del(inner, op)

    def dump(inner: Dpif, terse: bool) -> Iterator[DpifFlow]:
        start = generation[0]
        for f in list(inner.flow_dump(terse=terse)):
            if generation[0] != start:
                return
            yield f

    return Hooks(put=put, delete=delete, dump=dump)


def _resumes_by_offset(inner: Dpif, terse: bool) -> Iterator[DpifFlow]:
    """Each batch of 8 re-reads the table and skips as many flows as were already returned."""
    offset = 0
    while True:
        flows = list(inner.flow_dump(terse=terse))[offset : offset + 8]
        if not flows:
            return
        offset += len(flows)
        yield from flows


def _cut(flows: list[DpifFlow], n: int) -> list[list[DpifFlow]]:
    return [flows[i : i + n] for i in range(0, len(flows), n)]


def _stats_shifted(flows: list[DpifFlow], n: int, terse: bool) -> list[list[DpifFlow]]:
    """In terse batches the statistics column is one position off the UFID column."""
    batches = _cut(flows, n)
    if not terse:
        return batches
    for batch in batches:
        at = [i for i, f in enumerate(batch) if f.ufid_present and f.key is None]
        stats = [batch[i].stats for i in at]
        for i, s in zip(at, stats[1:] + stats[:1], strict=True):
            batch[i] = replace(batch[i], stats=s)
    return batches


def _terse_keeps(field: str, of: Kind) -> Hooks:
    """One OVS_UFID_F_OMIT_* flag ignored in terse replies of kind ``of``: that field is still sent."""

    def get(inner: Dpif, op: GetOp) -> DpifFlow:
        if op.terse and of == "get-terse":
            full = inner.flow_get(ufid=op.ufid, key=op.key)
            if full.ufid_present:
                kept: dict[str, Any] = {field: getattr(full, field)}
                return replace(do_get(inner, op), **kept)
        return do_get(inner, op)

    def dump(inner: Dpif, terse: bool) -> Iterator[DpifFlow]:
        if not terse or of != "dump-terse":
            return inner.flow_dump(terse=terse)
        full = {ident(f): f for f in inner.flow_dump()}
        return iter(
            [
                replace(f, **{field: getattr(full[ident(f)], field)}) if f.ufid_present and ident(f) in full else f
                for f in inner.flow_dump(terse=True)
            ]
        )

    return Hooks(get=get, dump=dump)


def _stops_at_error(run: Runner, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
    out = []
    for r in run(ops):
        out.append(r)
        if not r.ok:
            break
    return out


def _shared_error(run: Runner, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
    results = run(list(ops))
    err = next((r.error for r in results if r.error is not None), None)
    return results if err is None else [replace(r, error=err) for r in results]


_TERSE_KINDS: tuple[tuple[Kind, str, str], ...] = (
    ("dump-terse", "dump", "UFID-DUMP-006"),
    ("get-terse", "get", "UFID-TERSE-003"),
)
_BATCH = "lib/dpif.c dpif_flow_dump_next fills the caller's array of up to max_flows (REVALIDATE_MAX_BATCH = 50)"

DUMPS: tuple[Mutant, ...] = (
    Mutant(
        "dump-skips-last-flow",
        "dump",
        "flow_dump",
        "full and terse dumps leave out the last flow",
        f"{REVAL}: a flow never dumped is never revalidated with its stats (revalidator_sweep counts "
        "revalidate_missed_dp_flow) and never idles out",
        fixed(_dump_filter(lambda inner, flows: flows[:-1])),
        KNL,
        ("UFID-DUMP-001",),
    ),
    Mutant(
        "dump-terse-skips-last-flow",
        "dump",
        "flow_dump",
        "terse dumps leave out the last flow",
        f"{REVAL} uses terse dumps when the datapath supports UFIDs (udpif_revalidator: dpif_flow_dump_create "
        "terse=true)",
        fixed(_dump_filter(lambda inner, flows: flows[:-1], "terse")),
        KN,
        ("UFID-DUMP-008", "UFID-DUMP-009"),
    ),
    Mutant(
        "dump-drops-batch-head",
        "dump",
        "flow_dump",
        "the first flow of every reply batch after the first is lost",
        "lib/dpif-netlink.c dpif_netlink_flow_dump_next resumes multipart dumps; a lost flow per batch is "
        f"never revalidated ({REVAL})",
        # A resume cursor one too far: every 1000th flow but the first is lost.
        fixed(_dump_filter(lambda inner, flows: [f for i, f in enumerate(flows) if i == 0 or i % 1000])),
        KNL,
        ("UFID-DUMP-005",),
    ),
    Mutant(
        "dump-terse-drops-batch-head",
        "dump",
        "flow_dump",
        "the first flow of every terse reply batch after the first is lost",
        f"{REVAL} dumps tersely on UFID datapaths",
        fixed(_dump_filter(lambda inner, flows: [f for i, f in enumerate(flows) if i == 0 or i % 1000], "terse")),
        KN,
        ("UFID-DUMP-005",),
    ),
    Mutant(
        "dump-stops-after-first-batch",
        "dump",
        "flow_dump",
        "a dump ends after its first batch of 1000 flows",
        "ofproto/ofproto-dpif-upcall.c revalidate(): with more flows than one batch the rest are never revalidated",
        fixed(_dump_filter(lambda inner, flows: flows[:1000])),
        KNL,
        ("UFID-DUMP-005",),
    ),
    Mutant(
        "dump-aborts-when-table-changes",
        "dump",
        "flow_dump",
        "a dump ends as soon as a flow is added or deleted while it runs",
        f"{REVAL} deletes flows (push_dp_ops) between dpif_flow_dump_next batches and handlers install flows "
        "concurrently: the flows after the first change are never revalidated",
        Hooked(_aborts_on_change),
        KNL,
        ("UFID-DUMP-008",),
    ),
    Mutant(
        "dump-resumes-by-offset",
        "dump",
        "flow_dump",
        "each batch re-reads the table and skips as many flows as were returned so far",
        f"{REVAL} deletes flows it has just dumped; an offset cursor then skips as many live flows",
        fixed(Hooks(dump=_resumes_by_offset)),
        KNL,
        ("UFID-DUMP-008",),
    ),
    *(
        Mutant(
            f"dump-full-omits-{fld}",
            "dump",
            "flow_dump",
            f"full dumps leave out the {fld}",
            "ofproto/ofproto-dpif-upcall.c revalidate_ukey (full dumps on datapaths without UFID) and "
            f"dpctl/dump-flows need the {fld}",
            fixed(_dump_filter(_omit(fld), "full")),
            KNL,
            ("UFID-DUMP-001",),
        )
        for fld in ("actions", "mask", "key")
    ),
    Mutant(
        "dump-key-identified-key-masked",
        "dump",
        "flow_dump",
        "full dumps return key-identified flows' keys masked instead of unmasked",
        "net/openvswitch/datapath.c ovs_flow_cmd_fill_match sends the unmasked key for key-identified flows; "
        "lib/dpif-netlink.c hashes it into the UFID OVS uses for them, so a masked key is another UFID",
        fixed(_dump_filter(_key_masked, "full")),
        KL,
        ("UFID-DUMP-003",),
    ),
    Mutant(
        "dump-netdev-key-masked",
        "dump",
        "flow_dump",
        "dpif-netdev dumps return masked keys",
        "lib/dpif-netdev.c dp_netdev_flow_to_dpif_flow returns the original key; dpctl output and key-hashed "
        "UFIDs depend on it",
        fixed(_dump_filter(_key_masked, "full")),
        ("netdev",),
        ("UFID-DUMP-004",),
    ),
    # --- batched dumps (dpif_flow_dump_next)
    Mutant(
        "batch-overfull",
        "dump",
        "flow_dump_batches",
        "batches hold one flow more than max_flows",
        f"{_BATCH}; a datapath writing past it overruns the revalidator's stack array (ofproto-dpif-upcall.c "
        "revalidate: struct dpif_flow flows[REVALIDATE_MAX_BATCH])",
        fixed(Hooks(batches=lambda flows, n, terse: _cut(flows, n + 1))),
        KNL,
        ("UFID-DUMP-006",),
    ),
    Mutant(
        "batch-empty-first",
        "dump",
        "flow_dump_batches",
        "the first batch is empty",
        f"{_BATCH}; a return of 0 flows ends the dump (ofproto-dpif-upcall.c revalidate leaves its loop), so "
        "nothing is revalidated",
        fixed(Hooks(batches=lambda flows, n, terse: [[], *_cut(flows, n)])),
        KNL,
        ("UFID-DUMP-006",),
    ),
    Mutant(
        "batch-drops-partial-tail",
        "dump",
        "flow_dump_batches",
        "a last batch shorter than max_flows is never returned",
        f"{_BATCH}; the flows of the short last batch are never revalidated and never idle out",
        fixed(Hooks(batches=lambda flows, n, terse: [b for b in _cut(flows, n) if len(b) == n])),
        KNL,
        ("UFID-DUMP-006",),
    ),
    Mutant(
        "batch-terse-stats-shifted",
        "dump",
        "flow_dump_batches",
        "in terse batches each flow carries its neighbour's statistics (columns out of step)",
        f"{PUSH}: stats are pushed to the wrong ukey, so OpenFlow counters and idle times belong to other flows",
        fixed(Hooks(batches=_stats_shifted)),
        KN,
        ("UFID-DUMP-006",),
    ),
    # --- terse flags, one by one
    *(
        Mutant(
            f"terse-{label}-keeps-{fld}",
            "terse",
            "flow_dump" if label == "dump" else "flow_get",
            f"OMIT_{fld.upper()} is ignored in terse {label}s: the {fld} is still sent",
            "lib/dpif-netlink.c sets OVS_UFID_F_OMIT_* so that revalidator dumps stay small "
            "(udpif_revalidator); ovs_flow_cmd_fill_info honours each flag",
            fixed(_terse_keeps(fld, kind)),
            KN,
            (killer,),
        )
        for fld in ("key", "mask", "actions")
        for kind, label, killer in _TERSE_KINDS
    ),
    Mutant(
        "terse-drops-key-of-key-flows",
        "terse",
        "flow_dump",
        "terse dumps omit the key of key-identified flows too",
        "net/openvswitch/datapath.c ovs_flow_cmd_fill_info: OMIT_KEY applies only to UFID flows; without "
        "key and UFID OVS cannot identify the flow",
        fixed(
            _dump_filter(
                lambda inner, flows: [
                    f if f.ufid_present else replace(f, key=None, mask=None, actions=None) for f in flows
                ],
                "terse",
            )
        ),
        K,
        ("UFID-TERSE-005",),
    ),
)

# Batches of operations (dpif_operate), run by the wrapper's default runner through its flow methods.
OPERATE: tuple[Mutant, ...] = (
    Mutant(
        "operate-stops-at-first-error",
        "batch",
        "operate",
        "operate stops at the first failed operation and returns fewer results",
        "lib/dpif.h dpif_operate: every op gets its own error; ofproto-dpif-upcall.c push_dp_ops reads each op's stats",
        fixed(Hooks(operate=_stops_at_error)),
        KNL,
        ("UFID-OP-001",),
    ),
    Mutant(
        "operate-reverses-order",
        "batch",
        "operate",
        "operate executes a batch in reverse order",
        "lib/dpif.h dpif_operate executes in order; handle_upcalls puts a flow then executes its packet",
        fixed(Hooks(operate=lambda run, ops: run(list(ops)[::-1])[::-1])),
        KNL,
        ("UFID-OP-001",),
    ),
    Mutant(
        "operate-first-error-for-all",
        "batch",
        "operate",
        "when one operation fails, every result carries that error",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops/handle_upcalls act per op (ukey state, stats)",
        fixed(Hooks(operate=_shared_error)),
        KNL,
        ("UFID-OP-001",),
    ),
    Mutant(
        "operate-get-without-flow",
        "batch",
        "operate",
        "batched gets return no flow",
        "lib/dpif.h DPIF_OP_FLOW_GET fills op->flow_get.flow; ukey_install reads it",
        fixed(
            Hooks(operate=lambda run, ops: [replace(r, flow=None) if r.flow is not None else r for r in run(list(ops))])
        ),
        KNL,
        ("UFID-OP-001",),
    ),
)
