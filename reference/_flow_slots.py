"""The reference datapath's installed flows and the columns that hold their UFIDs and statistics; no I/O.

A :class:`Flow` is one installed flow. Its UFID and counters live in
:class:`Slots`: preallocated columns indexed by the flow's slot, so that a
terse dump batch (:func:`terse_columns`) is a few slices of arrays rather
than an object per flow, as the kernel's dump fills its reply straight from
``struct sw_flow`` (net/openvswitch/datapath.c ``ovs_flow_cmd_fill_stats``).
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Callable, Sequence
from operator import attrgetter

from reference._classifier import Fields, MaskSig, ParsedKey, parse_key
from reference._swkey import SwKey, put_key
from reference.dpif import DpifFlow, FlowStats, TerseBatch
from reference.ufid import Ufid

__all__ = [
    "SLOT_OTHER",
    "SLOT_TERSE",
    "USED_SLOT",
    "Flow",
    "KernelForm",
    "Slots",
    "terse_columns",
    "terse_record",
]

SLOT_FREE, SLOT_TERSE, SLOT_OTHER = 0, 1, 2
USED_SLOT = re.compile(rb"[^\x00]")  # the next slot that holds a flow
_NOT_TERSE_SLOT = re.compile(rb"[^\x01]")  # the end of a run of UFID flows
# The low byte of each u16 in the tcp_flags column (the u8 the kernel reports).
_LOW_BYTE = 0 if sys.byteorder == "little" else 1
_NO_LEAVES: dict[tuple[int, ...], bytes] = {}
_NO_FLAGS: frozenset[tuple[int, ...]] = frozenset()


class KernelForm:
    """A kernel-semantics flow's sw_flow_key images and their serialisations, each made on first use."""

    __slots__ = ("_mask", "_masked", "_unmasked", "key", "mask_image", "masked_image")

    def __init__(self, key: SwKey, mask: SwKey) -> None:
        self.key = key
        self.mask_image = mask
        self.masked_image = key.masked(mask)
        self._unmasked: bytes | None = None
        self._masked: bytes | None = None
        self._mask: bytes | None = None

    def unmasked_key(self) -> bytes:
        if self._unmasked is None:
            self._unmasked = put_key(self.key, self.key, False)
        return self._unmasked

    def masked_key(self) -> bytes:
        if self._masked is None:
            self._masked = put_key(self.masked_image, self.masked_image, False)
        return self._masked

    def mask(self) -> bytes:
        if self._mask is None:
            self._mask = put_key(self.masked_image, self.mask_image, True)
        return self._mask


class Slots:
    """Every installed flow's UFID and statistics, in columns indexed by the flow's slot.

    The columns are preallocated and grow by doubling; a deleted flow's slot
    goes on a free list and is reused. ``kind`` says what a slot holds:
    free, a flow with a 16-byte UFID (which a terse batch takes straight from
    the columns), or another flow (no UFID, or one of another length).
    """

    __slots__ = ("flows", "free", "high", "kind", "n_bytes", "n_packets", "tcp_flags", "ufids", "used")

    def __init__(self, capacity: int = 1024) -> None:
        self.ufids = bytearray(16 * capacity)
        self.n_packets = array("Q", bytes(8 * capacity))
        self.n_bytes = array("Q", bytes(8 * capacity))
        self.used = array("Q", bytes(8 * capacity))
        self.tcp_flags = array("H", bytes(2 * capacity))
        self.kind = bytearray(capacity)
        self.flows: list[Flow | None] = [None] * capacity
        self.free: list[int] = []
        self.high = 0  # slots at or above this one have never been used

    def alloc(self, flow: Flow) -> int:
        if self.free:
            slot = self.free.pop()
        else:
            slot = self.high
            if slot == len(self.kind):
                self._grow()
            self.high = slot + 1
        ufid = flow.ufid
        if ufid is not None and len(ufid) == 16:
            self.ufids[16 * slot : 16 * slot + 16] = ufid
            self.kind[slot] = SLOT_TERSE
        else:
            self.kind[slot] = SLOT_OTHER
        self.n_packets[slot] = self.n_bytes[slot] = self.used[slot] = self.tcp_flags[slot] = 0
        self.flows[slot] = flow
        return slot

    def release(self, slot: int) -> None:
        self.kind[slot] = SLOT_FREE
        self.flows[slot] = None
        self.free.append(slot)

    def _grow(self) -> None:
        n = len(self.kind)
        self.ufids.extend(bytes(16 * n))
        for col in (self.n_packets, self.n_bytes, self.used):
            col.frombytes(bytes(8 * n))
        self.tcp_flags.frombytes(bytes(2 * n))
        self.kind.extend(bytes(n))
        self.flows.extend([None] * n)


class _StatColumn:
    """One of a flow's counters, read and written through the flow's slot of that column of :class:`Slots`."""

    __slots__ = ("_column",)

    def __init__(self, column: str) -> None:
        self._column: Callable[[Slots], array[int]] = attrgetter(column)

    def __get__(self, flow: Flow, owner: type | None = None) -> int:
        cols = flow.cols
        return self._column(cols)[flow.slot] if cols is not None else 0

    def __set__(self, flow: Flow, value: int) -> None:
        assert flow.cols is not None
        self._column(flow.cols)[flow.slot] = value


class Flow:
    """One installed flow (mutable: actions and stats change in place; the stats live in its slot)."""

    __slots__ = (
        "actions",
        "alive",
        "cols",
        "key",
        "mask",
        "masked",
        "raw_mask",
        "replies",
        "slot",
        "tree",
        "ufid",
        "ufid_obj",
        "unmasked",
    )

    n_packets = _StatColumn("n_packets")
    n_bytes = _StatColumn("n_bytes")
    used = _StatColumn("used")
    tcp_flags = _StatColumn("tcp_flags")

    def __init__(
        self, key: ParsedKey, mask: MaskSig, masked: Fields, actions: bytes, ufid: bytes | None, *, keep_tree: bool
    ) -> None:
        # The key's leaf map is only needed to build the masked and unmasked fields (below). Its decoded
        # tree (an Attribute and a payload per attribute, ~1.4 kB for a 13-attribute key) is needed only
        # to render dpif-netdev's mask (:meth:`parsed_key`); kernel replies render from the key's bytes
        # (reference._swkey), so a kernel-semantics flow keeps just the bytes, as the kernel keeps its
        # sw_flow_key and no netlink tree.
        self.key = key.data
        self.tree = key.tree if keep_tree else None
        self.mask = mask
        self.masked = masked
        unmasked = key.fields
        # An exact-match flow's masked key is its key: share one object.
        self.unmasked = masked if unmasked == masked else unmasked
        self.actions = actions
        self.ufid = ufid
        self.ufid_obj: Ufid | None = None
        self.cols: Slots | None = None
        self.slot = -1
        self.alive = True
        # Kernel semantics: the MASK attribute as put (None: absent), and the
        # key/mask attributes the kernel would send back, built on first use.
        self.raw_mask: bytes | None = None
        self.replies: KernelForm | None = None

    def stats(self) -> FlowStats:
        return FlowStats(self.n_packets, self.n_bytes, self.used, self.tcp_flags)

    def parsed_key(self) -> ParsedKey:
        """The key with its decoded tree (decoded again if the flow did not keep it); no leaf map."""
        tree = self.tree if self.tree is not None else parse_key(self.key, where="stored key").tree
        return ParsedKey(self.key, tree, _NO_LEAVES, _NO_FLAGS)

    def public_ufid(self) -> Ufid | None:
        if self.ufid_obj is None and self.ufid is not None and len(self.ufid) == 16:
            self.ufid_obj = Ufid.from_wire(self.ufid)
        return self.ufid_obj


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    return tuple(cls.__dict__[n].__set__ for n in names)


# Terse dumps build one FlowStats and one DpifFlow per flow; a frozen
# dataclass __init__ sets each field through object.__setattr__, which is
# about half the cost of a terse dump. These build the same records by
# filling the slots directly (the records stay immutable for everyone else).
_new = object.__new__
_S_NP, _S_NB, _S_USED, _S_TCP = _slot_setters(FlowStats, ("n_packets", "n_bytes", "used_ms", "tcp_flags"))
_F_UFID, _F_PRESENT, _F_KEY, _F_MASK, _F_ACTIONS, _F_STATS, _F_BYTES = _slot_setters(
    DpifFlow, ("ufid", "ufid_present", "key", "mask", "actions", "stats", "ufid_bytes")
)


def terse_record(flow: Flow, netdev: bool) -> DpifFlow:
    """``DpifFlow(ufid, True, None, None, None, FlowStats(...), raw)``, built through the slots."""
    st = _new(FlowStats)
    _S_NP(st, flow.n_packets)
    _S_NB(st, flow.n_bytes)
    _S_USED(st, flow.used)
    _S_TCP(st, flow.tcp_flags if netdev else flow.tcp_flags & 0xFF)
    rec = _new(DpifFlow)
    _F_UFID(rec, flow.ufid_obj if flow.ufid_obj is not None else flow.public_ufid())
    _F_PRESENT(rec, True)
    _F_KEY(rec, None)
    _F_MASK(rec, None)
    _F_ACTIONS(rec, None)
    _F_STATS(rec, st)
    _F_BYTES(rec, flow.ufid)
    return rec


def terse_columns(cols: Slots, start: int, n: int, netdev: bool) -> tuple[TerseBatch, int]:
    """Up to ``n`` UFID flows from ``start`` on, skipping free slots, stopping before any other flow.

    Returns the batch and the slot to continue from.
    """
    kind, high = cols.kind, cols.high
    runs: list[tuple[int, int]] = []
    got = 0
    pos = start  # kind[pos] is a UFID flow at the top of every pass
    while True:
        limit = min(high, pos + n - got)
        m = _NOT_TERSE_SLOT.search(kind, pos, limit)
        end = limit if m is None else m.start()
        runs.append((pos, end))
        got += end - pos
        pos = end
        if got == n or pos >= high:
            break
        nxt = USED_SLOT.search(kind, pos, high)  # over free slots
        if nxt is None:
            pos = high
            break
        pos = nxt.start()
        if kind[pos] != SLOT_TERSE:
            break
    if len(runs) == 1:
        a, b = runs[0]
        ufids = bytes(cols.ufids[16 * a : 16 * b])
        packets, nbytes, used, tcp = cols.n_packets[a:b], cols.n_bytes[a:b], cols.used[a:b], cols.tcp_flags[a:b]
    else:
        ufids = b"".join(cols.ufids[16 * a : 16 * b] for a, b in runs)
        packets, nbytes, used, tcp = array("Q"), array("Q"), array("Q"), array("H")
        for a, b in runs:
            packets.extend(cols.n_packets[a:b])
            nbytes.extend(cols.n_bytes[a:b])
            used.extend(cols.used[a:b])
            tcp.extend(cols.tcp_flags[a:b])
    # The kernel reports the u8 of its tcp_flags (OVS_FLOW_ATTR_TCP_FLAGS); dpif-netdev all 16 bits.
    flags: Sequence[int] = tcp if netdev else tcp.tobytes()[_LOW_BYTE::2]
    return TerseBatch(ufids, packets, nbytes, used, flags), pos
