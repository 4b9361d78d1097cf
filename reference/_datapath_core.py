"""The state and shared helpers of :class:`reference.datapath.ReferenceDatapath`; no I/O.

:class:`DatapathCore` holds what both semantics work on: the tuple-space
classifier, the UFID index, the key index of key-identified flows, the slot
columns (:mod:`reference._flow_slots`), ports and queued upcalls; and the
checks both apply to a put's key, mask and actions. The kernel commands
(:mod:`reference._datapath_kernel`) and dpif-netdev's
(:mod:`reference._datapath_netdev`) build on it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from reference._classifier import (
    MAC_PROTO_PATH,
    Fields,
    MaskSig,
    ParsedKey,
    TupleSpace,
    decode_mask,
    exact_mask,
    mask_of_tree,
    masked_fields,
    parse_key,
    stored_mask,
    with_mac_proto,
)
from reference._flow_slots import Flow, Slots
from reference._match_validate import validate_match
from reference._swkey import check_kernel_attrs, without_zero_repeats
from reference.dpif import Dpif, DpifFeatures, DpifInvalid, DpifTooBig, UfidArg, Upcall, ufid_wire
from reference.errors import OdpDecodeError, UfidcertInputError
from reference.odp.actions import validate_actions
from reference.odp.fitness import KeyFitness, fitness_report, mask_fitness_report
from reference.odp.keys import canonical_key
from reference.uapi import MAX_UFID_LENGTH, UfidFlags
from reference.ufid import Ufid

__all__ = ["DatapathCore", "invalid"]


def invalid(exc: Exception) -> DpifInvalid:
    """A decoding or validation error as the dpif's EINVAL."""
    return DpifInvalid(str(exc))


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class DatapathCore(Dpif):
    """The flow table, indexes, ports and upcall queue of a reference datapath, and the checks on puts."""

    def __init__(
        self,
        *,
        semantics: Literal["kernel", "netdev"] = "kernel",
        ufid_support: bool = True,
        clock: Callable[[], int] | None = None,
        ufid_secret: int | None = None,
        max_flows: int | None = None,
        max_upcalls: int = 4096,
        ovs_release: tuple[int, int] | None = None,
    ) -> None:
        if semantics not in ("kernel", "netdev"):
            raise UfidcertInputError(f"semantics must be 'kernel' or 'netdev', not {semantics!r}")
        if semantics == "netdev" and not ufid_support:
            raise UfidcertInputError("ufid_support=False models a legacy kernel; use it with semantics='kernel'")
        self._semantics: Literal["kernel", "netdev"] = semantics
        # Before v3.3.0 (5c8586b1a) odp_flow_key_to_mask wanted an ND match's ICMPv6 code exact.
        self._nd_code_exact = ovs_release is not None and tuple(ovs_release) < (3, 3)
        self._ufid_support = bool(ufid_support)
        self._clock = clock if clock is not None else _monotonic_ms
        self._secret = random.getrandbits(32) if ufid_secret is None else ufid_secret
        self._max_flows = max_flows
        self._lock = threading.RLock()
        self._table: TupleSpace[Flow] = TupleSpace()
        # The UFID index: the flow, and through it its slot in the columns.
        self._by_ufid: dict[bytes, Flow] = {}
        self._slots = Slots()
        # Key-identified flows by unmasked key: the kernel's
        # ovs_flow_tbl_lookup_exact (a masked lookup per mask followed by an
        # unmasked comparison) finds exactly these.
        self._by_key: dict[Fields, list[Flow]] = {}
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
            raise invalid(exc) from None
        return Ufid.from_key(canon, self._secret)

    # ------------------------------------------------------------------
    # Shared helpers
    # ------------------------------------------------------------------

    def _parse_key(self, key: bytes, *, where: str = "key", for_flow: bool = True) -> ParsedKey:
        """:func:`parse_key`, with the kernel's mac_proto as a field under kernel semantics."""
        pk = parse_key(key, where=where, for_flow=for_flow)
        return with_mac_proto(pk) if self._semantics == "kernel" else pk

    def _parse_match(self, key: bytes, mask: bytes | None) -> tuple[ParsedKey, MaskSig, Fields]:
        try:
            pk = self._parse_key(key)
            if mask is None:
                mtree = None
                ms = exact_mask(pk)
            else:
                if self._semantics == "kernel" and isinstance(mask, (bytes, bytearray)):
                    mask = without_zero_repeats(bytes(mask))
                mtree = decode_mask(mask, where="mask")
                ms = mask_of_tree(mtree, pk, where="mask")
            if self._semantics == "kernel":
                # flow_netlink.c ovs_nla_get_match: __parse_flow_nlattrs, ip_tun_from_nlattr, match_validate.
                check_kernel_attrs(pk.data, mask)
                validate_match(pk.tree, mtree, has_mask=True, where="key/mask")
                ms = tuple(sorted({**dict(ms), MAC_PROTO_PATH: b"\xff"}.items()))
        except OdpDecodeError as exc:
            raise invalid(exc) from None
        if self._semantics == "netdev":
            self._n_check_key(pk.data, mask)
        ms = self._table.shared_mask(stored_mask(ms, exact_in_port=self._semantics == "kernel"))
        return pk, ms, masked_fields(pk.leaves, ms)

    def _n_check_key(self, key: bytes, mask: bytes | None = None) -> None:
        # dpif-netdev.c dpif_netdev_flow_from_nlattrs and dpif_netdev_mask_from_nlattrs:
        # anything but a perfect odp_flow_key_to_flow / odp_flow_key_to_mask fit is EINVAL
        # (e.g. an ND key whose ICMPv6 code is not matched exactly).
        report = fitness_report(key)
        if report.fitness is KeyFitness.PERFECT and mask:
            report = mask_fitness_report(key, bytes(mask), nd_code_exact=self._nd_code_exact)
        if report.fitness is not KeyFitness.PERFECT:
            raise DpifInvalid(
                f"the userspace datapath needs a complete key and mask: odp_flow_key_to_flow/_to_mask say "
                f"{report.fitness.value} ({report.detail})"
            )

    @staticmethod
    def _check_actions(actions: bytes, contents_checked: frozenset[int] = frozenset()) -> bytes:
        if not isinstance(actions, (bytes, bytearray, memoryview)):
            raise DpifInvalid(f"actions must be bytes, not {type(actions).__name__}")
        try:
            validate_actions(actions, where="actions", contents_checked=contents_checked)
        except UfidcertInputError as exc:
            raise invalid(exc) from None
        return bytes(actions)

    def _insert(self, flow: Flow) -> None:
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

    def _remove(self, flow: Flow) -> None:
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
        self._slots = Slots()  # a batched dump in progress sees the new columns and stops
        self._table.clear()
        self._by_ufid.clear()
        self._by_key.clear()
        self._n_flows = 0

    def _lookup_exact(self, fields: Fields) -> Flow | None:
        same = self._by_key.get(fields)
        return same[0] if same else None

    @staticmethod
    def _raw_ufid(ufid: UfidArg | None) -> bytes | None:
        if ufid is None:
            return None
        try:
            return ufid_wire(ufid)
        except TypeError as exc:
            raise DpifInvalid(str(exc)) from None
