"""Flow actions as the Linux 6.1 datapath validates, stores and sends them back; no I/O.

The kernel checks actions against the flow's masked key
(net/openvswitch/flow_netlink.c ``ovs_nla_copy_actions`` ->
``__ovs_nla_copy_actions``): a pop_mpls on an IPv4 flow, a push_eth on an
Ethernet flow, a set of a field the flow's protocol does not have, ct on a
non-IP flow, an action type above ``OVS_ACTION_ATTR_MAX`` (DEC_TTL in 6.1,
so none of the userspace-only ones) are all EINVAL. The stored form differs
from the request and is re-serialised on every reply
(``ovs_nla_put_actions``): sample and check_pkt_len come back in the
kernel's attribute order, dec_ttl and clone rebuilt from their parts.

Not modelled (left to :func:`reference.odp.actions.validate_actions`):
the contents of ct beyond its attribute lengths, mark/labels and helper
(``ovs_ct_copy_action``: timeouts, NAT ranges), of push_nsh, and the
re-serialisation of ct's NAT and of set(tunnel).
"""

from __future__ import annotations

import struct

from reference._netlink import iter_attrs, pack_attr
from reference._swkey import SwKey
from reference.errors import OdpDecodeError
from reference.uapi import (
    ActionAttr,
    CheckPktLenAttr,
    CtAttr,
    DecTtlAttr,
    KeyAttr,
    NatAttr,
    SampleAttr,
    UserspaceAttr,
)

__all__ = ["NatConflict", "kernel_actions"]

_A = ActionAttr
_ACTION_ATTR_MAX = int(ActionAttr.DEC_TTL)  # Linux 6.1 include/uapi/linux/openvswitch.h
_VAR = -1
# __ovs_nla_copy_actions action_lens
_LENS: dict[int, int] = {
    _A.OUTPUT: 4,
    _A.RECIRC: 4,
    _A.USERSPACE: _VAR,
    _A.PUSH_MPLS: 8,
    _A.POP_MPLS: 2,
    _A.PUSH_VLAN: 4,
    _A.POP_VLAN: 0,
    _A.SET: _VAR,
    _A.SET_MASKED: _VAR,
    _A.SAMPLE: _VAR,
    _A.HASH: 8,
    _A.CT: _VAR,
    _A.CT_CLEAR: 0,
    _A.TRUNC: 4,
    _A.PUSH_ETH: 12,
    _A.POP_ETH: 0,
    _A.PUSH_NSH: _VAR,
    _A.POP_NSH: 0,
    _A.METER: 4,
    _A.CLONE: _VAR,
    _A.CHECK_PKT_LEN: _VAR,
    _A.ADD_MPLS: 8,
    _A.DEC_TTL: _VAR,
}
# flow_netlink.c ovs_key_lens for the keys a set action may carry (-1: nested/variable)
_SET_LENS: dict[int, int] = {
    KeyAttr.PRIORITY: 4,
    KeyAttr.SKB_MARK: 4,
    KeyAttr.CT_MARK: 4,
    KeyAttr.CT_LABELS: 16,
    KeyAttr.ETHERNET: 12,
    KeyAttr.TUNNEL: _VAR,
    KeyAttr.IPV4: 12,
    KeyAttr.IPV6: 40,
    KeyAttr.TCP: 4,
    KeyAttr.UDP: 4,
    KeyAttr.SCTP: 4,
    KeyAttr.MPLS: _VAR,
    KeyAttr.NSH: _VAR,
}
_KEY_LENS_OTHER: dict[int, int] = {
    KeyAttr.ENCAP: _VAR,
    KeyAttr.IN_PORT: 4,
    KeyAttr.VLAN: 2,
    KeyAttr.ETHERTYPE: 2,
    KeyAttr.ICMP: 2,
    KeyAttr.ICMPV6: 2,
    KeyAttr.ARP: 24,
    KeyAttr.ND: 28,
    KeyAttr.TCP_FLAGS: 2,
    KeyAttr.DP_HASH: 4,
    KeyAttr.RECIRC_ID: 4,
    KeyAttr.CT_STATE: 4,
    KeyAttr.CT_ZONE: 2,
    KeyAttr.CT_ORIG_TUPLE_IPV4: 16,
    KeyAttr.CT_ORIG_TUPLE_IPV6: 40,
    KeyAttr.IPV6_EXTHDRS: 2,
}
_ETH_P_IP, _ETH_P_IPV6, _ETH_P_ARP, _ETH_P_RARP = 0x0800, 0x86DD, 0x0806, 0x8035
_ETH_P_MPLS = (0x8847, 0x8848)
_ETH_P_NSH, _ETH_P_TEB = 0x894F, 0x6558
_VLAN_TPIDS = (0x8100, 0x88A8)
_VLAN_CFI = 0x1000
_ETH_HLEN = 14
_DP_MAX_PORTS = 0xFFFF
_MAC_NONE, _MAC_ETHERNET = 0, 1
_SAMPLE_ATTR_MAX = int(SampleAttr.ACTIONS)
_DEC_TTL_ATTR_MAX = int(DecTtlAttr.ACTION)
_USERSPACE_ATTR_MAX = int(UserspaceAttr.ACTIONS)
_NLA_HDRLEN = 4
# include/net/nsh.h tun_p_from_eth_p
_TUN_P_FROM_ETH = {_ETH_P_IP: 1, _ETH_P_IPV6: 2, _ETH_P_NSH: 4, _ETH_P_TEB: 3, 0x8847: 5}
_TUN_P_TO_ETH = {1: _ETH_P_IP, 2: _ETH_P_IPV6, 3: _ETH_P_TEB, 4: _ETH_P_NSH, 5: 0x8847}


class _Invalid(OdpDecodeError):
    pass


class NatConflict(_Invalid):
    """ERANGE: a ct action names two NAT types (conntrack.c parse_nat)."""


def _fail(what: str) -> _Invalid:
    return _Invalid(what, where="actions")


class _Walk:
    """The state __ovs_nla_copy_actions threads through one action list."""

    def __init__(self, key: SwKey, eth_type: int, vlan_tci: int, mpls_count: int) -> None:
        self.key = key
        self.eth_type = eth_type
        self.vlan_tci = vlan_tci
        self.mpls_count = mpls_count
        self.mac_proto = key.get("mac_proto")[0] & 0x7F

    def child(self) -> _Walk:
        w = _Walk(self.key, self.eth_type, self.vlan_tci, self.mpls_count)
        return w


def _nested(payload: bytes, what: str) -> list[tuple[int, bytes]]:
    try:
        return [(t, p) for t, p, _ in iter_attrs(payload, where=what)]
    except OdpDecodeError:
        raise _fail(f"{what}: attributes do not frame") from None


def _validate_set(w: _Walk, payload: bytes, masked: bool) -> bytes:
    """validate_set; returns the set action as the kernel sends it back."""
    inner = _nested(payload, "set")
    if len(inner) != 1 or len(pack_attr(inner[0][0], inner[0][1])) != len(payload):
        raise _fail("set: exactly one key attribute")
    t, value = inner[0]
    n = len(value) // 2 if masked else len(value)
    expected = _SET_LENS.get(t, _KEY_LENS_OTHER.get(t))
    if t > KeyAttr.IPV6_EXTHDRS or expected is None or expected not in (_VAR, n):
        raise _fail(f"set: key attribute {t} of {n} bytes")
    if masked and any(v & ~m & 0xFF for v, m in zip(value[:n], value[n : 2 * n], strict=True)):
        raise _fail("set_masked: value bits outside the mask")
    et, proto = w.eth_type, w.key.get("ip_proto")[0]
    if t in (KeyAttr.PRIORITY, KeyAttr.SKB_MARK, KeyAttr.CT_MARK, KeyAttr.CT_LABELS):
        pass
    elif t == KeyAttr.ETHERNET:
        if w.mac_proto != _MAC_ETHERNET:
            raise _fail("set(eth) on a flow without Ethernet")
    elif t == KeyAttr.TUNNEL:
        if masked:
            raise _fail("masked tunnel set")
    elif t == KeyAttr.IPV4:
        if et != _ETH_P_IP:
            raise _fail("set(ipv4) on a non-IPv4 flow")
        if masked:
            if value[n + 8] or value[n + 11]:
                raise _fail("set_masked(ipv4): proto and frag are not writable")
        elif value[8] != proto or value[11] != w.key.get("ip_frag")[0]:
            raise _fail("set(ipv4): proto/frag differ from the flow's")
    elif t == KeyAttr.IPV6:
        if et != _ETH_P_IPV6:
            raise _fail("set(ipv6) on a non-IPv6 flow")
        if masked:
            if value[n + 36] or value[n + 39] or int.from_bytes(value[n + 32 : n + 36], "big") & 0xFFF00000:
                raise _fail("set_masked(ipv6): proto, frag or label mask")
        elif value[36] != proto or value[39] != w.key.get("ip_frag")[0]:
            raise _fail("set(ipv6): proto/frag differ from the flow's")
        if int.from_bytes(value[32:36], "big") & 0xFFF00000:
            raise _fail("set(ipv6): flow label above 20 bits")
    elif t in (KeyAttr.TCP, KeyAttr.UDP, KeyAttr.SCTP):
        want = {KeyAttr.TCP: 6, KeyAttr.UDP: 17, KeyAttr.SCTP: 132}[KeyAttr(t)]
        if et not in (_ETH_P_IP, _ETH_P_IPV6) or proto != want:
            raise _fail(f"set of L4 attribute {t} on a flow with another protocol")
    elif t == KeyAttr.MPLS:
        if et not in _ETH_P_MPLS:
            raise _fail("set(mpls) on a non-MPLS flow")
    elif t == KeyAttr.NSH:
        if et != _ETH_P_NSH:
            raise _fail("set(nsh) on a non-NSH flow")
    else:
        raise _fail(f"set of key attribute {t}")
    return pack_attr(_A.SET_MASKED if masked else _A.SET, payload)


def _userspace(payload: bytes) -> None:
    # validate_userspace: nla_parse_nested_deprecated (types above MAX ignored) + PID != 0.
    found: dict[int, bytes] = {}
    for t, p in _nested(payload, "userspace"):
        if t > _USERSPACE_ATTR_MAX:
            continue
        if t in (UserspaceAttr.PID, UserspaceAttr.EGRESS_TUN_PORT) and len(p) < 4:
            raise _fail("userspace: short u32")
        found[t] = p
    pid = found.get(UserspaceAttr.PID)
    if pid is None or not struct.unpack_from("=I", pid)[0]:
        raise _fail("userspace: no PID")


def _actions_of(payload: bytes, what: str) -> bytes:
    if payload and len(payload) < _NLA_HDRLEN:
        raise _fail(f"{what}: action list shorter than an attribute header")
    return payload


def _walk(w: _Walk, data: bytes, depth: int) -> bytes:
    out: list[bytes] = []
    for t, p in _nested(data, "actions"):
        if t > _ACTION_ATTR_MAX or t == _A.UNSPEC:
            raise _fail(f"action type {t} unknown to Linux 6.1")
        want = _LENS[t]
        if want != _VAR and len(p) != want:
            raise _fail(f"action {t}: {len(p)} bytes")
        copy = pack_attr(t, p)
        if t == _A.USERSPACE:
            _userspace(p)
        elif t == _A.OUTPUT:
            if struct.unpack("=I", p)[0] >= _DP_MAX_PORTS:
                raise _fail("output port out of range")
        elif t == _A.TRUNC:
            if struct.unpack("=I", p)[0] < _ETH_HLEN:
                raise _fail("trunc below an Ethernet header")
        elif t == _A.HASH:
            # Linux 6.1 knows OVS_HASH_ALG_L4 only (SYM_L4 is userspace's).
            if struct.unpack_from("=I", p)[0] != 0:
                raise _fail("hash algorithm")
        elif t == _A.POP_VLAN:
            if w.mac_proto != _MAC_ETHERNET:
                raise _fail("pop_vlan without Ethernet")
            w.vlan_tci = 0
        elif t == _A.PUSH_VLAN:
            tpid, tci = struct.unpack("!HH", p)
            if w.mac_proto != _MAC_ETHERNET or tpid not in _VLAN_TPIDS or not tci & _VLAN_CFI:
                raise _fail("push_vlan")
            w.vlan_tci = tci
        elif t == _A.ADD_MPLS:
            ethertype = struct.unpack_from("!H", p, 4)[0]
            tun_flags = struct.unpack_from("=H", p, 6)[0]
            if ethertype not in _ETH_P_MPLS:
                raise _fail("add_mpls ethertype")
            if tun_flags & 1:
                if w.vlan_tci & _VLAN_CFI or (
                    w.eth_type not in (_ETH_P_IP, _ETH_P_IPV6, _ETH_P_ARP, _ETH_P_RARP)
                    and w.eth_type not in _ETH_P_MPLS
                ):
                    raise _fail("add_mpls on this packet")
                w.mpls_count += 1
            elif w.mac_proto == _MAC_ETHERNET:
                w.mpls_count = 1
                w.mac_proto = _MAC_NONE
            else:
                w.mpls_count += 1
            w.eth_type = ethertype
        elif t == _A.PUSH_MPLS:
            ethertype = struct.unpack_from("!H", p, 4)[0]
            if ethertype not in _ETH_P_MPLS:
                raise _fail("push_mpls ethertype")
            if w.vlan_tci & _VLAN_CFI or (
                w.eth_type not in (_ETH_P_IP, _ETH_P_IPV6, _ETH_P_ARP, _ETH_P_RARP) and w.eth_type not in _ETH_P_MPLS
            ):
                raise _fail("push_mpls on this packet")
            w.eth_type = ethertype
            w.mpls_count += 1
        elif t == _A.POP_MPLS:
            if w.vlan_tci & _VLAN_CFI or w.eth_type not in _ETH_P_MPLS:
                raise _fail("pop_mpls on a non-MPLS packet")
            proto = struct.unpack("!H", p)[0]
            if proto == _ETH_P_TEB and w.mac_proto != _MAC_NONE:
                raise _fail("pop_mpls to Ethernet on an Ethernet packet")
            w.mpls_count -= 1
            w.eth_type = proto if proto in _ETH_P_MPLS and w.mpls_count else 0
        elif t in (_A.SET, _A.SET_MASKED):
            copy = _validate_set(w, p, t == _A.SET_MASKED)
        elif t == _A.SAMPLE:
            copy = _sample(w, p, depth)
        elif t == _A.CT:
            copy = _ct(w, p)
        elif t == _A.PUSH_ETH:
            if w.mac_proto != _MAC_NONE:
                raise _fail("push_eth on a packet with Ethernet")
            w.mac_proto = _MAC_ETHERNET
        elif t == _A.POP_ETH:
            if w.mac_proto != _MAC_ETHERNET or w.vlan_tci & _VLAN_CFI:
                raise _fail("pop_eth")
            w.mac_proto = _MAC_NONE
        elif t == _A.PUSH_NSH:
            if w.mac_proto != _MAC_ETHERNET and w.eth_type not in _TUN_P_FROM_ETH:
                raise _fail("push_nsh on this packet")
            w.mac_proto = _MAC_NONE
        elif t == _A.POP_NSH:
            np = w.key.get("nsh_base")[3]
            if w.eth_type != _ETH_P_NSH or np not in _TUN_P_TO_ETH:
                raise _fail("pop_nsh")
            w.mac_proto = _MAC_ETHERNET if np == 3 else _MAC_NONE
        elif t == _A.CLONE:
            acts = _walk(w.child(), _actions_of(p, "clone"), depth + 1)
            copy = pack_attr(_A.CLONE, acts)
        elif t == _A.CHECK_PKT_LEN:
            copy = _check_pkt_len(w, p, depth)
        elif t == _A.DEC_TTL:
            copy = _dec_ttl(w, p, depth)
        out.append(copy)
    return b"".join(out)


# conntrack.c ovs_ct_attr_lens: (min, max) payload length per OVS_CT_ATTR_*.
_CT_LENS: dict[int, tuple[int, int]] = {
    CtAttr.COMMIT: (0, 0),
    CtAttr.ZONE: (2, 2),
    CtAttr.MARK: (8, 8),
    CtAttr.LABELS: (32, 32),
    CtAttr.HELPER: (1, 16),
    CtAttr.NAT: (0, 1 << 16),
    CtAttr.FORCE_COMMIT: (0, 0),
    CtAttr.EVENTMASK: (4, 4),
    CtAttr.TIMEOUT: (1, 32),
}


def _cstring(p: bytes, what: str) -> bytes:
    if b"\0" not in p:
        raise _fail(f"ct {what} is not NUL-terminated")
    return p.split(b"\0", 1)[0] + b"\0"


# The conntrack helpers Linux 6.1 registers, by name, with the (address family,
# IP protocol) pairs each serves (net/netfilter/nf_conntrack_{ftp,tftp,irc,sip,
# amanda,sane,pptp,netbios_ns,snmp,h323_main}.c, nf_ct_helper_init calls).
# ovs_ct_add_helper (net/openvswitch/conntrack.c) looks the ct action's helper
# up with nf_conntrack_helper_try_module_get(name, family, key->ip.proto) and
# answers EINVAL ("Unknown helper") when none matches. A listed helper is
# taken as loadable: a kernel built without its module refuses it too.
_V4, _V6, _TCP, _UDP = 2, 10, 6, 17
_BOTH = (_V4, _V6)
_CT_HELPERS: dict[bytes, frozenset[tuple[int, int]]] = {
    name: frozenset((f, p) for f in families for p in protos)
    for name, families, protos in (
        (b"ftp", _BOTH, (_TCP,)),
        (b"tftp", _BOTH, (_UDP,)),
        (b"irc", (_V4,), (_TCP,)),
        (b"sip", _BOTH, (_TCP, _UDP)),
        (b"amanda", _BOTH, (_UDP,)),
        (b"sane", _BOTH, (_TCP,)),
        (b"pptp", (_V4,), (_TCP,)),
        (b"netbios-ns", (_V4,), (_UDP,)),
        (b"snmp", (_V4,), (_UDP,)),
        (b"RAS", _BOTH, (_UDP,)),
        (b"Q.931", _BOTH, (_TCP,)),
    )
}


def _check_helper(w: _Walk, name: bytes) -> None:
    bare = name.rstrip(b"\0")
    family = _V4 if w.key.be("eth_type") == _ETH_P_IP else _V6
    if (family, w.key.get("ip_proto")[0]) not in _CT_HELPERS.get(bare, frozenset()):
        raise _fail(f"unknown conntrack helper {bare!r} for this flow's family and protocol")


_NAT_FLAG_ATTRS = (NatAttr.PERSISTENT, NatAttr.PROTO_HASH, NatAttr.PROTO_RANDOM)


class _Nat:
    """What conntrack.c parse_nat leaves in struct ovs_conntrack_info, across the ct action's NAT attributes."""

    def __init__(self, ipv6: bool) -> None:
        self.ipv6 = ipv6
        self.kind: NatAttr | None = None  # SRC or DST once one is given
        self.any = False  # info->nat != 0
        self.ip_min = self.ip_max = bytes(16 if ipv6 else 4)
        self.proto_min = self.proto_max = 0
        self.map_ips = self.proto_specified = False
        self.flags: set[NatAttr] = set()

    def parse(self, payload: bytes, commit: bool) -> None:
        # parse_nat: types above OVS_NAT_ATTR_MAX, lengths per family, one NAT type only
        # (ERANGE), flags only with a type, a type only with commit given before it.
        have_ip_max = have_proto_max = False
        addr_len = 16 if self.ipv6 else 4
        lens: dict[int, int] = {
            NatAttr.IP_MIN: addr_len,
            NatAttr.IP_MAX: addr_len,
            NatAttr.PROTO_MIN: 2,
            NatAttr.PROTO_MAX: 2,
        }
        for t, p in _nested(payload, "ct nat"):
            if t > NatAttr.PROTO_RANDOM:
                raise _fail(f"unknown NAT attribute {t}")
            if len(p) != lens.get(t, 0):
                raise _fail(f"NAT attribute {t} of {len(p)} bytes")
            if t in (NatAttr.SRC, NatAttr.DST):
                if self.any:
                    raise NatConflict("only one type of NAT may be specified", where="actions")
                self.any, self.kind = True, NatAttr(t)
            elif t == NatAttr.IP_MIN:
                self.ip_min, self.map_ips = p, True
            elif t == NatAttr.IP_MAX:
                self.ip_max, self.map_ips, have_ip_max = p, True, True
            elif t == NatAttr.PROTO_MIN:
                self.proto_min, self.proto_specified = struct.unpack("=H", p)[0], True
            elif t == NatAttr.PROTO_MAX:
                self.proto_max, self.proto_specified, have_proto_max = struct.unpack("=H", p)[0], True, True
            elif t in _NAT_FLAG_ATTRS:
                self.flags.add(NatAttr(t))
            else:  # UNSPEC
                raise _fail(f"unknown NAT attribute {t}")
        if not self.any:
            if self.map_ips or self.proto_specified or self.flags:
                raise _fail("NAT flags may be given only with a NAT type (SRC or DST)")
            self.any = True  # NAT existing connections
        elif not commit:
            raise _fail("NAT attributes need the ct commit flag before them")
        if self.map_ips and not have_ip_max:
            self.ip_max = self.ip_min
        if self.proto_specified and not have_proto_max:
            self.proto_max = self.proto_min

    def to_attr(self) -> bytes:
        """ovs_ct_nat_to_attr: the type, the range without a max equal to its min, then the flags."""
        if self.kind is None:
            return pack_attr(CtAttr.NAT, b"")
        out = [pack_attr(self.kind)]
        if self.map_ips:
            out.append(pack_attr(NatAttr.IP_MIN, self.ip_min))
            if self.ip_max != self.ip_min:
                out.append(pack_attr(NatAttr.IP_MAX, self.ip_max))
        if self.proto_specified:
            out.append(pack_attr(NatAttr.PROTO_MIN, struct.pack("=H", self.proto_min)))
            if self.proto_max != self.proto_min:
                out.append(pack_attr(NatAttr.PROTO_MAX, struct.pack("=H", self.proto_max)))
        out.extend(pack_attr(f) for f in _NAT_FLAG_ATTRS if f in self.flags)
        return pack_attr(CtAttr.NAT, b"".join(out))


def _ct(w: _Walk, payload: bytes) -> bytes:
    """ovs_ct_copy_action / parse_ct; the action as ovs_ct_action_to_attr sends it back.

    NAT is parse_nat's: checked as it comes, in attribute order.
    """
    if w.key.be("eth_type") not in (_ETH_P_IP, _ETH_P_IPV6):
        raise _fail("ct family unspecified (not an IP flow)")
    found: dict[int, bytes] = {}
    nat: _Nat | None = None
    for t, p in _nested(payload, "ct"):
        lens = _CT_LENS.get(t)
        if lens is None or not lens[0] <= len(p) <= lens[1]:
            raise _fail(f"ct attribute {t} of {len(p)} bytes")
        if t == CtAttr.MARK and not any(p[4:8]):
            raise _fail("ct_mark mask cannot be 0")
        if t == CtAttr.LABELS and not any(p[16:32]):
            raise _fail("ct_labels mask cannot be 0")
        if t == CtAttr.NAT:
            nat = nat or _Nat(ipv6=w.key.be("eth_type") == _ETH_P_IPV6)
            nat.parse(p, CtAttr.COMMIT in found or CtAttr.FORCE_COMMIT in found)
        found[t] = p
    commit = CtAttr.COMMIT in found or CtAttr.FORCE_COMMIT in found
    if not commit and (CtAttr.MARK in found or CtAttr.LABELS in found):
        raise _fail("setting ct mark or labels requires commit")
    out: list[bytes] = []
    if commit:
        out.append(pack_attr(CtAttr.FORCE_COMMIT if CtAttr.FORCE_COMMIT in found else CtAttr.COMMIT))
    out.append(pack_attr(CtAttr.ZONE, found.get(CtAttr.ZONE, b"\0\0")))
    for t in (CtAttr.MARK, CtAttr.LABELS):
        if t in found:
            out.append(pack_attr(t, found[t]))
    if CtAttr.HELPER in found:
        helper = _cstring(found[CtAttr.HELPER], "helper")
        _check_helper(w, helper)
        out.append(pack_attr(CtAttr.HELPER, helper))
    if CtAttr.EVENTMASK in found:
        out.append(pack_attr(CtAttr.EVENTMASK, found[CtAttr.EVENTMASK]))
    if CtAttr.TIMEOUT in found:
        out.append(pack_attr(CtAttr.TIMEOUT, _cstring(found[CtAttr.TIMEOUT], "timeout")))
    if nat is not None:
        out.append(nat.to_attr())
    return pack_attr(_A.CT, b"".join(out))


def _sample(w: _Walk, payload: bytes, depth: int) -> bytes:
    # validate_and_copy_sample; sample_action_to_attr sends PROBABILITY, then ACTIONS.
    found: dict[int, bytes] = {}
    for t, p in _nested(payload, "sample"):
        if not t or t > _SAMPLE_ATTR_MAX or t in found:
            raise _fail("sample attribute")
        found[t] = p
    prob = found.get(SampleAttr.PROBABILITY)
    acts = found.get(SampleAttr.ACTIONS)
    if prob is None or len(prob) != 4 or acts is None:
        raise _fail("sample needs a u32 probability and actions")
    inner = _walk(w.child(), _actions_of(acts, "sample"), depth + 1)
    return pack_attr(_A.SAMPLE, pack_attr(SampleAttr.PROBABILITY, prob) + pack_attr(SampleAttr.ACTIONS, inner))


def _check_pkt_len(w: _Walk, payload: bytes, depth: int) -> bytes:
    # validate_and_copy_check_pkt_len (strict policy: known types, u16 length,
    # both branches present); sent back as PKT_LEN, IF_LESS_EQUAL, IF_GREATER.
    found: dict[int, bytes] = {}
    for t, p in _nested(payload, "check_pkt_len"):
        if not t or t > CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL:
            raise _fail("check_pkt_len attribute")
        if t == CheckPktLenAttr.PKT_LEN and len(p) != 2:
            raise _fail("check_pkt_len length is a u16")
        found[t] = p
    plen = found.get(CheckPktLenAttr.PKT_LEN)
    gt = found.get(CheckPktLenAttr.ACTIONS_IF_GREATER)
    le = found.get(CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL)
    if plen is None or not struct.unpack("=H", plen)[0] or gt is None or le is None:
        raise _fail("check_pkt_len needs a non-zero length and both branches")
    le_out = _walk(w.child(), _actions_of(le, "check_pkt_len"), depth + 1)
    gt_out = _walk(w.child(), _actions_of(gt, "check_pkt_len"), depth + 1)
    body = (
        pack_attr(CheckPktLenAttr.PKT_LEN, plen)
        + pack_attr(CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL, le_out)
        + pack_attr(CheckPktLenAttr.ACTIONS_IF_GREATER, gt_out)
    )
    return pack_attr(_A.CHECK_PKT_LEN, body)


def _dec_ttl(w: _Walk, payload: bytes, depth: int) -> bytes:
    # validate_and_copy_dec_ttl: unknown types above MAX ignored, ACTION required.
    found: dict[int, bytes] = {}
    for t, p in _nested(payload, "dec_ttl"):
        if t > _DEC_TTL_ATTR_MAX:
            continue
        if not t or t in found:
            raise _fail("dec_ttl attribute")
        found[t] = p
    acts = found.get(DecTtlAttr.ACTION)
    if acts is None:
        raise _fail("dec_ttl needs actions")
    inner = _walk(w.child(), _actions_of(acts, "dec_ttl"), depth + 1)
    return pack_attr(_A.DEC_TTL, pack_attr(DecTtlAttr.ACTION, inner))


def kernel_actions(actions: bytes, masked_key: SwKey) -> bytes:
    """Validate ``actions`` for a flow with ``masked_key`` as Linux 6.1 does; the actions it sends back.

    Raises :class:`~reference.errors.OdpDecodeError` (EINVAL) for what
    ``ovs_nla_copy_actions`` refuses.
    """
    et = masked_key.be("eth_type")
    mpls = bin(masked_key.host("mpls_labels")).count("1") if et in _ETH_P_MPLS else 0
    return _walk(_Walk(masked_key, et, masked_key.be("vlan_tci"), mpls), bytes(actions), 0)
