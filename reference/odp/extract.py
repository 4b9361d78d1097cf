"""Flow key extraction: the key the Linux 6.1 datapath puts in an upcall for a frame; no I/O.

When a frame received on a kernel datapath port misses the flow table, the
kernel sends ``OVS_PACKET_CMD_MISS`` with ``OVS_PACKET_ATTR_KEY``: the flow key
that ``ovs_flow_key_extract()`` (``net/openvswitch/flow.c``) derived from the
frame, serialised by ``__ovs_nla_put_key()`` (``net/openvswitch/flow_netlink.c``).
ovs-vswitchd hashes exactly those bytes into the UFID of the new flow
(``lib/dpif-netlink.c`` ``parse_odp_packet``), so :func:`extract_key`
reproduces them byte for byte::

    from reference.odp import extract_key
    key = extract_key(frame_bytes, in_port=1)   # netlink OVS_KEY_ATTR_* bytes

Frames are assumed freshly received: no tunnel, no conntrack state, no
recirculation, ``dp_hash`` 0; ``priority`` and ``skb_mark`` are the skb's
(0 unless the sender set ``SO_PRIORITY`` / ``SO_MARK``). Malformed headers are
not errors (the kernel keys what it can); see docs/key-extraction.md for every
case and its kernel source. Use :func:`extract` to also learn which emitted
fields the kernel leaves uninitialised (compare those bytes loosely).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from reference._netlink import pack_attr
from reference.errors import PacketDroppedError, PacketInputError
from reference.odp._extract_parse import (
    ETH_HLEN,
    ETH_P_802_2,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_MPLS_MC,
    ETH_P_MPLS_UC,
    ETH_P_NSH,
    ETH_P_RARP,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SwKey,
    parse_frame,
)
from reference.uapi import FragType, KeyAttr, NshKeyAttr

__all__ = [
    "DP_MAX_PORTS",
    "Extraction",
    "extract",
    "extract_key",
]

# net/openvswitch/datapath.h: vport numbers are u16 and strictly below this
# (new_vport() refuses port_no >= DP_MAX_PORTS with -EFBIG).
DP_MAX_PORTS = 0xFFFF

_U32 = struct.Struct("=I")  # nla_put_u32: host byte order
_U16 = struct.Struct("=H")
_BE16 = struct.Struct("!H")
_VLAN_TPIDS = (ETH_P_8021Q, ETH_P_8021AD)


@dataclass(frozen=True, slots=True)
class Extraction:
    """Result of :func:`extract`.

    ``key`` is the ``OVS_PACKET_ATTR_KEY`` payload; ``fields`` the parsed
    kernel key record; ``indeterminate`` names serialised fields the kernel
    code never writes for this frame: ``"ipv6.label"``, ``"ipv6.exthdrs"``
    (IPv6 header shorter than 40 bytes) and ``"nd"`` (neighbour
    solicitation/advertisement with a non-zero ICMPv6 code). ``key`` has zero
    there, which is exact for kernels built with CONFIG_INIT_STACK_ALL_ZERO
    (Debian's, observed); other builds leak stack bytes, so mask them. An
    empty tuple means every byte is exact on any build.
    """

    key: bytes
    fields: SwKey
    indeterminate: tuple[str, ...]


def _check_u32(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PacketInputError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise PacketInputError(f"{name} {value} is outside the u32 range 0..4294967295")
    return value


def _check_args(packet: object, in_port: object, priority: object, skb_mark: object) -> bytes:
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise PacketInputError(f"packet must be bytes, got {type(packet).__name__}")
    port = _check_u32("in_port", in_port)
    if port >= DP_MAX_PORTS:
        raise PacketInputError(
            f"in_port {port} cannot be a Linux datapath port: vport numbers are u16 below {DP_MAX_PORTS} "
            "(net/openvswitch/datapath.c new_vport)"
        )
    _check_u32("priority", priority)
    _check_u32("skb_mark", skb_mark)
    frame = bytes(packet)
    if len(frame) < ETH_HLEN:
        # key_extract() requires skb->len >= ETH_HLEN; the receive paths that
        # reach it refuse shorter frames first (AF_PACKET dev_validate_header,
        # tun/tap, eth_type_trans), so no upcall exists for them.
        raise PacketDroppedError(
            f"frame of {len(frame)} bytes is shorter than an Ethernet header ({ETH_HLEN}): "
            "no datapath port receives it, so it has no upcall key",
            reason="runt",
        )
    return frame


def _put_l3l4(key: SwKey, exthdrs: bool) -> list[bytes]:
    """The network and transport part of ``__ovs_nla_put_key()`` (after ETHERTYPE)."""
    out: list[bytes] = []
    et = key.eth_type
    if et == ETH_P_IP:
        payload = key.ipv4_src + key.ipv4_dst + bytes((key.ip_proto, key.ip_tos, key.ip_ttl, key.ip_frag))
        out.append(pack_attr(KeyAttr.IPV4, payload))
    elif et == ETH_P_IPV6:
        payload = (
            key.ipv6_src
            + key.ipv6_dst
            + struct.pack("!I", key.ipv6_label)
            + bytes((key.ip_proto, key.ip_tos, key.ip_ttl, key.ip_frag))
        )
        out.append(pack_attr(KeyAttr.IPV6, payload))
        if exthdrs:
            # struct ovs_key_ipv6_exthdrs { __u16 hdrs; }: host byte order.
            out.append(pack_attr(KeyAttr.IPV6_EXTHDRS, _U16.pack(key.ipv6_exthdrs)))
    elif et == ETH_P_NSH:
        inner = pack_attr(NshKeyAttr.BASE, key.nsh_base)
        if key.nsh_base[2] == 1:  # MD type 1 carries its context; MD type 2 is not supported
            inner += pack_attr(NshKeyAttr.MD1, key.nsh_context)
        out.append(pack_attr(KeyAttr.NSH, inner))
    elif et in (ETH_P_ARP, ETH_P_RARP):
        payload = key.ipv4_src + key.ipv4_dst + _BE16.pack(key.ip_proto) + key.arp_sha + key.arp_tha + b"\0\0"
        out.append(pack_attr(KeyAttr.ARP, payload))
    elif et in (ETH_P_MPLS_UC, ETH_P_MPLS_MC):
        out.append(pack_attr(KeyAttr.MPLS, b"".join(struct.pack("!I", lse) for lse in key.mpls)))

    if et in (ETH_P_IP, ETH_P_IPV6) and key.ip_frag != FragType.LATER:
        ports = _BE16.pack(key.tp_src) + _BE16.pack(key.tp_dst)
        if key.ip_proto == IPPROTO_TCP:
            out.append(pack_attr(KeyAttr.TCP, ports))
            out.append(pack_attr(KeyAttr.TCP_FLAGS, _BE16.pack(key.tp_flags)))
        elif key.ip_proto == IPPROTO_UDP:
            out.append(pack_attr(KeyAttr.UDP, ports))
        elif key.ip_proto == IPPROTO_SCTP:
            out.append(pack_attr(KeyAttr.SCTP, ports))
        elif et == ETH_P_IP and key.ip_proto == IPPROTO_ICMP:
            out.append(pack_attr(KeyAttr.ICMP, bytes((key.tp_src & 0xFF, key.tp_dst & 0xFF))))
        elif et == ETH_P_IPV6 and key.ip_proto == IPPROTO_ICMPV6:
            out.append(pack_attr(KeyAttr.ICMPV6, bytes((key.tp_src & 0xFF, key.tp_dst & 0xFF))))
            if key.tp_src in (135, 136):  # NDISC_NEIGHBOUR_SOLICITATION / _ADVERTISEMENT, any code
                out.append(pack_attr(KeyAttr.ND, key.nd_target + key.nd_sll + key.nd_tll))
    return out


def _put_ethernet(key: SwKey, exthdrs: bool) -> bytes:
    """``__ovs_nla_put_key()`` from OVS_KEY_ATTR_ETHERNET on, with the VLAN ``encap`` nesting."""
    head = pack_attr(KeyAttr.ETHERNET, key.eth_src + key.eth_dst)

    def vlan_attrs(tci: int, tpid: int) -> bytes:
        # ovs_nla_put_vlan(): the TPID as ETHERTYPE, then the TCI.
        return pack_attr(KeyAttr.ETHERTYPE, _BE16.pack(tpid)) + pack_attr(KeyAttr.VLAN, _BE16.pack(tci))

    def payload_attrs() -> bytes:
        if key.eth_type == ETH_P_802_2:
            return b""  # 802.2 frames are keyed by the absence of ETHERTYPE
        body = pack_attr(KeyAttr.ETHERTYPE, _BE16.pack(key.eth_type))
        if key.eth_type in _VLAN_TPIDS:
            return body  # a third tag: nothing is known past it
        return body + b"".join(_put_l3l4(key, exthdrs))

    vlan_type = key.eth_type in _VLAN_TPIDS
    if not (key.vlan_tci or vlan_type):
        return head + payload_attrs()
    outer = vlan_attrs(key.vlan_tci, key.vlan_tpid)
    if not key.vlan_tci:
        # A truncated tag: ETHERTYPE(0), VLAN(0) and an empty encap.
        return head + outer + pack_attr(KeyAttr.ENCAP)
    if not (key.cvlan_tci or vlan_type):
        return head + outer + pack_attr(KeyAttr.ENCAP, payload_attrs())
    inner = vlan_attrs(key.cvlan_tci, key.cvlan_tpid)
    inner_body = b"" if not key.cvlan_tci else payload_attrs()
    return head + outer + pack_attr(KeyAttr.ENCAP, inner + pack_attr(KeyAttr.ENCAP, inner_body))


def serialise(key: SwKey, *, in_port: int, priority: int = 0, skb_mark: int = 0, exthdrs: bool = True) -> bytes:
    """``ovs_nla_put_key()`` of an upcall: metadata in the kernel's order, then the packet fields.

    Order (flow_netlink.c ``__ovs_nla_put_key``, conntrack.c ``ovs_ct_put_key``
    with the Debian config's CONFIG_NF_CONNTRACK_ZONES/MARK/LABELS=y):
    recirc_id, dp_hash, priority, [tunnel: never for these frames], in_port,
    skb_mark, ct_state, ct_zone (u16), ct_mark, ct_label (16 bytes),
    [ct tuple: only for tracked packets], then Ethernet onwards.
    ``exthdrs=False`` leaves out IPV6_EXTHDRS, as kernels before 5.18 do.
    """
    meta = (
        pack_attr(KeyAttr.RECIRC_ID, _U32.pack(0))
        + pack_attr(KeyAttr.DP_HASH, _U32.pack(0))
        + pack_attr(KeyAttr.PRIORITY, _U32.pack(priority))
        + pack_attr(KeyAttr.IN_PORT, _U32.pack(in_port))
        + pack_attr(KeyAttr.SKB_MARK, _U32.pack(skb_mark))
        + pack_attr(KeyAttr.CT_STATE, _U32.pack(0))
        + pack_attr(KeyAttr.CT_ZONE, _U16.pack(0))
        + pack_attr(KeyAttr.CT_MARK, _U32.pack(0))
        + pack_attr(KeyAttr.CT_LABELS, bytes(16))
    )
    return meta + _put_ethernet(key, exthdrs)


# Linux 5.18 ("net: openvswitch: IPv6: Add IPv6 extension header support")
# added OVS_KEY_ATTR_IPV6_EXTHDRS to every IPv6 key; older kernels never send it.
_EXTHDRS_SINCE = (5, 18)


def extract(
    packet: bytes | bytearray | memoryview,
    in_port: int,
    *,
    priority: int = 0,
    skb_mark: int = 0,
    kernel: tuple[int, int] | None = None,
) -> Extraction:
    """Like :func:`extract_key`, also returning the parsed fields and the indeterminate ones."""
    frame = _check_args(packet, in_port, priority, skb_mark)
    fields = parse_frame(frame)
    exthdrs = kernel is None or kernel >= _EXTHDRS_SINCE
    key = serialise(fields, in_port=in_port, priority=priority, skb_mark=skb_mark, exthdrs=exthdrs)
    return Extraction(key=key, fields=fields, indeterminate=fields.indeterminate)


def extract_key(
    packet: bytes | bytearray | memoryview,
    in_port: int,
    *,
    priority: int = 0,
    skb_mark: int = 0,
    kernel: tuple[int, int] | None = None,
) -> bytes:
    """The ``OVS_PACKET_ATTR_KEY`` bytes Linux 6.1 sends upward when ``packet`` misses on ``in_port``.

    ``kernel`` (major, minor) names another Linux release: before 5.18 IPv6
    keys carry no ``IPV6_EXTHDRS``. That is the only difference the real
    5.10, 6.1, 6.12 and 7.2 kernels showed on the frames of
    ``conformance.strategies.frames()`` (docs/certification/README.md).

    Raises :class:`~reference.errors.PacketInputError` for a non-bytes packet
    or a port/priority/mark the kernel cannot have (ports are u16 below
    65535), and :class:`~reference.errors.PacketDroppedError` for frames the
    kernel drops before any upcall (shorter than 14 bytes; NSH headers that
    ``parse_nsh()`` rejects). Decode the result with
    :func:`reference.odp.keys.decode_key` or print it with
    :func:`reference.odp.format_key`.
    """
    return extract(packet, in_port, priority=priority, skb_mark=skb_mark, kernel=kernel).key
