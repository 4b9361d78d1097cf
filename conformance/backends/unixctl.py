"""A stdlib-only client for Open vSwitch's unixctl JSON-RPC control socket.

``ovs-appctl -t CTL cmd args...`` forks a process per command (about 200
commands/s); the PyPI ``ovs`` package's pure-Python JSON parser is
super-linear in the reply size (minutes for a 4 MB ``dpctl/dump-flows``).
This client keeps one connection open, frames replies with a linear scan
and decodes them with the C ``json`` module.

Protocol (lib/unixctl.c, lib/jsonrpc.c): the client sends
``{"method": m, "params": [str, ...], "id": n}``; the server answers
``{"id": n, "result": str, "error": null}`` or ``{"id": n, "result": null,
"error": str}``. Messages are concatenated JSON objects with no delimiter.

Use::

    with UnixctlClient("/path/ovs-vswitchd.ctl") as ctl:
        print(ctl.call("dpctl/dump-flows", "-m"))
"""

from __future__ import annotations

import errno as _errno
import json
import os
import re
import select
import socket
import threading
import time
from types import TracebackType

from conformance.errors import ConformanceError

__all__ = ["UnixctlClient", "UnixctlError", "errno_from_message"]

_RECV_SIZE = 1 << 18
# Outside a JSON string only brackets and quotes matter; re.search skips
# everything else at C speed.
_OUTSIDE = re.compile(rb'[{}\[\]"]')
_WHITESPACE = b" \t\r\n"

# OVS formats errors as "<program>: <what> (<strerror(errno)>)" (ovs_strerror in
# lib/util.c, dpctl_error in lib/dpctl.c); map the text back to the number.
_STRERROR_TO_ERRNO = {os.strerror(code): code for code in sorted(_errno.errorcode, reverse=True)}
_PAREN = re.compile(r"\(([^()]+)\)")


def errno_from_message(message: str) -> int | None:
    """The errno whose ``strerror`` text appears in parentheses in ``message``, if any (the last one wins)."""
    found: int | None = None
    for match in _PAREN.finditer(message):
        code = _STRERROR_TO_ERRNO.get(match.group(1))
        if code is not None:
            found = code
    return found


class UnixctlError(ConformanceError, OSError):
    """A unixctl call failed: an error reply, a timeout, or a broken or missing socket.

    ``errno`` is the error number when known (from the socket error, or parsed
    from the daemon's ``(strerror)`` text), else ``None``. ``reply`` is the
    daemon's error text for error replies, ``method`` the command called.
    """

    def __init__(self, message: str, *, errno: int | None = None, method: str = "", reply: str | None = None) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        self.message = message
        self.method = method
        self.reply = reply

    def __str__(self) -> str:
        return self.message


class _Framer:
    """Splits a byte stream of concatenated JSON objects into whole messages.

    Tracks bracket depth and string/escape state across chunks, so each byte is
    scanned once however the reply is split (linear for multi-MB replies).
    """

    __slots__ = ("_buf", "_depth", "_in_string", "_scan", "_start")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._start = -1
        self._depth = 0
        self._in_string = False

    @property
    def pending(self) -> bool:
        """True while part of a message has been received."""
        return self._start >= 0 or bool(self._buf.strip(_WHITESPACE))

    def feed(self, chunk: bytes) -> list[bytes]:
        """Append ``chunk``; return the messages it completed (may be empty)."""
        self._buf += chunk
        out: list[bytes] = []
        buf = self._buf
        pos = self._scan
        end = len(buf)
        while pos < end:
            if self._start < 0:
                # Between messages: skip whitespace, then a message must start with '{'.
                while pos < end and buf[pos] in _WHITESPACE:
                    pos += 1
                if pos == end:
                    break
                if buf[pos] != ord("{"):
                    snippet = bytes(buf[pos : pos + 40])
                    raise UnixctlError(
                        f"unixctl protocol error: expected a JSON object, got {snippet!r}", errno=_errno.EPROTO
                    )
                self._start = pos
                self._depth = 1
                pos += 1
                continue
            if self._in_string:
                # Only an unescaped quote ends a string: find the next quote and count
                # the backslashes before it (odd = escaped). Dumps hold thousands of
                # escaped newlines but few quotes, so this skips them at C speed.
                quote = buf.find(b'"', pos)
                if quote < 0:
                    pos = end
                    break
                back = quote - 1
                while buf[back] == 0x5C:  # the string's opening quote stops this loop
                    back -= 1
                pos = quote + 1
                if (quote - 1 - back) % 2:
                    continue
                self._in_string = False
                continue
            m = _OUTSIDE.search(buf, pos)
            if m is None:
                pos = end
                break
            tok = m.group()
            pos = m.end()
            if tok == b'"':
                self._in_string = True
            elif tok in (b"{", b"["):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    out.append(bytes(buf[self._start : pos]))
                    self._start = -1
        # Drop consumed bytes so the buffer only holds the unfinished message.
        cut = self._start if self._start >= 0 else pos
        if cut:
            del buf[:cut]
            pos -= cut
            self._start = min(0, self._start)
        self._scan = pos
        return out


class UnixctlClient:
    """One persistent connection to a unixctl socket (``ovs-vswitchd.ctl``, ``ovsdb-server.ctl``).

    :meth:`call` sends one command and returns the reply text. Error replies,
    timeouts and broken connections raise :class:`UnixctlError`. A connection
    found broken *before* a request is sent (daemon restarted, idle socket
    closed) is re-established once; a request whose reply was lost is never
    resent, because commands such as ``dpctl/add-flow`` are not idempotent.
    Thread-safe: calls are serialised.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.path = os.fspath(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._framer = _Framer()
        self._next_id = 0
        self._lock = threading.Lock()
        self._connect()

    # -- connection management -------------------------------------------------

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            hint = ""
            if exc.errno in (_errno.ENOENT, _errno.ECONNREFUSED):
                hint = " (is the daemon running? check its --unixctl path)"
            raise UnixctlError(
                f"cannot connect to unixctl socket {self.path}: {exc.strerror or exc}{hint}", errno=exc.errno
            ) from exc
        self._sock = sock
        self._framer = _Framer()

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._framer = _Framer()

    def _stale(self) -> bool:
        """True when the peer has closed or reset our idle connection."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        """Close the connection; a later :meth:`call` reconnects."""
        with self._lock:
            self._drop()

    def __enter__(self) -> UnixctlClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    # -- calls -------------------------------------------------------------------

    def call(self, method: str, *params: object) -> str:
        """Run ``method`` with ``params`` (converted with ``str``) and return the reply text.

        Raises :class:`UnixctlError` with the daemon's message (and its errno
        when the text names one) for an error reply.
        """
        with self._lock:
            return self._call(method, [str(p) for p in params])

    def _call(self, method: str, params: list[str]) -> str:
        deadline = time.monotonic() + self.timeout
        if self._sock is None or self._stale():
            self._drop()
            self._connect()
        self._next_id += 1
        req_id = self._next_id
        request = json.dumps({"method": method, "params": params, "id": req_id}).encode()
        try:
            self._send(request, deadline, method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # Nothing was delivered to a live server: reconnect once and resend.
            self._drop()
            self._connect()
            try:
                self._send(request, deadline, method)
            except OSError as exc:
                self._drop()
                raise self._io_error(method, exc) from exc
        except OSError as exc:
            self._drop()
            raise self._io_error(method, exc) from exc
        return self._receive(method, req_id, deadline)

    def _send(self, request: bytes, deadline: float, method: str) -> None:
        assert self._sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(remaining)
        self._sock.sendall(request)

    def _io_error(self, method: str, exc: OSError) -> UnixctlError:
        if isinstance(exc, TimeoutError):
            return UnixctlError(
                f"unixctl {method!r}: no reply from {self.path} within {self.timeout:g} s",
                errno=_errno.ETIMEDOUT,
                method=method,
            )
        return UnixctlError(f"unixctl {method!r} on {self.path}: {exc.strerror or exc}", errno=exc.errno, method=method)

    def _receive(self, method: str, req_id: int, deadline: float) -> str:
        assert self._sock is not None
        sock = self._sock
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._drop()  # a late reply would desynchronise the stream
                raise self._io_error(method, TimeoutError("timed out"))
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(_RECV_SIZE)
            except OSError as exc:
                self._drop()
                raise self._io_error(method, exc) from exc
            if not chunk:
                self._drop()
                raise UnixctlError(
                    f"unixctl {method!r}: {self.path} closed the connection before replying"
                    " (did the daemon exit or crash?)",
                    errno=_errno.ECONNRESET,
                    method=method,
                )
            try:
                messages = self._framer.feed(chunk)
            except UnixctlError:
                self._drop()
                raise
            for raw in messages:
                result = self._handle(method, req_id, raw)
                if result is not None:
                    return result

    def _handle(self, method: str, req_id: int, raw: bytes) -> str | None:
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self._drop()
            raise UnixctlError(f"unixctl {method!r}: malformed JSON reply: {exc}", errno=_errno.EPROTO) from exc
        if not isinstance(msg, dict):
            self._drop()
            raise UnixctlError(f"unixctl {method!r}: reply is not a JSON object", errno=_errno.EPROTO)
        if "method" in msg:
            # A request from the server (jsonrpc "echo" keep-alive): answer it, keep waiting.
            if msg.get("method") == "echo" and self._sock is not None:
                reply = json.dumps({"result": msg.get("params", []), "error": None, "id": msg.get("id")})
                self._sock.sendall(reply.encode())
            return None
        if msg.get("id") != req_id:
            return None  # a stale reply to an earlier request
        error = msg.get("error")
        if error is not None:
            text = error if isinstance(error, str) else json.dumps(error)
            raise UnixctlError(
                f"unixctl {method!r} failed: {text.rstrip()}",
                errno=errno_from_message(text),
                method=method,
                reply=text,
            )
        result = msg.get("result")
        if result is None:
            return ""
        if not isinstance(result, str):
            return json.dumps(result)
        return result
