"""Statistics from injected traffic (UFID-STATS-*), masks (UFID-MASK-001), upcalls and execute."""

from __future__ import annotations

import errno

from conformance.plugin import BackendSession
from conformance.suite._flows import (
    FlowSpec,
    eth_frame,
    eth_key,
    eth_mask,
    flow_spec,
    output,
    tcp_frame,
    tcp_key,
    tcp_mask,
)
from conformance.suite._helpers import expect_errno, get_flow, has, install, requirement, send
from reference.dpif import Dpif

_SYN, _PSH, _ACK = 0x02, 0x08, 0x10


def _setup(session: BackendSession) -> tuple[Dpif, int, int]:
    p1, p2 = session.ports(2)
    return session.fresh(), p1, p2


@requirement("UFID-STATS-001")
def test_injected_frames_counted(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    spec = flow_spec(1, port=p1, with_ufid=has(dpif_session, "ufid"))
    install(dpif, spec)
    sizes = [60, 61, 128, 1000]
    for size in sizes:
        dpif.inject(p1, eth_frame(1, size=size))
    s = get_flow(dpif, spec).stats
    assert (s.n_packets, s.n_bytes) == (len(sizes), sum(sizes)), f"stats {s} after {len(sizes)} frames {sizes}"


@requirement("UFID-STATS-002")
def test_used_set_by_traffic(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    spec = flow_spec(1, port=p1, with_ufid=has(dpif_session, "ufid"))
    install(dpif, spec)
    assert get_flow(dpif, spec).stats.used_ms == 0, "used is set before any traffic"
    send(dpif, p1, 1, 1)
    assert get_flow(dpif, spec).stats.used_ms != 0, "used is still 0 after traffic"


@requirement("UFID-STATS-003")
def test_tcp_flags_accumulate(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    spec = FlowSpec(tcp_key(p1, src=3), tcp_mask(), output(2), flow_spec(3).ufid if has(dpif_session, "ufid") else None)
    install(dpif, spec)
    dpif.inject(p1, tcp_frame(3, _SYN))
    dpif.inject(p1, tcp_frame(3, _ACK | _PSH))
    s = get_flow(dpif, spec).stats
    assert s.n_packets == 2, f"the TCP frames did not hit the flow: {s}"
    assert s.tcp_flags == _SYN | _ACK | _PSH, f"tcp_flags {s.tcp_flags:#x}, expected {_SYN | _ACK | _PSH:#x}"


@requirement("UFID-STATS-004")
def test_stats_agree_everywhere(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    ufid = has(dpif_session, "ufid")
    specs = [flow_spec(i, port=p1, with_ufid=ufid) for i in range(1, 4)]
    expected = {}
    for i, spec in enumerate(specs):
        install(dpif, spec)
        expected[spec.actions, spec.key] = (i + 1, send(dpif, p1, i + 1, i + 1, size=64))
    for spec in specs:
        s = get_flow(dpif, spec).stats
        assert (s.n_packets, s.n_bytes) == expected[spec.actions, spec.key], f"get stats {s}"
    full = sorted((f.stats.n_packets, f.stats.n_bytes) for f in dpif.flow_dump())
    assert full == sorted(expected.values()), f"full dump stats {full}, injected {sorted(expected.values())}"
    if has(dpif_session, "terse"):
        terse = sorted((f.stats.n_packets, f.stats.n_bytes) for f in dpif.flow_dump(terse=True))
        assert terse == full, f"terse dump stats {terse} differ from full {full}"


@requirement("UFID-MASK-001")
def test_masks_are_honoured(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    ufid = flow_spec(1).ufid if has(dpif_session, "ufid") else None
    spec = FlowSpec(eth_key(p1, src=1, dst=5), eth_mask(src=False), output(2), ufid)
    install(dpif, spec)
    dpif.inject(p1, eth_frame(src=77, dst=5))  # differs only in the wildcarded source
    s = get_flow(dpif, spec).stats
    assert s.n_packets == 1, "a frame differing only in a wildcarded field missed the flow"
    dpif.inject(p1, eth_frame(src=1, dst=6))  # differs in the matched destination
    s = get_flow(dpif, spec).stats
    assert s.n_packets == 1, "a frame differing in a matched field hit the flow"


@requirement("UFID-UPCALL-001")
def test_miss_queues_an_upcall(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    frame = eth_frame(9, size=64)
    dpif.inject(p1, frame)
    ups = dpif.recv_upcalls(8)
    assert len(ups) == 1, f"{len(ups)} upcalls after one missed frame"
    (up,) = ups
    assert up.packet == frame, "the upcall does not carry the frame"
    assert up.in_port == p1, f"upcall in_port {up.in_port}, frame arrived on {p1}"
    assert up.key, "the upcall has no key"


@requirement("UFID-EXEC-001")
def test_execute(dpif_session: BackendSession) -> None:
    dpif, p1, p2 = _setup(dpif_session)
    dpif.execute(eth_frame(1), output(p2), in_port=p1)
    if dpif_session.semantics == "kernel":
        # Only the Linux datapath checks the actions it is asked to execute
        # (datapath.c ovs_packet_cmd_execute -> ovs_nla_copy_actions);
        # dpif-netdev runs them unchecked (dpif_netdev_execute), lib/dpif.h
        # promises no check, and ovs-vswitchd only executes actions it composed.
        with expect_errno(errno.EINVAL, "execute with malformed actions"):
            dpif.execute(eth_frame(1), output(p2)[:-2], in_port=p1)
