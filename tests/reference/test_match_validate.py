"""Key and mask validation of the reference datapath: the kernel's match_validate and dpif-netdev's fitness rule.

Each case is one rule of net/openvswitch/flow_netlink.c (ovs_nla_get_match,
ovs_key_from_nlattrs, parse_vlan_from_nlattrs, match_validate), written from
the C source and built here with plain ``struct`` (tests/reference/_flowbuild),
not with the code under test. The "Missing key" bitmaps come from the real
Linux 6.1 kernel's dmesg (measured on this project's CI machine).
"""

from __future__ import annotations

import errno
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.strategies import datapath_keys_with_masks, keys_with_masks
from reference.datapath import FlowRequest, ReferenceDatapath
from reference.dpif import Dpif, DpifError, DpifInvalid, DpifNotFound
from reference.odp.fitness import KeyFitness, key_fitness
from reference.uapi import FlowCmd
from reference.ufid import Ufid
from tests.reference._flowbuild import attr, meaning

U = Ufid.from_words((0x0B, 0x0C, 0x0D, 0x0E))
V = Ufid.from_words((0x1B, 0x1C, 0x1D, 0x1E))

# OVS_KEY_ATTR_* (include/uapi/linux/openvswitch.h)
ENCAP, PRIORITY, IN_PORT, ETH, VLAN, ETHERTYPE, IPV4, IPV6, TCP, UDP = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
ICMP, ICMPV6, ARP, ND, SKB_MARK, SCTP, TCP_FLAGS, MPLS, CT_STATE = 11, 12, 13, 14, 15, 17, 18, 21, 22
CT_ORIG_TUPLE_IPV6, PACKET_TYPE, ND_EXTENSIONS = 27, 29, 30


def in_port(n: int = 1) -> bytes:
    return attr(IN_PORT, struct.pack("=I", n))


def eth() -> bytes:
    return attr(ETH, bytes(range(1, 13)))


def eth_type(v: int) -> bytes:
    return attr(ETHERTYPE, struct.pack("!H", v))


def base(et: int) -> bytes:
    return in_port() + eth() + eth_type(et)


def ipv4(proto: int, frag: int = 0) -> bytes:
    return attr(IPV4, bytes([10, 0, 0, 1, 10, 0, 0, 2, proto, 0, 64, frag]))


def ipv6(proto: int, frag: int = 0, label: int = 0) -> bytes:
    return attr(
        IPV6, bytes(15) + b"\x01" + bytes(15) + b"\x02" + struct.pack("!I", label) + bytes([proto, 0, 64, frag])
    )


def ports(t: int) -> bytes:
    return attr(t, struct.pack("!HH", 1, 2))


def flags() -> bytes:
    return attr(TCP_FLAGS, struct.pack("!H", 0x02))


def icmp(t: int, typ: int, code: int = 0) -> bytes:
    return attr(t, bytes([typ, code]))


def nd() -> bytes:
    return attr(ND, bytes(28))


def arp(op: int) -> bytes:
    return attr(ARP, bytes(8) + struct.pack("!H", op) + bytes(12) + bytes(2))


def mpls() -> bytes:
    return attr(MPLS, struct.pack("!I", (1 << 12) | 0x100 | 64))


def vlan(tci: int, inner: bytes) -> bytes:
    return in_port() + eth() + eth_type(0x8100) + attr(VLAN, struct.pack("!H", tci)) + attr(ENCAP, inner)


def qinq(inner: bytes, ctci: int = 0x1006) -> bytes:
    """802.1ad outer tag (TCI 0x1005), 802.1Q inner tag ``ctci``, then ``inner`` (parse_vlan_from_nlattrs: C-VLAN)."""
    c = eth_type(0x8100) + attr(VLAN, struct.pack("!H", ctci)) + attr(ENCAP, inner)
    return in_port() + eth() + eth_type(0x88A8) + attr(VLAN, b"\x10\x05") + attr(ENCAP, c)


def ones(key: bytes, **over: bytes) -> bytes:
    """An exact mask for ``key`` (top-level attributes; nested ones copied), with payloads replaced per ``over``."""
    out, pos = b"", 0
    while pos < len(key):
        length, t = struct.unpack_from("=HH", key, pos)
        payload = key[pos + 4 : pos + length]
        # encap() keeps the key's inner attributes as their own mask (non-zero where the key is)
        new = payload if t == ENCAP else over.get(str(t), b"\xff" * len(payload))
        out += attr(t, new)
        pos += (length + 3) & ~3
    return out


TCP4 = base(0x0800) + ipv4(6) + ports(TCP) + flags()
ND6 = base(0x86DD) + ipv6(58) + icmp(ICMPV6, 135) + nd()

# (id, key, mask or None, what the refusal names)
REFUSED = [
    ("ipv4-missing", base(0x0800), None, "ipv4"),
    ("ipv6-missing", base(0x86DD), None, "ipv6"),
    ("tcp-missing", base(0x0800) + ipv4(6), None, "tcp"),
    ("tcp-flags-missing", base(0x0800) + ipv4(6) + ports(TCP), None, "keys=2d8, expected=40280"),
    ("tcp6-flags-missing", base(0x86DD) + ipv6(6) + ports(TCP), None, "tcp_flags"),
    ("udp-missing", base(0x0800) + ipv4(17), None, "udp"),
    ("udp6-missing", base(0x86DD) + ipv6(17), None, "udp"),
    ("sctp-missing", base(0x0800) + ipv4(132), None, "sctp"),
    ("icmp-missing", base(0x0800) + ipv4(1), None, "icmp"),
    ("icmpv6-missing", base(0x86DD) + ipv6(58), None, "icmpv6"),
    ("nd-missing-ns", base(0x86DD) + ipv6(58) + icmp(ICMPV6, 135), None, "nd"),
    # the kernel looks at the type only (userspace's is_nd also wants code 0)
    ("nd-missing-na-code1", base(0x86DD) + ipv6(58) + icmp(ICMPV6, 136, 1), None, "nd"),
    ("arp-missing", base(0x0806), None, "arp"),
    ("rarp-missing", base(0x8035), None, "arp"),
    ("mpls-missing", base(0x8847), None, "mpls"),
    ("mpls-mc-missing", base(0x8848), None, "mpls"),
    ("nsh-missing", base(0x894F), None, "nsh"),
    ("inner-ipv4-missing", vlan(0x1005, eth_type(0x0800)), None, "ipv4"),
    ("no-eth-no-ethertype", in_port(), None, "eth() or eth_type()"),
    ("ethertype-below-0x600", base(0x05FF), None, "EtherType"),
    ("ipv4-frag-3", base(0x0800) + ipv4(17, frag=3) + ports(UDP), None, "frag"),
    ("ipv6-label-21-bits", base(0x86DD) + ipv6(17, label=0x100000) + ports(UDP), None, "label"),
    ("arp-op-256", base(0x0806) + arp(0x100), None, "ARP opcode"),
    ("in-port-dp-max", in_port(0xFFFF) + eth() + eth_type(0x1234), None, "in_port"),
    ("ct-state-unsupported", base(0x1234) + attr(CT_STATE, struct.pack("=I", 0x100)), None, "ct_state"),
    ("nd-extensions", ND6 + attr(ND_EXTENSIONS, bytes(8)), None, "not supported"),
    ("vlan-without-encap", in_port() + eth() + eth_type(0x8100) + attr(VLAN, b"\x10\x05"), None, "VLAN frame"),
    ("vlan-tci-without-cfi", vlan(0x0005, eth_type(0x1234)), None, "CFI"),
    ("truncated-vlan-nonempty-encap", vlan(0x0000, eth_type(0x1234)), None, "truncated"),
    ("vlan-attr-not-vlan-ethertype", base(0x1234) + attr(VLAN, b"\x10\x05"), None, "vlan() unexpected"),
    ("encap-without-vlan", base(0x1234) + attr(ENCAP, eth_type(0x0800)), None, "encap"),
    # A truncated VLAN key (TCI 0, empty encap) with a non-zero vlan() mask: the
    # empty encap() mask is all-zero and left out, so the vlan() mask is not
    # consumed and ovs_key_from_nlattrs refuses it ("VLAN attribute unexpected").
    ("truncated-vlan-exact-mask", vlan(0x0000, b""), None, "vlan() unexpected"),
    ("qinq-inner-ipv4-missing", qinq(eth_type(0x0800)), None, "ipv4"),
    ("qinq-inner-tci-without-cfi", qinq(eth_type(0x1234), ctci=0x0006), None, "C-VLAN TCI"),
    ("duplicate-inside-encap", vlan(0x1005, eth_type(0x1234) + in_port(2)), None, "duplicate"),
    # masks
    ("mask-ipv4-ethertype-wild", TCP4, ones(TCP4, **{str(ETHERTYPE): b"\0\0"}), "unexpected mask attributes: ipv4"),
    (
        "mask-tcp-proto-partial",
        TCP4,
        ones(TCP4, **{str(IPV4): b"\xff" * 8 + b"\xf0\xff\xff\xff"}),
        "unexpected mask attributes: tcp, tcp_flags",
    ),
    ("mask-nd-type-partial", ND6, ones(ND6, **{str(ICMPV6): b"\x0f\xff"}), "unexpected mask attributes: nd"),
    (
        "mask-ct-tuple6-with-nd",
        ND6 + attr(CT_ORIG_TUPLE_IPV6, bytes(40)),
        None,
        "unexpected mask attributes: ct_orig_tuple_ipv6",
    ),
    ("mask-priority-not-in-key", base(0x1234), ones(base(0x1234)) + attr(PRIORITY, b"\xff" * 4), "mask names a field"),
    (
        "mask-encap-non-vlan",
        base(0x1234),
        ones(base(0x1234)) + attr(ENCAP, attr(ETHERTYPE, b"\xff\xff")),
        "mask names a field",
    ),
    ("mask-ct-state-32-bits", base(0x1234) + attr(CT_STATE, bytes(4)), None, "ct_state"),
    (
        "mask-vlan-tpid-wild",
        vlan(0x1005, eth_type(0x1234)),
        ones(vlan(0x1005, eth_type(0x1234)), **{str(ETHERTYPE): b"\0\0"}),
        "TPID",
    ),
]
# the 32-bit ct_state mask case needs its mask spelled out
REFUSED = [
    (n, k, ones(k, **{str(CT_STATE): b"\xff" * 4}) if n == "mask-ct-state-32-bits" else m, w) for n, k, m, w in REFUSED
]

ACCEPTED = [
    ("eth-type-other", base(0x1234), None),
    ("eth-without-ethertype", in_port() + eth(), None),  # 802.2 frame: eth.type = ETH_P_802_2
    ("l3-packet", in_port() + eth_type(0x0800) + ipv4(17) + ports(UDP), None),
    ("tcp-complete", TCP4, None),
    ("tcp6-complete", base(0x86DD) + ipv6(6) + ports(TCP) + flags(), None),
    ("later-fragment-no-l4", base(0x0800) + ipv4(6, frag=2), None),
    ("icmp-under-ipv6-not-expected", base(0x86DD) + ipv6(1), None),
    ("icmpv6-under-ipv4-not-expected", base(0x0800) + ipv4(58), None),
    ("icmpv6-echo", base(0x86DD) + ipv6(58) + icmp(ICMPV6, 128), None),
    ("nd-complete", ND6, None),
    ("arp-complete", base(0x0806) + arp(1), None),
    ("mpls-complete", base(0x8847) + mpls(), None),
    ("vlan-complete", vlan(0x1005, eth_type(0x0800) + ipv4(17) + ports(UDP)), None),
    ("qinq-complete", qinq(eth_type(0x0800) + ipv4(17) + ports(UDP)), None),
    ("truncated-vlan-tci-wild", vlan(0x0000, b""), ones(vlan(0x0000, b""), **{str(VLAN): b"\0\0"})),
    (
        "mask-l3-l4-wild-with-ethertype-wild",
        TCP4,
        ones(TCP4, **{str(ETHERTYPE): b"\0\0", str(IPV4): bytes(12), str(TCP): bytes(4), str(TCP_FLAGS): bytes(2)}),
    ),
    ("mask-ct-state-supported", base(0x1234) + attr(CT_STATE, bytes(4)), None),
    ("mask-nd-type-exact", ND6, ones(ND6, **{str(ICMPV6): b"\xff\x00"})),
]


def _seeded(ufid_support: bool = True) -> ReferenceDatapath:
    dp = ReferenceDatapath(ufid_support=ufid_support)
    dp.flow_put(base(0x1234), None, b"", ufid=V)
    return dp


def _snapshot(dp: ReferenceDatapath) -> list[str]:
    return sorted(repr(f) for f in dp.flow_dump())


@pytest.mark.parametrize("ufid_support", [True, False], ids=["kernel", "legacy"])
@pytest.mark.parametrize(("name", "key", "mask", "what"), REFUSED, ids=[c[0] for c in REFUSED])
def test_kernel_refuses(name: str, key: bytes, mask: bytes | None, what: str, ufid_support: bool) -> None:
    dp = _seeded(ufid_support=ufid_support)
    before = _snapshot(dp)
    with pytest.raises(DpifInvalid) as info:
        dp.flow_put(key, mask, b"", ufid=U)
    assert what in str(info.value)
    assert _snapshot(dp) == before
    # OVS_FLOW_CMD_SET parses the match the same way
    with pytest.raises(DpifInvalid):
        dp.flow_request(FlowRequest(FlowCmd.SET, key=key, mask=mask, ufid=V.to_wire()))
    assert _snapshot(dp) == before


@pytest.mark.parametrize("ufid_support", [True, False], ids=["kernel", "legacy"])
@pytest.mark.parametrize(("name", "key", "mask"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_kernel_accepts(name: str, key: bytes, mask: bytes | None, ufid_support: bool) -> None:
    dp = ReferenceDatapath(ufid_support=ufid_support)
    dp.flow_put(key, mask, b"", ufid=U)
    assert len(dp) == 1


def test_packet_type_is_refused_by_the_kernel_and_stripped_by_dpif_netlink() -> None:
    key = base(0x1234) + attr(PACKET_TYPE, bytes(4))
    mask = ones(key)
    dp = ReferenceDatapath()
    # __parse_flow_nlattrs: "Key type 29 is not supported"
    with pytest.raises(DpifInvalid, match="not supported"):
        dp.flow_request(FlowRequest(FlowCmd.NEW, key=key, mask=mask, actions=b"", ufid=U.to_wire()))
    assert len(dp) == 0
    # the Dpif methods map onto netlink as dpif-netlink does: put_exclude_packet_type
    dp.flow_put(key, mask, b"", ufid=U)
    got = dp.flow_get(ufid=U)
    assert got.key is not None and got.mask is not None
    assert meaning(got.key) == meaning(base(0x1234)) and meaning(got.mask) == meaning(ones(base(0x1234)))
    dp.flow_flush()
    dp.flow_put(key, mask, b"")  # key-identified: found again by the same key, packet_type and all
    assert meaning(dp.flow_get(key=key).key or b"") == meaning(base(0x1234))
    dp.flow_del(key=key)
    assert len(dp) == 0


KEY_ONLY = [c for c in REFUSED if c[2] is None and "missing" in c[0]]


@pytest.mark.parametrize(("name", "key", "mask", "what"), KEY_ONLY, ids=[c[0] for c in KEY_ONLY])
def test_get_and_del_check_the_key_too(name: str, key: bytes, mask: bytes | None, what: str) -> None:
    # ovs_flow_cmd_get/del run ovs_nla_get_match with no mask: "Missing key" still applies, before any lookup.
    dp = _seeded()
    for cmd in (FlowCmd.GET, FlowCmd.DEL):
        with pytest.raises(DpifError) as info:
            dp.flow_request(FlowRequest(cmd, key=key))
        assert info.value.errno == errno.EINVAL
    assert len(dp) == 1


# ---------------------------------------------------------------------------
# netdev: odp_flow_key_to_flow must fit perfectly (dpif_netdev_flow_from_nlattrs)
# ---------------------------------------------------------------------------

NETDEV = [
    ("ipv4-missing", base(0x0800), False),
    ("arp-missing", base(0x0806), False),
    ("tcp-missing", base(0x0800) + ipv4(6), False),
    ("tcp-without-flags", base(0x0800) + ipv4(6) + ports(TCP), True),  # tcp_flags is optional in userspace
    ("udp-under-tcp-proto", base(0x0800) + ipv4(6) + ports(UDP), False),
    ("nd-code1-no-nd", base(0x86DD) + ipv6(58) + icmp(ICMPV6, 136, 1), True),  # is_nd wants code 0
    ("nd-missing", base(0x86DD) + ipv6(58) + icmp(ICMPV6, 135), False),
    ("later-fragment-with-l4", base(0x0800) + ipv4(6, frag=2) + ports(TCP) + flags(), False),
    ("complete", TCP4, True),
]


@pytest.mark.parametrize(("name", "key", "ok"), NETDEV, ids=[c[0] for c in NETDEV])
def test_netdev_needs_a_perfect_fit(name: str, key: bytes, ok: bool) -> None:
    dp = ReferenceDatapath(semantics="netdev")
    dp.flow_put(base(0x1234), None, b"", ufid=V)
    before = _snapshot(dp)
    if ok:
        dp.flow_put(key, None, b"", ufid=U)
        assert dp.flow_get(ufid=U).ufid == U
        return
    with pytest.raises(DpifInvalid):
        dp.flow_put(key, None, b"", ufid=U)
    assert _snapshot(dp) == before
    # dp_netdev_pmd_find_flow: a key that does not convert gives no UFID, so no flow
    with pytest.raises(DpifNotFound):
        dp.flow_get(key=key)


def _with_exact_in_port(key: bytes) -> bytes:
    # dpif-netdev also refuses a wildcarded in_port; give every key one so that
    # the fitness rule is the only one left to decide.
    out, pos, has = b"", 0, False
    while pos + 4 <= len(key):
        length, t = struct.unpack_from("=HH", key, pos)
        if length < 4:
            return key
        if t == IN_PORT:
            has = True
        out += key[pos : pos + ((length + 3) & ~3)]
        pos += (length + 3) & ~3
    return out if has else in_port(1) + out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.one_of(keys_with_masks(), datapath_keys_with_masks()))
def test_netdev_accepts_iff_the_key_fits_perfectly(pair: tuple[bytes, bytes]) -> None:
    key = _with_exact_in_port(pair[0])
    dp = ReferenceDatapath(semantics="netdev")
    try:
        dp.flow_put(key, None, b"", ufid=U)
        accepted = True
    except DpifInvalid as exc:
        if "in_port" in str(exc) or "ct_state" in str(exc):
            return  # other dpif-netdev rules, not the one under test
        accepted = False
    assert accepted == (key_fitness(key) is KeyFitness.PERFECT)


@settings(max_examples=150, deadline=None)
@given(pair=datapath_keys_with_masks())
def test_datapath_strategy_yields_what_the_kernel_accepts(pair: tuple[bytes, bytes]) -> None:
    key, mask = pair
    dp = ReferenceDatapath()
    dp.flow_put(key, mask, b"", ufid=U)
    assert len(dp) == 1


@pytest.mark.parametrize("semantics", ["kernel", "netdev"])
def test_masks_are_stored_as_the_flow_key_struct_holds_them(semantics: str) -> None:
    # ovs_key_from_nlattrs (is_mask): the ARP opcode goes into the u8 ip.proto, so
    # an opcode mask of 0xffff comes back as 0x00ff (dpif-netdev: u8 nw_proto too).
    key = base(0x0806) + arp(1)
    mask = ones(key)
    dp = ReferenceDatapath(semantics=semantics)  # type: ignore[arg-type]
    dp.flow_put(key, mask, b"", ufid=U)
    got = dp.flow_get(ufid=U).mask
    assert got is not None
    at = got.index(struct.pack("=HH", 28, ARP))
    assert got[at + 4 + 8 : at + 4 + 10] == b"\x00\xff"


def test_kernel_in_port_mask_is_always_exact() -> None:
    # metadata_from_nlattrs (is_mask): a non-zero in_port mask is stored as 0xffffffff.
    key = base(0x1234)
    dp = ReferenceDatapath()
    dp.flow_put(key, ones(key, **{str(IN_PORT): struct.pack("=I", 0xFF)}), b"", ufid=U)
    got = dp.flow_get(ufid=U).mask
    assert got is not None and attr(IN_PORT, b"\xff" * 4) in got
    # so a flow on port 257 (equal to port 1 under the given 0xff mask) does not overlap it
    dp.flow_put(in_port(1 + 256) + eth() + eth_type(0x1234), ones(key), b"", ufid=V)
    assert len(dp) == 2
    # dpif-netdev keeps the mask as given and refuses it: "in_port is not an exact match"
    netdev = ReferenceDatapath(semantics="netdev")
    with pytest.raises(DpifInvalid, match="in_port"):
        netdev.flow_put(key, ones(key, **{str(IN_PORT): struct.pack("=I", 0xFF)}), b"", ufid=U)


# ---------------------------------------------------------------------------
# the same cases against the real Linux 6.1 module (QEMU/TCG guest, ~7 s boot)
# ---------------------------------------------------------------------------


def test_every_case_agrees_with_linux_6_1() -> None:
    """Each refused/accepted case gives the same errno from the real kernel as from the reference."""
    from conformance.backends import _qemu
    from conformance.backends.kernel import kernel
    from tests._support import require

    reason = _qemu.unavailable_reason()
    require(reason is None, f"kernel VM: {reason}")
    cases = [(n, k, m) for n, k, m, _ in REFUSED] + ACCEPTED

    def outcome(dp: Dpif, key: bytes, mask: bytes | None) -> int:
        try:
            dp.flow_flush()
            dp.flow_put(key, mask, b"", ufid=U)
        except DpifError as exc:
            return exc.errno or -1
        return 0

    real = kernel(where="vm")
    try:
        got = [(n, outcome(real, k, m)) for n, k, m in cases]
    finally:
        real.close()
    want = [(n, outcome(ReferenceDatapath(), k, m)) for n, k, m in cases]
    assert got == want
    assert {e for _, e in got} == {0, errno.EINVAL}  # both outcomes exercised


def _all_ones(data: bytes) -> bytes:
    """An exact mask at every nesting level (encap() recursed into)."""
    out, pos = b"", 0
    while pos < len(data):
        length, t = struct.unpack_from("=HH", data, pos)
        payload = data[pos + 4 : pos + length]
        out += attr(t, _all_ones(payload) if t == ENCAP else b"\xff" * len(payload))
        pos += (length + 3) & ~3
    return out


def _payload_at(data: bytes, path: tuple[int, ...]) -> bytes:
    pos = 0
    while pos < len(data):
        length, t = struct.unpack_from("=HH", data, pos)
        if t == path[0]:
            payload = data[pos + 4 : pos + length]
            return payload if len(path) == 1 else _payload_at(payload, path[1:])
        pos += (length + 3) & ~3
    raise AssertionError(f"no attribute path {path}")


@pytest.mark.parametrize("semantics", ["kernel", "netdev"])
@pytest.mark.parametrize(
    ("key", "path"),
    [
        (base(0x0806) + arp(1), (ARP,)),
        (vlan(0x1005, eth_type(0x0806) + arp(1)), (ENCAP, ARP)),
        (qinq(eth_type(0x0806) + arp(1)), (ENCAP, ENCAP, ARP)),
    ],
    ids=["top", "802.1q", "802.1ad+802.1q"],
)
def test_arp_opcode_mask_loses_its_high_byte_at_every_nesting_level(
    semantics: str, key: bytes, path: tuple[int, ...]
) -> None:
    # The attributes inside encap() fill the same struct sw_flow_key as the outer ones
    # (flow_netlink.c parse_vlan_from_nlattrs -> ovs_key_from_nlattrs), so the opcode
    # mask lands in the u8 ip.proto at every level; dpif-netdev's u8 nw_proto likewise.
    dp = ReferenceDatapath(semantics=semantics)  # type: ignore[arg-type]
    dp.flow_put(key, _all_ones(key), b"", ufid=U)
    got = dp.flow_get(ufid=U).mask
    assert got is not None
    assert _payload_at(got, path)[8:10] == b"\x00\xff"
    # The rest of the ARP mask is kept exact.
    assert _payload_at(got, path)[:8] == b"\xff" * 8
