"""The match format: fixed field values plus wildcards, built from netlink key + mask.

A :class:`Match` is what a flow cache keeps per entry (OVS's ``struct
match`` = ``struct flow`` + ``struct flow_wildcards``; the revalidator's
ukey keeps the key, unmasked, and the mask). It is made of two parts:

* a *layout* (:class:`Layout`) naming, in wire order, every attribute of the
  key and mask, its payload size, whether the key and/or the mask carries it,
  the mask payload, and the key's netlink framing (attribute headers and
  padding). Layouts are interned per shape (same framing, same mask bytes):
  every match of that shape shares one layout object, so it costs nothing
  per entry;
* ``data``: one ``bytes`` holding the *unmasked* key payloads of the key's
  leaf attributes, in key order. :meth:`Match.key` gives back the key byte
  for byte (framing from the layout, payloads from ``data``); the masked key
  is ``data & mask`` computed when asked for.

Keeping the unmasked key is what lets a ukey hold only a Match: deleting a
key-identified flow and re-translating need the key as the upcall carried it
(ofproto-dpif-upcall.c ``struct udpif_key`` keeps ``keybuf``, not a masked
copy).

Semantics follow the kernel datapath (``net/openvswitch/flow_netlink.c``
``ovs_nla_get_match``, ``flow_table.c`` ``ovs_flow_cmp_masked_key``): a key
attribute without a mask attribute is wildcarded; a field is compared as
``packet & mask == key & mask``; an attribute missing from the packet key
counts as all-zero bytes (as a missing header leaves ``struct sw_flow_key``
zeroed); a flag attribute (tunnel ``df``/``csum``/``oam``, no payload) with a
mask matches on its presence. Without any mask (``mask=None``) every
attribute is exact, as OVS treats a key given without a mask. Two matches are
equal when they have the same layout and the same masked key (the bits
outside the mask do not count).

:meth:`Match.to_netlink` gives back the *masked* key and the mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference._netlink import iter_attrs
from reference.errors import OdpDecodeError
from reference.odp.keys import KEY_ATTRS, NSH_ATTRS, TUNNEL_ATTRS, VXLAN_EXT_ATTRS, AttrSpec, Length, decode_key

__all__ = ["Layout", "Match", "Slot"]

_TABLES: dict[str, dict[int, AttrSpec]] = {
    "key": dict(KEY_ATTRS),
    "tunnel": dict(TUNNEL_ATTRS),
    "nsh": dict(NSH_ATTRS),
    "vxlan": dict(VXLAN_EXT_ATTRS),
}


@dataclass(frozen=True, slots=True)
class Slot:
    """One attribute of a match layout.

    ``size`` is the payload size (leaves); ``children`` the nested layout of
    nested attributes. ``wild`` means the mask is all zero. ``mask`` is the
    effective mask payload (zeros for a key attribute the mask leaves out,
    all ones without any mask); ``offset`` is where the key payload sits in
    :attr:`Match.data` (-1 for an attribute only the mask carries).
    """

    type: int
    size: int
    in_key: bool
    in_mask: bool
    wild: bool
    children: Layout | None = None
    mask: bytes = b""
    offset: int = -1


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """The shape of a match: its slots in key order. Interned; compare with ``is``.

    ``mask_order`` lists the indices of the slots the mask carries, in the
    mask's own attribute order (it may differ from the key's). ``frame`` is
    the key's netlink framing as ``(key offset, bytes)`` pieces between the
    leaf payloads, ``spans`` the leaf payloads' ``(start, end)`` in the key
    and ``full_mask`` the effective mask as netlink bytes.
    """

    slots: tuple[Slot, ...]
    mask_order: tuple[int, ...]
    key_len: int = 0
    frame: tuple[tuple[int, bytes], ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    full_mask: bytes = b""
    # The effective mask over ``data`` as one integer: masking is one AND.
    data_mask: int = field(default=0, repr=False)
    data_len: int = 0

    def rebuild(self, data: bytes) -> bytes:
        """Netlink key bytes: this layout's framing around the payloads in ``data``."""
        parts: list[bytes] = []
        pos = 0
        for (_, piece), (start, end) in zip(self.frame, self.spans, strict=False):
            parts.append(piece)
            parts.append(data[pos : pos + end - start])
            pos += end - start
        if len(self.frame) > len(self.spans):
            parts.append(self.frame[-1][1])
        return b"".join(parts)

    def fits(self, key: bytes) -> bool:
        """Whether ``key`` has exactly this layout's framing (so only payloads differ)."""
        return len(key) == self.key_len and all(key.startswith(piece, off) for off, piece in self.frame)


# Layouts by (key framing, effective mask); shapes by (key length, mask) for the fast path.
_LAYOUTS: dict[tuple[int, tuple[tuple[int, bytes], ...], bytes], Layout] = {}
_SHAPES: dict[tuple[int, bytes | None], list[Layout]] = {}


def _is_nested(table: str, attr_type: int) -> str | None:
    spec = _TABLES[table].get(attr_type)
    if spec is not None and spec.length == Length.NESTED:
        return spec.nested
    return None


class _Walk:
    """Accumulators of one schema walk: leaf payload spans and their effective masks, in key order."""

    __slots__ = ("masks", "size", "spans")

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.masks: list[bytes] = []
        self.size = 0

    def leaf(self, start: int, payload_mask: bytes) -> int:
        offset = self.size
        if payload_mask:
            self.spans.append((start, start + len(payload_mask)))
            self.masks.append(payload_mask)
            self.size += len(payload_mask)
        return offset


def _build(
    key: bytes,
    base: int,
    mask: list[tuple[int, bytes]] | None,
    table: str,
    where: str,
    *,
    walk: _Walk,
) -> tuple[tuple[Slot, ...], tuple[int, ...]]:
    slots: list[Slot] = []
    mask_by_type: dict[int, bytes] = {}
    if mask is not None:
        for t, p in mask:
            mask_by_type.setdefault(t, p)
    seen: set[int] = set()
    for t, kp, off in iter_attrs(key, where=where, base=base):
        seen.add(t)
        label = f"{where}/{t}"
        mp = mask_by_type.get(t) if mask is not None else None
        nested = _is_nested(table, t)
        if nested is not None:
            if mask is None:
                mkids: list[tuple[int, bytes]] | None = None
            else:
                mkids = [(a, p) for a, p, _ in iter_attrs(mp, where=label)] if mp is not None else []
            kids, order = _build(kp, off + 4, mkids, nested, label, walk=walk)
            child = _intern_children(kids, order)
            slots.append(Slot(t, 0, True, mask is None or mp is not None, False, child))
            continue
        if mp is None:
            mp = b"\xff" * len(kp) if mask is None else bytes(len(kp))
        if len(mp) != len(kp):
            raise OdpDecodeError(f"mask is {len(mp)} bytes but key is {len(kp)}", where=f"mask{label[3:]}")
        wild = not any(mp) and len(kp) > 0
        in_mask = mask is None or t in mask_by_type
        slots.append(Slot(t, len(kp), True, in_mask, wild, None, mp, walk.leaf(off + 4, mp)))
    if mask is not None:
        # Mask-only attributes (e.g. eth_type(0/0xffff) for non-Ethernet II
        # frames): the key side is absent and counts as zeros.
        for t, mp in mask:
            if t in seen:
                continue
            seen.add(t)
            nested = _is_nested(table, t)
            if nested is not None:
                label = f"{where}/{t}"
                kids, order = _build(
                    b"", 0, [(a, p) for a, p, _ in iter_attrs(mp, where=label)], nested, label, walk=walk
                )
                slots.append(Slot(t, 0, False, True, False, _intern_children(kids, order)))
                continue
            wild = not any(mp) and len(mp) > 0
            slots.append(Slot(t, len(mp), False, True, wild, None, mp))
    if mask is None:
        mask_order = tuple(range(len(slots)))
    else:
        index = {s.type: i for i, s in enumerate(slots)}
        mask_order = tuple(index[t] for t in dict.fromkeys(t for t, _ in mask))
    return tuple(slots), mask_order


def _intern_children(slots: tuple[Slot, ...], mask_order: tuple[int, ...]) -> Layout:
    # Nested levels carry no framing of their own: the top-level layout owns it.
    return Layout(slots, mask_order)


def _frame(key: bytes, spans: list[tuple[int, int]]) -> tuple[tuple[int, bytes], ...]:
    pieces: list[tuple[int, bytes]] = []
    pos = 0
    for start, end in spans:
        pieces.append((pos, key[pos:start]))
        pos = end
    pieces.append((pos, key[pos:]))
    return tuple(pieces)


def _new_layout(key: bytes, mask: bytes | None) -> Layout:
    decode_key(key, where="key")
    if mask is not None:
        decode_key(mask, where="mask", is_mask=True)
    mpairs = [(t, p) for t, p, _ in iter_attrs(mask, where="mask")] if mask is not None else None
    walk = _Walk()
    slots, order = _build(key, 0, mpairs, "key", "key", walk=walk)
    frame = _frame(key, walk.spans)
    data_mask = b"".join(walk.masks)
    layout = Layout(
        slots,
        order,
        key_len=len(key),
        frame=frame,
        spans=tuple(walk.spans),
        data_mask=int.from_bytes(data_mask, "big"),
        data_len=len(data_mask),
    )
    # Without a mask every key attribute is exact: the mask is the key's
    # framing around all-ones payloads. Interning on the effective mask makes
    # a key without mask and the same key with its all-ones mask one layout.
    full = mask if mask is not None else layout.rebuild(data_mask)
    object.__setattr__(layout, "full_mask", full)
    layout = _LAYOUTS.setdefault((len(key), frame, full), layout)
    shapes = _SHAPES.setdefault((len(key), mask), [])
    if layout not in shapes:
        shapes.append(layout)
    return layout


def _matches(layout: Layout, data: bytes, packet: dict[int, bytes], table: str) -> bool:
    for s in layout.slots:
        got = packet.get(s.type)
        if s.children is not None:
            nested = _is_nested(table, s.type) or "key"
            inner = {t: p for t, p, _ in iter_attrs(got, where="packet")} if got else {}
            if not _matches(s.children, data, inner, nested):
                return False
            continue
        if s.size == 0:
            # Flag attributes: with a mask, presence must agree with the key.
            if s.in_mask and (got is not None) != s.in_key:
                return False
            continue
        if s.wild:
            continue
        value = data[s.offset : s.offset + s.size] if s.in_key else bytes(s.size)
        payload = (got or b"")[: s.size].ljust(s.size, b"\0")
        if any((p & m) != (v & m) for p, m, v in zip(payload, s.mask, value, strict=True)):
            return False
    return True


@dataclass(frozen=True, slots=True, eq=False)
class Match:
    """Fixed fields + wildcards of one flow; build it with :meth:`from_netlink`."""

    layout: Layout
    data: bytes

    @classmethod
    def from_netlink(cls, key: bytes, mask: bytes | None = None) -> Match:
        """A match from netlink key and mask bytes (``mask=None``: every attribute exact).

        A key framed like one seen before with the same mask reuses that
        layout without walking the schema. Raises :class:`OdpDecodeError` for
        malformed bytes or a mask whose attribute size differs from the key's.
        """
        for what, value in (("key", key), ("mask", mask)):
            if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
                raise OdpDecodeError(f"expected bytes, got {type(value).__name__}", where=what)
        key = bytes(key)
        if mask is not None:
            mask = bytes(mask)
        for layout in _SHAPES.get((len(key), mask), ()):
            if layout.fits(key):
                return cls(layout, b"".join([key[a:b] for a, b in layout.spans]))
        layout = _new_layout(key, mask)
        return cls(layout, b"".join([key[a:b] for a, b in layout.spans]))

    def key(self) -> bytes:
        """The key as given to :meth:`from_netlink`, byte for byte (unmasked, original order and padding)."""
        return self.layout.rebuild(self.data)

    def _masked_data(self) -> int:
        return int.from_bytes(self.data, "big") & self.layout.data_mask

    def to_netlink(self) -> tuple[bytes, bytes]:
        """``(masked key, mask)`` as netlink bytes, attributes in the original order."""
        lay = self.layout
        return lay.rebuild(self._masked_data().to_bytes(lay.data_len, "big")), lay.full_mask

    @property
    def masked_key(self) -> bytes:
        """The key with every wildcarded bit cleared (``key & mask``)."""
        return self.to_netlink()[0]

    @property
    def mask(self) -> bytes:
        """The mask as netlink bytes (all-ones payloads when built without a mask)."""
        return self.layout.full_mask

    def matches(self, packet_key: bytes) -> bool:
        """Whether a packet with this (exact) netlink key hits the match.

        Raises :class:`OdpDecodeError` for a malformed packet key.
        """
        decode_key(packet_key, where="packet key")
        packet = {t: p for t, p, _ in iter_attrs(bytes(packet_key), where="packet key")}
        return _matches(self.layout, self.data, packet, "key")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self.layout is other.layout and self._masked_data() == other._masked_data()

    def __hash__(self) -> int:
        return hash((id(self.layout), self._masked_data()))
