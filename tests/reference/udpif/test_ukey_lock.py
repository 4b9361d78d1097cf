"""The ukey lock table: each ukey's mutex behaves as a ``threading.Lock``; the guard stands for a batch's mutexes."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.udpif._ukey_lock import UkeyLockTable, UkeyMutex


class _Owner:
    """Something with identity, as a ukey is to the table."""


def test_a_mutex_is_exclusive_and_a_trylock_fails_while_held() -> None:
    a, b = _Owner(), _Owner()
    ma = UkeyMutex(a)
    assert not ma.locked()
    assert ma.acquire(blocking=False)
    assert ma.locked() and UkeyMutex(a).locked()  # the state is the ukey's, not the handle's
    assert not UkeyMutex(a).acquire(blocking=False)
    assert not UkeyMutex(a).acquire(timeout=0.01)
    assert UkeyMutex(b).acquire(blocking=False)  # other ukeys are independent
    ma.release()
    UkeyMutex(b).release()
    assert not ma.locked()
    with pytest.raises(RuntimeError, match="release unlocked"):
        ma.release()


def test_a_blocking_acquire_waits_for_the_release() -> None:
    owner = _Owner()
    mutex = UkeyMutex(owner)
    order: list[str] = []
    mutex.acquire()
    got = threading.Event()

    def waiter() -> None:
        with UkeyMutex(owner):
            order.append("waiter")
        got.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert not got.wait(0.05)  # still held: the waiter cannot have it
    order.append("holder")
    mutex.release()
    t.join(10)
    assert got.is_set() and order == ["holder", "waiter"]
    assert not mutex.locked()


@given(held=st.sets(st.integers(0, 9)), batch=st.sets(st.integers(0, 9)))
def test_none_held_is_true_exactly_when_no_owner_of_the_batch_is_locked(held: set[int], batch: set[int]) -> None:
    table = UkeyLockTable()
    owners = [_Owner() for _ in range(10)]
    for i in held:
        assert table.acquire(owners[i], blocking=False)
    with table.guard:
        assert table.none_held([owners[i] for i in batch]) == held.isdisjoint(batch)


def test_no_ukey_can_be_taken_while_the_guard_is_held() -> None:
    table = UkeyLockTable()
    owner = _Owner()
    took = threading.Event()

    def taker() -> None:
        table.acquire(owner)
        took.set()

    with table.guard:
        t = threading.Thread(target=taker)
        t.start()
        assert not took.wait(0.05)
    t.join(10)
    assert took.is_set() and table.locked(owner)
