"""Flow keys and masks as netlink attributes (``OVS_KEY_ATTR_*``); no I/O.

A flow key is a sequence of netlink attributes. This module knows every
attribute the Linux UAPI defines (plus OVS userspace's ``packet_type`` and
``nd_ext``), its payload size and its fields, and turns key or mask bytes
into a :class:`FlowKey` record and back:

* :func:`decode_key` / :func:`encode_key` are exact inverses: attribute
  order and unknown attributes (kept as opaque bytes) are preserved, because
  the UFID is a hash of exactly these bytes.
* :func:`canonical_key` re-orders attributes into the order OVS userspace
  emits them (``lib/odp-util.c`` ``odp_flow_key_from_flow__``), giving one
  deterministic encoding per set of attributes.
* :func:`validate_key` raises :class:`~reference.errors.OdpDecodeError` for
  any malformed key or mask and returns ``None`` otherwise.

Sizes and nesting follow OVS's ``ovs_flow_key_attr_lens`` /
``ovs_tun_key_attr_lens`` / ``ovs_nsh_key_attr_lens`` tables
(``lib/odp-util.c``) and the structs of ``include/linux/openvswitch.h``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError
from reference.uapi import KeyAttr, NshKeyAttr, TunnelKeyAttr, VxlanExtAttr

__all__ = [
    "KEY_ATTRS",
    "MAX_NESTING",
    "NSH_ATTRS",
    "TUNNEL_ATTRS",
    "USERSPACE_KEY_ORDER",
    "USERSPACE_TUNNEL_ORDER",
    "VXLAN_EXT_ATTRS",
    "AttrSpec",
    "Attribute",
    "Field",
    "FieldKind",
    "FlowKey",
    "Length",
    "canonical_key",
    "decode_key",
    "encode_key",
    "key_attr_name",
    "validate_key",
]

# Nested key attributes (VLAN encap inside encap, tunnel options) may nest at
# most this deep. The kernel accepts two VLAN levels (QinQ); OVS userspace
# FLOW_MAX_VLAN_HEADERS is 2. We allow more so that datapaths that know deeper
# stacks still decode, but refuse unbounded recursion.
MAX_NESTING = 8

# Tunnel attribute 16 is GTPU_OPTS in OVS userspace (variable length) and
# IPV4_INFO_BRIDGE (a flag) in Linux; we decode it as variable so both shapes
# are accepted and kept byte for byte.
_TUNNEL_ATTR_16 = 16


class Length(enum.IntEnum):
    """Special payload lengths (OVS ``ATTR_LEN_VARIABLE`` / ``ATTR_LEN_NESTED``)."""

    VARIABLE = -1
    NESTED = -2


class FieldKind(enum.Enum):
    """How a field's bytes are laid out; ``*_HOST`` is host byte order (x86: little endian)."""

    U8 = "u8"
    BE16 = "be16"
    BE32 = "be32"
    BE64 = "be64"
    U16_HOST = "u16"
    U32_HOST = "u32"
    MAC = "mac"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    BYTES = "bytes"


@dataclass(frozen=True, slots=True)
class Field:
    """One field inside a fixed-size attribute payload (name as OVS prints it)."""

    name: str
    offset: int
    size: int
    kind: FieldKind


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """Schema of one attribute type: text name, payload length, fields, nested table."""

    type: int
    name: str
    length: int  # bytes, or Length.VARIABLE / Length.NESTED
    fields: tuple[Field, ...] = ()
    nested: str | None = None  # "key", "tunnel", "nsh" or "vxlan" for Length.NESTED


_K = FieldKind
_KIND_SIZE: Mapping[FieldKind, int] = {
    _K.U8: 1,
    _K.BE16: 2,
    _K.BE32: 4,
    _K.BE64: 8,
    _K.U16_HOST: 2,
    _K.U32_HOST: 4,
    _K.MAC: 6,
    _K.IPV4: 4,
    _K.IPV6: 16,
}


def _layout(text: str) -> tuple[Field, ...]:
    """Fields of a C struct written ``name:kind[@offset] ...`` (kinds by :class:`FieldKind` value).

    A field without ``@offset`` follows the one before it; sizes come from the kind.
    """
    fields: list[Field] = []
    offset = 0
    for item in text.split():
        name, _, rest = item.partition(":")
        kind_text, _, at = rest.partition("@")
        kind = FieldKind(kind_text)
        offset = int(at) if at else offset
        fields.append(Field(name, offset, _KIND_SIZE[kind], kind))
        offset += _KIND_SIZE[kind]
    return tuple(fields)


_U32 = _layout("value:u32")
_TP_FIELDS = _layout("src:be16 dst:be16")

KEY_ATTRS: Mapping[int, AttrSpec] = {
    s.type: s
    for s in (
        # UNSPEC and TUNNEL_INFO have no entry in OVS's length table, i.e. 0.
        AttrSpec(KeyAttr.UNSPEC, "unspec", 0),
        AttrSpec(KeyAttr.ENCAP, "encap", Length.NESTED, nested="key"),
        AttrSpec(KeyAttr.PRIORITY, "skb_priority", 4, _U32),
        AttrSpec(KeyAttr.IN_PORT, "in_port", 4, _U32),
        AttrSpec(KeyAttr.ETHERNET, "eth", 12, _layout("src:mac dst:mac")),
        AttrSpec(KeyAttr.VLAN, "vlan", 2, _layout("tci:be16")),
        AttrSpec(KeyAttr.ETHERTYPE, "eth_type", 2, _layout("value:be16")),
        AttrSpec(KeyAttr.IPV4, "ipv4", 12, _layout("src:ipv4 dst:ipv4 proto:u8 tos:u8 ttl:u8 frag:u8")),
        AttrSpec(
            KeyAttr.IPV6, "ipv6", 40, _layout("src:ipv6 dst:ipv6 label:be32 proto:u8 tclass:u8 hlimit:u8 frag:u8")
        ),
        AttrSpec(KeyAttr.TCP, "tcp", 4, _TP_FIELDS),
        AttrSpec(KeyAttr.UDP, "udp", 4, _TP_FIELDS),
        AttrSpec(KeyAttr.ICMP, "icmp", 2, _layout("type:u8 code:u8")),
        AttrSpec(KeyAttr.ICMPV6, "icmpv6", 2, _layout("type:u8 code:u8")),
        # 22 bytes of fields + 2 bytes of struct padding
        AttrSpec(KeyAttr.ARP, "arp", 24, _layout("sip:ipv4 tip:ipv4 op:be16 sha:mac tha:mac")),
        AttrSpec(KeyAttr.ND, "nd", 28, _layout("target:ipv6 sll:mac tll:mac")),
        AttrSpec(KeyAttr.SKB_MARK, "skb_mark", 4, _U32),
        AttrSpec(KeyAttr.TUNNEL, "tunnel", Length.NESTED, nested="tunnel"),
        AttrSpec(KeyAttr.SCTP, "sctp", 4, _TP_FIELDS),
        AttrSpec(KeyAttr.TCP_FLAGS, "tcp_flags", 2, _layout("value:be16")),
        AttrSpec(KeyAttr.DP_HASH, "dp_hash", 4, _U32),
        AttrSpec(KeyAttr.RECIRC_ID, "recirc_id", 4, _U32),
        AttrSpec(KeyAttr.MPLS, "mpls", Length.VARIABLE),
        AttrSpec(KeyAttr.CT_STATE, "ct_state", 4, _U32),
        AttrSpec(KeyAttr.CT_ZONE, "ct_zone", 2, _layout("value:u16")),
        AttrSpec(KeyAttr.CT_MARK, "ct_mark", 4, _U32),
        AttrSpec(KeyAttr.CT_LABELS, "ct_label", 16, (Field("value", 0, 16, _K.BYTES),)),
        # 13 bytes of fields + 3 bytes of struct padding; printed (and listed) with
        # proto before the ports that precede it in the struct.
        AttrSpec(
            KeyAttr.CT_ORIG_TUPLE_IPV4,
            "ct_tuple4",
            16,
            _layout("src:ipv4 dst:ipv4 proto:u8@12 tp_src:be16@8 tp_dst:be16@10"),
        ),
        # 37 bytes of fields + 3 bytes of struct padding.
        AttrSpec(
            KeyAttr.CT_ORIG_TUPLE_IPV6,
            "ct_tuple6",
            40,
            _layout("src:ipv6 dst:ipv6 proto:u8@36 src_port:be16@32 dst_port:be16@34"),
        ),
        AttrSpec(KeyAttr.NSH, "nsh", Length.NESTED, nested="nsh"),
        AttrSpec(KeyAttr.PACKET_TYPE, "packet_type", 4, _layout("ns:be16 id:be16")),
        # 5 bytes of fields + 3 bytes of struct padding
        AttrSpec(KeyAttr.ND_EXTENSIONS, "nd_ext", 8, _layout("nd_reserved:be32 nd_options_type:u8")),
        AttrSpec(KeyAttr.TUNNEL_INFO, "<error: kernel-only tunnel_info>", 0),
    )
}

TUNNEL_ATTRS: Mapping[int, AttrSpec] = {
    s.type: s
    for s in (
        AttrSpec(TunnelKeyAttr.ID, "tun_id", 8, _layout("value:be64")),
        AttrSpec(TunnelKeyAttr.IPV4_SRC, "src", 4, _layout("value:ipv4")),
        AttrSpec(TunnelKeyAttr.IPV4_DST, "dst", 4, _layout("value:ipv4")),
        AttrSpec(TunnelKeyAttr.TOS, "tos", 1, _layout("value:u8")),
        AttrSpec(TunnelKeyAttr.TTL, "ttl", 1, _layout("value:u8")),
        AttrSpec(TunnelKeyAttr.DONT_FRAGMENT, "df", 0),
        AttrSpec(TunnelKeyAttr.CSUM, "csum", 0),
        AttrSpec(TunnelKeyAttr.OAM, "oam", 0),
        AttrSpec(TunnelKeyAttr.GENEVE_OPTS, "geneve", Length.VARIABLE),
        AttrSpec(TunnelKeyAttr.TP_SRC, "tp_src", 2, _layout("value:be16")),
        AttrSpec(TunnelKeyAttr.TP_DST, "tp_dst", 2, _layout("value:be16")),
        AttrSpec(TunnelKeyAttr.VXLAN_OPTS, "vxlan", Length.NESTED, nested="vxlan"),
        AttrSpec(TunnelKeyAttr.IPV6_SRC, "ipv6_src", 16, _layout("value:ipv6")),
        AttrSpec(TunnelKeyAttr.IPV6_DST, "ipv6_dst", 16, _layout("value:ipv6")),
        AttrSpec(TunnelKeyAttr.PAD, "pad", Length.VARIABLE),
        AttrSpec(TunnelKeyAttr.ERSPAN_OPTS, "erspan", Length.VARIABLE),
        AttrSpec(_TUNNEL_ATTR_16, "gtpu", Length.VARIABLE),
    )
}

NSH_ATTRS: Mapping[int, AttrSpec] = {
    s.type: s
    for s in (
        AttrSpec(NshKeyAttr.UNSPEC, "unspec", 0),
        AttrSpec(NshKeyAttr.BASE, "base", 8, _layout("flags:u8 ttl:u8 mdtype:u8 np:u8 path_hdr:be32")),
        AttrSpec(NshKeyAttr.MD1, "md1", 16, _layout("c1:be32 c2:be32 c3:be32 c4:be32")),
        AttrSpec(NshKeyAttr.MD2, "md2", Length.VARIABLE),
    )
}

VXLAN_EXT_ATTRS: Mapping[int, AttrSpec] = {
    VxlanExtAttr.GBP: AttrSpec(VxlanExtAttr.GBP, "gbp", 4, _U32),
}

_TABLES: Mapping[str, Mapping[int, AttrSpec]] = {
    "key": KEY_ATTRS,
    "tunnel": TUNNEL_ATTRS,
    "nsh": NSH_ATTRS,
    "vxlan": VXLAN_EXT_ATTRS,
}

# OVS userspace serialisation order (lib/odp-util.c odp_flow_key_from_flow__,
# OVS@HEAD: recirc_id and dp_hash first; OVS 3.1 emitted them after ct_*).
USERSPACE_KEY_ORDER: tuple[int, ...] = (
    KeyAttr.RECIRC_ID,
    KeyAttr.DP_HASH,
    KeyAttr.PRIORITY,
    KeyAttr.TUNNEL,
    KeyAttr.IN_PORT,
    KeyAttr.SKB_MARK,
    KeyAttr.CT_STATE,
    KeyAttr.CT_ZONE,
    KeyAttr.CT_MARK,
    KeyAttr.CT_LABELS,
    KeyAttr.CT_ORIG_TUPLE_IPV4,
    KeyAttr.CT_ORIG_TUPLE_IPV6,
    KeyAttr.PACKET_TYPE,
    KeyAttr.ETHERNET,
    # A VLAN header appears as ETHERTYPE(tpid), VLAN, ENCAP(...); ENCAP carries
    # the inner attributes, so the outer ETHERTYPE sorts before VLAN.
    KeyAttr.ETHERTYPE,
    KeyAttr.VLAN,
    KeyAttr.ENCAP,
    KeyAttr.IPV4,
    KeyAttr.IPV6,
    KeyAttr.ARP,
    KeyAttr.MPLS,
    KeyAttr.NSH,
    KeyAttr.TCP,
    KeyAttr.TCP_FLAGS,
    KeyAttr.UDP,
    KeyAttr.SCTP,
    KeyAttr.ICMP,
    KeyAttr.ICMPV6,
    KeyAttr.ND,
    KeyAttr.ND_EXTENSIONS,
)

# lib/odp-util.c tun_key_to_attr.
USERSPACE_TUNNEL_ORDER: tuple[int, ...] = (
    TunnelKeyAttr.ID,
    TunnelKeyAttr.IPV4_SRC,
    TunnelKeyAttr.IPV4_DST,
    TunnelKeyAttr.IPV6_SRC,
    TunnelKeyAttr.IPV6_DST,
    TunnelKeyAttr.TOS,
    TunnelKeyAttr.TTL,
    TunnelKeyAttr.DONT_FRAGMENT,
    TunnelKeyAttr.CSUM,
    TunnelKeyAttr.TP_SRC,
    TunnelKeyAttr.TP_DST,
    TunnelKeyAttr.OAM,
    TunnelKeyAttr.VXLAN_OPTS,
    TunnelKeyAttr.GENEVE_OPTS,
    TunnelKeyAttr.ERSPAN_OPTS,
    _TUNNEL_ATTR_16,
)

_NSH_ORDER: tuple[int, ...] = (NshKeyAttr.BASE, NshKeyAttr.MD1, NshKeyAttr.MD2)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One decoded attribute.

    ``payload`` always holds the raw payload bytes (so unknown attributes are
    kept verbatim); ``children`` is set for nested attributes (``encap``,
    ``tunnel``, ``nsh``, tunnel ``vxlan``) and is authoritative for them.
    """

    type: int
    payload: bytes = b""
    children: tuple[Attribute, ...] | None = None

    def encode(self) -> bytes:
        """The attribute as netlink bytes (header, payload, padding)."""
        if self.children is not None:
            return pack_attr(self.type, b"".join(c.encode() for c in self.children))
        return pack_attr(self.type, self.payload)

    @property
    def body(self) -> bytes:
        """Payload bytes, re-encoded from ``children`` for nested attributes."""
        if self.children is not None:
            return b"".join(c.encode() for c in self.children)
        return self.payload


@dataclass(frozen=True, slots=True)
class FlowKey:
    """A decoded flow key or mask: top-level attributes in wire order."""

    attrs: tuple[Attribute, ...] = ()

    def get(self, attr_type: int) -> Attribute | None:
        """The top-level attribute of ``attr_type``, or ``None`` if absent."""
        for a in self.attrs:
            if a.type == attr_type:
                return a
        return None

    def types(self) -> tuple[int, ...]:
        """Top-level attribute types in wire order."""
        return tuple(a.type for a in self.attrs)

    def __bytes__(self) -> bytes:
        return encode_key(self)


def key_attr_name(attr_type: int) -> str:
    """OVS's text name of a top-level key attribute (``key<N>`` for unknown ones)."""
    spec = KEY_ATTRS.get(attr_type)
    return spec.name if spec is not None else f"key{attr_type}"


def _table_name(table: str) -> str:
    return {"key": "key", "tunnel": "tunnel", "nsh": "nsh", "vxlan": "vxlan"}[table]


def _attr_label(table: str, attr_type: int) -> str:
    spec = _TABLES[table].get(attr_type)
    if spec is None:
        return f"{_table_name(table)}{attr_type}" if table != "key" else f"key{attr_type}"
    return spec.name


def _decode_level(
    data: bytes, table: str, where: str, base: int, depth: int, *, is_mask: bool = False
) -> tuple[Attribute, ...]:
    if depth > MAX_NESTING:
        raise OdpDecodeError(f"nesting deeper than {MAX_NESTING} levels", where=where, offset=base)
    specs = _TABLES[table]
    out: list[Attribute] = []
    seen: set[int] = set()
    for attr_type, payload, offset in iter_attrs(data, where=where, base=base):
        label = f"{where}/{_attr_label(table, attr_type)}"
        if attr_type in seen:
            # The kernel (flow_netlink.c parse_flow_nlattrs) and OVS userspace
            # (odp-util.c parse_flow_nlattrs) both refuse duplicate attributes.
            raise OdpDecodeError("duplicate attribute", where=label, offset=offset)
        seen.add(attr_type)
        spec = specs.get(attr_type)
        if spec is None:
            out.append(Attribute(attr_type, payload))
            continue
        if spec.length == Length.NESTED:
            assert spec.nested is not None
            children = _decode_level(payload, spec.nested, label, offset + 4, depth + 1, is_mask=is_mask)
            out.append(Attribute(attr_type, payload, children))
            continue
        if spec.length >= 0 and len(payload) != spec.length:
            raise OdpDecodeError(f"payload is {len(payload)} bytes, expected {spec.length}", where=label, offset=offset)
        if table == "key" and attr_type == KeyAttr.MPLS and len(payload) % 4:
            # An EMPTY stack is accepted: Linux's upcall keys carry one when
            # the label stack is cut short (flow.c key_extract_l3l4 leaves
            # num_labels_mask 0 and flow_netlink.c __ovs_nla_put_key reserves
            # 0 * sizeof(struct ovs_key_mpls)). The kernel refuses it only
            # when a flow is installed (ovs_key_from_nlattrs: label_count 0).
            raise OdpDecodeError(
                f"payload is {len(payload)} bytes, expected a multiple of 4 (label stack entries)",
                where=label,
                offset=offset,
            )
        if table == "tunnel" and attr_type == TunnelKeyAttr.GENEVE_OPTS:
            _check_geneve(payload, label, offset)
        out.append(Attribute(attr_type, payload))
    return tuple(out)


def _check_geneve(payload: bytes, where: str, offset: int) -> None:
    # Kernel flow_netlink.c genev_tun_opt_from_nlattr checks only the total:
    # a multiple of 4 that fits tun_opts (255 bytes). The options inside are
    # opaque to it (a masked key's option headers need not parse), and OVS's
    # printer reports inconsistent option lengths in its output.
    if len(payload) % 4 or len(payload) > 255:
        raise OdpDecodeError(
            f"geneve options are {len(payload)} bytes, expected a multiple of 4 up to 252", where=where, offset=offset
        )


def decode_key(data: bytes, *, where: str = "key", is_mask: bool = False) -> FlowKey:
    """Decode key (or mask) bytes into a :class:`FlowKey`.

    Raises :class:`OdpDecodeError` naming the attribute path and byte offset
    for truncated attributes, lengths that lie, wrong payload sizes of
    fixed-size attributes, duplicate attributes or nesting deeper than
    :data:`MAX_NESTING`. Unknown attribute types are kept as opaque bytes.
    ``is_mask`` is accepted for masks; keys and masks follow the same rules.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise OdpDecodeError(f"expected bytes, got {type(data).__name__}", where=where)
    return FlowKey(_decode_level(bytes(data), "key", where, 0, 0, is_mask=is_mask))


def validate_key(data: bytes, *, where: str = "key", is_mask: bool = False) -> None:
    """Raise :class:`OdpDecodeError` if ``data`` is not a well-formed key (or mask, with ``is_mask``)."""
    decode_key(data, where=where, is_mask=is_mask)


def encode_key(key: FlowKey | Iterable[Attribute], *, canonical: bool = False) -> bytes:
    """Netlink bytes of ``key``.

    By default attributes keep the record's order, so ``encode_key`` is the
    exact inverse of :func:`decode_key` (the UFID hashes the bytes as sent).
    ``canonical=True`` emits every level in OVS userspace order instead (see
    :func:`canonical_key`).
    """
    attrs = key.attrs if isinstance(key, FlowKey) else tuple(key)
    if canonical:
        attrs = _sorted_level(attrs, "key")
    return b"".join(a.encode() for a in attrs)


def _sorted_level(attrs: tuple[Attribute, ...], table: str) -> tuple[Attribute, ...]:
    order = {"key": USERSPACE_KEY_ORDER, "tunnel": USERSPACE_TUNNEL_ORDER, "nsh": _NSH_ORDER}.get(table, ())
    rank = {t: i for i, t in enumerate(order)}
    specs = _TABLES[table]

    def child(a: Attribute) -> Attribute:
        spec = specs.get(a.type)
        if a.children is None or spec is None or spec.nested is None:
            return a
        kids = _sorted_level(a.children, spec.nested)
        return Attribute(a.type, b"".join(k.encode() for k in kids), kids)

    # Known attributes in userspace order, unknown ones after them by type;
    # the sort is stable so equal ranks keep their relative order.
    return tuple(sorted((child(a) for a in attrs), key=lambda a: (rank.get(a.type, len(order) + a.type),)))


def canonical_key(data: bytes, *, where: str = "key") -> bytes:
    """``data`` re-encoded with attributes in OVS userspace order (nested levels too).

    Use this to compare keys that differ only in attribute order; the UFID of
    a flow is computed over the bytes as sent, not over this form.
    """
    return encode_key(decode_key(data, where=where), canonical=True)
