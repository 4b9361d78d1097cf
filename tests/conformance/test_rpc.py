"""The supervised backend's wire codec (conformance/_rpc.py): bytes in, messages out, no I/O."""

from __future__ import annotations

import itertools
import pickle
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance._rpc import MAX_FRAME, Call, Decoder, Raised, Reply, RpcProtocolError, Undecodable, encode
from conformance.strategies import rpc_messages
from reference.dpif import DpifNotFound


@settings(max_examples=60, deadline=None)
@given(st.lists(rpc_messages(), min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=8))
def test_any_split_of_the_stream_decodes_to_the_same_messages(msgs: list[Any], cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in msgs)
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    dec = Decoder()
    got: list[Any] = []
    for a, b in itertools.pairwise(points):
        got += dec.feed(stream[a:b])
    assert got == msgs
    assert dec.pending == 0


def test_errors_cross_as_their_own_type_and_errno() -> None:
    (msg,) = Decoder().feed(encode(Raised(3, "reference.dpif.DpifNotFound", "gone", "", DpifNotFound("gone"))))
    assert isinstance(msg, Raised) and isinstance(msg.exc, DpifNotFound) and msg.exc.errno == 2


def test_an_oversized_frame_poisons_the_decoder() -> None:
    dec = Decoder()
    with pytest.raises(RpcProtocolError, match="more than the"):
        dec.feed(struct.pack(">I", MAX_FRAME + 1))
    with pytest.raises(RpcProtocolError):  # nothing after a broken frame can be trusted
        dec.feed(encode(Reply(1, None)))


def test_a_frame_that_is_not_a_message_is_refused() -> None:
    payload = pickle.dumps({"seq": 1})
    with pytest.raises(RpcProtocolError, match="holds a dict, not a protocol message"):
        Decoder().feed(struct.pack(">I", len(payload)) + payload)


def test_an_undecodable_payload_is_reported_and_the_stream_goes_on() -> None:
    junk = b"\x80\x05not pickle"
    got = Decoder().feed(struct.pack(">I", len(junk)) + junk + encode(Reply(2, 7)))
    assert isinstance(got[0], Undecodable) and got[0].size == len(junk)
    assert got[1] == Reply(2, 7)


def test_values_that_cannot_be_sent_are_named() -> None:
    with pytest.raises(RpcProtocolError, match="Reply cannot be sent"):
        encode(Reply(1, lambda: None))
    with pytest.raises(RpcProtocolError, match="not a protocol message: dict"):
        encode({"seq": 1})  # type: ignore[arg-type]
    assert Call(1, "flow_flush") == Decoder().feed(encode(Call(1, "flow_flush")))[0]
