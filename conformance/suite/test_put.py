"""put outcomes (UFID-PUT-*) and duplicate/overlap detection (UFID-DUP-*)."""

from __future__ import annotations

import errno

from conformance.plugin import BackendSession
from conformance.suite._flows import FlowSpec, eth_key, eth_mask, flow_spec, output, ufid_n
from conformance.suite._helpers import (
    dump_set,
    expect_errno,
    get_flow,
    has,
    install,
    requirement,
    send,
    traffic_port,
)
from reference.dpif import Dpif, PutFlags


def _spec(session: BackendSession, n: int, *, out: int = 2, port: int = 1) -> FlowSpec:
    return flow_spec(n, port=port, with_ufid=has(session, "ufid"), out=out)


def _traffic(session: BackendSession, dpif: Dpif, n: int) -> tuple[FlowSpec, int, int]:
    """A flow on the first port with 3 frames through it when the backend takes traffic."""
    port = traffic_port(session)
    if port is None:
        spec = _spec(session, n)
        install(dpif, spec)
        return spec, 0, 0
    dpif = session.fresh()
    spec = _spec(session, n, port=port)
    install(dpif, spec)
    return spec, 3, send(dpif, port, n, 3, size=70)


@requirement("UFID-PUT-001")
def test_create_installs_with_zero_stats(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec = _spec(dpif_session, 1)
    stats = install(dpif, spec)
    assert (stats.n_packets, stats.n_bytes) == (0, 0), f"CREATE returned non-zero stats {stats}"
    assert get_flow(dpif, spec).actions == spec.actions


@requirement("UFID-PUT-002")
def test_modify_of_absent_flow_is_enoent(dpif_session: BackendSession, dpif: Dpif) -> None:
    with expect_errno(errno.ENOENT, "put MODIFY of an absent flow"):
        install(dpif, _spec(dpif_session, 1), PutFlags.MODIFY)
    assert list(dpif.flow_dump()) == [], "a failed MODIFY installed a flow"


@requirement("UFID-PUT-003")
def test_create_of_installed_flow_is_eexist(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec = _spec(dpif_session, 1, out=2)
    install(dpif, spec)
    before = dump_set(dpif)
    with expect_errno(errno.EEXIST, "second CREATE of the same flow"):
        install(dpif, FlowSpec(spec.key, spec.mask, output(3), spec.ufid))
    assert dump_set(dpif) == before, "a failed CREATE changed the table"


@requirement("UFID-PUT-004")
def test_modify_replaces_actions_keeps_stats(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec, packets, nbytes = _traffic(dpif_session, dpif, 1)
    dpif = dpif_session.dpif or dpif
    old = install(dpif, FlowSpec(spec.key, spec.mask, output(5), spec.ufid), PutFlags.MODIFY)
    assert (old.n_packets, old.n_bytes) == (packets, nbytes), f"MODIFY returned {old}, not the stats before"
    got = get_flow(dpif, spec)
    assert got.actions == output(5), "MODIFY did not replace the actions"
    assert (got.stats.n_packets, got.stats.n_bytes) == (packets, nbytes), "MODIFY did not keep the stats"


@requirement("UFID-PUT-005")
def test_modify_zero_stats(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec, packets, nbytes = _traffic(dpif_session, dpif, 1)
    dpif = dpif_session.dpif or dpif
    old = install(dpif, FlowSpec(spec.key, spec.mask, output(6), spec.ufid), PutFlags.MODIFY | PutFlags.ZERO_STATS)
    assert (old.n_packets, old.n_bytes) == (packets, nbytes), f"MODIFY|ZERO_STATS returned {old}"
    got = get_flow(dpif, spec)
    assert got.actions == output(6), "MODIFY|ZERO_STATS did not replace the actions"
    assert (got.stats.n_packets, got.stats.n_bytes) == (0, 0), f"ZERO_STATS left stats {got.stats}"


@requirement("UFID-PUT-006")
def test_netdev_modify_zero_stats_is_eopnotsupp(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec = _spec(dpif_session, 1)
    install(dpif, spec)
    with expect_errno(errno.EOPNOTSUPP, "MODIFY|ZERO_STATS on dpif-netdev"):
        install(dpif, FlowSpec(spec.key, spec.mask, output(6), spec.ufid), PutFlags.MODIFY | PutFlags.ZERO_STATS)
    assert get_flow(dpif, spec).actions == output(6), "the actions were not replaced"


@requirement("UFID-PUT-007")
def test_create_or_modify(dpif_session: BackendSession, dpif: Dpif) -> None:
    spec = _spec(dpif_session, 1)
    both = PutFlags.CREATE | PutFlags.MODIFY
    install(dpif, spec, both)
    assert get_flow(dpif, spec).actions == spec.actions, "CREATE|MODIFY did not install an absent flow"
    install(dpif, FlowSpec(spec.key, spec.mask, output(7), spec.ufid), both)
    assert get_flow(dpif, spec).actions == output(7), "CREATE|MODIFY did not modify the installed flow"
    assert len(list(dpif.flow_dump())) == 1


_BAD_PUTS = {
    "truncated key attribute": (eth_key(1, 1)[:-3], None, output(2)),
    "key attribute length beyond the data": (b"\x40\x00\x03\x00\x01\x00\x00\x00", None, output(2)),
    "in_port of 2 bytes": (b"\x06\x00\x03\x00\x01\x00\x00\x00", None, output(2)),
    "mask attribute of the wrong length": (
        eth_key(1, 1),
        eth_mask()[:-8] + b"\x05\x00\x06\x00\xff\x00\x00\x00",
        output(2),
    ),
    "truncated actions": (eth_key(1, 1), eth_mask(), output(2)[:-2]),
    "output action of 2 bytes": (eth_key(1, 1), eth_mask(), b"\x06\x00\x01\x00\x02\x00\x00\x00"),
}
_BAD_ACTIONS = frozenset({"truncated actions", "output action of 2 bytes"})


@requirement("UFID-PUT-008")
def test_malformed_put_is_einval_and_changes_nothing(dpif_session: BackendSession, dpif: Dpif) -> None:
    install(dpif, _spec(dpif_session, 9))
    before = dump_set(dpif)
    for what, (key, mask, actions) in _BAD_PUTS.items():
        if what in _BAD_ACTIONS and dpif_session.semantics != "kernel":
            # Only the Linux datapath checks actions at put time (flow_netlink.c
            # ovs_nla_copy_actions). dpif-netdev copies them unchecked
            # (lib/dpif-netdev.c dp_netdev_actions_create), lib/dpif.h promises
            # no check, and ovs-vswitchd only ever sends actions it composed.
            continue
        ufid = ufid_n(50) if has(dpif_session, "ufid") else None
        with expect_errno(errno.EINVAL, f"put with {what}"):
            dpif.flow_put(key, mask, actions, ufid=ufid)
        assert dump_set(dpif) == before, f"a rejected put ({what}) changed the table"


@requirement("UFID-DUP-001")
def test_overlap_across_masks_is_eexist(dpif_session: BackendSession, dpif: Dpif) -> None:
    ufid = has(dpif_session, "ufid")
    wide = FlowSpec(eth_key(1, src=1, dst=5), eth_mask(dst=False), output(2), ufid_n(1) if ufid else None)
    narrow = FlowSpec(eth_key(1, src=1, dst=5), eth_mask(), output(3), ufid_n(2) if ufid else None)
    install(dpif, wide)
    with expect_errno(errno.EEXIST, "CREATE of an exact flow inside an installed wildcarded one"):
        install(dpif, narrow)
    assert len(list(dpif.flow_dump())) == 1, "two overlapping flows are installed"


@requirement("UFID-DUP-002")
def test_new_ufid_same_key_is_eexist(dpif: Dpif) -> None:
    first = flow_spec(1)
    install(dpif, first)
    with expect_errno(errno.EEXIST, "CREATE with a new UFID but an installed key"):
        install(dpif, FlowSpec(first.key, first.mask, output(3), ufid_n(2)))
    assert len(list(dpif.flow_dump())) == 1


@requirement("UFID-DUP-003")
def test_modify_ufid_with_other_key_is_enoent(dpif: Dpif) -> None:
    first = flow_spec(1, out=2)
    install(dpif, first)
    # CREATE|MODIFY is OVS_FLOW_CMD_NEW without NLM_F_CREATE: the kernel's "modify" path compares the keys.
    # (MODIFY alone is OVS_FLOW_CMD_SET, which looks up by UFID only and ignores the key.)
    with expect_errno(errno.ENOENT, "CREATE|MODIFY naming an installed UFID with a different key"):
        install(
            dpif,
            FlowSpec(eth_key(1, src=2), eth_mask(), output(3), first.ufid),
            PutFlags.CREATE | PutFlags.MODIFY,
        )
    got = dpif.flow_get(ufid=first.ufid)
    assert got.actions == first.actions, "the flow changed"
