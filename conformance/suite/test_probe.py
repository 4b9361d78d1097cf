"""Probing (UFID-PROBE-*) and legacy datapaths without UFID support (UFID-LEGACY-*)."""

from __future__ import annotations

import errno

from conformance.suite._flows import flow_spec
from conformance.suite._helpers import expect_errno, install, requirement
from reference.dpif import Dpif
from reference.probe import probe_ufid


@requirement("UFID-PROBE-001")
def test_probe_agrees_with_features(dpif: Dpif) -> None:
    declared = dpif.features.ufid
    probed = probe_ufid(dpif)
    assert probed == declared, f"features.ufid is {declared} but probe_ufid() says {probed}"


@requirement("UFID-PROBE-002")
def test_probe_leaves_no_flow(dpif: Dpif) -> None:
    install(dpif, flow_spec(1, with_ufid=False))
    probe_ufid(dpif)
    probe_ufid(dpif)  # twice: a left-over probe flow must not make the second probe fail or linger
    flows = list(dpif.flow_dump())
    assert len(flows) == 1, f"the probe left {len(flows) - 1} flow(s) behind"


@requirement("UFID-LEGACY-001")
def test_legacy_ignores_ufid(dpif: Dpif) -> None:
    spec = flow_spec(1)  # with a UFID, which the datapath must ignore
    install(dpif, spec)
    got = dpif.flow_get(key=spec.key)
    assert got.actions == spec.actions, "the flow put with an (ignored) UFID is not found by key"
    assert not got.ufid_present, "a datapath without UFID support returned a UFID"
    assert not any(f.ufid_present for f in dpif.flow_dump()), "the dump carries a UFID"
    dpif.flow_del(key=spec.key)
    assert list(dpif.flow_dump()) == []


@requirement("UFID-LEGACY-002")
def test_legacy_works_by_key(dpif: Dpif) -> None:
    assert probe_ufid(dpif) is False, "the probe reports UFID support"
    specs = [flow_spec(i, with_ufid=False) for i in range(1, 4)]
    for spec in specs:
        install(dpif, spec)
    assert len(list(dpif.flow_dump())) == 3
    for spec in specs:
        assert dpif.flow_get(key=spec.key).actions == spec.actions
        dpif.flow_del(key=spec.key)
        with expect_errno(errno.ENOENT, "get after del by key"):
            dpif.flow_get(key=spec.key)
