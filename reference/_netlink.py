"""Netlink attribute (TLV) framing shared by every codec; no I/O.

An attribute is ``struct nlattr { u16 nla_len; u16 nla_type; }`` in host
byte order followed by the payload, padded to 4 bytes
(include/uapi/linux/netlink.h). ``nla_len`` counts header plus payload but
not the padding. Bits 15 (NLA_F_NESTED) and 14 (NLA_F_NET_BYTEORDER) of
``nla_type`` are flags; OVS never sets them, the kernel masks them off.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from reference.errors import OdpDecodeError

__all__ = [
    "GENLMSGHDR",
    "NLA_TYPE_MASK",
    "NLMSGERR",
    "NLMSGHDR",
    "OVS_HEADER",
    "align",
    "iter_attrs",
    "pack_attr",
    "pack_attrs",
    "split_attrs",
]

NLA_TYPE_MASK = 0x3FFF
_HDR = struct.Struct("=HH")  # host byte order, as the kernel and OVS use
# The message headers, host byte order too: struct nlmsghdr (include/uapi/linux/netlink.h), struct
# genlmsghdr (genetlink.h), struct ovs_header (openvswitch.h) and the error of struct nlmsgerr.
NLMSGHDR = struct.Struct("=IHHII")
GENLMSGHDR = struct.Struct("=BBH")
OVS_HEADER = struct.Struct("=i")
NLMSGERR = struct.Struct("=i")
_MAX_DEPTH = 32  # deeper nesting is refused instead of recursing without bound


def align(n: int) -> int:
    """Round ``n`` up to the netlink alignment of 4 bytes."""
    return (n + 3) & ~3


def pack_attr(attr_type: int, payload: bytes = b"") -> bytes:
    """One attribute: header, payload and zero padding to 4 bytes."""
    length = _HDR.size + len(payload)
    if length > 0xFFFF:
        raise OverflowError(f"attribute {attr_type} payload of {len(payload)} bytes exceeds 65531")
    return _HDR.pack(length, attr_type) + payload + b"\0" * (align(length) - length)


def pack_attrs(attrs: Iterable[tuple[int, bytes]]) -> bytes:
    """Concatenate attributes in the order given."""
    return b"".join(pack_attr(t, p) for t, p in attrs)


def iter_attrs(data: bytes, *, where: str = "attributes", base: int = 0) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(type, payload, offset)`` for each attribute in ``data``.

    Raises :class:`OdpDecodeError` naming ``where`` and the byte offset
    (``base`` + position) for a truncated header, a length that lies, or
    trailing bytes that are not a whole attribute. The last attribute's
    padding may be absent, as the kernel accepts (nla_ok()).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{where}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < _HDR.size:
            raise OdpDecodeError(
                f"truncated attribute header ({end - pos} bytes left, need 4)", where=where, offset=base + pos
            )
        length, attr_type = _HDR.unpack_from(data, pos)
        if length < _HDR.size:
            raise OdpDecodeError(
                f"attribute length {length} is shorter than its header", where=where, offset=base + pos
            )
        if pos + length > end:
            raise OdpDecodeError(
                f"attribute type {attr_type & NLA_TYPE_MASK} claims {length} bytes but only {end - pos} remain",
                where=where,
                offset=base + pos,
            )
        yield attr_type & NLA_TYPE_MASK, data[pos + _HDR.size : pos + length], base + pos
        pos += align(length)


def split_attrs(data: bytes, *, where: str = "attributes", depth: int = 0) -> list[tuple[int, bytes]]:
    """All ``(type, payload)`` pairs of ``data``; see :func:`iter_attrs`."""
    if depth > _MAX_DEPTH:
        raise OdpDecodeError(f"nesting deeper than {_MAX_DEPTH} levels", where=where)
    return [(t, p) for t, p, _ in iter_attrs(data, where=where)]
