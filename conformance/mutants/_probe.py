"""Probe and legacy mutants: what a datapath declares about UFIDs, the PROBE flag, datapaths without UFIDs."""

from __future__ import annotations

from dataclasses import replace

from conformance.mutants._mutant import KN, KNL, Hooked, Mutant, fixed
from conformance.mutants._put import put_rule
from conformance.mutants._wrapper import Hooks, Kind, do_del, do_put
from reference.dpif import DelOp, Dpif, DpifError, DpifFeatures, DpifFlow, DpifInvalid, FlowStats, PutFlags, PutOp
from reference.uapi import UfidFlags
from reference.ufid import Ufid

__all__ = ["PROBE_AND_LEGACY"]


def _probe_flag_rejected(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    if PutFlags.PROBE in flags:
        raise DpifInvalid("unknown put flag")
    return do_put(inner, replace(op, flags=flags))


def _legacy_rejects(inner: Dpif, op: PutOp, flags: PutFlags) -> FlowStats:
    if op.ufid is not None:
        raise DpifInvalid("unknown attribute OVS_FLOW_ATTR_UFID")
    return do_put(inner, replace(op, flags=flags))


def _probe_flows_undeletable() -> Hooks:
    """Flows put with PROBE are kept in a side table del does not search."""
    probed: set[bytes] = set()

    def put(inner: Dpif, op: PutOp) -> FlowStats:
        out = do_put(inner, op)
        if PutFlags.PROBE in op.flags:
            probed.add(op.key)
        return out

    def delete(inner: Dpif, op: DelOp) -> FlowStats:
        if op.key is not None and op.key in probed:
            return inner.flow_get(ufid=op.ufid, key=op.key).stats
        return do_del(inner, op)

    def flush(inner: Dpif) -> None:
        inner.flow_flush()
        probed.clear()

    return Hooks(put=put, delete=delete, flush=flush)


def _declares_ufid(ufid: bool) -> Hooks:
    def features(f: DpifFeatures) -> DpifFeatures:
        omit = f.omit_flags if ufid else UfidFlags(0)
        return replace(f, ufid=ufid, omit_flags=omit, max_ufid_len=16 if ufid else 0)

    return Hooks(features=features)


def _legacy_echoes() -> Hooks:
    """Remembers each put's UFID by key and reports it in replies."""
    ufids: dict[bytes, Ufid] = {}

    def put(inner: Dpif, op: PutOp) -> FlowStats:
        out = do_put(inner, op)
        if isinstance(op.ufid, Ufid):
            # Remembered under the key the datapath replies with (it may serialise more than it was given).
            try:
                ufids[inner.flow_get(key=op.key).key or op.key] = op.ufid
            except DpifError:
                ufids[op.key] = op.ufid
        return out

    def reply(kind: Kind, flow: DpifFlow) -> DpifFlow:
        u = ufids.get(flow.key or b"")
        if u is None or flow.ufid_present:
            return flow
        return replace(flow, ufid=u, ufid_present=True, ufid_bytes=u.to_wire())

    return Hooks(put=put, reply=reply)


PROBE_AND_LEGACY: tuple[Mutant, ...] = (
    Mutant(
        "probe-declares-no-ufid",
        "probe",
        "features",
        "features.ufid is false although UFIDs work",
        "ofproto/ofproto-dpif.c check_ufid decides from the probe; backends that disagree with it mislead "
        "every caller that reads features",
        fixed(_declares_ufid(False)),
        KN,
        ("UFID-PROBE-001",),
    ),
    Mutant(
        "probe-flag-rejected",
        "probe",
        "flow_put",
        "puts with the PROBE flag fail with EINVAL",
        "lib/dpif.c dpif_probe_feature puts with DPIF_FP_PROBE: OVS concludes UFIDs are unsupported",
        fixed(put_rule(_probe_flag_rejected)),
        KN,
        ("UFID-PROBE-001",),
    ),
    Mutant(
        "probe-flow-undeletable",
        "probe",
        "flow_del",
        "flows put with PROBE cannot be deleted",
        "lib/dpif.c dpif_probe_feature deletes its probe flow; one left behind matches real traffic",
        Hooked(_probe_flows_undeletable),
        KNL,
        ("UFID-PROBE-002",),
    ),
    Mutant(
        "legacy-declares-ufid",
        "legacy",
        "features",
        "a datapath without UFID support declares features.ufid",
        "ofproto/ofproto-dpif.c check_ufid: OVS must fall back to key-identified flows there",
        fixed(_declares_ufid(True)),
        ("legacy",),
        ("UFID-DUMP-008",),
    ),
    Mutant(
        "legacy-echoes-ufid",
        "legacy",
        "flow_get/flow_dump",
        "a datapath without UFID support echoes the caller's UFID in replies",
        "ofproto/ofproto-dpif.c check_ufid would believe UFIDs work and use terse dumps the datapath cannot do",
        Hooked(_legacy_echoes),
        ("legacy",),
        ("UFID-DUMP-002",),
    ),
    Mutant(
        "legacy-rejects-ufid",
        "legacy",
        "flow_put",
        "a datapath without UFID support rejects puts that carry one",
        "old kernels ignore OVS_FLOW_ATTR_UFID (lib/dpif-netlink.c); check_ufid's probe put must succeed",
        fixed(put_rule(_legacy_rejects)),
        ("legacy",),
        ("UFID-FLUSH-002",),
    ),
)
