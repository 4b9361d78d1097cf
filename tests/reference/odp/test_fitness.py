"""Tests for reference.odp.fitness (OVS odp_flow_key_to_flow's verdict on a key).

The differential test uses the real ovs-vswitchd: its userspace datapath
accepts a flow only when ``odp_flow_key_to_flow`` calls the key PERFECT
(lib/dpif-netdev.c dpif_netdev_flow_from_nlattrs), so "the daemon accepts
the key" and "key_fitness() is PERFECT" must agree.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conformance.backends._ovsd import PrivateOvs
from conformance.ovs_text import DAEMON_VLAN_LIMIT
from conformance.strategies import keys_with_masks
from reference._netlink import pack_attr
from reference.odp import format_key, parse_flow
from reference.odp.fitness import KeyFitness, fitness_report, key_fitness, mask_fitness, mask_fitness_report
from reference.odp.keys import Attribute, decode_key, encode_key
from reference.uapi import KeyAttr, TunnelKeyAttr
from tests._ovs import private_ovs
from tests.reference.odp.test_keys import kernel_upcall_keys


def _key(text: str) -> bytes:
    return parse_flow(text, with_mask=False).key


@pytest.mark.parametrize(
    ("text", "fitness"),
    [
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=17,frag=no),udp(src=1,dst=2)", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x0800)", KeyFitness.TOO_LITTLE),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=no)", KeyFitness.TOO_LITTLE),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=17,frag=no),tcp(src=1,dst=2)", KeyFitness.TOO_LITTLE),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=later)", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=later),tcp(src=1,dst=2)", KeyFitness.TOO_MUCH),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=99,frag=no),udp(src=1,dst=2)", KeyFitness.TOO_MUCH),
        ("in_port(1),eth(),eth_type(0x0806),arp(op=1)", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x0806),arp(op=256)", KeyFitness.ERROR),
        ("in_port(1),eth(),eth_type(0x0500)", KeyFitness.ERROR),
        ("in_port(1),eth(),eth_type(0x1234)", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135,code=0)", KeyFitness.TOO_LITTLE),
        (
            "in_port(1),eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135,code=0),nd(target=::1)",
            KeyFitness.PERFECT,
        ),
        ("in_port(1),eth(),eth_type(0x8847),mpls(label=1,tc=0,ttl=64,bos=1)", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x8847),mpls(label=1,tc=0,ttl=64,bos=0)", KeyFitness.TOO_LITTLE),
        # An empty stack (Linux upcalls, cut stack): "MPLS LSEs have invalid length 0".
        ("in_port(1),eth(),eth_type(0x8847),mpls((bad key length 0)", KeyFitness.ERROR),
        (
            "in_port(1),eth(),eth_type(0x8847),mpls(label=1,tc=0,ttl=64,bos=1,label=2,tc=0,ttl=64,bos=1)",
            KeyFitness.ERROR,
        ),
        (
            "in_port(1),eth(),eth_type(0x8100),vlan(vid=5),encap(eth_type(0x0800),ipv4(proto=0,frag=no))",
            KeyFitness.PERFECT,
        ),
        ("in_port(1),eth(),eth_type(0x8100),vlan(vid=5)", KeyFitness.TOO_LITTLE),
        ("in_port(1),eth(),eth_type(0x8100),vlan(vid=5,cfi=0),encap(eth_type(0x0800))", KeyFitness.ERROR),
        ("in_port(1),eth(),eth_type(0x8100),vlan(vid=5),encap(eth_type(0x0800))", KeyFitness.TOO_LITTLE),
        ("in_port(1),eth(),eth_type(0x8100),vlan(vid=0,pcp=0,cfi=0),encap()", KeyFitness.PERFECT),
        ("in_port(1),eth(),eth_type(0x8100),vlan(vid=0,pcp=0,cfi=0),encap(eth_type(0x0800))", KeyFitness.TOO_MUCH),
        ("tunnel(tun_id=0x1,dst=1.1.1.1,ttl=64),in_port(1),eth(),eth_type(0x1234)", KeyFitness.PERFECT),
        ("tunnel(tun_id=0x1,dst=1.1.1.1),in_port(1),eth(),eth_type(0x1234)", KeyFitness.ERROR),
    ],
)
def test_fitness_examples(text: str, fitness: KeyFitness) -> None:
    report = fitness_report(_key(text))
    assert report.fitness == fitness, report.detail
    assert (report.detail == "") == (fitness == KeyFitness.PERFECT)


def test_unknown_top_level_attributes_are_ignored() -> None:
    # OVS ignores types above OVS_KEY_ATTR_MAX (e.g. Linux's IPV6_EXTHDRS = 32).
    base = _key("in_port(1),eth(),eth_type(0x1234)")
    assert key_fitness(base + pack_attr(32, b"\0\0")) == KeyFitness.PERFECT


def test_linux_ipv6_exthdrs_does_not_change_the_fitness() -> None:
    # Every IPv6 upcall key of Linux 6.1 carries IPV6_EXTHDRS (32), a type
    # OVS 3.1 userspace does not know. parse_flow_nlattrs reports it as out of
    # range, but odp_flow_key_to_flow__ (lib/odp-util.c, v3.1.0) then resets
    # out_of_range_attr "to be backward compatible with newer datapath
    # implementations", so check_expectations never sees it: the verdict is
    # the one of the same key without attribute 32 (PERFECT for a whole key).
    verdicts = []
    for key in kernel_upcall_keys():
        attrs = decode_key(key).attrs
        if not any(a.type == KeyAttr.IPV6_EXTHDRS for a in attrs):
            continue
        without = encode_key([a for a in attrs if a.type != KeyAttr.IPV6_EXTHDRS])
        assert fitness_report(key) == fitness_report(without)
        verdicts.append(key_fitness(key))
    assert KeyFitness.PERFECT in verdicts


def test_unknown_tunnel_attributes_are_too_much() -> None:
    tun = pack_attr(TunnelKeyAttr.TTL, b"\x40") + pack_attr(30, b"\1\2\3\4")
    key = pack_attr(KeyAttr.TUNNEL, tun) + _key("in_port(1),eth(),eth_type(0x1234)")
    assert key_fitness(key) == KeyFitness.TOO_MUCH


def test_malformed_or_duplicate_is_error() -> None:
    assert key_fitness(b"\x08\x00\x03") == KeyFitness.ERROR
    one = _key("in_port(1)")
    assert key_fitness(one + one) == KeyFitness.ERROR


@given(st.binary(max_size=120) | keys_with_masks().map(lambda pair: pair[0][: len(pair[0]) // 2]))
def test_any_bytes_get_a_verdict(data: bytes) -> None:
    # odp_flow_key_to_flow never fails: malformed input is ERROR, not an exception.
    assert isinstance(key_fitness(data), KeyFitness)


def test_vlan_limit() -> None:
    qinq = _key(
        "in_port(1),eth(),eth_type(0x88a8),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),"
        "encap(eth_type(0x0800),ipv4(proto=0,frag=no)))"
    )
    assert key_fitness(qinq) == KeyFitness.PERFECT
    assert key_fitness(qinq, vlan_limit=1) == KeyFitness.TOO_MUCH


# --- differential against ovs-vswitchd -------------------------------------------------------


@pytest.fixture(scope="module")
def ovs() -> Iterator[PrivateOvs]:
    yield from private_ovs()


def _daemon_takes(ovs: PrivateOvs, text: str) -> bool:
    """Whether ``dpctl/add-flow`` stores the flow ``text`` (the datapath is emptied afterwards)."""
    try:
        ovs.appctl("dpctl/add-flow", ovs.dp, text, "2")
        return True
    except OSError:
        return False
    finally:
        ovs.appctl("dpctl/del-flows", ovs.dp)


def _exact_in_port(pair: tuple[bytes, bytes]) -> list[Attribute]:
    attrs = [a for a in decode_key(pair[0]).attrs if a.type != KeyAttr.IN_PORT]
    return [Attribute(KeyAttr.IN_PORT, struct.pack("=I", 1)), *attrs]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys_with_masks().map(_exact_in_port), st.data())
def test_daemon_accepts_exactly_the_perfect_keys(ovs: PrivateOvs, attrs: list[Attribute], data: st.DataObject) -> None:
    if len(attrs) > 2 and data.draw(st.booleans(), label="drop an attribute"):
        del attrs[data.draw(st.integers(1, len(attrs) - 1), label="which")]
    types = {a.type for a in attrs}
    # A key with eth() but no eth_type needs a mask-only eth_type(0/0xffff),
    # which the text format cannot express; the daemon refuses the *mask*.
    if KeyAttr.ETHERNET in types and KeyAttr.ETHERTYPE not in types:
        return
    key = encode_key(attrs)
    text = format_key(key, verbose=True)
    note(text)
    report = fitness_report(key)
    assert _daemon_takes(ovs, text) == (report.fitness == KeyFitness.PERFECT), report


# --- the mask: odp_flow_key_to_mask ----------------------------------------------------------

_ND = "in_port(1),eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135,code=0{code}),nd(target=::1{nd})"


@pytest.mark.parametrize(
    ("text", "fitness", "detail"),
    [
        ("in_port(1),eth(),eth_type(0x0800),ipv4(proto=17,frag=no),udp(src=1,dst=2/0xff)", KeyFitness.PERFECT, ""),
        (_ND.format(code="", nd=""), KeyFitness.PERFECT, ""),
        # lib/odp-util.c parse_l2_5_onward: an ND mask needs an exact ICMPv6 type and code.
        (_ND.format(code="/0xfe", nd=""), KeyFitness.ERROR, "ICMP (src,dst) masks should be (0xff,0xff)"),
        (_ND.format(code="/0", nd=""), KeyFitness.ERROR, "are actually (0xff,0)"),
        # ... unless the ND mask is all zero.
        (_ND.format(code="/0", nd="/::"), KeyFitness.PERFECT, ""),
        # parse_ethertype: a masked Ethertype cannot carry an L3 match.
        ("in_port(1),eth(),eth_type(0x0800/0xff00),ipv4(src=1.2.3.4,frag=no)", KeyFitness.ERROR, "masked Ethertype"),
        ("in_port(1),eth(),eth_type(0x0800/0xff00),ipv4(src=1.2.3.4/0.0.0.0)", KeyFitness.PERFECT, ""),
        # An L4 match needs the IP protocol exact.
        (
            "in_port(1),eth(),eth_type(0x0800),ipv4(proto=6/0x7f,frag=no),tcp(src=1)",
            KeyFitness.ERROR,
            "does not define an L4 protocol",
        ),
        # eth() without eth_type: the mask must say eth_type(0/0xffff) (parse_ethertype, mask path).
        ("in_port(1),eth()", KeyFitness.ERROR, "mask expected for non-Ethernet II frame"),
        # VLAN: the encap() level is checked with the inner Ethertype's mask.
        (
            "in_port(1),eth(),eth_type(0x8100),vlan(vid=5),encap(eth_type(0x0800),ipv4(proto=17,frag=no),udp(dst=53))",
            KeyFitness.PERFECT,
            "",
        ),
        (
            "in_port(1),eth(),eth_type(0x8100),vlan(vid=5),encap(eth_type(0x0800/0),ipv4(proto=17,frag=no),udp(dst=53))",
            KeyFitness.ERROR,
            "masked Ethertype",
        ),
        ("tunnel(tun_id=0x1,dst=1.1.1.1,ttl=64),in_port(1),eth(),eth_type(0x1234)", KeyFitness.PERFECT, ""),
        # The key's verdict comes first: odp_flow_key_to_mask needs the parsed key.
        ("in_port(1),eth(),eth_type(0x0800)", KeyFitness.TOO_LITTLE, "expected but not present: ipv4"),
    ],
)
def test_mask_fitness_examples(text: str, fitness: KeyFitness, detail: str) -> None:
    flow = parse_flow(text)
    assert flow.mask is not None
    report = mask_fitness_report(flow.key, flow.mask)
    assert report.fitness == fitness, report
    assert detail in report.detail
    assert mask_fitness(flow.key, flow.mask) == fitness


def test_mask_attributes_the_key_does_not_call_for_are_too_much() -> None:
    flow = parse_flow("in_port(1),eth(),eth_type(0x0800),ipv4(proto=17,frag=no),udp(src=1,dst=2)")
    assert flow.mask is not None
    tcp_mask = pack_attr(KeyAttr.TCP, b"\xff\xff\0\0")
    report = mask_fitness_report(flow.key, flow.mask + tcp_mask)
    assert report.fitness == KeyFitness.TOO_MUCH
    assert "tcp" in report.detail


def test_a_mask_only_ethertype_lets_eth_without_eth_type_in() -> None:
    # odp_flow_key_from_mask writes eth_type(0/0xffff) into the mask alone
    # for such a key (the text format cannot say it: see the daemon test above).
    flow = parse_flow("in_port(1),eth()")
    assert flow.mask is not None
    exact_type = pack_attr(KeyAttr.ETHERTYPE, b"\xff\xff")
    assert mask_fitness(flow.key, flow.mask + exact_type) == KeyFitness.PERFECT
    assert mask_fitness(flow.key, flow.mask + pack_attr(KeyAttr.ETHERTYPE, b"\xff\x00")) == KeyFitness.ERROR


def test_an_absent_mask_is_exact_and_bad_mask_bytes_are_error() -> None:
    key = _key("in_port(1),eth(),eth_type(0x1234)")
    assert mask_fitness(key, b"") == KeyFitness.PERFECT
    assert mask_fitness(key, b"\x08\x00\x03") == KeyFitness.ERROR


@given(keys_with_masks())
def test_any_mask_gets_a_verdict(pair: tuple[bytes, bytes]) -> None:
    # No exception whatever the pair; a key that is not PERFECT keeps its own verdict.
    key, mask = pair
    verdict = mask_fitness(key, mask)
    if key_fitness(key) != KeyFitness.PERFECT:
        assert verdict == key_fitness(key)


def test_daemon_refuses_qinq_at_its_default_vlan_limit(ovs: PrivateOvs) -> None:
    # bridge_reconfigure (vswitchd/bridge.c) applies other_config:vlan-limit's
    # default LEGACY_MAX_VLAN_HEADERS, 1: a second tag is TOO_MUCH.
    text = (
        "in_port(1),eth(),eth_type(0x88a8),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),"
        "encap(eth_type(0x0800),ipv4(proto=0,frag=no)))"
    )
    flow = parse_flow(text)
    assert flow.mask is not None
    assert mask_fitness(flow.key, flow.mask) == KeyFitness.PERFECT
    assert mask_fitness(flow.key, flow.mask, vlan_limit=DAEMON_VLAN_LIMIT) == KeyFitness.TOO_MUCH
    with pytest.raises(OSError, match="updating flow table"):
        ovs.appctl("dpctl/add-flow", ovs.dp, text, "2")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys_with_masks().map(_exact_in_port), st.data())
def test_daemon_accepts_exactly_the_flows_whose_key_and_mask_are_perfect(
    ovs: PrivateOvs, attrs: list[Attribute], data: st.DataObject
) -> None:
    # dpif_netdev_flow_put (lib/dpif-netdev.c) refuses a flow unless
    # odp_flow_key_to_flow and odp_flow_key_to_mask both say PERFECT. The
    # mask is the one the daemon's parser makes of the text; parse_flow makes
    # the same (the OVS text differential checks that).
    if len(attrs) > 2 and data.draw(st.booleans(), label="drop an attribute"):
        del attrs[data.draw(st.integers(1, len(attrs) - 1), label="which")]
    text = format_key(encode_key(attrs), verbose=True)
    note(text)
    flow = parse_flow(text)
    assert flow.mask is not None
    report = mask_fitness_report(flow.key, flow.mask, vlan_limit=DAEMON_VLAN_LIMIT)
    assert _daemon_takes(ovs, text) == (report.fitness == KeyFitness.PERFECT), report
