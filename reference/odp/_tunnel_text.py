"""The ``tunnel(...)`` key attribute as dpctl text; no I/O.

Printing follows lib/odp-util.c format_odp_tun_attr, parsing SCAN_BEGIN_NESTED("tunnel(").

The plain tunnel fields (id, addresses, tos, ttl, ports) print and read by
their :data:`~reference.odp.keys.TUNNEL_ATTRS` kinds; flags, VXLAN GBP,
Geneve, ERSPAN and GTP-U options have their own forms here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from reference._netlink import pack_attr
from reference.odp._key_scan import KeyScanner
from reference.odp._key_text import (
    TNL_F_KEY,
    TNL_F_MASK,
    TUN_FLAG_NAMES,
    TUNNEL_FLAG_ATTRS,
    Out,
    field_style,
    find,
    fmt_field,
    fmt_int,
    format_flags,
    format_flags_masked,
    is_single,
    split,
)
from reference.odp._text import be, cx, hexdump, put_hex, u32h
from reference.odp.keys import TUNNEL_ATTRS
from reference.uapi import KeyAttr, TunnelKeyAttr, VxlanExtAttr

__all__ = ["format_tunnel", "parse_tunnel"]

ERSPAN_LEN = 12  # sizeof(struct erspan_metadata)
_TUNNEL_ATTR_GTPU = 16  # OVS userspace OVS_TUNNEL_KEY_ATTR_GTPU_OPTS
# The tunnel attributes written as "name=value[/mask]": one "value" field in TUNNEL_ATTRS.
_PLAIN_FIELDS = tuple(s for s in TUNNEL_ATTRS.values() if is_single(s))

# ---------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------


def _fmt_unknown_nested(o: Out, t: int, a: bytes, ma: bytes | None) -> None:
    # format_unknown_key: "key<N>(hex[/hex])," inside tunnel/vxlan options.
    o.put(f"key{t}({hexdump(a)}")
    if ma is not None and not all(x == 0xFF for x in ma):
        o.put(f"/{hexdump(ma)}")
    o.put("),")


def _fmt_geneve(o: Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
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
        fmt_int(o, "class", be(a[pos : pos + 2]), be(m[0:2]) if m else None, 0xFFFF, verbose, hex_key=True)
        fmt_int(o, "type", a[pos + 2], m[2] if m else None, 0xFF, verbose, hex_key=True)
        len_mask: int | None = None
        if m is not None:
            len_mask = 0xFF if (m[3] & 0x1F) == 0x1F else (m[3] & 0x1F)
        fmt_int(o, "len", data_len, len_mask, 0xFF, verbose)
        data = a[pos + 4 : pos + 4 + data_len]
        mdata = m[4:] if m is not None else None
        if data_len and (verbose or mdata is None or any(mdata)):
            o.put(put_hex(data))
            if mdata is not None and not all(x == 0xFF for x in mdata):
                o.put("/" + put_hex(mdata))
        else:
            o.chomp(",")
        o.put("}")
        pos += 4 + data_len


def _fmt_vxlan(o: Out, payload: bytes, mask_payload: bytes | None, verbose: bool) -> None:
    mask_attrs = split(mask_payload, "mask/tunnel/vxlan") if mask_payload is not None else None
    for t, a in split(payload, "key/tunnel/vxlan"):
        ma: bytes | None = None
        if mask_attrs is not None:
            ma = find(mask_attrs, t)
            if ma is None:
                ma = bytes(len(a))
        if t == VxlanExtAttr.GBP and len(a) == 4 and (ma is None or len(ma) == 4):
            k = u32h(a)
            m = u32h(ma) if ma is not None else None
            o.put("gbp(")
            fmt_int(o, "id", k & 0xFFFF, (m & 0xFFFF) if m is not None else None, 0xFFFF, verbose)
            fmt_int(o, "flags", (k >> 16) & 0xFF, ((m >> 16) & 0xFF) if m is not None else None, 0xFF, verbose,
                     hex_key=True)  # fmt: skip
            o.chomp(",")
            o.put("),")
        else:
            _fmt_unknown_nested(o, t, a, ma)
    o.chomp(",")


def _fmt_erspan(o: Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_erspan_opt over struct erspan_metadata
    # (lib/packets.h): int version (host order); union { be32 index;
    # struct erspan_md2 { be32 ts; be16 sgt; u8 p:1,ft:5,hwid_upper:2;
    # u8 hwid:4,dir:1,gra:2,o:1 } } -- 12 bytes, bit fields LSB first (x86).
    if len(a) < ERSPAN_LEN or (ma is not None and len(ma) < ERSPAN_LEN):
        o.put(hexdump(a))
        return
    version = u32h(a[0:4])
    fmt_int(o, "ver", version & 0xFF, (u32h(ma[0:4]) & 0xFF) if ma is not None else None, 0xFF, verbose)
    if version == 1:
        # OVS prints the index mask whenever there is a mask, even if exact.
        idx = be(a[4:8])
        o.put(f"idx={cx(idx)}/{cx(be(ma[4:8]))}," if ma is not None else f"idx={cx(idx)},")
    elif version == 2:
        b, mb = a[11], (ma[11] if ma is not None else None)
        fmt_int(o, "dir", (b >> 4) & 1, ((mb >> 4) & 1) if mb is not None else None, 0xFF, verbose)
        fmt_int(o, "hwid", b & 0xF, (mb & 0xF) if mb is not None else None, 0xFF, verbose, hex_key=True)
    o.chomp(",")


def _fmt_gtpu(o: Out, a: bytes, ma: bytes | None, verbose: bool) -> None:
    # odp-util.c format_odp_tun_gtpu_opt: struct gtpu_metadata { u8 flags, msgtype }.
    if len(a) < 2 or (ma is not None and len(ma) < 2):
        o.put(hexdump(a))
        return
    fmt_int(o, "flags", a[0], ma[0] if ma is not None else None, 0xFF, verbose, hex_key=True)
    fmt_int(o, "msgtype", a[1], ma[1] if ma is not None else None, 0xFF, verbose)
    o.chomp(",")


_NESTED_FORMAT: Mapping[int, Callable[[Out, bytes, bytes | None, bool], None]] = {
    TunnelKeyAttr.VXLAN_OPTS: _fmt_vxlan,
    TunnelKeyAttr.GENEVE_OPTS: _fmt_geneve,
    TunnelKeyAttr.ERSPAN_OPTS: _fmt_erspan,
    _TUNNEL_ATTR_GTPU: _fmt_gtpu,
}


def format_tunnel(o: Out, payload: bytes, mask_payload: bytes | None, verbose: bool) -> None:
    """odp-util.c format_odp_tun_attr: the inside of ``tunnel(...)``."""
    mask_attrs = split(mask_payload, "mask/tunnel") if mask_payload is not None else None
    flags = 0
    mask_flags = 0
    for t, a in split(payload, "key/tunnel"):
        ma: bytes | None = None
        if mask_attrs is not None:
            ma = find(mask_attrs, t)
            if ma is None:
                ma = b"" if t == TunnelKeyAttr.VXLAN_OPTS else bytes(len(a))
        spec = TUNNEL_ATTRS.get(t)
        nested = _NESTED_FORMAT.get(t)
        if t == TunnelKeyAttr.ID:
            # A tun_id present is FLOW_TNL_F_KEY in the flags printed below.
            flags |= TNL_F_KEY
            if ma is not None:
                mask_flags |= TNL_F_KEY
        if spec is not None and is_single(spec):
            fmt_field(o, spec.name, spec.fields[0].kind, field_style("tunnel", t), a, ma, verbose)
        elif t in TUNNEL_FLAG_ATTRS:
            flags |= TUNNEL_FLAG_ATTRS[t]
        elif spec is not None and nested is not None:
            o.put(spec.name + "(")
            nested(o, a, ma, verbose)
            o.put("),")
        elif t != TunnelKeyAttr.PAD:
            _fmt_unknown_nested(o, t, a, ma)
    if mask_attrs is not None:
        for t, _ in mask_attrs:
            mask_flags |= TUNNEL_FLAG_ATTRS.get(t, 0)
    # format_tun_flags
    if verbose or mask_attrs is None or mask_flags:
        o.put("flags(")
        if mask_attrs is not None:
            o.put(format_flags_masked(TUN_FLAG_NAMES, flags, mask_flags & TNL_F_MASK, TNL_F_MASK))
        else:
            o.put(format_flags(TUN_FLAG_NAMES, flags, "|"))
        o.put("),")
    o.chomp(",")


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def parse_tunnel(p: KeyScanner, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
    """The fields of ``tunnel(...)`` after its ``(``; returns [(TUNNEL, key, mask)] and the position after ``)``."""
    # SCAN_BEGIN_NESTED("tunnel("): nested fields always scan a mask
    # (OVS passes &smask even when parsing without masks).
    kparts: list[bytes] = []
    mparts: list[bytes] = []
    have_id = False
    while True:
        matched = False
        for spec in _PLAIN_FIELDS:
            prefix = spec.name + "="
            if not p.starts(pos, prefix):
                continue
            field = spec.fields[0]
            what = f"tunnel({spec.name})"
            kb, mb, pos = p.scan_value(
                pos + len(prefix), field.kind, field_style("tunnel", spec.type), field.size, what, True
            )
            assert mb is not None  # mask=True always yields a mask
            kparts.append(pack_attr(spec.type, kb))
            mparts.append(pack_attr(spec.type, mb))
            have_id = have_id or spec.type == TunnelKeyAttr.ID
            matched = True
            break
        if not matched and p.starts(pos, "flags("):
            v, mv, pos = p.scan_flags(pos + 6, TUN_FLAG_NAMES, TNL_F_MASK, True, "tunnel(flags)")
            if p.at(pos) != ")":
                raise p.error("tunnel(flags): expected ')'", pos)
            pos += 1
            for t, flag in TUNNEL_FLAG_ATTRS.items():
                if v & flag:
                    kparts.append(pack_attr(t))
                if (mv if mv is not None else 0xFFFF) & flag:
                    mparts.append(pack_attr(t))
            masked_form = mv is not None and mv != 0xFFFF_FFFF
            if v & TNL_F_KEY and masked_form and not have_id:
                # "+key" without tun_id=: the printer shows this for a
                # tun_id whose mask is zero. OVS's parser drops the bit;
                # we keep a wildcarded tun_id so that the text reads back.
                # (The unmasked "flags(key)" form is left as OVS parses it,
                # since dpctl hashes the key bytes into the UFID.)
                kparts.insert(0, pack_attr(TunnelKeyAttr.ID, bytes(8)))
                mparts.insert(0, pack_attr(TunnelKeyAttr.ID, bytes(8)))
                have_id = True
            matched = True
        for prefix, scan in () if matched else _NESTED_PARSE:
            if p.starts(pos, prefix):
                pos, kb, mb = scan(p, pos + len(prefix))
                kparts.append(kb)
                mparts.append(mb)
                matched = True
                break
        more, pos = p.finish_fields(pos, matched, "tunnel")
        if not more:
            break
    kpay = b"".join(kparts)
    if len(kpay) > 0xFFFF - 4:
        raise p.error("tunnel: attribute too large", pos)
    return [(KeyAttr.TUNNEL, kpay, b"".join(mparts) if p.with_mask else None)], pos


def _vxlan_gbp(p: KeyScanner, pos: int) -> tuple[int, bytes, bytes]:
    # odp-util.c scan_vxlan_gbp, then vxlan_gbp_to_attr (omitted when zero).
    [(gid, gid_m), (flags, flags_m)], pos = p.optional_fields(pos, "vxlan(gbp({}))", (("id", 16), ("flags", 8)))
    if not p.starts(pos, "))"):
        raise p.error("vxlan(gbp(...)): expected '))'", pos)
    empty = p.starts(pos - 4, "gbp(")  # "gbp()": no field at all
    pos += 2
    key = (flags << 16) | gid
    mask = (flags_m << 16) | gid_m
    # ovs-vswitchd prints "vxlan(gbp())" for a stored GBP whose fields are all
    # wildcarded (format_odp_tun_vxlan_opt): keep the attribute so that the
    # text reads back and prints the same.
    kb = pack_attr(TunnelKeyAttr.VXLAN_OPTS, pack_attr(VxlanExtAttr.GBP, struct.pack("=I", key)))
    mb = pack_attr(TunnelKeyAttr.VXLAN_OPTS, pack_attr(VxlanExtAttr.GBP, struct.pack("=I", mask)))
    return pos, kb if key or empty else b"", mb if mask or empty else b""


def _erspan(p: KeyScanner, pos: int) -> tuple[int, bytes, bytes]:
    # odp-util.c scan_erspan_metadata + erspan_to_attr. The mask starts
    # all-ones (SCAN_FIELD_NESTED__) and idx / dir / hwid masks are
    # stored. Beyond OVS, so that the daemon's own dumps read back: a
    # "ver=" mask is kept (OVS drops it), and a missing "ver=" (printed
    # only when its mask is zero) is inferred from idx= (1) or dir=/hwid=
    # (2) with a zero version mask.
    start = pos
    ver: int | None = None
    ver_m = 0xFFFF_FFFF
    if p.starts(pos, "ver="):
        ver, m, pos = p.scan_num(pos + 4, 8, "erspan(ver)", True)
        if m is not None and m != 0xFF:
            ver_m = m
    if p.at(pos) == ",":
        pos += 1
    if ver is None:
        if p.starts(pos, "idx="):
            ver = 1
        elif p.starts(pos, "dir=") or p.starts(pos, "hwid="):
            ver = 2
        elif p.at(pos) == ")":
            # "erspan()": what ovs-vswitchd prints for stored metadata whose
            # version is wildcarded (format_odp_tun_erspan_opt prints idx or
            # dir/hwid only for versions 1 and 2): version 0 under a zero mask.
            ver = 0
        else:
            raise p.error("erspan(): needs ver=, idx= or dir=/hwid=", start)
        ver_m = 0
    key = bytearray(struct.pack("=I", ver) + bytes(8))
    mask = bytearray(struct.pack("=I", ver_m) + b"\xff" * 8)
    if ver == 1:
        [(idx, idx_m)], pos = p.optional_fields(pos, "erspan({})", (("idx", 32),))
        key[4:8] = idx.to_bytes(4, "big")
        mask[4:8] = idx_m.to_bytes(4, "big")
    elif ver == 2:
        [(dir_, dir_m), (hwid, hwid_m)], pos = p.optional_fields(pos, "erspan({})", (("dir", 8), ("hwid", 8)))
        # C bit fields keep the low bits: dir:1, hwid:4.
        key[11] = (hwid & 0xF) | ((dir_ & 1) << 4)
        mask[11] = (mask[11] & 0xE0) | (hwid_m & 0xF) | ((dir_m & 1) << 4)
    elif ver != 0 or ver_m != 0:
        raise p.error("erspan(ver): only versions 1 and 2 exist", start)
    if p.at(pos) != ")":
        raise p.error("erspan(): expected ')'", pos)
    pos += 1
    return (
        pos,
        pack_attr(TunnelKeyAttr.ERSPAN_OPTS, bytes(key)),
        pack_attr(TunnelKeyAttr.ERSPAN_OPTS, bytes(mask)),
    )


def _gtpu(p: KeyScanner, pos: int) -> tuple[int, bytes, bytes]:
    # odp-util.c scan_gtpu_metadata + gtpu_to_attr (attribute 16).
    [(flags, flags_m), (msgtype, msgtype_m)], pos = p.optional_fields(pos, "gtpu({})", (("flags", 8), ("msgtype", 8)))
    if p.at(pos) != ")":
        raise p.error("gtpu(): expected ')'", pos)
    pos += 1
    return (
        pos,
        pack_attr(_TUNNEL_ATTR_GTPU, bytes([flags, msgtype])),
        pack_attr(_TUNNEL_ATTR_GTPU, bytes([flags_m, msgtype_m])),
    )


def _geneve(p: KeyScanner, pos: int) -> tuple[int, bytes, bytes]:
    # odp-util.c scan_geneve: {class=,type=,len=,data[/mask]} options.
    key = bytearray()
    mask = bytearray()
    room = 252
    while p.at(pos) == "{" and room >= 4:
        pos += 1
        room -= 4
        data_len = 0
        len_m = 0x1F
        [(cls, cls_m), (typ, typ_m)], pos = p.optional_fields(pos, "geneve({})", (("class", 16), ("type", 8)))
        if p.at(pos) == ",":
            pos += 1
        if p.starts(pos, "len="):
            p0 = pos + 4
            data_len, m, pos = p.scan_num(p0, 8, "geneve(len)", True)
            if data_len > 124 or data_len % 4 or data_len > room:
                raise p.error("geneve(len): must be a multiple of 4 up to 124 that fits", p0)
            # Stored in the 5-bit "length" field of struct geneve_opt.
            len_m = (m if m is not None else 0xFF) & 0x1F
        else:
            # OVS clears the *type* mask when len= is missing (sic).
            typ_m = 0
        # The option data follows a comma; without it the data is zero
        # and its mask stays all-ones (SCAN_FIELD_NESTED__ memset).
        data = bytes(data_len)
        dmask = b"\xff" * data_len
        if p.at(pos) == ",":
            pos += 1
            if not (p.starts(pos, "0x") or p.starts(pos, "0X") or p.at(pos).isdigit()):
                raise p.error("geneve: expected option data", pos)
            data, pos = _geneve_data(p, pos, data_len)
        if p.at(pos) == "/":
            dmask, pos = _geneve_data(p, pos + 1, data_len)
        if p.at(pos) != "}":
            raise p.error("geneve: expected '}'", pos)
        pos += 1
        # Reserved bits r1..r3 (above the 5-bit length) are 0 in both.
        key += struct.pack(">HBB", cls, typ, data_len // 4) + data
        mask += struct.pack(">HBB", cls_m, typ_m, len_m) + dmask
        room -= data_len
    if p.at(pos) != ")":
        raise p.error("geneve: expected ')'", pos)
    pos += 1
    return (
        pos,
        pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(key)),
        pack_attr(TunnelKeyAttr.GENEVE_OPTS, bytes(mask)),
    )


def _geneve_data(p: KeyScanner, pos: int, size: int) -> tuple[bytes, int]:
    # scan_geneve's option data: 0x-hex of at most 'size' bytes, or a C integer.
    if p.starts(pos, "0x") or p.starts(pos, "0X"):
        digits, end = p.hex_digits(pos, spaces=False)
        if (len(digits) + 1) // 2 > size:
            raise p.error("geneve: option data longer than its len", pos)
        return (int(digits, 16) if digits else 0).to_bytes(size, "big"), end
    v, end = p.scan_int(pos, min(64, size * 8), "geneve data")
    return v.to_bytes(size, "big"), end


_NESTED_PARSE: tuple[tuple[str, Callable[[KeyScanner, int], tuple[int, bytes, bytes]]], ...] = (
    ("vxlan(gbp(", _vxlan_gbp),
    ("geneve(", _geneve),
    ("erspan(", _erspan),
    ("gtpu(", _gtpu),
)
