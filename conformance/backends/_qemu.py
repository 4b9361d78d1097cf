"""Boot a Linux kernel under QEMU (TCG) once per run and relay raw netlink messages to it.

Recipe (docs/kernel-backend.md): the kernel comes from :mod:`._kernels`
(a Debian release's package, extracted into a cache and never installed,
or a PATH); a tiny busybox initramfs with its boot modules mounts the
host's root read-only over 9p with a tmpfs overlay, and starts
:mod:`conformance.backends._nlio` on a virtio-serial port. The host then sends netlink requests as bytes and
gets the kernel's answers back; nothing else runs in the (slow) guest.

Every wait is bounded: a guest that does not boot or stops answering is
killed and reported as :class:`GuestUnresponsive` with the console's tail.
QEMU dies with this process (``PR_SET_PDEATHSIG``), and the guest powers off
when the host hangs up the relay.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno as _errno
import gzip
import hashlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from conformance.backends import _debian, _kernels, _nlio
from conformance.errors import BackendUnavailable, ConformanceError

__all__ = [
    "GuestUnresponsive",
    "Vm",
    "VmConfig",
    "VmState",
    "acquire",
    "cache_dir",
    "ensure_debian_kernel",
    "qemu_missing",
    "release",
    "unavailable_reason",
]

_log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
GUEST_PYTHON = "/usr/bin/python3"
_PORT_NAME = "ufidcert.relay"
_CALL = struct.Struct("=IB")
_ANSWER = struct.Struct("=Ii")


class GuestUnresponsive(ConformanceError):
    """The QEMU guest did not boot or stopped answering; QEMU has been killed."""


@dataclass(frozen=True, slots=True)
class VmConfig:
    """How to boot: ``kernel`` (``debian:RELEASE``, a bzImage path, None = this host's release), ``modules``, limits."""

    kernel: str | None = None
    modules: str | None = None
    boot_timeout_s: float = 180.0
    op_timeout_s: float = 60.0
    memory_mib: int = 1024
    cpus: int = 2


cache_dir = _debian.cache_dir


def qemu_missing() -> str | None:
    """A one-line reason when QEMU or the guest's tools are missing, else None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} not found (apt-get install qemu-system-x86)"
    if shutil.which("busybox") is None:
        return "busybox not found (apt-get install busybox-static)"
    if not os.path.exists(GUEST_PYTHON):
        return f"{GUEST_PYTHON} not found: the guest runs the relay with the host's system Python"
    return None


def unavailable_reason() -> str | None:
    """None when a VM with a Debian kernel (``debian:RELEASE``) can be booted here, else a one-line reason."""
    missing = qemu_missing()
    if missing:
        return missing
    for tool in ("apt-get", "apt-cache", "dpkg-deb", "depmod"):
        if shutil.which(tool) is None:
            return f"{tool} not found to fetch and extract a Debian linux-image-amd64 (apt-get install apt dpkg kmod)"
    return None


def ensure_debian_kernel(release: str | None = None) -> tuple[Path, Path, str]:
    """The kernel of ``release`` (None: this host's), extracted and cached; returns (vmlinuz, modules, version)."""
    boot = _kernels.resolve(None if release is None else f"debian:{release}", None)
    assert boot.modules is not None  # a Debian kernel always has its tree
    return boot.vmlinuz, boot.modules, boot.release


def _init_script(modules_dir: str | None) -> str:
    # Runs as PID 1 in the initramfs (busybox sh). Mounts the host root read-only
    # over 9p with a tmpfs overlay, then hands the relay port to _nlio.py.
    link = ""
    if modules_dir:
        kver = Path(modules_dir).name
        link = (
            f"mkdir -p /newroot/lib/modules; [ -e /newroot/lib/modules/{kver} ] || "
            f"ln -s {modules_dir} /newroot/lib/modules/{kver}\n"
            # kernel-initiated module autoloading runs the root filesystem's modprobe
            "printf '#!/bin/sh\\nexec chroot /newroot modprobe \"$@\"\\n' > /sbin-modprobe; chmod +x /sbin-modprobe\n"
            "echo /sbin-modprobe > /proc/sys/kernel/modprobe\n"
        )
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# /mods/NN-name.ko: the boot modules, decompressed, numbered in modules.dep load order.
for m in /mods/*.ko; do [ -f "$m" ] && {{ insmod "$m" || echo "UFIDCERT-GUEST: insmod $m failed"; }}; done
P9=trans=virtio,version=9p2000.L,msize=512000
fail() {{ echo "UFIDCERT-GUEST: $*"; poweroff -f; }}
mount -t 9p -o $P9,ro,cache=loose hostroot /lower || fail "9p root mount failed"
mount -t tmpfs tmpfs /up; mkdir /up/u /up/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/up/u,workdir=/up/w /newroot || fail "overlay failed"
for d in proc sys dev run tmp; do mkdir -p /newroot/$d; done
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
mount -t tmpfs tmpfs /newroot/run
{link}echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
PORT=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat $p/name 2>/dev/null)" = "{_PORT_NAME}" ] && PORT=/dev/$(basename $p)
done
[ -n "$PORT" ] || fail "no virtio-serial port {_PORT_NAME}"
cp /nlio.py /newroot/run/nlio.py
echo "UFIDCERT-GUEST: relay starting at uptime $(cut -d' ' -f1 /proc/uptime)"
chroot /newroot /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root {GUEST_PYTHON} -I -S /run/nlio.py $PORT
echo "UFIDCERT-GUEST: relay exited rc=$?"
poweroff -f
"""


def _initramfs(modules_dir: str | None, into: Path | None = None) -> Path:
    """The busybox initramfs for ``modules_dir``, cached in ``into`` (a kernel's cache entry) by content.

    The key covers every byte that goes in (init script, relay, busybox,
    each decompressed boot module), so a changed module tree never boots
    an older image; the image is written under a temporary name and renamed.
    """
    init = _init_script(modules_dir)
    relay = Path(_nlio.__file__).read_bytes()
    busybox = shutil.which("busybox")
    if busybox is None:
        raise BackendUnavailable("busybox not found (apt-get install busybox-static)")
    busybox_bytes = Path(busybox).read_bytes()
    mods = _kernels.boot_modules(Path(modules_dir) if modules_dir else None)
    h = hashlib.sha256()
    for part in (init.encode(), relay, busybox_bytes, *(f"{n}\0".encode() + b for n, b in mods)):
        h.update(hashlib.sha256(part).digest())
    where = into if into is not None else cache_dir() / "initramfs"
    out = where / f"initramfs-{h.hexdigest()[:16]}.cpio.gz"
    if out.is_file():
        return out
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ufidcert-initramfs-") as tmp:
            t = Path(tmp)
            for d in ("bin", "proc", "sys", "dev", "lower", "up", "newroot", "mods"):
                (t / d).mkdir()
            (t / "bin" / "busybox").write_bytes(busybox_bytes)
            (t / "bin" / "busybox").chmod(0o755)
            for i, (name, data) in enumerate(mods):
                (t / "mods" / f"{i:02d}-{name}.ko").write_bytes(data)
            (t / "init").write_text(init)
            (t / "init").chmod(0o755)
            (t / "nlio.py").write_bytes(relay)
            files = subprocess.run(["find", "."], cwd=t, capture_output=True, check=True).stdout
            cpio = subprocess.run(
                [busybox, "cpio", "-o", "-H", "newc"], cwd=t, input=files, capture_output=True, check=True
            ).stdout
        _kernels.write_atomically(out, gzip.compress(cpio, compresslevel=1))
    except subprocess.CalledProcessError as exc:
        raise BackendUnavailable(f"building the initramfs: {exc.cmd[0]} failed: {exc.stderr!r:.120}") from None
    except OSError as exc:
        if isinstance(exc, BackendUnavailable):
            raise
        if exc.errno == _errno.ENOSPC:
            raise BackendUnavailable(
                f"building the initramfs: no space left on device under {where}", errno=_errno.ENOSPC
            ) from None
        raise BackendUnavailable(f"building the initramfs in {where}: {exc}", errno=exc.errno or _errno.EIO) from None
    for stale in where.glob("initramfs-*.cpio.gz"):
        if stale != out and stale.stat().st_mtime < time.time() - 86400:
            stale.unlink(missing_ok=True)  # older relays' images; a day's grace for runs still using one
    return out


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: QEMU gets SIGKILL when this process dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class VmState(Enum):
    """Where a guest is in its life; :data:`_VM_TRANSITIONS` lists the legal moves."""

    BOOTING = "booting"
    READY = "ready"
    STOPPED = "stopped"


# BOOTING -> READY when the relay says hello; any state -> STOPPED (shutdown is idempotent).
_VM_TRANSITIONS: dict[VmState, frozenset[VmState]] = {
    VmState.BOOTING: frozenset({VmState.READY, VmState.STOPPED}),
    VmState.READY: frozenset({VmState.STOPPED}),
    VmState.STOPPED: frozenset({VmState.STOPPED}),
}


class Vm:
    """One running guest with the relay: a :class:`~conformance.backends.kernel.Transport`.

    Use :func:`acquire` / :func:`release` (one guest per process, booted on
    first use), not this class directly.
    """

    def __init__(self, config: VmConfig) -> None:
        self.config = config
        # What boots, and where it came from (kernel.py reports it as the run's provenance).
        self.boot = _kernels.resolve(config.kernel, config.modules)
        initrd = _initramfs(str(self.boot.modules) if self.boot.modules else None, self.boot.entry)
        self._dir = Path(tempfile.mkdtemp(prefix="ufidcert-vm-"))
        self.console = self._dir / "console.log"
        sock_path = self._dir / "relay.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(sock_path))
        listener.listen(1)
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self.state = VmState.BOOTING
        t0 = time.monotonic()
        argv = [
            QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-m", str(config.memory_mib), "-smp", str(config.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", f"file:{self.console}",
            "-kernel", str(self.boot.vmlinuz), "-initrd", str(initrd),
            "-append", "console=ttyS0 quiet loglevel=3 panic=-1",
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=relay,path={sock_path}",
            "-device", f"virtserialport,chardev=relay,name={_PORT_NAME}",
        ]  # fmt: skip
        try:
            with open(self._dir / "qemu.err", "wb") as err:  # the child keeps its own copy of the fd
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed so QEMU never outlives us
                )
        except OSError as exc:
            listener.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise BackendUnavailable(f"cannot start {QEMU}: {exc}") from None
        try:
            listener.settimeout(0.5)
            deadline = time.monotonic() + 30
            try:
                while self._conn is None:
                    if self._proc.poll() is not None:
                        self._fail(self._exit_reason())
                    if time.monotonic() > deadline:
                        self._fail("QEMU did not connect the relay port within 30 s")
                    with contextlib.suppress(socket.timeout):
                        self._conn, _ = listener.accept()
            finally:
                listener.close()
            status, body = self._read_answer(config.boot_timeout_s, booting=True)
            if status or not body.startswith(b"ready"):
                self._fail(f"unexpected hello from the guest relay: {status} {body[:40]!r}")
            self.boot_s = time.monotonic() - t0
            self._move(VmState.READY)
            # "ready uptime=S": how long the guest itself took (the rest is QEMU start and TCG load).
            self.guest_uptime_s = float(body.split(b"uptime=")[1]) if b"uptime=" in body else 0.0
            rc, out = self.run(["uname", "-r"])
            self.kernel_release = out.decode().strip() if rc == 0 else "unknown"
        except BaseException:
            self.shutdown()
            raise

    def _move(self, new: VmState) -> None:
        if new not in _VM_TRANSITIONS[self.state]:
            raise ConformanceError(f"kernel VM: illegal state change {self.state.value} -> {new.value}")
        self.state = new

    # -- relay --------------------------------------------------------------

    def _console_tail(self) -> str:
        try:
            lines = self.console.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])

    def _exit_reason(self) -> str:
        """'QEMU exited with status N: <last stderr line>' once QEMU has exited, else ''."""
        if self._proc.poll() is None:
            return ""
        try:
            err = (self._dir / "qemu.err").read_text(errors="replace").strip().splitlines()[-1:]
        except OSError:
            err = []
        return f"QEMU exited with status {self._proc.returncode}" + (f": {err[0]}" if err else "")

    def _fail(self, what: str) -> None:
        tail = self._console_tail()
        self.shutdown(graceful=False)
        raise GuestUnresponsive(f"kernel VM: {what}; QEMU killed" + (f"; console: {tail}" if tail else ""))

    def _read_exact(self, n: int, deadline: float, booting: bool) -> bytes:
        buf = b""
        assert self._conn is not None
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail("the guest did not boot in time" if booting else "the guest stopped answering")
            if self._proc.poll() is not None:
                self._fail(self._exit_reason())
            self._conn.settimeout(min(left, 1.0))
            try:
                chunk = self._conn.recv(n - len(buf))
            except TimeoutError:
                continue
            except OSError as exc:
                self._fail(f"relay connection failed: {exc}")
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(2)  # QEMU closing the relay usually means QEMU is exiting: say why
                self._fail(self._exit_reason() or "the guest closed the relay")
            buf += chunk
        return buf

    def _read_answer(self, timeout_s: float, *, booting: bool = False) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout_s
        length, status = _ANSWER.unpack(self._read_exact(_ANSWER.size, deadline, booting))
        return status, self._read_exact(length, deadline, booting)

    def call(self, op: int, body: bytes, timeout_s: float | None = None) -> bytes:
        """One relay call; an errno answer raises OSError, silence raises :class:`GuestUnresponsive`."""
        with self._lock:
            if self.state is not VmState.READY or self._conn is None:
                raise GuestUnresponsive(f"kernel VM: the guest is {self.state.value}, not ready")
            try:
                self._conn.sendall(_CALL.pack(len(body), op) + body)
                status, out = self._read_answer(timeout_s or self.config.op_timeout_s)
            except GuestUnresponsive:
                raise
            except OSError as exc:
                self._fail(f"relay failed: {exc}")
                raise  # not reached: _fail raises
            except BaseException:
                # Interrupted mid-call (e.g. the suite's per-operation timeout): the
                # stream is out of step with the guest, so this guest cannot be trusted.
                self.shutdown(graceful=False)
                raise
        if status:
            raise OSError(status, out.decode(errors="replace") or os.strerror(status))
        return out

    # -- Transport ------------------------------------------------------------

    def open_socket(self) -> tuple[int, int]:
        chan, pid = struct.unpack("=II", self.call(_nlio.OP.OPEN, b""))
        return chan, pid

    def transact(self, chan: int, seq: int, data: bytes, timeout_s: float) -> bytes:
        body = struct.pack("=III", chan, seq, int(timeout_s * 1000)) + data
        return self.call(_nlio.OP.TRANSACT, body, timeout_s + 10)

    def recv(self, chan: int, timeout_s: float, max_frames: int) -> list[bytes]:
        body = struct.pack("=III", chan, int(timeout_s * 1000), max_frames)
        return _nlio.unpack_frames(self.call(_nlio.OP.RECV, body, timeout_s + 10))

    def close_socket(self, chan: int) -> None:
        self.call(_nlio.OP.CLOSE, struct.pack("=I", chan))

    def run(self, argv: list[str]) -> tuple[int, bytes]:
        out = self.call(_nlio.OP.EXEC, b"\0".join(a.encode() for a in argv), 90)
        return struct.unpack_from("=i", out)[0], out[4:]

    def link_up(self, name: str) -> None:
        self.call(_nlio.OP.LINK_UP, name.encode())

    def send_frame(self, ifname: str, frame: bytes) -> None:
        self.call(_nlio.OP.SEND_FRAME, ifname.encode() + b"\0" + frame)

    def close(self) -> None:
        """Transport close: the guest stays up for other users; :func:`release` stops it."""

    def shutdown(self, *, graceful: bool = True) -> None:
        """Power the guest off (relay SHUTDOWN, then SIGKILL after 10 s); remove the temp dir."""
        self._move(VmState.STOPPED)
        conn, self._conn = self._conn, None
        proc = getattr(self, "_proc", None)
        if conn is not None:
            if graceful:
                with contextlib.suppress(OSError):
                    conn.settimeout(5)
                    conn.sendall(_CALL.pack(0, _nlio.OP.SHUTDOWN))
            conn.close()  # the guest relay sees EOF and powers off
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(10 if graceful else 0.1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self._dir, ignore_errors=True)


class _Shared:
    """The process's one guest and how many backends use it."""

    vm: Vm | None = None
    refs = 0
    lock = threading.Lock()


def _boot(config: VmConfig) -> Vm:
    """A booted guest. A kernel panic before the relay answers gets one more boot.

    Under TCG a stock kernel occasionally panics while booting ("Fatal exception
    in interrupt", seen once with Debian's 6.12 on a loaded 2-core host) before
    the datapath has done anything; a second boot of the same image tells such
    an emulation accident from a kernel that cannot boot (it panics twice, and
    that is reported).
    """
    try:
        return Vm(config)
    except GuestUnresponsive as exc:
        if "Kernel panic" not in str(exc):
            raise
        _log.warning("kernel VM: the guest panicked while booting; booting it once more: %s", exc)
        return Vm(config)


def acquire(config: VmConfig) -> Vm:
    """The process's guest, booted on first use (later configs must match the first)."""
    with _Shared.lock:
        vm = _Shared.vm
        if vm is not None and (vm.state is not VmState.READY or vm._proc.poll() is not None):
            vm.shutdown(graceful=False)
            _Shared.vm, _Shared.refs = None, 0
        if _Shared.vm is None:
            _Shared.vm = _boot(config)
        elif _Shared.vm.config != config:
            raise BackendUnavailable("a kernel VM with other options is already running in this process")
        _Shared.refs += 1
        return _Shared.vm


def release(vm: Vm) -> None:
    """Drop one user of ``vm``; the last one powers it off."""
    with _Shared.lock:
        if vm is not _Shared.vm:
            vm.shutdown()
            return
        _Shared.refs -= 1
        if _Shared.refs <= 0:
            _Shared.vm, _Shared.refs = None, 0
            vm.shutdown()


@atexit.register
def _shutdown_at_exit() -> None:
    vm, _Shared.vm = _Shared.vm, None
    if vm is not None:
        vm.shutdown()
