"""Private ovsdb-server + ovs-vswitchd daemons for tests and the netdev backend.

:class:`PrivateOvs` starts its own ``ovsdb-server`` and ``ovs-vswitchd
--enable-dummy --disable-system`` in a temporary run directory and in its own
network namespace, then creates a standalone userspace datapath
``netdev@ufidcert-<random>`` with dummy ports and no bridge (a bridge's
revalidator, ofproto/ofproto-dpif-upcall.c revalidate(), also handles flows
it did not install: measured on this project's CI machine with OVS 3.1.0, a
flow added with dpctl to a bridge's datapath was gone within a second). The
start-up recipe was measured on this project's CI machine.

Nothing of the system's Open vSwitch is touched: every path the daemons use
(``OVS_RUNDIR``, ``OVS_DBDIR``, ``OVS_LOGDIR``, ``OVS_SYSCONFDIR``) points into
the private directory. Teardown kills both daemons (by their process ids),
deletes the namespace (and with it every tap device the daemon made) and the
directory, also on exceptions, Ctrl-C and interpreter exit (``atexit``). The
daemons get ``PR_SET_PDEATHSIG`` so that they die with the Python process even
when it is killed; namespaces and directories left by a killed process are
swept by the next :class:`PrivateOvs` (their names carry the owner's pid).

Use::

    with PrivateOvs(ports=2) as ovs:
        ovs.appctl("dpctl/add-flow", ovs.dp, "in_port(1),eth_type(0x0800)...", "2")
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from conformance.backends._ovs_install import OvsInstall, resolve_install
from conformance.backends.unixctl import UnixctlClient, UnixctlError
from conformance.errors import BackendUnavailable

__all__ = ["PrivateOvs", "Started", "ovs_available", "sweep_stale"]

_PREFIX = "ufidcert-"  # netns and run-dir names: ufidcert-<owner pid>-<token>
_STALE = re.compile(rf"^{_PREFIX}(?:ovs-)?(\d+)-[0-9a-f]+")
_PORT_LINE = re.compile(r"^\s*port (\d+): (\S+)")
_PR_SET_PDEATHSIG = 1


def ovs_available(install: OvsInstall | None = None) -> str | None:
    """``None`` when private daemons can run here, else a one-line reason with how to fix it.

    ``install`` is the Open vSwitch to run (default: the host's).
    """
    if install is None:
        try:
            resolve_install(None)
        except BackendUnavailable as exc:
            return exc.reason
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is missing; install it with: apt-get install iproute2"
    if os.geteuid() != 0:
        return "private ovs-vswitchd needs root (it runs in its own network namespace, made with 'ip netns')"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing: the userspace datapath's internal port needs the tun driver"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete namespaces and run directories left by :class:`PrivateOvs` owners that no longer run.

    Only names this module makes (``ufidcert-<pid>-<hex>``) whose owner pid is
    dead are touched. Returns what was removed.
    """
    removed: list[str] = []
    try:
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=False)
        names = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        names = []
    for name in names:
        m = _STALE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)
            removed.append(f"netns {name}")
    tmp = Path(tempfile.gettempdir())
    for path in tmp.glob(f"{_PREFIX}ovs-*"):
        m = _STALE.match(path.name)
        if m and path.is_dir() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"dir {path}")
    return removed


def _load_prctl() -> Callable[..., int] | None:
    # Resolved once in the parent: dlopen() between fork and exec could deadlock
    # on a lock held by another thread at fork time.
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return None
    prctl: Callable[..., int] = ctypes.CDLL(libc_name, use_errno=True).prctl
    return prctl


_PRCTL = _load_prctl()


def _set_pdeathsig() -> None:
    # Runs in the child between fork and exec: the daemon gets SIGTERM when the
    # thread that started it dies, so a killed test run leaves no daemon behind.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Started(ABC):
    """Something ``with`` starts and always closes: daemons, and what is built on them."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PrivateOvs(Started):
    """Private ovsdb-server + ovs-vswitchd with one standalone ``netdev`` datapath.

    ``ports`` dummy ports named ``<port_prefix>1..N`` are added; :attr:`ports`
    holds their datapath port numbers (not OpenFlow numbers). :meth:`appctl`
    talks to ovs-vswitchd over one persistent unixctl connection. Use it as a
    context manager, or call :meth:`start` and :meth:`close` (idempotent).

    The daemons are started from the calling thread and die with it
    (``PR_SET_PDEATHSIG``): create ``PrivateOvs`` in a thread that outlives it.
    """

    def __init__(
        self,
        *,
        ports: int = 2,
        port_prefix: str = "p",
        timeout: float = 10.0,
        netns: bool = True,
        extra_vswitchd_args: Sequence[str] = (),
        install: OvsInstall | None = None,
    ) -> None:
        if ports < 0:
            raise ValueError(f"ports must be >= 0, got {ports}")
        self.n_ports = ports
        self.port_prefix = port_prefix
        self.timeout = timeout
        self.use_netns = netns
        self.extra_vswitchd_args = tuple(extra_vswitchd_args)
        self.install = install
        token = secrets.token_hex(3)  # 6 hex digits: "ufidcert-xxxxxx" is 15 chars, the tap name limit
        self.dp_name = f"ufidcert-{token}"
        self.dp = f"netdev@{self.dp_name}"
        self.netns = f"{_PREFIX}{os.getpid()}-{token}"
        self.rundir: Path | None = None
        self.ports: list[int] = []
        self.port_names: list[str] = []
        self.version = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._client: UnixctlClient | None = None
        self._netns_made = False
        self._started = False

    # -- paths -------------------------------------------------------------------

    def _path(self, *parts: str) -> Path:
        if self.rundir is None:
            raise RuntimeError("PrivateOvs is not started; call start() or use it as a context manager")
        return self.rundir.joinpath(*parts)

    @property
    def ctl_path(self) -> str:
        """The ovs-vswitchd unixctl socket (``ovs-appctl -t <ctl_path> ...`` works too)."""
        return str(self._path("run", "ovs-vswitchd.ctl"))

    @property
    def db_sock(self) -> str:
        return str(self._path("run", "db.sock"))

    @property
    def log_path(self) -> str:
        return str(self._path("log", "ovs-vswitchd.log"))

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the daemons still running, by program name."""
        return {name: p.pid for name, p in self._procs.items() if p.poll() is None}

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start both daemons and create the datapath; raises :class:`BackendUnavailable` on failure."""
        if self._started:
            return
        reason = ovs_available(self.install)
        if reason is not None:
            raise BackendUnavailable(reason)
        if self.install is None:
            self.install = resolve_install(None)
        self._started = True
        atexit.register(self.close)
        try:
            sweep_stale()
            self._start()
        except BaseException:
            self.close()
            raise

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var, sub in (("OVS_RUNDIR", "run"), ("OVS_DBDIR", "db"), ("OVS_LOGDIR", "log"), ("OVS_SYSCONFDIR", "etc")):
            env[var] = str(self._path(sub))
        return env

    @property
    def installed(self) -> OvsInstall:
        """The Open vSwitch installation the daemons run from (set by :meth:`start`)."""
        if self.install is None:
            raise RuntimeError("PrivateOvs is not started; call start() or use it as a context manager")
        return self.install

    def _argv(self, program: str) -> list[str]:
        return self.installed.argv(program)

    def _prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.use_netns else []

    def _start(self) -> None:
        self.rundir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}ovs-{os.getpid()}-{self.netns.rsplit('-', 1)[1]}-"))
        for sub in ("run", "db", "log", "etc"):
            self._path(sub).mkdir()
        env = self._env()
        if self.use_netns:
            self._run(["ip", "netns", "add", self.netns], env)
            self._netns_made = True
        db = str(self._path("db", "conf.db"))
        self._run([*self._argv("ovsdb-tool"), "create", db, str(self.installed.schema)], env)
        # No --detach: the daemons stay our children, so we know their pids,
        # reap them (no zombies) and can give them PR_SET_PDEATHSIG.
        self._spawn(
            "ovsdb-server",
            [
                *self._argv("ovsdb-server"),
                db,
                f"--remote=punix:{self.db_sock}",
                f"--unixctl={self._path('run', 'ovsdb-server.ctl')}",
                f"--log-file={self._path('log', 'ovsdb-server.log')}",
                "-vconsole:off",
                "--no-chdir",
            ],
            env,
        )
        self._wait_socket("ovsdb-server", self.db_sock)
        self._run([*self._argv("ovs-vsctl"), f"--db=unix:{self.db_sock}", "--no-wait", "init"], env)
        self._spawn(
            "ovs-vswitchd",
            [
                *self._argv("ovs-vswitchd"),
                f"unix:{self.db_sock}",
                "--enable-dummy",
                "--disable-system",
                f"--unixctl={self.ctl_path}",
                f"--log-file={self.log_path}",
                "-vconsole:off",
                "--no-chdir",
                *self.extra_vswitchd_args,
            ],
            env,
        )
        self._wait_socket("ovs-vswitchd", self.ctl_path)
        self._client = UnixctlClient(self.ctl_path, timeout=self.timeout)
        self._wait_commands(self._client, "dpctl/add-dp")
        self.version = self._client.call("version").strip()
        self.appctl("dpctl/add-dp", self.dp)
        self.port_names = [f"{self.port_prefix}{i}" for i in range(1, self.n_ports + 1)]
        if self.port_names:
            self.appctl("dpctl/add-if", self.dp, *(f"{name},type=dummy" for name in self.port_names))
        self.ports = self._port_numbers(self.port_names)

    def _port_numbers(self, names: list[str]) -> list[int]:
        by_name: dict[str, int] = {}
        for line in self.appctl("dpctl/show", self.dp).splitlines():
            m = _PORT_LINE.match(line)
            if m:
                by_name[m.group(2)] = int(m.group(1))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise BackendUnavailable(f"ports {missing} did not appear in dpctl/show of {self.dp}")
        return [by_name[n] for n in names]

    def _run(self, argv: list[str], env: dict[str, str], *, name: str = "", label: str = "") -> str:
        """``argv``'s output; :class:`BackendUnavailable` with its last line of output if it fails.

        ``name`` (default ``argv[0]``) and ``label`` (default its first three words) name it in the message.
        """
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(f"{name or argv[0]} failed: {exc}") from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BackendUnavailable(
                f"{label or ' '.join(argv[:3])} exited {done.returncode}: {detail[-1] if detail else 'no output'}"
            )
        return done.stdout

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self._path("log", f"{name}.stderr")
        with open(log, "wb") as err:
            # `ip netns exec` execs the command in place (no fork), so the pid is the daemon's.
            self._procs[name] = subprocess.Popen(
                [*self._prefix(), *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                preexec_fn=_set_pdeathsig,  # noqa: PLW1509 - needed so a killed test run leaves no daemon
                close_fds=True,
            )

    def _wait_socket(self, name: str, path: str) -> None:
        proc = self._procs[name]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BackendUnavailable(f"{name} exited with status {proc.returncode} at startup: {self._tail(name)}")
            if os.path.exists(path):
                try:
                    UnixctlClient(path, timeout=1.0).close()
                    return
                except UnixctlError:
                    pass
            time.sleep(0.01)
        raise BackendUnavailable(f"{name} did not open {path} within {self.timeout:g} s: {self._tail(name)}")

    def _wait_commands(self, client: UnixctlClient, command: str) -> None:
        # The control socket opens before ovs-vswitchd has registered every
        # command (dpctl/* arrive with the first run of its main loop):
        # a call made too early fails with '"dpctl/add-dp" is not a valid command'.
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if command in client.call("list-commands").split():
                return
            if self._procs["ovs-vswitchd"].poll() is not None:
                break
            time.sleep(0.01)
        raise BackendUnavailable(
            f"ovs-vswitchd did not register {command} within {self.timeout:g} s: {self._tail('ovs-vswitchd')}"
        )

    def _tail(self, name: str) -> str:
        lines: list[str] = []
        for log in (self._path("log", f"{name}.stderr"), self._path("log", f"{name}.log")):
            with contextlib.suppress(OSError):
                lines += [ln for ln in log.read_text(errors="replace").splitlines() if "|ERR|" in ln or "EMER" in ln]
        return lines[-1] if lines else "no error logged"

    def close(self) -> None:
        """Kill both daemons, delete the namespace and the run directory. Safe to call twice."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        for name in ("ovs-vswitchd", "ovsdb-server"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                self._stop(proc)
        if self._netns_made:
            for _ in range(50):
                done = subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
                if done.returncode == 0 or not Path("/run/netns", self.netns).exists():
                    break
                time.sleep(0.05)
            self._netns_made = False
        if self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = None
        self._started = False

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=5)

    # -- commands --------------------------------------------------------------------

    @property
    def client(self) -> UnixctlClient:
        """The persistent unixctl connection to ovs-vswitchd."""
        if self._client is None:
            raise RuntimeError("PrivateOvs is not started; call start() or use it as a context manager")
        return self._client

    def appctl(self, command: str, *args: object) -> str:
        """Run an ``ovs-appctl`` command in ovs-vswitchd; returns the reply, raises ``UnixctlError``."""
        return self.client.call(command, *args)

    def vsctl(self, *args: str) -> str:
        """Run ``ovs-vsctl`` against the private database; returns its stdout, raises :class:`BackendUnavailable`."""
        return self._tool("ovs-vsctl", f"--db=unix:{self.db_sock}", f"--timeout={max(int(self.timeout), 1)}", *args)

    def ofctl(self, *args: str) -> str:
        """Run ``ovs-ofctl`` (name a bridge as ``unix:<rundir>/run/<bridge>.mgmt``); returns its stdout."""
        return self._tool("ovs-ofctl", *args)

    def _tool(self, name: str, *args: str) -> str:
        return self._run([*self._argv(name), *args], self._env(), name=name, label=f"{name} {' '.join(args[:2])}")

    def __repr__(self) -> str:
        state = "running" if self._client is not None else "stopped"
        return f"PrivateOvs(dp={self.dp!r}, ports={self.ports}, {state})"
