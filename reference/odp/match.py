"""The match format: fixed field values plus wildcards, built from netlink key + mask.

A :class:`Match` is what a flow cache keeps per entry (OVS's ``struct
match`` = ``struct flow`` + ``struct flow_wildcards``; the revalidator's
ukey keeps key and mask). It is made of two parts:

* a *layout* (:class:`Layout`) naming, in wire order, every attribute of the
  key and mask, its payload size, whether the key and/or the mask carries it,
  and whether its mask is all zero. Layouts are interned: every match of the
  same shape (same attributes, same sizes, same wildcarded attributes) shares
  one layout object, so it costs nothing per entry;
* ``data``: one ``bytes`` holding, for every attribute that is not fully
  wildcarded, the masked key payload followed by the mask payload.

Semantics follow the kernel datapath (``net/openvswitch/flow_netlink.c``
``ovs_nla_get_match``, ``flow_table.c`` ``ovs_flow_cmp_masked_key``): a key
attribute without a mask attribute is wildcarded; a field is compared as
``packet & mask == key & mask``; an attribute missing from the packet key
counts as all-zero bytes (as a missing header leaves ``struct sw_flow_key``
zeroed); a flag attribute (tunnel ``df``/``csum``/``oam``, no payload) with a
mask matches on its presence. Without any mask (``mask=None``) every
attribute is exact, as OVS treats a key given without a mask.

:meth:`Match.to_netlink` gives back the *masked* key and the mask: a match
built from ``(key, mask)`` round-trips exactly when ``key == key & mask``.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference._netlink import iter_attrs, pack_attr
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

    ``size`` is the payload size (leaves) ; ``children`` the nested layout of
    nested attributes. ``wild`` means the mask is all zero (no data stored).
    """

    type: int
    size: int
    in_key: bool
    in_mask: bool
    wild: bool
    children: Layout | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """The shape of a match: its slots in key order. Interned; compare with ``is``.

    ``mask_order`` lists the indices of the slots the mask carries, in the
    mask's own attribute order (it may differ from the key's).
    """

    slots: tuple[Slot, ...]
    mask_order: tuple[int, ...]


_LAYOUTS: dict[tuple[tuple[Slot, ...], tuple[int, ...]], Layout] = {}


def _intern(slots: tuple[Slot, ...], mask_order: tuple[int, ...]) -> Layout:
    layout = _LAYOUTS.get((slots, mask_order))
    if layout is None:
        layout = _LAYOUTS.setdefault((slots, mask_order), Layout(slots, mask_order))
    return layout


def _is_nested(table: str, attr_type: int) -> str | None:
    spec = _TABLES[table].get(attr_type)
    if spec is not None and spec.length == Length.NESTED:
        return spec.nested
    return None


def _pairs(data: bytes, where: str) -> list[tuple[int, bytes]]:
    return [(t, p) for t, p, _ in iter_attrs(data, where=where)]


def _build(
    key: list[tuple[int, bytes]],
    mask: list[tuple[int, bytes]] | None,
    table: str,
    where: str,
    out: bytearray,
) -> Layout:
    slots: list[Slot] = []
    mask_by_type: dict[int, bytes] = {}
    if mask is not None:
        for t, p in mask:
            mask_by_type.setdefault(t, p)
    seen: set[int] = set()
    for t, kp in key:
        seen.add(t)
        label = f"{where}/{t}"
        mp = mask_by_type.get(t) if mask is not None else None
        nested = _is_nested(table, t)
        if nested is not None:
            kids = _pairs(kp, label)
            if mask is None:
                mkids: list[tuple[int, bytes]] | None = None
            else:
                mkids = _pairs(mp, label) if mp is not None else []
            child = _build(kids, mkids, nested, label, out)
            slots.append(Slot(t, 0, True, mask is None or mp is not None, False, child))
            continue
        if mp is None:
            mp = b"\xff" * len(kp) if mask is None else bytes(len(kp))
        if len(mp) != len(kp):
            raise OdpDecodeError(f"mask is {len(mp)} bytes but key is {len(kp)}", where=f"mask{label[3:]}")
        wild = not any(mp) and len(kp) > 0
        if not wild:
            out += bytes(a & b for a, b in zip(kp, mp, strict=True))
            out += mp
        in_mask = mask is None or t in mask_by_type
        slots.append(Slot(t, len(kp), True, in_mask, wild))
    if mask is not None:
        # Mask-only attributes (e.g. eth_type(0/0xffff) for non-Ethernet II
        # frames): the key side is absent and counts as zeros.
        for t, mp in mask:
            if t in seen:
                continue
            seen.add(t)
            nested = _is_nested(table, t)
            if nested is not None:
                child = _build([], _pairs(mp, f"{where}/{t}"), nested, f"{where}/{t}", out)
                slots.append(Slot(t, 0, False, True, False, child))
                continue
            wild = not any(mp) and len(mp) > 0
            if not wild:
                out += bytes(len(mp)) + mp
            slots.append(Slot(t, len(mp), False, True, wild))
    if mask is None:
        mask_order = tuple(range(len(slots)))
    else:
        index = {s.type: i for i, s in enumerate(slots)}
        mask_order = tuple(index[t] for t in dict.fromkeys(t for t, _ in mask))
    return _intern(tuple(slots), mask_order)


def _emit(layout: Layout, data: bytes, pos: int) -> tuple[bytes, bytes, int]:
    key_parts: list[bytes] = []
    mask_parts: dict[int, bytes] = {}
    for i, s in enumerate(layout.slots):
        if s.children is not None:
            kb, mb, pos = _emit(s.children, data, pos)
            if s.in_key:
                key_parts.append(pack_attr(s.type, kb))
            if s.in_mask:
                mask_parts[i] = pack_attr(s.type, mb)
            continue
        if s.wild:
            value = mask = bytes(s.size)
        else:
            value, mask = data[pos : pos + s.size], data[pos + s.size : pos + 2 * s.size]
            pos += 2 * s.size
        if s.in_key:
            key_parts.append(pack_attr(s.type, value))
        if s.in_mask:
            mask_parts[i] = pack_attr(s.type, mask)
    return b"".join(key_parts), b"".join(mask_parts[i] for i in layout.mask_order), pos


def _matches(layout: Layout, data: bytes, pos: int, packet: dict[int, bytes], table: str) -> tuple[bool, int]:
    ok = True
    for s in layout.slots:
        got = packet.get(s.type)
        if s.children is not None:
            nested = _is_nested(table, s.type) or "key"
            inner = {t: p for t, p, _ in iter_attrs(got, where="packet")} if got else {}
            sub_ok, pos = _matches(s.children, data, pos, inner, nested)
            ok = ok and sub_ok
            continue
        if s.size == 0:
            # Flag attributes: with a mask, presence must agree with the key.
            if s.in_mask and (got is not None) != s.in_key:
                ok = False
            continue
        if s.wild:
            continue
        value, mask = data[pos : pos + s.size], data[pos + s.size : pos + 2 * s.size]
        pos += 2 * s.size
        if not ok:
            continue
        payload = (got or b"")[: s.size].ljust(s.size, b"\0")
        if any((p & m) != v for p, m, v in zip(payload, mask, value, strict=True)):
            ok = False
    return ok, pos


@dataclass(frozen=True, slots=True)
class Match:
    """Fixed fields + wildcards of one flow; build it with :meth:`from_netlink`."""

    layout: Layout
    data: bytes

    @classmethod
    def from_netlink(cls, key: bytes, mask: bytes | None = None) -> Match:
        """A match from netlink key and mask bytes (``mask=None``: every attribute exact).

        Raises :class:`OdpDecodeError` for malformed bytes or a mask whose
        attribute size differs from the key's.
        """
        decode_key(key, where="key")
        if mask is not None:
            decode_key(mask, where="mask", is_mask=True)
        out = bytearray()
        kpairs = _pairs(bytes(key), "key")
        mpairs = _pairs(bytes(mask), "mask") if mask is not None else None
        layout = _build(kpairs, mpairs, "key", "key", out)
        return cls(layout, bytes(out))

    def to_netlink(self) -> tuple[bytes, bytes]:
        """``(masked key, mask)`` as netlink bytes, attributes in the original order."""
        key, mask, _ = _emit(self.layout, self.data, 0)
        return key, mask

    @property
    def masked_key(self) -> bytes:
        """The key with every wildcarded bit cleared (``key & mask``)."""
        return self.to_netlink()[0]

    @property
    def mask(self) -> bytes:
        """The mask as netlink bytes."""
        return self.to_netlink()[1]

    def matches(self, packet_key: bytes) -> bool:
        """Whether a packet with this (exact) netlink key hits the match.

        Raises :class:`OdpDecodeError` for a malformed packet key.
        """
        decode_key(packet_key, where="packet key")
        packet = {t: p for t, p, _ in iter_attrs(bytes(packet_key), where="packet key")}
        ok, _ = _matches(self.layout, self.data, 0, packet, "key")
        return ok
