"""The guest relay (conformance/backends/_nlio.py) on this host, over a raw pty instead of virtio-serial.

The relay is the only code that runs inside the QEMU guest; here it serves
calls in a thread while the test speaks its framing from the other end of
a pseudo-terminal, against this host's own generic netlink (the nlctrl
family exists on every Linux kernel, openvswitch or not).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
import tty
from collections.abc import Iterator

import pytest

from conformance.backends import _genl, _nlio
from conformance.backends.kernel import KernelDpif
from conformance.errors import BackendUnavailable
from reference.dpif import DpifNotFound

_CALL = struct.Struct("=IB")
_ANSWER = struct.Struct("=Ii")


class PtyRelay:
    """The host side of the relay protocol over a pty running :func:`_nlio.serve` in a thread."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(self.master)
        path = os.ttyname(slave)
        self.thread = threading.Thread(target=_nlio.serve, args=(path,), daemon=True)
        self.thread.start()
        self.slave = slave
        status, body = self._answer()
        assert status == 0 and body.startswith(b"ready uptime=")

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            buf += os.read(self.master, n - len(buf))
        return buf

    def _answer(self) -> tuple[int, bytes]:
        length, status = _ANSWER.unpack(self._read(_ANSWER.size))
        return status, self._read(length)

    def call(self, op: int, body: bytes) -> bytes:
        os.write(self.master, _CALL.pack(len(body), op) + body)
        status, out = self._answer()
        if status:
            raise OSError(status, out.decode(errors="replace"))
        return out

    # the Transport protocol, as conformance.backends._qemu.Vm implements it
    def open_socket(self) -> tuple[int, int]:
        chan, pid = struct.unpack("=II", self.call(_nlio.OP.OPEN, b""))
        return chan, pid

    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes:
        return self.call(_nlio.OP.TRANSACT, struct.pack("=III", chan, seq, int(timeout_s * 1000)) + data)

    def recv(self, chan: int, timeout_s: float, max_frames: int) -> list[bytes]:
        body = struct.pack("=III", chan, int(timeout_s * 1000), max_frames)
        return _nlio.unpack_frames(self.call(_nlio.OP.RECV, body))

    def close_socket(self, chan: int) -> None:
        self.call(_nlio.OP.CLOSE, struct.pack("=I", chan))

    def run(self, argv: list[str]) -> tuple[int, bytes]:
        out = self.call(_nlio.OP.EXEC, b"\0".join(a.encode() for a in argv))
        return struct.unpack_from("=i", out)[0], out[4:]

    def send_frame(self, ifname: str, frame: bytes) -> None:
        self.call(_nlio.OP.SEND_FRAME, ifname.encode() + b"\0" + frame)

    def link_up(self, name: str) -> None:
        self.call(_nlio.OP.LINK_UP, name.encode())

    def close(self) -> None:
        os.write(self.master, _CALL.pack(0, _nlio.OP.SHUTDOWN))
        assert self._answer() == (0, b"")
        self.thread.join(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def relay() -> Iterator[PtyRelay]:
    r = PtyRelay()
    yield r
    r.close()
    assert not r.thread.is_alive()


def test_relay_resolves_a_family_through_this_kernels_netlink(relay: PtyRelay) -> None:
    chan, pid = relay.open_socket()
    assert pid > 0
    answer = _genl.decode_answer(relay.transact(chan, 9, _genl.family_request("nlctrl", 9), 5.0), 9)
    assert _genl.parse_family_id(answer) == 0x10  # GENL_ID_CTRL, fixed by include/uapi/linux/genetlink.h
    with pytest.raises(DpifNotFound):
        n = 10
        _genl.decode_answer(relay.transact(chan, n, _genl.family_request("no_such_fam", n), 5.0), n)
    assert relay.recv(chan, 0.0, 8) == []
    relay.close_socket(chan)
    with pytest.raises(OSError) as info:
        relay.recv(chan, 0.0, 8)
    assert info.value.errno == errno.EBADF


def test_relay_runs_commands_and_reports_errors(relay: PtyRelay) -> None:
    assert relay.run(["sh", "-c", "echo hi; exit 3"]) == (3, b"hi\n")
    with pytest.raises(OSError) as info:
        relay.call(99, b"")
    assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError):
        relay.call(_nlio.OP.TRANSACT, b"\x01")  # a malformed body is an answer, not a dead relay
    assert relay.call(_nlio.OP.HELLO, b"still here") == b"still here"
    assert struct.unpack("=I", relay.call(_nlio.OP.IFINDEX, b"lo"))[0] == socket.if_nametoindex("lo")
    # (no success case here: it would change a device of this host; test_kernel_vm.py covers it)
    with pytest.raises(OSError) as info:
        relay.link_up("nosuchdev0")
    assert info.value.errno == errno.ENODEV


def test_a_kernel_without_openvswitch_is_reported_in_one_line(relay: PtyRelay) -> None:
    if os.path.isdir("/sys/module/openvswitch"):
        pytest.skip("this kernel has the openvswitch module")
    with pytest.raises(BackendUnavailable) as info:
        KernelDpif.create(relay, op_timeout_s=5.0)
    assert "openvswitch" in str(info.value) and "\n" not in str(info.value)
