"""Real threads: several handlers and revalidators over the reference datapath, random packets and rule changes.

Between random steps the machine stops the threads and checks, at a quiescent point:
no thread failed (an illegal ukey transition raises), after a round every datapath flow has a
ukey and every ukey has a datapath flow, every injected packet is accounted exactly once
(credited to a rule, or still counted in a datapath flow beyond what its ukey pushed), and the
flow limit history follows OVS's rule for the measured durations. The legacy variant runs the
same over a datapath without UFID support and also checks that no terse request was sent.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reference.udpif import UdpifConfig, UkeyState
from tests.reference.udpif._env import Env, eth_dst, eth_src, frame, make_env, output


def ovs_adapt(limit: int, duration: int, n_flows: int, cap: int) -> int:
    duration = max(duration, 1)
    if duration > 2000:
        limit //= duration // 1000
    elif duration > 1300:
        limit = limit * 3 // 4
    elif duration < 1000 and limit < n_flows * 1000 // duration:
        limit += 1000
    return min(cap, max(limit, 1000))


class UdpifMachine(RuleBasedStateMachine):
    ufid_support = True

    def __init__(self) -> None:
        super().__init__()
        self.env: Env | None = None
        self.running = False

    @initialize(
        handlers=st.integers(1, 3),
        revalidators=st.integers(1, 3),
        megaflows=st.booleans(),
        semantics=st.sampled_from(["kernel", "netdev"]),
    )
    def start(self, handlers: int, revalidators: int, megaflows: bool, semantics: str) -> None:
        if not self.ufid_support:
            semantics = "kernel"
        config = UdpifConfig(n_handlers=handlers, n_revalidators=revalidators, max_revalidator=3, flow_limit=60)
        self.env = make_env(semantics=semantics, ufid_support=self.ufid_support, config=config)  # type: ignore[arg-type]
        self.env.udpif.enable_megaflows = megaflows
        self.env.udpif.start()
        self.running = True

    @property
    def e(self) -> Env:
        assert self.env is not None
        return self.env

    @rule(hosts=st.lists(st.integers(2, 40), min_size=1, max_size=40), dst=st.sampled_from([1, 1, 2]))
    def packets(self, hosts: list[int], dst: int) -> None:
        for h in hosts:
            self.e.inject(frame(h, dst, sport=1000 + h % 3))

    @rule(prio=st.integers(1, 30), host=st.integers(2, 40), wide=st.booleans(), port=st.sampled_from([0, 2, 3]))
    def add_rule(self, prio: int, host: int, wide: bool, port: int) -> None:
        actions = b"" if port == 0 else output(port)
        match = eth_src(host, b"\xff\xff\xff\xff\xff\xf0" if wide else b"\xff" * 6) if host % 2 else eth_dst(host % 3)
        self.e.rules.add(prio, [match], actions)

    @precondition(lambda self: self.env is not None and len(self.env.rules.rules) > 1)
    @rule(index=st.integers(0, 100), drop=st.booleans())
    def change_rule(self, index: int, drop: bool) -> None:
        rules = self.e.rules.rules
        target = rules[index % len(rules)]
        if drop:
            self.e.rules.remove(target.rule_id)
        else:
            self.e.rules.set_actions(target.rule_id, output(3) if target.actions != output(3) else b"")

    @rule(ms=st.sampled_from([50, 150, 5000, 10_001, 30_000]))
    def time_passes(self, ms: int) -> None:
        self.e.clock.advance(ms)

    @rule()
    def wait_for_a_round(self) -> None:
        self.e.udpif.wait_rounds(1, timeout=30)

    @rule()
    def quiesce_and_check(self) -> None:
        env = self.e
        udpif = env.udpif
        udpif.stop()
        udpif.handle_upcalls()
        udpif.revalidate()
        # Every datapath flow has a ukey, and every ukey (all OPERATIONAL after a sweep) has its flow.
        ukeys = {u.ufid: u for u in udpif.ukeys}
        assert all(u.state is UkeyState.OPERATIONAL for u in ukeys.values())
        flows = {}
        for f in env.dp.flow_dump():
            ufid = f.ufid if f.ufid is not None else udpif.ufid_for_key(f.key or b"")
            flows[ufid] = f
        assert set(flows) == set(ukeys)
        # Packets: credited to rules, or sitting in a flow beyond what its ukey already pushed.
        pending = sum(f.stats.n_packets - ukeys[u].n_packets for u, f in flows.items())
        assert all(f.stats.n_packets >= ukeys[u].n_packets for u, f in flows.items())
        assert env.credited() + pending == env.injected - env.dp.n_lost
        udpif.start()

    @invariant()
    def no_thread_failed(self) -> None:
        if self.env is not None:
            assert self.env.udpif.errors == []

    @invariant()
    def limit_follows_ovs(self) -> None:
        if self.env is None:
            return
        udpif = self.env.udpif
        rounds = list(udpif.rounds)
        limit = 60  # initial: MIN(flow_limit, 10000)
        for report in rounds:
            limit = ovs_adapt(limit, report.duration_ms, report.n_flows, 60)
            assert report.limit.limit == limit

    def teardown(self) -> None:
        if self.env is None:
            return
        env = self.env
        env.udpif.stop()
        assert env.udpif.errors == []
        env.udpif.handle_upcalls()
        env.udpif.purge()
        # Everything deleted, every packet credited exactly once.
        assert len(env.dp) == 0
        assert len(env.udpif.ukeys) == 0
        assert env.credited() == env.injected - env.dp.n_lost
        if not self.ufid_support:
            assert env.dpif.terse_requests == []


class LegacyUdpifMachine(UdpifMachine):
    ufid_support = False

    @invariant()
    def nothing_terse(self) -> None:
        if self.env is not None:
            assert self.env.dpif.terse_requests == []


_settings = settings(
    max_examples=25,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestUdpifThreads = UdpifMachine.TestCase
TestUdpifThreads.settings = _settings
TestLegacyUdpifThreads = LegacyUdpifMachine.TestCase
TestLegacyUdpifThreads.settings = _settings
