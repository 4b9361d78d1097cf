"""The sharded ukey map: OVS's duplicate rules, sharding, and concurrent installs."""

from __future__ import annotations

import threading
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference._netlink import pack_attr
from reference.uapi import KeyAttr
from reference.udpif.config import N_UMAPS
from reference.udpif.ukey import Ukey, UkeyState
from reference.udpif.umap import InstallResult, UkeyMap
from reference.ufid import Ufid

S = UkeyState


def mk(ufid: object, key: bytes = b"key") -> Ukey:
    # A ukey's key must be a well-formed netlink key: distinct labels give distinct in_port values.
    nl_key = pack_attr(KeyAttr.IN_PORT, zlib.crc32(key).to_bytes(4, "little"))
    return Ukey(ufid=ufid, key=nl_key, mask=b"", actions=b"", reval_seq=1, created=1)


def test_has_512_shards_and_spreads_ukeys() -> None:
    umap = UkeyMap()
    assert len(umap.shards) == N_UMAPS == 512
    for i in range(4096):
        assert umap.install(mk(i)) is InstallResult.INSTALLED
    sizes = [len(s.ukeys) for s in umap.shards]
    assert sum(sizes) == len(umap) == 4096
    assert max(sizes) < 40  # 8 per shard on average; a degenerate hash would pile them up


def test_install_makes_visible_and_lookup_finds() -> None:
    umap = UkeyMap()
    u = mk("a")
    assert umap.install(u) is InstallResult.INSTALLED
    assert u.state is S.VISIBLE
    assert umap.lookup("a") is u
    assert umap.lookup("b") is None
    assert not u.lock.locked()


def test_keep_locked_returns_locked_ukey() -> None:
    umap = UkeyMap()
    u = mk("a")
    assert umap.install(u, keep_locked=True).installed
    assert u.lock.locked()
    u.lock.release()


@pytest.mark.parametrize("old_state", [S.VISIBLE, S.OPERATIONAL, S.EVICTING])
def test_same_ufid_same_key_live_is_duplicate(old_state: UkeyState) -> None:
    umap = UkeyMap()
    old = mk("a")
    umap.install(old)
    if old_state >= S.OPERATIONAL:
        old.transition(S.OPERATIONAL)
    if old_state == S.EVICTING:
        old.transition(S.EVICTING)
    new = mk("a")
    assert umap.install(new) is InstallResult.DUPLICATE
    assert umap.lookup("a") is old
    assert new.state is S.CREATED


def test_same_ufid_same_key_evicted_is_replaced() -> None:
    umap = UkeyMap()
    old = mk("a")
    umap.install(old)
    old.transition(S.EVICTED)
    old.dump_seq = 42
    new = mk("a")
    assert umap.install(new) is InstallResult.REPLACED
    assert umap.lookup("a") is new
    assert (old.state, new.state, new.dump_seq) == (S.DELETED, S.VISIBLE, 42)


def test_same_ufid_other_key_is_conflict() -> None:
    umap = UkeyMap()
    old = mk("a", b"k1")
    umap.install(old)
    old.transition(S.EVICTED)  # even an evicted one is not replaced by a colliding key
    assert umap.install(mk("a", b"k2")) is InstallResult.CONFLICT
    assert umap.lookup("a") is old


def test_locked_old_ukey_is_contention() -> None:
    umap = UkeyMap()
    old = mk("a")
    umap.install(old)
    with old.lock:
        assert umap.install(mk("a")) is InstallResult.CONTENTION


def test_delete_removes_only_that_ukey() -> None:
    umap = UkeyMap()
    old = mk("a")
    umap.install(old)
    old.transition(S.EVICTED)
    new = mk("a")
    umap.install(new)  # replaces old (old -> DELETED)
    shard = umap.shard_of("a", None)
    shard.delete(old)  # a late delete of the replaced ukey must not remove the new one
    assert umap.lookup("a") is new
    new.transition(S.EVICTED)
    shard.delete(new)
    assert umap.lookup("a") is None
    assert new.state is S.DELETED


def test_concurrent_installs_keep_one_ukey_per_ufid() -> None:
    umap = UkeyMap()
    results: list[list[tuple[int, InstallResult]]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def worker(slot: int) -> None:
        barrier.wait()
        for i in range(2000):
            results[slot].append((i, umap.install(mk(i % 500))))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    installed = [i % 500 for r in results for i, res in r if res.installed]
    assert sorted(installed) == list(range(500))  # exactly one winner per UFID
    assert len(umap) == 500
    assert all(u.state is S.VISIBLE and not u.lock.locked() for u in umap)


def _operational(umap: UkeyMap, ukey: Ukey) -> Ukey:
    if umap.install(ukey).installed:
        with ukey.lock:
            ukey.transition(S.OPERATIONAL)
    return ukey


@settings(max_examples=50, deadline=None)
@given(
    rounds=st.lists(
        st.lists(st.tuples(st.sampled_from(["install", "evict", "delete"]), st.integers(0, 11)), max_size=8),
        min_size=1,
        max_size=5,
    )
)
def test_a_remembered_block_of_operational_ukeys_is_the_lookups_answer(rounds: list[list[tuple[str, int]]]) -> None:
    """Evicted, deleted or replaced ukeys never leave an all-OPERATIONAL remembered block lookups would not give."""
    umap = UkeyMap()
    ufids = [Ufid.from_int(i + 1) for i in range(12)]
    block = b"".join(u.to_wire() for u in ufids)
    slices = [slice(j, j + 16) for j in range(0, len(block), 16)]
    for i in range(0, 12, 2):
        _operational(umap, mk(ufids[i], bytes([i])))
    umap.start_round()
    assert umap.remembered_block(block) is None
    assert umap.lookup_block(block, slices) == [umap.lookup_wire(u.to_wire()) for u in ufids]
    for changes in rounds:
        for what, i in changes:
            u = umap.lookup(ufids[i])
            if what == "install":  # new, or a replacement of an EVICTED ukey
                _operational(umap, mk(ufids[i], bytes([i])))
            elif u is not None and what == "evict" and u.state is S.OPERATIONAL:
                with u.lock:
                    u.transition(S.EVICTING)
                    u.transition(S.EVICTED)
            elif u is not None and what == "delete" and u.state is S.EVICTED:
                umap.shard_of(u.ufid, None).delete(u)
        umap.start_round()
        fresh = [umap.lookup_wire(u.to_wire()) for u in ufids]
        remembered = umap.remembered_block(block)
        assert remembered is not None
        if all(u is not None and u.state is S.OPERATIONAL for u in remembered):
            assert remembered == fresh
        assert umap.lookup_block(block, slices) == fresh
