"""The kernel backend against a real Linux openvswitch module in a QEMU/TCG guest (small: each boot costs ~7 s).

Needs qemu-system-x86_64, busybox and the Debian kernel package (fetched
into the cache on first use); CI installs them, so under UFIDCERT_STRICT=1
a missing piece fails instead of skipping. The expected kernel answers
are the ones measured independently with a stdlib client in the guest
(recorded in docs/kernel-backend.md), not this backend's own output.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backends import _nlio, _qemu
from conformance.backends.kernel import KernelDpif, kernel
from conformance.errors import BackendUnavailable, ConformanceError
from conformance.suite._flows import eth_frame, eth_key, eth_mask, output, tcp_key, tcp_mask, ufid_n
from reference._netlink import iter_attrs, pack_attrs
from reference.dpif import DelOp, DpifError, DpifExists, DpifNotFound, DpifOp, DpifOutOfRange, GetOp, PutFlags, PutOp
from reference.odp.extract import extract_key
from reference.uapi import KeyAttr
from tests._support import qemu_children, require


def _without(attrs: bytes, attr: int) -> bytes:
    return pack_attrs([(t, p) for t, p, _ in iter_attrs(attrs, where="test") if t != attr])


def _require_vm() -> None:
    reason = _qemu.unavailable_reason()
    require(reason is None, f"kernel VM: {reason}")


@pytest.fixture(scope="module")
def kdp() -> Iterator[KernelDpif]:
    _require_vm()
    dpif = kernel(where="vm")
    yield dpif
    dpif.close()
    assert not qemu_children(), "QEMU survived close()"


def test_kernel_ufid_semantics(kdp: KernelDpif) -> None:
    kdp.flow_flush()
    assert kdp.features.ufid and kdp.features.semantics == "kernel"
    k1, k2, mask = eth_key(1, src=1), eth_key(1, src=2), eth_mask()
    kdp.flow_put(k1, mask, output(2), ufid=ufid_n(1))
    with pytest.raises(DpifExists):
        kdp.flow_put(k1, mask, output(2), ufid=ufid_n(1))
    with pytest.raises(DpifExists):
        kdp.flow_put(k1, mask, output(2), ufid=ufid_n(2))  # other UFID, same key
    with pytest.raises(DpifNotFound):
        kdp.flow_get(key=k1)  # a UFID flow is not found by its key alone
    terse = kdp.flow_get(ufid=ufid_n(1), key=k1, terse=True)
    assert terse.ufid == ufid_n(1) and terse.key is None and terse.actions is None
    with pytest.raises(DpifOutOfRange):
        kdp.flow_put(k2, mask, output(2), ufid=b"")
    kdp.flow_put(k2, mask, output(2), ufid=bytes(range(17)))  # too long: silently key-identified
    by_key = kdp.flow_get(key=k2)
    assert not by_key.ufid_present
    kdp.flow_del(ufid=ufid_n(1), terse=True)
    with pytest.raises(DpifNotFound):
        kdp.flow_del(ufid=ufid_n(1))
    kdp.flow_flush()
    assert list(kdp.flow_dump()) == []


def test_traffic_moves_stats_and_misses_are_upcalls_with_the_extracted_key(kdp: KernelDpif) -> None:
    kdp.flow_flush()
    port = kdp.port_add("ufcvm0")
    try:
        kdp.recv_upcalls()
        frame = eth_frame(7, size=64)
        kdp.inject(port, frame)
        (up,) = kdp.recv_upcalls()
        assert up.packet == frame and up.in_port == port
        assert up.key == extract_key(frame, port)
        kdp.flow_put(eth_key(port, src=7), eth_mask(), b"", ufid=ufid_n(7), flags=PutFlags.CREATE)
        kdp.inject(port, frame)
        kdp.inject(port, frame)
        assert kdp.recv_upcalls() == []
        stats = kdp.flow_del(ufid=ufid_n(7))
        assert (stats.n_packets, stats.n_bytes) == (2, 2 * len(frame))
    finally:
        kdp.port_del(port)


def test_a_guest_that_does_not_boot_in_time_is_killed() -> None:
    _require_vm()
    before = set(qemu_children())
    t0 = time.monotonic()
    with pytest.raises(_qemu.GuestUnresponsive) as info:
        _qemu.Vm(_qemu.VmConfig(boot_timeout_s=1.0))
    assert "did not boot" in str(info.value) and "QEMU killed" in str(info.value)
    assert time.monotonic() - t0 < 60
    assert set(qemu_children()) <= before


def test_a_guest_that_stops_answering_is_killed() -> None:
    _require_vm()
    before = set(qemu_children())
    vm = _qemu.Vm(_qemu.VmConfig(op_timeout_s=3.0))
    try:
        assert vm.run(["true"])[0] == 0
        os.kill(vm._proc.pid, signal.SIGSTOP)
        with pytest.raises(_qemu.GuestUnresponsive) as info:
            vm.call(_nlio.OP.HELLO, b"x")
        assert "stopped answering" in str(info.value)
        assert vm._proc.poll() is not None and vm.state is _qemu.VmState.STOPPED
        with pytest.raises(ConformanceError):
            vm._move(_qemu.VmState.READY)  # a stopped guest never comes back
        with pytest.raises(_qemu.GuestUnresponsive):
            vm.run(["true"])
    finally:
        vm.shutdown(graceful=False)
    assert set(qemu_children()) <= before


def test_kernel_errors_keep_their_errno(kdp: KernelDpif) -> None:
    # A TCP key without tcp_flags: Linux 6.1 answers EINVAL (net/openvswitch/flow_netlink.c match_validate).
    with pytest.raises(DpifError) as info:
        kdp.flow_put(_without(tcp_key(1, src=1), KeyAttr.TCP_FLAGS), _without(tcp_mask(), KeyAttr.TCP_FLAGS), b"")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(DpifOutOfRange):
        kdp.flow_put(b"\x00\x00\x00", None, b"")  # a truncated attribute: ERANGE


def test_a_batch_with_a_failing_op_in_the_middle(kdp: KernelDpif) -> None:
    kdp.flow_flush()
    key, mask = eth_key(1, src=9), eth_mask()
    ops: list[DpifOp] = [
        PutOp(key, mask, output(2), ufid=ufid_n(9)),
        PutOp(key, mask, output(2), ufid=ufid_n(9)),  # EEXIST, and the batch goes on
        GetOp(ufid=ufid_n(9), terse=True),
        DelOp(ufid=ufid_n(9), terse=True),
        DelOp(ufid=ufid_n(9)),  # ENOENT
    ]
    res = kdp.operate(ops)
    assert [r.error.errno if r.error else 0 for r in res] == [0, errno.EEXIST, 0, 0, errno.ENOENT]
    flow = res[2].flow
    assert flow is not None and flow.ufid == ufid_n(9) and flow.key is None


def test_an_image_qemu_cannot_boot_is_reported_with_qemus_reason(tmp_path: Path) -> None:
    _require_vm()
    before = set(qemu_children())
    image = tmp_path / "vmlinux"
    shutil.copy("/bin/true", image)  # an ELF file, so it passes our check, but no PVH note: QEMU refuses it
    with pytest.raises(_qemu.GuestUnresponsive) as info:
        _qemu.Vm(_qemu.VmConfig(kernel=str(image), boot_timeout_s=20))
    assert "QEMU exited with status" in str(info.value)
    assert set(qemu_children()) <= before


def test_an_image_that_is_not_a_kernel_never_reaches_qemu(tmp_path: Path) -> None:
    _require_vm()
    before = set(qemu_children())  # the module's shared guest may be running
    image = tmp_path / "bzImage"
    image.write_bytes(bytes(range(256)) * 400)
    with pytest.raises(BackendUnavailable, match="not a Linux kernel image"):
        _qemu.Vm(_qemu.VmConfig(kernel=str(image), boot_timeout_s=20))
    assert set(qemu_children()) <= before
