"""Key fitness: how well a datapath flow key fits what OVS userspace expects.

Reproduces the verdict of OVS's ``odp_flow_key_to_flow`` (``lib/odp-util.c``,
``enum odp_key_fitness`` in ``lib/odp-util.h``) for a flow *key*:

* ``PERFECT``: every attribute present is one userspace expects, and vice versa;
* ``TOO_MUCH``: attributes are present that userspace would not have put there
  (e.g. ``tcp()`` with ``ipv4(proto=17)``, an unknown tunnel option);
* ``TOO_LITTLE``: attributes userspace needs are missing (``eth_type(0x0800)``
  without ``ipv4()``, ``ipv4(proto=6)`` without ``tcp()``);
* ``ERROR``: the key cannot be used at all (malformed attributes, duplicate
  attributes, an Ethertype below 0x600, a VLAN TCI without the CFI bit...).

:func:`mask_fitness_report` gives the verdict of ``odp_flow_key_to_mask`` on
a mask for a key (the same ``odp_flow_key_to_flow__`` walk with ``is_mask``):
dpif-netdev's flow put refuses the flow with ``EINVAL`` unless both are
``PERFECT`` (lib/dpif-netdev.c ``dpif_netdev_flow_from_nlattrs`` and
``dpif_netdev_mask_from_nlattrs``).

Like OVS (since "odp-util: Ignore unknown attributes" for backward
compatibility with newer kernels), top-level attribute types beyond
``OVS_KEY_ATTR_MAX`` (31), such as Linux's ``OVS_KEY_ATTR_IPV6_EXTHDRS`` (32),
are ignored and do not spoil a ``PERFECT`` fit; unknown *tunnel* attributes
do make it ``TOO_MUCH``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reference.errors import OdpDecodeError
from reference.odp.keys import Attribute, decode_key
from reference.uapi import KeyAttr, TunnelKeyAttr

__all__ = [
    "FLOW_MAX_VLAN_HEADERS",
    "OVS_KEY_ATTR_MAX",
    "FitnessReport",
    "KeyFitness",
    "fitness_report",
    "key_fitness",
    "mask_fitness",
    "mask_fitness_report",
]

# OVS userspace's OVS_KEY_ATTR_MAX (include/linux/openvswitch.h: TUNNEL_INFO = 31).
OVS_KEY_ATTR_MAX = 31
# OVS_TUNNEL_KEY_ATTR_MAX in OVS userspace (GTPU_OPTS = 16).
_OVS_TUNNEL_KEY_ATTR_MAX = 16
# include/openvswitch/flow.h.
FLOW_MAX_VLAN_HEADERS = 2
_FLOW_MAX_MPLS_LABELS = 3
_ETH_TYPE_MIN = 0x600
_ETH_TYPE_IP = 0x0800
_ETH_TYPE_IPV6 = 0x86DD
_ETH_TYPE_ARP = 0x0806
_ETH_TYPE_RARP = 0x8035
_ETH_TYPE_MPLS = (0x8847, 0x8848)
_ETH_TYPE_NSH = 0x894F
_ETH_TYPE_VLAN = (0x8100, 0x88A8)
_FLOW_DL_TYPE_NONE = 0x5FF
_VLAN_CFI = 0x1000
_MPLS_BOS = 0x100
_FRAG_LATER = 2
# odp_flow_key_to_flow__: metadata attributes expected whenever present (key and mask).
_METADATA = (
    KeyAttr.RECIRC_ID,
    KeyAttr.DP_HASH,
    KeyAttr.PRIORITY,
    KeyAttr.SKB_MARK,
    KeyAttr.CT_STATE,
    KeyAttr.CT_ZONE,
    KeyAttr.CT_MARK,
    KeyAttr.CT_LABELS,
    KeyAttr.CT_ORIG_TUPLE_IPV4,
    KeyAttr.CT_ORIG_TUPLE_IPV6,
    KeyAttr.IN_PORT,
    KeyAttr.PACKET_TYPE,
)


class KeyFitness(enum.Enum):
    """``enum odp_key_fitness`` (lib/odp-util.h)."""

    PERFECT = "perfect"
    TOO_MUCH = "too_much"
    TOO_LITTLE = "too_little"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FitnessReport:
    """The verdict and, unless ``PERFECT``, a sentence saying why."""

    fitness: KeyFitness
    detail: str = ""


class _Verdict(Exception):
    def __init__(self, fitness: KeyFitness, detail: str) -> None:
        super().__init__(detail)
        self.report = FitnessReport(fitness, detail)


def _attrs(level: tuple[Attribute, ...]) -> dict[int, Attribute]:
    # parse_flow_nlattrs: types above OVS_KEY_ATTR_MAX are ignored.
    return {a.type: a for a in level if a.type <= OVS_KEY_ATTR_MAX}


def _name(t: int) -> str:
    try:
        return KeyAttr(t).name.lower()
    except ValueError:
        return f"key{t}"


def _check(present: dict[int, Attribute], expected: set[int]) -> FitnessReport:
    # odp-util.c check_expectations.
    missing = sorted(set(expected) - set(present))
    if missing:
        names = ", ".join(_name(t) for t in missing)
        return FitnessReport(KeyFitness.TOO_LITTLE, f"expected but not present: {names}")
    extra = sorted(set(present) - set(expected))
    if extra:
        names = ", ".join(_name(t) for t in extra)
        return FitnessReport(KeyFitness.TOO_MUCH, f"present but not expected: {names}")
    return FitnessReport(KeyFitness.PERFECT)


def _tunnel_fitness(tun: Attribute) -> KeyFitness:
    # odp-util.c odp_tun_key_from_attr__ (key path).
    children = tun.children or ()
    types = {c.type for c in children}
    if TunnelKeyAttr.TTL not in types:
        raise _Verdict(KeyFitness.ERROR, "tunnel key without ttl")
    if any(t > _OVS_TUNNEL_KEY_ATTR_MAX or t == TunnelKeyAttr.PAD for t in types):
        return KeyFitness.TOO_MUCH
    return KeyFitness.PERFECT


def _metadata_expected(present: dict[int, Attribute]) -> set[int]:
    # odp_flow_key_to_flow__ (key and mask): metadata present is expected,
    # a tunnel only when odp_tun_key_from_attr__ calls it PERFECT.
    expected: set[int] = {t for t in _METADATA if t in present}
    tun = present.get(KeyAttr.TUNNEL)
    if tun is not None and _tunnel_fitness(tun) == KeyFitness.PERFECT:
        expected.add(KeyAttr.TUNNEL)
    return expected


def _ethertype(present: dict[int, Attribute]) -> int:
    # odp-util.c parse_ethertype (key path).
    et = present.get(KeyAttr.ETHERTYPE)
    if et is not None:
        value = int.from_bytes(et.payload, "big")
        if value < _ETH_TYPE_MIN:
            raise _Verdict(KeyFitness.ERROR, f"invalid Ethertype {value} in flow key")
        return value
    if KeyAttr.IPV4 in present:
        return _ETH_TYPE_IP
    if KeyAttr.IPV6 in present:
        return _ETH_TYPE_IPV6
    if KeyAttr.MPLS in present:
        return _ETH_TYPE_MPLS[0]
    return _FLOW_DL_TYPE_NONE


def _l2_5_onward(present: dict[int, Attribute], expected: set[int], dl_type: int, need_check: bool) -> FitnessReport:
    # odp-util.c parse_l2_5_onward (key path).
    nw_proto = 0
    nw_frag = 0
    if dl_type in _ETH_TYPE_MPLS:
        expected.add(KeyAttr.MPLS)
        mpls = present.get(KeyAttr.MPLS)
        if mpls is not None:
            if not mpls.payload:
                # Linux upcall keys carry an empty stack when it was cut short.
                raise _Verdict(KeyFitness.ERROR, "MPLS LSEs have invalid length 0")
            lses = [int.from_bytes(mpls.payload[i : i + 4], "big") for i in range(0, len(mpls.payload), 4)]
            if len(lses) > _FLOW_MAX_MPLS_LABELS:
                return FitnessReport(KeyFitness.TOO_MUCH, f"{len(lses)} MPLS labels, userspace keeps 3")
            if any(lse & _MPLS_BOS for lse in lses[:-1]):
                raise _Verdict(KeyFitness.ERROR, "MPLS BOS set in non-innermost label")
            if len(lses) < _FLOW_MAX_MPLS_LABELS and not lses[-1] & _MPLS_BOS:
                return FitnessReport(KeyFitness.TOO_LITTLE, "MPLS label stack not terminated by BOS")
        return _check(present, expected) if need_check else FitnessReport(KeyFitness.PERFECT)
    if dl_type in (_ETH_TYPE_IP, _ETH_TYPE_IPV6):
        t = KeyAttr.IPV4 if dl_type == _ETH_TYPE_IP else KeyAttr.IPV6
        expected.add(t)
        l3 = present.get(t)
        if l3 is not None:
            proto_at, frag_at = (8, 11) if t == KeyAttr.IPV4 else (36, 39)
            nw_proto, nw_frag = l3.payload[proto_at], l3.payload[frag_at]
            if nw_frag > _FRAG_LATER:
                raise _Verdict(KeyFitness.ERROR, f"{_name(t)} has invalid frag {nw_frag:#x}")
    elif dl_type in (_ETH_TYPE_ARP, _ETH_TYPE_RARP):
        expected.add(KeyAttr.ARP)
        arp = present.get(KeyAttr.ARP)
        if arp is not None and arp.payload[8]:
            raise _Verdict(KeyFitness.ERROR, f"unsupported ARP opcode {int.from_bytes(arp.payload[8:10], 'big')}")
    elif dl_type == _ETH_TYPE_NSH:
        expected.add(KeyAttr.NSH)
    else:
        return _check(present, expected) if need_check else FitnessReport(KeyFitness.PERFECT)
    is_ip = dl_type in (_ETH_TYPE_IP, _ETH_TYPE_IPV6)
    if is_ip and nw_frag != _FRAG_LATER:
        if nw_proto == 6:
            expected.add(KeyAttr.TCP)
            if KeyAttr.TCP_FLAGS in present:
                expected.add(KeyAttr.TCP_FLAGS)
        elif nw_proto == 17:
            expected.add(KeyAttr.UDP)
        elif nw_proto == 132:
            expected.add(KeyAttr.SCTP)
        elif nw_proto == 1 and dl_type == _ETH_TYPE_IP:
            expected.add(KeyAttr.ICMP)
        elif nw_proto == 58 and dl_type == _ETH_TYPE_IPV6:
            expected.add(KeyAttr.ICMPV6)
            icmp = present.get(KeyAttr.ICMPV6)
            # lib/flow.h is_nd(): neighbour solicitation/advertisement, code 0.
            if icmp is not None and icmp.payload[0] in (135, 136) and icmp.payload[1] == 0:
                expected.add(KeyAttr.ND)
                if KeyAttr.ND_EXTENSIONS in present:
                    expected.add(KeyAttr.ND_EXTENSIONS)
    return _check(present, expected) if need_check else FitnessReport(KeyFitness.PERFECT)


def _8021q_onward(present: dict[int, Attribute], expected: set[int], dl_type: int, vlan_limit: int) -> FitnessReport:
    # odp-util.c parse_8021q_onward (key path).
    encaps = 0
    while encaps < vlan_limit and dl_type in _ETH_TYPE_VLAN:
        expected |= {KeyAttr.VLAN, KeyAttr.ENCAP}
        fitness = _check(present, expected)
        vlan = present.get(KeyAttr.VLAN)
        encap = present.get(KeyAttr.ENCAP)
        if vlan is None or encap is None:
            missing = "vlan" if vlan is None else "encap"
            return FitnessReport(KeyFitness.TOO_LITTLE, f"VLAN Ethertype without {missing}")
        tci = int.from_bytes(vlan.payload, "big")
        if tci == 0:
            # A truncated 802.1Q header: encap() must then be empty.
            if fitness.fitness == KeyFitness.PERFECT and encap.body:
                return FitnessReport(KeyFitness.TOO_MUCH, "truncated VLAN header with a non-empty encap")
            return fitness
        if not tci & _VLAN_CFI:
            raise _Verdict(KeyFitness.ERROR, f"OVS_KEY_ATTR_VLAN {tci:#06x} is nonzero but CFI bit is not set")
        present = _attrs(encap.children or ())
        expected = set()
        dl_type = _ethertype(present)
        if KeyAttr.ETHERTYPE in present:
            expected.add(KeyAttr.ETHERTYPE)
        inner = _l2_5_onward(present, expected, dl_type, need_check=False)
        if inner.fitness != KeyFitness.PERFECT:
            return inner
        encaps += 1
    return _check(present, expected)


def fitness_report(key: bytes, *, vlan_limit: int = FLOW_MAX_VLAN_HEADERS) -> FitnessReport:
    """The fitness of ``key`` as OVS's ``odp_flow_key_to_flow`` judges it, with the reason.

    ``vlan_limit`` is OVS's ``flow_vlan_limit`` (``other_config:vlan-limit``,
    at most 2). Malformed bytes give ``ERROR`` rather than an exception.
    """
    try:
        top = decode_key(key).attrs
    except OdpDecodeError as exc:
        return FitnessReport(KeyFitness.ERROR, str(exc))
    try:
        present = _attrs(top)
        expected = _metadata_expected(present)
        if KeyAttr.ETHERNET in present:
            expected.add(KeyAttr.ETHERNET)
        elif KeyAttr.ETHERTYPE in present:
            expected.add(KeyAttr.ETHERTYPE)
        dl_type = _ethertype(present)
        if KeyAttr.ETHERTYPE in present:
            expected.add(KeyAttr.ETHERTYPE)
        if dl_type in _ETH_TYPE_VLAN:
            return _8021q_onward(present, expected, dl_type, max(0, min(vlan_limit, FLOW_MAX_VLAN_HEADERS)))
        return _l2_5_onward(present, expected, dl_type, need_check=True)
    except _Verdict as verdict:
        return verdict.report


def key_fitness(key: bytes, *, vlan_limit: int = FLOW_MAX_VLAN_HEADERS) -> KeyFitness:
    """``PERFECT``, ``TOO_MUCH``, ``TOO_LITTLE`` or ``ERROR`` for ``key``; see :func:`fitness_report`."""
    return fitness_report(key, vlan_limit=vlan_limit).fitness


# --- the mask: odp_flow_key_to_mask ------------------------------------------------------------

_PT_ETH = 0  # packet_type (OFPHTN_ONF, OFPHTO_ETHERNET)
_OFPHTN_ETHERTYPE = 1
_ICMPV6_ND = (135, 136)  # ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT
_L4: dict[int, tuple[int, ...]] = {
    # nw_proto -> (attribute, dl_types it applies to); parse_l2_5_onward's L4 branches.
    6: (KeyAttr.TCP, _ETH_TYPE_IP, _ETH_TYPE_IPV6),
    17: (KeyAttr.UDP, _ETH_TYPE_IP, _ETH_TYPE_IPV6),
    132: (KeyAttr.SCTP, _ETH_TYPE_IP, _ETH_TYPE_IPV6),
    1: (KeyAttr.ICMP, _ETH_TYPE_IP),
    58: (KeyAttr.ICMPV6, _ETH_TYPE_IPV6),
}


def _pct_hash_x(value: int) -> str:
    # C printf "%#x": zero is "0", not "0x0" (OVS's error messages use it).
    return f"{value:#x}" if value else "0"


@dataclass(frozen=True, slots=True)
class _SrcFlow:
    """The fields of the key's ``struct flow`` that the mask walk consults (``src_flow``)."""

    packet_type: int
    dl_type: int
    tcis: tuple[int, ...]
    nw_proto: int = 0
    frag_later: bool = False
    tp_src: int = 0
    tp_dst: int = 0


def _src_flow(top: tuple[Attribute, ...], vlan_limit: int) -> _SrcFlow:
    """What odp_flow_key_to_flow__ leaves in ``struct flow`` for a PERFECT key."""
    present = _attrs(top)
    pt = present.get(KeyAttr.PACKET_TYPE)
    packet_type = int.from_bytes(pt.payload, "big") if pt is not None else _PT_ETH
    if KeyAttr.ETHERNET in present:
        packet_type = _PT_ETH
    elif (et := present.get(KeyAttr.ETHERTYPE)) is not None:
        packet_type = _OFPHTN_ETHERTYPE << 16 | int.from_bytes(et.payload, "big")
    dl_type = _ethertype(present)
    tcis: list[int] = []
    # parse_8021q_onward (key path): each VLAN level moves the Ethertype inward.
    while len(tcis) < vlan_limit and dl_type in _ETH_TYPE_VLAN:
        vlan, encap = present.get(KeyAttr.VLAN), present.get(KeyAttr.ENCAP)
        tci = int.from_bytes(vlan.payload, "big") if vlan is not None else 0
        tcis.append(tci)
        if tci == 0 or encap is None:
            dl_type = 0
            break
        present = _attrs(encap.children or ())
        dl_type = _ethertype(present)
    l3 = present.get(KeyAttr.IPV4 if dl_type == _ETH_TYPE_IP else KeyAttr.IPV6)
    if dl_type not in (_ETH_TYPE_IP, _ETH_TYPE_IPV6) or l3 is None:
        return _SrcFlow(packet_type, dl_type, tuple(tcis))
    proto_at, frag_at = (8, 11) if dl_type == _ETH_TYPE_IP else (36, 39)
    icmp = present.get(KeyAttr.ICMPV6 if dl_type == _ETH_TYPE_IPV6 else KeyAttr.ICMP)
    tp = (icmp.payload[0], icmp.payload[1]) if icmp is not None else (0, 0)
    return _SrcFlow(packet_type, dl_type, tuple(tcis), l3.payload[proto_at], l3.payload[frag_at] == _FRAG_LATER, *tp)


class _MaskWalk:
    """odp_flow_key_to_flow__ with ``is_mask``: ``flow`` is the mask, ``src`` the key's flow."""

    __slots__ = ("dl_type", "nd_code_exact", "nw_proto", "src", "vlan_limit")

    def __init__(self, src: _SrcFlow, vlan_limit: int, nd_code_exact: bool = True) -> None:
        self.src = src
        self.vlan_limit = vlan_limit
        self.nd_code_exact = nd_code_exact
        self.dl_type = 0  # the mask's dl_type
        self.nw_proto = 0  # the mask's nw_proto

    def ethertype(self, present: dict[int, Attribute], expected: set[int]) -> None:
        # parse_ethertype, mask path.
        src = self.src
        et = present.get(KeyAttr.ETHERTYPE)
        if et is not None:
            self.dl_type = int.from_bytes(et.payload, "big")
            if src.dl_type < _ETH_TYPE_MIN and self.dl_type != 0xFFFF:
                raise _Verdict(
                    KeyFitness.ERROR,
                    f'can\'t bitwise match non-Ethernet II "Ethertype" {_pct_hash_x(src.dl_type)} '
                    f"(with mask {_pct_hash_x(self.dl_type)})",
                )
            expected.add(KeyAttr.ETHERTYPE)
        elif src.packet_type != _PT_ETH:
            self.dl_type = 0xFFFF  # dl_type is mandatory for non-Ethernet packets
        elif src.dl_type < _ETH_TYPE_MIN:
            raise _Verdict(KeyFitness.ERROR, "mask expected for non-Ethernet II frame")

    def l3(self, present: dict[int, Attribute], expected: set[int]) -> bool:
        """The L3 part of parse_l2_5_onward, mask path; ``False``: nothing above L2.5 to parse."""
        src = self.src
        if src.dl_type in _ETH_TYPE_MPLS:
            mpls = present.get(KeyAttr.MPLS)
            if mpls is not None:
                # (Its "unexpected MPLS Ethertype mask" check reads the mask's
                # mpls_lse[0] before setting it: always zero, never fires.)
                expected.add(KeyAttr.MPLS)
                if not mpls.payload:
                    raise _Verdict(KeyFitness.ERROR, "MPLS LSEs have invalid length 0")
                if len(mpls.payload) // 4 > _FLOW_MAX_MPLS_LABELS:
                    raise _Verdict(KeyFitness.TOO_MUCH, f"{len(mpls.payload) // 4} MPLS labels, userspace keeps 3")
            return False
        if src.dl_type in (_ETH_TYPE_IP, _ETH_TYPE_IPV6):
            t = KeyAttr.IPV4 if src.dl_type == _ETH_TYPE_IP else KeyAttr.IPV6
            a = present.get(t)
            if a is not None:
                # put_ipv4_key/put_ipv6_key; a frag mask becomes 0 or FLOW_NW_FRAG_MASK, never invalid.
                self.nw_proto = a.payload[8 if t == KeyAttr.IPV4 else 36]
        elif src.dl_type in (_ETH_TYPE_ARP, _ETH_TYPE_RARP):
            t, a = KeyAttr.ARP, present.get(KeyAttr.ARP)
        elif src.dl_type == _ETH_TYPE_NSH:
            # odp_nsh_key_from_attr__ on the mask: only ERROR counts (a bad
            # length, which decode_key already refuses); TOO_MUCH is ignored.
            t, a = KeyAttr.NSH, present.get(KeyAttr.NSH)
        else:
            return False
        if a is not None and a.body:
            if any(a.body) and self.dl_type != 0xFFFF:
                raise _Verdict(
                    KeyFitness.ERROR,
                    "unexpected L3 matching with masked Ethertype "
                    f"{_pct_hash_x(src.dl_type)}/{_pct_hash_x(self.dl_type)}",
                )
            expected.add(t)
        return True

    def l4(self, present: dict[int, Attribute], expected: set[int]) -> None:
        # The L4 part of parse_l2_5_onward, mask path.
        src = self.src
        branch = _L4.get(src.nw_proto)
        if branch is None or src.dl_type not in branch[1:] or src.frag_later:
            return
        t = branch[0]
        a = present.get(t)
        if t == KeyAttr.TCP and KeyAttr.TCP_FLAGS in present:
            expected.add(KeyAttr.TCP_FLAGS)
        if a is None:
            return
        if t in (KeyAttr.ICMP, KeyAttr.ICMPV6):
            tp_src, tp_dst = a.payload[0], a.payload[1]
        else:
            tp_src, tp_dst = int.from_bytes(a.payload[0:2], "big"), int.from_bytes(a.payload[2:4], "big")
        if t == KeyAttr.ICMPV6 and src.tp_src in _ICMPV6_ND and src.tp_dst == 0:  # lib/flow.h is_nd()
            for nd in (KeyAttr.ND, KeyAttr.ND_EXTENSIONS):
                m = present.get(nd)
                if m is None:
                    continue
                # "Even though 'tp_src' and 'tp_dst' are 16 bits wide, ICMP type
                # and code are 8 bits wide": an ND mask needs both exact. Since
                # 5c8586b1a (v3.3.0, "odp: ND: Follow Open Flow spec") plain ND
                # needs only the type exact; nd_ext still needs both.
                if nd == KeyAttr.ND and not self.nd_code_exact:
                    if any(m.payload) and tp_src != 0xFF:
                        raise _Verdict(
                            KeyFitness.ERROR,
                            f"ICMP src mask should be (0xff) but is actually ({_pct_hash_x(tp_src)})",
                        )
                elif any(m.payload) and (tp_src, tp_dst) != (0xFF, 0xFF):
                    # OVS words this for ND only; nd_ext is refused without a message.
                    raise _Verdict(
                        KeyFitness.ERROR,
                        "ICMP (src,dst) masks should be (0xff,0xff) but are actually "
                        f"({_pct_hash_x(tp_src)},{_pct_hash_x(tp_dst)})" + ("" if nd == KeyAttr.ND else " (nd_ext)"),
                    )
                expected.add(nd)
        if (tp_src or tp_dst) and self.nw_proto != 0xFF:
            raise _Verdict(KeyFitness.ERROR, "flow matches on L4 ports but does not define an L4 protocol")
        expected.add(t)

    def l2_5_onward(self, present: dict[int, Attribute], expected: set[int], need_check: bool) -> FitnessReport:
        if self.l3(present, expected):
            self.l4(present, expected)
        return _check(present, expected) if need_check else FitnessReport(KeyFitness.PERFECT)

    def vlans(self, present: dict[int, Attribute], expected: set[int]) -> FitnessReport:
        # parse_8021q_onward, mask path: walks as deep as the key's VLAN tags with CFI.
        tcis = self.src.tcis
        encaps = 0
        while encaps < min(self.vlan_limit, len(tcis)) and tcis[encaps] & _VLAN_CFI:
            expected |= {t for t in (KeyAttr.VLAN, KeyAttr.ENCAP) if t in present}
            fitness = _check(present, expected)
            self.dl_type = 0
            encap = present.get(KeyAttr.ENCAP)
            if encap is None:
                return fitness
            present = _attrs(encap.children or ())
            expected = set()
            self.ethertype(present, expected)
            inner = self.l2_5_onward(present, expected, need_check=False)
            if inner.fitness != KeyFitness.PERFECT:
                return inner
            encaps += 1
        return _check(present, expected)


def mask_fitness_report(
    key: bytes, mask: bytes, *, vlan_limit: int = FLOW_MAX_VLAN_HEADERS, nd_code_exact: bool = True
) -> FitnessReport:
    """The fitness of ``mask`` for ``key`` as OVS's ``odp_flow_key_to_mask`` judges it, with the reason.

    ``odp_flow_key_to_mask`` parses the mask against the key's parsed flow,
    so a key that is not ``PERFECT`` gives its own report. An empty mask is
    ``PERFECT`` (OVS then matches the key exactly). Malformed bytes give
    ``ERROR`` rather than an exception. ``nd_code_exact``: an ND mask needs
    the ICMPv6 code exact too, as before OVS v3.3.0 (False: v3.3.0 and later).
    """
    limit = max(0, min(vlan_limit, FLOW_MAX_VLAN_HEADERS))
    report = fitness_report(key, vlan_limit=limit)
    if report.fitness != KeyFitness.PERFECT or not mask:
        return report
    try:
        top = decode_key(mask, is_mask=True).attrs
    except OdpDecodeError as exc:
        return FitnessReport(KeyFitness.ERROR, str(exc))
    walk = _MaskWalk(_src_flow(decode_key(key).attrs, limit), limit, nd_code_exact)
    try:
        present = _attrs(top)
        expected = _metadata_expected(present)
        pt = present.get(KeyAttr.PACKET_TYPE)
        if pt is not None and walk.src.packet_type >> 16 == _OFPHTN_ETHERTYPE:
            walk.dl_type = int.from_bytes(pt.payload[2:4], "big")
        if KeyAttr.ETHERNET in present:
            expected.add(KeyAttr.ETHERNET)
        elif KeyAttr.ETHERTYPE in present:
            expected.add(KeyAttr.ETHERTYPE)
        walk.ethertype(present, expected)
        if walk.src.tcis and walk.src.tcis[0] & _VLAN_CFI:
            return walk.vlans(present, expected)
        if KeyAttr.VLAN in present:
            expected.add(KeyAttr.VLAN)
        return walk.l2_5_onward(present, expected, need_check=True)
    except _Verdict as verdict:
        return verdict.report


def mask_fitness(key: bytes, mask: bytes, *, vlan_limit: int = FLOW_MAX_VLAN_HEADERS) -> KeyFitness:
    """``PERFECT`` when dpif-netdev would take ``key`` with ``mask``; see :func:`mask_fitness_report`."""
    return mask_fitness_report(key, mask, vlan_limit=vlan_limit).fitness
