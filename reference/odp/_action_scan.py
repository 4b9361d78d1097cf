"""A cursor over action text with ``ovs_scan()``-like primitives (lib/util.c); no I/O.

Shared by the action parser (:mod:`reference.odp._action_parse`) and the
``tnl_push(...)`` parser (:mod:`reference.odp._tnl_push`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reference.errors import OdpSyntaxError
from reference.odp._text import SPACE, scan_int, scan_ipv6

__all__ = ["NoMatch", "Scanner"]

_T = TypeVar("_T")


class NoMatch(Exception):
    """An alternative did not match; the caller tries the next one (like a failed ovs_scan())."""


class Scanner:
    """Cursor over the action text with ``ovs_scan()``-like primitives (lib/util.c)."""

    __slots__ = ("depth", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- errors ------------------------------------------------------------------------------
    def error(self, message: str, column: int | None = None) -> OdpSyntaxError:
        return OdpSyntaxError(message, text=self.text, column=self.pos if column is None else column)

    # -- literals ----------------------------------------------------------------------------
    def at(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def need(self, literal: str) -> None:
        """Literal inside an ovs_scan() pattern: a mismatch means the pattern does not match."""
        if not self.take(literal):
            raise NoMatch

    def expect(self, literal: str, what: str) -> None:
        """Literal after a committed prefix: a mismatch is a syntax error."""
        if not self.take(literal):
            raise self.error(f"expected {literal!r} {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        n = len(self.text)
        while self.pos < n and self.text[self.pos] in chars:
            self.pos += 1

    # -- conversions -------------------------------------------------------------------------
    def raw_integer(self, base: int = 0) -> tuple[int, int]:
        """``%i``/``%u``/``%x`` unchecked: ``(signed value, start column)``; :class:`NoMatch` without digits."""
        found = scan_int(self.text, self.pos, base)
        if found is None:
            self.skip(SPACE)
            raise NoMatch
        value, start, self.pos = found
        return value, start

    def check(self, value: int, start: int, bits: int, what: str) -> int:
        """Range check after a whole pattern matched (OVS would keep the low bits instead)."""
        if value < 0:
            raise self.error(f"{what} must not be negative", start)
        if value >> bits:
            raise self.error(f"{what} {value} is out of range (at most {bits} bits)", start)
        return value

    def integer(self, bits: int, base: int = 0, what: str = "number") -> int:
        value, start = self.raw_integer(base)
        return self.check(value, start, bits, what)

    def numbers(self, *fields: tuple[str, int, int, str]) -> list[int]:
        """An ``ovs_scan()`` pattern of ``literal%i`` pieces: per ``(literal, bits, base, what)`` the number."""
        values = []
        for literal, bits, base, what in fields:
            self.need(literal)
            values.append(self.integer(bits, base, what))
        return values

    def committed(self, conversion: Callable[[], _T], what: str) -> _T:
        """``conversion()`` after a prefix that commits the text: no number there is a syntax error."""
        try:
            return conversion()
        except NoMatch:
            raise self.error(f"expected a number after {what!r}") from None

    def floating(self) -> float:
        """``%lf`` as ovs_scan() reads it: [sign] digits [. digits] [e [sign] digits]."""
        self.skip(SPACE)
        start = pos = self.pos
        text = self.text

        def digits(p: int) -> int:
            while p < len(text) and text[p].isdigit() and text[p].isascii():
                p += 1
            return p

        if pos < len(text) and text[pos] in "+-":
            pos += 1
        pos = digits(pos)
        if pos < len(text) and text[pos] == ".":
            pos = digits(pos + 1)
        if pos < len(text) and text[pos] in "eE":
            pos += 1
            if pos < len(text) and text[pos] in "+-":
                pos += 1
            pos = digits(pos)
        chunk = text[start:pos]
        if chunk == "":
            value = 0.0  # strtold("") converts nothing and leaves the tail at the (empty) end
        else:
            try:
                value = float(chunk)
            except ValueError:
                raise NoMatch from None
        self.pos = pos
        return value

    def _octets(self, count: int, separator: str, base: int, what: str) -> bytes:
        raw = []
        for i in range(count):
            if i:
                self.need(separator)
            raw.append(self.raw_integer(base))
        # Only a complete match is range-checked, so "300::1" can still be tried as IPv6.
        return bytes(self.check(value, start, 8, what) for value, start in raw)

    def mac(self) -> bytes:
        return self._octets(6, ":", 16, "Ethernet address byte")

    def ipv4(self) -> bytes:
        return self._octets(4, ".", 10, "IPv4 address byte")

    def ipv6(self, *, brackets: bool = False) -> bytes | None:
        """IPV6_SCAN_FMT + inet_pton (``[...]`` around it allowed with ``brackets``); ``None`` leaves the position."""
        saved = self.pos
        bracket = brackets and self.take("[")
        found = scan_ipv6(self.text, self.pos)
        if found is not None and found[1] > self.pos:
            self.pos = found[1]
            if not bracket or self.take("]"):
                return found[0]
        self.pos = saved
        return None

    def attempt(self, pattern: Callable[[], bytes]) -> bytes | None:
        """Run ``pattern``; on :class:`NoMatch` restore the position and return None."""
        saved = self.pos
        try:
            return pattern()
        except NoMatch:
            self.pos = saved
            return None
