"""Statistics from injected traffic (UFID-STATS-*), masks (UFID-MASK-001), upcalls and execute."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

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
from conformance.suite._helpers import del_flow, expect_errno, get_flow, has, install, requirement, send
from reference.dpif import Dpif, FlowStats, datapath_clock

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


# A pause long enough that a wrong unit of used (s, us, jiffies) cannot pass for ms.
_PAUSE_S = 0.3
# used comes from a tick-based clock (the kernel: jiffies, 4-10 ms per tick) read twice.
_GRAIN_MS = 25


@requirement("UFID-STATS-005")
def test_used_advances_in_milliseconds(dpif_session: BackendSession) -> None:
    # The revalidator's idle test compares used with its own time_msec() (ofproto-dpif-upcall.c revalidate):
    # used must be in ms and be refreshed by every frame. The backend's clock may not be ours (a VM), so only
    # the difference between two frames is compared with the time this process saw pass between them.
    dpif, p1, _ = _setup(dpif_session)
    spec = flow_spec(1, port=p1, with_ufid=has(dpif_session, "ufid"))
    install(dpif, spec)
    t0 = time.monotonic()
    send(dpif, p1, 1, 1)
    t1 = time.monotonic()
    first = get_flow(dpif, spec).stats.used_ms
    time.sleep(_PAUSE_S)
    t2 = time.monotonic()
    send(dpif, p1, 1, 1)
    t3 = time.monotonic()
    second = get_flow(dpif, spec).stats.used_ms
    assert first and second, f"used is 0 after traffic: {first}, {second}"
    lo = 500 * (t2 - t1) - _GRAIN_MS  # at least half the pause between the frames
    hi = 2000 * (t3 - t0) + _GRAIN_MS  # at most twice the time from before the first to after the second
    delta = second - first
    assert lo <= delta <= hi, (
        f"used advanced by {delta} between two frames {1000 * (t2 - t1):.0f}..{1000 * (t3 - t0):.0f} ms apart "
        f"(accepted {lo:.0f}..{hi:.0f}): not milliseconds, or not refreshed by the second frame"
    )


@requirement("UFID-STATS-006")
def test_used_is_on_the_backend_clock(dpif_session: BackendSession) -> None:
    dpif, p1, _ = _setup(dpif_session)
    backend_clock = datapath_clock(dpif)
    assert backend_clock is not None, "capability clock without a clock_ms"
    clock = backend_clock.clock_ms
    spec = flow_spec(1, port=p1, with_ufid=has(dpif_session, "ufid"))
    install(dpif, spec)
    before = clock()
    send(dpif, p1, 1, 1)
    after = clock()
    used = get_flow(dpif, spec).stats.used_ms
    assert before - _GRAIN_MS <= used <= after + _GRAIN_MS, (
        f"used {used} is not between clock_ms() {before} before and {after} after the frame"
    )


_Reader = Callable[[FlowSpec], FlowStats]


def _readers(dpif: Dpif, terse_ok: bool, terse_get_ok: bool) -> dict[str, _Reader]:
    """Every kind of reply that carries a flow's statistics without removing it, by name."""

    def from_dump(terse: bool) -> _Reader:
        def read(spec: FlowSpec) -> FlowStats:
            for f in dpif.flow_dump(terse=terse):
                if (f.ufid == spec.ufid) if spec.ufid is not None else (f.actions == spec.actions):
                    return f.stats
            raise AssertionError(f"the {'terse' if terse else 'full'} dump lost the flow")

        return read

    out: dict[str, _Reader] = {"get": lambda spec: get_flow(dpif, spec).stats, "full dump": from_dump(False)}
    if terse_get_ok:
        out["terse get"] = lambda spec: get_flow(dpif, spec, terse=True).stats
    if terse_ok:
        out["terse dump"] = from_dump(True)
    return out


@requirement("UFID-STATS-007")
def test_every_reply_kind_is_fresh(dpif_session: BackendSession) -> None:
    # revalidate() reads terse dumps, push_dp_ops the stats of deletes, others dpif_flow_get: a reply kind
    # that serves a snapshot taken by another kind of read loses the traffic sent in between.
    dpif, p1, _ = _setup(dpif_session)
    terse_ok = has(dpif_session, "terse")
    ufid = has(dpif_session, "ufid")
    readers = _readers(dpif, terse_ok, has(dpif_session, "terse_get"))
    kinds: dict[str, _Reader] = {**readers, "del": lambda spec: del_flow(dpif, spec)}
    if terse_ok:
        kinds["terse del"] = lambda spec: del_flow(dpif, spec, terse=True)
    for n, (name, read) in enumerate(kinds.items(), start=1):
        spec = flow_spec(n, port=p1, with_ufid=ufid, out=n + 1)
        install(dpif, spec)
        sent = send(dpif, p1, n, 1, size=70)
        for warm in readers.values():  # every kind of read sees the first frame
            warm(spec)
        sent += send(dpif, p1, n, 2, size=90)
        s = read(spec)
        assert (s.n_packets, s.n_bytes) == (3, sent), (
            f"{name} after traffic reports {s.n_packets} packets {s.n_bytes} bytes, 3 packets {sent} bytes "
            "were sent (stale statistics in this kind of reply)"
        )


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
