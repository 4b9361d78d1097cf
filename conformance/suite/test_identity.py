"""UFID echo and identity (UFID-ID-*) and lookups by UFID and by key (UFID-GET-*)."""

from __future__ import annotations

import errno

from conformance.suite._flows import FlowSpec, eth_key, eth_mask, flow_spec, output, ufid_n
from conformance.suite._helpers import del_flow, expect_errno, get_flow, install, requirement
from reference.dpif import Dpif
from reference.ufid import Ufid


@requirement("UFID-ID-001")
def test_get_echoes_the_ufid(dpif: Dpif) -> None:
    spec = flow_spec(1)
    install(dpif, spec)
    got = dpif.flow_get(ufid=spec.ufid)
    assert got.ufid == spec.ufid, f"get returned UFID {got.ufid}, installed {spec.ufid}"
    assert got.ufid_present, "get of a UFID flow did not mark the UFID as supplied by the datapath"


@requirement("UFID-ID-002")
def test_dump_returns_each_ufid_once(dpif: Dpif) -> None:
    specs = [flow_spec(n) for n in range(1, 9)]
    for spec in specs:
        install(dpif, spec)
    dumped = [f.ufid for f in dpif.flow_dump()]
    assert sorted(map(str, dumped)) == sorted(str(s.ufid) for s in specs), "dump UFIDs differ from the installed"
    assert all(f.ufid_present for f in dpif.flow_dump()), "a dumped UFID flow has ufid_present false"


@requirement("UFID-ID-003")
def test_every_ufid_bit_is_significant(dpif: Dpif) -> None:
    base = int(ufid_n(7))
    specs = []
    for i, bit in enumerate((None, 0, 31, 32, 63, 64, 95, 96, 127)):
        value = base if bit is None else base ^ (1 << bit)
        specs.append(FlowSpec(eth_key(1, src=100 + i), eth_mask(), output(2 + i), Ufid.from_int(value)))
    for spec in specs:
        install(dpif, spec)
    for spec in specs:
        got = dpif.flow_get(ufid=spec.ufid)
        assert got.ufid == spec.ufid, f"UFID {spec.ufid} came back as {got.ufid}"
        assert got.actions == spec.actions, f"UFID {spec.ufid} found another flow (bits not all significant)"


@requirement("UFID-ID-004")
def test_second_flow_with_same_ufid_is_rejected(dpif: Dpif) -> None:
    first = flow_spec(1)
    second = FlowSpec(eth_key(1, src=2), eth_mask(), output(3), first.ufid)
    install(dpif, first)
    with expect_errno(errno.EEXIST, "CREATE of a second flow with a live UFID"):
        install(dpif, second)
    got = dpif.flow_get(ufid=first.ufid)
    assert got.actions == first.actions, "the first flow changed"
    assert len(list(dpif.flow_dump())) == 1, "two flows share one UFID"


@requirement("UFID-GET-001")
def test_get_by_ufid(dpif: Dpif) -> None:
    spec = flow_spec(1)
    install(dpif, spec)
    assert dpif.flow_get(ufid=spec.ufid).actions == spec.actions
    with expect_errno(errno.ENOENT, "get of a UFID that is not installed"):
        dpif.flow_get(ufid=ufid_n(99))


@requirement("UFID-GET-002")
def test_ufid_decides_over_key(dpif: Dpif) -> None:
    a, b = flow_spec(1, out=2), flow_spec(2, out=3)
    install(dpif, a)
    install(dpif, b)
    got = dpif.flow_get(ufid=a.ufid, key=b.key)
    assert got.ufid == a.ufid and got.actions == a.actions, "get used the key instead of the UFID"
    dpif.flow_del(ufid=a.ufid, key=b.key)
    with expect_errno(errno.ENOENT, "get of the flow deleted by UFID"):
        dpif.flow_get(ufid=a.ufid)
    assert dpif.flow_get(ufid=b.ufid).actions == b.actions, "del used the key instead of the UFID"


@requirement("UFID-GET-003")
def test_ufid_flow_invisible_to_key_lookups(dpif: Dpif) -> None:
    spec = flow_spec(1)
    install(dpif, spec)
    with expect_errno(errno.ENOENT, "key-only get of a UFID flow"):
        dpif.flow_get(key=spec.key)
    with expect_errno(errno.ENOENT, "key-only del of a UFID flow"):
        dpif.flow_del(key=spec.key)
    assert dpif.flow_get(ufid=spec.ufid).actions == spec.actions, "a failed key-only del removed the flow"


@requirement("UFID-GET-004")
def test_key_identified_flow_found_and_deleted_by_key(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=False)
    install(dpif, spec)
    got = dpif.flow_get(key=spec.key)
    assert got.actions == spec.actions, "get by key returned other actions"
    dpif.flow_del(key=spec.key)
    with expect_errno(errno.ENOENT, "get by key after del by key"):
        dpif.flow_get(key=spec.key)
    assert list(dpif.flow_dump()) == [], "del by key left the flow in the dump"


@requirement("UFID-GET-005")
def test_unknown_key_is_enoent(dpif: Dpif) -> None:
    install(dpif, flow_spec(1, with_ufid=False))
    missing = flow_spec(2, with_ufid=False)
    with expect_errno(errno.ENOENT, "get of a key that is not installed"):
        get_flow(dpif, missing)
    with expect_errno(errno.ENOENT, "del of a key that is not installed"):
        del_flow(dpif, missing)
    assert len(list(dpif.flow_dump())) == 1


@requirement("UFID-GET-006")
def test_get_without_identifier_is_einval(dpif: Dpif) -> None:
    install(dpif, flow_spec(1))
    with expect_errno(errno.EINVAL, "get with neither UFID nor key"):
        dpif.flow_get()


@requirement("UFID-GET-007")
def test_netdev_key_lookup_of_flow_without_ufid(dpif: Dpif) -> None:
    spec = flow_spec(1, with_ufid=False)
    install(dpif, spec)
    got = dpif.flow_get(key=spec.key)
    assert got.actions == spec.actions and got.ufid_present, "get by key did not find the flow with its UFID"
    dpif.flow_del(key=spec.key)
    assert list(dpif.flow_dump()) == []
