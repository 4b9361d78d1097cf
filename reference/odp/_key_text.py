"""The flow-key text table: how each attribute of :data:`reference.odp.keys.KEY_ATTRS` reads and prints; no I/O.

:mod:`reference.odp.keys` declares every attribute's fields (name, offset,
size, :class:`~reference.odp.keys.FieldKind`). The printer
(:mod:`reference.odp._key_format`) and the parser
(:mod:`reference.odp._key_parse`) are two loops over those fields; what the
kind alone does not decide is written here once, as the explicit exceptions
OVS makes in ``lib/odp-util.c`` (``format_odp_key_attr__`` /
``parse_odp_key_mask_attr__``), each with the function it follows. The field
printers shared by key and tunnel text live here too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reference._netlink import iter_attrs
from reference.odp._text import be, cx, format_ipv6, mac, u16h, u32h
from reference.odp.keys import AttrSpec, FieldKind
from reference.uapi import KeyAttr, TunnelKeyAttr

__all__ = [
    "CT_STATE_NAMES",
    "FIELD_STYLE",
    "FLAG_ATTRS",
    "FRAG_NAMES",
    "IPV6_LABEL_MASK",
    "MPLS_EMPTY",
    "PARSE_ALIASES",
    "SINGLE_ATTRS",
    "TCP_FLAG_NAMES",
    "TNL_F_KEY",
    "TNL_F_MASK",
    "TUNNEL_FLAG_ATTRS",
    "TUN_FLAG_NAMES",
    "VLAN_FIELDS",
    "FlagAttr",
    "Out",
    "SingleAttr",
    "Style",
    "field_style",
    "field_value",
    "find",
    "fmt_address",
    "fmt_field",
    "fmt_int",
    "format_flags",
    "format_flags_masked",
    "is_single",
    "split",
]

# lib/packets.c packet_tcp_flag_to_string, bit by bit from bit 0.
TCP_FLAG_NAMES: Mapping[int, str] = {
    0x001: "fin",
    0x002: "syn",
    0x004: "rst",
    0x008: "psh",
    0x010: "ack",
    0x020: "urg",
    0x040: "ece",
    0x080: "cwr",
    0x100: "ns",
    0x200: "[200]",
    0x400: "[400]",
    0x800: "[800]",
}
# odp-util.c odp_ct_state_to_string (OVS_CS_F_* bits).
CT_STATE_NAMES: Mapping[int, str] = {
    0x01: "new",
    0x02: "est",
    0x04: "rel",
    0x08: "rpl",
    0x10: "inv",
    0x20: "trk",
    0x40: "snat",
    0x80: "dnat",
}
# lib/flow.c flow_tun_flag_to_string; FLOW_TNL_F_* bits.
_TNL_F_OAM = 0x1
_TNL_F_DONT_FRAGMENT = 0x2
_TNL_F_CSUM = 0x4
TNL_F_KEY = 0x8
TNL_F_MASK = 0xF
TUN_FLAG_NAMES: Mapping[int, str] = {
    _TNL_F_OAM: "oam",
    _TNL_F_DONT_FRAGMENT: "df",
    _TNL_F_CSUM: "csum",
    TNL_F_KEY: "key",
}
# The flag-only tunnel attributes and the FLOW_TNL_F_* bit each one stands for.
TUNNEL_FLAG_ATTRS: Mapping[int, int] = {
    TunnelKeyAttr.DONT_FRAGMENT: _TNL_F_DONT_FRAGMENT,
    TunnelKeyAttr.CSUM: _TNL_F_CSUM,
    TunnelKeyAttr.OAM: _TNL_F_OAM,
}
FRAG_NAMES: Mapping[int, str] = {0: "no", 1: "first", 2: "later"}
IPV6_LABEL_MASK = 0x000FFFFF
# What OVS prints after "mpls(" for an empty MPLS attribute (no closing ')').
MPLS_EMPTY = "(bad key length 0)"
# The VLAN TCI (keys.py: one be16 field "tci") as text: (name, bits, shift),
# odp-util.c format_vlan_tci / SCAN_FIELD("vid=", ...) bit fields.
VLAN_FIELDS: tuple[tuple[str, int, int], ...] = (("vid", 12, 0), ("pcp", 3, 13), ("cfi", 1, 12))


class Style(enum.Enum):
    """How a field prints and reads when its :class:`FieldKind` alone does not say."""

    PLAIN = "plain"  # by kind: addresses, integers in decimal (format_u8u, format_be16)
    HEX = "hex"  # %#x key (format_u8x, format_be16x)
    HEX64 = "hex64"  # format_be64: "0x%x" key, printed only with verbose or a non-zero mask
    FRAG = "frag"  # no/first/later (format_frag, scan_frag)
    LABEL = "label"  # 20-bit IPv6 flow label (format_ipv6_label, scan_ipv6_label)
    ALWAYS_HEX = "always_hex"  # "0x%x" whatever the mask


# (attribute type, field name) -> style, for KEY_ATTRS fields; ("tunnel", type) for TUNNEL_ATTRS.
FIELD_STYLE: Mapping[tuple[object, object], Style] = {
    # format_odp_key_attr__ OVS_KEY_ATTR_IPV4 / _IPV6: format_u8x for tos and tclass,
    # format_frag, format_ipv6_label.
    (KeyAttr.IPV4, "tos"): Style.HEX,
    (KeyAttr.IPV4, "frag"): Style.FRAG,
    (KeyAttr.IPV6, "tclass"): Style.HEX,
    (KeyAttr.IPV6, "frag"): Style.FRAG,
    (KeyAttr.IPV6, "label"): Style.LABEL,
    # OVS_KEY_ATTR_PACKET_TYPE: format_be16x for the id.
    (KeyAttr.PACKET_TYPE, "id"): Style.HEX,
    # OVS_KEY_ATTR_ND_EXTENSIONS: ds_put_format("nd_reserved=0x%"PRIx32",").
    (KeyAttr.ND_EXTENSIONS, "nd_reserved"): Style.ALWAYS_HEX,
    # format_odp_tun_attr: format_be64 for tun_id, format_u8x for tos.
    ("tunnel", TunnelKeyAttr.ID): Style.HEX64,
    ("tunnel", TunnelKeyAttr.TOS): Style.HEX,
}

# Field names the parser reads besides the printed ones: parse_odp_key_mask_attr__
# reads ct_tuple6's ports as tp_src=/tp_dst=, format_odp_key_attr__ prints
# src_port=/dst_port=; both are accepted so that dumps read back.
PARSE_ALIASES: Mapping[int, Mapping[str, str]] = {
    KeyAttr.CT_ORIG_TUPLE_IPV6: {"tp_src": "src_port", "tp_dst": "dst_port"},
}


def _hex04(value: int) -> str:
    return f"0x{value:04x}"


@dataclass(frozen=True, slots=True)
class SingleAttr:
    """A one-value attribute (``name(value[/mask])``): format_odp_key_attr__ and SCAN_SINGLE."""

    key: Callable[[int], str] = cx  # how the value prints
    mask: Callable[[int], str] = cx  # how a partial mask prints
    omit_wildcard: bool = False  # nothing inside the parentheses unless verbose or the mask is non-zero
    maskable: bool = True  # the parser takes "/mask"


# Attributes with one "value" field in KEY_ATTRS print as SingleAttr() (%#x,
# "/%#x" unless exact) unless listed here or in FLAG_ATTRS.
SINGLE_ATTRS: Mapping[int, SingleAttr] = {
    # SCAN_SINGLE_NO_MASK("recirc_id(", ...).
    KeyAttr.RECIRC_ID: SingleAttr(maskable=False),
    # OVS_KEY_ATTR_IN_PORT: "%"PRIu32, then "/%#"PRIx32.
    KeyAttr.IN_PORT: SingleAttr(key=str),
    # OVS_KEY_ATTR_ETHERTYPE: "0x%04"PRIx16 for value and mask.
    KeyAttr.ETHERTYPE: SingleAttr(key=_hex04, mask=_hex04),
    # OVS_KEY_ATTR_CT_ZONE / _CT_MARK: "if (verbose || !mask_empty(ma))".
    KeyAttr.CT_ZONE: SingleAttr(omit_wildcard=True),
    KeyAttr.CT_MARK: SingleAttr(omit_wildcard=True),
}


@dataclass(frozen=True, slots=True)
class FlagAttr:
    """A flag-word attribute: lib/flow.c format_flags / format_flags_masked / parse_flags."""

    names: Mapping[int, str]
    allowed: int  # bits the parser accepts
    bits: int  # the bits the printer looks at: a mask of all of them is exact
    verbose_hex: bool  # verbose output prints the word as %#x


FLAG_ATTRS: Mapping[int, FlagAttr] = {
    # OVS_KEY_ATTR_CT_STATE: odp_ct_state_to_string names, %#x when verbose.
    KeyAttr.CT_STATE: FlagAttr(CT_STATE_NAMES, 0xFF, 0xFFFF_FFFF, verbose_hex=True),
    # OVS_KEY_ATTR_TCP_FLAGS: packet_tcp_flag_to_string names, FLOW_TCP_FLAGS mask.
    KeyAttr.TCP_FLAGS: FlagAttr(TCP_FLAG_NAMES, 0x0FFF, 0x0FFF, verbose_hex=False),
}


def is_single(spec: AttrSpec) -> bool:
    """One field named "value": the attribute's text is that value alone."""
    return len(spec.fields) == 1 and spec.fields[0].name == "value"


def field_style(attr: object, name: object) -> Style:
    return FIELD_STYLE.get((attr, name), Style.PLAIN)


def field_value(kind: FieldKind, data: bytes) -> int:
    """An integer field's value: host order for ``*_HOST`` kinds, network order otherwise."""
    if kind is FieldKind.U32_HOST:
        return u32h(data)
    if kind is FieldKind.U16_HOST:
        return u16h(data)
    return be(data)


# ---------------------------------------------------------------------------
# Field printers (lib/odp-util.c format_* helpers)
# ---------------------------------------------------------------------------


class Out:
    """A ``struct ds`` with ``ds_chomp``."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def put(self, s: str) -> None:
        self.parts.append(s)

    def chomp(self, c: str) -> None:
        while self.parts and not self.parts[-1]:
            self.parts.pop()
        if self.parts and self.parts[-1].endswith(c):
            self.parts[-1] = self.parts[-1][:-1]

    def text(self) -> str:
        return "".join(self.parts)


def _ip4(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def fmt_address(
    o: Out, name: str, key: bytes, mask: bytes | None, verbose: bool, *, render: Callable[[bytes], str]
) -> None:
    # odp-util.c format_eth/format_ipv4/format_in6_addr: omitted when fully
    # wildcarded (compact form), "/mask" unless exact.
    mask_empty = mask is not None and not any(mask)
    if verbose or not mask_empty:
        o.put(f"{name}={render(key)}")
        if mask is not None and mask != b"\xff" * len(key):
            o.put(f"/{render(mask)}")
        o.put(",")


def fmt_int(  # noqa: PLR0917 - mirrors OVS's format_u8u/format_be16 signature
    o: Out, name: str, key: int, mask: int | None, full: int, verbose: bool, *, hex_key: bool = False
) -> None:
    # format_u8u / format_u8x / format_be16 / format_be16x: key in decimal
    # (or %#x), partial masks as %#x, nothing when the mask is empty.
    if verbose or mask is None or mask:
        o.put(f"{name}={cx(key) if hex_key else key}")
        if mask is not None and mask != full:
            o.put(f"/{cx(mask)}")
        o.put(",")


def _fmt_be64(o: Out, name: str, key: bytes, mask: bytes | None, verbose: bool) -> None:
    m = be(mask) if mask is not None else 0
    if verbose or m:
        o.put(f"{name}=0x{be(key):x}")
        if mask is not None and m != 0xFFFF_FFFF_FFFF_FFFF:
            o.put(f"/{cx(m)}")
        o.put(",")


def _fmt_ipv6_label(o: Out, name: str, key: int, mask: int | None, verbose: bool) -> None:
    if verbose or mask is None or mask:
        o.put(f"{name}={cx(key)}")
        if mask is not None and (mask & IPV6_LABEL_MASK) != IPV6_LABEL_MASK:
            o.put(f"/{cx(mask)}")
        o.put(",")


def _fmt_frag(o: Out, name: str, key: int, mask: int | None) -> None:
    # format_frag ignores 'verbose': an empty mask prints nothing.
    mask_empty = mask is not None and mask == 0
    mask_full = mask is None or mask == 0xFF
    if not mask_empty and not mask_full:
        assert mask is not None
        o.put(f"error: partial mask not supported for frag ({cx(mask)}),")
    elif not mask_empty:
        o.put(f"{name}={FRAG_NAMES.get(key, '<error>')},")


_RENDER: Mapping[FieldKind, Callable[[bytes], str]] = {
    FieldKind.MAC: mac,
    FieldKind.IPV4: _ip4,
    FieldKind.IPV6: format_ipv6,
}


def fmt_field(  # noqa: PLR0917 - one field as format_odp_key_attr__ prints it
    o: Out, name: str, kind: FieldKind, style: Style, key: bytes, mask: bytes | None, verbose: bool
) -> None:
    """``name=value[/mask],`` for one field, by its kind and style (nothing when OVS leaves it out)."""
    render = _RENDER.get(kind)
    if render is not None:
        fmt_address(o, name, key, mask, verbose, render=render)
    elif style is Style.FRAG:
        _fmt_frag(o, name, key[0], mask[0] if mask is not None else None)
    elif style is Style.LABEL:
        _fmt_ipv6_label(o, name, be(key), be(mask) if mask is not None else None, verbose)
    elif style is Style.ALWAYS_HEX:
        o.put(f"{name}=0x{be(key):x},")
    elif style is Style.HEX64:
        _fmt_be64(o, name, key, mask, verbose)
    else:
        full = (1 << (8 * len(key))) - 1
        fmt_int(o, name, be(key), be(mask) if mask is not None else None, full, verbose, hex_key=style is Style.HEX)


def format_flags(names: Mapping[int, str], flags: int, delim: str) -> str:
    # lib/flow.c format_flags.
    if not flags:
        return "0"
    out: list[str] = []
    bad = 0
    bit = 1
    while flags:
        if flags & bit:
            name = names.get(bit)
            if name is not None:
                out.append(name)
            else:
                bad |= bit
            flags &= ~bit
        bit <<= 1
    if bad:
        out.append(f"0x{bad:x}")
    return delim.join(out)


def format_flags_masked(names: Mapping[int, str], flags: int, mask: int, max_mask: int) -> str:
    # lib/flow.c format_flags_masked.
    if mask == max_mask:
        return format_flags(names, flags, "|")
    if not mask:
        return "0/0"
    out: list[str] = []
    bit = 1
    while mask:
        if mask & bit:
            out.append(("+" if flags & bit else "-") + names.get(bit, "[Unknown]"))
            mask &= ~bit
        bit <<= 1
    return "".join(out)


def split(data: bytes, where: str) -> list[tuple[int, bytes]]:
    """Attributes of ``data`` as (type, payload) pairs."""
    return [(t, p) for t, p, _ in iter_attrs(data, where=where)]


def find(attrs: list[tuple[int, bytes]] | None, attr_type: int) -> bytes | None:
    # nl_attr_find__: the first attribute of that type.
    if attrs is None:
        return None
    for t, p in attrs:
        if t == attr_type:
            return p
    return None
