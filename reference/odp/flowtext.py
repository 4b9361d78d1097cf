"""The dpctl flow-key text format: ``in_port(1),eth(src=...,dst=...),eth_type(0x0800),...``.

:func:`parse_flow` turns text into netlink key (and mask) bytes as OVS's
``odp_flow_from_string`` does; :func:`format_key` prints key (and mask) bytes
character for character as ``odp_flow_format`` does (``dpctl/dump-flows``
compact form, or ``-m`` verbose form). Both follow ``lib/odp-util.c`` of OVS
3.1 (the version Debian ships and we cross-check against).

Deliberate differences from OVS, all on bad input:

* integers are parsed with C ``%i`` rules (decimal, ``0x`` hex, leading ``0``
  octal) like OVS's ``ovs_scan``, but a value that does not fit its field is
  an :class:`OdpSyntaxError` (OVS silently truncates it);
* port names are out of scope: ``in_port(eth0)`` is refused (numbers only);
* keys or masks whose attributes have the wrong size raise
  :class:`OdpDecodeError` instead of printing ``(bad key length ...)``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError, OdpSyntaxError
from reference.odp.keys import KEY_ATTRS, Length, decode_key, key_attr_name
from reference.uapi import KeyAttr, NshKeyAttr, TunnelKeyAttr, VxlanExtAttr

if TYPE_CHECKING:
    from reference.ufid import Ufid

__all__ = [
    "MAX_PARSE_NESTING",
    "ParsedFlow",
    "format_key",
    "format_key_attr",
    "parse_flow",
    "parse_key_attr",
]

# lib/odp-util.c MAX_ODP_NESTED: parse_odp_key_mask_attr refuses depth 32.
MAX_PARSE_NESTING = 32
_DELIMITERS = ", \t\r\n"
_SPACE = " \t\n\v\f\r"

# lib/packets.c packet_tcp_flag_to_string, bit by bit from bit 0.
_TCP_FLAG_NAMES = {
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
_TCP_FLAGS_MASK = 0x0FFF
# odp-util.c odp_ct_state_to_string (OVS_CS_F_* bits).
_CT_STATE_NAMES = {
    0x01: "new",
    0x02: "est",
    0x04: "rel",
    0x08: "rpl",
    0x10: "inv",
    0x20: "trk",
    0x40: "snat",
    0x80: "dnat",
}
_CT_STATE_ALLOWED = 0xFF
# lib/flow.c flow_tun_flag_to_string; FLOW_TNL_F_* bits.
_TNL_F_OAM = 0x1
_TNL_F_DONT_FRAGMENT = 0x2
_TNL_F_CSUM = 0x4
_TNL_F_KEY = 0x8
_TNL_F_MASK = 0xF
_TUN_FLAG_NAMES = {_TNL_F_OAM: "oam", _TNL_F_DONT_FRAGMENT: "df", _TNL_F_CSUM: "csum", _TNL_F_KEY: "key"}
_FRAG_NAMES = {0: "no", 1: "first", 2: "later"}
_IPV6_LABEL_MASK = 0x000FFFFF
_ERSPAN_LEN = 12  # sizeof(struct erspan_metadata)
# What OVS prints after "mpls(" for an empty MPLS attribute (no closing ')').
_MPLS_EMPTY = "(bad key length 0)"
_HEX_DIGITS = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True)
class ParsedFlow:
    """A parsed flow: optional UFID, netlink key bytes and mask bytes (``None`` when parsed without masks)."""

    ufid: Ufid | None
    key: bytes
    mask: bytes | None


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def _hx(value: int) -> str:
    """C ``%#x``: ``0`` for zero, ``0x..`` otherwise."""
    return f"{value:#x}" if value else "0"


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip4(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _ip6(b: bytes) -> str:
    # inet_ntop and Python agree on RFC 5952 text, except that glibc prints
    # IPv4-mapped/compatible forms with a dotted tail the same way Python does.
    return str(ipaddress.IPv6Address(b))


def _u32h(b: bytes) -> int:
    return int(struct.unpack("=I", b)[0])


def _u16h(b: bytes) -> int:
    return int(struct.unpack("=H", b)[0])


def _be(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _hexdump_generic(b: bytes) -> str:
    # odp-util.c format_generic_odp_key: bytes as "%02x" separated by spaces.
    return " ".join(f"{x:02x}" for x in b)


def _put_hex(b: bytes) -> str:
    # lib/dynamic-string.c ds_put_hex: leading zero bytes skipped, "0" if all zero.
    stripped = b.lstrip(b"\0")
    if not stripped:
        return "0"
    return f"0x{stripped[0]:x}" + "".join(f"{x:02x}" for x in stripped[1:])


class _Out:
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


def _fmt_eth(o: _Out, name: str, key: bytes, mask: bytes | None, verbose: bool) -> None:
    mask_empty = mask is not None and not any(mask)
    if verbose or not mask_empty:
        if mask is None or mask == b"\xff" * 6:
            o.put(f"{name}={_mac(key)},")
        else:
            o.put(f"{name}={_mac(key)}/{_mac(mask)},")


def _fmt_be64(o: _Out, name: str, key: bytes, mask: bytes | None, verbose: bool) -> None:
    m = _be(mask) if mask is not None else 0
    if verbose or m:
        o.put(f"{name}=0x{_be(key):x}")
        if mask is not None and m != 0xFFFF_FFFF_FFFF_FFFF:
            o.put(f"/{_hx(m)}")
        o.put(",")


def _fmt_address(
    o: _Out, name: str, key: bytes, mask: bytes | None, verbose: bool, *, render: Callable[[bytes], str]
) -> None:
    # odp-util.c format_ipv4/format_in6_addr: omitted when fully wildcarded
    # (compact form), "/mask" unless exact.
    mask_empty = mask is not None and not any(mask)
    if verbose or not mask_empty:
        o.put(f"{name}={render(key)}")
        if mask is not None and mask != b"\xff" * len(key):
            o.put(f"/{render(mask)}")
        o.put(",")


def _fmt_ipv4(o: _Out, name: str, key: bytes, mask: bytes | None, verbose: bool) -> None:
    _fmt_address(o, name, key, mask, verbose, render=_ip4)


def _fmt_in6(o: _Out, name: str, key: bytes, mask: bytes | None, verbose: bool) -> None:
    _fmt_address(o, name, key, mask, verbose, render=_ip6)


def _fmt_ipv6_label(o: _Out, name: str, key: int, mask: int | None, verbose: bool) -> None:
    if verbose or mask is None or mask:
        o.put(f"{name}={_hx(key)}")
        if mask is not None and (mask & _IPV6_LABEL_MASK) != _IPV6_LABEL_MASK:
            o.put(f"/{_hx(mask)}")
        o.put(",")


def _fmt_int(  # noqa: PLR0917 - mirrors OVS's format_u8u/format_be16 signature
    o: _Out, name: str, key: int, mask: int | None, full: int, verbose: bool, *, hex_key: bool = False
) -> None:
    # format_u8u / format_u8x / format_be16 / format_be16x: key in decimal
    # (or %#x), partial masks as %#x, nothing when the mask is empty.
    if verbose or mask is None or mask:
        o.put(f"{name}={_hx(key) if hex_key else key}")
        if mask is not None and mask != full:
            o.put(f"/{_hx(mask)}")
        o.put(",")


def _fmt_frag(o: _Out, name: str, key: int, mask: int | None) -> None:
    # format_frag ignores 'verbose': an empty mask prints nothing.
    mask_empty = mask is not None and mask == 0
    mask_full = mask is None or mask == 0xFF
    if not mask_empty and not mask_full:
        assert mask is not None
        o.put(f"error: partial mask not supported for frag ({_hx(mask)}),")
    elif not mask_empty:
        o.put(f"{name}={_FRAG_NAMES.get(key, '<error>')},")


def _format_flags(names: dict[int, str], flags: int, delim: str) -> str:
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


def _format_flags_masked(names: dict[int, str], flags: int, mask: int, max_mask: int) -> str:
    # lib/flow.c format_flags_masked.
    if mask == max_mask:
        return _format_flags(names, flags, "|")
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


def _mask_is_constant(attr_type: int, mask: bytes, ones: bool) -> bool:
    """odp-util.c odp_mask_is_constant__ (exact when ``ones``, wildcard otherwise)."""
    byte = 0xFF if ones else 0
    if attr_type == KeyAttr.TCP_FLAGS:
        return (_be(mask) & _TCP_FLAGS_MASK) == (_TCP_FLAGS_MASK if ones else 0)
    if attr_type == KeyAttr.IPV6:
        label = _be(mask[32:36]) & _IPV6_LABEL_MASK
        return (
            label == (_IPV6_LABEL_MASK if ones else 0)
            and all(x == byte for x in mask[36:40])
            and all(x == byte for x in mask[0:32])
        )
    if attr_type == KeyAttr.ARP:
        return all(x == byte for x in mask[:22])
    if attr_type == KeyAttr.CT_ORIG_TUPLE_IPV4:
        return all(x == byte for x in mask[:13])
    if attr_type == KeyAttr.CT_ORIG_TUPLE_IPV6:
        return all(x == byte for x in mask[:37])
    if attr_type in (KeyAttr.UNSPEC, KeyAttr.ENCAP, KeyAttr.TUNNEL_INFO) or attr_type not in KEY_ATTRS:
        return False
    return all(x == byte for x in mask)


def _find(attrs: list[tuple[int, bytes]] | None, attr_type: int) -> bytes | None:
    # nl_attr_find__: the first attribute of that type.
    if attrs is None:
        return None
    for t, p in attrs:
        if t == attr_type:
            return p
    return None


def _split(data: bytes, where: str) -> list[tuple[int, bytes]]:
    return [(t, p) for t, p, _ in iter_attrs(data, where=where)]


def _wildcard_mask(attr_type: int, payload: bytes) -> bytes:
    """odp-util.c generate_all_wildcard_mask: zeros, or an *empty* nested attribute.

    For nested types OVS iterates from the attribute header with the payload
    length, which never yields a valid attribute, so the result is empty.
    """
    spec = KEY_ATTRS.get(attr_type)
    if spec is not None and spec.length == Length.NESTED:
        return b""
    return bytes(len(payload))


def _fmt_vlan_tci(o: _Out, tci: int, mask: int, verbose: bool) -> None:
    vid, vid_m = tci & 0xFFF, mask & 0xFFF
    pcp, pcp_m = (tci >> 13) & 7, (mask >> 13) & 7
    if verbose or vid or vid_m:
        o.put(f"vid={vid}")
        if vid_m != 0xFFF:
            o.put(f"/0x{vid_m:x}")
        o.put(",")
    if verbose or pcp or pcp_m:
        o.put(f"pcp={pcp}")
        if pcp_m != 7:
            o.put(f"/0x{pcp_m:x}")
        o.put(",")
    if not tci & 0x1000:
        o.put("cfi=0,")
    o.chomp(",")


def _fmt_mpls(o: _Out, key: bytes, mask: bytes | None) -> None:
    for i in range(0, len(key), 4):
        k = _be(key[i : i + 4])
        label, tc, ttl, bos = k >> 12, (k >> 9) & 7, k & 0xFF, (k >> 8) & 1
        if mask is None:
            o.put(f"label={label},tc={tc},ttl={ttl},bos={bos}")
        else:
            m = _be(mask[i : i + 4])
            o.put(
                f"label={label}/0x{m >> 12:x},tc={tc}/{(m >> 9) & 7:x},"
                f"ttl={ttl}/0x{m & 0xFF:x},bos={bos}/{(m >> 8) & 1:x}"
            )
        o.put(",")
    o.chomp(",")


def _fmt_unknown_nested(o: _Out, prefix: str, t: int, a: bytes, ma: bytes | None) -> None:
    # format_unknown_key: "key<N>(hex[/hex])," inside tunnel/vxlan options.
    o.put(f"key{t}({_hexdump_generic(a)}")
    if ma is not None and not all(x == 0xFF for x in ma):
        o.put(f"/{_hexdump_generic(ma)}")
    o.put("),")


def _fmt_geneve(o: _Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_geneve / format_geneve_opts.
    if ma is not None and len(a) != len(ma):
        o.put(f"value len {len(a)} different from mask len {len(ma)}")
        return
    pos = 0
    while pos < len(a):
        rest = len(a) - pos
        if rest < 4:
            o.put(f"opt len {rest} less than minimum 4")
            return
        data_len = (a[pos + 3] & 0x1F) * 4
        if 4 + data_len > rest:
            o.put(f"opt len {4 + data_len} greater than remaining {rest}")
            return
        o.put("{")
        m = ma[pos : pos + 4 + data_len] if ma is not None else None
        _fmt_int(o, "class", _be(a[pos : pos + 2]), _be(m[0:2]) if m else None, 0xFFFF, verbose, hex_key=True)
        _fmt_int(o, "type", a[pos + 2], m[2] if m else None, 0xFF, verbose, hex_key=True)
        len_mask: int | None = None
        if m is not None:
            len_mask = 0xFF if (m[3] & 0x1F) == 0x1F else (m[3] & 0x1F)
        _fmt_int(o, "len", data_len, len_mask, 0xFF, verbose)
        data = a[pos + 4 : pos + 4 + data_len]
        mdata = m[4:] if m is not None else None
        if data_len and (verbose or mdata is None or any(mdata)):
            o.put(_put_hex(data))
            if mdata is not None and not all(x == 0xFF for x in mdata):
                o.put("/" + _put_hex(mdata))
        else:
            o.chomp(",")
        o.put("}")
        pos += 4 + data_len


def _fmt_tunnel(o: _Out, payload: bytes, mask_payload: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_attr.
    mask_attrs = _split(mask_payload, "mask/tunnel") if mask_payload is not None else None
    flags = 0
    mask_flags = 0
    for t, a in _split(payload, "key/tunnel"):
        ma: bytes | None = None
        if mask_attrs is not None:
            ma = _find(mask_attrs, t)
            if ma is None:
                ma = b"" if t == TunnelKeyAttr.VXLAN_OPTS else bytes(len(a))
        if t == TunnelKeyAttr.ID:
            _fmt_be64(o, "tun_id", a, ma, verbose)
            flags |= _TNL_F_KEY
            if ma is not None:
                mask_flags |= _TNL_F_KEY
        elif t in (TunnelKeyAttr.IPV4_SRC, TunnelKeyAttr.IPV4_DST):
            _fmt_ipv4(o, "src" if t == TunnelKeyAttr.IPV4_SRC else "dst", a, ma, verbose)
        elif t in (TunnelKeyAttr.IPV6_SRC, TunnelKeyAttr.IPV6_DST):
            _fmt_in6(o, "ipv6_src" if t == TunnelKeyAttr.IPV6_SRC else "ipv6_dst", a, ma, verbose)
        elif t == TunnelKeyAttr.TOS:
            _fmt_int(o, "tos", a[0], ma[0] if ma is not None else None, 0xFF, verbose, hex_key=True)
        elif t == TunnelKeyAttr.TTL:
            _fmt_int(o, "ttl", a[0], ma[0] if ma is not None else None, 0xFF, verbose)
        elif t == TunnelKeyAttr.DONT_FRAGMENT:
            flags |= _TNL_F_DONT_FRAGMENT
        elif t == TunnelKeyAttr.CSUM:
            flags |= _TNL_F_CSUM
        elif t == TunnelKeyAttr.OAM:
            flags |= _TNL_F_OAM
        elif t in (TunnelKeyAttr.TP_SRC, TunnelKeyAttr.TP_DST):
            name = "tp_src" if t == TunnelKeyAttr.TP_SRC else "tp_dst"
            _fmt_int(o, name, _be(a), _be(ma) if ma is not None else None, 0xFFFF, verbose)
        elif t == TunnelKeyAttr.VXLAN_OPTS:
            o.put("vxlan(")
            _fmt_vxlan(o, a, ma, verbose)
            o.put("),")
        elif t == TunnelKeyAttr.GENEVE_OPTS:
            o.put("geneve(")
            _fmt_geneve(o, a, ma, verbose)
            o.put("),")
        elif t == TunnelKeyAttr.PAD:
            pass
        elif t == TunnelKeyAttr.ERSPAN_OPTS:
            o.put("erspan(")
            _fmt_erspan(o, a, ma, verbose)
            o.put("),")
        elif t == 16:
            o.put("gtpu(")
            _fmt_gtpu(o, a, ma, verbose)
            o.put("),")
        else:
            _fmt_unknown_nested(o, "tunnel", t, a, ma)
    if mask_attrs is not None:
        for t, _ in mask_attrs:
            if t == TunnelKeyAttr.DONT_FRAGMENT:
                mask_flags |= _TNL_F_DONT_FRAGMENT
            elif t == TunnelKeyAttr.CSUM:
                mask_flags |= _TNL_F_CSUM
            elif t == TunnelKeyAttr.OAM:
                mask_flags |= _TNL_F_OAM
    # format_tun_flags
    if verbose or mask_attrs is None or mask_flags:
        o.put("flags(")
        if mask_attrs is not None:
            o.put(_format_flags_masked(_TUN_FLAG_NAMES, flags, mask_flags & _TNL_F_MASK, _TNL_F_MASK))
        else:
            o.put(_format_flags(_TUN_FLAG_NAMES, flags, "|"))
        o.put("),")
    o.chomp(",")


def _fmt_vxlan(o: _Out, payload: bytes, mask_payload: bytes | None, verbose: bool) -> None:
    mask_attrs = _split(mask_payload, "mask/tunnel/vxlan") if mask_payload is not None else None
    for t, a in _split(payload, "key/tunnel/vxlan"):
        ma: bytes | None = None
        if mask_attrs is not None:
            ma = _find(mask_attrs, t)
            if ma is None:
                ma = bytes(len(a))
        if t == VxlanExtAttr.GBP and len(a) == 4 and (ma is None or len(ma) == 4):
            k = _u32h(a)
            m = _u32h(ma) if ma is not None else None
            o.put("gbp(")
            _fmt_int(o, "id", k & 0xFFFF, (m & 0xFFFF) if m is not None else None, 0xFFFF, verbose)
            _fmt_int(o, "flags", (k >> 16) & 0xFF, ((m >> 16) & 0xFF) if m is not None else None, 0xFF, verbose,
                     hex_key=True)  # fmt: skip
            o.chomp(",")
            o.put("),")
        else:
            _fmt_unknown_nested(o, "vxlan", t, a, ma)
    o.chomp(",")


def _fmt_erspan(o: _Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_erspan_opt over struct erspan_metadata
    # (lib/packets.h): int version (host order); union { be32 index;
    # struct erspan_md2 { be32 ts; be16 sgt; u8 p:1,ft:5,hwid_upper:2;
    # u8 hwid:4,dir:1,gra:2,o:1 } } -- 12 bytes, bit fields LSB first (x86).
    if len(a) < _ERSPAN_LEN or (ma is not None and len(ma) < _ERSPAN_LEN):
        o.put(_hexdump_generic(a))
        return
    version = _u32h(a[0:4])
    _fmt_int(o, "ver", version & 0xFF, (_u32h(ma[0:4]) & 0xFF) if ma is not None else None, 0xFF, verbose)
    if version == 1:
        # OVS prints the index mask whenever there is a mask, even if exact.
        idx = _be(a[4:8])
        o.put(f"idx={_hx(idx)}/{_hx(_be(ma[4:8]))}," if ma is not None else f"idx={_hx(idx)},")
    elif version == 2:
        b, mb = a[11], (ma[11] if ma is not None else None)
        _fmt_int(o, "dir", (b >> 4) & 1, ((mb >> 4) & 1) if mb is not None else None, 0xFF, verbose)
        _fmt_int(o, "hwid", b & 0xF, (mb & 0xF) if mb is not None else None, 0xFF, verbose, hex_key=True)
    o.chomp(",")


def _fmt_gtpu(o: _Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_gtpu_opt: struct gtpu_metadata { u8 flags, msgtype }.
    if len(a) < 2 or (ma is not None and len(ma) < 2):
        o.put(_hexdump_generic(a))
        return
    _fmt_int(o, "flags", a[0], ma[0] if ma is not None else None, 0xFF, verbose, hex_key=True)
    _fmt_int(o, "msgtype", a[1], ma[1] if ma is not None else None, 0xFF, verbose)
    o.chomp(",")


def _fmt_nsh(o: _Out, payload: bytes, mask_payload: bytes | None) -> None:
    # odp-util.c format_odp_nsh_attr; missing mask parts stay all-ones.
    key = {"flags": 0, "ttl": 0, "mdtype": 0, "np": 0, "path": 0, "c": [0, 0, 0, 0]}
    msk = {"flags": 0xFF, "ttl": 0xFF, "mdtype": 0xFF, "np": 0xFF, "path": 0xFFFF_FFFF, "c": [0xFFFF_FFFF] * 4}
    mask_attrs = _split(mask_payload, "mask/nsh") if mask_payload is not None else None
    for t, a in _split(payload, "key/nsh"):
        ma = _find(mask_attrs, t)
        if t == NshKeyAttr.BASE:
            key.update(flags=a[0], ttl=a[1], mdtype=a[2], np=a[3], path=_be(a[4:8]))
            if ma is not None:
                msk.update(flags=ma[0], ttl=ma[1], mdtype=ma[2], np=ma[3], path=_be(ma[4:8]))
        elif t == NshKeyAttr.MD1:
            key["c"] = [_be(a[i : i + 4]) for i in range(0, 16, 4)]
            if ma is not None:
                msk["c"] = [_be(ma[i : i + 4]) for i in range(0, 16, 4)]
    kc = key["c"]
    mc = msk["c"]
    assert isinstance(kc, list) and isinstance(mc, list)
    kp, mp = int(str(key["path"])), int(str(msk["path"]))
    if mask_attrs is None:
        o.put(f"flags={key['flags']},ttl={key['ttl']},mdtype={key['mdtype']},np={key['np']}")
        o.put(f",spi=0x{kp >> 8:x},si={kp & 0xFF}")
        if key["mdtype"] == 1:
            for i in range(4):
                o.put(f",c{i + 1}=0x{kc[i]:x}")
        return
    parts: list[str] = []

    def u8(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}={v}" if m == 0xFF else f"{name}=0x{v:02x}/0x{m:02x}")

    def be32(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}=0x{v:x}" if m == 0xFFFF_FFFF else f"{name}=0x{v:x}/0x{m:08x}")

    spi_m = mp >> 8
    if spi_m == 0xFFFFFF:
        spi_m = 0xFFFF_FFFF
    for name in ("flags", "ttl", "mdtype", "np"):
        u8(name, int(str(key[name])), int(str(msk[name])))
    be32("spi", kp >> 8, spi_m)
    u8("si", kp & 0xFF, mp & 0xFF)
    for i in range(4):
        be32(f"c{i + 1}", kc[i], mc[i])
    o.put(",".join(parts))


def _fmt_attr_body(o: _Out, t: int, a: bytes, ma: bytes | None, verbose: bool) -> None:
    """odp-util.c format_odp_key_attr__ (name, parentheses and body)."""
    is_exact = _mask_is_constant(t, ma, True) if ma is not None else True
    o.put(key_attr_name(t) + "(")
    m = ma
    if t == KeyAttr.ENCAP:
        if m and a:
            o.put(_format_attrs(a, m, verbose, "encap"))
        elif a:
            o.put(_format_attrs(a, None, verbose, "encap"))
    elif t in (KeyAttr.PRIORITY, KeyAttr.SKB_MARK, KeyAttr.DP_HASH, KeyAttr.RECIRC_ID):
        o.put(_hx(_u32h(a)))
        if not is_exact:
            assert m is not None
            o.put("/" + _hx(_u32h(m)))
    elif t == KeyAttr.CT_MARK:
        if verbose or (m is not None and any(m)):
            o.put(_hx(_u32h(a)))
            if not is_exact:
                assert m is not None
                o.put("/" + _hx(_u32h(m)))
    elif t == KeyAttr.CT_STATE:
        mv = _u32h(m) if m is not None and any(m) else 0
        if verbose:
            o.put(_hx(_u32h(a)))
            if not is_exact:
                o.put("/" + _hx(mv))
        elif not is_exact:
            o.put(_format_flags_masked(_CT_STATE_NAMES, _u32h(a), mv, 0xFFFF_FFFF))
        else:
            o.put(_format_flags(_CT_STATE_NAMES, _u32h(a), "|"))
    elif t == KeyAttr.CT_ZONE:
        if verbose or (m is not None and any(m)):
            o.put(_hx(_u16h(a)))
            if not is_exact:
                assert m is not None
                o.put("/" + _hx(_u16h(m)))
    elif t == KeyAttr.CT_LABELS:
        # ovs_u128 in host order (x86: little endian), printed big-endian.
        if verbose or (m is not None and any(m)):
            o.put(_put_hex(a[::-1]))
            if m is not None and not all(x == 0xFF for x in m):
                o.put("/" + _put_hex(m[::-1]))
    elif t == KeyAttr.CT_ORIG_TUPLE_IPV4:
        _fmt_ipv4(o, "src", a[0:4], m[0:4] if m else None, verbose)
        _fmt_ipv4(o, "dst", a[4:8], m[4:8] if m else None, verbose)
        _fmt_int(o, "proto", a[12], m[12] if m else None, 0xFF, verbose)
        _fmt_int(o, "tp_src", _be(a[8:10]), _be(m[8:10]) if m else None, 0xFFFF, verbose)
        _fmt_int(o, "tp_dst", _be(a[10:12]), _be(m[10:12]) if m else None, 0xFFFF, verbose)
        o.chomp(",")
    elif t == KeyAttr.CT_ORIG_TUPLE_IPV6:
        # OVS prints src_port/dst_port here but parses tp_src/tp_dst.
        _fmt_in6(o, "src", a[0:16], m[0:16] if m else None, verbose)
        _fmt_in6(o, "dst", a[16:32], m[16:32] if m else None, verbose)
        _fmt_int(o, "proto", a[36], m[36] if m else None, 0xFF, verbose)
        _fmt_int(o, "src_port", _be(a[32:34]), _be(m[32:34]) if m else None, 0xFFFF, verbose)
        _fmt_int(o, "dst_port", _be(a[34:36]), _be(m[34:36]) if m else None, 0xFFFF, verbose)
        o.chomp(",")
    elif t == KeyAttr.TUNNEL:
        _fmt_tunnel(o, a, m, verbose)
    elif t == KeyAttr.IN_PORT:
        if is_exact:
            o.put(str(_u32h(a)))
        else:
            assert m is not None
            o.put(f"{_u32h(a)}/{_hx(_u32h(m))}")
    elif t == KeyAttr.PACKET_TYPE:
        mm = m if m is not None else b"\xff" * 4
        _fmt_int(o, "ns", _be(a[0:2]), _be(mm[0:2]), 0xFFFF, verbose)
        _fmt_int(o, "id", _be(a[2:4]), _be(mm[2:4]), 0xFFFF, verbose, hex_key=True)
        o.chomp(",")
    elif t == KeyAttr.ETHERNET:
        _fmt_eth(o, "src", a[0:6], m[0:6] if m else None, verbose)
        _fmt_eth(o, "dst", a[6:12], m[6:12] if m else None, verbose)
        o.chomp(",")
    elif t == KeyAttr.VLAN:
        _fmt_vlan_tci(o, _be(a), _be(m) if m is not None else 0xFFFF, verbose)
    elif t == KeyAttr.MPLS:
        if not a:
            # An empty label stack (Linux upcall keys for a cut stack):
            # format_odp_key_attr__ prints this and returns before its
            # closing ')', so the text really is "mpls((bad key length 0)".
            o.put(_MPLS_EMPTY)
            return
        _fmt_mpls(o, a, None if is_exact else m)
    elif t == KeyAttr.ETHERTYPE:
        o.put(f"0x{_be(a):04x}")
        if not is_exact:
            assert m is not None
            o.put(f"/0x{_be(m):04x}")
    elif t == KeyAttr.IPV4:
        _fmt_ipv4(o, "src", a[0:4], m[0:4] if m else None, verbose)
        _fmt_ipv4(o, "dst", a[4:8], m[4:8] if m else None, verbose)
        _fmt_int(o, "proto", a[8], m[8] if m else None, 0xFF, verbose)
        _fmt_int(o, "tos", a[9], m[9] if m else None, 0xFF, verbose, hex_key=True)
        _fmt_int(o, "ttl", a[10], m[10] if m else None, 0xFF, verbose)
        _fmt_frag(o, "frag", a[11], m[11] if m else None)
        o.chomp(",")
    elif t == KeyAttr.IPV6:
        _fmt_in6(o, "src", a[0:16], m[0:16] if m else None, verbose)
        _fmt_in6(o, "dst", a[16:32], m[16:32] if m else None, verbose)
        _fmt_ipv6_label(o, "label", _be(a[32:36]), _be(m[32:36]) if m else None, verbose)
        _fmt_int(o, "proto", a[36], m[36] if m else None, 0xFF, verbose)
        _fmt_int(o, "tclass", a[37], m[37] if m else None, 0xFF, verbose, hex_key=True)
        _fmt_int(o, "hlimit", a[38], m[38] if m else None, 0xFF, verbose)
        _fmt_frag(o, "frag", a[39], m[39] if m else None)
        o.chomp(",")
    elif t in (KeyAttr.TCP, KeyAttr.UDP, KeyAttr.SCTP):
        _fmt_int(o, "src", _be(a[0:2]), _be(m[0:2]) if m else None, 0xFFFF, verbose)
        _fmt_int(o, "dst", _be(a[2:4]), _be(m[2:4]) if m else None, 0xFFFF, verbose)
        o.chomp(",")
    elif t == KeyAttr.TCP_FLAGS:
        if not is_exact:
            assert m is not None
            o.put(_format_flags_masked(_TCP_FLAG_NAMES, _be(a), _be(m) & _TCP_FLAGS_MASK, _TCP_FLAGS_MASK))
        else:
            o.put(_format_flags(_TCP_FLAG_NAMES, _be(a), "|"))
    elif t in (KeyAttr.ICMP, KeyAttr.ICMPV6):
        _fmt_int(o, "type", a[0], m[0] if m else None, 0xFF, verbose)
        _fmt_int(o, "code", a[1], m[1] if m else None, 0xFF, verbose)
        o.chomp(",")
    elif t == KeyAttr.ARP:
        _fmt_ipv4(o, "sip", a[0:4], m[0:4] if m else None, verbose)
        _fmt_ipv4(o, "tip", a[4:8], m[4:8] if m else None, verbose)
        _fmt_int(o, "op", _be(a[8:10]), _be(m[8:10]) if m else None, 0xFFFF, verbose)
        _fmt_eth(o, "sha", a[10:16], m[10:16] if m else None, verbose)
        _fmt_eth(o, "tha", a[16:22], m[16:22] if m else None, verbose)
        o.chomp(",")
    elif t == KeyAttr.ND:
        _fmt_in6(o, "target", a[0:16], m[0:16] if m else None, verbose)
        _fmt_eth(o, "sll", a[16:22], m[16:22] if m else None, verbose)
        _fmt_eth(o, "tll", a[22:28], m[22:28] if m else None, verbose)
        o.chomp(",")
    elif t == KeyAttr.ND_EXTENSIONS:
        o.put(f"nd_reserved=0x{_be(a[0:4]):x},")
        _fmt_int(o, "nd_options_type", a[4], m[4] if m else None, 0xFF, verbose)
        o.chomp(",")
    elif t == KeyAttr.NSH:
        _fmt_nsh(o, a, m)
    else:
        o.put(_hexdump_generic(a))
        if not is_exact:
            assert m is not None
            o.put("/" + _hexdump_generic(m))
    o.put(")")


def _format_attrs(key: bytes, mask: bytes | None, verbose: bool, where: str) -> str:
    """odp-util.c odp_flow_format over already validated bytes."""
    o = _Out()
    if not key:
        return "<empty>"
    mask_attrs = _split(mask, f"mask/{where}") if mask is not None else None
    has_ethtype = False
    has_packet_type = False
    first = True
    for t, a in _split(key, where):
        ma = _find(mask_attrs, t) if mask_attrs else None
        if t == KeyAttr.ETHERTYPE:
            has_ethtype = True
        elif t == KeyAttr.PACKET_TYPE:
            has_packet_type = True
        spec = KEY_ATTRS.get(t)
        is_nested = spec is not None and spec.length == Length.NESTED
        is_wildcard = False
        if mask_attrs:
            is_wildcard = _mask_is_constant(t, ma, False) if ma is not None else True
        if verbose or not is_wildcard or is_nested:
            if is_wildcard and ma is None:
                ma = _wildcard_mask(t, a)
            if not first:
                o.put(",")
            _fmt_attr_body(o, t, a, ma, verbose)
            first = False
        elif t == KeyAttr.ETHERNET and not has_packet_type:
            # OVS does not clear first_field here, so "eth()" leading the
            # output is followed by the next attribute without a comma.
            if not first:
                o.put(",")
            o.put("eth()")
        elif t == KeyAttr.PACKET_TYPE and is_wildcard:
            has_packet_type = False
    if not has_ethtype and mask is not None:
        m = _find(mask_attrs, KeyAttr.ETHERTYPE)
        if m is not None:
            o.put(f",eth_type(0/0x{_be(m):04x})")
    return o.text()


def format_key(key: bytes, mask: bytes | None = None, *, verbose: bool = False) -> str:
    """Print ``key`` (with ``mask``) exactly as ``ovs-appctl dpctl/dump-flows`` does.

    ``verbose=True`` is the ``-m`` form. Without a mask every field prints as
    exact. Raises :class:`OdpDecodeError` for malformed key or mask bytes.
    """
    decode_key(key, where="key")
    if mask is not None:
        decode_key(mask, where="mask", is_mask=True)
        _check_mask_sizes(key, mask, "key")
    return _format_attrs(bytes(key), bytes(mask) if mask is not None else None, verbose, "key")


def _check_mask_sizes(key: bytes, mask: bytes, where: str) -> None:
    # odp-util.c check_attr_len: a fixed-size key attribute needs a mask of the
    # same size; OVS prints "(bad mask length ...)", we refuse.
    mask_attrs = _split(mask, f"mask/{where}")
    for t, a in _split(key, where):
        spec = KEY_ATTRS.get(t)
        ma = _find(mask_attrs, t)
        if spec is None or ma is None:
            continue
        if spec.length >= 0 and len(ma) != spec.length:
            raise OdpDecodeError(
                f"mask is {len(ma)} bytes, expected {spec.length}", where=f"mask/{spec.name}", offset=None
            )
        if t == KeyAttr.MPLS and len(ma) != len(a):
            raise OdpDecodeError(f"mask is {len(ma)} bytes but key is {len(a)}", where="mask/mpls")
        if t == KeyAttr.ENCAP and a and ma:
            _check_mask_sizes(a, ma, f"{where}/encap")


def format_key_attr(attr_type: int, payload: bytes, mask: bytes | None, *, verbose: bool) -> str:
    """One attribute as text, e.g. ``ipv4(src=10.0.0.1,...)`` (for ``set()``/``set_masked()`` actions)."""
    if not isinstance(attr_type, int) or not 0 <= attr_type <= 0x3FFF:
        raise OdpDecodeError(f"attribute type {attr_type!r} is not a netlink attribute type (0..16383)", where="key")
    for what, data in (("payload", payload), ("mask", mask)):
        if data is not None and (not isinstance(data, (bytes, bytearray, memoryview)) or len(data) > 0xFFFF - 4):
            raise OdpDecodeError(
                f"{what} must be bytes of at most 65531 bytes", where=f"key/{key_attr_name(attr_type)}"
            )
    key = pack_attr(attr_type, payload)
    decode_key(key, where="key")
    if mask is not None:
        mbytes = pack_attr(attr_type, mask)
        decode_key(mbytes, where="mask", is_mask=True)
        _check_mask_sizes(key, mbytes, "key")
    o = _Out()
    _fmt_attr_body(o, attr_type, bytes(payload), bytes(mask) if mask is not None else None, verbose)
    return o.text()


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


class _Parser:
    """Recursive-descent parser mirroring odp-util.c parse_odp_key_mask_attr__."""

    def __init__(self, text: str, with_mask: bool) -> None:
        self.s = text
        self.with_mask = with_mask
        self.depth = 0

    # -- errors and characters -------------------------------------------------------------

    def error(self, message: str, pos: int) -> OdpSyntaxError:
        return OdpSyntaxError(message, text=self.s, column=pos)

    def at(self, pos: int) -> str:
        return self.s[pos] if pos < len(self.s) else ""

    def starts(self, pos: int, prefix: str) -> bool:
        return self.s.startswith(prefix, pos)

    # -- scalar scanners: return (value, mask | None, new position) ------------------------------

    def scan_int(self, pos: int, bits: int, what: str, *, base: int = 0, signed_ok: bool = True) -> tuple[int, int]:
        """lib/util.c scan_int (ovs_scan %i): sign, 0x hex, leading-0 octal."""
        start = pos
        while self.at(pos) in _SPACE and self.at(pos):
            pos += 1
        negative = self.at(pos) == "-"
        if self.at(pos) in "+-" and self.at(pos):
            pos += 1
        if base in (0, 16) and self.at(pos) == "0" and self.at(pos + 1) in ("x", "X") and self.at(pos + 1):
            base = 16
            pos += 2
        elif base == 0:
            base = 8 if self.at(pos) == "0" else 10
        value = 0
        ndigits = 0
        while True:
            c = self.at(pos)
            d = int(c, 16) if c and c in "0123456789abcdefABCDEF" else -1
            if d < 0 or d >= base:
                break
            value = value * base + d
            ndigits += 1
            pos += 1
        if not ndigits:
            raise self.error(f"expected an integer for {what}", start)
        if negative and value:
            # OVS wraps negative numbers modulo the field width; only "-0" is in range.
            raise self.error(f"{what}: negative value out of range for a {bits}-bit field", start)
        if value >> bits:
            raise self.error(f"{what}: value {value:#x} does not fit in {bits} bits", start)
        return value, pos

    def scan_num(self, pos: int, bits: int, what: str, mask: bool) -> tuple[int, int | None, int]:
        value, pos = self.scan_int(pos, bits, what)
        m: int | None = None
        if mask:
            if self.at(pos) == "/":
                m, pos = self.scan_int(pos + 1, bits, f"{what} mask")
            else:
                m = (1 << bits) - 1
        return value, m, pos

    def scan_value(self, pos: int, kind: str, size: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        """One field value of ``kind`` (ipv4, in6, eth, frag, label, else a ``size``-byte number)."""
        if kind == "ipv4":
            return self.scan_ipv4(pos, what, mask)
        if kind == "in6":
            return self.scan_in6(pos, what, mask)
        if kind == "eth":
            return self.scan_mac(pos, what, mask)
        if kind == "frag":
            return self.scan_frag(pos, what, mask)
        if kind == "label":
            return self.scan_label(pos, what, mask)
        v, mv, pos = self.scan_num(pos, size * 8, what, mask)
        return v.to_bytes(size, "big"), (mv.to_bytes(size, "big") if mv is not None else None), pos

    def _scan_octets(self, pos: int, what: str, *, count: int, sep: str, base: int, name: str) -> tuple[bytes, int]:
        """``count`` 8-bit numbers separated by ``sep`` (dotted quad, MAC)."""
        out = bytearray()
        for i in range(count):
            if i:
                if self.at(pos) != sep:
                    raise self.error(f"{what}: expected {sep!r} in {name}", pos)
                pos += 1
            v, pos = self.scan_int(pos, 8, what, base=base)
            out.append(v)
        return bytes(out), pos

    def _scan_octets_masked(
        self, pos: int, what: str, mask: bool, *, count: int, sep: str, base: int, name: str
    ) -> tuple[bytes, bytes | None, int]:
        k, pos = self._scan_octets(pos, what, count=count, sep=sep, base=base, name=name)
        m: bytes | None = None
        if mask:
            m = b"\xff" * count
            if self.at(pos) == "/":
                # OVS: a "/" not followed by an address leaves the mask exact
                # and the "/" unconsumed, which then fails as a delimiter.
                with contextlib.suppress(OdpSyntaxError):
                    m, pos = self._scan_octets(pos + 1, f"{what} mask", count=count, sep=sep, base=base, name=name)
        return k, m, pos

    def scan_ipv4(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        return self._scan_octets_masked(pos, what, mask, count=4, sep=".", base=10, name="IPv4 address")

    def scan_mac(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        return self._scan_octets_masked(pos, what, mask, count=6, sep=":", base=16, name="Ethernet address")

    def scan_in6_raw(self, pos: int, what: str) -> tuple[bytes, int]:
        end = pos
        allowed = "0123456789abcdefABCDEF:."
        while end < len(self.s) and self.s[end] in allowed and end - pos < 46:
            end += 1
        try:
            addr = ipaddress.IPv6Address(self.s[pos:end])
        except ValueError:
            raise self.error(f"{what}: expected an IPv6 address", pos) from None
        return addr.packed, end

    def scan_in6(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        k, pos = self.scan_in6_raw(pos, what)
        m: bytes | None = None
        if mask:
            m = b"\xff" * 16
            if self.at(pos) == "/":
                with contextlib.suppress(OdpSyntaxError):
                    m, pos = self.scan_in6_raw(pos + 1, f"{what} mask")
        return k, m, pos

    def scan_flags(
        self, pos: int, names: dict[int, str], allowed: int, mask: bool, what: str
    ) -> tuple[int, int | None, int]:
        """lib/flow.c parse_flags with end ')' (numeric, +/- masked, or name|name)."""
        start = pos
        if mask:
            # "%i/%i" numeric masked form.
            try:
                v, p = self.scan_int(pos, 32, what)
                if self.at(p) == "/":
                    m, p = self.scan_int(p + 1, 32, what)
                    if v & ~allowed or m & ~allowed:
                        raise self.error(f"{what}: unknown flag bits", start)
                    return v, m, p
            except OdpSyntaxError as e:
                if "unknown flag" in str(e):
                    raise
            if self.at(pos) in ("+", "-") and self.at(pos):
                flags = fmask = 0
                while self.at(pos) != ")":
                    c = self.at(pos)
                    if c not in ("+", "-") or not c:
                        raise self.error(f"{what}: flag must be preceded by '+' or '-'", pos)
                    pos += 1
                    for bit in sorted(names):
                        name = names[bit]
                        if (
                            self.starts(pos, name)
                            and self.at(pos + len(name)) in ("+", "-", ")")
                            and self.at(pos + len(name))
                        ):
                            if fmask & bit:
                                raise self.error(f"{what}: each flag can be specified only once", pos)
                            if not bit & allowed:
                                raise self.error(f"{what}: flag {name} not allowed", pos)
                            if c == "+":
                                flags |= bit
                            fmask |= bit
                            pos += len(name)
                            break
                    else:
                        raise self.error(f"{what}: unknown flag", pos)
                return flags, fmask, pos
        result = 0
        while self.at(pos) != ")":
            if not self.at(pos):
                raise self.error(f"{what}: missing ')'", pos)
            c = self.at(pos)
            if c.isdigit() or c in "+-" or c in _SPACE:
                v, p = self.scan_int(pos, 64, what)
                if v & ~allowed:
                    raise self.error(f"{what}: unknown flag bits {v:#x}", pos)
                result |= v
                pos = p + (1 if self.at(p) == "|" else 0)
                continue
            for bit in sorted(names):
                name = names[bit]
                if self.starts(pos, name) and self.at(pos + len(name)) in ("|", ")") and self.at(pos + len(name)):
                    if not bit & allowed:
                        raise self.error(f"{what}: flag {name} not allowed", pos)
                    result |= bit
                    pos += len(name) + (1 if self.at(pos + len(name)) == "|" else 0)
                    break
            else:
                raise self.error(f"{what}: unknown flag", pos)
        return result, (0xFFFF_FFFF if mask else None), pos

    # -- structure helpers ---------------------------------------------------------------

    def finish_fields(self, pos: int, matched: bool, name: str) -> tuple[bool, int]:
        """SCAN_FINISH loop step: returns (continue?, position after the delimiter)."""
        c = self.at(pos)
        if not c:
            raise self.error(f"{name}: missing ')'", pos)
        if c == "," and matched:
            return True, pos + 1
        if c != ")":
            raise self.error(f"{name}: expected ',' or ')'", pos)
        return False, pos + 1

    def fields(
        self,
        pos: int,
        name: str,
        size: int,
        specs: list[tuple[str, str, int, int]],
        *,
        key_init: bytes | None = None,
        mask_init: bytes | None = None,
    ) -> tuple[bytes, bytes | None, int]:
        """SCAN_BEGIN/SCAN_FIELD/SCAN_END over fixed fields (prefix, kind, offset, size)."""
        key = bytearray(key_init if key_init is not None else bytes(size))
        mask = bytearray(mask_init if mask_init is not None else bytes(size))
        m = self.with_mask
        while True:
            matched = False
            for prefix, kind, off, fsize in specs:
                if not self.starts(pos, prefix):
                    continue
                pos += len(prefix)
                what = f"{name}({prefix[:-1]})"
                if kind.startswith("bf"):
                    # VLAN TCI bit fields: "bf<bits>:<shift>" on a be16.
                    bits, shift = (int(x) for x in kind[2:].split(":"))
                    v, _, pos = self.scan_num(pos, bits, what, False)
                    field_mask = ((1 << bits) - 1) << shift
                    cur = int.from_bytes(key[off : off + fsize], "big")
                    key[off : off + fsize] = ((cur & ~field_mask) | (v << shift)).to_bytes(fsize, "big")
                    if m:
                        curm = int.from_bytes(mask[off : off + fsize], "big")
                        if self.at(pos) == "/":
                            mv2, pos = self.scan_int(pos + 1, bits, f"{what} mask")
                            curm = (curm & ~field_mask) | (mv2 << shift)
                        else:
                            curm |= field_mask
                        mask[off : off + fsize] = curm.to_bytes(fsize, "big")
                    matched = True
                    break
                kb, mb, pos = self.scan_value(pos, kind, fsize, what, m)
                key[off : off + fsize] = kb
                if mb is not None:
                    mask[off : off + fsize] = mb
                matched = True
                break
            more, pos = self.finish_fields(pos, matched, name)
            if not more:
                break
        return bytes(key), (bytes(mask) if m else None), pos

    def scan_frag(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        end = pos
        while end < len(self.s) and end - pos < 7 and "a" <= self.s[end] <= "z":
            end += 1
        word = self.s[pos:end].lower()
        for value, fname in _FRAG_NAMES.items():
            if word == fname:
                return bytes([value]), (b"\xff" if mask else None), end
        raise self.error(f"{what}: expected no, first or later", pos)

    def scan_label(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        start = pos
        v, pos = self.scan_int(pos, 32, what)
        if v & ~_IPV6_LABEL_MASK:
            raise self.error(f"{what}: flow label {v:#x} exceeds 20 bits", start)
        m: int | None = None
        if mask:
            m = _IPV6_LABEL_MASK
            if self.at(pos) == "/":
                try:
                    mv, p = self.scan_int(pos + 1, 32, what)
                    if not mv & ~_IPV6_LABEL_MASK:
                        m, pos = mv, p
                except OdpSyntaxError:
                    pass
        return v.to_bytes(4, "big"), (m.to_bytes(4, "big") if m is not None else None), pos

    def single(
        self, pos: int, name: str, bits: int, host: bool, *, maskable: bool = True
    ) -> tuple[bytes, bytes | None, int]:
        """SCAN_SINGLE: ``name(value[/mask])``."""
        m = self.with_mask and maskable
        v, mv, pos = self.scan_num(pos, bits, f"{name}()", m)
        if self.at(pos) == "/" and not maskable and self.with_mask:
            raise self.error(f"{name}() takes no mask", pos)
        if self.at(pos) != ")":
            raise self.error(f"{name}: expected ')'", pos)
        size = bits // 8
        order: Literal["little", "big"] = "little" if host else "big"
        kb = v.to_bytes(size, order)
        mb: bytes | None = None
        if self.with_mask:
            mb = (mv if mv is not None else (1 << bits) - 1).to_bytes(size, order)
        return kb, mb, pos + 1

    # -- attributes ------------------------------------------------------------------------

    def attr(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        """Parse one attribute at ``pos``; returns [(type, key payload, mask payload)] and the new position."""
        self.depth += 1
        try:
            if self.depth >= MAX_PARSE_NESTING:
                raise self.error(f"attributes nested deeper than {MAX_PARSE_NESTING - 1} levels", pos)
            return self._attr(pos)
        finally:
            self.depth -= 1

    def _attr(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        s = self.starts
        singles = (
            ("skb_priority(", KeyAttr.PRIORITY, 32, True, True),
            ("skb_mark(", KeyAttr.SKB_MARK, 32, True, True),
            ("recirc_id(", KeyAttr.RECIRC_ID, 32, True, False),
            ("dp_hash(", KeyAttr.DP_HASH, 32, True, True),
        )
        for prefix, t, bits, host, maskable in singles:
            if s(pos, prefix):
                k, m, p = self.single(pos + len(prefix), prefix[:-1], bits, host, maskable=maskable)
                return [(t, k, m)], p
        if s(pos, "ct_state("):
            v, mv, p = self.scan_flags(pos + 9, _CT_STATE_NAMES, _CT_STATE_ALLOWED, self.with_mask, "ct_state()")
            return [self._single_end(KeyAttr.CT_STATE, v, mv, p, 4, "ct_state")], p + 1
        for prefix, t, bits in (("ct_zone(", KeyAttr.CT_ZONE, 16), ("ct_mark(", KeyAttr.CT_MARK, 32)):
            if s(pos, prefix):
                k, m, p = self.single(pos + len(prefix), prefix[:-1], bits, True)
                return [(t, k, m)], p
        if s(pos, "ct_label("):
            return self._ct_label(pos + 9)
        if s(pos, "ct_tuple4("):
            k, m, p = self.fields(
                pos + 10,
                "ct_tuple4",
                16,
                [("src=", "ipv4", 0, 4), ("dst=", "ipv4", 4, 4), ("proto=", "int", 12, 1),
                 ("tp_src=", "int", 8, 2), ("tp_dst=", "int", 10, 2)],
            )  # fmt: skip
            return [(KeyAttr.CT_ORIG_TUPLE_IPV4, k, m)], p
        if s(pos, "ct_tuple6("):
            k, m, p = self.fields(
                pos + 10,
                "ct_tuple6",
                40,
                [("src=", "in6", 0, 16), ("dst=", "in6", 16, 16), ("proto=", "int", 36, 1),
                 ("tp_src=", "int", 32, 2), ("tp_dst=", "int", 34, 2),
                 # OVS prints src_port=/dst_port= here but only parses tp_*;
                 # we accept both so that dumps read back.
                 ("src_port=", "int", 32, 2), ("dst_port=", "int", 34, 2)],
            )  # fmt: skip
            return [(KeyAttr.CT_ORIG_TUPLE_IPV6, k, m)], p
        if s(pos, "tunnel("):
            return self._tunnel(pos + 7)
        if s(pos, "in_port("):
            p0 = pos + 8
            c = self.at(p0)
            if c and not (c.isdigit() or c in "+-" or c in _SPACE):
                raise self.error("in_port(): port names are not supported, write the datapath port number", p0)
            k, m, p = self.single(p0, "in_port", 32, True)
            return [(KeyAttr.IN_PORT, k, m)], p
        if s(pos, "eth("):
            k, m, p = self.fields(pos + 4, "eth", 12, [("src=", "eth", 0, 6), ("dst=", "eth", 6, 6)])
            return [(KeyAttr.ETHERNET, k, m)], p
        if s(pos, "vlan("):
            k, m, p = self.fields(
                pos + 5,
                "vlan",
                2,
                [("vid=", "bf12:0", 0, 2), ("pcp=", "bf3:13", 0, 2), ("cfi=", "bf1:12", 0, 2)],
                key_init=b"\x10\x00",
                mask_init=b"\x10\x00",
            )
            return [(KeyAttr.VLAN, k, m)], p
        if s(pos, "eth_type("):
            k, m, p = self.single(pos + 9, "eth_type", 16, False)
            return [(KeyAttr.ETHERTYPE, k, m)], p
        if s(pos, "mpls("):
            return self._mpls(pos + 5)
        if s(pos, "ipv4("):
            k, m, p = self.fields(
                pos + 5,
                "ipv4",
                12,
                [("src=", "ipv4", 0, 4), ("dst=", "ipv4", 4, 4), ("proto=", "int", 8, 1),
                 ("tos=", "int", 9, 1), ("ttl=", "int", 10, 1), ("frag=", "frag", 11, 1)],
            )  # fmt: skip
            return [(KeyAttr.IPV4, k, m)], p
        if s(pos, "ipv6("):
            k, m, p = self.fields(
                pos + 5,
                "ipv6",
                40,
                [("src=", "in6", 0, 16), ("dst=", "in6", 16, 16), ("label=", "label", 32, 4),
                 ("proto=", "int", 36, 1), ("tclass=", "int", 37, 1), ("hlimit=", "int", 38, 1),
                 ("frag=", "frag", 39, 1)],
            )  # fmt: skip
            return [(KeyAttr.IPV6, k, m)], p
        for prefix, t in (("tcp(", KeyAttr.TCP),):
            if s(pos, prefix):
                k, m, p = self.fields(pos + len(prefix), prefix[:-1], 4, [("src=", "int", 0, 2), ("dst=", "int", 2, 2)])
                return [(t, k, m)], p
        if s(pos, "tcp_flags("):
            v, mv, p = self.scan_flags(pos + 10, _TCP_FLAG_NAMES, _TCP_FLAGS_MASK, self.with_mask, "tcp_flags()")
            return [self._single_end(KeyAttr.TCP_FLAGS, v, mv, p, 2, "tcp_flags", big=True)], p + 1
        for prefix, t in (("udp(", KeyAttr.UDP), ("sctp(", KeyAttr.SCTP)):
            if s(pos, prefix):
                k, m, p = self.fields(pos + len(prefix), prefix[:-1], 4, [("src=", "int", 0, 2), ("dst=", "int", 2, 2)])
                return [(t, k, m)], p
        for prefix, t in (("icmp(", KeyAttr.ICMP), ("icmpv6(", KeyAttr.ICMPV6)):
            if s(pos, prefix):
                k, m, p = self.fields(
                    pos + len(prefix), prefix[:-1], 2, [("type=", "int", 0, 1), ("code=", "int", 1, 1)]
                )
                return [(t, k, m)], p
        if s(pos, "arp("):
            k, m, p = self.fields(
                pos + 4,
                "arp",
                24,
                [("sip=", "ipv4", 0, 4), ("tip=", "ipv4", 4, 4), ("op=", "int", 8, 2),
                 ("sha=", "eth", 10, 6), ("tha=", "eth", 16, 6)],
            )  # fmt: skip
            return [(KeyAttr.ARP, k, m)], p
        if s(pos, "nd("):
            k, m, p = self.fields(
                pos + 3, "nd", 28, [("target=", "in6", 0, 16), ("sll=", "eth", 16, 6), ("tll=", "eth", 22, 6)]
            )
            return [(KeyAttr.ND, k, m)], p
        if s(pos, "nd_ext("):
            k, m, p = self.fields(
                pos + 7, "nd_ext", 8, [("nd_reserved=", "int", 0, 4), ("nd_options_type=", "int", 4, 1)]
            )
            return [(KeyAttr.ND_EXTENSIONS, k, m)], p
        if s(pos, "packet_type("):
            k, m, p = self.fields(pos + 12, "packet_type", 4, [("ns=", "int", 0, 2), ("id=", "int", 2, 2)])
            return [(KeyAttr.PACKET_TYPE, k, m)], p
        if s(pos, "nsh("):
            return self._nsh(pos + 4)
        if s(pos, "encap("):
            return self._encap(pos + 6)
        if s(pos, "key"):
            opaque = self._opaque(pos)
            if opaque is not None:
                return opaque
        end = pos
        while end < len(self.s) and (self.s[end].isalnum() or self.s[end] == "_"):
            end += 1
        word = self.s[pos:end] or self.s[pos : pos + 1]
        raise self.error(f"unknown or unsupported key attribute {word!r}", pos)

    def _opaque(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int] | None:
        """``key<N>(hex bytes[/hex bytes])``: an attribute type OVS does not know.

        odp-util.c format_odp_key_attr__ prints such attributes (e.g. Linux's
        IPV6_EXTHDRS, 32) with format_generic_odp_key, "%02x" bytes separated
        by spaces. OVS 3.1 has no parser for that; we read it back (beyond
        OVS) so that every kernel upcall key round-trips. Returns ``None``
        when the text is not of that form.
        """
        p = pos + 3
        while self.at(p).isdigit() and self.at(p) and p - pos < 9:
            p += 1
        if p == pos + 3 or self.at(p) != "(":
            return None
        attr_type = int(self.s[pos + 3 : p])
        if attr_type > 0x3FFF or attr_type in KEY_ATTRS:
            # Known types print under their own name; 0x3fff is NLA_TYPE_MASK.
            raise self.error(f"key{attr_type}(): not an unknown key attribute type (32..16383)", pos)
        key, p = self._hex_bytes(p + 1)
        mask: bytes | None = None
        if self.at(p) == "/":
            if not self.with_mask:
                raise self.error(f"key{attr_type}(): mask not allowed here", p)
            mstart = p + 1
            mask, p = self._hex_bytes(mstart)
            if len(mask) != len(key):
                raise self.error(f"key{attr_type}(): mask is {len(mask)} bytes but key is {len(key)}", mstart)
        elif self.with_mask:
            mask = b"\xff" * len(key)
        if self.at(p) != ")":
            raise self.error(f"key{attr_type}(): expected two-digit hex bytes separated by spaces, then ')'", p)
        return [(attr_type, key, mask)], p + 1

    def _hex_bytes(self, pos: int) -> tuple[bytes, int]:
        # The inverse of format_generic_odp_key: "xx xx ...", possibly empty.
        out = bytearray()
        while self.at(pos) and self.at(pos) in _HEX_DIGITS and self.at(pos + 1) and self.at(pos + 1) in _HEX_DIGITS:
            out.append(int(self.s[pos : pos + 2], 16))
            pos += 2
            if len(out) > 0xFFFF - 4:
                raise self.error("attribute too large for netlink", pos)
            if self.at(pos) != " " or not self.at(pos + 1) or self.at(pos + 1) not in _HEX_DIGITS:
                break
            pos += 1
        return bytes(out), pos

    def _single_end(  # noqa: PLR0917
        self, t: int, v: int, mv: int | None, p: int, size: int, name: str, *, big: bool = False
    ) -> tuple[int, bytes, bytes | None]:
        if self.at(p) != ")":
            raise self.error(f"{name}: expected ')'", p)
        order: Literal["little", "big"] = "big" if big else "little"
        full = (1 << (8 * size)) - 1
        kb = (v & full).to_bytes(size, order)
        mb = ((mv if mv is not None else full) & full).to_bytes(size, order) if self.with_mask else None
        return t, kb, mb

    def _ct_label(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        v, pos = self._u128(pos, "ct_label()")
        mv: int | None = None
        if self.with_mask:
            mv = (1 << 128) - 1
            if self.at(pos) == "/":
                mv, pos = self._u128(pos + 1, "ct_label() mask")
        if self.at(pos) != ")":
            raise self.error("ct_label: expected ')'", pos)
        kb = v.to_bytes(16, "little")
        return [(KeyAttr.CT_LABELS, kb, mv.to_bytes(16, "little") if mv is not None else None)], pos + 1

    def _u128(self, pos: int, what: str) -> tuple[int, int]:
        # lib/util.c parse_int_string: 0x-hex (whitespace allowed between
        # hexits) or a decimal/octal integer of at most 64 bits.
        if self.starts(pos, "0x") or self.starts(pos, "0X"):
            p = pos + 2
            digits = ""
            while True:
                while self.at(p) in " \t\r\n" and self.at(p):
                    p += 1
                c = self.at(p)
                if not c or c not in "0123456789abcdefABCDEF":
                    break
                if digits or c != "0":
                    digits += c
                p += 1
            if len(digits) > 32:
                raise self.error(f"{what}: value does not fit in 128 bits", pos)
            return (int(digits, 16) if digits else 0), p
        v, p = self.scan_int(pos, 64, what)
        return v, p

    def _mpls(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        if self.starts(pos, _MPLS_EMPTY):
            # Beyond OVS (whose parser refuses it): read back the printer's
            # text for an empty label stack, so that Linux upcall keys with
            # a cut MPLS stack round-trip. "mpls()" stays one zero entry.
            return [(KeyAttr.MPLS, b"", b"" if self.with_mask else None)], pos + len(_MPLS_EMPTY)
        # SCAN_BEGIN_ARRAY over FLOW_MAX_MPLS_LABELS (3) label stack entries.
        cnt = 3
        keys = [0] * cnt
        masks = [0] * cnt
        idx = 0
        fields_seen = 0
        specs = (("label=", 20, 12), ("tc=", 3, 9), ("ttl=", 8, 0), ("bos=", 1, 8))
        while True:
            matched = False
            for fieldno, (prefix, bits, shift) in enumerate(specs):
                if not self.starts(pos, prefix):
                    continue
                if fields_seen & (1 << fieldno):
                    fields_seen = 0
                    idx += 1
                    if idx == cnt:
                        raise self.error(f"mpls: more than {cnt} label stack entries", pos)
                pos += len(prefix)
                v, pos = self.scan_int(pos, bits, f"mpls({prefix[:-1]})")
                fm = ((1 << bits) - 1) << shift
                keys[idx] = (keys[idx] & ~fm) | (v << shift)
                if self.with_mask:
                    if self.at(pos) == "/":
                        mv, pos = self.scan_int(pos + 1, bits, f"mpls({prefix[:-1]}) mask")
                        masks[idx] = (masks[idx] & ~fm) | (mv << shift)
                    else:
                        masks[idx] |= fm
                fields_seen |= 1 << fieldno
                matched = True
                break
            more, pos = self.finish_fields(pos, matched, "mpls")
            if not more:
                break
        n = idx + 1
        kb = b"".join(k.to_bytes(4, "big") for k in keys[:n])
        mb = b"".join(m.to_bytes(4, "big") for m in masks[:n]) if self.with_mask else None
        return [(KeyAttr.MPLS, kb, mb)], pos

    def _tunnel(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        # SCAN_BEGIN_NESTED("tunnel("): nested fields always scan a mask
        # (OVS passes &smask even when parsing without masks).
        kparts: list[bytes] = []
        mparts: list[bytes] = []
        have_id = False
        simple = (
            ("tun_id=", TunnelKeyAttr.ID, "int", 8),
            ("src=", TunnelKeyAttr.IPV4_SRC, "ipv4", 4),
            ("dst=", TunnelKeyAttr.IPV4_DST, "ipv4", 4),
            ("ipv6_src=", TunnelKeyAttr.IPV6_SRC, "in6", 16),
            ("ipv6_dst=", TunnelKeyAttr.IPV6_DST, "in6", 16),
            ("tos=", TunnelKeyAttr.TOS, "int", 1),
            ("ttl=", TunnelKeyAttr.TTL, "int", 1),
            ("tp_src=", TunnelKeyAttr.TP_SRC, "int", 2),
            ("tp_dst=", TunnelKeyAttr.TP_DST, "int", 2),
        )
        while True:
            matched = False
            for prefix, t, kind, size in simple:
                if not self.starts(pos, prefix):
                    continue
                pos += len(prefix)
                kb, mb, pos = self.scan_value(pos, kind, size, f"tunnel({prefix[:-1]})", True)
                assert mb is not None  # with_mask=True always yields a mask
                kparts.append(pack_attr(t, kb))
                mparts.append(pack_attr(t, mb))
                have_id = have_id or t == TunnelKeyAttr.ID
                matched = True
                break
            if not matched and self.starts(pos, "flags("):
                v, mv, pos = self.scan_flags(pos + 6, _TUN_FLAG_NAMES, _TNL_F_MASK, True, "tunnel(flags)")
                if self.at(pos) != ")":
                    raise self.error("tunnel(flags): expected ')'", pos)
                pos += 1
                for flag, t in (
                    (_TNL_F_DONT_FRAGMENT, TunnelKeyAttr.DONT_FRAGMENT),
                    (_TNL_F_CSUM, TunnelKeyAttr.CSUM),
                    (_TNL_F_OAM, TunnelKeyAttr.OAM),
                ):
                    if v & flag:
                        kparts.append(pack_attr(t))
                    if (mv if mv is not None else 0xFFFF) & flag:
                        mparts.append(pack_attr(t))
                masked_form = mv is not None and mv != 0xFFFF_FFFF
                if v & _TNL_F_KEY and masked_form and not have_id:
                    # "+key" without tun_id=: the printer shows this for a
                    # tun_id whose mask is zero. OVS's parser drops the bit;
                    # we keep a wildcarded tun_id so that the text reads back.
                    # (The unmasked "flags(key)" form is left as OVS parses it,
                    # since dpctl hashes the key bytes into the UFID.)
                    kparts.insert(0, pack_attr(TunnelKeyAttr.ID, bytes(8)))
                    mparts.insert(0, pack_attr(TunnelKeyAttr.ID, bytes(8)))
                    have_id = True
                matched = True
            if not matched and self.starts(pos, "vxlan(gbp("):
                pos, kb, mb = self._vxlan_gbp(pos + 10)
                kparts.append(kb)
                mparts.append(mb)
                matched = True
            if not matched and self.starts(pos, "geneve("):
                pos, kb, mb = self._geneve(pos + 7)
                kparts.append(kb)
                mparts.append(mb)
                matched = True
            if not matched and self.starts(pos, "erspan("):
                pos, kb, mb = self._erspan(pos + 7)
                kparts.append(kb)
                mparts.append(mb)
                matched = True
            if not matched and self.starts(pos, "gtpu("):
                pos, kb, mb = self._gtpu(pos + 5)
                kparts.append(kb)
                mparts.append(mb)
                matched = True
            more, pos = self.finish_fields(pos, matched, "tunnel")
            if not more:
                break
        kpay = b"".join(kparts)
        if len(kpay) > 0xFFFF - 4:
            raise self.error("tunnel: attribute too large", pos)
        return [(KeyAttr.TUNNEL, kpay, b"".join(mparts) if self.with_mask else None)], pos

    def _vxlan_gbp(self, pos: int) -> tuple[int, bytes, bytes]:
        # odp-util.c scan_vxlan_gbp, then vxlan_gbp_to_attr (omitted when zero).
        gid = gid_m = flags = flags_m = 0
        if self.starts(pos, "id="):
            gid, m1, pos = self.scan_num(pos + 3, 16, "vxlan(gbp(id))", True)
            gid_m = m1 if m1 is not None else 0
        if self.at(pos) == ",":
            pos += 1
        if self.starts(pos, "flags="):
            flags, m2, pos = self.scan_num(pos + 6, 8, "vxlan(gbp(flags))", True)
            flags_m = m2 if m2 is not None else 0
        if not self.starts(pos, "))"):
            raise self.error("vxlan(gbp(...)): expected '))'", pos)
        empty = self.starts(pos - 4, "gbp(")  # "gbp()": no field at all
        pos += 2
        key = (flags << 16) | gid
        mask = (flags_m << 16) | gid_m
        # ovs-vswitchd prints "vxlan(gbp())" for a stored GBP whose fields are all
        # wildcarded (format_odp_tun_vxlan_opt): keep the attribute so that the
        # text reads back and prints the same.
        kb = pack_attr(TunnelKeyAttr.VXLAN_OPTS, pack_attr(VxlanExtAttr.GBP, struct.pack("=I", key)))
        mb = pack_attr(TunnelKeyAttr.VXLAN_OPTS, pack_attr(VxlanExtAttr.GBP, struct.pack("=I", mask)))
        return pos, kb if key or empty else b"", mb if mask or empty else b""

    def _erspan(self, pos: int) -> tuple[int, bytes, bytes]:
        # odp-util.c scan_erspan_metadata + erspan_to_attr. The mask starts
        # all-ones (SCAN_FIELD_NESTED__) and idx / dir / hwid masks are
        # stored. Beyond OVS, so that the daemon's own dumps read back: a
        # "ver=" mask is kept (OVS drops it), and a missing "ver=" (printed
        # only when its mask is zero) is inferred from idx= (1) or dir=/hwid=
        # (2) with a zero version mask.
        start = pos
        ver: int | None = None
        ver_m = 0xFFFF_FFFF
        if self.starts(pos, "ver="):
            ver, m, pos = self.scan_num(pos + 4, 8, "erspan(ver)", True)
            if m is not None and m != 0xFF:
                ver_m = m
        if self.at(pos) == ",":
            pos += 1
        if ver is None:
            if self.starts(pos, "idx="):
                ver = 1
            elif self.starts(pos, "dir=") or self.starts(pos, "hwid="):
                ver = 2
            elif self.at(pos) == ")":
                # "erspan()": what ovs-vswitchd prints for stored metadata whose
                # version is wildcarded (format_odp_tun_erspan_opt prints idx or
                # dir/hwid only for versions 1 and 2): version 0 under a zero mask.
                ver = 0
            else:
                raise self.error("erspan(): needs ver=, idx= or dir=/hwid=", start)
            ver_m = 0
        key = bytearray(struct.pack("=I", ver) + bytes(8))
        mask = bytearray(struct.pack("=I", ver_m) + b"\xff" * 8)
        if ver == 1:
            idx = idx_m = 0
            if self.starts(pos, "idx="):
                idx, m, pos = self.scan_num(pos + 4, 32, "erspan(idx)", True)
                idx_m = m if m is not None else 0
            key[4:8] = idx.to_bytes(4, "big")
            mask[4:8] = idx_m.to_bytes(4, "big")
        elif ver == 2:
            dir_ = dir_m = hwid = hwid_m = 0
            if self.starts(pos, "dir="):
                dir_, m, pos = self.scan_num(pos + 4, 8, "erspan(dir)", True)
                dir_m = m if m is not None else 0
            if self.at(pos) == ",":
                pos += 1
            if self.starts(pos, "hwid="):
                hwid, m, pos = self.scan_num(pos + 5, 8, "erspan(hwid)", True)
                hwid_m = m if m is not None else 0
            # C bit fields keep the low bits: dir:1, hwid:4.
            key[11] = (hwid & 0xF) | ((dir_ & 1) << 4)
            mask[11] = (mask[11] & 0xE0) | (hwid_m & 0xF) | ((dir_m & 1) << 4)
        elif ver != 0 or ver_m != 0:
            raise self.error("erspan(ver): only versions 1 and 2 exist", start)
        if self.at(pos) != ")":
            raise self.error("erspan(): expected ')'", pos)
        pos += 1
        return (
            pos,
            pack_attr(TunnelKeyAttr.ERSPAN_OPTS, bytes(key)),
            pack_attr(TunnelKeyAttr.ERSPAN_OPTS, bytes(mask)),
        )

    def _gtpu(self, pos: int) -> tuple[int, bytes, bytes]:
        # odp-util.c scan_gtpu_metadata + gtpu_to_attr (attribute 16).
        flags = flags_m = msgtype = msgtype_m = 0
        if self.starts(pos, "flags="):
            flags, m, pos = self.scan_num(pos + 6, 8, "gtpu(flags)", True)
            flags_m = m if m is not None else 0
        if self.at(pos) == ",":
            pos += 1
        if self.starts(pos, "msgtype="):
            msgtype, m, pos = self.scan_num(pos + 8, 8, "gtpu(msgtype)", True)
            msgtype_m = m if m is not None else 0
        if self.at(pos) != ")":
            raise self.error("gtpu(): expected ')'", pos)
        pos += 1
        return pos, pack_attr(16, bytes([flags, msgtype])), pack_attr(16, bytes([flags_m, msgtype_m]))

    def _geneve(self, pos: int) -> tuple[int, bytes, bytes]:
        # odp-util.c scan_geneve: {class=,type=,len=,data[/mask]} options.
        key = bytearray()
        mask = bytearray()
        room = 252
        while self.at(pos) == "{" and room >= 4:
            pos += 1
            room -= 4
            cls = cls_m = typ = typ_m = 0
            data_len = 0
            len_m = 0x1F
            if self.starts(pos, "class="):
                cls, m, pos = self.scan_num(pos + 6, 16, "geneve(class)", True)
                cls_m = m if m is not None else 0
            if self.at(pos) == ",":
                pos += 1
            if self.starts(pos, "type="):
                typ, m, pos = self.scan_num(pos + 5, 8, "geneve(type)", True)
                typ_m = m if m is not None else 0
            if self.at(pos) == ",":
                pos += 1
            if self.starts(pos, "len="):
                p0 = pos + 4
                data_len, m, pos = self.scan_num(p0, 8, "geneve(len)", True)
                if data_len > 124 or data_len % 4 or data_len > room:
                    raise self.error("geneve(len): must be a multiple of 4 up to 124 that fits", p0)
                # Stored in the 5-bit "length" field of struct geneve_opt.
                len_m = (m if m is not None else 0xFF) & 0x1F
            else:
                # OVS clears the *type* mask when len= is missing (sic).
                typ_m = 0
            # The option data follows a comma; without it the data is zero
            # and its mask stays all-ones (SCAN_FIELD_NESTED__ memset).
            data = bytes(data_len)
            dmask = b"\xff" * data_len
            if self.at(pos) == ",":
                pos += 1
                if not (self.starts(pos, "0x") or self.starts(pos, "0X") or self.at(pos).isdigit()):
                    raise self.error("geneve: expected option data", pos)
                data, pos = self._geneve_data(pos, data_len)
            if self.at(pos) == "/":
                dmask, pos = self._geneve_data(pos + 1, data_len)
            if self.at(pos) != "}":
                raise self.error("geneve: expected '}'", pos)
            pos += 1
            # Reserved bits r1..r3 (above the 5-bit length) are 0 in both.
            key += struct.pack(">HBB", cls, typ, data_len // 4) + data
            mask += struct.pack(">HBB", cls_m, typ_m, len_m) + dmask
            room -= data_len
        if self.at(pos) != ")":
            raise self.error("geneve: expected ')'", pos)
        pos += 1
        return (
            pos,
            pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(key)),
            pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(mask)),
        )

    def _geneve_data(self, pos: int, size: int) -> tuple[bytes, int]:
        v, p = self._u128_bytes(pos, size)
        return v, p

    def _u128_bytes(self, pos: int, size: int) -> tuple[bytes, int]:
        if self.starts(pos, "0x") or self.starts(pos, "0X"):
            p = pos + 2
            digits = ""
            while True:
                c = self.at(p)
                if not c or c not in "0123456789abcdefABCDEF":
                    break
                if digits or c != "0":
                    digits += c
                p += 1
            if (len(digits) + 1) // 2 > size:
                raise self.error("geneve: option data longer than its len", pos)
            return (int(digits, 16) if digits else 0).to_bytes(size, "big"), p
        v, p = self.scan_int(pos, min(64, size * 8), "geneve data")
        return v.to_bytes(size, "big"), p

    def _nsh(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        # odp-util.c parse_odp_nsh_key_mask_attr. It has no "ttl=" field
        # although format_nsh_key prints one; we read it (beyond OVS) so that
        # NSH keys from Linux upcalls, whose ttl is rarely 0, read back.
        vals = {"flags": 0, "ttl": 0, "mdtype": 0, "np": 0, "spi": 0, "si": 0, "c1": 0, "c2": 0, "c3": 0, "c4": 0}
        masks = dict.fromkeys(vals, 0)
        bits = {"flags": 8, "ttl": 8, "mdtype": 8, "np": 8, "spi": 32, "si": 8, "c1": 32, "c2": 32, "c3": 32, "c4": 32}
        while True:
            matched = False
            for name in vals:
                prefix = name + "="
                if self.starts(pos, prefix):
                    v, mv, pos = self.scan_num(pos + len(prefix), bits[name], f"nsh({name})", self.with_mask)
                    vals[name] = v
                    masks[name] = mv if mv is not None else 0
                    matched = True
                    break
            more, pos = self.finish_fields(pos, matched, "nsh")
            if not more:
                break
        path = ((vals["spi"] << 8) | vals["si"]) & 0xFFFF_FFFF
        path_m = ((masks["spi"] << 8) | masks["si"]) & 0xFFFF_FFFF

        def nsh_attr(v: dict[str, int], p: int, is_mask: bool) -> bytes:
            base = struct.pack(">BBBBI", v["flags"], v["ttl"], v["mdtype"], v["np"], p)
            out = pack_attr(NshKeyAttr.BASE, base)
            ctx = struct.pack(">IIII", v["c1"], v["c2"], v["c3"], v["c4"])
            if is_mask or v["mdtype"] == 1:
                out += pack_attr(NshKeyAttr.MD1, ctx)
            return out

        kb = nsh_attr(vals, path, False)
        mb = nsh_attr(masks, path_m, True) if self.with_mask else None
        return [(KeyAttr.NSH, kb, mb)], pos

    def _encap(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        kparts: list[bytes] = []
        mparts: list[bytes] = []
        while True:
            while self.at(pos) and self.at(pos) in _DELIMITERS:
                pos += 1
            if not self.at(pos):
                raise self.error("encap: missing ')'", pos)
            if self.at(pos) == ")":
                break
            items, pos = self.attr(pos)
            for t, k, m in items:
                kparts.append(pack_attr(t, k))
                if m is not None:
                    mparts.append(pack_attr(t, m))
            if sum(len(x) for x in kparts) > 0xFFFF - 4:
                raise self.error("encap: attribute too large", pos)
        return [(KeyAttr.ENCAP, b"".join(kparts), b"".join(mparts) if self.with_mask else None)], pos + 1


def parse_flow(text: str, *, with_mask: bool = True) -> ParsedFlow:
    """Parse dpctl flow text (optionally ``ufid:<uuid>`` first) into key and mask bytes.

    Fields not written are wildcarded (mask 0), fields written without
    ``/mask`` are exact, attributes not written are absent — as OVS's
    ``odp_flow_from_string``. With ``with_mask=False`` masks are refused and
    :attr:`ParsedFlow.mask` is ``None``. Raises :class:`OdpSyntaxError`
    naming the column on bad input.
    """
    if not isinstance(text, str):
        raise OdpSyntaxError(f"expected str, got {type(text).__name__}")
    p = _Parser(text, with_mask)
    pos = 0
    ufid: Ufid | None = None
    key: list[bytes] = []
    mask: list[bytes] = []
    while pos < len(text) and text[pos] in _DELIMITERS:
        pos += 1
    if text.startswith("ufid:", pos):
        # lib/dpctl.c strips a leading UFID before odp_flow_from_string, whose
        # delimiter skipping then accepts "ufid:...,key" and "ufid:... key".
        ufid, pos = _parse_ufid(text, pos)
        if pos < len(text) and text[pos] not in _DELIMITERS:
            raise OdpSyntaxError("expected ',' or a space after the ufid", text=text, column=pos)
    while True:
        while pos < len(text) and text[pos] in _DELIMITERS:
            pos += 1
        if pos >= len(text):
            break
        items, pos = p.attr(pos)
        for t, k, m in items:
            key.append(pack_attr(t, k))
            if m is not None:
                mask.append(pack_attr(t, m))
    kb = b"".join(key)
    if len(kb) > 0xFFFF - 4:
        raise OdpSyntaxError("flow key too large for a netlink attribute", text=text, column=len(text))
    return ParsedFlow(ufid, kb, b"".join(mask) if with_mask else None)


def _parse_ufid(text: str, pos: int) -> tuple[Ufid, int]:
    # odp-util.c odp_ufid_from_string: "ufid:" + 36-character UUID.
    from reference.ufid import Ufid

    candidate = text[pos : pos + 41]
    try:
        u = Ufid.parse(candidate)
    except ValueError as e:
        raise OdpSyntaxError(f"malformed ufid: {e}", text=text, column=pos) from None
    return u, pos + 41


def parse_key_attr(text: str, pos: int, *, with_mask: bool) -> tuple[int, bytes, bytes | None, int]:
    """Parse one key attribute of ``text`` at ``pos``.

    Returns ``(attribute type, key payload, mask payload or None, position
    after the attribute)``; for ``set()``/``set_masked()`` actions.
    """
    if not isinstance(text, str):
        raise OdpSyntaxError(f"expected str, got {type(text).__name__}")
    if pos < 0 or pos > len(text):
        raise OdpSyntaxError("position outside the text", text=text, column=pos)
    items, end = _Parser(text, with_mask).attr(pos)
    t, k, m = items[0]
    return t, k, m, end
