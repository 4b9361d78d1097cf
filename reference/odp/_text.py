"""Lexical helpers shared by the flow-key and action text codecs; no I/O.

Ports of the small C routines both of OVS's text codecs lean on: ``scan_int``
(lib/util.c, behind ``ovs_scan``'s ``%i``/``%u``/``%x``), ``IPV6_SCAN_FMT`` +
``inet_pton``, ``ds_put_hex`` (lib/dynamic-string.c), ``%#x``, ``ETH_ADDR_FMT``
and the masked NSH field printer of lib/odp-util.c.
"""

from __future__ import annotations

import socket
import struct

__all__ = [
    "DEC_OR_HEX",
    "DELIMITERS",
    "HEX_DIGITS",
    "SPACE",
    "be",
    "cx",
    "format_ipv6",
    "format_nsh_masked",
    "hexdump",
    "hexit",
    "mac",
    "put_hex",
    "scan_int",
    "scan_ipv6",
    "u16h",
    "u32h",
]

SPACE = " \t\n\v\f\r"  # C isspace()
# What separates attributes and actions (lib/odp-util.c odp_flow_from_string, odp_actions_from_string).
DELIMITERS = ", \t\r\n"
HEX_DIGITS = "0123456789abcdefABCDEF"
# A base for scan_int(): "0x" hex, else decimal (never octal); for recirc(), which OVS scans
# with %u but prints with %#x.
DEC_OR_HEX = -10
# IPV6_SCAN_FMT (lib/packets.h): %46[0-9a-fA-F:.].
_IPV6_CHARS = frozenset(HEX_DIGITS + ":.")
_IPV6_SCAN_MAX = 46


def hexit(ch: str) -> int:
    """lib/util.c hexit_value: 0..15 for a hex digit, 99 (no digit of any base) otherwise."""
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "a" <= ch <= "f":
        return ord(ch) - 87
    if "A" <= ch <= "F":
        return ord(ch) - 55
    return 99


def cx(value: int) -> str:
    """C ``%#x``: ``0`` for zero, ``0x..`` otherwise."""
    return f"{value:#x}" if value else "0"


def mac(data: bytes) -> str:
    """ETH_ADDR_FMT: ``xx:xx:xx:xx:xx:xx``."""
    return ":".join(f"{x:02x}" for x in data)


def put_hex(data: bytes) -> str:
    """lib/dynamic-string.c ds_put_hex: ``0x`` and the bytes without leading zero bytes, ``0`` if all zero."""
    stripped = data.lstrip(b"\0")
    if not stripped:
        return "0"
    return f"0x{stripped[0]:x}" + stripped[1:].hex()


def hexdump(data: bytes) -> str:
    """The bytes as ``%02x`` separated by spaces (format_generic_odp_key / format_generic_odp_action)."""
    return " ".join(f"{x:02x}" for x in data)


def be(data: bytes | bytearray) -> int:
    """A big-endian (network order) unsigned integer."""
    return int.from_bytes(data, "big")


def u16h(data: bytes) -> int:
    """A host-order (native) u16."""
    return int(struct.unpack("=H", data[:2])[0])


def u32h(data: bytes) -> int:
    """A host-order (native) u32."""
    return int(struct.unpack("=I", data[:4])[0])


def scan_int(text: str, pos: int, base: int = 0) -> tuple[int, int, int] | None:
    """lib/util.c scan_int: white space, sign, ``0x`` (bases 0 and 16), leading ``0`` = octal (base 0).

    Returns ``(signed value, position after the white space, position after
    the digits)``, or ``None`` when no digit follows. No range check: OVS
    keeps the low bits, each codec decides what it refuses.
    """
    n = len(text)
    while pos < n and text[pos] in SPACE:
        pos += 1
    start = pos
    negative = pos < n and text[pos] == "-"
    if pos < n and text[pos] in "+-":
        pos += 1
    if base in (0, 16, DEC_OR_HEX) and text.startswith(("0x", "0X"), pos):
        base = 16
        pos += 2
    elif base == 0:
        base = 8 if text.startswith("0", pos) else 10
    elif base == DEC_OR_HEX:
        base = 10
    digits_start = pos
    while pos < n and hexit(text[pos]) < base:
        pos += 1
    if pos == digits_start:
        return None
    value = int(text[digits_start:pos], base)
    return (-value if negative else value), start, pos


def scan_ipv6(text: str, pos: int) -> tuple[bytes, int] | None:
    """IPV6_SCAN_FMT then inet_pton: ``(16 bytes, end)`` or ``None`` if that is no IPv6 address."""
    end = pos
    while end < len(text) and text[end] in _IPV6_CHARS and end - pos < _IPV6_SCAN_MAX:
        end += 1
    try:
        return socket.inet_pton(socket.AF_INET6, text[pos:end]), end
    except OSError:
        return None


def format_ipv6(addr: bytes) -> str:
    """An IPv6 address as OVS prints it: glibc's ``inet_ntop`` (resolv/inet_ntop.c inet_ntop6).

    Written out rather than taken from ``socket.inet_ntop`` or ``ipaddress``,
    whose text depends on the C library and on the Python version (before 3.13,
    ``ipaddress`` prints ``::ffff:1.2.3.4`` as ``::ffff:102:304``). glibc's
    rules: the first longest run of two or more zero words becomes ``::``;
    IPv4-compatible (``::a.b.c.d``, six zero words then a non-zero word) and
    IPv4-mapped (``::ffff:a.b.c.d``) addresses end in dotted decimal.
    """
    words = struct.unpack("!8H", addr)
    best_base, best_len, run_base, run_len = -1, 0, -1, 0
    for i, word in enumerate(words):
        if word == 0:
            run_base, run_len = (i, 1) if run_base < 0 else (run_base, run_len + 1)
            if run_len > best_len:
                best_base, best_len = run_base, run_len
        else:
            run_base, run_len = -1, 0
    if best_len < 2:
        best_base, best_len = -1, 0
    out: list[str] = []
    for i, word in enumerate(words):
        if best_base <= i < best_base + best_len:
            if i == best_base:
                out.append(":")
            continue
        if i:
            out.append(":")
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out.append(".".join(str(b) for b in addr[12:]))
            break
        out.append(f"{word:x}")
    if best_base >= 0 and best_base + best_len == 8:
        out.append(":")
    return "".join(out)


def format_nsh_masked(key: bytes, mask: bytes) -> str:
    """The masked NSH fields of a 24-byte ``struct ovs_key_nsh`` and its mask.

    lib/odp-util.c format_nsh_key_mask (dpctl keys) and format_odp_set_nsh
    (masked set actions) print the same way: a field with an all-zero mask is
    left out, an exact one prints its value, a partial one ``value/mask``.
    """
    parts: list[str] = []

    def u8(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}={v}" if m == 0xFF else f"{name}=0x{v:02x}/0x{m:02x}")

    def be32(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}=0x{v:x}" if m == 0xFFFF_FFFF else f"{name}=0x{v:x}/0x{m:08x}")

    path, path_mask = be(key[4:8]), be(mask[4:8])
    spi_mask = path_mask >> 8
    for i, name in enumerate(("flags", "ttl", "mdtype", "np")):
        u8(name, key[i], mask[i])
    be32("spi", path >> 8, 0xFFFF_FFFF if spi_mask == 0xFFFFFF else spi_mask)
    u8("si", path & 0xFF, path_mask & 0xFF)
    for i in range(4):
        be32(f"c{i + 1}", be(key[8 + 4 * i : 12 + 4 * i]), be(mask[8 + 4 * i : 12 + 4 * i]))
    return ",".join(parts)
