"""Tests of reference.odp.extract: frames built with scapy, keys checked against scapy's own parse.

Expected values come from scapy (an independent packet implementation) or are
derived by hand from the Linux 6.1 sources cited in docs/key-extraction.md;
none is output of the code under test.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS
from scapy.contrib.nsh import NSH
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_RR
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, LLC, SNAP, Dot1AD, Dot1Q, Dot3, Ether
from scapy.layers.sctp import SCTP
from scapy.packet import Raw

from conformance.strategies import frames
from reference._netlink import split_attrs
from reference.errors import PacketDroppedError, PacketInputError, UfidcertInputError
from reference.odp import extract_key as exported_extract_key
from reference.odp.extract import extract, extract_key
from reference.odp.keys import decode_key
from reference.uapi import FragType, KeyAttr, NshKeyAttr

K = KeyAttr
SRC, DST = "02:00:00:00:00:01", "02:00:00:00:00:02"
METADATA = [K.RECIRC_ID, K.DP_HASH, K.PRIORITY, K.IN_PORT, K.SKB_MARK, K.CT_STATE, K.CT_ZONE, K.CT_MARK, K.CT_LABELS]

# struct ovs_key_* payload sizes (include/uapi/linux/openvswitch.h); MPLS and
# the nested attributes vary.
SIZES: dict[int, int] = {
    K.PRIORITY: 4,
    K.IN_PORT: 4,
    K.ETHERNET: 12,
    K.VLAN: 2,
    K.ETHERTYPE: 2,
    K.IPV4: 12,
    K.IPV6: 40,
    K.TCP: 4,
    K.UDP: 4,
    K.ICMP: 2,
    K.ICMPV6: 2,
    K.ARP: 24,
    K.ND: 28,
    K.SKB_MARK: 4,
    K.SCTP: 4,
    K.TCP_FLAGS: 2,
    K.DP_HASH: 4,
    K.RECIRC_ID: 4,
    K.CT_STATE: 4,
    K.CT_ZONE: 2,
    K.CT_MARK: 4,
    K.CT_LABELS: 16,
    K.IPV6_EXTHDRS: 2,
}

# OFPIEH12_* bits (net/openvswitch/flow.h, from the OpenFlow 1.3 spec).
NONEXT, ESP, AUTH, DEST, FRAG, ROUTER, HOP, UNREP, UNSEQ = (1 << i for i in range(9))


def attrs(data: bytes) -> list[tuple[int, bytes]]:
    return split_attrs(data, where="test")


def packet_level(key: bytes) -> list[tuple[int, bytes]]:
    """Attributes after the metadata, at top level."""
    top = attrs(key)
    assert [t for t, _ in top[: len(METADATA)]] == METADATA
    return top[len(METADATA) :]


def innermost(key: bytes) -> list[tuple[int, bytes]]:
    """The attribute list inside the deepest ENCAP (or after ETHERNET without VLANs)."""
    level = packet_level(key)[1:]
    while any(t == K.ENCAP for t, _ in level):
        level = attrs(dict(level)[K.ENCAP])
    return level


def be16(b: bytes) -> int:
    return int(struct.unpack("!H", b)[0])


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def ip6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def dotted(n: int) -> str:
    return ".".join(str(b) for b in n.to_bytes(4, "big"))


def eth(payload: Any, **kw: Any) -> bytes:
    return bytes(Ether(src=SRC, dst=DST, **kw) / payload)


# --- metadata and argument checking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        eth(IP() / TCP()),
        eth(IPv6() / UDP()),
        eth(ARP()),
        eth(Raw(b"x" * 10), type=0x1234),
        bytes(Dot3(src=SRC, dst=DST) / LLC() / Raw(b"abc")),
    ],
    ids=["ipv4", "ipv6", "arp", "unknown", "llc"],
)
def test_metadata_in_kernel_order(frame: bytes) -> None:
    key = extract_key(frame, 7, priority=3, skb_mark=0xDEADBEEF)
    top = dict(attrs(key))
    # __ovs_nla_put_key(): recirc_id, dp_hash, priority, in_port, skb_mark, then ovs_ct_put_key().
    assert [t for t, _ in attrs(key)][: len(METADATA) + 1] == [*METADATA, K.ETHERNET]
    assert struct.unpack("=I", top[K.IN_PORT])[0] == 7
    assert struct.unpack("=I", top[K.PRIORITY])[0] == 3
    assert struct.unpack("=I", top[K.SKB_MARK])[0] == 0xDEADBEEF
    assert top[K.RECIRC_ID] == top[K.DP_HASH] == top[K.CT_STATE] == top[K.CT_MARK] == bytes(4)
    assert top[K.CT_ZONE] == bytes(2) and top[K.CT_LABELS] == bytes(16)
    assert top[K.ETHERNET] == mac(SRC) + mac(DST)
    assert exported_extract_key(frame, 7, priority=3, skb_mark=0xDEADBEEF) == key


@pytest.mark.parametrize("bad", ["abc", None, 5, [1, 2], 1.5])
def test_non_bytes_packet_is_an_input_error(bad: Any) -> None:
    with pytest.raises(PacketInputError) as info:
        extract_key(bad, 1)
    assert isinstance(info.value, UfidcertInputError) and isinstance(info.value, ValueError)
    assert "packet" in str(info.value)


@pytest.mark.parametrize("port", [-1, 0xFFFF, 0x10000, 2**32, 2**64, True, 1.0, "1", None])
def test_impossible_port_is_an_input_error(port: Any) -> None:
    with pytest.raises(PacketInputError, match="in_port"):
        extract_key(eth(IP()), port)


@pytest.mark.parametrize("name", ["priority", "skb_mark"])
@pytest.mark.parametrize("value", [-1, 2**32, "0"])
def test_bad_metadata_is_an_input_error(name: str, value: Any) -> None:
    with pytest.raises(PacketInputError, match=name):
        extract_key(eth(IP()), 1, **{name: value})


def test_ports_at_the_u16_edges() -> None:
    for port in (0, 1, 0xFFFE):
        assert struct.unpack("=I", dict(attrs(extract_key(eth(IP()), port)))[K.IN_PORT])[0] == port


@pytest.mark.parametrize("size", range(14))
def test_runts_have_no_upcall(size: int) -> None:
    with pytest.raises(PacketDroppedError) as info:
        extract_key(bytes(range(size)), 1)
    assert info.value.reason == "runt"


def test_bytearray_and_memoryview_accepted() -> None:
    frame = eth(IP() / UDP())
    assert extract_key(bytearray(frame), 2) == extract_key(memoryview(frame), 2) == extract_key(frame, 2)


# --- IPv4 ----------------------------------------------------------------------------------------------------------


def expected_l4_v4(pkt: Any) -> list[tuple[int, bytes]]:
    ip = pkt[IP]
    if ip.frag:
        return []
    if TCP in pkt:
        t = pkt[TCP]
        flags = (t.reserved << 9) | int(t.flags)
        return [(K.TCP, struct.pack("!HH", t.sport, t.dport)), (K.TCP_FLAGS, struct.pack("!H", flags))]
    if UDP in pkt:
        return [(K.UDP, struct.pack("!HH", pkt[UDP].sport, pkt[UDP].dport))]
    if SCTP in pkt:
        return [(K.SCTP, struct.pack("!HH", pkt[SCTP].sport, pkt[SCTP].dport))]
    if ICMP in pkt:
        return [(K.ICMP, bytes((pkt[ICMP].type, pkt[ICMP].code)))]
    return []


_ipv4_l4 = st.one_of(
    st.builds(
        lambda s, d, f, r: TCP(sport=s, dport=d, flags=f, reserved=r),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        st.integers(0, 0x1FF),
        st.integers(0, 7),
    ),
    st.builds(lambda s, d: UDP(sport=s, dport=d), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(lambda s, d: SCTP(sport=s, dport=d), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(lambda t, c: ICMP(type=t, code=c), st.integers(0, 255), st.integers(0, 255)),
    st.builds(Raw, st.binary(max_size=8)),
)


@given(
    src=st.integers(0, 2**32 - 1),
    dst=st.integers(0, 2**32 - 1),
    tos=st.integers(0, 255),
    ttl=st.integers(0, 255),
    frag=st.one_of(st.just(0), st.integers(1, 0x1FFF)),
    mf=st.booleans(),
    options=st.integers(0, 3),
    l4=_ipv4_l4,
)
def test_ipv4_fields_match_scapy(
    *, src: int, dst: int, tos: int, ttl: int, frag: int, mf: bool, options: int, l4: Any
) -> None:
    opts = [IPOption_NOP()] * options + ([IPOption_RR(routers=["9.9.9.9"])] if options & 1 else [])
    ip = IP(src=dotted(src), dst=dotted(dst), tos=tos, ttl=ttl, frag=frag, flags="MF" if mf else 0, options=opts)
    frame = eth(ip / l4)
    pkt = Ether(frame)
    ip = pkt[IP]
    level = packet_level(extract_key(frame, 1))
    assert level[0] == (K.ETHERNET, mac(SRC) + mac(DST))
    assert level[1] == (K.ETHERTYPE, b"\x08\x00")
    want_frag = FragType.LATER if ip.frag else FragType.FIRST if ip.flags.MF else FragType.NONE
    assert level[2] == (K.IPV4, ip4(ip.src) + ip4(ip.dst) + bytes((ip.proto, ip.tos, ip.ttl, want_frag)))
    assert level[3:] == expected_l4_v4(pkt)


def test_ipv4_options_move_the_transport_header() -> None:
    frame = eth(IP(options=[IPOption_RR(routers=["1.1.1.1", "2.2.2.2"])]) / UDP(sport=1234, dport=5678))
    assert Ether(frame)[IP].ihl > 5
    assert innermost(extract_key(frame, 1))[-1] == (K.UDP, struct.pack("!HH", 1234, 5678))


@pytest.mark.parametrize("cut", [0, 1, 10, 19])
def test_truncated_ipv4_header_gives_zeroed_ipv4(cut: int) -> None:
    # check_iphdr() -> -EINVAL: key->ip and key->ipv4 memset to 0, no transport attributes.
    frame = eth(IP(src="1.2.3.4", dst="5.6.7.8") / TCP())[: 14 + cut]
    assert packet_level(extract_key(frame, 1))[1:] == [(K.ETHERTYPE, b"\x08\x00"), (K.IPV4, bytes(12))]


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_ipv4_ihl_below_five_gives_zeroed_ipv4(ihl: int) -> None:
    frame = eth(IP(ihl=ihl, src="1.2.3.4") / TCP())
    assert packet_level(extract_key(frame, 1))[2:] == [(K.IPV4, bytes(12))]


def test_ipv4_ihl_beyond_frame_gives_zeroed_ipv4() -> None:
    frame = eth(IP(ihl=15, src="1.2.3.4") / Raw(b"x" * 10))  # 60-byte header claimed, 30 present
    assert packet_level(extract_key(frame, 1))[2:] == [(K.IPV4, bytes(12))]


def test_ipv4_version_is_not_checked() -> None:
    frame = eth(IP(version=6, src="1.2.3.4", dst="5.6.7.8", proto=17) / UDP(sport=7, dport=8))
    level = packet_level(extract_key(frame, 1))
    assert level[2][1][:8] == ip4("1.2.3.4") + ip4("5.6.7.8")
    assert level[3] == (K.UDP, struct.pack("!HH", 7, 8))


@pytest.mark.parametrize(
    ("l4", "attr", "size"),
    [(TCP(sport=1, dport=2), K.TCP, 20), (UDP(sport=1, dport=2), K.UDP, 8), (SCTP(sport=1, dport=2), K.SCTP, 12)],
)
def test_truncated_transport_header_gives_zero_ports(l4: Any, attr: int, size: int) -> None:
    whole = eth(IP() / l4)
    assert innermost(extract_key(whole[: 34 + size], 1))[2][1] == struct.pack("!HH", 1, 2)
    level = innermost(extract_key(whole[: 34 + size - 1], 1))
    assert level[2] == (attr, bytes(4))
    if attr == K.TCP:
        assert level[3] == (K.TCP_FLAGS, bytes(2))


def test_tcp_data_offset_checks() -> None:
    # tcphdr_ok(): doff < 5, or a header longer than the frame, zero key->tp.
    for dataofs, extra in ((4, b""), (6, b""), (6, b"\0\0\0\0")):
        frame = eth(IP() / TCP(sport=5, dport=6, flags="S", dataofs=dataofs) / Raw(extra))
        ok = dataofs >= 5 and len(frame) >= 34 + dataofs * 4
        level = innermost(extract_key(frame, 1))
        assert level[2] == (K.TCP, struct.pack("!HH", 5, 6) if ok else bytes(4))
        assert level[3] == (K.TCP_FLAGS, b"\x00\x02" if ok else bytes(2))


def test_short_icmp_gives_zero_type_and_code() -> None:
    whole = eth(IP() / ICMP(type=8, code=3))
    assert innermost(extract_key(whole, 1))[-1] == (K.ICMP, b"\x08\x03")
    assert innermost(extract_key(whole[:-1], 1))[-1] == (K.ICMP, b"\x00\x00")  # icmphdr_ok() wants 8 bytes


def test_other_ip_protocols_have_no_transport_attribute() -> None:
    for proto in (0, 2, 47, 58, 255):  # 58 is ICMPv6: only keyed inside IPv6
        level = innermost(extract_key(eth(IP(proto=proto) / Raw(b"x" * 20)), 1))
        assert [t for t, _ in level] == [K.ETHERTYPE, K.IPV4]


# --- Ethernet, VLAN, 802.2 ----------------------------------------------------------------------------------------


@given(
    tags=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1), st.integers(0, 4095)), min_size=1, max_size=3),
    ad=st.booleans(),
)
def test_vlan_nesting_matches_scapy(tags: list[tuple[int, int, int]], ad: bool) -> None:
    pkt: Any = Ether(src=SRC, dst=DST)
    for i, (prio, dei, vid) in enumerate(tags):
        pkt = pkt / (Dot1AD if ad and i == 0 else Dot1Q)(prio=prio, dei=dei, vlan=vid)
    frame = bytes(pkt / IP(src="1.2.3.4") / UDP(sport=9, dport=10))
    parsed = Ether(frame)
    level = packet_level(extract_key(frame, 1))[1:]
    layers: list[Any] = [parsed.getlayer(i) for i in range(len(tags))]
    tpids = [layer.type for layer in layers]
    for depth, (prio, dei, vid) in enumerate(tags[:2]):
        tci = (prio << 13) | (dei << 12) | vid | 0x1000  # the CFI/"present" bit is always set
        assert [t for t, _ in level] == [K.ETHERTYPE, K.VLAN, K.ENCAP]
        assert level[0][1] == struct.pack("!H", tpids[depth])
        assert be16(level[1][1]) == tci
        level = attrs(level[2][1])
    if len(tags) == 3:
        # A third tag: only its TPID is keyed (flow_netlink.c "There are 3 VLAN tags").
        assert level == [(K.ETHERTYPE, b"\x81\x00")]
    else:
        assert [t for t, _ in level] == [K.ETHERTYPE, K.IPV4, K.UDP]


@pytest.mark.parametrize("size", [14, 15, 16, 17])
def test_truncated_vlan_tag(size: int) -> None:
    # parse_vlan_tag() needs 6 bytes from the TPID; eth.type stays 0x8100 and the
    # key carries ovs_nla_put_vlan() of an empty vlan_head plus an empty encap.
    frame = eth(Dot1Q(vlan=5) / IP())[:size]
    assert packet_level(extract_key(frame, 1))[1:] == [(K.ETHERTYPE, b"\0\0"), (K.VLAN, b"\0\0"), (K.ENCAP, b"")]


def test_truncated_inner_vlan_tag() -> None:
    frame = eth(Dot1Q(vlan=5) / Dot1Q(vlan=6) / IP())[:21]
    level = packet_level(extract_key(frame, 1))[1:]
    assert level[:2] == [(K.ETHERTYPE, b"\x81\x00"), (K.VLAN, struct.pack("!H", 0x1005))]
    assert attrs(level[2][1]) == [(K.ETHERTYPE, b"\0\0"), (K.VLAN, b"\0\0"), (K.ENCAP, b"")]


def test_llc_frames_have_no_ethertype() -> None:
    for payload in (LLC(dsap=0x42, ssap=0x42) / Raw(b"spanning tree"), Raw(b""), Raw(b"1234567")):
        frame = bytes(Dot3(src=SRC, dst=DST) / payload)
        assert packet_level(extract_key(frame, 1)) == [(K.ETHERNET, mac(SRC) + mac(DST))]


def test_snap_with_zero_oui_carries_the_ethertype() -> None:
    frame = bytes(Dot3(src=SRC, dst=DST) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / IP(ttl=9))
    level = packet_level(extract_key(frame, 1))
    assert level[1] == (K.ETHERTYPE, b"\x08\x00")
    assert level[2][0] == K.IPV4 and level[2][1][10] == 9


def test_snap_control_byte_is_not_checked() -> None:
    # Unlike OVS userspace (lib/flow.c), the kernel ignores the LLC control byte.
    frame = bytes(Dot3(src=SRC, dst=DST) / LLC(dsap=0xAA, ssap=0xAA, ctrl=0x77) / SNAP(OUI=0, code=0x86DD) / IPv6())
    assert packet_level(extract_key(frame, 1))[1] == (K.ETHERTYPE, b"\x86\xdd")


@pytest.mark.parametrize(
    "snap",
    [SNAP(OUI=0x00000C, code=0x0800), SNAP(OUI=0, code=0x05FF)],
    ids=["cisco-oui", "inner-length"],
)
def test_other_snap_is_802_2(snap: Any) -> None:
    frame = bytes(Dot3(src=SRC, dst=DST) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / snap / IP())
    assert packet_level(extract_key(frame, 1)) == [(K.ETHERNET, mac(SRC) + mac(DST))]


@pytest.mark.parametrize(("eth_type", "is_type"), [(0x05FF, False), (0x0600, True), (0x0000, False), (0xFFFF, True)])
def test_eth_type_min_boundary(eth_type: int, is_type: bool) -> None:
    frame = eth(Raw(b"\0" * 30), type=eth_type)
    level = packet_level(extract_key(frame, 1))
    assert level[1:] == ([(K.ETHERTYPE, struct.pack("!H", eth_type))] if is_type else [])


def test_llc_inside_vlan() -> None:
    frame = eth(Dot1Q(vlan=3, type=40) / LLC() / Raw(b"x" * 40))
    level = packet_level(extract_key(frame, 1))
    assert level[1:3] == [(K.ETHERTYPE, b"\x81\x00"), (K.VLAN, struct.pack("!H", 0x1003))]
    assert level[3] == (K.ENCAP, b"")  # no ETHERTYPE for 802.2 inside the encap either


@given(st.integers(0x0600, 0xFFFF), st.binary(max_size=64))
def test_unknown_ethertype_ends_the_key(eth_type: int, payload: bytes) -> None:
    known = {0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x8100, 0x88A8, 0x894F}
    if eth_type in known:
        return
    level = packet_level(extract_key(eth(Raw(payload), type=eth_type), 1))
    assert level[1:] == [(K.ETHERTYPE, struct.pack("!H", eth_type))]


# --- MPLS ----------------------------------------------------------------------------------------------------------


@given(
    labels=st.lists(
        st.tuples(st.integers(0, 2**20 - 1), st.integers(0, 7), st.integers(0, 255)), min_size=1, max_size=6
    ),
    multicast=st.booleans(),
)
def test_mpls_keeps_three_entries(labels: list[tuple[int, int, int]], multicast: bool) -> None:
    pkt: Any = Ether(src=SRC, dst=DST, type=0x8848 if multicast else 0x8847)
    for i, (label, cos, ttl) in enumerate(labels):
        pkt = pkt / MPLS(label=label, cos=cos, ttl=ttl, s=int(i == len(labels) - 1))
    frame = bytes(pkt / IP())
    entries = [lyr for lyr in MPLS(frame[14:]).iterpayloads() if isinstance(lyr, MPLS)]
    lses = [(m.label << 12) | (m.cos << 9) | (m.s << 8) | m.ttl for m in entries]
    level = packet_level(extract_key(frame, 1))
    assert level[1] == (K.ETHERTYPE, struct.pack("!H", 0x8848 if multicast else 0x8847))
    assert level[2:] == [(K.MPLS, b"".join(struct.pack("!I", x) for x in lses[:3]))]  # MPLS_LABEL_DEPTH


@pytest.mark.parametrize("cut", [0, 2, 4, 7, 15])
def test_truncated_mpls_stack_gives_empty_mpls(cut: int) -> None:
    # check_header() fails inside the walk: key->mpls stays memset, num_labels_mask 0.
    pkt = eth(MPLS(label=1, s=0) / MPLS(label=2, s=0) / MPLS(label=3, s=0) / MPLS(label=4, s=1) / IP())
    frame = pkt[: 14 + cut]
    assert packet_level(extract_key(frame, 1))[2:] == [(K.MPLS, b"")]


def test_mpls_without_bottom_of_stack_gives_empty_mpls() -> None:
    frame = eth(MPLS(label=1, s=0) / MPLS(label=2, s=0))
    assert packet_level(extract_key(frame, 1))[2:] == [(K.MPLS, b"")]


# --- IPv6 ----------------------------------------------------------------------------------------------------------


def ipv6_payload(pkt: Any, frag: int) -> bytes:
    ip = pkt[IPv6]
    return ip6(ip.src) + ip6(ip.dst) + struct.pack("!I", ip.fl) + bytes((0, ip.tc, ip.hlim, frag))


@given(
    tc=st.integers(0, 255),
    fl=st.integers(0, 2**20 - 1),
    hlim=st.integers(0, 255),
    chain=st.lists(st.sampled_from(["hop", "dest", "routing"]), max_size=3),
    frag=st.sampled_from(["none", "first", "later"]),
    l4=st.sampled_from(["tcp", "udp", "sctp", "echo", "raw"]),
)
def test_ipv6_fields_and_frag_match_scapy(*, tc: int, fl: int, hlim: int, chain: list[str], frag: str, l4: str) -> None:
    pkt: Any = IPv6(src="2001:db8::1", dst="fe80::2", tc=tc, fl=fl, hlim=hlim)
    make = {"hop": IPv6ExtHdrHopByHop, "dest": IPv6ExtHdrDestOpt, "routing": IPv6ExtHdrRouting}
    for name in chain:
        pkt = pkt / make[name]()
    if frag != "none":
        pkt = pkt / IPv6ExtHdrFragment(offset=0 if frag == "first" else 5, m=1)
    layer = {
        "tcp": TCP(sport=3, dport=4, flags="A"),
        "udp": UDP(sport=3, dport=4),
        "sctp": SCTP(sport=3, dport=4),
        "echo": ICMPv6EchoReply(),
        "raw": Raw(b"payload"),
    }[l4]
    frame = eth(pkt / layer)
    parsed = Ether(frame)
    last_nh = [lyr for lyr in parsed.iterpayloads() if hasattr(lyr, "nh")][-1].nh
    level = innermost(extract_key(frame, 1))
    want_frag = {"none": FragType.NONE, "first": FragType.FIRST, "later": FragType.LATER}[frag]
    payload = bytearray(ipv6_payload(parsed, want_frag))
    # ip.proto: the upper-layer protocol, or NEXTHDR_FRAGMENT (44) for a later fragment.
    payload[36] = 44 if frag == "later" else last_nh
    assert level[:2] == [(K.ETHERTYPE, b"\x86\xdd"), (K.IPV6, bytes(payload))]
    assert level[2][0] == K.IPV6_EXTHDRS
    rest = level[3:]
    if frag == "later" or l4 == "raw":
        assert rest == []
    elif l4 == "echo":
        assert rest == [(K.ICMPV6, bytes((129, 0)))]
    else:
        attr = {"tcp": K.TCP, "udp": K.UDP, "sctp": K.SCTP}[l4]
        assert rest[0] == (attr, struct.pack("!HH", 3, 4))
        assert rest[1:] == ([(K.TCP_FLAGS, b"\x00\x10")] if l4 == "tcp" else [])


def exthdrs(frame: bytes) -> int:
    level = innermost(extract_key(frame, 1))
    value = dict(level)[K.IPV6_EXTHDRS]
    return int(struct.unpack("=H", value)[0])  # struct ovs_key_ipv6_exthdrs: host-order u16


@pytest.mark.parametrize(
    ("chain", "flags"),
    [
        # In RFC 2460's recommended order: only presence bits.
        ([], 0),
        ([IPv6ExtHdrHopByHop()], HOP),
        (
            [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(), IPv6ExtHdrFragment()],
            HOP | DEST | ROUTER | FRAG,
        ),
        ([IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()], DEST),  # two destination headers are expected
        # Out of order / repeated, derived by hand from get_ipv6_ext_hdrs():
        ([IPv6ExtHdrRouting(), IPv6ExtHdrHopByHop()], ROUTER | UNSEQ),  # HOP is only noted when first
        ([IPv6ExtHdrHopByHop(), IPv6ExtHdrHopByHop()], HOP | UNREP | UNSEQ),
        ([IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()], DEST | UNREP),
        ([IPv6ExtHdrFragment(), IPv6ExtHdrRouting()], FRAG | ROUTER | UNSEQ),
        ([IPv6ExtHdrRouting(), IPv6ExtHdrDestOpt()], ROUTER | DEST | UNSEQ),
        ([IPv6ExtHdrFragment(), IPv6ExtHdrFragment()], FRAG | UNREP | UNSEQ),
    ],
)
def test_ipv6_exthdrs_flags(chain: list[Any], flags: int) -> None:
    pkt: Any = IPv6()
    for hdr in chain:
        pkt = pkt / hdr
    assert exthdrs(eth(pkt / UDP())) == flags


def test_ipv6_exthdrs_no_next_header_ah_and_esp() -> None:
    assert exthdrs(eth(IPv6(nh=59) / Raw(b"x" * 8))) == NONEXT
    assert exthdrs(eth(IPv6() / IPv6ExtHdrDestOpt(nh=59) / Raw(b"x" * 8))) == DEST | NONEXT
    # AH after a fragment header is in sequence. (6.1.0 masked with
    # IPPROTO_FRAGMENT here and set UNSEQ; Debian's 6.1.192 was observed not to.)
    ah = Raw(bytes((17, 1, 0, 0)) + bytes(8))  # next header UDP, payload length 1 -> 12 bytes
    frame = eth(IPv6() / IPv6ExtHdrFragment(nh=51) / ah / UDP())
    assert exthdrs(frame) == FRAG | AUTH
    assert exthdrs(eth(IPv6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt(nh=51) / ah / UDP())) == DEST | AUTH | UNSEQ
    # ESP is not an extension header for ipv6_ext_hdr(): the walk stops, no ESP bit.
    assert exthdrs(eth(IPv6(nh=50) / Raw(b"x" * 16))) == 0


def test_ipv6_ah_length_uses_authlen() -> None:
    # ipv6_find_hdr() skips AH by (hdrlen + 2) * 4 bytes, so UDP is found after it.
    ah = Raw(bytes((17, 4, 0, 0)) + bytes(20))  # (4 + 2) * 4 = 24 bytes
    frame = eth(IPv6(nh=51) / ah / UDP(sport=11, dport=12))
    level = innermost(extract_key(frame, 1))
    assert level[1][1][36] == 17
    assert level[3] == (K.UDP, struct.pack("!HH", 11, 12))


def test_later_fragment_followed_by_extension_header_is_first_with_no_proto() -> None:
    # ipv6_find_hdr(): a non-zero fragment offset followed by another extension
    # header returns -ENOENT with frag_off still 0, so parse_ipv6hdr() says
    # FIRST and, on -EPROTO, leaves proto at NEXTHDR_NONE (59).
    frame = eth(IPv6() / IPv6ExtHdrFragment(offset=3) / IPv6ExtHdrDestOpt() / UDP())
    level = innermost(extract_key(frame, 1))
    assert level[1][1][36:] == bytes((59, 0, 64, FragType.FIRST))
    assert [t for t, _ in level] == [K.ETHERTYPE, K.IPV6, K.IPV6_EXTHDRS]


@pytest.mark.parametrize("cut", [40, 41, 43])
def test_truncated_extension_header_keeps_network_fields(cut: int) -> None:
    # ipv6_find_hdr() cannot read the 2-byte header (or the 4-byte routing
    # header): -EBADMSG, so parse_ipv6hdr() returns -EPROTO with proto NONE (59).
    frame = eth(IPv6(src="::1", hlim=7) / IPv6ExtHdrRouting() / UDP())[: 14 + cut]
    level = innermost(extract_key(frame, 1))
    assert level[1][1][:16] == ip6("::1")
    assert level[1][1][36:] == bytes((59, 0, 7, FragType.NONE))
    assert [t for t, _ in level] == [K.ETHERTYPE, K.IPV6, K.IPV6_EXTHDRS]


@pytest.mark.parametrize("cut", [44, 47])
def test_extension_header_beyond_frame_gives_no_proto(cut: int) -> None:
    # Observed on Debian's 6.1.192 kernel (docs/key-extraction.md): a routing
    # header whose length runs past the end of the frame yields proto NONE and
    # no transport attributes, like the -EPROTO path.
    frame = eth(IPv6(src="::1", hlim=7) / IPv6ExtHdrRouting() / UDP(sport=1, dport=2))[: 14 + cut]
    level = innermost(extract_key(frame, 1))
    assert level[1][1][36:] == bytes((59, 0, 7, FragType.NONE))
    assert [t for t, _ in level] == [K.ETHERTYPE, K.IPV6, K.IPV6_EXTHDRS]


@pytest.mark.parametrize("cut", [48, 55])
def test_transport_header_at_or_past_frame_end_gives_zero_ports(cut: int) -> None:
    frame = eth(IPv6(src="::1", hlim=7) / IPv6ExtHdrRouting() / UDP(sport=1, dport=2))[: 14 + cut]
    level = innermost(extract_key(frame, 1))
    assert level[1][1][36:] == bytes((17, 0, 7, FragType.NONE))
    assert level[3] == (K.UDP, bytes(4))


def test_truncated_fragment_header_is_first_fragment() -> None:
    frame = eth(IPv6() / IPv6ExtHdrFragment(offset=9) / UDP())[: 14 + 40 + 3]
    level = innermost(extract_key(frame, 1))
    assert level[1][1][36] == 59 and level[1][1][39] == FragType.FIRST


@pytest.mark.parametrize("cut", [0, 1, 20, 39])
def test_truncated_ipv6_header(cut: int) -> None:
    frame = eth(IPv6(src="::1", fl=5) / UDP())[: 14 + cut]
    result = extract(frame, 1)
    level = innermost(result.key)
    assert level[1] == (K.IPV6, bytes(40))  # label is emitted as 0 here, but see indeterminate
    assert level[2] == (K.IPV6_EXTHDRS, bytes(2))
    assert set(result.indeterminate) == {"ipv6.label", "ipv6.exthdrs"}


# --- ICMPv6 and neighbour discovery ---------------------------------------------------------------------------------


_opts = st.lists(
    st.tuples(st.sampled_from(["sll", "tll"]), st.binary(min_size=6, max_size=6)),
    max_size=4,
)


def expected_nd(target: str, opts: list[tuple[str, bytes]]) -> bytes:
    """ND key per parse_icmpv6(): a repeated option after a non-zero address invalidates all."""
    found: dict[str, bytes] = {"sll": bytes(6), "tll": bytes(6)}
    for kind, addr in opts:
        if found[kind] != bytes(6):
            return bytes(28)
        found[kind] = addr
    return ip6(target) + found["sll"] + found["tll"]


@given(na=st.booleans(), target=st.integers(0, 2**128 - 1), opts=_opts)
def test_nd_options_match_scapy(na: bool, target: int, opts: list[tuple[str, bytes]]) -> None:
    import ipaddress

    tgt = str(ipaddress.IPv6Address(target))
    pkt: Any = (ICMPv6ND_NA if na else ICMPv6ND_NS)(tgt=tgt)
    for kind, addr in opts:
        text = ":".join(f"{b:02x}" for b in addr)
        pkt = pkt / (ICMPv6NDOptSrcLLAddr if kind == "sll" else ICMPv6NDOptDstLLAddr)(lladdr=text)
    frame = eth(IPv6() / pkt)
    parsed = Ether(frame)
    level = innermost(extract_key(frame, 1))
    assert level[3] == (K.ICMPV6, bytes((136 if na else 135, 0)))
    assert level[4] == (K.ND, expected_nd(parsed.tgt, opts))


def test_nd_bad_option_length_stops_parsing() -> None:
    bad = Raw(bytes((1, 0)) + bytes(6))  # option length 0: parse_icmpv6() returns with what it has
    frame = eth(IPv6() / ICMPv6ND_NS(tgt="fe80::9") / ICMPv6NDOptDstLLAddr(lladdr="00:00:00:00:00:07") / bad)
    assert innermost(extract_key(frame, 1))[4] == (K.ND, ip6("fe80::9") + bytes(6) + mac("00:00:00:00:00:07"))


def test_nd_option_of_other_size_is_skipped() -> None:
    wide = Raw(bytes((1, 2)) + b"\xaa" * 14)  # an SLL option of 16 bytes is not an Ethernet address
    frame = eth(IPv6() / ICMPv6ND_NS(tgt="fe80::9") / wide / ICMPv6NDOptSrcLLAddr(lladdr="00:00:00:00:00:05"))
    assert innermost(extract_key(frame, 1))[4] == (K.ND, ip6("fe80::9") + mac("00:00:00:00:00:05") + bytes(6))


def test_short_nd_message_gives_zero_nd() -> None:
    frame = eth(IPv6() / ICMPv6ND_NS(tgt="fe80::9"))[:-1]  # 23 bytes of ICMPv6, nd_msg needs 24
    level = innermost(extract_key(frame, 1))
    assert level[3:] == [(K.ICMPV6, bytes((135, 0))), (K.ND, bytes(28))]


def test_nd_with_nonzero_code_is_indeterminate() -> None:
    frame = eth(IPv6() / ICMPv6ND_NS(code=1, tgt="fe80::9"))
    result = extract(frame, 1)
    assert innermost(result.key)[3:] == [(K.ICMPV6, bytes((135, 1))), (K.ND, bytes(28))]
    assert result.indeterminate == ("nd",)


def test_short_icmpv6_gives_zero_and_no_nd() -> None:
    frame = eth(IPv6() / ICMPv6ND_NS(tgt="fe80::9"))[: 14 + 40 + 7]
    assert innermost(extract_key(frame, 1))[3:] == [(K.ICMPV6, b"\0\0")]


# --- ARP / RARP -----------------------------------------------------------------------------------------------------


@given(
    op=st.integers(0, 0xFFFF),
    sha=st.binary(min_size=6, max_size=6),
    tha=st.binary(min_size=6, max_size=6),
    sip=st.integers(0, 2**32 - 1),
    tip=st.integers(0, 2**32 - 1),
    rarp=st.booleans(),
)
def test_arp_fields_match_scapy(*, op: int, sha: bytes, tha: bytes, sip: int, tip: int, rarp: bool) -> None:
    def text(b: bytes) -> str:
        return ":".join(f"{x:02x}" for x in b)

    arp = ARP(op=op, hwsrc=text(sha), hwdst=text(tha), psrc=dotted(sip), pdst=dotted(tip))
    frame = eth(arp, type=0x8035 if rarp else 0x0806)
    parsed = ARP(frame[14:])
    level = packet_level(extract_key(frame, 1))
    assert level[1] == (K.ETHERTYPE, b"\x80\x35" if rarp else b"\x08\x06")
    keyed_op = parsed.op if parsed.op <= 0xFF else 0
    want = ip4(parsed.psrc) + ip4(parsed.pdst) + struct.pack("!H", keyed_op) + mac(parsed.hwsrc) + mac(parsed.hwdst)
    assert level[2:] == [(K.ARP, want + b"\0\0")]


@pytest.mark.parametrize(
    "arp",
    [ARP(hwtype=6), ARP(ptype=0x86DD), ARP(hwlen=8), ARP(plen=16)],
    ids=["hrd", "pro", "hln", "pln"],
)
def test_non_ethernet_ipv4_arp_gives_zeroed_arp(arp: Any) -> None:
    assert packet_level(extract_key(eth(arp), 1))[2:] == [(K.ARP, bytes(24))]


def test_truncated_arp_gives_zeroed_arp() -> None:
    frame = eth(ARP(op=2, psrc="1.2.3.4"))[:-1]
    assert packet_level(extract_key(frame, 1))[2:] == [(K.ARP, bytes(24))]


# --- NSH ------------------------------------------------------------------------------------------------------------


def test_nsh_md1() -> None:
    ctx = bytes(range(16))
    nsh = NSH(ver=0, oam=1, ttl=33, length=6, mdtype=1, nextproto=3, spi=0x123456, si=7, context_header=ctx)
    frame = eth(nsh / Raw(b"inner"), type=0x894F)
    level = packet_level(extract_key(frame, 1))
    assert level[1] == (K.ETHERTYPE, b"\x89\x4f")
    assert level[2][0] == K.NSH
    inner = attrs(level[2][1])
    flags = 0b10  # O bit of the two-bit NSH flags (O, U)
    assert inner == [
        (NshKeyAttr.BASE, bytes((flags, 33, 1, 3)) + struct.pack("!I", 0x123456 << 8 | 7)),
        (NshKeyAttr.MD1, ctx),
    ]


def test_nsh_md2_keys_only_the_base() -> None:
    frame = eth(NSH(ttl=5, length=2, mdtype=2, nextproto=1, spi=9, si=255) / Raw(b"x" * 8), type=0x894F)
    inner = attrs(packet_level(extract_key(frame, 1))[2][1])
    assert inner == [(NshKeyAttr.BASE, bytes((0, 5, 2, 1)) + struct.pack("!I", 9 << 8 | 255))]


@pytest.mark.parametrize(
    "frame",
    [
        eth(NSH(ver=1, length=6, mdtype=1, context_header=bytes(16)), type=0x894F),
        eth(NSH(length=5, mdtype=1) / Raw(bytes(20)), type=0x894F),
        eth(NSH(length=2, mdtype=3) / Raw(bytes(8)), type=0x894F),
        eth(NSH(length=6, mdtype=1, context_header=bytes(16)), type=0x894F)[:-1],
        eth(Raw(bytes(7)), type=0x894F),
    ],
    ids=["version", "md1-length", "mdtype", "beyond-frame", "short"],
)
def test_rejected_nsh_is_dropped(frame: bytes) -> None:
    with pytest.raises(PacketDroppedError) as info:
        extract_key(frame, 1)
    assert info.value.reason == "parse_nsh"


# --- structural properties over varied frames -----------------------------------------------------------------------


def walk(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for t, p in attrs(data):
        out.append((t, p))
        if t in (K.ENCAP, K.NSH):
            out.extend(walk(p))
    return out


@given(frames(), st.integers(0, 0xFFFE))
def test_varied_frames_structure(frame: bytes, port: int) -> None:
    result = extract(frame, port)
    assert result.key == extract_key(frame, port)  # deterministic, and the two APIs agree
    assert result.indeterminate == ()  # frames() promises byte-exact keys
    if frame[12:14] in (b"\x81\x00", b"\x88\xa8"):
        assert len(frame) >= 20  # shorter tagged frames never reach OVS through a veth
    assert len(result.key) % 4 == 0
    assert struct.unpack("=I", dict(attrs(result.key))[K.IN_PORT])[0] == port
    for attr_type, payload in walk(result.key):
        if attr_type in SIZES and attr_type not in (K.ENCAP, K.NSH):
            assert len(payload) == SIZES[attr_type], attr_type
        if attr_type == K.MPLS:
            assert len(payload) in (0, 4, 8, 12)
    decode_key(result.key)  # the codec accepts every key the kernel emits (empty MPLS of a cut stack included)
    assert Ether(frame).src == ":".join(f"{b:02x}" for b in dict(attrs(result.key))[K.ETHERNET][:6])


@given(st.binary(min_size=14, max_size=200), st.integers(0, 0xFFFE))
def test_arbitrary_bytes_never_raise_unexpectedly(frame: bytes, port: int) -> None:
    try:
        key = extract_key(frame, port)
    except PacketDroppedError as err:
        assert err.reason == "parse_nsh"
        return
    assert attrs(key)


# --- known answers from the real kernel -----------------------------------------------------------------------------


def kernel_vectors() -> dict[str, Any]:
    import json
    from importlib.resources import files

    text = files("conformance.fixtures").joinpath("kernel-6.1-upcall-keys.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def test_keys_observed_from_linux_6_1() -> None:
    # Upcall keys captured from Debian's 6.1 kernel under QEMU (fixture
    # provenance in its "description"). That kernel is built with
    # CONFIG_INIT_STACK_ALL_ZERO, so even the fields key_extract() never
    # writes ("indeterminate") are zero and compare exactly.
    data = kernel_vectors()
    assert data["kernel"].startswith("6.1.")
    flagged = 0
    for case in data["cases"]:
        result = extract(bytes.fromhex(case["frame"]), data["in_port"])
        assert result.key.hex() == case["key"], case["frame"]
        flagged += bool(result.indeterminate)
    assert flagged == 2  # the IPv6 header cut short and the NS with code 1
    for frame in data["no_upcall"]["frames"]:
        with pytest.raises(PacketDroppedError):
            extract_key(bytes.fromhex(frame), data["in_port"])
    meta = data["with_priority_and_mark"]
    for case in meta["cases"]:
        key = extract_key(bytes.fromhex(case["frame"]), 1, priority=meta["priority"], skb_mark=meta["skb_mark"])
        assert key.hex() == case["key"]


@given(frames(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_frames_give_a_key_or_a_documented_drop(frame: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(frame)
    for pos, value in flips:
        data[pos % len(data)] = value
    try:
        result = extract(bytes(data), 3)
    except PacketDroppedError as err:
        assert err.reason == "parse_nsh"
        return
    assert len(result.key) % 4 == 0
    assert [t for t, _ in attrs(result.key)][: len(METADATA)] == METADATA
    assert set(result.indeterminate) <= {"ipv6.label", "ipv6.exthdrs", "nd"}


def _flat(key: bytes) -> list[tuple[int, bytes]]:
    """The key's attributes in order, ``encap`` opened (its payload replaced by its attributes)."""
    out: list[tuple[int, bytes]] = []
    for t, payload in split_attrs(key):
        out.append((t, b"" if t == KeyAttr.ENCAP else payload))
        if t == KeyAttr.ENCAP:
            out.extend(_flat(payload))
    return out


@given(frame=frames())
def test_kernels_before_5_18_send_no_ipv6_exthdrs(frame: bytes) -> None:
    """Linux 5.18 added IPV6_EXTHDRS; an older kernel's key is the same key without it, and nothing else changes."""
    try:
        new = extract_key(frame, 1)
    except PacketDroppedError:
        return
    old = _flat(extract_key(frame, 1, kernel=(5, 10)))
    assert KeyAttr.IPV6_EXTHDRS not in {t for t, _ in old}
    assert old == [(t, p) for t, p in _flat(new) if t != KeyAttr.IPV6_EXTHDRS]
    assert extract_key(frame, 1, kernel=(5, 18)) == new == extract_key(frame, 1, kernel=(7, 2))
    if any(t == KeyAttr.IPV6 for t, _ in old):
        assert KeyAttr.IPV6_EXTHDRS in {t for t, _ in _flat(new)}
