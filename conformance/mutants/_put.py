"""Put mutants: the CREATE/MODIFY/ZERO_STATS rules and masks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from conformance.mutants._mutant import KNL, PUSH, REVAL, K, Mutant, fixed
from conformance.mutants._wrapper import Hooks, do_put
from reference._netlink import iter_attrs, pack_attrs
from reference.dpif import Dpif, DpifNotFound, FlowStats, PutFlags, PutOp
from reference.uapi import KeyAttr

__all__ = ["MASKS", "PUT", "put_rule"]


def put_rule(fn: Callable[[Dpif, PutOp, PutFlags], FlowStats]) -> Hooks:
    """A put hook that breaks one rule of the flags (read as :class:`PutFlags`)."""
    return Hooks(put=lambda inner, op: fn(inner, op, PutFlags(op.flags)))


def _create_modifies(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    if PutFlags.CREATE in flags:
        flags |= PutFlags.MODIFY
    return do_put(inner, replace(op, flags=flags))


def _modify_creates(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    if PutFlags.MODIFY in flags:
        flags |= PutFlags.CREATE
    return do_put(inner, replace(op, flags=flags))


def _modify_zeroes(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    if PutFlags.MODIFY in flags and inner.features.semantics != "netdev":
        flags |= PutFlags.ZERO_STATS
    elif PutFlags.MODIFY in flags:
        old = do_put(inner, replace(op, flags=flags))
        # dpif-netdev refuses ZERO_STATS: the defect there is a delete and re-create.
        inner.flow_del(ufid=op.ufid, key=op.key)
        inner.flow_put(op.key, op.mask, op.actions, ufid=op.ufid, flags=PutFlags.CREATE)
        return old
    return do_put(inner, replace(op, flags=flags))


def _modify_returns_zero(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    do_put(inner, replace(op, flags=flags))
    return FlowStats()


def _modify_keeps_actions(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    actions = op.actions
    if PutFlags.MODIFY in flags:
        try:
            old = inner.flow_get(ufid=op.ufid, key=op.key)
        except DpifNotFound:
            old = None
        if old is not None and old.actions is not None:
            actions = old.actions
    return do_put(inner, replace(op, actions=actions, flags=flags))


def _zero_stats_returns_after(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    old = do_put(inner, replace(op, flags=flags))
    return FlowStats() if PutFlags.ZERO_STATS in flags else old


def _mask_eth_wildcarded(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    mask = op.mask
    if mask is not None:
        try:
            attrs = [(t, p) for t, p, _ in iter_attrs(mask)]
        except ValueError:
            attrs = None
        if attrs is not None:
            mask = pack_attrs((t, bytes(len(p)) if t == KeyAttr.ETHERNET else p) for t, p in attrs)
    return do_put(inner, replace(op, mask=mask, flags=flags))


PUT: tuple[Mutant, ...] = (
    Mutant(
        "put-create-modifies-existing",
        "put",
        "flow_put",
        "CREATE of an installed flow modifies it instead of failing with EEXIST",
        "ofproto/ofproto-dpif-upcall.c ukey_install/handle_upcalls: EEXIST tells a handler another thread "
        "installed the flow first; silently replacing its actions races revalidation",
        fixed(put_rule(_create_modifies)),
        KNL,
        ("UFID-ID-004", "UFID-OP-001"),
    ),
    Mutant(
        "put-modify-creates-absent",
        "put",
        "flow_put",
        "MODIFY of an absent flow creates it instead of failing with ENOENT",
        f"{REVAL} modifies flows it believes installed; re-creating one deleted meanwhile leaks a flow without a ukey",
        fixed(put_rule(_modify_creates)),
        KNL,
        ("UFID-PUT-002",),
    ),
    Mutant(
        "put-modify-resets-stats",
        "stats",
        "flow_put",
        "MODIFY (without ZERO_STATS) zeroes the flow's statistics",
        f"{PUSH}: a reset counter makes the next push negative (clamped to 0): OpenFlow stats lose traffic",
        fixed(put_rule(_modify_zeroes)),
        KNL,
        ("UFID-PUT-004",),
    ),
    Mutant(
        "put-modify-returns-zero",
        "stats",
        "flow_put",
        "MODIFY returns zero statistics instead of those before the update",
        "lib/dpif.h flow_put stats (the stats from before the put); ofproto-dpif-upcall.c push_dp_ops credits them",
        fixed(put_rule(_modify_returns_zero)),
        KNL,
        ("UFID-PUT-004",),
    ),
    Mutant(
        "put-modify-keeps-actions",
        "put",
        "flow_put",
        "MODIFY succeeds but keeps the old actions",
        f"{REVAL} modify_op_init updates actions after an OpenFlow change; stale actions keep forwarding",
        fixed(put_rule(_modify_keeps_actions)),
        KNL,
        ("UFID-PUT-004",),
    ),
    Mutant(
        "put-zero-stats-ignored",
        "stats",
        "flow_put",
        "MODIFY|ZERO_STATS keeps the statistics",
        "lib/dpif.h DPIF_FP_ZERO_STATS (dpctl/mod-flow --clear, net/openvswitch/datapath.c ovs_flow_cmd_set "
        "OVS_FLOW_ATTR_CLEAR)",
        fixed(put_rule(lambda inner, op, flags: do_put(inner, replace(op, flags=flags & ~PutFlags.ZERO_STATS)))),
        K,
        ("UFID-PUT-005",),
    ),
    Mutant(
        "put-zero-stats-returns-after",
        "stats",
        "flow_put",
        "MODIFY|ZERO_STATS returns the zeroed statistics instead of those before",
        "lib/dpif.h flow_put stats are the stats before the update",
        fixed(put_rule(_zero_stats_returns_after)),
        K,
        ("UFID-PUT-005",),
    ),
)

MASKS: tuple[Mutant, ...] = (
    Mutant(
        "mask-ignored",
        "mask",
        "flow_put",
        "every flow is installed as an exact match",
        "ofproto/ofproto-dpif-upcall.c installs megaflows: ignoring masks multiplies upcalls and breaks the "
        "installed match dump",
        fixed(put_rule(lambda inner, op, flags: do_put(inner, replace(op, mask=None, flags=flags)))),
        KNL,
        ("UFID-DUMP-002", "UFID-DUMP-004", "UFID-DUMP-003"),
    ),
    Mutant(
        "mask-ethernet-wildcarded",
        "mask",
        "flow_put",
        "the Ethernet address mask is ignored (wildcarded)",
        "a flow matching more than its mask says forwards other traffic with its actions (lib/dpif.h megaflow "
        "contract)",
        fixed(put_rule(_mask_eth_wildcarded)),
        KNL,
        ("UFID-DUMP-001",),
    ),
)
