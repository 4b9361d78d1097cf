"""The reference package's one error hierarchy.

Every error the reference implementation raises derives from
:class:`UfidcertError`. Bad input (text, bytes, arguments) raises a subclass
of :class:`UfidcertInputError`, which is also a :class:`ValueError`, so
callers can catch it either by meaning or as the builtin. Datapath errors
(:class:`reference.dpif.DpifError`) are ``OSError`` subclasses carrying an
errno and join the hierarchy in ``reference/dpif.py``.
"""

from __future__ import annotations

__all__ = [
    "OdpDecodeError",
    "OdpSyntaxError",
    "PacketDroppedError",
    "PacketInputError",
    "UfidcertError",
    "UfidcertInputError",
]


class UfidcertError(Exception):
    """Root of every error raised by ufidcert's reference implementation."""


class UfidcertInputError(UfidcertError, ValueError):
    """Input that cannot be accepted; the message says what and where."""


class OdpDecodeError(UfidcertInputError):
    """Netlink bytes (keys, masks, actions, replies) that do not decode.

    ``where`` names the attribute path (e.g. ``"key/ipv4"``) and ``offset``
    the byte offset in the buffer being decoded, when known.
    """

    def __init__(self, message: str, *, where: str = "", offset: int | None = None) -> None:
        self.where = where
        self.offset = offset
        parts = [message]
        if where:
            parts.append(f"in {where}")
        if offset is not None:
            parts.append(f"at byte {offset}")
        super().__init__(" ".join(parts))


class OdpSyntaxError(UfidcertInputError):
    """Flow or action text that does not parse.

    ``column`` is the 0-based character position of the problem in ``text``.
    """

    def __init__(self, message: str, *, text: str = "", column: int | None = None) -> None:
        self.text = text
        self.column = column
        where = f" at column {column}" if column is not None else ""
        snippet = ""
        if text and column is not None:
            snippet = f": {text[max(0, column - 20) : column]!r} >>> {text[column : column + 20]!r}"
        super().__init__(f"{message}{where}{snippet}")


class PacketInputError(UfidcertInputError):
    """An argument of packet key extraction that is not a frame or a port number."""


class PacketDroppedError(UfidcertInputError):
    """A frame the Linux datapath drops before any upcall, so it has no upcall key.

    ``reason`` names the kernel check that drops it (e.g. a runt shorter than
    an Ethernet header, or an NSH header that ``parse_nsh()`` rejects).
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        self.reason = reason
        super().__init__(message)
