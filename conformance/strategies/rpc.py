"""Messages of the supervised backend's wire protocol (conformance._rpc)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conformance._rpc import Call, Closed, ProcessInfo, Reply
from conformance.strategies.datapath_keys import datapath_keys_with_masks
from conformance.strategies.hashes import ufids
from conformance.strategies.keys import flow_keys
from conformance.strategies.odp_actions import actions
from reference.dpif import DpifFlow, FlowStats, PutFlags, PutOp

__all__ = ["rpc_messages"]


def rpc_messages() -> st.SearchStrategy[Any]:
    """Protocol messages as the suite and the backend host exchange them: puts, replies, dumped flows."""
    stats = st.builds(FlowStats, *(st.integers(0, 2**64 - 1) for _ in range(3)), st.integers(0, 0xFFF))
    flows = st.builds(
        DpifFlow,
        st.none() | ufids(),
        st.booleans(),
        st.none() | flow_keys(),
        st.none() | st.binary(max_size=64),
        st.none() | actions(),
        stats,
    )
    seqs = st.integers(0, 2**31)
    puts = st.builds(
        lambda seq, km, acts, ufid, flags: Call(seq, "flow_put", (km[0], km[1], acts), {"ufid": ufid, "flags": flags}),
        seqs,
        datapath_keys_with_masks(),
        actions(),
        st.none() | ufids(),
        st.sampled_from(list(PutFlags)),
    )
    batches = st.builds(
        lambda seq, ops: Call(seq, "operate", (ops,), {}),
        seqs,
        st.lists(st.builds(PutOp, flow_keys(), st.none(), actions(), st.none() | ufids()), max_size=5),
    )
    return st.one_of(
        puts,
        batches,
        st.builds(Reply, seqs, stats | st.none()),
        st.builds(Reply, seqs, st.tuples(st.lists(flows, max_size=4).map(tuple), st.booleans())),
        st.builds(
            Closed, seqs, st.lists(st.builds(ProcessInfo, st.integers(1, 2**22), st.text()), max_size=3).map(tuple)
        ),
    )
