"""The dpif driver as a child process: the I/O edge of :mod:`conformance.backends.dpif_driver`.

One request at a time over the child's stdin/stdout, each bounded by a
timeout. A driver that exits (a crash, an abort on one of OVS's assertions)
or does not answer in time is killed and reaped at once, and the request
raises :class:`~conformance.errors.BackendUnavailable` with the exit
status and the end of the driver's stderr (where OVS logs); every later
request fails the same way without touching the process. A finaliser
reaps the child even if :meth:`DriverProcess.close` is never called, and
the driver itself exits when its stdin closes.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

from conformance.backends.dpif_driver import (
    DriverConnection,
    DriverProtocolError,
    Ready,
    Reply,
    Request,
    State,
    request,
)
from conformance.errors import BackendUnavailable

__all__ = ["DriverProcess"]

T = TypeVar("T")
_STDERR_TAIL = 4000
_READ_CHUNK = 1 << 16


def _reap(proc: subprocess.Popen[bytes], sockdir: str) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    shutil.rmtree(sockdir, ignore_errors=True)


def _status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit status {code}"


class DriverProcess:
    """A running driver: :meth:`call` sends one request and returns its reply."""

    def __init__(self, argv: Sequence[str], *, timeout: float) -> None:
        self.timeout = timeout
        self.dead: str | None = None
        self._sockdir = tempfile.mkdtemp(
            prefix="ufidcert-ovs-dpif-"
        )  # .ci/matrix.py looks for leftovers by this prefix
        # A file, not a pipe: OVS may log more than a pipe holds while nobody reads it.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            self.proc = subprocess.Popen(
                [*argv, "--sockdir", self._sockdir],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,  # a terminal's ^C reaches us, and we stop the driver
            )
        except OSError as exc:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._stderr.close()
            raise BackendUnavailable(f"cannot start the dpif driver {argv[0]}: {exc}", errno=exc.errno or 0) from None
        self._finalizer = weakref.finalize(self, _reap, self.proc, self._sockdir)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self.conn = DriverConnection()
        self.ready: Ready = self._wait(self.conn.next_ready, "start-up")
        self.pid = self.proc.pid

    def stderr_tail(self) -> str:
        """The end of what the driver wrote to stderr so far."""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            return self._stderr.read().decode(errors="replace").strip()
        return ""

    def _fail(self, why: str) -> BackendUnavailable:
        """Kill and reap the driver; the error names why, its exit status and its stderr."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        tail = self.stderr_tail()
        self.dead = f"dpif driver (pid {self.proc.pid}) {why} ({_status(self.proc.returncode)})"
        if tail:
            # The last line first (an OVS assertion's message), where one-line reports show it.
            self.dead += f"; stderr: {tail.splitlines()[-1]}\nits stderr ends:\n{tail}"
        with contextlib.suppress(DriverProtocolError):
            self.conn.close()
        self._finalizer()  # the socket directory goes now: nobody may ever call close()
        return BackendUnavailable(self.dead, errno=_errno.ENODEV)

    def _wait(self, next_item: Callable[[], T | None], what: str) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                item = next_item()
            except DriverProtocolError as exc:
                if self.conn.state is State.IDLE:
                    raise  # a complete reply refusing our request: the driver is fine
                raise self._fail(f"broke the protocol during {what}: {exc}") from None
            if item is not None:
                return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"did not answer {what} within {self.timeout:g} s and was killed")
            readable, _, _ = select.select([self._out], [], [], left)
            if not readable:
                continue
            try:
                data = os.read(self._out, _READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise self._fail(f"could not be read during {what}: {exc}") from None
            if not data:
                raise self._fail(f"exited during {what}")
            try:
                self.conn.receive_data(data)
            except DriverProtocolError as exc:
                raise self._fail(f"broke the protocol during {what}: {exc}") from None

    def _write(self, data: bytes, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"did not read {what} within {self.timeout:g} s and was killed")
            _, writable, _ = select.select([], [self._in], [], left)
            if not writable:
                continue
            try:
                n = os.write(self._in, view)
            except BlockingIOError:
                continue
            except OSError as exc:  # EPIPE: it is gone
                raise self._fail(f"stopped reading during {what} ({exc.strerror})") from None
            view = view[n:]

    def call(self, req: Request) -> Reply:
        """Send ``req`` and return its reply; BackendUnavailable if the driver dies or hangs."""
        if self.dead is not None:
            raise BackendUnavailable(self.dead, errno=_errno.ENODEV)
        if self.conn.state is not State.IDLE:
            # An earlier call was interrupted mid-request: its reply would be taken for this one's.
            raise self._fail(f"was left {self.conn.state.value} by an interrupted request")
        what = f"the {req.op!r} request"
        self._write(self.conn.send(req), what)
        return self._wait(self.conn.next_reply, what)

    def close(self) -> None:
        """Ask the driver to quit (it closes the datapath cleanly), kill it if it does not; idempotent."""
        if self.dead is None and self.proc.poll() is None and self.conn.state is State.IDLE:
            with contextlib.suppress(BackendUnavailable):
                self.call(request("quit"))
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=self.timeout)
        if self.dead is None:
            self.dead = "the dpif driver was closed"
        self._finalizer()  # kills it if still running, removes the socket directory
        with contextlib.suppress(OSError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        self._stderr.close()
