"""UnixctlClient against a fake unixctl server (a thread on a unix socket).

The fake server parses requests with the stdlib's ``json.JSONDecoder`` (not
the client's framer) and writes replies exactly as the test scripts them:
split into tiny pieces, huge, erroneous, late, or not at all.
"""

from __future__ import annotations

import errno
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.backends.unixctl import UnixctlClient, UnixctlError, _Framer, errno_from_message
from conformance.errors import ConformanceError

Handler = Callable[[dict[str, Any], socket.socket], None]


class FakeServer:
    """Accepts connections; for every request calls ``handler(request, conn)``."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = str(path)
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.conns: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        decoder = json.JSONDecoder()
        buf = ""
        try:
            conn.settimeout(0.05)
        except OSError:
            return  # closed by close() before this thread ran
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data.decode()
            while buf.strip():
                try:
                    msg, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                self.requests.append(msg)
                try:
                    conn.settimeout(10)  # replies of several MB need more than the 50 ms poll interval
                    self.handler(msg, conn)
                    conn.settimeout(0.05)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self.conns:
            conn.close()
        for t in self._threads:
            t.join(timeout=2)


def reply(conn: socket.socket, req: dict[str, Any], *, result: Any = None, error: Any = None) -> None:
    conn.sendall(json.dumps({"id": req["id"], "result": result, "error": error}).encode())


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Handler], FakeServer]]:
    servers: list[FakeServer] = []

    def start(handler: Handler) -> FakeServer:
        server = FakeServer(tmp_path / f"fake{len(servers)}.ctl", handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def echo_handler(req: dict[str, Any], conn: socket.socket) -> None:
    reply(conn, req, result=f"{req['method']}|{'|'.join(req['params'])}")


def test_call_sends_method_and_string_params(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(echo_handler)
    with UnixctlClient(server.path, timeout=5) as ctl:
        assert ctl.call("dpctl/add-flow", "netdev@x", 2, "a b") == "dpctl/add-flow|netdev@x|2|a b"
        assert ctl.call("version") == "version|"
    assert [r["params"] for r in server.requests] == [["netdev@x", "2", "a b"], []]
    assert server.requests[0]["id"] != server.requests[1]["id"]
    assert server.connections == 1  # one connection, not one per command


def test_null_result_is_empty_string(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(lambda req, conn: reply(conn, req, result=None))
    with UnixctlClient(server.path, timeout=5) as ctl:
        assert ctl.call("dpctl/add-flow") == ""


def test_reply_split_into_single_bytes(serve: Callable[[Handler], FakeServer]) -> None:
    text = 'flow {"x": [1]} \\ "quoted" \u00e9\u4e2d\n' * 3

    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        data = json.dumps({"id": req["id"], "result": text, "error": None}).encode()
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            if i % 7 == 0:
                time.sleep(0.0005)

    server = serve(handler)
    with UnixctlClient(server.path, timeout=10) as ctl:
        assert ctl.call("x") == text


def test_large_reply(serve: Callable[[Handler], FakeServer]) -> None:
    line = "ufid:11111111-2222-3333-4444-555555555555, recirc_id(0),in_port(1),eth_type(0x0800), actions:2\n"
    text = line * 60_000  # about 6 MB, escaped newlines included

    server = serve(lambda req, conn: reply(conn, req, result=text))
    with UnixctlClient(server.path, timeout=30) as ctl:
        got = ctl.call("dpctl/dump-flows")
        assert got == text
        assert ctl.call("again") == text  # the stream stays in sync after a big reply


def test_error_reply_raises_with_errno(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(lambda req, conn: reply(conn, req, error="ovs-vswitchd: updating flow table (File exists)\n"))
    with UnixctlClient(server.path, timeout=5) as ctl, pytest.raises(UnixctlError) as info:
        ctl.call("dpctl/add-flow", "k", "2")
    err = info.value
    assert isinstance(err, OSError)
    assert isinstance(err, ConformanceError)
    assert err.errno == errno.EEXIST
    assert err.method == "dpctl/add-flow"
    assert err.reply == "ovs-vswitchd: updating flow table (File exists)\n"
    assert "File exists" in str(err)


def test_error_reply_without_strerror_has_no_errno(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(lambda req, conn: reply(conn, req, error='"dpctl/x" is not a valid command'))
    with UnixctlClient(server.path, timeout=5) as ctl, pytest.raises(UnixctlError) as info:
        ctl.call("dpctl/x")
    assert info.value.errno is None
    assert "not a valid command" in str(info.value)


def test_client_usable_after_error_reply(serve: Callable[[Handler], FakeServer]) -> None:
    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        if req["method"] == "bad":
            reply(conn, req, error="nope (No such file or directory)")
        else:
            reply(conn, req, result="ok")

    server = serve(handler)
    with UnixctlClient(server.path, timeout=5) as ctl:
        with pytest.raises(UnixctlError) as info:
            ctl.call("bad")
        assert info.value.errno == errno.ENOENT
        assert ctl.call("good") == "ok"
    assert server.connections == 1


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ovs-vswitchd: updating flow table (File exists)", errno.EEXIST),
        ("getting flow (No such file or directory)", errno.ENOENT),
        ("parsing flow key (syntax error at x) (Invalid argument)", errno.EINVAL),
        ("no parenthesised error here", None),
        ("(not an error text)", None),
    ],
)
def test_errno_from_message(message: str, expected: int | None) -> None:
    assert errno_from_message(message) == expected


def test_timeout_then_reconnect(serve: Callable[[Handler], FakeServer]) -> None:
    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        if req["method"] != "hang":
            reply(conn, req, result="ok")

    server = serve(handler)
    with UnixctlClient(server.path, timeout=0.3) as ctl:
        with pytest.raises(UnixctlError) as info:
            ctl.call("hang")
        assert info.value.errno == errno.ETIMEDOUT
        assert "no reply" in str(info.value)
        assert ctl.call("fine") == "ok"  # a fresh connection, so no late reply can be mistaken for this one
    assert server.connections == 2


def test_server_closes_mid_reply(serve: Callable[[Handler], FakeServer]) -> None:
    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        conn.sendall(b'{"id": %d, "result": "half' % req["id"])
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    server = serve(handler)
    with UnixctlClient(server.path, timeout=5) as ctl, pytest.raises(UnixctlError) as info:
        ctl.call("dpctl/dump-flows")
    assert info.value.errno == errno.ECONNRESET
    assert "closed the connection" in str(info.value)


def test_reconnects_once_when_idle_connection_was_closed(serve: Callable[[Handler], FakeServer]) -> None:
    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        reply(conn, req, result=req["method"])
        if req["method"] == "first":
            conn.shutdown(socket.SHUT_RDWR)  # the server drops us after replying

    server = serve(handler)
    with UnixctlClient(server.path, timeout=5) as ctl:
        assert ctl.call("first") == "first"
        time.sleep(0.05)
        assert ctl.call("second") == "second"
    assert [r["method"] for r in server.requests] == ["first", "second"]  # nothing resent twice
    assert server.connections == 2


def test_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(UnixctlError) as info:
        UnixctlClient(tmp_path / "absent.ctl")
    assert info.value.errno == errno.ENOENT
    assert "is the daemon running" in str(info.value)


def test_server_gone_after_connect(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(echo_handler)
    ctl = UnixctlClient(server.path, timeout=2)
    server.close()
    Path(server.path).unlink()
    with pytest.raises(UnixctlError) as info:
        ctl.call("x")
    assert info.value.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ECONNRESET)
    ctl.close()


def test_skips_stale_ids_and_answers_echo(serve: Callable[[Handler], FakeServer]) -> None:
    def handler(req: dict[str, Any], conn: socket.socket) -> None:
        if "method" not in req:
            return  # the client's answer to our echo request
        conn.sendall(json.dumps({"id": "srv1", "method": "echo", "params": ["ping"]}).encode())
        conn.sendall(json.dumps({"id": req["id"] + 1000, "result": "stale", "error": None}).encode())
        reply(conn, req, result="right")

    server = serve(handler)
    with UnixctlClient(server.path, timeout=5) as ctl:
        assert ctl.call("x") == "right"
    time.sleep(0.05)
    echoes = [r for r in server.requests if r.get("id") == "srv1"]
    assert echoes == [{"result": ["ping"], "error": None, "id": "srv1"}]


def test_garbage_is_a_protocol_error(serve: Callable[[Handler], FakeServer]) -> None:
    server = serve(lambda req, conn: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    with UnixctlClient(server.path, timeout=5) as ctl, pytest.raises(UnixctlError) as info:
        ctl.call("x")
    assert info.value.errno == errno.EPROTO


def test_rejects_bad_timeout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout"):
        UnixctlClient(tmp_path / "x", timeout=0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(
    objs=st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), min_size=1, max_size=5),
    seps=st.lists(st.sampled_from(["", " ", "\n", "\t\r\n "]), min_size=5, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    ensure_ascii=st.booleans(),
)
def test_framer_splits_any_stream(
    objs: list[dict[str, Any]], seps: list[str], cuts: list[int], ensure_ascii: bool
) -> None:
    """Concatenated objects, cut at arbitrary byte positions, come out whole and in order."""
    stream = b"".join(
        (json.dumps(o, ensure_ascii=ensure_ascii) + sep).encode() for o, sep in zip(objs, seps, strict=False)
    )
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    framer = _Framer()
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out += framer.feed(stream[a:b])
    assert [json.loads(m) for m in out] == objs
    assert not framer.pending
