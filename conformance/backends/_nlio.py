"""The kernel backend's only I/O: generic-netlink sockets, raw frames, a few commands (stdlib only).

:class:`LocalOps` runs where the openvswitch module is: in this process
(``where=host``) or, copied into the guest's initramfs and started with
``python3 -I -S _nlio.py PORT``, behind the virtio-serial relay of a QEMU
guest (``where=vm``). The relay is deliberately dumb (send bytes, collect
bytes until the netlink answer ends): encoding and decoding stay on the
host, where Python is ~25x faster than in a TCG guest (docs/kernel-backend.md).

Relay framing, both directions: ``u32 length, u8 op`` then the body;
answers are ``u32 length, i32 status`` (0 or a positive errno) then the body.
This file imports nothing outside the standard library on purpose.
"""

from __future__ import annotations

import errno as _errno
import os
import socket
import struct
import sys
import time

__all__ = ["OP", "LocalOps", "pack_frames", "serve", "unpack_frames"]

NETLINK_GENERIC = 16
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_HDR = struct.Struct("=IHHII")
_CALL = struct.Struct("=IB")
_ANSWER = struct.Struct("=Ii")
_U32 = struct.Struct("=I")


class OP:
    """Relay operation codes (a plain namespace: the guest runs this file without our enums)."""

    HELLO = 0
    OPEN = 1
    TRANSACT = 2
    RECV = 3
    EXEC = 4
    SEND_FRAME = 5
    IFINDEX = 6
    CLOSE = 7
    SHUTDOWN = 8
    LINK_UP = 9


def pack_frames(frames: list[bytes]) -> bytes:
    """``u32 length`` + bytes for each frame (how RECV answers carry several datagrams)."""
    return b"".join(_U32.pack(len(f)) + f for f in frames)


def unpack_frames(data: bytes) -> list[bytes]:
    """Inverse of :func:`pack_frames`; a truncated buffer raises ValueError."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("truncated frame length")
        (n,) = _U32.unpack_from(data, pos)
        if pos + 4 + n > len(data):
            raise ValueError("truncated frame")
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def _ends(data: bytes, seq: int) -> bool:
    """True if ``data`` holds the NLMSG_ERROR (ack or error) or NLMSG_DONE answering ``seq``."""
    pos = 0
    while pos + _HDR.size <= len(data):
        length, mtype, _flags, mseq, _pid = _HDR.unpack_from(data, pos)
        if length < _HDR.size:
            return True  # garbage: stop reading, the host-side parser reports it
        if mseq == seq and mtype in (_NLMSG_ERROR, _NLMSG_DONE):
            return True
        pos += (length + 3) & ~3
    return False


class LocalOps:
    """Generic-netlink sockets and frame I/O in the kernel that has the openvswitch module."""

    def __init__(self) -> None:
        self._socks: dict[int, socket.socket] = {}
        self._next = 1

    def open_socket(self) -> tuple[int, int]:
        """A new NETLINK_GENERIC socket; returns (channel, netlink port id)."""
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((0, 0))
        chan = self._next
        self._next += 1
        self._socks[chan] = s
        return chan, int(s.getsockname()[0])

    def _sock(self, chan: int) -> socket.socket:
        s = self._socks.get(chan)
        if s is None:
            raise OSError(_errno.EBADF, f"no netlink channel {chan}")
        return s

    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes:
        """Send request(s) ``data``; return every datagram up to the answer's ACK/error/DONE for ``seq``."""
        s = self._sock(chan)
        s.send(data)
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(_errno.ETIMEDOUT, "the kernel did not finish answering")
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 20)
            except TimeoutError:
                continue
            out.append(chunk)
            if _ends(chunk, seq):
                return b"".join(out)

    def recv(self, chan: int, timeout_s: float, max_frames: int) -> list[bytes]:
        """Up to ``max_frames`` datagrams: wait ``timeout_s`` for the first, then take what is queued."""
        s = self._sock(chan)
        out: list[bytes] = []
        s.settimeout(timeout_s if timeout_s > 0 else None)
        if timeout_s <= 0:
            s.setblocking(False)
        try:
            while len(out) < max_frames:
                out.append(s.recv(1 << 20))
                s.setblocking(False)
        except (TimeoutError, BlockingIOError):
            pass
        return out

    def close_socket(self, chan: int) -> None:
        s = self._socks.pop(chan, None)
        if s is not None:
            s.close()

    @staticmethod
    def run(argv: list[str]) -> tuple[int, bytes]:
        """Run a command (``ip link set``, ``sysctl``); returns (exit code, output)."""
        import subprocess

        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=60)
        return p.returncode, p.stdout

    @staticmethod
    def send_frame(ifname: str, frame: bytes) -> None:
        """Transmit ``frame`` on network device ``ifname`` (an internal port: the frame enters the datapath)."""
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as tx:
            tx.bind((ifname, 0))
            tx.send(frame)

    @staticmethod
    def link_up(name: str) -> None:
        """Disable IPv6 on ``name`` (no router solicitations as stray upcalls) and set it up.

        ioctl(SIOCGIFFLAGS/SIOCSIFFLAGS) rather than ``ip link``: no iproute2
        needed, and no fork in the slow guest.
        """
        import fcntl

        try:
            with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as fh:
                fh.write("1")
        except OSError:
            pass  # no IPv6 in this kernel: nothing to silence
        ifr = struct.Struct("=16sH")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            got = fcntl.ioctl(s, 0x8913, ifr.pack(name.encode(), 0))  # SIOCGIFFLAGS
            flags = ifr.unpack_from(got)[1]
            fcntl.ioctl(s, 0x8914, ifr.pack(name.encode(), flags | 0x1))  # SIOCSIFFLAGS, IFF_UP

    @staticmethod
    def ifindex(name: str) -> int:
        return socket.if_nametoindex(name)

    def close(self) -> None:
        for chan in list(self._socks):
            self.close_socket(chan)

    # -- the relay's dispatcher ---------------------------------------------

    def dispatch(self, op: int, body: bytes) -> bytes:
        """Run one relay call; raises OSError with the errno to report."""
        if op == OP.HELLO:
            return body
        if op == OP.OPEN:
            chan, pid = self.open_socket()
            return struct.pack("=II", chan, pid)
        if op == OP.TRANSACT:
            chan, seq, timeout_ms = struct.unpack_from("=III", body)
            return self.transact(chan, seq, body[12:], timeout_ms / 1000)
        if op == OP.RECV:
            chan, timeout_ms, max_frames = struct.unpack_from("=III", body)
            return pack_frames(self.recv(chan, timeout_ms / 1000, max_frames))
        if op == OP.EXEC:
            rc, output = self.run([a.decode() for a in body.split(b"\0")])
            return struct.pack("=i", rc) + output
        if op == OP.SEND_FRAME:
            name, _, frame = body.partition(b"\0")
            self.send_frame(name.decode(), frame)
            return b""
        if op == OP.LINK_UP:
            self.link_up(body.decode())
            return b""
        if op == OP.IFINDEX:
            return _U32.pack(self.ifindex(body.decode()))
        if op == OP.CLOSE:
            self.close_socket(_U32.unpack_from(body)[0])
            return b""
        raise OSError(_errno.EOPNOTSUPP, f"unknown relay op {op}")


def _read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("the host closed the relay channel")
        buf += chunk
    return buf


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def serve(port_path: str) -> int:
    """Guest side: answer relay calls on the virtio-serial port until the host says SHUTDOWN or hangs up."""
    fd = os.open(port_path, os.O_RDWR)
    ops = LocalOps()
    hello = b"ready"
    try:
        with open("/proc/uptime", "rb") as fh:
            hello += b" uptime=" + fh.read().split()[0]  # for the boot figures in docs/kernel-backend.md
    except OSError:
        pass
    _write_all(fd, _ANSWER.pack(len(hello), 0) + hello)  # the host waits for this before its first call
    try:
        while True:
            length, op = _CALL.unpack(_read_exact(fd, _CALL.size))
            body = _read_exact(fd, length)
            if op == OP.SHUTDOWN:
                _write_all(fd, _ANSWER.pack(0, 0))
                return 0
            try:
                out, status = ops.dispatch(op, body), 0
            except OSError as exc:
                out, status = str(exc).encode(), exc.errno or _errno.EIO
            except Exception as exc:  # a relay bug must reach the host as an answer, not a silent hang
                out, status = f"{type(exc).__name__}: {exc}".encode(), _errno.EPROTO
            _write_all(fd, _ANSWER.pack(len(out), status) + out)
    except EOFError:
        return 0
    finally:
        ops.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
