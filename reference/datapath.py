"""The reference datapath: UFID semantics of the Linux datapath (or dpif-netdev), in process.

:class:`ReferenceDatapath` is the model every backend is certified against.
It keeps flows in a UFID index and a tuple-space classifier
(:mod:`reference._classifier`) and reproduces, case by case, what
``net/openvswitch/datapath.c`` does with ``OVS_FLOW_CMD_NEW/SET/GET/DEL``
and dumps (``semantics="kernel"``) or what ``lib/dpif-netdev.c`` does with
dpif puts, gets and deletes (``semantics="netdev"``). ``ufid_support=False``
is a kernel from before the UFID series: it ignores ``OVS_FLOW_ATTR_UFID``
and ``OVS_FLOW_ATTR_UFID_FLAGS`` entirely.

There are two ways in:

* the :class:`~reference.dpif.Dpif` methods (``flow_put`` ...), mapped onto
  kernel commands exactly as ``lib/dpif-netlink.c`` maps them
  (docs/dpif-contract.md lists the mapping and every quirk it implies);
* :meth:`ReferenceDatapath.flow_request` with a :class:`FlowRequest` (one
  decoded ``ovs_flow`` message), which :mod:`reference.flow_netlink` uses
  to serve raw generic-netlink bytes.

No I/O: time comes from an injectable clock, frames "sent" by OUTPUT actions
are kept for :meth:`ReferenceDatapath.take_output`.
"""

from __future__ import annotations

import random
import re
import struct
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from reference._classifier import (
    Fields,
    MaskSig,
    ParsedKey,
    TupleSpace,
    decode_mask,
    exact_mask,
    mask_bytes,
    mask_of_tree,
    masked_fields,
    parse_key,
    stored_mask,
)
from reference._kernel_actions import kernel_actions
from reference._match_validate import validate_match
from reference._netlink import pack_attrs, split_attrs
from reference._swkey import SwKey, check_kernel_attrs, flow_images, put_key
from reference.dpif import (
    Dpif,
    DpifExists,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    DpifOutOfRange,
    DpifTooBig,
    FlowStats,
    PutFlags,
    TerseBatch,
    UfidArg,
    Upcall,
    check_max_flows,
    ufid_wire,
)
from reference.errors import OdpDecodeError, PacketDroppedError, UfidcertInputError
from reference.odp.actions import validate_actions
from reference.odp.extract import extract_key
from reference.odp.fitness import KeyFitness, fitness_report
from reference.odp.keys import canonical_key
from reference.uapi import MAX_UFID_LENGTH, ActionAttr, FlowAttr, FlowCmd, KeyAttr, UfidFlags
from reference.ufid import Ufid

__all__ = ["FlowInfo", "FlowRequest", "ReferenceDatapath"]

_STATS = struct.Struct("=QQ")  # struct ovs_flow_stats, host order
_U64 = struct.Struct("=Q")
_BE16 = struct.Struct("!H")
_IN_PORT = (int(KeyAttr.IN_PORT),)
_TCP_FLAGS = (int(KeyAttr.TCP_FLAGS),)
_KNOWN_PUT_FLAGS = PutFlags.CREATE | PutFlags.MODIFY | PutFlags.ZERO_STATS | PutFlags.PROBE
# Plain ints for the hot paths: IntFlag arithmetic builds enum members.
_CREATE, _MODIFY, _ZERO, _PROBE = (
    int(f) for f in (PutFlags.CREATE, PutFlags.MODIFY, PutFlags.ZERO_STATS, PutFlags.PROBE)
)
_OMIT_KEY, _OMIT_MASK, _OMIT_ACTIONS = (
    int(f) for f in (UfidFlags.OMIT_KEY, UfidFlags.OMIT_MASK, UfidFlags.OMIT_ACTIONS)
)
_TERSE = int(UfidFlags.TERSE)
_ZERO_STATS = FlowStats()
_DUMP_CHUNK = 1024
_SLOT_FREE, _SLOT_TERSE, _SLOT_OTHER = 0, 1, 2
_NO_LEAVES: dict[tuple[int, ...], bytes] = {}
_NO_FLAGS: frozenset[tuple[int, ...]] = frozenset()
_USED_SLOT = re.compile(rb"[^\x00]")  # the next slot that holds a flow
_NOT_TERSE_SLOT = re.compile(rb"[^\x01]")  # the end of a run of UFID flows
# The low byte of each u16 in the tcp_flags column (the u8 the kernel reports).
_LOW_BYTE = 0 if sys.byteorder == "little" else 1


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


@dataclass(frozen=True, slots=True)
class FlowRequest:
    """One decoded ``ovs_flow`` request (the attributes of datapath.c's ``info->attrs``).

    ``ufid`` is the raw ``OVS_FLOW_ATTR_UFID`` payload (any length, ``None``
    if absent); ``create`` is NLM_F_CREATE or NLM_F_EXCL; ``dump`` is
    NLM_F_DUMP on a GET.
    """

    cmd: FlowCmd
    key: bytes | None = None
    mask: bytes | None = None
    actions: bytes | None = None
    ufid: bytes | None = None
    ufid_flags: int = 0
    clear: bool = False
    probe: bool = False
    create: bool = False
    dump: bool = False


@dataclass(frozen=True, slots=True)
class FlowInfo:
    """What ``ovs_flow_cmd_fill_info`` puts in a reply, ``None`` for what it leaves out.

    ``key`` is the unmasked key for a key-identified flow (its identifier) and
    the masked key for a UFID flow. ``stats.tcp_flags`` is the u8 the kernel
    sends. :meth:`attrs` gives the attributes in the kernel's order.
    """

    ufid: bytes | None
    key: bytes | None
    mask: bytes | None
    actions: bytes | None
    stats: FlowStats

    def attrs(self) -> list[tuple[int, bytes]]:
        """``(OVS_FLOW_ATTR_*, payload)`` in the order the kernel emits them."""
        out: list[tuple[int, bytes]] = []
        if self.ufid is not None:
            out.append((FlowAttr.UFID, self.ufid))
        if self.key is not None:
            out.append((FlowAttr.KEY, self.key))
        if self.mask is not None:
            out.append((FlowAttr.MASK, self.mask))
        s = self.stats
        if s.used_ms:
            out.append((FlowAttr.USED, _U64.pack(s.used_ms)))
        if s.n_packets:
            out.append((FlowAttr.STATS, _STATS.pack(s.n_packets, s.n_bytes)))
        if s.tcp_flags & 0xFF:
            out.append((FlowAttr.TCP_FLAGS, bytes([s.tcp_flags & 0xFF])))
        if self.actions is not None:
            out.append((FlowAttr.ACTIONS, self.actions))
        return out


class _KernelForm:
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


class _Slots:
    """Every installed flow's UFID and statistics, in columns indexed by the flow's slot.

    The columns are preallocated and grow by doubling; a deleted flow's slot
    goes on a free list and is reused. ``kind`` says what a slot holds:
    free, a flow with a 16-byte UFID (which a terse batch takes straight from
    the columns), or another flow (no UFID, or one of another length). A
    terse batch is a few slices of these arrays, not an object per flow,
    which is how the kernel's dump fills its reply from ``struct sw_flow``
    without building anything per flow either.
    """

    __slots__ = ("flows", "free", "high", "kind", "n_bytes", "n_packets", "tcp_flags", "ufids", "used")

    def __init__(self, capacity: int = 1024) -> None:
        self.ufids = bytearray(16 * capacity)
        self.n_packets = array("Q", bytes(8 * capacity))
        self.n_bytes = array("Q", bytes(8 * capacity))
        self.used = array("Q", bytes(8 * capacity))
        self.tcp_flags = array("H", bytes(2 * capacity))
        self.kind = bytearray(capacity)
        self.flows: list[_Flow | None] = [None] * capacity
        self.free: list[int] = []
        self.high = 0  # slots at or above this one have never been used

    def alloc(self, flow: _Flow) -> int:
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
            self.kind[slot] = _SLOT_TERSE
        else:
            self.kind[slot] = _SLOT_OTHER
        self.n_packets[slot] = self.n_bytes[slot] = self.used[slot] = self.tcp_flags[slot] = 0
        self.flows[slot] = flow
        return slot

    def release(self, slot: int) -> None:
        self.kind[slot] = _SLOT_FREE
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


class _Flow:
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
        "ufid",
        "ufid_obj",
        "unmasked",
    )

    def __init__(self, key: ParsedKey, mask: MaskSig, masked: Fields, actions: bytes, ufid: bytes | None) -> None:
        # Replies render from the key's bytes and tree; its leaf map is only needed to build the
        # masked and unmasked fields (below), so the flow does not keep it.
        self.key = ParsedKey(key.data, key.tree, _NO_LEAVES, key.flags or _NO_FLAGS)
        self.mask = mask
        self.masked = masked
        unmasked = key.fields
        # An exact-match flow's masked key is its key: share one object.
        self.unmasked = masked if unmasked == masked else unmasked
        self.actions = actions
        self.ufid = ufid
        self.ufid_obj: Ufid | None = None
        self.cols: _Slots | None = None
        self.slot = -1
        self.alive = True
        # Kernel semantics: the MASK attribute as put (None: absent), and the
        # key/mask attributes the kernel would send back, built on first use.
        self.raw_mask: bytes | None = None
        self.replies: _KernelForm | None = None

    # The statistics, read and written through the flow's slot of the columns.
    @property
    def n_packets(self) -> int:
        return self.cols.n_packets[self.slot] if self.cols is not None else 0

    @n_packets.setter
    def n_packets(self, value: int) -> None:
        assert self.cols is not None
        self.cols.n_packets[self.slot] = value

    @property
    def n_bytes(self) -> int:
        return self.cols.n_bytes[self.slot] if self.cols is not None else 0

    @n_bytes.setter
    def n_bytes(self, value: int) -> None:
        assert self.cols is not None
        self.cols.n_bytes[self.slot] = value

    @property
    def used(self) -> int:
        return self.cols.used[self.slot] if self.cols is not None else 0

    @used.setter
    def used(self, value: int) -> None:
        assert self.cols is not None
        self.cols.used[self.slot] = value

    @property
    def tcp_flags(self) -> int:
        return self.cols.tcp_flags[self.slot] if self.cols is not None else 0

    @tcp_flags.setter
    def tcp_flags(self, value: int) -> None:
        assert self.cols is not None
        self.cols.tcp_flags[self.slot] = value

    def stats(self) -> FlowStats:
        return FlowStats(self.n_packets, self.n_bytes, self.used, self.tcp_flags)

    def public_ufid(self) -> Ufid | None:
        if self.ufid_obj is None and self.ufid is not None and len(self.ufid) == 16:
            self.ufid_obj = Ufid.from_wire(self.ufid)
        return self.ufid_obj


# The header of OVS_KEY_ATTR_PACKET_TYPE (u32 payload) as it appears in a key, for a cheap pre-check.
_PACKET_TYPE_HDR = struct.pack("=HH", 8, KeyAttr.PACKET_TYPE)


def _exclude_packet_type(attrs: bytes) -> bytes:
    """``attrs`` without OVS_KEY_ATTR_PACKET_TYPE, as lib/dpif-netlink.c put_exclude_packet_type sends keys and masks.

    The kernel has no such attribute (it refuses it); anything that does not
    parse is passed on unchanged for the kernel side to judge.
    """
    if not isinstance(attrs, (bytes, bytearray)) or _PACKET_TYPE_HDR not in attrs:
        return attrs
    try:
        parts = split_attrs(bytes(attrs), where="key")
    except OdpDecodeError:
        return attrs
    if all(t != KeyAttr.PACKET_TYPE for t, _ in parts):
        return attrs
    return pack_attrs([(t, p) for t, p in parts if t != KeyAttr.PACKET_TYPE])


def _invalid(exc: Exception) -> DpifInvalid:
    return DpifInvalid(str(exc))


def _frame(packet: object) -> bytes:
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise DpifInvalid(f"a packet must be bytes, not {type(packet).__name__}")
    return bytes(packet)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class ReferenceDatapath(Dpif):
    """An in-process datapath with exact kernel (or dpif-netdev) UFID semantics.

    ``semantics``: ``"kernel"`` (default) or ``"netdev"``. ``ufid_support``:
    ``False`` for a legacy kernel that ignores UFIDs (kernel semantics only).
    ``clock``: milliseconds for ``used`` (default: the monotonic clock).
    ``ufid_secret``: the hash basis netdev semantics use to generate UFIDs
    (random per instance by default, as per OVS process). ``max_flows``:
    installing more fails with E2BIG. ``max_upcalls``: queued misses beyond
    this are dropped and counted in :attr:`n_lost`.
    Thread-safe: every operation holds one lock.
    """

    def __init__(
        self,
        *,
        semantics: Literal["kernel", "netdev"] = "kernel",
        ufid_support: bool = True,
        clock: Callable[[], int] | None = None,
        ufid_secret: int | None = None,
        max_flows: int | None = None,
        max_upcalls: int = 4096,
    ) -> None:
        if semantics not in ("kernel", "netdev"):
            raise UfidcertInputError(f"semantics must be 'kernel' or 'netdev', not {semantics!r}")
        if semantics == "netdev" and not ufid_support:
            raise UfidcertInputError("ufid_support=False models a legacy kernel; use it with semantics='kernel'")
        self._semantics: Literal["kernel", "netdev"] = semantics
        self._ufid_support = bool(ufid_support)
        self._clock = clock if clock is not None else _monotonic_ms
        self._secret = random.getrandbits(32) if ufid_secret is None else ufid_secret
        self._max_flows = max_flows
        self._lock = threading.RLock()
        self._table: TupleSpace[_Flow] = TupleSpace()
        # The UFID index: the flow, and through it its slot in the columns.
        self._by_ufid: dict[bytes, _Flow] = {}
        self._slots = _Slots()
        # Key-identified flows by unmasked key: the kernel's
        # ovs_flow_tbl_lookup_exact (a masked lookup per mask followed by an
        # unmasked comparison) finds exactly these.
        self._by_key: dict[Fields, list[_Flow]] = {}
        self._n_flows = 0
        self._ports: dict[int, str] = {}
        self._upcalls: deque[Upcall] = deque()
        self._max_upcalls = max_upcalls
        self._output: list[tuple[int, bytes]] = []
        self.n_hit = 0
        self.n_missed = 0
        self.n_lost = 0
        self.n_dropped = 0
        self._closed = False

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------

    @property
    def features(self) -> DpifFeatures:
        if self._ufid_support:
            return DpifFeatures(True, UfidFlags.TERSE, MAX_UFID_LENGTH, self._semantics)
        return DpifFeatures(False, UfidFlags.NONE, 0, self._semantics)

    @property
    def semantics(self) -> Literal["kernel", "netdev"]:
        """``"kernel"`` or ``"netdev"``."""
        return self._semantics

    @property
    def ufid_secret(self) -> int:
        """The basis used to generate UFIDs from keys (netdev semantics)."""
        return self._secret

    def clock_ms(self) -> int:
        """The clock ``used`` is on, in milliseconds (CLOCK_MONOTONIC by default, as the kernel's)."""
        return self._clock()

    def __len__(self) -> int:
        return self._n_flows

    @property
    def n_masks(self) -> int:
        """Distinct masks in the classifier (the kernel's mask array in use)."""
        return self._table.n_masks

    def generate_ufid(self, key: bytes) -> Ufid:
        """The UFID dpif-netdev would give a flow put without one (``odp_flow_key_hash``)."""
        try:
            canon = canonical_key(key)
        except OdpDecodeError as exc:
            raise _invalid(exc) from None
        return Ufid.from_key(canon, self._secret)

    # ------------------------------------------------------------------
    # Shared helpers
    # ------------------------------------------------------------------

    def _parse_match(self, key: bytes, mask: bytes | None) -> tuple[ParsedKey, MaskSig, Fields]:
        try:
            pk = parse_key(key, where="key")
            if mask is None:
                mtree = None
                ms = exact_mask(pk)
            else:
                mtree = decode_mask(mask, where="mask")
                ms = mask_of_tree(mtree, pk, where="mask")
            if self._semantics == "kernel":
                # flow_netlink.c ovs_nla_get_match: __parse_flow_nlattrs, ip_tun_from_nlattr, match_validate.
                check_kernel_attrs(pk.data, mask)
                validate_match(pk.tree, mtree, has_mask=True, where="key/mask")
        except OdpDecodeError as exc:
            raise _invalid(exc) from None
        if self._semantics == "netdev":
            self._n_check_key(pk.data)
        ms = self._table.shared_mask(stored_mask(ms, exact_in_port=self._semantics == "kernel"))
        return pk, ms, masked_fields(pk.leaves, ms)

    @staticmethod
    def _n_check_key(key: bytes) -> None:
        # dpif-netdev.c dpif_netdev_flow_from_nlattrs: anything but a perfect
        # odp_flow_key_to_flow fit is EINVAL.
        report = fitness_report(key)
        if report.fitness is not KeyFitness.PERFECT:
            raise DpifInvalid(
                f"the userspace datapath needs a complete key: odp_flow_key_to_flow says "
                f"{report.fitness.value} ({report.detail})"
            )

    @staticmethod
    def _check_actions(actions: bytes) -> bytes:
        if not isinstance(actions, (bytes, bytearray, memoryview)):
            raise DpifInvalid(f"actions must be bytes, not {type(actions).__name__}")
        try:
            validate_actions(actions, where="actions")
        except UfidcertInputError as exc:
            raise _invalid(exc) from None
        return bytes(actions)

    def _insert(self, flow: _Flow) -> None:
        if self._max_flows is not None and self._n_flows >= self._max_flows:
            raise DpifTooBig(f"flow table full ({self._max_flows} flows)")
        self._table.insert(flow.mask, flow.masked, flow)
        flow.cols = self._slots
        flow.slot = self._slots.alloc(flow)
        if flow.ufid is not None:
            self._by_ufid[flow.ufid] = flow
        else:
            self._by_key.setdefault(flow.unmasked, []).append(flow)
        self._n_flows += 1

    def _remove(self, flow: _Flow) -> None:
        self._table.remove(flow.mask, flow.masked)
        if flow.ufid is not None:
            del self._by_ufid[flow.ufid]
        else:
            same = self._by_key[flow.unmasked]
            same.remove(flow)
            if not same:
                del self._by_key[flow.unmasked]
        flow.alive = False
        self._slots.release(flow.slot)
        flow.cols = None
        self._n_flows -= 1

    def _flush(self) -> None:
        for flow in self._table:
            flow.alive = False
            flow.cols = None
        self._slots = _Slots()  # a batched dump in progress sees the new columns and stops
        self._table.clear()
        self._by_ufid.clear()
        self._by_key.clear()
        self._n_flows = 0

    def _lookup_exact(self, fields: Fields) -> _Flow | None:
        same = self._by_key.get(fields)
        return same[0] if same else None

    # ------------------------------------------------------------------
    # Kernel commands (net/openvswitch/datapath.c)
    # ------------------------------------------------------------------

    def _request_ufid(self, raw: bytes | None, probe: bool) -> bytes | None:
        """The identifier a request carries (flow_netlink.c ovs_nla_get_ufid).

        A legacy kernel does not know the attribute and ignores it. 0 bytes
        fail the attribute policy (ERANGE); more than 16 are logged and
        treated as absent.
        """
        if raw is None or not self._ufid_support:
            return None
        if len(raw) == 0:
            raise DpifOutOfRange("OVS_FLOW_ATTR_UFID of 0 bytes (the policy minimum is 1)")
        if len(raw) > MAX_UFID_LENGTH:
            return None
        return bytes(raw)

    def flow_request(self, req: FlowRequest) -> list[FlowInfo]:
        """Execute one ``ovs_flow`` request with kernel semantics.

        Returns the reply contents: one :class:`FlowInfo` for NEW/SET/GET/DEL
        (sent by the kernel for GET, and for the others only on NLM_F_ECHO),
        every flow for a dump, nothing for a DEL that flushed. Raises a
        :class:`~reference.dpif.DpifError` with the kernel's errno, leaving
        the table unchanged.
        """
        if self._semantics != "kernel":
            raise DpifNotSupported("netlink requests are served with kernel semantics only")
        with self._lock:
            ufid = self._request_ufid(req.ufid, req.probe)
            flags = req.ufid_flags if self._ufid_support else 0
            if req.cmd == FlowCmd.NEW:
                return [self._k_new(req, ufid, flags)]
            if req.cmd == FlowCmd.SET:
                return [self._k_set(req, ufid, flags)]
            if req.cmd == FlowCmd.GET:
                if req.dump:
                    return [self._fill(f, flags) for f in self._table]
                return [self._k_get(req, ufid, flags)]
            if req.cmd == FlowCmd.DEL:
                info = self._k_del(req, ufid, flags)
                return [] if info is None else [info]
            raise DpifNotSupported(f"ovs_flow command {int(req.cmd)} is not implemented")

    def _fill(self, flow: _Flow, ufid_flags: int) -> FlowInfo:
        # datapath.c ovs_flow_cmd_fill_info: identifier first (UFID, or the
        # unmasked key), then the masked key for UFID flows only, the mask,
        # the stats, the actions; OMIT_* honoured except for the identifier.
        # Rendering the kernel's struct images is the costly part: skip it for terse replies.
        key: bytes | None = None
        mask: bytes | None = None
        if flow.ufid is not None:
            ident = flow.ufid
            if not ufid_flags & _OMIT_KEY:
                key = self._kernel_replies(flow).masked_key()
        else:
            ident = None
            key = self._kernel_replies(flow).unmasked_key()
        if not ufid_flags & _OMIT_MASK:
            mask = self._kernel_replies(flow).mask()
        actions = None if ufid_flags & _OMIT_ACTIONS else flow.actions
        stats = FlowStats(flow.n_packets, flow.n_bytes, flow.used, flow.tcp_flags & 0xFF)
        return FlowInfo(ident, key, mask, actions, stats)

    def _kernel_check_actions(self, actions: bytes, key: bytes, mask: bytes | None) -> bytes:
        """The actions as the kernel stores them, after its checks against the masked key (EINVAL)."""
        checked = self._check_actions(actions)
        if not checked:
            return checked  # drop: valid for every flow
        k, m = flow_images(key, mask)
        try:
            return kernel_actions(checked, k.masked(m))
        except OdpDecodeError as exc:
            raise _invalid(exc) from None

    @classmethod
    def _masked_image(cls, flow: _Flow) -> bytes:
        """The flow's stored (masked) struct sw_flow_key image."""
        return bytes(cls._kernel_replies(flow).masked_image.data)

    @staticmethod
    def _kernel_replies(flow: _Flow) -> _KernelForm:
        """The flow's key and mask as the kernel serialises them from its sw_flow_key structs, built on first use.

        flow_netlink.c ovs_nla_put_identifier / ovs_nla_put_masked_key /
        ovs_nla_put_mask: every metadata attribute, in the kernel's order,
        with the values the structs hold (see :mod:`reference._swkey`).
        """
        if flow.replies is None:
            flow.replies = _KernelForm(*flow_images(flow.key.data, flow.raw_mask))
        return flow.replies

    def _k_new(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        if req.key is None:
            raise DpifInvalid("flow key attribute not present in new flow")
        if req.actions is None:
            raise DpifInvalid("flow actions attribute not present in new flow")
        pk, ms, masked = self._parse_match(req.key, req.mask)
        actions = self._kernel_check_actions(req.actions, pk.data, req.mask)
        found = self._by_ufid.get(ufid) if ufid is not None else None
        if found is None:
            # Packet-style lookup of the request's *unmasked* key over every
            # installed mask, as Linux does since "openvswitch: Fix flow
            # lookup to use unmasked key" (68bb10101e6b, in 6.1 stable): the
            # out-of-tree module looked up the masked key instead, which
            # misses an installed flow matching bits the new mask wildcards.
            found = self._table.lookup(pk.leaves)
        if found is None:
            flow = _Flow(pk, ms, masked, actions, ufid)
            flow.raw_mask = req.mask
            self._insert(flow)
            return self._fill(flow, flags)
        if req.create:
            raise DpifExists("flow already exists (NLM_F_CREATE/NLM_F_EXCL)")
        # A modify: the identifier must match (ovs_flow_cmp). The request's
        # side is match.key, which since 68bb10101e6b is the *unmasked*
        # request key for every request: a UFID flow's stored masked key is
        # compared with it, so a UFID request whose key has bits where the
        # mask wildcards gets ENOENT (observed on Debian's 6.1.192).
        # (The kernel compares only the mask's byte range of struct
        # sw_flow_key; we compare every field, a documented simplification.)
        # The comparison is on the sw_flow_key structs, where an absent
        # in_port is DP_MAX_PORTS in the key but wildcarded by the mask the
        # kernel builds from the key's attributes: a UFID flow put without
        # in_port cannot be modified by a NEW (ENOENT, observed on 6.1).
        req_key = pk.fields
        if found.ufid is not None:
            if found.masked != req_key or self._masked_image(found) != flow_images(pk.data, None)[0].data:
                raise DpifNotFound("UFID matches but key is different")
        elif found.unmasked != req_key:
            found = self._lookup_exact(req_key)
            if found is None:
                raise DpifNotFound("no key-identified flow with this exact key")
        # Only the actions change; CLEAR is not looked at on this path.
        found.actions = actions
        return self._fill(found, flags)

    def _k_find(self, ufid: bytes | None, key: bytes | None) -> _Flow | None:
        if ufid is not None:
            return self._by_ufid.get(ufid)
        assert key is not None
        try:
            pk = parse_key(key, where="key")
        except OdpDecodeError as exc:  # pragma: no cover - parsed before
            raise _invalid(exc) from None
        return self._lookup_exact(pk.fields)

    def _k_set(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        if req.key is None and ufid is None:
            raise DpifInvalid("flow set message rejected, key attribute missing")
        actions: bytes | None = None
        if req.key is not None:
            self._parse_match(req.key, req.mask)
        if req.actions is not None:
            if req.key is None:
                raise DpifInvalid("flow key attribute not present in set flow")
            actions = self._kernel_check_actions(req.actions, req.key, req.mask)
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        if actions is not None:
            flow.actions = actions
        info = self._fill(flow, flags)  # filled before CLEAR: the stats before the update
        if req.clear:
            flow.n_packets = flow.n_bytes = flow.used = flow.tcp_flags = 0
        return info

    def _parse_lookup_key(self, req: FlowRequest) -> None:
        # GET and DEL parse a present KEY (without the mask) even when a UFID
        # is used for the lookup: a malformed key fails the request.
        if req.key is not None:
            try:
                pk = parse_key(req.key, where="key")
                check_kernel_attrs(pk.data, None)
                # ovs_nla_get_match with no mask (match.mask NULL): only the
                # "Missing key" half of match_validate applies.
                validate_match(pk.tree, None, has_mask=False, where="key")
            except OdpDecodeError as exc:
                raise _invalid(exc) from None

    def _k_get(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo:
        self._parse_lookup_key(req)
        if req.key is None and ufid is None:
            raise DpifInvalid("flow get message rejected, key attribute missing")
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        return self._fill(flow, flags)

    def _k_del(self, req: FlowRequest, ufid: bytes | None, flags: int) -> FlowInfo | None:
        self._parse_lookup_key(req)
        if req.key is None and ufid is None:
            self._flush()  # no identifier at all: the kernel flushes the table
            return None
        flow = self._k_find(ufid, req.key)
        if flow is None:
            raise DpifNotFound("flow not found")
        info = self._fill(flow, flags)
        self._remove(flow)
        return info

    # ------------------------------------------------------------------
    # Dpif flow methods
    # ------------------------------------------------------------------

    @staticmethod
    def _check_put_flags(flags: PutFlags | int) -> int:
        if not isinstance(flags, int):
            raise DpifInvalid(f"put flags must be PutFlags, not {flags!r}")
        pf = int(flags)
        if pf & ~int(_KNOWN_PUT_FLAGS):
            raise DpifInvalid(f"unknown put flags {flags!r}")
        if not pf & (_CREATE | _MODIFY):
            raise DpifInvalid("a put needs CREATE or MODIFY (or both)")
        return pf

    @staticmethod
    def _raw_ufid(ufid: UfidArg | None) -> bytes | None:
        if ufid is None:
            return None
        try:
            return ufid_wire(ufid)
        except TypeError as exc:
            raise DpifInvalid(str(exc)) from None

    def _to_dpif(self, info: FlowInfo) -> DpifFlow:
        u = info.ufid
        obj = None
        if u is not None:
            flow = self._by_ufid.get(u)
            obj = flow.public_ufid() if flow is not None else (Ufid.from_wire(u) if len(u) == 16 else None)
        return DpifFlow(obj, u is not None, info.key, info.mask, info.actions, info.stats, u)

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        pf = self._check_put_flags(flags)
        raw = self._raw_ufid(ufid)
        if self._semantics == "netdev":
            with self._lock:
                return self._n_put(key, mask, actions, raw, pf)
        # lib/dpif-netlink.c: CREATE -> OVS_FLOW_CMD_NEW (NLM_F_CREATE unless
        # MODIFY), otherwise OVS_FLOW_CMD_SET; ZERO_STATS -> CLEAR; the stats
        # come from the echoed reply. packet_type() is stripped from the key
        # and the mask on the way (put_exclude_packet_type).
        key = _exclude_packet_type(key)
        mask = None if mask is None else _exclude_packet_type(mask)
        if pf & _CREATE:
            req = FlowRequest(
                FlowCmd.NEW,
                key=key,
                mask=mask,
                actions=actions,
                ufid=raw,
                clear=bool(pf & _ZERO),
                probe=bool(pf & _PROBE),
                create=not pf & _MODIFY,
                ufid_flags=_TERSE,  # only the stats of the echo are used: skip rendering the rest
            )
        else:
            req = FlowRequest(
                FlowCmd.SET,
                key=key,
                mask=mask,
                actions=actions,
                ufid=raw,
                clear=bool(pf & _ZERO),
                probe=bool(pf & _PROBE),
                ufid_flags=_TERSE,
            )
        with self._lock:
            was = len(self)
            info = self.flow_request(req)[0]
            if len(self) > was:
                self._remember_ufid(raw, ufid)
                return _ZERO_STATS
            return info.stats

    def _remember_ufid(self, raw: bytes | None, ufid: UfidArg | None) -> None:
        # Keep the caller's Ufid object so replies need not rebuild it.
        if raw is not None and isinstance(ufid, Ufid):
            flow = self._by_ufid.get(raw)
            if flow is not None and flow.ufid_obj is None:
                flow.ufid_obj = ufid

    def _lookup_request(
        self, cmd: FlowCmd, ufid: UfidArg | None, key: bytes | None, terse: bool, *, stats_only: bool = False
    ) -> FlowRequest:
        raw = self._raw_ufid(ufid)
        # dpif-netlink sends the key unless the request is terse and has a UFID.
        send_key = _exclude_packet_type(key) if key is not None and not (terse and raw is not None) else None
        flags = _TERSE if terse or stats_only else 0
        return FlowRequest(cmd, key=send_key, ufid=raw, ufid_flags=flags)

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        if self._semantics == "netdev":
            with self._lock:
                flow = self._n_find(ufid, key)
                return self._n_flow(flow, terse)
        with self._lock:
            info = self.flow_request(self._lookup_request(FlowCmd.GET, ufid, key, terse))[0]
            return self._to_dpif(info)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        if self._semantics == "netdev":
            with self._lock:
                flow = self._n_find(ufid, key)
                stats = flow.stats()
                self._remove(flow)
                return stats
        with self._lock:
            infos = self.flow_request(self._lookup_request(FlowCmd.DEL, ufid, key, terse, stats_only=True))
            return infos[0].stats if infos else _ZERO_STATS

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        with self._lock:
            flows = list(self._table)
        return self._dump(flows, terse)

    def _dump(self, flows: list[_Flow], terse: bool) -> Iterator[DpifFlow]:
        netdev = self._semantics == "netdev"
        flags = _TERSE if terse and self._ufid_support else 0
        lock = self._lock
        # Records are built in chunks under one lock hold, then yielded with
        # the lock released, so other threads interleave with a long dump.
        for start in range(0, len(flows), _DUMP_CHUNK):
            with lock:
                out: list[DpifFlow] = []
                for flow in flows[start : start + _DUMP_CHUNK]:
                    if not flow.alive:
                        continue  # deleted while the dump was running
                    if (netdev and terse) or (flags and flow.ufid is not None):
                        out.append(self._terse_record(flow, netdev))
                    elif netdev:
                        out.append(self._n_flow(flow, False))
                    else:
                        out.append(self._to_dpif(self._fill(flow, flags)))
            yield from out

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        if not terse or not self._ufid_support:
            # Full records (and a legacy kernel's, which ignores TERSE): flow_dump cut into lists.
            return super().flow_dump_batches(terse=terse, max_flows=max_flows)
        return self._terse_batches(check_max_flows(max_flows))

    def _terse_batches(self, n: int) -> Iterator[Sequence[DpifFlow]]:
        """Terse batches in slot order, each built under one lock hold.

        A run of UFID flows becomes a :class:`TerseBatch` sliced out of the
        columns; flows without a 16-byte UFID come in lists of records, as
        :meth:`flow_dump` renders them. A flow never changes slot, so one that
        stays installed during the dump is dumped exactly once (flows added or
        deleted meanwhile may or may not be, as with the kernel's dump).
        """
        cols = self._slots
        netdev = self._semantics == "netdev"
        pos = 0
        while True:
            with self._lock:
                if cols is not self._slots:
                    return  # flushed meanwhile: nothing left of the dumped table
                kind, high = cols.kind, cols.high
                m = _USED_SLOT.search(kind, pos, high)
                if m is None:
                    return
                start = m.start()
                batch: Sequence[DpifFlow]
                if kind[start] == _SLOT_OTHER:
                    batch, pos = self._other_records(start, n, netdev)
                else:
                    batch, pos = self._terse_columns(start, n, netdev)
            yield batch

    def _terse_columns(self, start: int, n: int, netdev: bool) -> tuple[TerseBatch, int]:
        """Up to ``n`` UFID flows from ``start`` on, skipping free slots, stopping before any other flow."""
        cols = self._slots
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
            nxt = _USED_SLOT.search(kind, pos, high)  # over free slots
            if nxt is None:
                pos = high
                break
            pos = nxt.start()
            if kind[pos] != _SLOT_TERSE:
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

    def _other_records(self, start: int, n: int, netdev: bool) -> tuple[list[DpifFlow], int]:
        """Up to ``n`` records of flows without a 16-byte UFID from ``start`` on, stopping before a UFID flow."""
        cols = self._slots
        kind, high, flows = cols.kind, cols.high, cols.flows
        out: list[DpifFlow] = []
        pos = start
        while pos < high and len(out) < n:
            k = kind[pos]
            if k == _SLOT_TERSE:
                break
            flow = flows[pos]
            if k == _SLOT_OTHER and flow is not None:
                if netdev or flow.ufid is not None:
                    out.append(self._terse_record(flow, netdev))
                else:
                    out.append(self._to_dpif(self._fill(flow, _TERSE)))
            pos += 1
        return out, pos

    @staticmethod
    def _terse_record(flow: _Flow, netdev: bool) -> DpifFlow:
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

    def flow_flush(self) -> None:
        with self._lock:
            self._flush()

    # ------------------------------------------------------------------
    # dpif-netdev semantics (lib/dpif-netdev.c)
    # ------------------------------------------------------------------

    def _n_ufid(self, raw: bytes) -> bytes:
        # dpif-netdev only knows 128-bit UFIDs (ovs_u128).
        if len(raw) != 16:
            raise DpifInvalid(f"UFID of {len(raw)} bytes: the userspace datapath takes 16")
        return raw

    def _n_put(self, key: bytes, mask: bytes | None, actions: bytes, raw: bytes | None, pf: int) -> FlowStats:
        pk, ms, masked = self._parse_match(key, mask)
        acts = self._check_actions(actions)
        # dpif_netdev_flow_put: "in_port is not an exact match" -> EINVAL.
        if dict(ms).get(_IN_PORT) != b"\xff\xff\xff\xff":
            raise DpifInvalid("in_port is not an exact match")
        given = raw is not None
        ufid = self._n_ufid(raw) if raw is not None else self.generate_ufid(pk.data).to_wire()
        by_ufid = self._by_ufid.get(ufid) if given else None
        by_key = self._table.lookup(pk.leaves)  # the classifier lookup of the unmasked key
        target = by_ufid if given else by_key
        if target is None:
            if given and pf & _CREATE and self._table.get(ms, masked) is not None:
                # A flow with this very match exists under another UFID. Since
                # upstream 21410ff80 (first in 3.1.3) flow_put_on_pmd() looks a
                # put with a UFID up by that UFID only and installs a second flow
                # with the same match, but lib/dpif.h's dpif_flow_put contract
                # says a put whose key exists fails with EEXIST without MODIFY
                # (and the Linux datapath does so): the documented contract
                # decides (docs/dpif-contract.md, difference (d)).
                raise DpifExists("a flow with the same match exists under another UFID")
            # Only an overlapping megaflow (another match) covers the key: with a
            # UFID, upstream looks the UFID up and installs the new megaflow
            # (21410ff80: "OVS allows overlapping megaflows"); 3.1.0 found the
            # overlapping flow by key instead.
            if not pf & _CREATE:
                raise DpifNotFound("flow not found and CREATE not given")
            if ufid in self._by_ufid:
                raise DpifExists("a flow with this UFID exists")
            flow = _Flow(pk, ms, masked, acts, ufid)
            self._insert(flow)
            flow.public_ufid()
            return _ZERO_STATS
        if not pf & _MODIFY:
            raise DpifExists("flow exists and MODIFY not given")
        if not given and target.unmasked != pk.fields:
            raise DpifInvalid("overlapping flow")
        before = target.stats()
        target.actions = acts
        if pf & _ZERO:
            # The actions are replaced, then the call fails: dpif-netdev
            # cannot zero its per-thread stats (flow_put_on_pmd).
            raise DpifNotSupported("ZERO_STATS is not supported by the userspace datapath")
        return before

    def _n_find(self, ufid: UfidArg | None, key: bytes | None) -> _Flow:
        # dp_netdev_pmd_find_flow: only by UFID; without one, the key is
        # hashed into the UFID it would have been given.
        if ufid is not None:
            u = self._n_ufid(self._raw_ufid(ufid) or b"")
        elif key is not None:
            if not isinstance(key, (bytes, bytearray, memoryview)):
                raise DpifInvalid(f"a key must be bytes, not {type(key).__name__}")
            # dp_netdev_pmd_find_flow hashes the key only if it converts perfectly.
            if fitness_report(bytes(key)).fitness is not KeyFitness.PERFECT:
                raise DpifNotFound("flow not found (the key is not a complete userspace key)")
            u = self.generate_ufid(key).to_wire()
        else:
            raise DpifNotFound("neither UFID nor key given")
        flow = self._by_ufid.get(u)
        if flow is None:
            raise DpifNotFound("flow not found")
        return flow

    def _n_flow(self, flow: _Flow, terse: bool) -> DpifFlow:
        stats = flow.stats()
        if terse:
            return DpifFlow(flow.public_ufid(), True, None, None, None, stats, flow.ufid)
        return DpifFlow(
            flow.public_ufid(), True, flow.key.data, mask_bytes(flow.key, flow.mask), flow.actions, stats, flow.ufid
        )

    # ------------------------------------------------------------------
    # Ports and packets
    # ------------------------------------------------------------------

    def port_add(self, name: str) -> int:
        if not isinstance(name, str) or not name:
            raise DpifInvalid("a port needs a non-empty name")
        with self._lock:
            if name in self._ports.values():
                raise DpifExists(f"port {name!r} exists")
            number = 1
            while number in self._ports:
                number += 1
            self._ports[number] = name
            return number

    def port_del(self, port: int) -> None:
        with self._lock:
            if port not in self._ports:
                raise DpifNotFound(f"no port {port}")
            del self._ports[port]

    def ports(self) -> dict[int, str]:
        """Port number -> name."""
        with self._lock:
            return dict(self._ports)

    def _queue_upcall(self, packet: bytes, key: bytes, in_port: int) -> None:
        if len(self._upcalls) >= self._max_upcalls:
            self.n_lost += 1
            return
        ufid = self.generate_ufid(key) if self._semantics == "netdev" else None
        self._upcalls.append(Upcall(packet, key, in_port, ufid))

    def inject(self, port: int, packet: bytes) -> None:
        packet = _frame(packet)
        with self._lock:
            if port not in self._ports:
                raise DpifNotFound(f"no port {port}")
            try:
                key = extract_key(packet, port)
                pk = parse_key(key, where="extracted key", for_flow=False)
            except PacketDroppedError:
                # Frames the kernel drops before any lookup (runts, bad NSH):
                # no stats, no upcall (datapath.c ovs_dp_process_packet).
                self.n_dropped += 1
                return
            except UfidcertInputError as exc:
                raise _invalid(exc) from None
            flow = self._table.lookup(pk.leaves)
            if flow is None:
                self.n_missed += 1
                self._queue_upcall(packet, key, port)
                return
            self.n_hit += 1
            flow.n_packets += 1
            flow.n_bytes += len(packet)
            flow.used = self._clock()
            tf = pk.leaves.get(_TCP_FLAGS)
            if tf is not None and len(tf) == 2:
                flow.tcp_flags |= _BE16.unpack(tf)[0]
            self._apply(packet, flow.actions, port, key)

    def _apply(self, packet: bytes, actions: bytes, in_port: int, key: bytes) -> None:
        for attr_type, payload in split_attrs(actions, where="actions"):
            if attr_type == ActionAttr.OUTPUT and len(payload) == 4:
                self._output.append((struct.unpack("=I", payload)[0], packet))
            elif attr_type == ActionAttr.USERSPACE:
                self._queue_upcall(packet, key, in_port)

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        packet = _frame(packet)
        acts = self._check_actions(actions)
        with self._lock:
            try:
                key = extract_key(packet, in_port)
            except PacketDroppedError:
                key = b""  # nothing to extract; OUTPUT still forwards the frame
            except UfidcertInputError as exc:
                raise _invalid(exc) from None
            self._apply(packet, acts, in_port, key)

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        if max < 0:
            raise DpifInvalid("max must be >= 0")
        with self._lock:
            n = min(max, len(self._upcalls))
            return [self._upcalls.popleft() for _ in range(n)]

    def take_output(self) -> list[tuple[int, bytes]]:
        """Frames sent by OUTPUT actions since the last call, as ``(port, frame)``."""
        with self._lock:
            out, self._output = self._output, []
            return out

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __repr__(self) -> str:
        legacy = "" if self._ufid_support else ", ufid_support=False"
        return f"ReferenceDatapath(semantics={self._semantics!r}{legacy}, flows={self._n_flows})"
