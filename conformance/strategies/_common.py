"""Drawing helpers the key, datapath-key and action strategies share."""

from __future__ import annotations

import struct as _struct

from hypothesis import strategies as st

from reference.uapi import KeyAttr as _KA

__all__ = [
    "SPECIAL_ETHERTYPES",
    "U32",
    "KeyMaskAttr",
    "draw_conntrack_metadata",
    "draw_metadata_head",
    "fields",
    "flags_value",
    "mask_bytes",
    "nonzero_mask",
    "u32h",
]

U32 = 0xFFFF_FFFF

# One top-level key attribute as (type, key payload, mask payload).
KeyMaskAttr = tuple[int, bytes, bytes]


def mask_bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b"\xff" * size), st.just(bytes(size)), st.binary(min_size=size, max_size=size))


@st.composite
def fields(draw: st.DrawFn, sizes: tuple[int, ...]) -> tuple[bytes, bytes]:
    """Key and mask bytes for consecutive fields of the given sizes, each field's mask exact/zero/random."""
    key = b"".join(draw(st.binary(min_size=n, max_size=n)) for n in sizes)
    mask = b"".join(draw(mask_bytes(n)) for n in sizes)
    return key, mask


@st.composite
def flags_value(draw: st.DrawFn, allowed: int, exact_mask: int) -> tuple[int, int]:
    # ct_state / tcp_flags: exact (prints names) or a partial mask inside
    # 'allowed' with the key inside the mask (+flag/-flag form).
    if draw(st.booleans()):
        return draw(st.integers(0, allowed)), exact_mask
    mask = draw(st.integers(0, allowed).filter(lambda m: m != allowed))
    return draw(st.integers(0, allowed)) & mask, mask


def u32h(v: int) -> bytes:
    return _struct.pack("=I", v)


def nonzero_mask(n: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b"\xff" * n), st.binary(min_size=n, max_size=n).filter(any))


# Ethertypes with their own key attributes or tags (never drawn as an 'other' Ethertype).
SPECIAL_ETHERTYPES = frozenset({0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x8100, 0x88A8, 0x894F})


# The two metadata drawers below are plain functions, not composites, so that a key drawn with
# them makes the same choices (and the same examples) as when they were written out inline.


def draw_metadata_head(draw: st.DrawFn) -> list[KeyMaskAttr]:
    """recirc_id (exact mask), dp_hash and priority, each present or not."""
    out: list[KeyMaskAttr] = []
    u32 = st.integers(0, U32)
    if draw(st.booleans()):
        out.append((_KA.RECIRC_ID, u32h(draw(u32)), b"\xff" * 4))
    for t in (_KA.DP_HASH, _KA.PRIORITY):
        if draw(st.booleans()):
            out.append((t, u32h(draw(u32)), draw(mask_bytes(4))))
    return out


def draw_conntrack_metadata(draw: st.DrawFn, *, ct_state_exact_mask: int) -> list[KeyMaskAttr]:
    """skb_mark, ct_state (an exact mask is ``ct_state_exact_mask``), ct_zone, ct_mark and ct_labels."""
    out: list[KeyMaskAttr] = []
    u32 = st.integers(0, U32)
    if draw(st.booleans()):
        out.append((_KA.SKB_MARK, u32h(draw(u32)), draw(mask_bytes(4))))
    if draw(st.booleans()):
        state, state_mask = draw(flags_value(0xFF, ct_state_exact_mask))
        out.append((_KA.CT_STATE, u32h(state), u32h(state_mask)))
    if draw(st.booleans()):
        out.append((_KA.CT_ZONE, _struct.pack("=H", draw(st.integers(0, 0xFFFF))), draw(mask_bytes(2))))
    if draw(st.booleans()):
        out.append((_KA.CT_MARK, u32h(draw(u32)), draw(mask_bytes(4))))
    if draw(st.booleans()):
        out.append((_KA.CT_LABELS, draw(st.binary(min_size=16, max_size=16)), draw(mask_bytes(16))))
    return out
