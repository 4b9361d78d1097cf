"""Returned flows are compared by their match, never by how they print (conformance/suite/_flows.py)."""

from __future__ import annotations

from conformance.suite._flows import ReturnedMatch, normalise
from reference.dpif import DpifFlow, FlowStats

# The same exact flow as the Linux datapath dumps it (every metadata attribute present,
# wildcarded, and a tunnel mask with a zero TTL) and as the reference dumps it.
_KERNEL_KEY = bytes.fromhex(
    "080014000000000008001300000000000800020000000000080003000100000008000f0000000000080016000000000006001700"
    "0000000008001800000000001400190000000000000000000000000000000000100004000200000000010200000000050600060012340000"
)
_KERNEL_MASK = bytes.fromhex(
    "0800140000000000080013000000000008000200000000000c001000050004000000000008000300ffffffff08000f000000000008"
    "0016000000000006001700000000000800180000000000140019000000000000000000000000000000000010000400ffffffffffffffff"
    "ffffffff06000600ffff0000"
)
_REF_KEY = bytes.fromhex("0800030001000000100004000200000000010200000000050600060012340000")
_REF_MASK = bytes.fromhex("08000300ffffffff10000400ffffffffffffffffffffffff06000600ffff0000")
_ACTIONS = bytes.fromhex("0800010002000000")


def test_equal_flows_that_print_differently_are_equal_and_sort_alike() -> None:
    kernel = DpifFlow(None, False, _KERNEL_KEY, _KERNEL_MASK, _ACTIONS, FlowStats())
    ref = DpifFlow(None, False, _REF_KEY, _REF_MASK, _ACTIONS, FlowStats())
    a, b = normalise(kernel), normalise(ref)
    assert a == b and a.sort_key() == b.sort_key()
    assert repr(a) != repr(b)  # the evidence shows the bytes each datapath returned
    assert "eth_type(0x1234)" in repr(a) and _KERNEL_KEY.hex() in repr(a)
    assert ReturnedMatch.of(kernel) == ReturnedMatch.of(ref)


def test_a_different_field_is_unequal_and_named_in_the_text() -> None:
    ref = DpifFlow(None, False, _REF_KEY, _REF_MASK, _ACTIONS, FlowStats())
    other = DpifFlow(None, False, _REF_KEY.replace(b"\x12\x34", b"\x12\x35"), _REF_MASK, _ACTIONS, FlowStats())
    assert normalise(ref) != normalise(other)
    assert "eth_type(0x1235)" in repr(normalise(other))
