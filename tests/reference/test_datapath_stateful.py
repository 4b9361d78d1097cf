"""Random put/get/del/dump/flush/inject sequences against ReferenceDatapath (kernel, netdev, legacy).

The model is deliberately small and independent: a flow is (identifier,
last octet of its IPv4 destination 10.1.2.x, prefix 32 or 24, actions), so
overlaps are decided by plain integer arithmetic, not by the classifier
under test. Invariants (issue 4): every flow findable by its identifier, no
two flows share a UFID, no two flows overlap under CREATE, dump = the live
flows, stats = the injected traffic, terse and full dumps agree on UFIDs and
stats.
"""

from __future__ import annotations

import errno
import sys
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from reference.datapath import ReferenceDatapath
from reference.dpif import DpifError, PutFlags
from reference.odp.extract import extract_key
from reference.ufid import Ufid

OCTETS = range(4)
UFIDS = [Ufid.from_words((i, 0x2222, 0x3333, 0x4444)) for i in range(1, 5)]
PORT = 1  # the first port_add() of a fresh datapath


def packet(octet: int, size: int) -> bytes:
    frame = Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02") / IP(src="10.0.0.1", dst=f"10.1.2.{octet}")
    frame = frame / TCP(sport=1, dport=2, flags="A")
    raw = bytes(frame)
    return raw + b"\0" * max(0, size - len(raw))


def _key_and_mask(octet: int, prefix: int) -> tuple[bytes, bytes | None]:
    """The extracted key of packet(octet) and, for /24, a mask that wildcards the last octet and tcp_flags."""
    key = extract_key(packet(octet, 0), PORT)
    if prefix == 32:
        return key, _mask(key, wildcard_dst_octet=False)
    return key, _mask(key, wildcard_dst_octet=True)


def _mask(key: bytes, *, wildcard_dst_octet: bool) -> bytes:
    # Walk the key's TLVs with plain arithmetic (independent of reference._netlink).
    out = b""
    pos = 0
    while pos < len(key):
        length = int.from_bytes(key[pos : pos + 2], "little")
        atype = int.from_bytes(key[pos + 2 : pos + 4], "little")
        payload = bytearray(b"\xff" * (length - 4))
        if atype == 18:  # tcp_flags differ per packet in general: wildcard
            payload = bytearray(len(payload))
        if atype == 22:  # ct_state: the kernel refuses mask bits outside CT_SUPPORTED_MASK (0xff), host order
            payload = bytearray((0xFF).to_bytes(4, sys.byteorder))
        if atype == 7 and wildcard_dst_octet:  # ipv4: dst is bytes 4..7, last octet at 7
            payload[7] = 0
        out += key[pos : pos + 4] + bytes(payload) + b"\0" * (-length % 4)
        pos += (length + 3) & ~3
    return out


@dataclass
class MFlow:
    ufid: Ufid | None
    octet: int
    prefix: int
    actions: bytes
    n_packets: int = 0
    n_bytes: int = 0
    tags: set[str] = field(default_factory=set)

    def masked(self, octet: int, prefix: int) -> int:
        """``octet`` masked by this flow's prefix (24: the last octet is wildcarded -> 0)."""
        return octet if prefix == 32 else 0

    def hits_packet(self, octet: int) -> bool:
        return self.prefix == 24 or self.octet == octet


class DatapathMachine(RuleBasedStateMachine):
    semantics = "kernel"

    def __init__(self) -> None:
        super().__init__()
        self.now = 1
        self.dp = ReferenceDatapath(semantics=self.semantics, clock=lambda: self.now, ufid_secret=9)  # type: ignore[arg-type]
        assert self.dp.port_add("p1") == PORT
        self.flows: list[MFlow] = []

    # -- model helpers ---------------------------------------------------------

    def by_ufid(self, ufid: Ufid) -> MFlow | None:
        return next((f for f in self.flows if f.ufid == ufid), None)

    def overlaps(self, octet: int, prefix: int) -> bool:
        # Both datapaths look the new *unmasked* key up like a packet:
        # dpif-netdev's classifier lookup, and Linux's ovs_flow_cmd_new since
        # 68bb10101e6b (in 6.1; the out-of-tree module used the masked key).
        return any(f.hits_packet(octet) for f in self.flows)

    # -- rules -------------------------------------------------------------------

    @rule(
        ufid=st.one_of(st.none(), st.sampled_from(UFIDS)),
        octet=st.sampled_from(OCTETS),
        prefix=st.sampled_from([32, 24]),
        port=st.integers(2, 5),
    )
    def create(self, ufid: Ufid | None, octet: int, prefix: int, port: int) -> None:
        if ufid is None:
            prefix = 32  # key-identified flows stay exact so that keys identify them uniquely
        key, mask = _key_and_mask(octet, prefix)
        actions = (8).to_bytes(2, "little") + b"\x01\x00" + port.to_bytes(4, "little")
        taken = ufid is not None and self.by_ufid(ufid) is not None
        expect_exists = taken or self.overlaps(octet, prefix)
        if self.semantics == "netdev" and ufid is None:
            expect_exists = expect_exists or self.by_ufid(self.dp.generate_ufid(key)) is not None
        elif self.semantics == "netdev":
            # A put with a UFID is looked up by that UFID (dpif-netdev since
            # 21410ff80): an overlapping megaflow is installed beside the
            # other; only the same match is EEXIST (lib/dpif.h dpif_flow_put).
            same_match = any(f.prefix == prefix and (prefix == 24 or f.octet == octet) for f in self.flows)
            expect_exists = taken or same_match
        try:
            self.dp.flow_put(key, mask, actions, ufid=ufid, flags=PutFlags.CREATE)
        except DpifError as exc:
            assert expect_exists, f"CREATE failed without an overlap: {exc}"
            assert exc.errno == errno.EEXIST
            return
        assert not expect_exists, "CREATE succeeded over an existing or overlapping flow"
        if self.semantics == "netdev" and ufid is None:
            ufid = self.dp.generate_ufid(key)
        self.flows.append(MFlow(ufid, octet, prefix, actions))

    @rule(ufid=st.sampled_from(UFIDS), port=st.integers(2, 5), zero=st.booleans())
    def modify(self, ufid: Ufid, port: int, zero: bool) -> None:
        f = self.by_ufid(ufid)
        octet, prefix = (f.octet, f.prefix) if f else (0, 32)
        key, mask = _key_and_mask(octet, prefix)
        actions = (8).to_bytes(2, "little") + b"\x01\x00" + port.to_bytes(4, "little")
        flags = PutFlags.MODIFY | (PutFlags.ZERO_STATS if zero else PutFlags.NONE)
        try:
            before = self.dp.flow_put(key, mask, actions, ufid=ufid, flags=flags)
        except DpifError as exc:
            if f is None:
                assert exc.errno == errno.ENOENT
                return
            assert self.semantics == "netdev" and zero and exc.errno == errno.EOPNOTSUPP
            f.actions = actions  # dpif-netdev replaced the actions before failing
            return
        assert f is not None
        assert (before.n_packets, before.n_bytes) == (f.n_packets, f.n_bytes)
        f.actions = actions
        if zero:
            f.n_packets = f.n_bytes = 0

    @rule(ufid=st.sampled_from(UFIDS), terse=st.booleans())
    def delete(self, ufid: Ufid, terse: bool) -> None:
        f = self.by_ufid(ufid)
        try:
            stats = self.dp.flow_del(ufid=ufid, terse=terse)
        except DpifError as exc:
            assert f is None and exc.errno == errno.ENOENT
            return
        assert f is not None
        assert (stats.n_packets, stats.n_bytes) == (f.n_packets, f.n_bytes)
        self.flows.remove(f)

    @precondition(lambda self: self.semantics == "kernel")
    @rule(octet=st.sampled_from(OCTETS))
    def delete_by_key(self, octet: int) -> None:
        f = next((x for x in self.flows if x.ufid is None and x.octet == octet), None)
        key, _ = _key_and_mask(octet, 32)
        try:
            self.dp.flow_del(key=key)
        except DpifError as exc:
            assert f is None and exc.errno == errno.ENOENT
            return
        assert f is not None
        self.flows.remove(f)

    @rule()
    def flush(self) -> None:
        self.dp.flow_flush()
        self.flows.clear()

    @rule(octet=st.sampled_from(OCTETS), size=st.integers(60, 300))
    def inject(self, octet: int, size: int) -> None:
        self.now += 7
        before = {self._ident(f): f.stats for f in self.dp.flow_dump(terse=True)}
        candidates = [f for f in self.flows if f.hits_packet(octet)]
        self.dp.inject(PORT, packet(octet, size))
        ups = self.dp.recv_upcalls()
        if not candidates:
            assert len(ups) == 1 and ups[0].packet == packet(octet, size)
            return
        assert ups == []
        after = {self._ident(f): f.stats for f in self.dp.flow_dump(terse=True)}
        changed = [k for k in after if after[k] != before.get(k)]
        assert len(changed) == 1, "one packet must credit exactly one flow"
        hit = next(f for f in candidates if self._model_ident(f) == changed[0])
        hit.n_packets += 1
        hit.n_bytes += size
        assert after[changed[0]].used_ms == self.now

    @rule()
    def dump(self) -> None:
        assert len(list(self.dp.flow_dump())) == len(self.flows)

    # -- invariants ------------------------------------------------------------

    @staticmethod
    def _ident(flow: object) -> object:
        from reference.dpif import DpifFlow

        assert isinstance(flow, DpifFlow)
        return flow.ufid if flow.ufid_present else flow.key

    def _model_ident(self, f: MFlow) -> object:
        return f.ufid if f.ufid is not None else _key_and_mask(f.octet, 32)[0]

    @invariant()
    def dump_is_the_live_flows(self) -> None:
        full = list(self.dp.flow_dump())
        terse = list(self.dp.flow_dump(terse=True))
        ufids = [f.ufid for f in full if f.ufid_present]
        assert len(ufids) == len(set(ufids)), "two flows share a UFID"
        assert sorted(map(repr, (self._ident(f) for f in full))) == sorted(
            map(repr, (self._model_ident(f) for f in self.flows))
        )
        # terse and full agree on identifiers and stats
        assert {repr(self._ident(f)): f.stats for f in full} == {repr(self._ident(f)): f.stats for f in terse}
        stats = {repr(self._ident(f)): (f.stats.n_packets, f.stats.n_bytes) for f in full}
        for f in self.flows:
            assert stats[repr(self._model_ident(f))] == (f.n_packets, f.n_bytes)

    @invariant()
    def every_flow_findable_by_its_identifier(self) -> None:
        for f in self.flows:
            if f.ufid is not None:
                got = self.dp.flow_get(ufid=f.ufid)
                assert got.ufid == f.ufid and got.actions == f.actions
            else:
                got = self.dp.flow_get(key=_key_and_mask(f.octet, 32)[0])
                assert not got.ufid_present and got.actions == f.actions


class NetdevMachine(DatapathMachine):
    semantics = "netdev"


class LegacyMachine(RuleBasedStateMachine):
    """A kernel without UFID support: UFIDs are ignored, every flow is identified by its (exact) key."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1
        self.dp = ReferenceDatapath(ufid_support=False, clock=lambda: self.now)
        assert self.dp.port_add("p1") == PORT
        self.flows: dict[int, MFlow] = {}

    @rule(ufid=st.one_of(st.none(), st.sampled_from([*UFIDS, b"", bytes(20)])), octet=st.sampled_from(OCTETS))
    def create(self, ufid: Ufid | bytes | None, octet: int) -> None:
        key = _key_and_mask(octet, 32)[0]
        try:
            self.dp.flow_put(key, None, b"", ufid=ufid)
        except DpifError as exc:
            assert octet in self.flows and exc.errno == errno.EEXIST
            return
        assert octet not in self.flows
        self.flows[octet] = MFlow(None, octet, 32, b"")

    @rule(ufid=st.sampled_from(UFIDS), octet=st.sampled_from(OCTETS), port=st.integers(2, 5))
    def modify(self, ufid: Ufid, octet: int, port: int) -> None:
        actions = (8).to_bytes(2, "little") + b"\x01\x00" + port.to_bytes(4, "little")
        try:
            self.dp.flow_put(_key_and_mask(octet, 32)[0], None, actions, ufid=ufid, flags=PutFlags.MODIFY)
        except DpifError as exc:
            assert octet not in self.flows and exc.errno == errno.ENOENT
            return
        self.flows[octet].actions = actions

    @rule(ufid=st.sampled_from(UFIDS))
    def get_by_ufid_alone_is_einval(self, ufid: Ufid) -> None:
        try:
            self.dp.flow_get(ufid=ufid)
        except DpifError as exc:
            assert exc.errno == errno.EINVAL
        else:
            raise AssertionError("a legacy datapath found a flow by UFID alone")

    @rule(ufid=st.sampled_from(UFIDS), octet=st.sampled_from(OCTETS))
    def get_by_ufid_and_key(self, ufid: Ufid, octet: int) -> None:
        key = _key_and_mask(octet, 32)[0]
        try:
            flow = self.dp.flow_get(ufid=ufid, key=key)
        except DpifError as exc:
            assert octet not in self.flows and exc.errno == errno.ENOENT
            return
        assert not flow.ufid_present and flow.key == key and flow.actions == self.flows[octet].actions

    @rule(ufid=st.sampled_from(UFIDS), octet=st.sampled_from(OCTETS))
    def delete_by_key(self, ufid: Ufid, octet: int) -> None:
        try:
            stats = self.dp.flow_del(ufid=ufid, key=_key_and_mask(octet, 32)[0])
        except DpifError as exc:
            assert octet not in self.flows and exc.errno == errno.ENOENT
            return
        f = self.flows.pop(octet)
        assert (stats.n_packets, stats.n_bytes) == (f.n_packets, f.n_bytes)

    @rule(ufid=st.sampled_from(UFIDS), octet=st.sampled_from(OCTETS))
    def terse_delete_flushes(self, ufid: Ufid, octet: int) -> None:
        self.dp.flow_del(ufid=ufid, key=_key_and_mask(octet, 32)[0], terse=True)
        self.flows.clear()

    @rule(octet=st.sampled_from(OCTETS), size=st.integers(60, 200))
    def inject(self, octet: int, size: int) -> None:
        self.now += 3
        self.dp.inject(PORT, packet(octet, size))
        ups = self.dp.recv_upcalls()
        f = self.flows.get(octet)
        if f is None:
            assert len(ups) == 1
            return
        assert ups == []
        f.n_packets += 1
        f.n_bytes += size

    @rule()
    def probe(self) -> None:
        from reference.probe import probe_ufid

        assert probe_ufid(self.dp) is False

    @invariant()
    def dump_is_the_live_flows_with_full_contents(self) -> None:
        full = list(self.dp.flow_dump())
        terse = list(self.dp.flow_dump(terse=True))
        assert full == terse  # terse requests are not understood: full replies
        assert all(not f.ufid_present and f.key is not None and f.mask is not None for f in full)
        got = {f.key: (f.stats.n_packets, f.stats.n_bytes) for f in full}
        want = {_key_and_mask(o, 32)[0]: (f.n_packets, f.n_bytes) for o, f in self.flows.items()}
        assert got == want


TestKernelDatapath = DatapathMachine.TestCase
TestKernelDatapath.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
TestNetdevDatapath = NetdevMachine.TestCase
TestNetdevDatapath.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
TestLegacyDatapath = LegacyMachine.TestCase
TestLegacyDatapath.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
