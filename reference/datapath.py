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

import struct
from collections.abc import Iterator, Sequence

from reference._datapath_core import invalid
from reference._datapath_kernel import FlowInfo, FlowRequest, KernelCommands
from reference._datapath_netdev import NetdevCommands
from reference._flow_slots import SLOT_OTHER, SLOT_TERSE, USED_SLOT, Flow, terse_columns, terse_record
from reference._netlink import pack_attrs, split_attrs
from reference.dpif import (
    DpifExists,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    FlowStats,
    PutFlags,
    UfidArg,
    Upcall,
    check_max_flows,
)
from reference.errors import OdpDecodeError, PacketDroppedError, UfidcertInputError
from reference.odp.extract import extract_key
from reference.uapi import ActionAttr, FlowCmd, KeyAttr, UfidFlags
from reference.ufid import Ufid

__all__ = ["FlowInfo", "FlowRequest", "ReferenceDatapath"]

_BE16 = struct.Struct("!H")
_TCP_FLAGS = (int(KeyAttr.TCP_FLAGS),)
_KNOWN_PUT_FLAGS = PutFlags.CREATE | PutFlags.MODIFY | PutFlags.ZERO_STATS | PutFlags.PROBE
# Plain ints for the hot paths: IntFlag arithmetic builds enum members.
_CREATE, _MODIFY, _ZERO, _PROBE = (
    int(f) for f in (PutFlags.CREATE, PutFlags.MODIFY, PutFlags.ZERO_STATS, PutFlags.PROBE)
)
_TERSE = int(UfidFlags.TERSE)
_ZERO_STATS = FlowStats()
_DUMP_CHUNK = 1024


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


def _frame(packet: object) -> bytes:
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise DpifInvalid(f"a packet must be bytes, not {type(packet).__name__}")
    return bytes(packet)


class ReferenceDatapath(KernelCommands, NetdevCommands):
    """An in-process datapath with exact kernel (or dpif-netdev) UFID semantics.

    ``semantics``: ``"kernel"`` (default) or ``"netdev"``. ``ufid_support``:
    ``False`` for a legacy kernel that ignores UFIDs (kernel semantics only).
    ``clock``: milliseconds for ``used`` (default: the monotonic clock).
    ``ufid_secret``: the hash basis netdev semantics use to generate UFIDs
    (random per instance by default, as per OVS process). ``max_flows``:
    installing more fails with E2BIG. ``max_upcalls``: queued misses beyond
    this are dropped and counted in :attr:`n_lost`. ``ovs_release``: the
    (major, minor) Open vSwitch release whose dpif-netdev checks to follow
    where they changed (None: the current ones).
    Thread-safe: every operation holds one lock.
    """

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
        create = bool(pf & _CREATE)
        req = FlowRequest(
            FlowCmd.NEW if create else FlowCmd.SET,
            key=key,
            mask=mask,
            actions=actions,
            ufid=raw,
            clear=bool(pf & _ZERO),
            probe=bool(pf & _PROBE),
            create=create and not pf & _MODIFY,
            ufid_flags=_TERSE,  # only the stats of the echo are used: skip rendering the rest
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

    def _dump(self, flows: list[Flow], terse: bool) -> Iterator[DpifFlow]:
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
                        out.append(terse_record(flow, netdev))
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
                m = USED_SLOT.search(kind, pos, high)
                if m is None:
                    return
                start = m.start()
                batch: Sequence[DpifFlow]
                if kind[start] == SLOT_OTHER:
                    batch, pos = self._other_records(start, n, netdev)
                else:
                    batch, pos = terse_columns(cols, start, n, netdev)
            yield batch

    def _other_records(self, start: int, n: int, netdev: bool) -> tuple[list[DpifFlow], int]:
        """Up to ``n`` records of flows without a 16-byte UFID from ``start`` on, stopping before a UFID flow."""
        cols = self._slots
        kind, high, flows = cols.kind, cols.high, cols.flows
        out: list[DpifFlow] = []
        pos = start
        while pos < high and len(out) < n:
            k = kind[pos]
            if k == SLOT_TERSE:
                break
            flow = flows[pos]
            if k == SLOT_OTHER and flow is not None:
                if netdev or flow.ufid is not None:
                    out.append(terse_record(flow, netdev))
                else:
                    out.append(self._to_dpif(self._fill(flow, _TERSE)))
            pos += 1
        return out, pos

    def flow_flush(self) -> None:
        with self._lock:
            self._flush()

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
                pk = self._parse_key(key, where="extracted key", for_flow=False)
            except PacketDroppedError:
                # Frames the kernel drops before any lookup (runts, bad NSH):
                # no stats, no upcall (datapath.c ovs_dp_process_packet).
                self.n_dropped += 1
                return
            except UfidcertInputError as exc:
                raise invalid(exc) from None
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
                raise invalid(exc) from None
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
