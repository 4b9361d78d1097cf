"""Tests for reference.odp.flowtext: dpctl flow-key text <-> netlink key/mask bytes.

The fixture ``ovs_odp_wc_keys.txt`` holds the lines of OVS v3.1.0's own test
"OVS datapath wildcarded key parsing and formatting - valid forms"
(tests/odp.at), expanded with that test's sed script; OVS prints every one of
them back unchanged, so they are expected output no one here wrote.
"""

from __future__ import annotations

import contextlib
import struct
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import keys_with_masks, ufid_texts
from reference._netlink import pack_attr
from reference.errors import OdpDecodeError, OdpSyntaxError
from reference.odp import format_key, format_key_attr, parse_flow, parse_key_attr
from reference.odp.keys import decode_key
from reference.uapi import KeyAttr
from reference.ufid import Ufid
from tests.reference.odp.test_keys import kernel_upcall_keys


def _ovs_lines() -> list[str]:
    text = files("conformance.fixtures").joinpath("ovs_odp_wc_keys.txt").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


OVS_LINES = _ovs_lines()


def test_fixture_is_not_empty() -> None:
    assert len(OVS_LINES) > 100


@pytest.mark.parametrize("line", OVS_LINES)
def test_ovs_test_suite_lines_print_back_unchanged(line: str) -> None:
    flow = parse_flow(line)
    assert flow.mask is not None
    assert format_key(flow.key, flow.mask) == line


# --- round trips (hypothesis) -------------------------------------------------------------


@given(keys_with_masks())
def test_bytes_text_bytes_verbose(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    text = format_key(key, mask, verbose=True)
    flow = parse_flow(text)
    assert (flow.key, flow.mask) == (key, mask)


@given(keys_with_masks(compact=True))
def test_bytes_text_bytes_compact(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    flow = parse_flow(format_key(key, mask))
    assert (flow.key, flow.mask) == (key, mask)


@given(keys_with_masks(), st.booleans())
def test_text_bytes_text(pair: tuple[bytes, bytes], verbose: bool) -> None:
    text = format_key(*pair, verbose=verbose)
    flow = parse_flow(text)
    assert flow.mask is not None
    assert format_key(flow.key, flow.mask, verbose=verbose) == text


@given(keys_with_masks())
def test_key_only_text_round_trip(pair: tuple[bytes, bytes]) -> None:
    # Like odp_flow_key_format, key-only text is verbose: the compact printer
    # omits e.g. ct_zone and tun_id when there is no mask to say they matter.
    key, _ = pair
    text = format_key(key, verbose=True)
    flow = parse_flow(text, with_mask=False)
    assert flow.mask is None
    assert flow.key == key
    assert "/" not in text


@given(keys_with_masks(), st.booleans())
def test_attribute_functions_agree_with_whole_keys(pair: tuple[bytes, bytes], verbose: bool) -> None:
    key, mask = pair
    masks = {a.type: a.body for a in decode_key(mask, is_mask=True).attrs}
    for a in decode_key(key).attrs:
        text = format_key_attr(a.type, a.body, masks[a.type], verbose=True)
        t, k, m, end = parse_key_attr(text + ",", 0, with_mask=True)
        assert (t, k, m, end) == (a.type, a.body, masks[a.type], len(text))
        plain = format_key_attr(a.type, a.body, None, verbose=True)
        assert parse_key_attr(plain, 0, with_mask=False)[:3] == (a.type, a.body, None)
        assert format_key_attr(a.type, a.body, masks[a.type], verbose=verbose).startswith(plain.split("(")[0] + "(")


# --- parsing rules -------------------------------------------------------------------------


def _one(text: str) -> tuple[bytes, bytes]:
    flow = parse_flow(text)
    assert flow.mask is not None
    (attr,) = decode_key(flow.key).attrs
    (mattr,) = decode_key(flow.mask).attrs
    return attr.payload, mattr.payload


def test_c_integer_rules() -> None:
    # %i: decimal, 0x hex, leading 0 octal (lib/util.c scan_int).
    for text, tos in (("10", 10), ("0x10", 16), ("010", 8), ("0", 0), ("0X1f", 31)):
        key, _ = _one(f"ipv4(tos={text})")
        assert key[9] == tos, text


def test_unwritten_fields_are_wildcarded_and_written_ones_exact() -> None:
    key, mask = _one("ipv4(src=10.0.0.1,ttl=64)")
    assert key[0:4] == bytes([10, 0, 0, 1]) and key[10] == 64
    assert mask == b"\xff" * 4 + bytes(6) + b"\xff" + b"\0"


def test_single_value_masks_and_host_order() -> None:
    key, mask = _one("skb_mark(0x12/0xff)")
    assert struct.unpack("=I", key)[0] == 0x12 and struct.unpack("=I", mask)[0] == 0xFF
    key, mask = _one("eth_type(0x0800)")
    assert key == b"\x08\x00" and mask == b"\xff\xff"


def test_vlan_defaults_to_cfi_set() -> None:
    key, mask = _one("vlan(vid=5)")
    assert key == b"\x10\x05" and mask == b"\x1f\xff"
    key, mask = _one("vlan(vid=5,cfi=0)")
    assert key == b"\x00\x05" and mask == b"\x1f\xff"


def test_ufid_prefix_comma_or_space() -> None:
    u = "ufid:00112233-4455-6677-8899-aabbccddeeff"
    for text in (f"{u},in_port(1)", f"{u} in_port(1)"):
        flow = parse_flow(text)
        assert flow.ufid == Ufid.parse(u)
        assert flow.key == pack_attr(KeyAttr.IN_PORT, struct.pack("=I", 1))
    assert parse_flow("in_port(1)").ufid is None


@given(ufid_texts())
def test_any_valid_ufid_text_is_accepted(text: str) -> None:
    assert parse_flow(text + ",in_port(1)").ufid == Ufid.parse(text)


def test_zero_prints_as_c_does() -> None:
    flow = parse_flow("recirc_id(0),skb_mark(0/0),ct_state(0/0xff),eth_type(0x0800),ipv4(tos=0/0,proto=1/0)")
    assert flow.mask is not None
    text = format_key(flow.key, flow.mask, verbose=True)
    assert text.startswith("recirc_id(0),skb_mark(0/0),ct_state(0/0xff),eth_type(0x0800),ipv4(")
    assert "proto=1/0," in text and "tos=0/0," in text


@pytest.mark.parametrize(
    ("text", "column", "needle"),
    [
        ("in_port(1", 9, "')'"),
        ("in_port(1))", 10, "unknown"),
        ("ipv4(src=10.0.0.1", 17, "')'"),
        ("ipv4(tos=256)", 9, "does not fit"),
        ("ipv4(tos=-1)", 9, "negative"),
        ("eth_type(0x10000)", 9, "does not fit"),
        ("recirc_id(1/0xff)", 11, "takes no mask"),
        ("in_port(eth0)", 8, "port names"),
        ("bogus(1)", 0, "unknown"),
        ("ipv4(srcx=1)", 5, "expected"),
        ("ipv6(label=0x100000)", 11, "20 bits"),
        ("ipv4(frag=maybe)", 10, "no, first or later"),
        ("ct_state(+bogus)", 10, "unknown flag"),
        ("ufid:1234,in_port(1)", 0, "ufid"),
        ("encap(eth_type(0x0800)", 22, "')'"),
        ("mpls(label=1,label=2,label=3,label=4)", 29, "more than 3"),
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int, needle: str) -> None:
    with pytest.raises(OdpSyntaxError) as exc:
        parse_flow(text)
    assert exc.value.column == column, str(exc.value)
    assert needle in str(exc.value)


def test_masks_refused_without_mask_parsing() -> None:
    with pytest.raises(OdpSyntaxError):
        parse_flow("ipv4(src=10.0.0.1/255.0.0.0)", with_mask=False)


def test_nesting_limit() -> None:
    deep = "encap(" * 40 + "eth_type(0x0800)" + ")" * 40
    with pytest.raises(OdpSyntaxError, match="nested deeper"):
        parse_flow(deep)


def test_format_refuses_bad_bytes() -> None:
    with pytest.raises(OdpDecodeError):
        format_key(pack_attr(KeyAttr.IPV4, bytes(5)))
    with pytest.raises(OdpDecodeError):
        format_key(pack_attr(KeyAttr.IPV4, bytes(12)), pack_attr(KeyAttr.IPV4, bytes(4)))


def test_format_key_attr_bad_arguments() -> None:
    with pytest.raises(OdpDecodeError):
        format_key_attr(0x10000, b"", None, verbose=True)
    with pytest.raises(OdpDecodeError):
        format_key_attr(KeyAttr.UNSPEC, bytes(70000), None, verbose=True)
    with pytest.raises(OdpDecodeError):
        format_key_attr(KeyAttr.IPV4, bytes(12), bytes(11), verbose=True)


def test_ct_fields_of_an_unmasked_key_print_empty() -> None:
    # odp-util.c (v3.1.0) format_odp_key_attr__: ct_zone/ct_mark print their
    # value only "if (verbose || !mask_empty(ma))" and mask_empty(NULL) is
    # true; format_u128 (ct_label) needs verbose or a non-zero mask. So a key
    # without a mask prints them empty whatever the value, an exact mask
    # prints the value (zero as "0"). The real daemon agrees
    # (test_dpctl_crosscheck: dpctl/normalize-actions and dump-flows).
    key = parse_flow("ct_zone(5),ct_mark(0x7),ct_label(0x9),in_port(1)", with_mask=False).key
    assert format_key(key) == "ct_zone(),ct_mark(),ct_label(),in_port(1)"
    assert format_key(key, verbose=True) == "ct_zone(0x5),ct_mark(0x7),ct_label(0x9),in_port(1)"
    zero = parse_flow("ct_zone(0),ct_mark(0),ct_label(0)")
    assert zero.mask is not None
    assert format_key(zero.key, zero.mask) == "ct_zone(0),ct_mark(0),ct_label(0)"
    wild = parse_flow("ct_zone(0/0),ct_mark(0/0),ct_label(0/0)").mask
    assert wild is not None
    assert format_key(zero.key, wild) == ""
    assert format_key(zero.key, wild, verbose=True) == "ct_zone(0/0),ct_mark(0/0),ct_label(0/0)"


def test_empty_mpls_stack_prints_as_ovs_does() -> None:
    # odp-util.c (v3.1.0) format_odp_key_attr__, OVS_KEY_ATTR_MPLS: a key of
    # size 0 prints "(bad key length 0)" after "mpls(" and returns before the
    # closing ')'. Linux sends such keys for cut label stacks; we read that
    # text back (OVS cannot), while "mpls()" stays one all-zero entry as in
    # OVS's SCAN_END_ARRAY.
    head = parse_flow("in_port(1),eth(),eth_type(0x8847)")
    assert head.mask is not None
    key = head.key + pack_attr(KeyAttr.MPLS, b"")
    mask = head.mask + pack_attr(KeyAttr.MPLS, b"")
    for verbose in (False, True):
        text = format_key(key, verbose=verbose)
        assert text.endswith(",eth_type(0x8847),mpls((bad key length 0)")
        assert parse_flow(text, with_mask=False).key == key
    # With a mask, an empty mask is all-wildcard: compact omits the attribute.
    assert "mpls" not in format_key(key, mask)
    verbose_text = format_key(key, mask, verbose=True)
    assert verbose_text.endswith(",mpls((bad key length 0)")
    assert parse_flow(verbose_text) == type(head)(None, key, mask)
    assert parse_flow("mpls()", with_mask=False).key == pack_attr(KeyAttr.MPLS, bytes(4))


def test_every_linux_upcall_key_prints_and_reads_back() -> None:
    # Keys the real Linux 6.1 module sent (fixture kernel-6.1-upcall-keys.json):
    # IPv6 keys carry IPV6_EXTHDRS (32), cut MPLS stacks an empty MPLS.
    # Key-only text is the verbose form (OVS's odp_flow_key_format); the
    # compact form of a key without a mask prints ct_zone() etc. empty, which
    # neither OVS nor we can read back.
    keys = kernel_upcall_keys()
    assert len(keys) > 400
    for key in keys:
        text = format_key(key, verbose=True)
        assert parse_flow(text, with_mask=False).key == key, text
        compact = format_key(key)
        assert compact.replace("ct_zone(),ct_mark(),ct_label(),", "") == text.replace(
            "ct_zone(0),ct_mark(0),ct_label(0),", ""
        )


def test_unknown_attributes_print_as_ovs_generic_keys() -> None:
    # odp-util.c (v3.1.0): ovs_key_attr_to_string names type 32 (which is
    # __OVS_KEY_ATTR_MAX there) "key32"; format_odp_key_attr__'s default case
    # prints format_generic_odp_key ("%02x" bytes joined by spaces) and, with
    # a mask, always "/mask": odp_mask_is_constant__ is false for unknown
    # types, so such an attribute is never "exact" nor omitted as wildcarded.
    exthdrs = struct.pack("=H", 0x0104)  # OFPIEH12 UNREP|HOP... any host-order u16
    key = pack_attr(KeyAttr.IN_PORT, struct.pack("=I", 1)) + pack_attr(KeyAttr.IPV6_EXTHDRS, exthdrs)
    expected_hex = " ".join(f"{b:02x}" for b in exthdrs)
    assert format_key(key) == f"in_port(1),key32({expected_hex})"
    assert format_key(key, verbose=True) == f"in_port(1),key32({expected_hex})"
    for mask_payload in (b"\xff\xff", b"\x00\x00", b"\x0f\x00"):
        mask = pack_attr(KeyAttr.IN_PORT, b"\xff" * 4) + pack_attr(KeyAttr.IPV6_EXTHDRS, mask_payload)
        mask_hex = " ".join(f"{b:02x}" for b in mask_payload)
        text = format_key(key, mask)
        assert text == f"in_port(1),key32({expected_hex}/{mask_hex})"
        assert parse_flow(text) == type(parse_flow(""))(None, key, mask)
    assert parse_flow("key1234()", with_mask=False).key == pack_attr(1234, b"")
    assert parse_flow("key32(04 00)").mask == pack_attr(32, b"\xff\xff")


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("key32(4)", 6),  # bytes are two hex digits
        ("key32(04  00)", 8),  # one space between bytes
        ("key32(04 00/ff)", 12),  # mask as long as the key
        ("key5(00)", 0),  # a known type prints under its own name
        ("key16384(00)", 0),  # beyond NLA_TYPE_MASK
        ("key32(04 00", 11),
    ],
)
def test_unknown_attribute_syntax_errors(text: str, column: int) -> None:
    with pytest.raises(OdpSyntaxError) as exc:
        parse_flow(text)
    assert exc.value.column == column, str(exc.value)
    with pytest.raises(OdpSyntaxError):
        parse_flow("key32(04 00/ff ff)", with_mask=False)


def test_empty_key() -> None:
    assert format_key(b"") == "<empty>"
    assert parse_flow("").key == b""


# --- fuzz ----------------------------------------------------------------------------------

_ALPHABET = st.sampled_from([*"()/,=:.+-|{} 0123456789abcdefx", "eth(", "ipv4(", "encap(", "tunnel(", "src="])


@given(st.text(max_size=80) | st.lists(_ALPHABET, max_size=40).map("".join))
def test_arbitrary_text_raises_only_syntax_errors(text: str) -> None:
    with contextlib.suppress(OdpSyntaxError):
        flow = parse_flow(text)
        assert flow.mask is not None
        format_key(flow.key, flow.mask, verbose=True)


@given(keys_with_masks(), st.data())
def test_mutated_text_raises_only_syntax_errors(pair: tuple[bytes, bytes], data: st.DataObject) -> None:
    text = format_key(*pair, verbose=data.draw(st.booleans()))
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(chars)))
        op = data.draw(st.sampled_from(["del", "ins", "dup"]))
        if op == "del" and i < len(chars):
            del chars[i]
        elif op == "ins":
            chars.insert(i, data.draw(st.sampled_from(list("(),/=x09-+"))))
        elif i < len(chars):
            chars.insert(i, chars[i])
    with contextlib.suppress(OdpSyntaxError):
        flow = parse_flow("".join(chars))
        assert flow.mask is not None
        # Whatever parses must also print (format_key raises only OdpDecodeError).
        with contextlib.suppress(OdpDecodeError):
            format_key(flow.key, flow.mask)
