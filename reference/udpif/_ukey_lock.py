"""The ukey mutexes (``ukey->mutex``), kept in one lock table instead of one lock object per ukey.

OVS gives every ``struct udpif_key`` its own ``ovs_mutex``; a revalidator
trylocks each dumped flow's ukey and skips it when another thread holds it
(ofproto-dpif-upcall.c ``ukey_acquire``, counter ``upcall_ukey_contention``).
Here the held ukeys are the members of one set guarded by one short-held
mutex. Per ukey this behaves as a mutex (:class:`UkeyMutex`: acquire,
trylock, release, ``with``), and it lets a revalidator handle a whole
50-flow batch as if it held every ukey of it: while it holds the table's
guard no thread can take any ukey, so if none of the batch's ukeys is held
at that moment, whatever it reads and writes under the guard is what it
would have done holding the 50 mutexes (:meth:`UkeyLockTable.none_held`).
The guard is held only for such bounded C-level work, never while waiting.

The table holds the ukeys themselves (not their ids), so a ukey whose lock
is held cannot be collected and its id reused.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

__all__ = ["UKEY_LOCKS", "UkeyLockTable", "UkeyMutex"]


class UkeyLockTable:
    """Which ukeys are locked, under one guard; waiters sleep on a condition of that guard."""

    __slots__ = ("_cond", "_guard", "_held", "_waiters")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._cond = threading.Condition(self._guard)
        self._held: set[Any] = set()
        self._waiters = 0

    def acquire(self, owner: object, blocking: bool = True, timeout: float = -1) -> bool:
        """Lock ``owner``'s mutex; with ``blocking=False`` return False at once if it is held (a trylock)."""
        if not blocking:
            return self.try_acquire(owner)
        with self._guard:
            if owner in self._held:
                self._waiters += 1
                try:
                    if not self._cond.wait_for(lambda: owner not in self._held, None if timeout < 0 else timeout):
                        return False
                finally:
                    self._waiters -= 1
            self._held.add(owner)
            return True

    def try_acquire(self, owner: object) -> bool:
        """``acquire(owner, blocking=False)``; called directly by the revalidator's per-flow loops."""
        held = self._held
        with self._guard:
            if owner in held:
                return False
            held.add(owner)
            return True

    def release(self, owner: object) -> None:
        """Unlock ``owner``'s mutex; RuntimeError if it is not locked (as ``threading.Lock.release``)."""
        with self._guard:
            try:
                self._held.remove(owner)
            except KeyError:
                raise RuntimeError("release unlocked ukey lock") from None
            if self._waiters:
                self._cond.notify_all()

    def locked(self, owner: object) -> bool:
        return owner in self._held

    @property
    def guard(self) -> threading.Lock:
        """The table's mutex: while a thread holds it, no ukey can be locked or unlocked."""
        return self._guard

    def none_held(self, owners: list[Any]) -> bool:
        """With :attr:`guard` held: is none of ``owners`` locked? Then the guard stands for all their mutexes.

        A revalidator reads and writes a whole batch of ukeys under the
        guard this way (C-level work only); if this is False it changes
        nothing and takes the ukeys one by one.
        """
        held = self._held
        return not held or held.isdisjoint(owners)


# One table for every ukey of the process: a ukey is locked before it is in any map
# (ukey_install__ takes it while inserting), so the table cannot belong to a map.
UKEY_LOCKS = UkeyLockTable()


class UkeyMutex:
    """One ukey's mutex, as ``threading.Lock`` presents it (acquire/release/locked, ``with``)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: object) -> None:
        self._owner = owner

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return UKEY_LOCKS.acquire(self._owner, blocking, timeout)

    def release(self) -> None:
        UKEY_LOCKS.release(self._owner)

    def locked(self) -> bool:
        return UKEY_LOCKS.locked(self._owner)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
