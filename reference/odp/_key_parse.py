"""Flow keys from dpctl text: ``odp_flow_from_string`` (lib/odp-util.c) -> key and mask bytes; no I/O.

:class:`KeyParser` mirrors ``parse_odp_key_mask_attr__``: one generic path
reads any attribute from its :data:`~reference.odp.keys.KEY_ATTRS` fields
(``field=value[/mask]`` lists, one-value and flag-word attributes) with the
text exceptions of :mod:`reference.odp._key_text`; encap, tunnel, MPLS, NSH,
ct_label and opaque ``key<N>(...)`` attributes have their own readers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reference._netlink import pack_attr
from reference.errors import OdpSyntaxError
from reference.odp._key_scan import KeyScanner, TextField
from reference.odp._key_text import (
    FLAG_ATTRS,
    MPLS_EMPTY,
    PARSE_ALIASES,
    SINGLE_ATTRS,
    VLAN_FIELDS,
    SingleAttr,
    field_style,
    is_single,
)
from reference.odp._text import DELIMITERS, HEX_DIGITS, SPACE
from reference.odp._tunnel_text import parse_tunnel
from reference.odp.keys import KEY_ATTRS, AttrSpec, FieldKind
from reference.uapi import KeyAttr, NshKeyAttr

if TYPE_CHECKING:
    from reference.ufid import Ufid

__all__ = ["MAX_PARSE_NESTING", "KeyParser", "ParsedFlow", "parse_flow", "parse_key_attr"]

# lib/odp-util.c MAX_ODP_NESTED: parse_odp_key_mask_attr refuses depth 32.
MAX_PARSE_NESTING = 32

_Items = list[tuple[int, bytes, bytes | None]]


@dataclass(frozen=True, slots=True)
class ParsedFlow:
    """A parsed flow: optional UFID, netlink key bytes and mask bytes (``None`` when parsed without masks)."""

    ufid: Ufid | None
    key: bytes
    mask: bytes | None


def _text_fields(spec: AttrSpec) -> tuple[TextField, ...]:
    """The ``field=`` prefixes of an attribute and where each value lands (KEY_ATTRS + PARSE_ALIASES)."""
    by_name = {f.name: f for f in spec.fields}
    aliases = PARSE_ALIASES.get(spec.type, {})
    return tuple(
        TextField(f"{name}=", f.offset, f.size, f.kind, field_style(spec.type, f.name))
        for name, f in [(f.name, f) for f in spec.fields] + [(a, by_name[n]) for a, n in aliases.items()]
    )


# What each attribute name reads as. UNSPEC and the kernel-internal
# TUNNEL_INFO have no text form (parse_odp_key_mask_attr__ knows neither).
_BY_NAME: Mapping[str, AttrSpec] = {
    s.name: s for s in KEY_ATTRS.values() if s.type not in (KeyAttr.UNSPEC, KeyAttr.TUNNEL_INFO)
}
_FIELDS: Mapping[int, tuple[TextField, ...]] = {
    t: _text_fields(s) for t, s in KEY_ATTRS.items() if s.fields and not is_single(s) and t != KeyAttr.VLAN
}
# The VLAN TCI's bit fields (SCAN_FIELD vid/pcp/cfi into one be16).
_VLAN_FIELDS = tuple(
    TextField(f"{name}=", 0, 2, FieldKind.BE16, bits=(bits, shift)) for name, bits, shift in VLAN_FIELDS
)
_VLAN_CFI = b"\x10\x00"  # key and mask start with the CFI (present) bit set


class KeyParser(KeyScanner):
    """Recursive-descent parser mirroring odp-util.c parse_odp_key_mask_attr__."""

    def attr(self, pos: int) -> tuple[_Items, int]:
        """Parse one attribute at ``pos``; returns [(type, key payload, mask payload)] and the new position."""
        self.depth += 1
        try:
            if self.depth >= MAX_PARSE_NESTING:
                raise self.error(f"attributes nested deeper than {MAX_PARSE_NESTING - 1} levels", pos)
            return self._attr(pos)
        finally:
            self.depth -= 1

    def _attr(self, pos: int) -> tuple[_Items, int]:
        end = pos
        while end < len(self.s) and (self.s[end].isalnum() or self.s[end] == "_"):
            end += 1
        word = self.s[pos:end]
        spec = _BY_NAME.get(word) if self.at(end) == "(" else None
        if spec is not None:
            return self._known(spec, end + 1)
        if self.starts(pos, "key"):
            opaque = self._opaque(pos)
            if opaque is not None:
                return opaque
        raise self.error(f"unknown or unsupported key attribute {word or self.s[pos : pos + 1]!r}", pos)

    def _known(self, spec: AttrSpec, pos: int) -> tuple[_Items, int]:
        """The body of a known attribute, after its ``name(``."""
        t = spec.type
        special = _SPECIAL.get(t)
        if special is not None:
            return special(self, pos)
        if t == KeyAttr.VLAN:
            k, m, p = self.fields(pos, spec.name, spec.length, _VLAN_FIELDS, key_init=_VLAN_CFI, mask_init=_VLAN_CFI)
            return [(t, k, m)], p
        kind = spec.fields[0].kind
        host = kind in (FieldKind.U32_HOST, FieldKind.U16_HOST)
        flags = FLAG_ATTRS.get(t)
        if flags is not None:
            v, mv, p = self.scan_flags(pos, flags.names, flags.allowed, self.with_mask, f"{spec.name}()")
            return [self._single_end(t, v, mv, p, spec.length, spec.name, big=not host)], p + 1
        if is_single(spec):
            if t == KeyAttr.IN_PORT:
                c = self.at(pos)
                if c and not (c.isdigit() or c in "+-" or c in SPACE):
                    raise self.error("in_port(): port names are not supported, write the datapath port number", pos)
            rule = SINGLE_ATTRS.get(t, SingleAttr())
            k, m, p = self.single(pos, spec.name, 8 * spec.length, host, maskable=rule.maskable)
            return [(t, k, m)], p
        k, m, p = self.fields(pos, spec.name, spec.length, _FIELDS[t])
        return [(t, k, m)], p

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
        while self.at(pos) and self.at(pos) in HEX_DIGITS and self.at(pos + 1) and self.at(pos + 1) in HEX_DIGITS:
            out.append(int(self.s[pos : pos + 2], 16))
            pos += 2
            if len(out) > 0xFFFF - 4:
                raise self.error("attribute too large for netlink", pos)
            if self.at(pos) != " " or not self.at(pos + 1) or self.at(pos + 1) not in HEX_DIGITS:
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
            digits, p = self.hex_digits(pos, spaces=True)
            if len(digits) > 32:
                raise self.error(f"{what}: value does not fit in 128 bits", pos)
            return (int(digits, 16) if digits else 0), p
        return self.scan_int(pos, 64, what)

    def _mpls(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        if self.starts(pos, MPLS_EMPTY):
            # Beyond OVS (whose parser refuses it): read back the printer's
            # text for an empty label stack, so that Linux upcall keys with
            # a cut MPLS stack round-trip. "mpls()" stays one zero entry.
            return [(KeyAttr.MPLS, b"", b"" if self.with_mask else None)], pos + len(MPLS_EMPTY)
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

    def skip_delimiters(self, pos: int) -> int:
        while pos < len(self.s) and self.s[pos] in DELIMITERS:
            pos += 1
        return pos

    def attr_into(self, pos: int, kparts: list[bytes], mparts: list[bytes]) -> int:
        """Parse one attribute at ``pos`` onto the key and mask attribute lists; returns the new position."""
        items, pos = self.attr(pos)
        for t, k, m in items:
            kparts.append(pack_attr(t, k))
            if m is not None:
                mparts.append(pack_attr(t, m))
        return pos

    def _encap(self, pos: int) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
        kparts: list[bytes] = []
        mparts: list[bytes] = []
        while True:
            pos = self.skip_delimiters(pos)
            if not self.at(pos):
                raise self.error("encap: missing ')'", pos)
            if self.at(pos) == ")":
                break
            pos = self.attr_into(pos, kparts, mparts)
            if sum(len(x) for x in kparts) > 0xFFFF - 4:
                raise self.error("encap: attribute too large", pos)
        return [(KeyAttr.ENCAP, b"".join(kparts), b"".join(mparts) if self.with_mask else None)], pos + 1


_SPECIAL: Mapping[int, Callable[[KeyParser, int], tuple[_Items, int]]] = {
    KeyAttr.ENCAP: KeyParser._encap,
    KeyAttr.TUNNEL: parse_tunnel,
    KeyAttr.MPLS: KeyParser._mpls,
    KeyAttr.NSH: KeyParser._nsh,
    KeyAttr.CT_LABELS: KeyParser._ct_label,
}


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
    p = KeyParser(text, with_mask)
    ufid: Ufid | None = None
    key: list[bytes] = []
    mask: list[bytes] = []
    pos = p.skip_delimiters(0)
    if text.startswith("ufid:", pos):
        # lib/dpctl.c strips a leading UFID before odp_flow_from_string, whose
        # delimiter skipping then accepts "ufid:...,key" and "ufid:... key".
        ufid, pos = _parse_ufid(text, pos)
        if pos < len(text) and text[pos] not in DELIMITERS:
            raise OdpSyntaxError("expected ',' or a space after the ufid", text=text, column=pos)
    while True:
        pos = p.skip_delimiters(pos)
        if pos >= len(text):
            break
        pos = p.attr_into(pos, key, mask)
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
    items, end = KeyParser(text, with_mask).attr(pos)
    t, k, m = items[0]
    return t, k, m, end
