"""Scanning primitives of the flow-key text parser (lib/odp-util.c SCAN_* macros); no I/O.

:class:`KeyScanner` holds the text and the scalar scanners; the attribute
parser (:mod:`reference.odp._key_parse`) and the tunnel parser
(:mod:`reference.odp._tunnel_text`) build on it. Scanners return
``(value, mask or None, new position)`` and raise
:class:`~reference.errors.OdpSyntaxError` naming the column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from reference.errors import OdpSyntaxError
from reference.odp._key_text import FRAG_NAMES, IPV6_LABEL_MASK, Style
from reference.odp._text import HEX_DIGITS, SPACE, scan_int, scan_ipv6
from reference.odp.keys import FieldKind

__all__ = ["KeyScanner", "TextField"]


@dataclass(frozen=True, slots=True)
class TextField:
    """One ``prefix=value[/mask]`` field of an attribute's text and where it lands in the payload."""

    prefix: str  # "src="
    offset: int
    size: int
    kind: FieldKind
    style: Style = Style.PLAIN
    bits: tuple[int, int] | None = None  # (width, shift) of a bit field in a be16 (the VLAN TCI)


class KeyScanner:
    """The text, the mask mode and the scalar scanners."""

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

    # -- scalar scanners ---------------------------------------------------------------------

    def scan_int(self, pos: int, bits: int, what: str, *, base: int = 0) -> tuple[int, int]:
        """lib/util.c scan_int (ovs_scan %i), refusing what does not fit ``bits`` (OVS truncates)."""
        found = scan_int(self.s, pos, base)
        if found is None:
            raise self.error(f"expected an integer for {what}", pos)
        value, _, end = found
        if value < 0:
            # OVS wraps negative numbers modulo the field width; only "-0" is in range.
            raise self.error(f"{what}: negative value out of range for a {bits}-bit field", pos)
        if value >> bits:
            raise self.error(f"{what}: value {value:#x} does not fit in {bits} bits", pos)
        return value, end

    def scan_num(self, pos: int, bits: int, what: str, mask: bool) -> tuple[int, int | None, int]:
        value, pos = self.scan_int(pos, bits, what)
        m: int | None = None
        if mask:
            if self.at(pos) == "/":
                m, pos = self.scan_int(pos + 1, bits, f"{what} mask")
            else:
                m = (1 << bits) - 1
        return value, m, pos

    def scan_value(  # noqa: PLR0917 - (kind, style, size) say how the field reads
        self, pos: int, kind: FieldKind, style: Style, size: int, what: str, mask: bool
    ) -> tuple[bytes, bytes | None, int]:
        """One field value: an address by its kind, a frag word or flow label by its style, else a number."""
        if kind is FieldKind.IPV4:
            return self._scan_octets_masked(pos, what, mask, count=4, sep=".", base=10, name="IPv4 address")
        if kind is FieldKind.IPV6:
            return self.scan_in6(pos, what, mask)
        if kind is FieldKind.MAC:
            return self._scan_octets_masked(pos, what, mask, count=6, sep=":", base=16, name="Ethernet address")
        if style is Style.FRAG:
            return self.scan_frag(pos, what, mask)
        if style is Style.LABEL:
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

    def scan_in6_raw(self, pos: int, what: str) -> tuple[bytes, int]:
        found = scan_ipv6(self.s, pos)
        if found is None:
            raise self.error(f"{what}: expected an IPv6 address", pos)
        return found

    def scan_in6(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        k, pos = self.scan_in6_raw(pos, what)
        m: bytes | None = None
        if mask:
            m = b"\xff" * 16
            if self.at(pos) == "/":
                with contextlib.suppress(OdpSyntaxError):
                    m, pos = self.scan_in6_raw(pos + 1, f"{what} mask")
        return k, m, pos

    def scan_frag(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        end = pos
        while end < len(self.s) and end - pos < 7 and "a" <= self.s[end] <= "z":
            end += 1
        word = self.s[pos:end].lower()
        for value, fname in FRAG_NAMES.items():
            if word == fname:
                return bytes([value]), (b"\xff" if mask else None), end
        raise self.error(f"{what}: expected no, first or later", pos)

    def scan_label(self, pos: int, what: str, mask: bool) -> tuple[bytes, bytes | None, int]:
        start = pos
        v, pos = self.scan_int(pos, 32, what)
        if v & ~IPV6_LABEL_MASK:
            raise self.error(f"{what}: flow label {v:#x} exceeds 20 bits", start)
        m: int | None = None
        if mask:
            m = IPV6_LABEL_MASK
            if self.at(pos) == "/":
                try:
                    mv, p = self.scan_int(pos + 1, 32, what)
                    if not mv & ~IPV6_LABEL_MASK:
                        m, pos = mv, p
                except OdpSyntaxError:
                    pass
        return v.to_bytes(4, "big"), (m.to_bytes(4, "big") if m is not None else None), pos

    def hex_digits(self, pos: int, *, spaces: bool) -> tuple[str, int]:
        """The significant hex digits after ``0x`` at ``pos`` (lib/util.c parse_int_string), and the end.

        Leading zeros are dropped; with ``spaces`` white space may stand between digits.
        """
        p = pos + 2
        digits = ""
        while True:
            while spaces and self.at(p) in " \t\r\n" and self.at(p):
                p += 1
            c = self.at(p)
            if not c or c not in HEX_DIGITS:
                break
            if digits or c != "0":
                digits += c
            p += 1
        return digits, p

    def scan_flags(
        self, pos: int, names: Mapping[int, str], allowed: int, mask: bool, what: str
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
                return self._scan_flags_masked(pos, names, allowed, what)
        result = 0
        while self.at(pos) != ")":
            if not self.at(pos):
                raise self.error(f"{what}: missing ')'", pos)
            c = self.at(pos)
            if c.isdigit() or c in "+-" or c in SPACE:
                v, p = self.scan_int(pos, 64, what)
                if v & ~allowed:
                    raise self.error(f"{what}: unknown flag bits {v:#x}", pos)
                result |= v
                pos = p + (1 if self.at(p) == "|" else 0)
                continue
            bit, end = self._flag_name(pos, names, allowed, "|)", what)
            result |= bit
            pos = end + (1 if self.at(end) == "|" else 0)
        return result, (0xFFFF_FFFF if mask else None), pos

    def _scan_flags_masked(
        self, pos: int, names: Mapping[int, str], allowed: int, what: str
    ) -> tuple[int, int | None, int]:
        # "+name-name...": each flag once, set or cleared, the rest wildcarded.
        flags = fmask = 0
        while self.at(pos) != ")":
            c = self.at(pos)
            if c not in ("+", "-") or not c:
                raise self.error(f"{what}: flag must be preceded by '+' or '-'", pos)
            pos += 1
            bit, end = self._flag_name(pos, names, allowed, "+-)", what, seen=fmask)
            if c == "+":
                flags |= bit
            fmask |= bit
            pos = end
        return flags, fmask, pos

    def _flag_name(
        self, pos: int, names: Mapping[int, str], allowed: int, ends: str, what: str, *, seen: int | None = None
    ) -> tuple[int, int]:
        """The flag named at ``pos`` (followed by one of ``ends``): its bit and the end of the name."""
        for bit in sorted(names):
            name = names[bit]
            after = self.at(pos + len(name))
            if self.starts(pos, name) and after in ends and after:
                if seen is not None and seen & bit:
                    raise self.error(f"{what}: each flag can be specified only once", pos)
                if not bit & allowed:
                    raise self.error(f"{what}: flag {name} not allowed", pos)
                return bit, pos + len(name)
        raise self.error(f"{what}: unknown flag", pos)

    def optional_fields(
        self, pos: int, what: str, fields: Sequence[tuple[str, int]]
    ) -> tuple[list[tuple[int, int]], int]:
        """SCAN_FIELD_NESTED in a fixed order: each ``name=value[/mask]`` may be left out, a ',' may follow.

        ``fields`` are (name, bits); ``what.format(name)`` names a field in
        errors. Returns (value, mask) per field, (0, 0) for one not written.
        """
        out: list[tuple[int, int]] = []
        for i, (name, bits) in enumerate(fields):
            if i and self.at(pos) == ",":
                pos += 1
            prefix = name + "="
            if self.starts(pos, prefix):
                v, m, pos = self.scan_num(pos + len(prefix), bits, what.format(name), True)
                out.append((v, m if m is not None else 0))
            else:
                out.append((0, 0))
        return out, pos

    # -- structure -------------------------------------------------------------------------

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
        specs: Sequence[TextField],
        *,
        key_init: bytes | None = None,
        mask_init: bytes | None = None,
    ) -> tuple[bytes, bytes | None, int]:
        """SCAN_BEGIN/SCAN_FIELD/SCAN_END: ``field=value[/mask]`` in any order up to ')'."""
        key = bytearray(key_init if key_init is not None else bytes(size))
        mask = bytearray(mask_init if mask_init is not None else bytes(size))
        while True:
            matched = False
            for spec in specs:
                if self.starts(pos, spec.prefix):
                    pos = self._field(pos + len(spec.prefix), f"{name}({spec.prefix[:-1]})", spec, key, mask)
                    matched = True
                    break
            more, pos = self.finish_fields(pos, matched, name)
            if not more:
                break
        return bytes(key), (bytes(mask) if self.with_mask else None), pos

    def _field(self, pos: int, what: str, spec: TextField, key: bytearray, mask: bytearray) -> int:
        """Scan one field's value into ``key`` (and ``mask``); returns the position after it."""
        off, end = spec.offset, spec.offset + spec.size
        if spec.bits is None:
            kb, mb, pos = self.scan_value(pos, spec.kind, spec.style, spec.size, what, self.with_mask)
            key[off:end] = kb
            if mb is not None:
                mask[off:end] = mb
            return pos
        bits, shift = spec.bits
        v, _, pos = self.scan_num(pos, bits, what, False)
        field_mask = ((1 << bits) - 1) << shift
        cur = int.from_bytes(key[off:end], "big")
        key[off:end] = ((cur & ~field_mask) | (v << shift)).to_bytes(spec.size, "big")
        if self.with_mask:
            curm = int.from_bytes(mask[off:end], "big")
            if self.at(pos) == "/":
                mv, pos = self.scan_int(pos + 1, bits, f"{what} mask")
                curm = (curm & ~field_mask) | (mv << shift)
            else:
                curm |= field_mask
            mask[off:end] = curm.to_bytes(spec.size, "big")
        return pos

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
