"""Terse get, del and dump (UFID-TERSE-*)."""

from __future__ import annotations

import errno

from conformance.plugin import BackendSession
from conformance.suite._flows import FlowSpec, flow_spec
from conformance.suite._helpers import expect_errno, install, requirement, send, traffic_port
from reference.dpif import Dpif, FlowStats


def _loaded(session: BackendSession, n: int = 4) -> tuple[Dpif, list[FlowSpec]]:
    """``n`` UFID flows, with different traffic through each when the backend takes traffic."""
    port = traffic_port(session)
    dpif = session.fresh()
    specs = [flow_spec(i, port=port or 1) for i in range(1, n + 1)]
    for i, spec in enumerate(specs):
        install(dpif, spec)
        if port is not None:
            send(dpif, port, i + 1, i, size=60 + i)
    return dpif, specs


def _stats(s: FlowStats) -> tuple[int, int, bool, int]:
    return (s.n_packets, s.n_bytes, s.used_ms != 0, s.tcp_flags)


@requirement("UFID-TERSE-001")
def test_terse_dump_omits_key_mask_actions(dpif_session: BackendSession) -> None:
    dpif, specs = _loaded(dpif_session)
    flows = list(dpif.flow_dump(terse=True))
    assert len(flows) == len(specs), f"terse dump returned {len(flows)} flows, {len(specs)} installed"
    for f in flows:
        assert f.ufid in {s.ufid for s in specs} and f.ufid_present, f"terse dump entry without its UFID: {f}"
        leaked = [n for n, v in (("key", f.key), ("mask", f.mask), ("actions", f.actions)) if v is not None]
        assert not leaked, f"terse dump of {f.ufid} carries {', '.join(leaked)}"


@requirement("UFID-TERSE-002")
def test_terse_and_full_dump_agree(dpif_session: BackendSession) -> None:
    dpif, _ = _loaded(dpif_session, 6)
    full = {str(f.ufid): _stats(f.stats) for f in dpif.flow_dump()}
    terse = {str(f.ufid): _stats(f.stats) for f in dpif.flow_dump(terse=True)}
    assert terse == full, f"terse dump {terse} differs from full dump {full}"


@requirement("UFID-TERSE-003")
def test_terse_get(dpif_session: BackendSession) -> None:
    dpif, specs = _loaded(dpif_session, 2)
    for spec in specs:
        full = dpif.flow_get(ufid=spec.ufid)
        got = dpif.flow_get(ufid=spec.ufid, terse=True)
        assert got.ufid == spec.ufid, f"terse get returned UFID {got.ufid}"
        assert (got.key, got.mask, got.actions) == (None, None, None), f"terse get carries more than UFID+stats: {got}"
        assert _stats(got.stats) == _stats(full.stats), "terse get stats differ from full get"


@requirement("UFID-TERSE-004")
def test_terse_delete(dpif_session: BackendSession) -> None:
    dpif, specs = _loaded(dpif_session, 3)
    for spec in specs:
        before = dpif.flow_get(ufid=spec.ufid).stats
        final = dpif.flow_del(ufid=spec.ufid, terse=True)
        assert (final.n_packets, final.n_bytes) == (before.n_packets, before.n_bytes), (
            f"terse del returned {final}, the flow had {before}"
        )
        with expect_errno(errno.ENOENT, "get after terse del"):
            dpif.flow_get(ufid=spec.ufid)
    assert list(dpif.flow_dump()) == []


@requirement("UFID-TERSE-005")
def test_terse_dump_keeps_key_of_key_identified_flows(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=False)
    install(dpif, spec)
    (f,) = list(dpif.flow_dump(terse=True))
    assert not f.ufid_present, "a key-identified flow was dumped with a UFID"
    assert f.key == spec.key or f.key is not None, "OMIT_KEY dropped the identifier of a key-identified flow"
