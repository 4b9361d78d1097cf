"""Cross-check our printed key text with OVS's own Python flow parser.

``ovs.flow.odp.ODPFlow`` (PyPI package ``ovs``, written by the OVS project)
reads the text that :func:`format_key` prints; every value and mask it finds
must equal what the netlink bytes hold, decoded here directly from the bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import keys_with_masks
from reference.odp import format_key
from reference.odp.keys import KEY_ATTRS, FieldKind, decode_key
from reference.uapi import KeyAttr
from tests._support import require_module

odp = require_module("ovs.flow.odp", "OVS's Python flow parser: pip install 'ovs[flow]'")

# Attributes whose fields ODPFlow exposes as value/mask pairs, and single-value ones.
_STRUCTS = {
    KeyAttr.ETHERNET,
    KeyAttr.IPV4,
    KeyAttr.IPV6,
    KeyAttr.TCP,
    KeyAttr.UDP,
    KeyAttr.SCTP,
    KeyAttr.ICMP,
    KeyAttr.ICMPV6,
    KeyAttr.ARP,
    KeyAttr.ND,
    KeyAttr.CT_ORIG_TUPLE_IPV4,
}
_SINGLES: dict[int, str] = {
    KeyAttr.PRIORITY: "=I",
    KeyAttr.SKB_MARK: "=I",
    KeyAttr.DP_HASH: "=I",
    KeyAttr.RECIRC_ID: "=I",
    KeyAttr.IN_PORT: "=I",
    KeyAttr.CT_ZONE: "=H",
    KeyAttr.CT_MARK: "=I",
    KeyAttr.ETHERTYPE: ">H",
}
_FRAG = {0: "no", 1: "first", 2: "later"}


def _field_int(kind: FieldKind, raw: bytes) -> int:
    if kind == FieldKind.U32_HOST:
        return int(struct.unpack("=I", raw)[0])
    if kind == FieldKind.U16_HOST:
        return int(struct.unpack("=H", raw)[0])
    return int.from_bytes(raw, "big")


def _theirs(value: Any, bits: int) -> tuple[int, int]:
    """(value, mask) of an ODPFlow decoded field; an absent mask means exact."""
    full = (1 << bits) - 1
    if isinstance(value, int):
        return value, full
    if hasattr(value, "eth"):  # EthMask (netaddr EUI)
        mask = value.mask
        return int(value.eth), (int(mask) if mask is not None else full)
    if hasattr(value, "ip"):  # IPMask (netaddr IPAddress)
        mask = value.mask
        return int(value.ip), (int(mask) if mask is not None else full)
    if isinstance(value, str):  # e.g. in_port "1/0xff"
        v, _, m = value.partition("/")
        return int(v, 0), (int(m, 0) if m else full)
    mask = value.mask
    return int(value.value), (int(mask) if mask is not None else full)


def _compare(match: dict[str, Any], key: bytes, mask: bytes, verbose: bool) -> int:
    masks = {a.type: a.body for a in decode_key(mask).attrs}
    checked = 0
    for a in decode_key(key).attrs:
        spec = KEY_ATTRS[a.type]
        m = masks[a.type]
        if a.type == KeyAttr.ENCAP:
            inner = match["encap"]
            checked += _compare(inner if isinstance(inner, dict) else {}, a.body, m, verbose)
            continue
        if a.type in _SINGLES:
            if not verbose and not any(m):
                assert spec.name not in match
                continue
            fmt = _SINGLES[a.type]
            bits = struct.calcsize(fmt) * 8
            want = (struct.unpack(fmt, a.body)[0], struct.unpack(fmt, m)[0])
            assert _theirs(match[spec.name], bits) == want, spec.name
            checked += 1
            continue
        if a.type not in _STRUCTS:
            if verbose or any(m) or a.type in (KeyAttr.TUNNEL, KeyAttr.ETHERNET):
                assert spec.name in match, spec.name
            continue
        if not verbose and not any(m) and a.type != KeyAttr.ETHERNET:
            assert spec.name not in match
            continue
        fields = match[spec.name]
        if not isinstance(fields, dict):  # "eth()" parses as a bare flag
            fields = {}
        for f in spec.fields:
            kraw, mraw = a.body[f.offset : f.offset + f.size], m[f.offset : f.offset + f.size]
            if f.name == "frag":
                if mraw[0]:
                    assert fields["frag"] == _FRAG[kraw[0]]
                else:
                    assert "frag" not in fields
                continue
            if not verbose and not any(mraw):
                assert f.name not in fields, (spec.name, f.name)
                continue
            want = (_field_int(f.kind, kraw), _field_int(f.kind, mraw))
            if f.name == "label":  # only the 20 flow-label bits are a mask
                want = (want[0], want[1] if want[1] & 0xFFFFF != 0xFFFFF else 0xFFFFFFFF)
            got = _theirs(fields[f.name], f.size * 8)
            if f.name == "label" and got[1] == 0xFFFFF:
                got = (got[0], 0xFFFFFFFF)
            assert got == want, (spec.name, f.name)
            checked += 1
    return checked


@given(keys_with_masks(), st.booleans())
def test_ovs_python_parser_reads_our_text_as_our_bytes(pair: tuple[bytes, bytes], verbose: bool) -> None:
    key, mask = pair
    text = format_key(key, mask, verbose=verbose)
    flow = odp.ODPFlow(text + " actions:drop")
    _compare(flow.match, key, mask, verbose)


def test_crosscheck_compares_something() -> None:
    key_text = "in_port(1),eth(src=00:00:00:00:00:01/ff:ff:ff:00:00:00,dst=00:00:00:00:00:02),eth_type(0x0800)"
    from reference.odp import parse_flow

    flow = parse_flow(key_text + ",ipv4(src=10.0.0.1/255.255.0.0,tos=0x10/0xf0,frag=no)")
    assert flow.mask is not None
    parsed = odp.ODPFlow(format_key(flow.key, flow.mask) + " actions:drop")
    assert _compare(parsed.match, flow.key, flow.mask, False) >= 6
    # A wrong byte is noticed.
    bad_key = flow.key.replace(bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    with pytest.raises(AssertionError):
        _compare(parsed.match, bad_key, flow.mask, False)
    assert ipaddress.IPv4Address("10.0.0.1")  # netaddr and ipaddress agree on the text form
