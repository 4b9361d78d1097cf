"""The dpif driver's line protocol without a driver: requests, replies, the state machine, bad lines."""

from __future__ import annotations

import errno
import itertools
import json
import struct
import sys
from typing import Any

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import strategies as cs
from conformance.backends.dpif_driver import (
    MAX_OPS,
    DriverConnection,
    DriverProtocolError,
    Reply,
    State,
    decode_flows,
    decode_hash,
    decode_port,
    decode_results,
    decode_upcalls,
    request,
    request_operate,
)
from conformance.suite._flows import eth_key, output, ufid_n
from reference.dpif import (
    DelOp,
    DpifError,
    DpifExists,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    DpifOp,
    ExecuteOp,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
)
from reference.ufid import Ufid

_READY = b'{"ready":true,"version":"3.5.0","dp":"dummy@ufidcert","pid":42,"error":0}\n'
_STATS = {"n_packets": 3, "n_bytes": 180, "used": 77, "tcp_flags": 0x12}


def _connected() -> DriverConnection:
    conn = DriverConnection()
    conn.receive_data(_READY)
    assert conn.next_ready() is not None
    return conn


def _reply(op: str, body: dict[str, Any]) -> Reply:
    return Reply(op, body, int(body.get("error", 0)), 1)


def _flow(ufid: Ufid, *, terse: bool = False) -> dict[str, Any]:
    return {
        "key": None if terse else eth_key(1, 1).hex(),
        "mask": None if terse else "",
        "actions": None if terse else output(2).hex(),
        "ufid": ufid.to_wire(sys.byteorder).hex(),
        "ufid_present": True,
        "pmd_id": 4294967295,
        "stats": _STATS,
    }


# --- requests ---------------------------------------------------------------------


@given(ops=cs.dpif_batches())
def test_operate_line_carries_every_op_field(ops: list[Any]) -> None:
    line = request_operate(ops).line
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    body = json.loads(line)
    assert body["op"] == "operate" and len(body["ops"]) == len(ops)
    for op, sent in zip(ops, body["ops"], strict=True):
        want_ufid = None if op.ufid is None else op.ufid.to_wire(sys.byteorder).hex()
        assert sent["ufid"] == want_ufid
        if isinstance(op, PutOp):
            assert (sent["type"], bytes.fromhex(sent["key"]), sent["flags"]) == ("put", op.key, int(op.flags))
            assert bytes.fromhex(sent["actions"]) == op.actions
            assert (sent["mask"] is None) == (op.mask is None)
        elif isinstance(op, DelOp):
            assert sent["type"] == "del" and sent["terse"] == op.terse
        else:
            assert sent["type"] == "get"


def test_execute_and_plain_requests() -> None:
    body = json.loads(request_operate([ExecuteOp(b"\x01" * 14, output(2), 3)]).line)
    assert body["ops"] == [{"type": "execute", "packet": "01" * 14, "actions": output(2).hex(), "in_port": 3}]
    assert json.loads(request("inject", port=1, packet=b"\xab").line) == {"op": "inject", "port": 1, "packet": "ab"}


@pytest.mark.parametrize("size", [0, 1, 15, 17, 20])
def test_only_16_byte_ufids_can_be_sent(size: int) -> None:
    with pytest.raises(DpifNotSupported, match="16-byte"):
        request_operate([GetOp(ufid=b"\x01" * size)])


def test_too_many_ops_in_one_request() -> None:
    with pytest.raises(DpifInvalid, match=str(MAX_OPS)):
        request_operate([GetOp(ufid=ufid_n(1))] * (MAX_OPS + 1))


# --- the state machine --------------------------------------------------------------


@given(cuts=st.lists(st.integers(0, 200), max_size=6))
def test_any_split_of_the_output_gives_the_same_reply(cuts: list[int]) -> None:
    conn = DriverConnection()
    data = _READY + b'{"port":7,"error":0,"ns":1234}\n'
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    ready = None
    sent = False
    replies = []
    for a, b in itertools.pairwise(points):
        conn.receive_data(data[a:b])
        if ready is None:
            ready = conn.next_ready()
        if ready is not None and not sent:
            conn.send(request("port_add", name="p1"))
            sent = True
        if sent:
            got = conn.next_reply()
            if got is not None:
                replies.append(got)
    assert ready is not None and ready.version == "3.5.0" and ready.pid == 42
    assert len(replies) == 1 and decode_port(replies[0]) == 7 and replies[0].ns == 1234
    assert conn.state is State.IDLE


def test_illegal_transitions_raise() -> None:
    conn = DriverConnection()
    with pytest.raises(DriverProtocolError, match="not allowed while starting"):
        conn.send(request("flush"))
    conn = _connected()
    with pytest.raises(DriverProtocolError, match="no request outstanding"):
        conn.next_reply()
    conn.send(request("flush"))
    with pytest.raises(DriverProtocolError, match="not allowed while waiting"):
        conn.send(request("flush"))
    conn.close()
    with pytest.raises(DriverProtocolError, match="after close"):
        conn.receive_data(b"{}\n")


def test_unrequested_output_after_a_reply_is_an_error() -> None:
    conn = _connected()
    conn.send(request("flush"))
    conn.receive_data(b'{"error":0,"ns":1}\n{"error":0,"ns":2}\n')
    with pytest.raises(DriverProtocolError, match="unrequested output"):
        conn.next_reply()


def test_a_refused_request_is_a_protocol_error() -> None:
    conn = _connected()
    conn.send(request("frobnicate"))
    conn.receive_data(b'{"error":71,"msg":"unknown \\"op\\"","ns":1}\n')
    with pytest.raises(DriverProtocolError, match="refused the 'frobnicate' request: unknown"):
        conn.next_reply()


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"ns":1}', "'error' is None"),
        (b'{"error":-1,"ns":1}', "'error' is -1"),
        (b'{"error":0,"ns":"1"}', "'ns' is '1'"),
        (b'{"error":true,"ns":1}', "'error' is True"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_reply_lines_name_what_is_wrong(line: bytes, what: str) -> None:
    conn = _connected()
    conn.send(request("flush"))
    conn.receive_data(line + b"\n")
    with pytest.raises(DriverProtocolError, match="reply to 'flush'") as info:
        conn.next_reply()
    assert what in str(info.value)
    assert isinstance(info.value, ValueError) and info.value.errno == errno.EPROTO


@pytest.mark.parametrize(
    "line",
    [b"garbage", b'{"ready":true,"dp":"x","pid":1}', b'{"ready":true,"version":"3","dp":"x","pid":0}'],
)
def test_bad_ready_lines(line: bytes) -> None:
    conn = DriverConnection()
    conn.receive_data(line + b"\n")
    with pytest.raises(DriverProtocolError, match="ready line"):
        conn.next_ready()
    assert conn.state is State.STARTING


def test_a_driver_that_could_not_create_its_datapath() -> None:
    conn = DriverConnection()
    conn.receive_data(b'{"ready":false,"error":17}\n')
    with pytest.raises(DpifExists):
        conn.next_ready()


# --- replies to records ---------------------------------------------------------------


def test_results_map_errnos_stats_and_flows() -> None:
    u = ufid_n(1)
    ops: list[DpifOp] = [
        PutOp(eth_key(1, 1), None, output(2), u, PutFlags.CREATE),
        PutOp(eth_key(1, 1), None, output(2), u, PutFlags.CREATE),
        GetOp(ufid=u),
        DelOp(ufid=u),
        DelOp(ufid=u),
        ExecuteOp(b"\x00" * 14, b"", 1),
    ]
    body = {
        "results": [
            {"error": 0, "stats": _STATS},
            {"error": errno.EEXIST},
            {"error": 0, "flow": _flow(u)},
            {"error": 0, "stats": _STATS},
            {"error": errno.ENOENT},
            {"error": 0},
        ]
    }
    res = decode_results(_reply("operate", body), ops)
    assert [r.op for r in res] == ops
    assert res[0].stats == FlowStats(3, 180, 77, 0x12)
    assert isinstance(res[1].error, DpifExists) and isinstance(res[4].error, DpifNotFound)
    flow = res[2].flow
    assert flow is not None and flow.ufid == u and flow.ufid_bytes == u.to_wire(sys.byteorder)
    assert flow.key == eth_key(1, 1) and flow.mask == b"" and flow.actions == output(2)
    assert res[5].ok and res[5].stats is None


def test_terse_flows_leave_key_mask_actions_out() -> None:
    (f,) = decode_flows(_reply("dump", {"flows": [_flow(ufid_n(2), terse=True)], "dump_error": 0}))
    assert (f.key, f.mask, f.actions, f.ufid) == (None, None, None, ufid_n(2))


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"results": []}, "0 results for 1 ops"),
        ({"results": [{"error": 0, "flow": {**_flow(ufid_n(1)), "ufid": "00" * 15}}]}, "15 bytes"),
        ({"results": [{"error": 0, "flow": {**_flow(ufid_n(1)), "key": "zz"}}]}, "'key' is not hex"),
        ({"results": [{"error": 0, "flow": {**_flow(ufid_n(1)), "stats": None}}]}, "stats is None"),
        ({"results": [{"error": 0, "flow": {**_flow(ufid_n(1)), "ufid_present": 1}}]}, "ufid_present is 1"),
        ({"results": [7]}, "a result is 7"),
        ({"results": "x"}, "'results' is 'x'"),
    ],
)
def test_malformed_results(body: dict[str, Any], what: str) -> None:
    with pytest.raises(DriverProtocolError) as info:
        decode_results(_reply("operate", body), [GetOp(ufid=ufid_n(1))])
    assert what in str(info.value) and "reply to 'operate'" in str(info.value)


def test_a_failed_request_raises_its_errno() -> None:
    with pytest.raises(DpifNotFound):
        decode_port(_reply("port_add", {"error": errno.ENOENT}))
    with pytest.raises(DpifError) as info:
        decode_flows(_reply("dump", {"flows": [], "dump_error": errno.EIO}))
    assert info.value.errno == errno.EIO


def test_upcalls() -> None:
    u = ufid_n(3)
    body: dict[str, Any] = {
        "upcalls": [
            {"type": "miss", "in_port": 2, "packet": "aa" * 14, "key": "0800", "ufid": u.to_wire(sys.byteorder).hex()},
        ],
        "lost": 0,
    }
    (up,) = decode_upcalls(_reply("upcalls", body))
    assert (up.packet, up.key, up.in_port, up.ufid) == (b"\xaa" * 14, b"\x08\x00", 2, u)
    body["upcalls"][0]["type"] = "other"
    with pytest.raises(DriverProtocolError, match="upcall type 'other'"):
        decode_upcalls(_reply("upcalls", body))


@given(data=cs.hash_inputs(), basis=cs.seeds())
def test_hash_reply_is_murmur3_digest(data: bytes, basis: int) -> None:
    # What the driver sends: the ovs_u128 in memory order, u64.lo = h1 and u64.hi = h2 (lib/hash.c).
    h1, h2 = mmh3.hash64(data, basis, x64arch=True, signed=False)
    memory = struct.pack("=QQ", h1, h2)
    assert decode_hash(_reply("hash", {"hash": memory.hex()})) == mmh3.hash_bytes(data, basis, x64arch=True)


def test_hash_of_the_wrong_size() -> None:
    with pytest.raises(DriverProtocolError, match="8 bytes"):
        decode_hash(_reply("hash", {"hash": "00" * 8}))
