"""The UFID value type: Open vSwitch's 128-bit unique flow identifier.

A UFID is an ``ovs_u128``. OVS derives one from a netlink flow key with
``odp_flow_key_hash`` (lib/odp-util.c): ``hash_bytes128(key, secret)`` with a
per-process random 32-bit secret, then ``uuid_set_bits_v4`` (lib/uuid.c)
forces the RFC 4122 version-4 and variant bits. It prints as
``ufid:%08x-%04x-%04x-%04x-%04x%08x`` over the four 32-bit words
``u32[0..3]`` (``odp_format_ufid``).

Typical use::

    u = Ufid.from_key(key_bytes, secret=0x12345678, variant="x64")
    str(u)                       # 'ufid:...'
    Ufid.parse(str(u)) == u      # True
    u.to_wire()                  # the OVS_FLOW_ATTR_UFID payload

See docs/ufid.md for the byte layouts.
"""

from __future__ import annotations

import secrets
import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

import mmh3

from reference.errors import OdpSyntaxError, UfidcertInputError
from reference.hash import BytesLike, Variant, _as_bytes, _check_seed, _check_variant, native_variant

__all__ = ["ByteOrder", "Ufid", "UfidGenerator", "UfidSyntaxError"]

ByteOrder: TypeAlias = Literal["little", "big"]

_M32: Final = 0xFFFF_FFFF
_M128: Final = (1 << 128) - 1
_PREFIX: Final = "ufid:"
_UUID_LEN: Final = 36  # lib/uuid.h UUID_LEN
_HYPHENS: Final = frozenset({8, 13, 18, 23})
_HEXITS: Final = frozenset("0123456789abcdefABCDEF")

# uuid_set_bits_v4 (lib/uuid.c) on the 128-bit value w0 | w1<<32 | w2<<64 | w3<<96:
# u32[1] bits 12..15 := 0100 and u32[2] bits 30..31 := 10.
_V4_KEEP: Final = _M128 & ~((0x0000F000 << 32) | (0xC0000000 << 64))
_V4_SET: Final = (0x00004000 << 32) | (0x80000000 << 64)

_LE_WORDS: Final = struct.Struct("<4I")
_BE_WORDS: Final = struct.Struct(">4I")

# mmh3's *_uintdigest is int.from_bytes(hash_bytes128 image, "little"): exactly
# our value, without building the bytes (tests/reference/test_ufid.py checks it
# against hash_bytes128). Keeps from_key within a small factor of a bare hash.
_DIGESTS: Final[dict[str, Callable[[BytesLike, int], int]]] = {
    "x64": mmh3.mmh3_x64_128_uintdigest,
    "x86": mmh3.mmh3_x86_128_uintdigest,
}


_NATIVE_VARIANT: Final[Variant] = native_variant()
_NATIVE_DIGEST: Final = _DIGESTS[_NATIVE_VARIANT]


class UfidSyntaxError(OdpSyntaxError):
    """UFID text that OVS's ``odp_ufid_from_string`` would not accept.

    ``column`` is the 0-based position of the offending character in ``text``.
    """


def _byteorder(byteorder: object) -> struct.Struct:
    if byteorder == "little":
        return _LE_WORDS
    if byteorder == "big":
        return _BE_WORDS
    raise UfidcertInputError(f"byteorder must be 'little' or 'big', not {byteorder!r}")


@dataclass(frozen=True, slots=True, order=True, repr=False)
class Ufid:
    """An immutable, hashable, ordered 128-bit UFID.

    ``value`` is the ``ovs_u128`` as a number, ``u64.hi << 64 | u64.lo``, i.e.
    ``u32[0] | u32[1] << 32 | u32[2] << 64 | u32[3] << 96`` on a little-endian
    host; ordering follows it. Build one with the ``from_*`` constructors or
    :meth:`parse`, not from a guessed integer.
    """

    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise TypeError(f"Ufid value must be an int, not {type(self.value).__name__}")
        if not 0 <= self.value <= _M128:
            raise UfidcertInputError(f"Ufid value {self.value:#x} is outside the 128-bit range")

    # --- constructors ---------------------------------------------------------

    @classmethod
    def from_int(cls, value: int) -> Ufid:
        """The UFID whose ``int()`` is ``value`` (0 .. 2**128-1)."""
        return cls(value)

    @classmethod
    def from_words(cls, words: Iterable[int]) -> Ufid:
        """From the four 32-bit words ``u32[0..3]``."""
        ws = tuple(words)
        if len(ws) != 4:
            raise UfidcertInputError(f"a UFID has 4 32-bit words, got {len(ws)}")
        for i, w in enumerate(ws):
            if not isinstance(w, int) or isinstance(w, bool):
                raise TypeError(f"UFID word {i} must be an int, not {type(w).__name__}")
            if not 0 <= w <= _M32:
                raise UfidcertInputError(f"UFID word {i} = {w:#x} is outside 0..0xffffffff")
        return _make(ws[0] | ws[1] << 32 | ws[2] << 64 | ws[3] << 96)

    @classmethod
    def from_wire(cls, data: BytesLike, byteorder: ByteOrder = "little") -> Ufid:
        """From the 16-byte ``OVS_FLOW_ATTR_UFID`` payload (words in the host's ``byteorder``)."""
        raw = _as_bytes(data)
        if len(raw) != 16:
            raise UfidcertInputError(f"UFID wire form must be 16 bytes, got {len(raw)}")
        return cls.from_words(_byteorder(byteorder).unpack(raw))

    @classmethod
    def from_key(cls, key: BytesLike, secret: int, *, variant: Variant | None = None) -> Ufid:
        """The UFID OVS derives from netlink key bytes ``key`` (``odp_flow_key_hash``).

        ``secret`` is the 32-bit hash basis (random per OVS process);
        ``variant`` defaults to the one OVS uses on this machine.
        """
        digest = _NATIVE_DIGEST if variant is None else _DIGESTS[_check_variant(variant)]
        try:
            value = digest(key, secret)
        except (TypeError, ValueError, OverflowError):
            _check_key_and_secret(key, secret)
            raise
        # Inlined _make(): this is the hot path (see docs/performance.md).
        u: Ufid = _new_ufid(cls)
        _set_value(u, (value & _V4_KEEP) | _V4_SET)
        return u

    @classmethod
    def parse(cls, text: str) -> Ufid:
        """Parse ``ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` as OVS does (either hex case).

        The prefix is the exact lowercase ``ufid:``; nothing may precede or
        follow the 36-character UUID. Raises :class:`UfidSyntaxError`.
        """
        if not isinstance(text, str):
            raise TypeError(f"Ufid.parse() takes a str, not {type(text).__name__}")
        if not text.startswith(_PREFIX):
            if text[:5].lower() == _PREFIX:
                raise UfidSyntaxError("the UFID prefix must be lowercase 'ufid:'", text=text, column=0)
            raise UfidSyntaxError("expected a UFID starting with 'ufid:'", text=text, column=0)
        body = text[len(_PREFIX) :]
        for i in range(_UUID_LEN):
            col = len(_PREFIX) + i
            if i >= len(body):
                raise UfidSyntaxError(
                    f"UFID text ends after {i} of 36 UUID characters (8-4-4-4-12 form)", text=text, column=col
                )
            c = body[i]
            if i in _HYPHENS:
                if c != "-":
                    raise UfidSyntaxError(f"expected '-', found {c!r}", text=text, column=col)
            elif c not in _HEXITS:
                raise UfidSyntaxError(f"expected a hex digit, found {c!r}", text=text, column=col)
        if len(body) > _UUID_LEN:
            raise UfidSyntaxError(
                "unexpected text after the 36-character UUID", text=text, column=len(_PREFIX) + _UUID_LEN
            )
        return cls.from_words(
            (
                int(body[0:8], 16),
                int(body[9:13] + body[14:18], 16),
                int(body[19:23] + body[24:28], 16),
                int(body[28:36], 16),
            )
        )

    # --- accessors --------------------------------------------------------------

    @property
    def words(self) -> tuple[int, int, int, int]:
        """The four 32-bit words ``u32[0..3]``."""
        v = self.value
        return (v & _M32, (v >> 32) & _M32, (v >> 64) & _M32, v >> 96)

    def to_wire(self, byteorder: ByteOrder = "little") -> bytes:
        """The 16-byte ``OVS_FLOW_ATTR_UFID`` payload, words in ``byteorder`` (the host's)."""
        return _byteorder(byteorder).pack(*self.words)

    @property
    def is_ovs_generated(self) -> bool:
        """True when the RFC 4122 v4/variant bits are set as ``uuid_set_bits_v4`` sets them.

        Every UFID OVS generates has them; the converse says nothing (1 in 64
        random values has them too).
        """
        return (self.value & ~_V4_KEEP & _M128) == _V4_SET

    @property
    def uuid(self) -> uuid.UUID:
        """The same 128 bits as a :class:`uuid.UUID` (its text equals ours without ``ufid:``)."""
        return uuid.UUID(bytes=_BE_WORDS.pack(*self.words))

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        w0, w1, w2, w3 = self.words
        return f"ufid:{w0:08x}-{w1 >> 16:04x}-{w1 & 0xFFFF:04x}-{w2 >> 16:04x}-{w2 & 0xFFFF:04x}{w3:08x}"

    def __repr__(self) -> str:
        return f"Ufid.parse({str(self)!r})"


# Build without __init__/__post_init__: the value is known to be in range.
# (A frozen dataclass's __init__ goes through object.__setattr__, which is
# several times slower than the slot descriptor.)
_new_ufid = object.__new__
_set_value: Callable[[Ufid, int], None] = Ufid.__dict__["value"].__set__


def _check_key_and_secret(key: object, secret: object) -> None:
    """Raise the project's error for what mmh3 rejected (mmh3's own messages name neither argument)."""
    _as_bytes(key)
    _check_seed(secret, "secret")


def _make(value: int) -> Ufid:
    u: Ufid = _new_ufid(Ufid)
    _set_value(u, value)
    return u


class UfidGenerator:
    """Generates UFIDs the way one OVS process does: one secret, one variant.

    Without ``secret`` a random 32-bit one is drawn per instance, as OVS draws
    one per process (``odp_flow_key_hash``); inject one to be reproducible.
    """

    __slots__ = ("_digest", "_secret", "_variant")

    def __init__(self, secret: int | None = None, *, variant: Variant | None = None) -> None:
        self._secret = secrets.randbits(32) if secret is None else _check_seed(secret, "secret")
        self._variant: Variant = _NATIVE_VARIANT if variant is None else _check_variant(variant)
        self._digest = _DIGESTS[self._variant]

    @property
    def secret(self) -> int:
        return self._secret

    @property
    def variant(self) -> Variant:
        return self._variant

    def __call__(self, key: BytesLike) -> Ufid:
        """The UFID of netlink key bytes ``key`` under this generator's secret."""
        try:
            value = self._digest(key, self._secret)
        except (TypeError, ValueError):
            _as_bytes(key)
            raise
        u: Ufid = _new_ufid(Ufid)
        _set_value(u, (value & _V4_KEEP) | _V4_SET)
        return u

    def __repr__(self) -> str:
        return f"UfidGenerator(secret={self._secret:#010x}, variant={self._variant!r})"
