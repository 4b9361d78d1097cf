"""Tests for reference.odp.keys: netlink key/mask decoding, encoding, validation."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import struct
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.strategies import flow_keys, keys_with_masks, opaque_key_attrs
from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError
from reference.odp.keys import (
    KEY_ATTRS,
    MAX_NESTING,
    TUNNEL_ATTRS,
    Attribute,
    FlowKey,
    Length,
    canonical_key,
    decode_key,
    encode_key,
    validate_key,
)
from reference.uapi import KeyAttr, TunnelKeyAttr
from tests._support import require


def _u32(v: int) -> bytes:
    return struct.pack("=I", v)


def kernel_upcall_keys() -> list[bytes]:
    """Every upcall key the real Linux 6.1 module sent (fixture kernel-6.1-upcall-keys.json)."""
    data = json.loads(files("conformance.fixtures").joinpath("kernel-6.1-upcall-keys.json").read_text())
    cases = data["cases"] + data["with_priority_and_mark"]["cases"]
    return [bytes.fromhex(case["key"]) for case in cases]


def _walk(key: bytes) -> list[tuple[int, bytes]]:
    # Our generic TLV walker (not the decoder under test), into encap() only.
    out: list[tuple[int, bytes]] = []
    for t, p, _ in iter_attrs(key, where="key"):
        out.append((t, p))
        if t == KeyAttr.ENCAP:
            out.extend(_walk(p))
    return out


# --- round trips --------------------------------------------------------------------


@given(opaque_key_attrs())
def test_decode_encode_is_identity(key: bytes) -> None:
    assert encode_key(decode_key(key)) == key


@given(keys_with_masks())
def test_masks_decode_as_masks(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    validate_key(key)
    validate_key(mask, is_mask=True)
    assert decode_key(mask, is_mask=True).types() == decode_key(key).types()


def test_unknown_attributes_are_kept_as_opaque_bytes() -> None:
    key = pack_attr(KeyAttr.IN_PORT, _u32(1)) + pack_attr(200, b"\x01\x02\x03") + pack_attr(0x3FFF, b"")
    rec = decode_key(key)
    assert rec.types() == (KeyAttr.IN_PORT, 200, 0x3FFF)
    unknown = rec.get(200)
    assert unknown is not None and unknown.payload == b"\x01\x02\x03" and unknown.children is None
    assert bytes(rec) == key


def test_nested_attributes_have_children() -> None:
    inner = pack_attr(KeyAttr.ETHERTYPE, b"\x08\x00")
    tun = pack_attr(TunnelKeyAttr.ID, bytes(8)) + pack_attr(TunnelKeyAttr.CSUM)
    key = pack_attr(KeyAttr.TUNNEL, tun) + pack_attr(KeyAttr.VLAN, b"\x10\x05") + pack_attr(KeyAttr.ENCAP, inner)
    rec = decode_key(key)
    t = rec.get(KeyAttr.TUNNEL)
    e = rec.get(KeyAttr.ENCAP)
    assert t is not None and t.children is not None
    assert [c.type for c in t.children] == [TunnelKeyAttr.ID, TunnelKeyAttr.CSUM]
    assert e is not None and e.children == (Attribute(KeyAttr.ETHERTYPE, b"\x08\x00"),)
    assert encode_key(rec) == key


# --- canonical order --------------------------------------------------------------------


@given(flow_keys(), st.randoms(use_true_random=False))
def test_canonical_key_ignores_attribute_order(key: bytes, rnd: random.Random) -> None:
    attrs = list(decode_key(key).attrs)
    rnd.shuffle(attrs)
    shuffled = encode_key(FlowKey(tuple(attrs)))
    canon = canonical_key(key)
    assert canonical_key(shuffled) == canon
    assert canonical_key(canon) == canon
    assert encode_key(decode_key(shuffled), canonical=True) == canon
    assert sorted(decode_key(canon).types()) == sorted(decode_key(key).types())


def test_canonical_order_is_userspace_order() -> None:
    # OVS@HEAD odp_flow_key_from_flow__: recirc_id, dp_hash, skb_priority,
    # in_port, skb_mark, ..., eth, eth_type, ipv4, tcp.
    parts = [
        (KeyAttr.TCP, bytes(4)),
        (KeyAttr.IPV4, bytes(12)),
        (KeyAttr.ETHERTYPE, b"\x08\x00"),
        (KeyAttr.ETHERNET, bytes(12)),
        (KeyAttr.SKB_MARK, bytes(4)),
        (KeyAttr.IN_PORT, bytes(4)),
        (KeyAttr.PRIORITY, bytes(4)),
        (KeyAttr.DP_HASH, bytes(4)),
        (KeyAttr.RECIRC_ID, bytes(4)),
    ]
    key = b"".join(pack_attr(t, p) for t, p in parts)
    assert decode_key(canonical_key(key)).types() == tuple(t for t, _ in reversed(parts))


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"\x08\x00", "key"),  # truncated header
        (struct.pack("=HH", 3, 3), "key"),  # length shorter than the header
        (struct.pack("=HH", 12, 3) + b"\0\0\0\0", "key"),  # length lies
        (pack_attr(KeyAttr.IN_PORT, b"\1\0"), "key/in_port"),  # wrong fixed size
        (pack_attr(KeyAttr.IPV4, bytes(13)), "key/ipv4"),
        (pack_attr(KeyAttr.MPLS, bytes(6)), "key/mpls"),
        (pack_attr(KeyAttr.MPLS, bytes(2)), "key/mpls"),
        (pack_attr(KeyAttr.IN_PORT, _u32(1)) * 2, "key/in_port"),  # duplicate
        (pack_attr(KeyAttr.TUNNEL, pack_attr(TunnelKeyAttr.TTL, b"\1\2")), "key/tunnel/ttl"),
        (pack_attr(KeyAttr.TUNNEL, pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(6))), "key/tunnel/geneve"),
        (pack_attr(KeyAttr.TUNNEL, pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(256))), "key/tunnel/geneve"),
        (pack_attr(KeyAttr.ENCAP, b"\x05\x00\x03"), "key/encap"),
    ],
)
def test_malformed_keys_name_the_attribute(data: bytes, where: str) -> None:
    with pytest.raises(OdpDecodeError) as exc:
        validate_key(data)
    assert exc.value.where == where
    assert isinstance(exc.value, ValueError)


def test_every_linux_upcall_key_decodes_and_re_encodes_exactly() -> None:
    keys = kernel_upcall_keys()
    assert len(keys) > 400
    with_exthdrs = 0
    for key in keys:
        rec = decode_key(key)
        assert encode_key(rec) == key
        assert [a.type for a in rec.attrs] == [t for t, _, _ in iter_attrs(key, where="key")]
        exthdrs = rec.get(KeyAttr.IPV6_EXTHDRS)
        if exthdrs is not None:
            # struct ovs_key_ipv6_exthdrs: one host-order u16, kept verbatim.
            assert exthdrs.children is None and len(exthdrs.payload) == 2
            with_exthdrs += 1
    assert with_exthdrs > 0


def test_empty_mpls_stack_from_linux_upcalls_is_accepted() -> None:
    # Linux 6.1 sends an EMPTY MPLS attribute when a label stack is cut
    # short (observed: fixture kernel-6.1-upcall-keys.json, captured by H4).
    cut = [key for key in kernel_upcall_keys() if (KeyAttr.MPLS, b"") in _walk(key)]
    assert cut, "the fixture should hold keys of cut MPLS stacks"
    for key in cut:
        validate_key(key)
        rec = decode_key(key)
        assert encode_key(rec) == key
    assert decode_key(pack_attr(KeyAttr.MPLS, b"")).attrs == (Attribute(KeyAttr.MPLS, b""),)


def test_nesting_too_deep() -> None:
    key = pack_attr(KeyAttr.ETHERTYPE, b"\x08\x00")
    for _ in range(MAX_NESTING + 1):
        key = pack_attr(KeyAttr.ENCAP, key)
    with pytest.raises(OdpDecodeError, match="nesting deeper"):
        validate_key(key)
    # One level less is accepted.
    ok = pack_attr(KeyAttr.ETHERTYPE, b"\x08\x00")
    for _ in range(MAX_NESTING):
        ok = pack_attr(KeyAttr.ENCAP, ok)
    validate_key(ok)


def test_not_bytes_is_refused() -> None:
    with pytest.raises(OdpDecodeError):
        decode_key("in_port(1)")  # type: ignore[arg-type]


@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_decode_errors(data: bytes) -> None:
    try:
        rec = decode_key(data)
    except OdpDecodeError:
        return
    assert encode_key(rec) == data or len(encode_key(rec)) >= len(data)


@given(flow_keys(), st.data())
def test_mutated_keys_raise_only_decode_errors(key: bytes, data: st.DataObject) -> None:
    buf = bytearray(key)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and buf:
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut" and buf:
            del buf[data.draw(st.integers(0, len(buf) - 1)) :]
        else:
            i = data.draw(st.integers(0, len(buf)))
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=4))
    # Anything but OdpDecodeError (IndexError, struct.error, ...) fails the test.
    with contextlib.suppress(OdpDecodeError):
        validate_key(bytes(buf))


# --- payload sizes against the C header (independent: compiled by gcc) --------------------
# nd_ext (userspace only) is not in the Linux header.

_C_STRUCTS = {
    KeyAttr.ETHERNET: "struct ovs_key_ethernet",
    KeyAttr.IPV4: "struct ovs_key_ipv4",
    KeyAttr.IPV6: "struct ovs_key_ipv6",
    KeyAttr.TCP: "struct ovs_key_tcp",
    KeyAttr.UDP: "struct ovs_key_udp",
    KeyAttr.SCTP: "struct ovs_key_sctp",
    KeyAttr.ICMP: "struct ovs_key_icmp",
    KeyAttr.ICMPV6: "struct ovs_key_icmpv6",
    KeyAttr.ARP: "struct ovs_key_arp",
    KeyAttr.ND: "struct ovs_key_nd",
    KeyAttr.CT_LABELS: "struct ovs_key_ct_labels",
    KeyAttr.CT_ORIG_TUPLE_IPV4: "struct ovs_key_ct_tuple_ipv4",
    KeyAttr.CT_ORIG_TUPLE_IPV6: "struct ovs_key_ct_tuple_ipv6",
}


def test_fixed_sizes_match_the_linux_uapi_header(tmp_path: Path) -> None:
    """Payload sizes equal sizeof() of the structs in the installed Linux UAPI header, as gcc computes them."""
    require(shutil.which("gcc") is not None, "gcc is needed to compile the UAPI header (apt-get install gcc)")
    require(
        Path("/usr/include/linux/openvswitch.h").is_file(),
        "the Linux UAPI header is needed (apt-get install linux-libc-dev)",
    )
    lines = [f'printf("{int(t)} %zu\\n", sizeof({name}));' for t, name in _C_STRUCTS.items()]
    src = "#include <stdio.h>\n#include <linux/openvswitch.h>\nint main(void){" + "".join(lines) + "}\n"
    (tmp_path / "sizes.c").write_text(src)
    subprocess.run(["gcc", "-o", str(tmp_path / "sizes"), str(tmp_path / "sizes.c")], check=True, cwd=tmp_path)
    out = subprocess.run([str(tmp_path / "sizes")], check=True, capture_output=True, text=True).stdout
    sizes = {int(a): int(b) for a, b in (line.split() for line in out.splitlines())}
    assert len(sizes) == len(_C_STRUCTS)
    assert {t: KEY_ATTRS[t].length for t in sizes} == sizes


def test_tables_are_consistent() -> None:
    for table in (KEY_ATTRS, TUNNEL_ATTRS):
        for t, spec in table.items():
            assert spec.type == t
            if spec.length >= 0:
                for f in spec.fields:
                    assert f.offset + f.size <= spec.length, (spec.name, f.name)
            elif spec.length == Length.NESTED:
                assert spec.nested is not None
