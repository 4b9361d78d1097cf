"""Megaflow masks at the netlink-attribute level (private helpers of :mod:`reference.udpif.xlate`).

The translation stand-in decides which key bits a flow depends on; these
helpers turn that into a netlink mask the datapath accepts, and answer
``flow_wildcards_has_extra()``: does an installed mask wildcard bits a new
translation needs? Work is on top-level attributes; nested ones (encap,
tunnel, nsh) are always matched exactly.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from reference._netlink import iter_attrs, pack_attr
from reference.uapi import KeyAttr, TunnelKeyAttr

__all__ = ["build_mask", "key_fields", "mask_has_extra"]

_NESTED_TOP = frozenset({int(KeyAttr.ENCAP), int(KeyAttr.TUNNEL), int(KeyAttr.NSH)})
_NESTED_TUNNEL = frozenset({int(TunnelKeyAttr.VXLAN_OPTS)})
# Matched exactly whatever the rules look at: in_port (dpif-netdev refuses a
# wildcarded one with EINVAL), eth_type (the kernel only accepts L3 masks
# under an exact eth_type), the VLAN TCI and recirc_id (OVS always exact).
_ALWAYS_EXACT = frozenset({int(KeyAttr.IN_PORT), int(KeyAttr.ETHERTYPE), int(KeyAttr.VLAN), int(KeyAttr.RECIRC_ID)})
# OVS's translation always un-wildcards nw_frag, and nw_proto once L4 is
# looked at; the kernel refuses L4 masks without an exact protocol. Keep both
# exact: (attribute, byte offsets) of proto and frag in ovs_key_ipv4/ipv6.
_IP_EXACT_BYTES: Mapping[int, tuple[int, ...]] = {int(KeyAttr.IPV4): (8, 11), int(KeyAttr.IPV6): (36, 39)}
# OVS userspace masks ct_state as its u8 of CS_* bits (odp-util.c ovs_to_odp_ct_state),
# and the kernel refuses mask bits outside CT_SUPPORTED_MASK (flow_netlink.c
# metadata_from_nlattrs): an "exact" ct_state mask is 0xff, host order. (Rules
# of the stand-in may still look at other ct_state bits; such masks are theirs.)
_CT_STATE = int(KeyAttr.CT_STATE)
_CT_SUPPORTED_MASK = 0xFF


def key_fields(key: bytes, *, where: str = "key") -> dict[int, bytes]:
    """Top-level attributes of ``key`` as ``{type: payload}`` (the last one wins on a repeat)."""
    return {t: p for t, p, _ in iter_attrs(key, where=where)}


# Which attributes nest, per level: the top level (and encap, which holds a
# whole key), the tunnel level (vxlan_opts nests) and flat levels.
_LEVELS: Mapping[str, Mapping[int, str]] = {
    "key": {int(KeyAttr.ENCAP): "key", int(KeyAttr.TUNNEL): "tunnel", int(KeyAttr.NSH): "flat"},
    "tunnel": {int(TunnelKeyAttr.VXLAN_OPTS): "flat"},
    "flat": {},
}


def _exact(payload: bytes, level: str, where: str, depth: int = 0) -> bytes:
    """An all-ones mask for the attributes of ``payload`` (at nesting ``level``), recursing into nested ones."""
    nested = _LEVELS[level]
    parts = []
    for t, p, _ in iter_attrs(payload, where=where):
        inner = nested.get(t)
        if inner is not None and depth < 8:
            parts.append(pack_attr(t, _exact(p, inner, where, depth + 1)))
        else:
            parts.append(pack_attr(t, b"\xff" * len(p)))
    return b"".join(parts)


# Masks are shared between flows of the same shape (same attributes, sizes and needed bits): the
# ukeys then hold one bytes object per shape instead of one per flow. Bounded; cleared when full.
_MASK_CACHE: dict[tuple[object, ...], bytes] = {}
_MASK_CACHE_MAX = 4096


def build_mask(key: bytes, needed: Mapping[int, int], *, exact: bool = False, where: str = "key") -> bytes:
    """A netlink mask for ``key`` that un-wildcards exactly the ``needed`` bits (plus the always-exact ones).

    ``needed`` maps a top-level attribute type to a big-endian integer mask
    over its payload bytes. ``exact`` (megaflows disabled) un-wildcards all.
    Equal masks are returned as the same (shared) bytes object.
    """
    attrs = [(t, p) for t, p, _ in iter_attrs(key, where=where)]
    shape = tuple((t, p) if t in _NESTED_TOP else (t, len(p)) for t, p in attrs)
    sig = (exact, shape, () if exact else tuple(sorted(needed.items())))
    cached = _MASK_CACHE.get(sig)
    if cached is not None:
        return cached
    parts = []
    for t, payload in attrs:
        n = len(payload)
        if t in _NESTED_TOP:
            parts.append(pack_attr(t, _exact(payload, _LEVELS["key"][t], where, 1)))
            continue
        if exact and t == _CT_STATE and n == 4:
            parts.append(pack_attr(t, _CT_SUPPORTED_MASK.to_bytes(4, sys.byteorder)))
            continue
        if exact or t in _ALWAYS_EXACT:
            parts.append(pack_attr(t, b"\xff" * n))
            continue
        bits = needed.get(t, 0) & ((1 << (8 * n)) - 1)
        m = bytearray(bits.to_bytes(n, "big")) if n else bytearray()
        for off in _IP_EXACT_BYTES.get(t, ()):
            if off < n:
                m[off] = 0xFF
        parts.append(pack_attr(t, bytes(m)))
    mask = b"".join(parts)
    if len(_MASK_CACHE) >= _MASK_CACHE_MAX:
        _MASK_CACHE.clear()
    _MASK_CACHE[sig] = mask
    return mask


def mask_has_extra(installed: bytes, needed: bytes) -> bool:
    """True if ``installed`` wildcards any bit that ``needed`` matches (OVS ``flow_wildcards_has_extra``).

    Both are netlink masks; an attribute missing from ``installed`` is fully
    wildcarded. An empty ``installed`` mask means an exact match, as for a
    put without a mask, so it never has extra wildcards.
    """
    if not installed:
        return False
    have = key_fields(installed, where="installed mask")
    for t, p, _ in iter_attrs(needed, where="needed mask"):
        if t in _NESTED_TOP:
            if have.get(t) != p and any(p):
                return True
            continue
        h = have.get(t)
        want = int.from_bytes(p, "big")
        if h is None:
            if want:
                return True
            continue
        if len(h) != len(p):
            return True
        if want & ~int.from_bytes(h, "big"):
            return True
    return False
