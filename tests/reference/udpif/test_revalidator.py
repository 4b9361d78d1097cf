"""Revalidators over the reference datapath, step by step with a manual clock."""

from __future__ import annotations

import struct

import pytest

from reference._netlink import iter_attrs, pack_attrs
from reference.dpif import PutFlags
from reference.uapi import KeyAttr
from reference.udpif import UdpifConfig, UkeyState
from reference.udpif.config import OFPROTO_MAX_IDLE_DEFAULT
from reference.ufid import Ufid
from tests.reference.udpif._env import Env, eth_dst, eth_src, frame, make_env, output

KINDS = ["kernel", "netdev", "legacy"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The datapath under the udpif: kernel or dpif-netdev semantics, or a legacy kernel (no UFIDs)."""
    return str(request.param)


def env_of(kind: str, config: UdpifConfig | None = None) -> Env:
    if kind == "legacy":
        return make_env(ufid_support=False, config=config)
    return make_env(semantics=kind, config=config)  # type: ignore[arg-type]


def install(env: Env, *hosts: int) -> None:
    for h in hosts:
        env.inject(frame(h))
    env.udpif.handle_upcalls()


def test_stats_deltas_are_pushed_once(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    for _ in range(5):
        env.inject(frame(3))
    env.udpif.revalidate()
    assert env.credited() == 6
    env.udpif.revalidate()  # nothing new: nothing pushed twice
    assert env.credited() == 6
    (ukey,) = list(env.udpif.ukeys)
    assert ukey.n_packets == 5


def test_terse_round_uses_terse_dump_and_no_gets() -> None:
    env = make_env()
    install(env, 3, 4)
    env.dpif.calls.clear()
    env.udpif.revalidate()
    assert [d for n, d in env.dpif.terse_requests] == [None]  # the dump
    assert env.dpif.count("get") == 0


def test_modify_on_new_actions(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    (rule,) = env.rules.rules
    env.rules.set_actions(rule.rule_id, output(env.p3))
    report = env.udpif.revalidate()
    assert report.modified == 1
    (ukey,) = list(env.udpif.ukeys)
    assert env.dp.flow_get(ufid=ukey.ufid, key=ukey.key).actions == output(env.p3) == ukey.actions
    env.inject(frame(3))
    assert [port for port, _ in env.dp.take_output()][-1] == env.p3


def test_delete_when_installed_mask_is_too_wide(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    (ukey,) = list(env.udpif.ukeys)
    # A new higher-priority rule looks at the source MAC, which the installed flow wildcards.
    env.rules.add(20, [eth_src(99)], output(env.p3))
    report = env.udpif.revalidate()
    assert report.deleted == 1
    assert len(env.dp) == 0
    assert len(env.udpif.ukeys) == 0
    assert ukey.state is UkeyState.DELETED


def test_keep_when_translation_unchanged(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    env.rules.add(1, [eth_dst(77)], output(env.p3))  # lower priority: not consulted for host 1's traffic
    report = env.udpif.revalidate()
    assert (report.kept, report.modified, report.deleted) == (1, 0, 0)


def test_idle_flows_are_deleted_after_max_idle(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    env.inject(frame(3))
    env.clock.advance(OFPROTO_MAX_IDLE_DEFAULT)
    assert env.udpif.revalidate().deleted == 0  # idle for exactly max_idle: kept
    env.clock.advance(1)
    assert env.udpif.revalidate().deleted == 1
    assert len(env.dp) == 0 and len(env.udpif.ukeys) == 0
    assert env.credited() == 2


def test_above_the_limit_flows_idle_for_100ms_go(kind: str) -> None:
    env = env_of(kind, UdpifConfig(flow_limit=2))
    env.udpif.enable_megaflows = False
    install(env, 3, 4, 5)  # one batch: the stale count lets all three in
    assert len(env.dp) == 3
    env.clock.advance(101)
    report = env.udpif.revalidate()
    assert report.deleted == 3  # 3 flows > limit 2: max_idle is 100 ms


def test_kill_them_all_above_twice_the_limit(kind: str) -> None:
    env = env_of(kind, UdpifConfig(flow_limit=1))
    env.udpif.enable_megaflows = False
    install(env, 3, 4, 5)
    report = env.udpif.revalidate()  # 3 > 2 x 1: every flow of the batch goes, idle or not
    assert report.deleted == 3
    assert env.udpif.coverage["upcall_flow_limit_kill"] == 1


def test_flow_without_ukey_is_adopted_via_flow_get() -> None:
    env = make_env()
    pkt_key = None
    env.inject(frame(3))
    (up,) = env.dp.recv_upcalls()  # take the upcall away from the handlers
    pkt_key = up.key
    ufid = Ufid.from_int(0x1234)
    env.dp.flow_put(pkt_key, None, b"", ufid=ufid, flags=PutFlags.CREATE)
    env.dpif.calls.clear()
    report = env.udpif.revalidate()
    assert env.dpif.count("get") == 1  # terse dump: the full flow is fetched
    ukey = env.udpif.ukeys.lookup(ufid)
    assert ukey is not None and ukey.state is UkeyState.OPERATIONAL
    # Forced revalidation: an exact-match flow may stay, with the translated actions.
    assert report.modified == 1
    assert env.dp.flow_get(ufid=ufid).actions == output(env.p2)


def test_recirculating_flow_without_ukey_is_deleted() -> None:
    env = make_env()
    env.inject(frame(3))
    (up,) = env.dp.recv_upcalls()
    attrs = [(t, p) for t, p, _ in iter_attrs(up.key) if t != KeyAttr.RECIRC_ID]
    key = pack_attrs([(KeyAttr.RECIRC_ID, struct.pack("=I", 7)), *attrs])
    env.dp.flow_put(key, None, b"", ufid=Ufid.from_int(9), flags=PutFlags.CREATE)
    env.udpif.revalidate()
    assert len(env.dp) == 0
    assert len(env.udpif.ukeys) == 0


def test_ukey_missed_by_four_dumps_is_deleted(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    (ukey,) = list(env.udpif.ukeys)
    env.dpif.hidden.update({ukey.ufid, ukey.key})  # a legacy dump has no UFID: hide the key too
    env.rules.add(1, [eth_dst(77)], output(env.p3))  # a reval_seq change so that the sweep revalidates
    for expected in (1, 2, 3):
        env.udpif.revalidate()
        assert ukey.missed_dumps == expected
        assert ukey.state is UkeyState.OPERATIONAL
    env.udpif.revalidate()
    assert ukey.state is UkeyState.DELETED
    assert len(env.dp) == 0  # the delete still reached the datapath


def test_purge_deletes_everything_and_credits_it(kind: str) -> None:
    env = env_of(kind)
    env.udpif.enable_megaflows = False
    install(env, 3, 4, 5)
    for h in (3, 4, 5, 5):
        env.inject(frame(h))
    env.udpif.purge()
    assert len(env.dp) == 0 and len(env.udpif.ukeys) == 0
    assert env.credited() == env.injected == 7


def test_scripted_dump_durations_drive_the_flow_limit(kind: str) -> None:
    env = env_of(kind)
    env.udpif.enable_megaflows = False
    install(env, *range(2, 40))
    durations = [10, 10, 1500, 2600, 1200, 5]
    env.dpif.dump_ms.extend(durations)
    limits = [env.udpif.revalidate().limit.limit for _ in durations]
    # 38 flows in 10 ms: 3800/s < 10000, hold; 1500 ms: x3/4; 2600 ms: /2; 1200 ms: hold;
    # 38 flows in 5 ms: 7600/s > 3750, grow by 1000.
    assert limits == [10000, 10000, 7500, 3750, 3750, 4750]
    assert env.udpif.dump_duration == 5


@pytest.mark.parametrize("semantics", ["kernel", "netdev"])
def test_every_flow_has_a_ukey_and_every_ukey_a_flow(semantics: str) -> None:
    env = make_env(semantics=semantics)  # type: ignore[arg-type]
    env.udpif.enable_megaflows = False
    install(env, *range(2, 30))
    env.udpif.revalidate()
    assert env.dp_ufids() == {u.ufid for u in env.udpif.ukeys}
    assert all(u.state is UkeyState.OPERATIONAL for u in env.udpif.ukeys)


def test_failed_modify_makes_the_ukey_inconsistent_then_deleted(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    env.inject(frame(3))
    (ukey,) = list(env.udpif.ukeys)
    (rule,) = env.rules.rules
    env.rules.set_actions(rule.rule_id, output(env.p3))
    env.dpif.fail_modify = True
    env.udpif.revalidate()
    # Dump phase: MODIFY failed -> INCONSISTENT; the same round's sweep deletes the flow.
    assert ukey.state is UkeyState.DELETED
    assert len(env.dp) == 0 and len(env.udpif.ukeys) == 0
    assert env.credited() == env.injected == 2


def test_too_expensive_to_revalidate_is_deleted(kind: str) -> None:
    env = env_of(kind)
    install(env, 3)
    env.inject(frame(3))
    env.udpif.revalidate()  # the ukey has now seen a use time
    env.dpif.dump_ms.append(400)  # this round's dump takes 400 ms: dump_duration >= max_revalidator / 2
    env.udpif.revalidate()
    assert env.udpif.dump_duration == 400
    env.clock.advance(5000)  # 1 packet in 5 s: below min-revalidate-pps (5)
    env.rules.add(1, [eth_dst(77)], output(env.p3))  # reval_seq moves
    report = env.udpif.revalidate()
    assert report.deleted == 1
    assert env.udpif.coverage["revalidate_too_expensive"] == 1
    assert env.credited() == env.injected
