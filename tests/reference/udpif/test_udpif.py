"""Udpif wiring: probing decides terse operation; the legacy fallback never sends a terse request."""

from __future__ import annotations

import pytest

from reference.dpif import DelOp
from reference.udpif import UdpifConfig, UkeyState
from reference.udpif.udpif import dp_flow_count
from tests.reference.udpif._env import Env, eth_dst, eth_src, frame, make_env, output


def scenario(env: Env) -> None:
    """Installs, hits, a modify, a too-wide delete, idle deletion, an adopted flow, a purge."""
    env.udpif.enable_megaflows = False
    for h in range(2, 12):
        env.inject(frame(h))
    env.udpif.handle_upcalls()
    for h in range(2, 12):
        env.inject(frame(h))
    env.udpif.revalidate()
    (rule,) = env.rules.rules
    env.rules.set_actions(rule.rule_id, output(env.p3))
    env.udpif.revalidate()
    env.udpif.enable_megaflows = True
    env.rules.add(5, [eth_dst(1)], output(env.p2))
    env.udpif.revalidate()
    env.clock.advance(20_000)
    env.udpif.revalidate()
    # A flow nobody cached: installed behind the udpif's back, then adopted by a dump.
    env.inject(frame(50))
    (up,) = env.dp.recv_upcalls()
    env.injected -= 1  # this packet's upcall was taken away from the handlers: nobody can credit it
    env.dp.flow_put(up.key, None, output(env.p2))
    env.udpif.revalidate()
    env.udpif.purge()


def test_probe_decides_terse_operation() -> None:
    assert make_env().udpif.use_ufid()
    assert not make_env(ufid_support=False).udpif.use_ufid()
    env = make_env()
    env.udpif.enable_ufid = False  # upcall/disable-ufid
    assert not env.udpif.use_ufid()


@pytest.mark.parametrize("semantics", ["kernel", "netdev"])
def test_terse_everywhere_with_ufid_support(semantics: str) -> None:
    env = make_env(semantics=semantics)  # type: ignore[arg-type]
    scenario(env)
    kinds = {name for name, _ in env.dpif.terse_requests}
    assert "dump" in kinds and "operate-DelOp" in kinds
    assert len(env.dp) == 0 and len(env.udpif.ukeys) == 0
    assert env.credited() == env.injected


def test_legacy_datapath_never_gets_a_terse_request() -> None:
    env = make_env(ufid_support=False)
    assert env.dp.features.ufid is False
    scenario(env)
    assert env.dpif.terse_requests == []
    assert len(env.dp) == 0 and len(env.udpif.ukeys) == 0
    assert env.credited() == env.injected


def test_legacy_deletes_carry_the_key() -> None:
    env = make_env(ufid_support=False)
    ops: list[DelOp] = []
    real_operate = env.dpif.operate

    def spy(batch):  # type: ignore[no-untyped-def]
        ops.extend(op for op in batch if isinstance(op, DelOp))
        return real_operate(batch)

    env.dpif.operate = spy  # type: ignore[method-assign]
    env.inject(frame(3))
    env.udpif.handle_upcalls()
    env.udpif.purge()
    assert len(ops) == 1
    assert ops[0].key is not None and not ops[0].terse
    assert len(env.dp) == 0


def test_legacy_dumps_find_ukeys_by_the_derived_ufid() -> None:
    env = make_env(ufid_support=False)
    env.udpif.enable_megaflows = False
    for h in range(2, 20):
        env.inject(frame(h))
    env.udpif.handle_upcalls()
    report = env.udpif.revalidate()
    assert not report.terse
    assert report.kept == 18
    assert env.udpif.coverage["ukey_adopted"] == 0  # every dumped flow matched its handler-made ukey
    assert env.dp_ufids() == {u.ufid for u in env.udpif.ukeys}


def test_disable_ufid_on_a_ufid_datapath_uses_full_dumps() -> None:
    env = make_env()
    env.udpif.enable_ufid = False
    scenario(env)
    assert env.dpif.terse_requests == []
    assert env.credited() == env.injected


def test_flow_count_sources() -> None:
    env = make_env()
    assert dp_flow_count(env.dpif) == 0
    env.inject(frame(3))
    env.udpif.handle_upcalls()
    assert dp_flow_count(env.dp) == 1
    assert env.udpif.refresh_n_flows() == 1


def test_threads_start_and_stop_cleanly() -> None:
    env = make_env(config=UdpifConfig(n_handlers=2, n_revalidators=2, max_revalidator=5))
    with env.udpif:
        env.udpif.start()
        for h in range(2, 40):
            env.inject(frame(h))
        env.udpif.wait_rounds(3)
        env.udpif.stop()
    assert env.udpif.errors == []
    assert len(env.udpif.rounds) >= 3
    env.udpif.handle_upcalls()
    env.udpif.revalidate()
    assert all(u.state is UkeyState.OPERATIONAL for u in env.udpif.ukeys)
    assert env.dp_ufids() == {u.ufid for u in env.udpif.ukeys}


def test_set_flow_limit_reply() -> None:
    env = make_env()
    assert env.udpif.set_flow_limit(5000) == "set flow_limit to 5000"
    assert env.udpif.flow_limit.cap == 5000


def test_eth_src_rule_helper_sanity() -> None:
    # The helpers address the bytes the datapath puts in the key (eth = src then dst).
    env = make_env()
    env.rules.add(30, [eth_src(3)], output(env.p3))
    env.inject(frame(3))
    env.udpif.handle_upcalls()
    assert [port for port, _ in env.dp.take_output()] == [env.p3]


def test_upcall_show_layout_and_ufid_switch() -> None:
    env = make_env(config=UdpifConfig(n_revalidators=2))
    env.udpif.enable_megaflows = False
    for h in range(2, 7):
        env.inject(frame(h))
    env.udpif.handle_upcalls()
    env.udpif.revalidate()
    lines = env.udpif.show("system@ovs-system").splitlines()
    assert lines[0] == "system@ovs-system:"
    assert lines[1] == "  flows         : (current 5) (avg 2) (max 5) (limit 10000)"
    assert lines[2].startswith("  dump duration : ") and lines[2].endswith("ms")
    assert lines[3] == "  ufid enabled : true"
    assert lines[4] == ""
    keys = [int(line.split("(keys ")[1].rstrip(")")) for line in lines[5:]]
    assert len(keys) == 2 and sum(keys) == 5
    assert env.udpif.set_ufid(False) == "Datapath dumping tersely using UFID disabled"
    assert "ufid enabled : false" in env.udpif.show()
    assert env.udpif.set_ufid(True).endswith("enabled for supported datapaths")
    legacy = make_env(ufid_support=False)
    legacy.udpif.set_ufid(True)
    assert "ufid enabled : false" in legacy.udpif.show()  # the switch AND the datapath's support


def test_step_rounds_refused_while_threads_run() -> None:
    from reference.errors import UfidcertError

    env = make_env(config=UdpifConfig(max_revalidator=5))
    env.udpif.start()
    try:
        with pytest.raises(UfidcertError, match="threads are running"):
            env.udpif.revalidate()
    finally:
        env.udpif.stop()
    env.udpif.revalidate()
