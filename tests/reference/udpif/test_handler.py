"""Handlers over the reference datapath: ukeys, one operate per batch, the flow limit, put failures."""

from __future__ import annotations

import pytest

from reference.udpif import TABLE_MISS, UdpifConfig, UkeyState
from tests.reference.udpif._env import eth_src, frame, make_env, output


@pytest.mark.parametrize("kind", ["kernel", "netdev", "legacy"])
def test_upcall_installs_flow_with_the_ukeys_ufid(kind: str) -> None:
    env = make_env(ufid_support=False) if kind == "legacy" else make_env(semantics=kind)  # type: ignore[arg-type]
    pkt = frame(7)
    env.inject(pkt)
    assert env.udpif.handle_upcalls() == 1
    (ukey,) = list(env.udpif.ukeys)
    assert ukey.state is UkeyState.OPERATIONAL
    flow = env.dp.flow_get(ufid=ukey.ufid, key=ukey.key)  # a legacy datapath finds it by key
    assert flow.actions == ukey.actions == output(env.p2)
    assert ukey.mask == env.rules.translate(ukey.key).mask
    # The packet was executed (sent to p2) and credited to the rule once.
    assert [p for _port, p in env.dp.take_output()] == [pkt]
    assert env.credited() == 1
    # Later packets hit the datapath flow, not the handler.
    env.inject(pkt)
    assert env.udpif.handle_upcalls() == 0
    assert env.dp.flow_get(ufid=ukey.ufid, key=ukey.key).stats.n_packets == 1


def test_one_operate_per_batch_of_64() -> None:
    env = make_env()
    # Exact matches on the source so that every frame makes its own flow.
    env.rules.add(20, [eth_src(0, b"\x00" * 6)], output(env.p2))
    env.udpif.enable_megaflows = False
    for i in range(100):
        env.inject(frame(i + 2))
    assert env.udpif.handle_upcalls() == 100
    batches = [d for n, d in env.dpif.calls if n == "operate"]
    assert [len(b) for b in batches] == [128, 72]  # one put and one execute per upcall
    assert [n for n, d in env.dpif.calls if n == "recv_upcalls"][:2] == ["recv_upcalls"] * 2
    assert all(d == 64 for n, d in env.dpif.calls if n == "recv_upcalls")
    assert len(env.dp) == len(env.udpif.ukeys) == 100


def test_no_install_at_the_flow_limit() -> None:
    env = make_env(config=UdpifConfig(flow_limit=3))
    env.udpif.enable_megaflows = False
    for i in range(3):
        env.inject(frame(i + 2))
    env.udpif.handle_upcalls()
    env.clock.advance(200)  # the flow count is cached for 100 ms
    env.inject(frame(50))
    env.udpif.handle_upcalls()
    assert len(env.dp) == len(env.udpif.ukeys) == 3
    assert env.udpif.coverage["upcall_flow_limit_hit"] == 1
    assert env.credited() == 4  # the refused packet is still translated and executed


def test_failed_put_evicts_the_ukey() -> None:
    env = make_env()
    # Two frames that differ only in wildcarded bits: the second put overlaps the first flow (EEXIST).
    env.inject(frame(5))
    env.inject(frame(6))
    env.udpif.handle_upcalls()
    states = sorted(u.state.name for u in env.udpif.ukeys)
    assert states == ["EVICTED", "OPERATIONAL"]
    assert len(env.dp) == 1
    env.udpif.revalidate()  # the sweep removes the evicted ukey
    assert [u.state for u in env.udpif.ukeys] == [UkeyState.OPERATIONAL]
    assert env.credited() == 2


def test_table_miss_is_a_drop_flow() -> None:
    env = make_env()
    env.inject(frame(5, dst=9))
    env.udpif.handle_upcalls()
    (ukey,) = list(env.udpif.ukeys)
    assert ukey.actions == b""
    assert ukey.xcache == TABLE_MISS
    assert env.dp.take_output() == []
    assert env.rules.stats()[TABLE_MISS].n_packets == 1


def test_duplicate_upcalls_install_once() -> None:
    env = make_env()
    env.udpif.enable_megaflows = False
    pkt = frame(5)
    env.inject(pkt)
    env.inject(pkt)  # both miss before the handler runs
    env.udpif.handle_upcalls()
    assert len(env.udpif.ukeys) == len(env.dp) == 1
    assert env.udpif.coverage["handler_duplicate_upcall"] == 1
    assert env.credited() == 2
