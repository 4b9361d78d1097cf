"""The ukey: the userspace cache entry of one datapath flow, and its state machine.

Reproduces ``struct udpif_key`` and ``transition_ukey_at()`` from
ofproto/ofproto-dpif-upcall.c. A handler builds a ukey for every flow it
installs (UFID, key and mask as one :class:`~reference.odp.match.Match`,
actions); revalidators find it again by UFID when the flow is dumped, so a
terse dump (UFID + stats) is enough to revalidate.

The transition rules live in one table, :data:`TRANSITIONS`. OVS aborts the
process on a backward transition and logs (leaving the state unchanged) any
other transition its rules do not list; here both raise
:class:`IllegalUkeyTransition`, so a test sees every violation.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from reference.errors import UfidcertError
from reference.odp.match import Match
from reference.udpif._ukey_lock import UkeyMutex

__all__ = [
    "TRANSITIONS",
    "IllegalUkeyTransition",
    "Ukey",
    "UkeyState",
    "check_transition",
]


class UkeyState(IntEnum):
    """``enum ukey_state``; the numeric order matters (states only move forward)."""

    CREATED = 0  # allocated, not yet in a umap
    VISIBLE = 1  # in a umap; the datapath install is queued
    OPERATIONAL = 2  # the datapath flow is confirmed (installed or dumped)
    INCONSISTENT = 3  # a modify failed: the datapath flow's actions are unknown
    EVICTING = 4  # a delete is queued
    EVICTED = 5  # the datapath flow is gone
    DELETED = 6  # removed from its umap; the object is dead


_S = UkeyState

# Accepted transitions, from transition_ukey_at(): the next state; from
# VISIBLE any state before DELETED (a handler's put may fail -> EVICTED, a
# sweep may evict before the first dump -> EVICTING, ...); OPERATIONAL ->
# EVICTING directly. OPERATIONAL -> OPERATIONAL is accepted as a no-op.
TRANSITIONS: Mapping[UkeyState, frozenset[UkeyState]] = MappingProxyType(
    {
        _S.CREATED: frozenset({_S.VISIBLE}),
        _S.VISIBLE: frozenset({_S.VISIBLE, _S.OPERATIONAL, _S.INCONSISTENT, _S.EVICTING, _S.EVICTED}),
        _S.OPERATIONAL: frozenset({_S.OPERATIONAL, _S.INCONSISTENT, _S.EVICTING}),
        _S.INCONSISTENT: frozenset({_S.EVICTING}),
        _S.EVICTING: frozenset({_S.EVICTED}),
        _S.EVICTED: frozenset({_S.DELETED}),
        _S.DELETED: frozenset(),
    }
)


class IllegalUkeyTransition(UfidcertError):
    """A ukey was asked to move between states that OVS's rules forbid.

    ``backward`` is true for the transitions OVS treats as fatal (to an
    earlier state); otherwise OVS would have logged "Invalid state
    transition" and kept the state. Either way it is a bug in the caller.
    """

    def __init__(self, src: UkeyState, dst: UkeyState, ufid: object) -> None:
        self.src = src
        self.dst = dst
        self.backward = dst < src
        kind = "backward" if self.backward else "invalid"
        super().__init__(f"{kind} ukey transition {src.name} -> {dst.name} for {ufid}")


def check_transition(src: UkeyState, dst: UkeyState, ufid: object = "ukey") -> None:
    """Raise :class:`IllegalUkeyTransition` unless ``src -> dst`` is in :data:`TRANSITIONS`."""
    if dst not in TRANSITIONS[src]:
        raise IllegalUkeyTransition(src, dst, ufid)


_set = object.__setattr__


class Ukey:
    """One cached datapath flow (``struct udpif_key``).

    Immutable after creation: ``ufid``, ``ufid_present``, ``pmd_id``, ``match``
    (the installed key, unmasked, and megaflow mask in match format, built once
    here; ``key`` and ``mask`` give them back as netlink bytes). Everything
    else is guarded by ``lock`` (``ukey->mutex``): ``actions``, the last seen
    statistics (``n_packets``, ``n_bytes``, ``used``, ``tcp_flags``),
    ``dump_seq``, ``reval_seq``, ``missed_dumps``, ``state``, ``xcache`` (the
    rule the flow's statistics are credited to, a stand-in for OVS's xlate
    cache) and ``dp_layer``. Call :meth:`transition` with the lock held.

    ``version`` counts the writes to the ukey since it was built: every
    attribute assignment bumps it. A revalidator that kept a batch of ukeys
    unchanged remembers their versions and, in the next round, knows from
    equal versions that nothing was written to them meanwhile (its own
    whole-batch writes go through the slots directly and do not count).
    """

    __slots__ = (
        "actions",
        "created",
        "dp_layer",
        "dump_seq",
        "mask_given",
        "match",
        "missed_dumps",
        "n_bytes",
        "n_packets",
        "pmd_id",
        "reval_seq",
        "state",
        "tcp_flags",
        "ufid",
        "ufid_present",
        "used",
        "version",
        "xcache",
    )
    version: int  # set through the slot only (see __setattr__)

    def __init__(
        self,
        *,
        ufid: Any,
        key: bytes,
        mask: bytes,
        actions: bytes,
        reval_seq: int,
        created: int,
        ufid_present: bool = True,
        pmd_id: int | None = None,
        used: int = 0,
        dump_seq: int = 0,
        xcache: int | None = None,
    ) -> None:
        _set(self, "version", 0)
        self.ufid = ufid
        self.ufid_present = ufid_present
        self.pmd_id = pmd_id
        # An empty mask means "no mask" (every attribute exact), as the handler
        # and the dump path pass it; ``mask_given`` keeps ``mask`` round-tripping.
        # Raises OdpDecodeError for malformed key or mask bytes.
        self.match = Match.from_netlink(key, mask or None)
        self.mask_given = bool(mask)
        self.actions = actions
        self.n_packets = 0
        self.n_bytes = 0
        self.used = used
        self.tcp_flags = 0
        self.created = created
        self.dump_seq = dump_seq
        self.reval_seq = reval_seq
        self.missed_dumps = 0
        self.state = UkeyState.CREATED
        self.xcache = xcache
        self.dp_layer: str | None = None
        _set(self, "version", 0)  # built: no write counted yet

    def __setattr__(self, name: str, value: object) -> None:
        _set(self, name, value)
        _set(self, "version", self.version + 1)

    @property
    def lock(self) -> UkeyMutex:
        """``ukey->mutex``: acquire (``blocking=False`` for a trylock), release, ``with``; see :mod:`._ukey_lock`."""
        return UkeyMutex(self)

    @property
    def key(self) -> bytes:
        """The installed key as netlink bytes, unmasked and byte for byte as given (from :attr:`match`).

        Deletes of key-identified flows and re-translation need this key, as
        OVS's ``ukey->key`` (ofproto-dpif-upcall.c ``ukey_create__``).
        """
        return self.match.key()

    @property
    def mask(self) -> bytes:
        """The installed mask as netlink bytes; ``b""`` when the ukey was made without one."""
        return self.match.mask if self.mask_given else b""

    def transition(self, dst: UkeyState) -> None:
        """Move to ``dst`` following :data:`TRANSITIONS` (``transition_ukey``); the caller holds ``lock``."""
        src = self.state
        if dst not in TRANSITIONS[src]:
            raise IllegalUkeyTransition(src, dst, self.ufid)
        self.state = dst

    def note_dumped(self, used: int, tcp_flags: int, dump_seq: int) -> None:
        """A dump saw the flow and kept it as it is: its "used" time, its TCP flags and the dump's ``dump_seq``.

        The same as assigning the three (one version step for the three writes).
        """
        _set(self, "used", used)
        _set(self, "tcp_flags", tcp_flags)
        _set(self, "dump_seq", dump_seq)
        _set(self, "version", self.version + 1)

    def set_stats(self, n_packets: int, n_bytes: int, used: int, tcp_flags: int) -> None:
        """Record the statistics last pushed to the rule table (``ukey->stats = *stats``)."""
        self.n_packets = n_packets
        self.n_bytes = n_bytes
        self.used = used
        self.tcp_flags = tcp_flags

    def __repr__(self) -> str:
        return (
            f"Ukey(ufid={self.ufid}, state={self.state.name}, packets={self.n_packets}, "
            f"dump_seq={self.dump_seq}, reval_seq={self.reval_seq}, missed={self.missed_dumps})"
        )
