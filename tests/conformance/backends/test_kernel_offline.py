"""The kernel backend's netlink client against the reference's sans-I/O ``ovs_flow`` endpoint (no kernel needed).

The client (:mod:`conformance.backends.kernel`, :mod:`conformance.backends._genl`)
encodes requests as lib/dpif-netlink.c does and decodes the kernel's
answers. Here the "kernel" is :class:`reference.flow_netlink.FlowNetlinkEndpoint`,
so every outcome can be compared with the same operations applied directly
to an independent :class:`ReferenceDatapath`; the wire checks compare the
requests with the rules of lib/dpif-netlink.c dpif_netlink_flow_to_ofpbuf.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import strategies
from conformance.backends import _genl, _nlio
from conformance.backends.kernel import KernelDpif, kernel
from conformance.errors import BackendUnavailable, UsageError
from conformance.suite._flows import eth_key, eth_mask, output, ufid_n
from reference._netlink import iter_attrs, pack_attr
from reference.datapath import ReferenceDatapath
from reference.dpif import (
    DelOp,
    DpifError,
    DpifExists,
    DpifFlow,
    DpifNotFound,
    DpifNotSupported,
    DpifOutOfRange,
    GetOp,
    PutFlags,
)
from reference.flow_netlink import FlowNetlinkEndpoint, split_messages
from reference.uapi import FlowAttr, FlowCmd, KeyAttr, NlmFlag, NlmsgType, UfidFlags


class EndpointTransport:
    """A :class:`~conformance.backends.kernel.Transport` whose kernel is the reference endpoint; records requests."""

    def __init__(self, endpoint: FlowNetlinkEndpoint, *, interrupt_dumps: int = 0, split: bool = False) -> None:
        self.endpoint = endpoint
        self.requests: list[bytes] = []
        self.interrupt_dumps = interrupt_dumps
        self.split = split

    def open_socket(self) -> tuple[int, int]:
        return 1, 4242

    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes:
        self.requests.append(data)
        out = self.endpoint.handle(data)
        msgs = split_messages(out)
        if self.interrupt_dumps and any(m.flags & NlmFlag.MULTI for m in msgs):
            self.interrupt_dumps -= 1
            # NLM_F_DUMP_INTR on every message of this dump, as af_netlink marks a dump that raced a change.
            out = b"".join(m.header() + m.payload for m in (dataclasses.replace(m, flags=m.flags | 0x10) for m in msgs))
        if self.split:
            # Several recv() datagrams, each padded to 4 bytes: concatenated they must still parse.
            out = b"".join(m.header() + m.payload + b"\0" * (-len(m.payload) % 4) for m in msgs)
        return out

    def recv(self, chan: int, timeout_s: float, max_frames: int) -> list[bytes]:
        return []

    def close_socket(self, chan: int) -> None:
        pass

    def run(self, argv: list[str]) -> tuple[int, bytes]:
        raise OSError(errno.EOPNOTSUPP, "no commands here")

    def send_frame(self, ifname: str, frame: bytes) -> None:
        raise OSError(errno.EOPNOTSUPP, "no frames here")

    def link_up(self, name: str) -> None:
        raise OSError(errno.EOPNOTSUPP, "no links here")

    def close(self) -> None:
        pass


def _client(*, ufid_support: bool = True, **kw: int | bool) -> tuple[KernelDpif, EndpointTransport, ReferenceDatapath]:
    dp = ReferenceDatapath(semantics="kernel", ufid_support=ufid_support)
    endpoint = FlowNetlinkEndpoint(dp, family_id=0x22, dp_ifindex=7)
    transport = EndpointTransport(endpoint, **kw)  # type: ignore[arg-type]
    client = KernelDpif.attach(transport, flow_family=0x22, dp_ifindex=7)
    transport.requests.clear()
    return client, transport, dp


def _request(data: bytes) -> tuple[int, int, int, dict[int, bytes]]:
    (msg,) = split_messages(data)
    cmd = msg.payload[0]
    (ifindex,) = struct.unpack_from("=i", msg.payload, 4)
    attrs = {t: p for t, p, _ in iter_attrs(msg.payload[8:], where="test")}
    return msg.flags, cmd, ifindex, attrs


def _norm(flow: DpifFlow | None) -> object:
    if flow is None:
        return None
    return (flow.ufid_bytes, flow.ufid_present, flow.key, flow.mask, flow.actions, flow.stats)


# -- differential: the client over the endpoint equals the reference called directly -------------------------


@settings(max_examples=60, deadline=None)
@given(batch=strategies.dpif_batches(), terse=st.lists(st.booleans(), min_size=12, max_size=12))
def test_operations_through_netlink_match_the_reference(batch: list[object], terse: list[bool]) -> None:
    client, _t, _dp = _client()
    direct = ReferenceDatapath(semantics="kernel")
    for i, drawn in enumerate(batch):
        op = dataclasses.replace(drawn, terse=terse[i]) if isinstance(drawn, (GetOp, DelOp)) else drawn
        (got,) = client.operate([op])  # type: ignore[list-item]
        (want,) = direct.operate([op])  # type: ignore[list-item]
        assert (got.error.errno if got.error else 0) == (want.error.errno if want.error else 0), op
        assert type(got.error) is type(want.error)
        assert got.stats == want.stats, op
        assert _norm(got.flow) == _norm(want.flow), op
    dumped = sorted((_norm(f) for f in client.flow_dump()), key=repr)
    assert dumped == sorted((_norm(f) for f in direct.flow_dump()), key=repr)
    terse_dump = sorted((_norm(f) for f in client.flow_dump(terse=True)), key=repr)
    assert terse_dump == sorted((_norm(f) for f in direct.flow_dump(terse=True)), key=repr)


@settings(max_examples=40, deadline=None)
@given(batch=strategies.dpif_batches(max_size=120))
def test_a_batch_is_one_send_per_50_ops_with_the_same_outcomes(batch: list[object]) -> None:
    client, t, _dp = _client()
    direct = ReferenceDatapath(semantics="kernel")
    got = client.operate(batch)  # type: ignore[arg-type]
    want = direct.operate(batch)  # type: ignore[arg-type]
    assert len(t.requests) == -(-len(batch) // 50)
    assert [len(split_messages(r)) for r in t.requests] == [min(50, len(batch) - i) for i in range(0, len(batch), 50)]
    assert [g.op for g in got] == list(batch)
    for g, w in zip(got, want, strict=True):
        assert (g.error.errno if g.error else 0) == (w.error.errno if w.error else 0), g.op
        assert g.stats == w.stats and _norm(g.flow) == _norm(w.flow), g.op


def test_probe_finds_ufid_support_and_its_absence() -> None:
    assert KernelDpif.attach is not None
    client, _, _ = _client()
    assert client.features.ufid and client.features.omit_flags == UfidFlags.TERSE
    assert client.features.semantics == "kernel"
    legacy, _, _ = _client(ufid_support=False)
    assert not legacy.features.ufid and legacy.features.max_ufid_len == 0


# -- the wire: requests as dpif-netlink encodes them ---------------------------------------------------------


def test_put_encoding_follows_dpif_netlink() -> None:
    client, t, _ = _client()
    key, mask = eth_key(1, src=1), eth_mask()
    client.flow_put(key, mask, output(2), ufid=ufid_n(1), flags=PutFlags.CREATE)
    flags, cmd, ifindex, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.NEW and ifindex == 7
    assert flags & NlmFlag.CREATE and flags & NlmFlag.ECHO and flags & NlmFlag.ACK
    assert attrs[FlowAttr.KEY] == key and attrs[FlowAttr.MASK] == mask and attrs[FlowAttr.ACTIONS] == output(2)
    assert attrs[FlowAttr.UFID] == ufid_n(1).to_wire()
    assert FlowAttr.CLEAR not in attrs and FlowAttr.PROBE not in attrs
    # CREATE|MODIFY: NEW without NLM_F_CREATE; MODIFY alone: SET; ZERO_STATS: CLEAR; PROBE: PROBE.
    client.flow_put(key, mask, output(3), ufid=ufid_n(1), flags=PutFlags.CREATE | PutFlags.MODIFY)
    flags, cmd, _, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.NEW and not flags & NlmFlag.CREATE
    client.flow_put(key, mask, output(3), ufid=ufid_n(1), flags=PutFlags.MODIFY | PutFlags.ZERO_STATS | PutFlags.PROBE)
    flags, cmd, _, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.SET and attrs[FlowAttr.CLEAR] == b"" and attrs[FlowAttr.PROBE] == b""
    # No mask: no MASK attribute (the kernel then matches exactly); empty actions are still sent.
    client.flow_put(eth_key(1, src=2), None, b"", flags=PutFlags.CREATE)
    _, _, _, attrs = _request(t.requests[-1])
    assert FlowAttr.MASK not in attrs and attrs[FlowAttr.ACTIONS] == b"" and FlowAttr.UFID not in attrs


def test_terse_requests_carry_only_ufid_and_flags_when_supported() -> None:
    client, t, _ = _client()
    key = eth_key(1, src=1)
    client.flow_put(key, eth_mask(), output(2), ufid=ufid_n(1))
    client.flow_get(ufid=ufid_n(1), key=key, terse=True)
    _, cmd, _, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.GET and set(attrs) == {FlowAttr.UFID, FlowAttr.UFID_FLAGS}
    assert struct.unpack("=I", attrs[FlowAttr.UFID_FLAGS])[0] == UfidFlags.TERSE
    list(client.flow_dump(terse=True))
    flags, _, _, attrs = _request(t.requests[-1])
    assert flags & NlmFlag.DUMP == NlmFlag.DUMP and set(attrs) == {FlowAttr.UFID_FLAGS}
    client.flow_del(ufid=ufid_n(1), key=key, terse=True)
    _, cmd, _, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.DEL and set(attrs) == {FlowAttr.UFID, FlowAttr.UFID_FLAGS}
    # Terse but identified by key: the flags and the key (dpif_netlink_flow_to_ofpbuf).
    client.flow_put(key, eth_mask(), output(2))
    client.flow_get(key=key, terse=True)
    _, _, _, attrs = _request(t.requests[-1])
    assert set(attrs) == {FlowAttr.KEY, FlowAttr.UFID_FLAGS}


def test_packet_type_is_stripped_from_keys_and_masks() -> None:
    client, t, _ = _client()
    key, mask = eth_key(1, src=1), eth_mask()
    pt = pack_attr(KeyAttr.PACKET_TYPE, struct.pack("!I", 0))
    pt_mask = pack_attr(KeyAttr.PACKET_TYPE, b"\xff" * 4)
    client.flow_put(pt + key, pt_mask + mask, output(2), ufid=ufid_n(1))
    _, _, _, attrs = _request(t.requests[-1])
    assert attrs[FlowAttr.KEY] == key and attrs[FlowAttr.MASK] == mask


def test_non_terse_and_legacy_requests_always_carry_the_key() -> None:
    client, t, _ = _client()
    key = eth_key(1, src=1)
    client.flow_put(key, eth_mask(), output(2), ufid=ufid_n(1))
    client.flow_get(ufid=ufid_n(1), key=key)
    _, _, _, attrs = _request(t.requests[-1])
    assert attrs[FlowAttr.KEY] == key and FlowAttr.UFID_FLAGS not in attrs
    legacy, lt, _ = _client(ufid_support=False)
    legacy.flow_put(key, eth_mask(), output(2), ufid=ufid_n(1))
    legacy.flow_del(ufid=ufid_n(1), key=key, terse=True)
    _, _, _, attrs = _request(lt.requests[-1])
    assert attrs[FlowAttr.KEY] == key and FlowAttr.UFID_FLAGS not in attrs
    list(legacy.flow_dump(terse=True))
    _, _, _, attrs = _request(lt.requests[-1])
    assert attrs == {}


def test_flush_and_identifierless_requests() -> None:
    client, t, dp = _client()
    for n in range(1, 4):
        client.flow_put(eth_key(1, src=n), eth_mask(), output(2), ufid=ufid_n(n))
    client.flow_flush()
    _, cmd, _, attrs = _request(t.requests[-1])
    assert cmd == FlowCmd.DEL and attrs == {} and len(dp) == 0
    # Kernel semantics: GET without UFID and key is EINVAL; DEL without them flushes.
    with pytest.raises(DpifError) as info:
        client.flow_get()
    assert info.value.errno == errno.EINVAL
    client.flow_put(eth_key(1, src=1), eth_mask(), output(2), ufid=ufid_n(1))
    client.flow_del()
    assert len(dp) == 0


# -- answers: errors, sizes, interrupted and split dumps, garbage ---------------------------------------------


def test_kernel_errors_become_dpif_errors() -> None:
    client, _, _ = _client()
    key = eth_key(1, src=1)
    client.flow_put(key, eth_mask(), output(2), ufid=ufid_n(1))
    with pytest.raises(DpifExists):
        client.flow_put(key, eth_mask(), output(2), ufid=ufid_n(1))
    with pytest.raises(DpifNotFound):
        client.flow_get(ufid=ufid_n(2), key=key)
    with pytest.raises(DpifOutOfRange):
        client.flow_put(eth_key(1, src=2), eth_mask(), output(2), ufid=b"")


@pytest.mark.parametrize("split", [False, True])
def test_dumps_of_any_size(split: bool) -> None:
    client, _, dp = _client(split=split)
    n = 2500
    for i in range(n):
        dp.flow_put(eth_key(1, src=i + 1), eth_mask(), output(2), ufid=ufid_n(i + 1))
    flows = list(client.flow_dump(terse=True))
    assert len(flows) == n
    assert {f.ufid for f in flows} == {ufid_n(i + 1) for i in range(n)}
    assert all(f.key is None and f.actions is None for f in flows)


def test_interrupted_dumps_are_restarted_and_give_up_eventually() -> None:
    client, t, dp = _client(interrupt_dumps=2)
    dp.flow_put(eth_key(1, src=1), eth_mask(), output(2), ufid=ufid_n(1))
    before = len(t.requests)
    assert len(list(client.flow_dump())) == 1
    assert len(t.requests) - before == 3
    stuck, _, dp2 = _client(interrupt_dumps=100)
    dp2.flow_put(eth_key(1, src=1), eth_mask(), output(2), ufid=ufid_n(1))
    with pytest.raises(DpifError) as info:
        list(stuck.flow_dump())
    assert info.value.errno == errno.EAGAIN


@given(data=st.binary(max_size=80))
@settings(max_examples=200, deadline=None)
def test_garbage_answers_raise_dpif_errors_only(data: bytes) -> None:
    try:
        answer = _genl.decode_answer(data, 1)
        for payload in answer.payloads:
            _genl.parse_flow(payload)
    except DpifError:
        pass


def test_error_answer_carries_the_errno() -> None:
    err = struct.pack("=IHHII", 36, NlmsgType.ERROR, 0, 5, 0) + struct.pack("=i", -errno.ENOENT) + bytes(16)
    with pytest.raises(DpifNotFound):
        _genl.decode_answer(err, 5)
    assert _genl.decode_answer(err, 6).payloads == ()  # an answer to another request is not ours


def test_ports_and_upcalls_need_a_created_datapath() -> None:
    client, _, _ = _client()
    assert not client.features.packet_io
    with pytest.raises(DpifNotSupported):
        client.port_add("p0")
    with pytest.raises(DpifNotSupported):
        client.recv_upcalls()


# -- the relay's framing and the factory's options ------------------------------------------------------------


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_relay_frames_round_trip(frames: list[bytes]) -> None:
    assert _nlio.unpack_frames(_nlio.pack_frames(frames)) == frames


def test_relay_dispatch_rejects_unknown_ops() -> None:
    with pytest.raises(OSError) as info:
        _nlio.LocalOps().dispatch(99, b"")
    assert info.value.errno == errno.EOPNOTSUPP


@pytest.mark.parametrize(
    "options",
    [{"colour": "blue"}, {"where": "moon"}, {"where": "vm", "op_timeout": "soon"}, {"where": "vm", "memory": "-1"}],
)
def test_bad_options_are_usage_errors(options: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        kernel(**options)


def test_missing_kernel_image_is_reported_in_one_line(tmp_path: object) -> None:
    from conformance.backends import _qemu

    if _qemu.qemu_missing():
        with pytest.raises(BackendUnavailable):
            kernel(where="vm", kernel="/nonexistent/bzImage")
        return
    with pytest.raises(BackendUnavailable) as info:
        kernel(where="vm", kernel="/nonexistent/bzImage")
    assert "no such file" in str(info.value) and "\n" not in str(info.value)


def test_unavailable_reasons_name_the_missing_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.backends import _qemu
    from conformance.backends import kernel as kernel_module

    monkeypatch.setattr(kernel_module, "_host_has_module", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda name: None if name == _qemu.QEMU else f"/usr/bin/{name}")
    reason = kernel_module.unavailable_reason()
    assert reason is not None and "qemu-system-x86_64 not found" in reason and "\n" not in reason
    with pytest.raises(BackendUnavailable) as info:
        kernel(where="vm")
    assert "qemu-system-x86_64" in str(info.value)
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "busybox" else f"/usr/bin/{name}")
    assert "busybox" in (kernel_module.unavailable_reason() or "")
    with pytest.raises(BackendUnavailable) as info:
        kernel(where="host")
    assert "where=host" in str(info.value)


def test_naming_a_kernel_makes_auto_boot_a_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.backends import _qemu
    from conformance.backends import kernel as kernel_module

    monkeypatch.setattr(kernel_module, "_host_has_module", lambda: True)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(_qemu, "qemu_missing", lambda: "no QEMU in this test")
    with pytest.raises(BackendUnavailable, match=r"^no QEMU in this test$"):  # the VM path, not the host's kernel
        kernel(where="auto", kernel="/boot/vmlinuz")


def test_a_boot_panic_gets_one_more_boot_and_only_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.backends import _qemu

    calls: list[str] = []

    def fake_vm(outcomes: list[str]) -> object:
        def make(config: object) -> object:
            what = outcomes[len(calls)]
            calls.append(what)
            if what != "ok":
                raise _qemu.GuestUnresponsive(f"kernel VM: QEMU exited; console: {what}")
            return "vm"

        return make

    config = _qemu.VmConfig()
    monkeypatch.setattr(_qemu, "Vm", fake_vm(["Kernel panic - not syncing", "ok"]))
    assert _qemu._boot(config) == "vm" and len(calls) == 2  # type: ignore[comparison-overlap]
    calls.clear()
    monkeypatch.setattr(_qemu, "Vm", fake_vm(["Kernel panic - not syncing", "Kernel panic - not syncing", "ok"]))
    with pytest.raises(_qemu.GuestUnresponsive, match="Kernel panic"):
        _qemu._boot(config)
    assert len(calls) == 2  # a kernel that panics twice is reported, not retried again
    calls.clear()
    monkeypatch.setattr(_qemu, "Vm", fake_vm(["did not connect the relay port", "ok"]))
    with pytest.raises(_qemu.GuestUnresponsive, match="relay"):
        _qemu._boot(config)
    assert len(calls) == 1  # only a panic is retried
