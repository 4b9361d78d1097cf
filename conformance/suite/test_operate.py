"""Batched operate (UFID-OP-*)."""

from __future__ import annotations

import errno

from conformance.plugin import BackendSession
from conformance.suite._flows import flow_spec, output
from conformance.suite._helpers import dump_set, has, requirement
from reference.dpif import DelOp, Dpif, DpifOp, GetOp, PutFlags, PutOp


def _batch(session: BackendSession) -> list[DpifOp]:
    ufid = has(session, "ufid")
    a, b = flow_spec(1, with_ufid=ufid), flow_spec(2, with_ufid=ufid)
    return [
        PutOp(a.key, a.mask, a.actions, ufid=a.ufid),
        PutOp(a.key, a.mask, output(9), ufid=a.ufid),  # EEXIST
        GetOp(ufid=a.ufid, key=a.key),
        DelOp(ufid=b.ufid, key=b.key),  # ENOENT
        PutOp(b.key, b.mask, b.actions, ufid=b.ufid),
        PutOp(a.key, a.mask, output(7), ufid=a.ufid, flags=PutFlags.MODIFY),
        DelOp(ufid=b.ufid, key=b.key),
    ]


@requirement("UFID-OP-001")
def test_operate_results_in_order(dpif_session: BackendSession, dpif: Dpif) -> None:
    ops = _batch(dpif_session)
    results = dpif.operate(ops)
    assert len(results) == len(ops), f"{len(results)} results for {len(ops)} operations"
    assert [r.op for r in results] == ops, "results are not in the order of the operations"
    got = [0 if r.error is None else r.error.errno for r in results]
    assert got == [0, errno.EEXIST, 0, errno.ENOENT, 0, 0, 0], f"per-operation errnos {got}"
    assert results[2].flow is not None and results[2].flow.actions == ops[0].actions  # type: ignore[union-attr]


@requirement("UFID-OP-002")
def test_operate_equals_one_by_one(dpif_session: BackendSession, dpif: Dpif) -> None:
    ops = _batch(dpif_session)
    batched = [0 if r.error is None else r.error.errno for r in dpif.operate(ops)]
    after_batch = dump_set(dpif)
    dpif = dpif_session.fresh()
    single = [0 if r.error is None else r.error.errno for op in ops for r in dpif.operate([op])]
    assert batched == single, f"batched outcomes {batched} differ from one-by-one {single}"
    assert dump_set(dpif) == after_batch, "the batch left a different table than the same operations one by one"
