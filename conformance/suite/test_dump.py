"""Full dumps (UFID-DUMP-*), delete (UFID-DEL-*) and flush (UFID-FLUSH-*)."""

from __future__ import annotations

import errno
from collections import Counter

from conformance.plugin import BackendSession
from conformance.suite._flows import (
    FlowSpec,
    apply_mask,
    eth_key,
    eth_mask,
    flow_spec,
    match_of,
    match_view,
    output,
)
from conformance.suite._helpers import (
    del_flow,
    expect_errno,
    get_flow,
    has,
    install,
    requirement,
    send,
    traffic_port,
)
from reference.dpif import Dpif, DpifFlow, PutFlags, PutOp


def _install_mixed(dpif_session: BackendSession, dpif: Dpif) -> list[FlowSpec]:
    """Seven flows, each with its own output port, every other one with a UFID when the backend has them."""
    ufid = has(dpif_session, "ufid")
    specs = [flow_spec(i, with_ufid=ufid and i % 2 == 0, out=i) for i in range(1, 8)]
    for spec in specs:
        install(dpif, spec)
    return specs


@requirement("UFID-DUMP-001")
def test_full_dump_has_every_flow_once(dpif_session: BackendSession, dpif: Dpif) -> None:
    specs = _install_mixed(dpif_session, dpif)
    flows = list(dpif.flow_dump())
    for f in flows:
        assert f.key is not None and f.mask is not None and f.actions is not None, f"full dump entry incomplete: {f}"
    got = {f.actions or b"" for f in flows}
    assert got == {s.actions for s in specs}, f"dump returned {len(got)} of {len(specs)} flows, or other actions"


@requirement("UFID-DUMP-009")
def test_static_dump_has_no_duplicates(dpif_session: BackendSession, dpif: Dpif) -> None:
    specs = _install_mixed(dpif_session, dpif)
    for terse in (False, True) if has(dpif_session, "terse") else (False,):
        flows = list(dpif.flow_dump(terse=terse))
        assert len(flows) == len(specs), (
            f"{'terse' if terse else 'full'} dump: {len(flows)} entries, {len(specs)} flows"
        )


@requirement("UFID-DUMP-008")
def test_dump_survives_deletes_and_puts(dpif_session: BackendSession, dpif: Dpif) -> None:
    # ofproto-dpif-upcall.c revalidate(): each batch of a dump is revalidated and its idle flows deleted
    # (push_dp_ops) before the next dpif_flow_dump_next, while handler threads install new flows.
    ufid = has(dpif_session, "ufid")
    for terse in (False, True) if has(dpif_session, "terse") else (False,):
        dpif.flow_flush()
        specs = [flow_spec(i, with_ufid=ufid) for i in range(1, 13)]
        for spec in specs:
            install(dpif, spec)
        want = {_dump_ident(s.ufid, s.key, ufid) for s in specs}
        seen: set[object] = set()
        fresh = iter(range(100, 200))
        for f in dpif.flow_dump(terse=terse):
            ident = _dump_ident(f.ufid, f.key, ufid)
            if ident in want and ident not in seen:
                seen.add(ident)
                dpif.flow_del(ufid=f.ufid if ufid else None, key=f.key)
            n = next(fresh, None)
            if n is not None:
                install(dpif, flow_spec(n, with_ufid=ufid))
        missing = len(want - seen)
        assert not missing, (
            f"{'terse' if terse else 'full'} dump with deletes and puts between its flows missed {missing} of "
            f"{len(want)} flows that stayed installed until returned"
        )


def _dump_ident(ufid: object, key: bytes | None, by_ufid: bool) -> object:
    # A key-identified flow is named by its key as a match: a datapath may serialise
    # the key from its whole flow key, metadata included (Linux __ovs_nla_put_key).
    return str(ufid) if by_ufid else match_view(key or b"", None)


@requirement("UFID-DUMP-002")
def test_ufid_flow_returns_masked_key(dpif: Dpif) -> None:
    spec = FlowSpec(eth_key(1, src=1, dst=5), eth_mask(dst=False), output(2), flow_spec(1).ufid)
    install(dpif, spec)
    want = match_view(apply_mask(spec.key, eth_mask(dst=False)), spec.mask, masked=False)
    for where, f in (("get", dpif.flow_get(ufid=spec.ufid)), ("dump", next(iter(dpif.flow_dump())))):
        assert f.key is not None
        got = match_view(f.key, f.mask, masked=False)
        assert got == want, f"{where} of a UFID flow did not return the masked key: {got} != {want}"


@requirement("UFID-DUMP-003")
def test_key_identified_flow_returns_unmasked_key(dpif: Dpif) -> None:
    spec = FlowSpec(eth_key(1, src=1, dst=5), eth_mask(dst=False), output(2), None)
    install(dpif, spec)
    (f,) = list(dpif.flow_dump())
    assert not f.ufid_present, "a flow installed without UFID was dumped with one"
    assert f.key is not None
    got, want = match_view(f.key, f.mask, masked=False), match_view(spec.key, spec.mask, masked=False)
    assert got == want, f"the unmasked key was not returned: {got} != {want}"


@requirement("UFID-DUMP-004")
def test_netdev_dump_has_ufid_and_original_key(dpif: Dpif) -> None:
    specs = [
        FlowSpec(eth_key(1, src=1, dst=5), eth_mask(dst=False), output(2), None),
        FlowSpec(eth_key(1, src=2, dst=5), eth_mask(dst=False), output(2), flow_spec(2).ufid),
    ]
    for spec in specs:
        install(dpif, spec)
    flows = list(dpif.flow_dump())
    assert all(f.ufid_present and f.ufid is not None for f in flows), "a netdev flow was dumped without UFID"
    got = sorted(match_view(f.key or b"", f.mask, masked=False) for f in flows)
    want = sorted(match_view(s.key, s.mask, masked=False) for s in specs)
    assert got == want, f"dumped keys are not the original unmasked keys: {got} != {want}"


@requirement("UFID-DUMP-005")
def test_large_dump_is_complete(dpif_session: BackendSession, dpif: Dpif) -> None:
    n = dpif_session.profile.big_dump
    ufid = has(dpif_session, "ufid")
    ops = [PutOp(s.key, s.mask, s.actions, ufid=s.ufid) for s in (flow_spec(i, with_ufid=ufid) for i in range(n))]
    for start in range(0, n, 500):
        results = dpif.operate(ops[start : start + 500])
        assert all(r.ok for r in results), f"installing flow batch at {start} failed"
    seen = {bytes(f.key or b"") if not ufid else str(f.ufid) for f in dpif.flow_dump()}
    assert len(seen) == n, f"full dump returned {len(seen)} distinct flows of {n}"
    if has(dpif_session, "terse"):
        terse = {str(f.ufid) for f in dpif.flow_dump(terse=True)}
        assert len(terse) == n, f"terse dump returned {len(terse)} distinct flows of {n}"


def _dumped(f: DpifFlow) -> tuple[object, ...]:
    """A dumped flow as compared between dumps (used only as used/unused: the kernel recomputes it per reply)."""
    s = f.stats
    ident = (f.ufid_bytes, str(f.ufid)) if f.ufid_present else None
    return (ident, f.key, f.mask, f.actions, s.n_packets, s.n_bytes, s.used_ms != 0, s.tcp_flags)


@requirement("UFID-DUMP-006")
def test_batched_dump_agrees_with_flow_dump(dpif_session: BackendSession) -> None:
    port = traffic_port(dpif_session)
    ufid = has(dpif_session, "ufid")
    dpif = dpif_session.fresh()
    # Some key-identified flows among UFID flows when the datapath has UFIDs, traffic through some.
    specs = [flow_spec(i, port=port or 1, with_ufid=ufid and i % 3 != 0) for i in range(1, 10)]
    for i, spec in enumerate(specs):
        install(dpif, spec)
        if port is not None and i % 2 == 0:
            send(dpif, port, i + 1, i + 1, size=60 + i)
    for terse in (False, True):
        want = Counter(_dumped(f) for f in dpif.flow_dump(terse=terse))
        for max_flows in (1, 4, 50):
            batches = [list(b) for b in dpif.flow_dump_batches(terse=terse, max_flows=max_flows)]
            sizes = [len(b) for b in batches]
            assert all(1 <= n <= max_flows for n in sizes), f"batch sizes {sizes} with max_flows={max_flows}"
            got = Counter(_dumped(f) for b in batches for f in b)
            assert got == want, (
                f"{'terse' if terse else 'full'} batches (max_flows={max_flows}) differ from flow_dump: "
                f"only in batches {sorted(map(repr, got - want))[:2]}, "
                f"only in flow_dump {sorted(map(repr, want - got))[:2]}"
            )
            if terse and has(dpif_session, "terse"):
                leaked = [f for b in batches for f in b if f.ufid_present and (f.key, f.mask, f.actions) != (None,) * 3]
                assert not leaked, f"terse batch entries carry key, mask or actions: {leaked[:2]}"


@requirement("UFID-DEL-001")
def test_del_removes_the_flow(dpif_session: BackendSession, dpif: Dpif) -> None:
    keep, gone = (flow_spec(i, with_ufid=has(dpif_session, "ufid")) for i in (1, 2))
    install(dpif, keep)
    install(dpif, gone)
    del_flow(dpif, gone)
    with expect_errno(errno.ENOENT, "get after del"):
        get_flow(dpif, gone)
    flows = list(dpif.flow_dump())
    assert len(flows) == 1 and flows[0].actions == keep.actions, "dump after del is wrong"
    with expect_errno(errno.ENOENT, "second del of the same flow"):
        del_flow(dpif, gone)


@requirement("UFID-DEL-002")
def test_del_returns_final_stats(dpif_session: BackendSession) -> None:
    port = dpif_session.ports(1)[0]
    dpif = dpif_session.fresh()
    spec = flow_spec(1, port=port, with_ufid=has(dpif_session, "ufid"))
    install(dpif, spec)
    nbytes = send(dpif, port, 1, 3, size=80)
    final = del_flow(dpif, spec)
    assert (final.n_packets, final.n_bytes) == (3, nbytes), f"del returned {final}, expected 3 packets {nbytes} bytes"


@requirement("UFID-FLUSH-001")
def test_flush_removes_everything(dpif_session: BackendSession, dpif: Dpif) -> None:
    ufid = has(dpif_session, "ufid")
    specs = [flow_spec(i, with_ufid=ufid and i % 2 == 1) for i in range(1, 7)]
    for spec in specs:
        install(dpif, spec)
    dpif.flow_flush()
    assert list(dpif.flow_dump()) == [], "flow_flush left flows behind"
    for spec in specs:
        with expect_errno(errno.ENOENT, "get after flush"):
            get_flow(dpif, spec)
    install(dpif, specs[0], PutFlags.CREATE)


@requirement("UFID-FLUSH-002")
def test_del_without_identifier_flushes(dpif: Dpif) -> None:
    for i in range(1, 5):
        install(dpif, flow_spec(i, with_ufid=i % 2 == 0))
    dpif.flow_del()
    assert list(dpif.flow_dump()) == [], "del with neither UFID nor key did not flush"


def test_match_helper_is_consistent() -> None:
    # The suite's own comparison: a masked and an unmasked key describe the same match.
    key = eth_key(1, src=1, dst=5)
    masked = apply_mask(key, eth_mask(dst=False))
    assert masked != key
    assert match_of(key, eth_mask(dst=False)) == match_of(masked, eth_mask(dst=False))
