"""The ukey state machine against OVS's transition rule, re-expressed independently."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference._netlink import pack_attr
from reference.errors import OdpDecodeError, UfidcertError
from reference.uapi import KeyAttr
from reference.udpif.ukey import TRANSITIONS, IllegalUkeyTransition, Ukey, UkeyState, check_transition

S = UkeyState


def ovs_accepts(src: int, dst: int) -> bool:
    """transition_ukey_at() in ofproto/ofproto-dpif-upcall.c, as integers (CREATED=0 ... DELETED=6)."""
    if dst < src:
        return False  # VLOG_ABORT
    if src == dst == 2:
        return True  # OPERATIONAL -> OPERATIONAL: silently accepted
    return src == dst - 1 or (src == 1 and dst < 6) or (src == 2 and dst == 4)


def test_numbering_matches_ovs() -> None:
    assert [s.value for s in S] == list(range(7))
    assert [s.name for s in S] == [
        "CREATED",
        "VISIBLE",
        "OPERATIONAL",
        "INCONSISTENT",
        "EVICTING",
        "EVICTED",
        "DELETED",
    ]


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(S, S)))
def test_table_agrees_with_ovs_rule(src: UkeyState, dst: UkeyState) -> None:
    assert (dst in TRANSITIONS[src]) == ovs_accepts(int(src), int(dst))


def _ukey() -> Ukey:
    key = pack_attr(KeyAttr.IN_PORT, b"\1\0\0\0")
    return Ukey(ufid="u1", key=key, mask=pack_attr(KeyAttr.IN_PORT, b"\xff" * 4), actions=b"", reval_seq=1, created=5)


@given(st.lists(st.sampled_from(list(S)), max_size=12))
def test_ukey_follows_table_and_raises_without_changing_state(path: list[UkeyState]) -> None:
    ukey = _ukey()
    for dst in path:
        src = ukey.state
        if ovs_accepts(int(src), int(dst)):
            ukey.transition(dst)
            assert ukey.state == dst
        else:
            with pytest.raises(IllegalUkeyTransition) as info:
                ukey.transition(dst)
            assert ukey.state == src
            assert info.value.backward == (dst < src)
            assert isinstance(info.value, UfidcertError)


def test_lifecycle_of_a_flow() -> None:
    ukey = _ukey()
    for dst in (S.VISIBLE, S.OPERATIONAL, S.OPERATIONAL, S.EVICTING, S.EVICTED, S.DELETED):
        ukey.transition(dst)
    assert ukey.state == S.DELETED
    with pytest.raises(IllegalUkeyTransition):
        ukey.transition(S.DELETED)


def test_check_transition_names_states() -> None:
    check_transition(S.VISIBLE, S.EVICTED)
    with pytest.raises(IllegalUkeyTransition, match=r"backward.*EVICTED -> OPERATIONAL"):
        check_transition(S.EVICTED, S.OPERATIONAL)
    with pytest.raises(IllegalUkeyTransition, match=r"invalid.*CREATED -> OPERATIONAL"):
        check_transition(S.CREATED, S.OPERATIONAL)


def test_match_view_of_a_handler_ukey() -> None:
    """The ukey's Match agrees with the datapath about which packets hit the installed flow."""
    from reference.datapath import ReferenceDatapath
    from reference.udpif import RuleTable
    from tests.reference.udpif._env import eth_dst, frame

    dp = ReferenceDatapath()
    port = dp.port_add("p")
    for h in (3, 4):
        dp.inject(port, frame(h))
    k3, k4 = (up.key for up in dp.recv_upcalls())
    table = RuleTable()
    table.add(1, [eth_dst(1)], b"")
    xl = table.translate(k3)
    ukey = Ukey(ufid="u", key=k3, mask=xl.mask, actions=b"", reval_seq=1, created=1)
    assert ukey.match.matches(k3)
    assert ukey.match.matches(k4)  # differs only in wildcarded bits (the source)
    exact = Ukey(ufid="e", key=k3, mask=b"", actions=b"", reval_seq=1, created=1)
    assert exact.match.matches(k3) and not exact.match.matches(k4)


def test_ukey_keeps_the_unmasked_key_in_its_match() -> None:
    from reference.datapath import ReferenceDatapath
    from reference.udpif import RuleTable
    from tests.reference.udpif._env import eth_dst, frame

    dp = ReferenceDatapath()
    port = dp.port_add("p")
    dp.inject(port, frame(3))
    (up,) = dp.recv_upcalls()
    table = RuleTable()
    table.add(1, [eth_dst(1)], b"")
    xl = table.translate(up.key)
    ukey = Ukey(ufid="u", key=up.key, mask=xl.mask, actions=b"", reval_seq=1, created=1)
    # The megaflow mask wildcards bits the upcall key has set: the match's
    # masked key differs, yet the ukey gives the upcall key back unchanged.
    assert ukey.match.masked_key != up.key
    assert (ukey.key, ukey.mask) == (up.key, xl.mask)
    exact = Ukey(ufid="e", key=up.key, mask=b"", actions=b"", reval_seq=1, created=1)
    assert (exact.key, exact.mask, exact.match.masked_key) == (up.key, b"", up.key)


def test_ukey_refuses_malformed_key() -> None:
    with pytest.raises(OdpDecodeError):
        Ukey(ufid="u", key=b"\x05\x00", mask=b"", actions=b"", reval_seq=1, created=1)


_WRITABLE = ("actions", "n_packets", "n_bytes", "used", "tcp_flags", "dump_seq", "reval_seq", "missed_dumps", "xcache")


@given(writes=st.lists(st.tuples(st.sampled_from(_WRITABLE), st.integers(0, 5)), max_size=12))
def test_every_write_counts_in_the_version(writes: list[tuple[str, int]]) -> None:
    """A built ukey has version 0; each assignment (even of the value it holds), transition and note_dumped adds one."""
    u = _ukey()
    assert u.version == 0
    for name, value in writes:
        setattr(u, name, value if name != "actions" else bytes(value))
    u.set_stats(1, 2, 3, 4)
    u.transition(UkeyState.VISIBLE)
    assert u.version == len(writes) + 4 + 1
    u.note_dumped(7, 8, 9)  # three writes, one step
    assert (u.used, u.tcp_flags, u.dump_seq, u.version) == (7, 8, 9, len(writes) + 6)
