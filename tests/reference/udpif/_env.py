"""Shared set-up for the udpif tests: datapath wrappers that record or script, frames, an environment."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reference._netlink import pack_attr
from reference.datapath import ReferenceDatapath
from reference.dpif import (
    DelOp,
    Dpif,
    DpifFeatures,
    DpifFlow,
    DpifInvalid,
    DpifOp,
    DpifOpResult,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
    TerseBatch,
    UfidArg,
    Upcall,
)
from reference.uapi import ActionAttr, KeyAttr
from reference.udpif import FieldMatch, ManualClock, RuleTable, UdpifConfig
from reference.udpif.udpif import Udpif
from reference.ufid import UfidGenerator

__all__ = ["Env", "RecordingDpif", "frame", "make_env", "output"]


def frame(src: int, dst: int = 1, *, sport: int = 1000, dport: int = 2000, pad: int = 0) -> bytes:
    """An Ethernet/IPv4/UDP frame from host ``src`` to host ``dst`` (MACs 02:..:xx, IPs 10.0.x.y)."""
    eth = bytes([2, 0, 0, 0, dst >> 8 & 0xFF, dst & 0xFF]) + bytes([2, 0, 0, 1, src >> 8 & 0xFF, src & 0xFF])
    payload = bytes(8 + pad)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        bytes([10, 0, src >> 8 & 0xFF, src & 0xFF]),
        bytes([10, 0, dst >> 8 & 0xFF, dst & 0xFF]),
    )
    return eth + b"\x08\x00" + ip + udp


def output(port: int) -> bytes:
    """The datapath action ``output:port``."""
    return pack_attr(ActionAttr.OUTPUT, struct.pack("=I", port))


def eth_dst(dst: int) -> FieldMatch:
    """Match the Ethernet destination of :func:`frame`'s host ``dst`` (eth key = src then dst)."""
    mac = bytes([2, 0, 0, 0, dst >> 8 & 0xFF, dst & 0xFF])
    return FieldMatch(KeyAttr.ETHERNET, bytes(6) + mac, bytes(6) + b"\xff" * 6)


def eth_src(src: int, mask: bytes = b"\xff" * 6) -> FieldMatch:
    mac = bytes([2, 0, 0, 1, src >> 8 & 0xFF, src & 0xFF])
    return FieldMatch(KeyAttr.ETHERNET, mac + bytes(6), mask + bytes(6))


class RecordingDpif(Dpif):
    """Delegates to ``inner`` and records every request; ``terse_requests`` lists the terse ones.

    ``hidden`` UFIDs (or keys) are left out of dumps, to make the cache miss
    a flow. ``dump_ms`` scripts how far ``clock`` advances during each dump.
    ``columnar``: batched dumps are the inner datapath's own (terse ones in
    columns) instead of ``flow_dump`` cut into lists; ``"reused"``: the same,
    with the columns copied into lists that every dump refills in place (as a
    C backend refills one array per ``dpif_flow_dump_next``).
    """

    def __init__(
        self, inner: ReferenceDatapath, clock: ManualClock | None = None, *, columnar: bool | Literal["reused"] = False
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.columnar = columnar  # pass the inner datapath's batches through (else flow_dump cut into lists)
        self.calls: list[tuple[str, Any]] = []
        self.terse_requests: list[tuple[str, Any]] = []
        self.hidden: set[object] = set()
        self.dump_ms: list[int] = []
        self.fail_modify = False  # answer every MODIFY put in operate() with EINVAL
        self._lock = threading.Lock()
        self._buffers: dict[int, tuple[list[int], list[int], list[int], list[int]]] = {}

    def _record(self, name: str, detail: Any, terse: bool) -> None:
        with self._lock:
            self.calls.append((name, detail))
            if terse:
                self.terse_requests.append((name, detail))

    def count(self, name: str) -> int:
        with self._lock:
            return sum(1 for n, _ in self.calls if n == name)

    def flow_put(
        self,
        key: bytes,
        mask: bytes | None,
        actions: bytes,
        *,
        ufid: UfidArg | None = None,
        flags: PutFlags = PutFlags.CREATE,
    ) -> FlowStats:
        self._record("put", flags, False)
        return self.inner.flow_put(key, mask, actions, ufid=ufid, flags=flags)

    def flow_get(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> DpifFlow:
        self._record("get", (ufid, key), terse)
        return self.inner.flow_get(ufid=ufid, key=key, terse=terse)

    def flow_del(self, *, ufid: UfidArg | None = None, key: bytes | None = None, terse: bool = False) -> FlowStats:
        self._record("del", (ufid, key), terse)
        return self.inner.flow_del(ufid=ufid, key=key, terse=terse)

    def flow_dump(self, *, terse: bool = False) -> Iterator[DpifFlow]:
        self._record("dump", None, terse)
        if self.clock is not None and self.dump_ms:
            self.clock.advance(self.dump_ms.pop(0))
        hidden = self.hidden
        for flow in self.inner.flow_dump(terse=terse):
            if flow.ufid in hidden or flow.key in hidden:
                continue
            yield flow

    def flow_dump_batches(self, *, terse: bool, max_flows: int = 50) -> Iterator[Sequence[DpifFlow]]:
        if not self.columnar:
            return super().flow_dump_batches(terse=terse, max_flows=max_flows)  # records, through flow_dump
        # The inner datapath's own batches (columnar when terse), for the revalidator's column path.
        assert not self.hidden, "hidden flows need record batches"
        self._record("dump", None, terse)
        if self.clock is not None and self.dump_ms:
            self.clock.advance(self.dump_ms.pop(0))
        batches = self.inner.flow_dump_batches(terse=terse, max_flows=max_flows)
        return self._refilled(batches) if self.columnar == "reused" else batches

    def _refilled(self, batches: Iterator[Sequence[DpifFlow]]) -> Iterator[Sequence[DpifFlow]]:
        for i, batch in enumerate(batches):
            if type(batch) is not TerseBatch:
                yield batch
                continue
            bufs = self._buffers.setdefault(i, ([], [], [], []))
            for buf, col in zip(bufs, (batch.n_packets, batch.n_bytes, batch.used_ms, batch.tcp_flags), strict=True):
                buf[:] = col
            yield TerseBatch(batch.ufids, *bufs)

    def flow_flush(self) -> None:
        self._record("flush", None, False)
        self.inner.flow_flush()

    def operate(self, ops: Sequence[DpifOp]) -> list[DpifOpResult]:
        self._record("operate", [type(op).__name__ for op in ops], False)
        for op in ops:
            if isinstance(op, (DelOp, GetOp)) and op.terse:
                self._record("operate-" + type(op).__name__, op, True)
        results = super().operate(ops)
        if self.fail_modify:
            results = [
                DpifOpResult(r.op, error=DpifInvalid("injected failure"))
                if isinstance(r.op, PutOp) and r.op.flags & PutFlags.MODIFY
                else r
                for r in results
            ]
        return results

    def execute(self, packet: bytes, actions: bytes, *, in_port: int) -> None:
        self.inner.execute(packet, actions, in_port=in_port)

    def port_add(self, name: str) -> int:
        return self.inner.port_add(name)

    def inject(self, port: int, packet: bytes) -> None:
        self.inner.inject(port, packet)

    def recv_upcalls(self, max: int = 64) -> list[Upcall]:
        self._record("recv_upcalls", max, False)
        return self.inner.recv_upcalls(max)

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def features(self) -> DpifFeatures:
        return self.inner.features


@dataclass
class Env:
    clock: ManualClock
    dp: ReferenceDatapath
    dpif: RecordingDpif
    rules: RuleTable
    udpif: Udpif
    p1: int
    p2: int
    p3: int
    injected: int = 0
    sent: list[bytes] = field(default_factory=list)

    def inject(self, pkt: bytes, port: int | None = None) -> None:
        self.dp.inject(self.p1 if port is None else port, pkt)
        self.injected += 1

    def dp_flows(self) -> list[DpifFlow]:
        return list(self.dp.flow_dump())

    def dp_ufids(self) -> set[object]:
        """The identifiers of installed flows: the UFID, or for a key-identified flow the UFID of its key."""
        out: set[object] = set()
        for f in self.dp.flow_dump():
            if f.ufid is not None:
                out.add(f.ufid)
            else:
                assert f.key is not None
                out.add(self.udpif.ufid_for_key(f.key))
        return out

    def credited(self) -> int:
        return self.rules.total_packets()


def make_env(
    *,
    semantics: Literal["kernel", "netdev"] = "kernel",
    ufid_support: bool = True,
    config: UdpifConfig | None = None,
    probe: bool = True,
    columnar: bool | Literal["reused"] = False,
    ufid_secret: int | None = None,
) -> Env:
    """A reference datapath with ports p1..p3, a rule table forwarding host 1's traffic to p2, and a Udpif.

    ``probe``: decide terse operation with :func:`reference.probe.probe_ufid`
    (True) or trust ``ufid_support`` directly. ``columnar``: see :class:`RecordingDpif`.
    """
    clock = ManualClock()
    dp = ReferenceDatapath(
        semantics=semantics, ufid_support=ufid_support, clock=clock.now_ms, max_upcalls=100_000, ufid_secret=ufid_secret
    )
    dpif = RecordingDpif(dp, clock, columnar=columnar)
    p1, p2, p3 = dp.port_add("p1"), dp.port_add("p2"), dp.port_add("p3")
    rules = RuleTable()
    rules.add(10, [eth_dst(1)], output(p2))
    udpif = Udpif(
        dpif,
        rules,
        config=config,
        clock=clock,
        ufid_supported=None if probe else ufid_support,
        ufid_generator=UfidGenerator(0x5EED),
    )
    dpif.calls.clear()
    return Env(clock, dp, dpif, rules, udpif, p1, p2, p3)
