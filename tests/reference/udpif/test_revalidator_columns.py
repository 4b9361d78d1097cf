"""The revalidator's column path against its record path, and the columnar variant of the threaded machine.

Two udpifs over two reference datapaths take the same random steps; one
receives the datapath's own terse batches (:class:`~reference.dpif.TerseBatch`,
handled on the columns), the other the same dump cut into lists of records
(the path every backend without batches takes). Every observable outcome
must be identical: round reports, per-flow coverage counters, every ukey's state and
statistics, the rules' credited statistics and the datapath's flows.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

from reference.dpif import DpifError, DpifFlow, PutFlags, TerseBatch
from reference.udpif import UdpifConfig
from reference.udpif.revalidator import Revalidator
from reference.ufid import Ufid
from tests.reference.udpif._env import Env, eth_dst, frame, make_env, output
from tests.reference.udpif.test_udpif_stateful import UdpifMachine, _settings

# Writes to one ukey behind the revalidators' back (by another thread, as OVS's handlers and
# unixctl commands may): each invalidates what a round that kept the ukey's batch at once knew of it.
_POKES: dict[str, Any] = {
    "stale reval_seq": lambda u: setattr(u, "reval_seq", u.reval_seq - 1),
    "one miss counted": lambda u: setattr(u, "missed_dumps", u.missed_dumps + 1),
    "packets pushed": lambda u: u.set_stats(u.n_packets + 1, u.n_bytes + 60, u.used, u.tcp_flags),
    "used forgotten": lambda u: setattr(u, "used", 0),
    "same value written": lambda u: setattr(u, "n_bytes", u.n_bytes),
}


STEP = st.one_of(
    st.tuples(st.just("new"), st.lists(st.integers(2, 60), min_size=1, max_size=30), st.sampled_from([1, 2])),
    st.tuples(st.just("traffic"), st.lists(st.integers(2, 60), min_size=1, max_size=30), st.just(1)),
    st.tuples(st.just("time"), st.sampled_from([0, 50, 150, 5_000, 10_001]), st.just(0)),
    st.tuples(st.just("rule"), st.integers(1, 30), st.sampled_from([0, 2, 3])),
    st.tuples(st.just("limit"), st.sampled_from([1, 3, 10, 1000]), st.just(0)),
    st.tuples(st.just("adopt"), st.integers(100, 120), st.booleans()),
    st.tuples(st.just("dp_del"), st.integers(0, 100), st.just(0)),
    st.tuples(st.just("reval"), st.just(0), st.just(0)),
    st.tuples(st.just("purge"), st.just(0), st.just(0)),
    st.tuples(st.just("poke"), st.integers(0, 60), st.sampled_from(sorted(_POKES))),
    st.tuples(st.just("held"), st.integers(0, 60), st.just(0)),
)


_PER_BATCH = frozenset({"upcall_flow_limit_hit", "upcall_flow_limit_kill"})


def observe(env: Env) -> dict[str, Any]:
    udpif = env.udpif
    return {
        "rounds": [
            (r.dump_seq, r.terse, r.n_flows, r.n_dumped, r.kept, r.modified, r.deleted, r.swept) for r in udpif.rounds
        ],
        # upcall_flow_limit_hit/_kill count dump *batches* over the limit (revalidate() checks
        # once per dpif_flow_dump_next call), and the datapath cuts its terse batches where
        # UFID and key-identified flows alternate while the record path cuts every 50 flows:
        # the per-flow decisions they lead to are compared through rounds, ukeys and flows.
        "coverage": {k: v for k, v in udpif.coverage.items() if k not in _PER_BATCH},
        "ukeys": sorted(
            (
                str(u.ufid),
                u.state.name,
                u.n_packets,
                u.n_bytes,
                u.used,
                u.tcp_flags,
                u.dump_seq,
                u.reval_seq,
                u.missed_dumps,
                u.actions,
                u.xcache,
            )
            for u in udpif.ukeys
        ),
        "by_wire": sorted(str(u.ufid) for u in udpif.ukeys.by_wire.values()),
        "rules": {k: (v.n_packets, v.n_bytes, v.used) for k, v in env.rules.stats().items()},
        "flows": sorted(repr(f) for f in env.dp.flow_dump(terse=True)),
        "limit": udpif.flow_limit.value,
    }


def step(env: Env, kind: str, a: Any, b: Any) -> None:
    udpif = env.udpif
    if kind == "new":
        for h in a:
            env.inject(frame(h, b))
        udpif.handle_upcalls()
    elif kind == "traffic":
        for h in a:
            env.inject(frame(h))
        udpif.handle_upcalls()
    elif kind == "time":
        env.clock.advance(a)
    elif kind == "rule":
        env.rules.add(a, [eth_dst(a % 3)], b"" if b == 0 else output(b))
    elif kind == "limit":
        udpif.flow_limit.reset(a)
    elif kind == "adopt":  # a datapath flow without a ukey (terse dump, then flow_get)
        env.inject(frame(a))
        ups = env.dp.recv_upcalls()
        if ups:
            ufid = None if b and env.dp.semantics == "kernel" else Ufid.from_int(a)
            with contextlib.suppress(DpifError):  # an overlapping flow exists already: nothing adopted
                env.dp.flow_put(ups[0].key, None, output(env.p3), ufid=ufid, flags=PutFlags.CREATE)
    elif kind == "dp_del":
        flows = list(env.dp.flow_dump())
        if flows:
            f = flows[a % len(flows)]
            env.dp.flow_del(ufid=f.ufid_bytes if f.ufid_present else None, key=f.key)
    elif kind == "reval":
        udpif.revalidate()
    elif kind in ("poke", "held"):  # the (a mod n)-th ukey by UFID: the same flow in every env
        ukeys = sorted(udpif.ukeys, key=lambda u: str(u.ufid))
        if not ukeys:
            return
        ukey = ukeys[a % len(ukeys)]
        if kind == "poke":
            with ukey.lock:
                _POKES[b](ukey)
        else:  # a round while another thread holds the ukey's lock: the revalidator must skip it
            with ukey.lock:
                udpif.revalidate()
    elif kind == "purge":
        udpif.purge()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    semantics=st.sampled_from(["kernel", "netdev"]),
    megaflows=st.booleans(),
    steps=st.lists(STEP, min_size=1, max_size=25),
)
def test_columns_and_records_decide_alike(semantics: str, megaflows: bool, steps: list[tuple[str, Any, Any]]) -> None:
    config = UdpifConfig(flow_limit=40)
    envs = [make_env(semantics=semantics, config=config, columnar=c, ufid_secret=7) for c in (True, False)]  # type: ignore[arg-type]
    for env in envs:
        env.udpif.enable_megaflows = megaflows
    for kind, a, b in [*steps, ("reval", 0, 0)]:
        for env in envs:
            step(env, kind, a, b)
        assert observe(envs[0]) == observe(envs[1]), (kind, a, b)


def test_flows_needing_nothing_build_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env(columnar=True, config=UdpifConfig(enable_megaflows=False))
    for h in range(2, 8):
        env.inject(frame(h))
    env.udpif.handle_upcalls()
    batches = list(env.dpif.flow_dump_batches(terse=True))
    assert batches and all(type(b) is TerseBatch for b in batches)
    env.udpif.revalidate()  # first sight: VISIBLE -> OPERATIONAL, through the record-free slow path

    def no_records(*args: object) -> None:
        raise AssertionError("a record or a full decision was built for a flow that needs nothing")

    monkeypatch.setattr(TerseBatch, "__getitem__", no_records)
    monkeypatch.setattr(Revalidator, "_judge", no_records)
    report = env.udpif.revalidate()
    assert (report.kept, report.n_dumped, report.deleted, report.modified) == (6, 6, 0, 0)


class ColumnarUdpifMachine(UdpifMachine):
    """The threaded machine of test_udpif_stateful with the datapath's own (columnar) batches."""

    @initialize(
        handlers=st.integers(1, 3),
        revalidators=st.integers(1, 3),
        megaflows=st.booleans(),
        semantics=st.sampled_from(["kernel", "netdev"]),
    )
    def start(self, handlers: int, revalidators: int, megaflows: bool, semantics: str) -> None:
        config = UdpifConfig(n_handlers=handlers, n_revalidators=revalidators, max_revalidator=3, flow_limit=60)
        self.env = make_env(semantics=semantics, config=config, columnar=True)  # type: ignore[arg-type]
        self.env.udpif.enable_megaflows = megaflows
        self.env.udpif.start()
        self.running = True


TestColumnarUdpifThreads = ColumnarUdpifMachine.TestCase
TestColumnarUdpifThreads.settings = _settings


def _set_tcp_flags(env: Env, flags: int) -> None:
    """OR TCP flags into every datapath flow without a packet (the terse dump reports them, the ukey records them)."""
    for flow in env.dp._table:
        flow.tcp_flags |= flags


# Scripted rounds aimed at each test of the whole-batch fast path (every flow unchanged, OPERATIONAL,
# current reval_seq, recently used): each scenario makes exactly one of them fail for some or all
# flows of a batch, after rounds in which the whole batch was kept at once.
_SCENARIOS: dict[str, list[tuple[str, Any, Any]]] = {
    "idle: every flow times out": [("time", 10_001, 0), ("reval", 0, 0)],
    "just under idle, then over": [("time", 9_999, 0), ("reval", 0, 0), ("time", 2, 0), ("reval", 0, 0)],
    "new packets on some flows": [("traffic", [3, 5], 1), ("reval", 0, 0)],
    "a rule change (reval_seq)": [("rule", 7, 3), ("reval", 0, 0)],
    "tcp flags change without packets": [("flags", 0x12, 0), ("reval", 0, 0), ("flags", 0x1_01, 0), ("reval", 0, 0)],
    "over the flow limit": [("limit", 3, 0), ("reval", 0, 0)],
    "far over the limit (kill them all)": [("limit", 1, 0), ("reval", 0, 0)],
    "all flows killed, then the same flows come back at once (new ukeys, same UFIDs)": [
        ("limit", 1, 0),
        ("reval", 0, 0),
        ("limit", 1000, 0),
        ("reval", 0, 0),
        # (in reverse: freed slots are reused last freed first, so the flows take their old slots back
        # and the dump's UFID block is the one the revalidators saw before the kill)
        ("new", list(range(13, 1, -1)), 1),
        ("reval", 0, 0),
        ("reval", 0, 0),
    ],
    "a flow deleted behind the cache's back": [("dp_del", 2, 0), ("reval", 0, 0), ("reval", 0, 0)],
    "a flow missed by a dump, then back": [("drop", 4, 0), ("reval", 0, 0), ("restore", 4, 0), ("reval", 0, 0)],
    "new flows join the batch": [("new", [40, 41, 42], 1), ("reval", 0, 0)],
    "flows idle out, then the same flows come back (new ukeys, same UFIDs)": [
        ("time", 10_001, 0),
        ("reval", 0, 0),
        ("reval", 0, 0),
        ("new", list(range(2, 14)), 1),
        ("reval", 0, 0),
        ("reval", 0, 0),
        ("traffic", [3], 1),
        ("reval", 0, 0),
    ],
    "purge": [("purge", 0, 0)],
    # After two rounds that kept every batch at once, a third recognises them unchanged (by the ukeys'
    # versions): each of these must stop that for the batch concerned.
    **{
        f"a ukey written between rounds: {poke}": [("reval", 0, 0), ("poke", 5, poke), ("reval", 0, 0), ("reval", 0, 0)]
        for poke in _POKES
    },
    "a ukey locked during a round": [("reval", 0, 0), ("held", 5, 0), ("reval", 0, 0)],
}


@pytest.mark.parametrize("semantics", ["kernel", "netdev"])
@pytest.mark.parametrize("name", sorted(_SCENARIOS))
def test_whole_batch_fast_path_decides_as_records(semantics: str, name: str) -> None:
    config = UdpifConfig(flow_limit=40, enable_megaflows=False)
    envs = [make_env(semantics=semantics, config=config, columnar=c, ufid_secret=7) for c in (True, False)]  # type: ignore[arg-type]
    warm_up = [("new", list(range(2, 14)), 1), ("reval", 0, 0), ("time", 100, 0), ("reval", 0, 0)]
    dropped: dict[int, DpifFlow] = {}
    for kind, a, b in [*warm_up, *_SCENARIOS[name]]:
        for i, env in enumerate(envs):
            if kind == "flags":
                _set_tcp_flags(env, a)
            elif kind == "drop":  # the datapath loses the flow for a while, behind the ukey's back
                dropped[i] = sorted(env.dp.flow_dump(), key=lambda f: f.ufid_bytes or b"")[a]
                env.dp.flow_del(ufid=dropped[i].ufid_bytes)
            elif kind == "restore":
                f = dropped[i]
                assert f.key is not None and f.actions is not None
                env.dp.flow_put(f.key, f.mask, f.actions, ufid=f.ufid_bytes, flags=PutFlags.CREATE)
            else:
                step(env, kind, a, b)
        assert observe(envs[0]) == observe(envs[1]), (kind, a, b)


@pytest.mark.parametrize("name", ["new packets on some flows", "tcp flags change without packets", "purge"])
def test_batches_refilled_in_place_decide_as_records(name: str) -> None:
    """A backend may refill the same column buffers every dump: a kept batch must not be compared with itself."""
    config = UdpifConfig(flow_limit=40, enable_megaflows=False)
    envs = [make_env(config=config, columnar=c, ufid_secret=7) for c in ("reused", False)]
    warm_up = [("new", list(range(2, 14)), 1), ("reval", 0, 0), ("time", 100, 0), ("reval", 0, 0), ("reval", 0, 0)]
    for kind, a, b in [*warm_up, *_SCENARIOS[name], ("reval", 0, 0)]:
        for env in envs:
            if kind == "flags":
                _set_tcp_flags(env, a)
            else:
                step(env, kind, a, b)
        assert observe(envs[0]) == observe(envs[1]), (kind, a, b)


@pytest.mark.parametrize("columnar", [True, False])
def test_a_flow_dumped_again_after_a_miss_counts_its_misses_from_zero(columnar: bool) -> None:
    env = make_env(config=UdpifConfig(enable_megaflows=False), columnar=columnar)
    for h in range(2, 8):
        env.inject(frame(h))
    env.udpif.handle_upcalls()
    env.udpif.revalidate()
    gone = next(iter(env.dp.flow_dump()))
    assert gone.key is not None and gone.actions is not None
    env.dp.flow_del(ufid=gone.ufid_bytes)
    env.udpif.revalidate()
    assert sorted(u.missed_dumps for u in env.udpif.ukeys) == [0, 0, 0, 0, 0, 1]
    env.dp.flow_put(gone.key, gone.mask, gone.actions, ufid=gone.ufid_bytes, flags=PutFlags.CREATE)
    env.udpif.revalidate()
    assert [u.missed_dumps for u in env.udpif.ukeys] == [0] * 6
