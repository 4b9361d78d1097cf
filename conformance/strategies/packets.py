"""Ethernet frames for inject and upcall-key tests (reference.odp.extract).

Frames are built with scapy (an independent packet library) and returned as
bytes. Every frame drawn here reaches a kernel datapath port on both the
internal-port and the veth path and yields an upcall key that
reference.odp.extract_key predicts byte for byte: at least 14 bytes, no
truncated VLAN tag, no IPv6 header cut below 40 bytes, no ND message with a
non-zero code, no NSH header that parse_nsh() rejects (see
docs/key-extraction.md for why those are excluded).

scapy is imported inside the builders: it takes about 0.3 s to import and
only the frame tests need it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from conformance.strategies._common import SPECIAL_ETHERTYPES, U32

__all__ = ["frames"]


def _macs() -> st.SearchStrategy[str]:
    return st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


def _ipv4s() -> st.SearchStrategy[str]:
    return st.integers(0, U32).map(lambda n: ".".join(str((n >> s) & 0xFF) for s in (24, 16, 8, 0)))


def _ipv6s() -> st.SearchStrategy[str]:
    return st.integers(0, (1 << 128) - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


def _ports() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([0, 1, 53, 80, 443, 0xFFFF]), st.integers(0, 0xFFFF))


def _l4(v6: bool) -> st.SearchStrategy[Any]:
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import (
        ICMPv6EchoRequest,
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        ICMPv6NDOptDstLLAddr,
        ICMPv6NDOptSrcLLAddr,
    )
    from scapy.layers.sctp import SCTP

    tcp = st.builds(
        lambda s, d, fl, res: TCP(sport=s, dport=d, flags=fl, reserved=res),
        _ports(),
        _ports(),
        st.integers(0, 0x1FF),
        st.integers(0, 7),
    )
    udp = st.builds(lambda s, d: UDP(sport=s, dport=d), _ports(), _ports())
    sctp = st.builds(lambda s, d: SCTP(sport=s, dport=d), _ports(), _ports())
    raw = st.binary(max_size=16)
    if not v6:
        icmp = st.builds(lambda t, c: ICMP(type=t, code=c), st.integers(0, 255), st.integers(0, 255))
        return st.one_of(tcp, udp, sctp, icmp, raw)

    def nd(kind: int, tgt: str, opts: list[tuple[int, str]]) -> Any:
        msg = ICMPv6ND_NS(tgt=tgt) if kind == 0 else ICMPv6ND_NA(tgt=tgt)
        for which, mac in opts:
            msg = msg / (ICMPv6NDOptSrcLLAddr(lladdr=mac) if which == 0 else ICMPv6NDOptDstLLAddr(lladdr=mac))
        return msg

    nds = st.builds(nd, st.integers(0, 1), _ipv6s(), st.lists(st.tuples(st.integers(0, 1), _macs()), max_size=3))
    echo = st.builds(lambda i: ICMPv6EchoRequest(id=i), st.integers(0, 0xFFFF))
    return st.one_of(tcp, udp, sctp, nds, echo, raw)


def _ipv4_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.inet import IP, IPOption_NOP, IPOption_RR

    def build(*, src: str, dst: str, tos: int, ttl: int, frag: int, mf: bool, opts: int, l4: Any) -> Any:
        options = [IPOption_RR(routers=["1.2.3.4"])] * (opts & 1) + [IPOption_NOP()] * (opts >> 1)
        return IP(src=src, dst=dst, tos=tos, ttl=ttl, frag=frag, flags="MF" if mf else 0, options=options) / l4

    frag = st.one_of(st.just(0), st.integers(1, 0x1FFF))
    return st.builds(
        build,
        src=_ipv4s(),
        dst=_ipv4s(),
        tos=st.integers(0, 255),
        ttl=st.integers(0, 255),
        frag=frag,
        mf=st.booleans(),
        opts=st.integers(0, 7),
        l4=_l4(False),
    )


def _ipv6_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.inet6 import (
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )

    def ext(kind: int, off: int, m: bool) -> Any:
        if kind == 0:
            return IPv6ExtHdrHopByHop()
        if kind == 1:
            return IPv6ExtHdrDestOpt()
        if kind == 2:
            return IPv6ExtHdrRouting()
        return IPv6ExtHdrFragment(offset=off, m=int(m))

    exts = st.lists(
        st.builds(ext, st.integers(0, 3), st.one_of(st.just(0), st.integers(1, 0x1FFF)), st.booleans()), max_size=3
    )

    def build(*, src: str, dst: str, tc: int, fl: int, hlim: int, chain: list[Any], l4: Any) -> Any:
        pkt = IPv6(src=src, dst=dst, tc=tc, fl=fl, hlim=hlim)
        for e in chain:
            pkt = pkt / e
        return pkt / l4

    return st.builds(
        build,
        src=_ipv6s(),
        dst=_ipv6s(),
        tc=st.integers(0, 255),
        fl=st.integers(0, 0xFFFFF),
        hlim=st.integers(0, 255),
        chain=exts,
        l4=_l4(True),
    )


def _arp_packets() -> st.SearchStrategy[Any]:
    from scapy.layers.l2 import ARP

    def build(*, op: int, hw: str, ps: str, pd: str, hd: str, bad: bool) -> Any:
        # hwlen 8 is a malformed ARP for the kernel (it keys only Ethernet/IPv4 ARP).
        return ARP(op=op, hwsrc=hw, psrc=ps, pdst=pd, hwdst=hd, hwlen=8 if bad else 6)

    return st.builds(
        build,
        op=st.one_of(st.sampled_from([1, 2, 3, 4]), st.integers(0, 0xFFFF)),
        hw=_macs(),
        ps=_ipv4s(),
        pd=_ipv4s(),
        hd=_macs(),
        bad=st.booleans(),
    )


def _mpls_packets() -> st.SearchStrategy[Any]:
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import IP

    def build(labels: list[tuple[int, int, int]]) -> Any:
        pkt: Any = None
        for i, (label, cos, ttl) in enumerate(labels):
            lse = MPLS(label=label, cos=cos, ttl=ttl, s=int(i == len(labels) - 1))
            pkt = lse if pkt is None else pkt / lse
        return pkt / IP()

    lse = st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), st.integers(0, 255))
    return st.builds(build, st.lists(lse, min_size=1, max_size=5))


def frames(*, truncate: bool = True) -> st.SearchStrategy[bytes]:
    """Ethernet frames of many kinds, as bytes, for ``inject`` and upcall-key tests.

    Ethernet II, 802.1Q and QinQ (0x88a8 outer), 802.3 with LLC and with
    LLC/SNAP, IPv4 (options, first/later fragments) with TCP/UDP/SCTP/ICMP,
    IPv6 with hop-by-hop/destination/routing/fragment headers, TCP/UDP/SCTP,
    ICMPv6 echo and ND with SLL/TLL options, ARP/RARP (also malformed), MPLS
    stacks of 1-5 labels, unknown ethertypes. With ``truncate`` some frames
    are cut short past their layer-2 header (never inside an IPv6 header).
    Compare the upcall key of each with ``reference.odp.extract_key(frame, port)``.
    """
    from scapy.layers.l2 import LLC, SNAP, Dot1AD, Dot1Q, Dot3, Ether
    from scapy.packet import Raw

    l3 = st.one_of(
        _ipv4_packets().map(lambda p: (0x0800, p)),
        _ipv6_packets().map(lambda p: (0x86DD, p)),
        _arp_packets().map(lambda p: (0x0806, p)),
        _arp_packets().map(lambda p: (0x8035, p)),
        _mpls_packets().map(lambda p: (0x8847, p)),
        _mpls_packets().map(lambda p: (0x8848, p)),
        st.tuples(
            st.integers(0x0600, 0xFFFF).filter(lambda t: t not in SPECIAL_ETHERTYPES), st.binary(max_size=40)
        ).map(lambda tp: (tp[0], Raw(tp[1]))),
    )

    def build(
        *, src: str, dst: str, l2: int, tags: list[tuple[int, int, int]], inner: tuple[int, Any], cut: int
    ) -> bytes:
        eth_type, payload = inner
        frame: Any
        if l2 == 1:  # 802.3 + LLC/SNAP with a zero OUI carries an Ethernet II type
            frame = Dot3(src=src, dst=dst) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=eth_type) / payload
            head = 14 + 8
        elif l2 == 2:  # plain 802.2 LLC
            frame = Dot3(src=src, dst=dst) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(bytes(payload))
            head = 14 + 3
        else:
            frame = Ether(src=src, dst=dst)
            head = 14
            for i, (prio, dei, vid) in enumerate(tags):
                outer_ad = l2 == 3 and i == 0 and len(tags) == 2
                tag = (Dot1AD if outer_ad else Dot1Q)(prio=prio, dei=dei, vlan=vid)
                frame = frame / tag
                head += 4
            frame = frame / payload
            frame.getlayer(len(tags)).type = eth_type  # the last L2 header names the payload
        data = bytes(frame)
        if tags and l2 in (0, 3) and len(data) < 20:
            # The veth/NIC receive path (skb_vlan_untag) drops a tagged frame
            # with fewer than 6 bytes after the Ethernet header.
            data += bytes(20 - len(data))
        if not truncate or cut == 0:
            return data
        floor = head + (40 if eth_type == 0x86DD and l2 != 2 else 0)
        if tags and l2 in (0, 3):
            # The veth/NIC receive path (skb_vlan_untag) drops a tagged frame
            # with fewer than 6 bytes after the Ethernet header.
            floor = max(floor, 20)
        return data[: max(floor, len(data) - cut)]

    tags = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1), st.integers(0, 4095)), max_size=2)
    cut = st.one_of(st.just(0), st.just(0), st.integers(1, 40))
    return st.builds(
        build, src=_macs(), dst=_macs(), l2=st.sampled_from([0, 0, 0, 1, 2, 3]), tags=tags, inner=l3, cut=cut
    )
