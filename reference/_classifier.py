"""Keys, masks and the tuple-space classifier of the reference datapath; no I/O.

The kernel turns a netlink key into ``struct sw_flow_key`` and compares
flows byte-wise over that struct (net/openvswitch/flow_table.c). We work one
level up, on the decoded attribute tree (:mod:`reference.odp.keys`): every
leaf attribute is a "field" named by its path of attribute types
(``(TUNNEL, IPV4_DST)``), and a key or mask is the set of its non-zero
fields. An absent attribute and an all-zero one are the same, exactly as in
the kernel's struct, and attribute order never matters.

A zero-length leaf (a flag such as ``tunnel(csum)``) is the field value
``b"\\x01"``: present means set, and a mask that names it means "match it".

:class:`TupleSpace` is the kernel's tuple-space search: one hash table per
distinct mask, each keyed by the masked key (``flow_table.c``
``masked_flow_lookup``/``flow_lookup``); a lookup tries the masks in the
order they were first installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from reference._netlink import pack_attr
from reference.errors import OdpDecodeError
from reference.odp.keys import KEY_ATTRS, Attribute, decode_key
from reference.uapi import KeyAttr

__all__ = [
    "Fields",
    "MaskSig",
    "ParsedKey",
    "TupleSpace",
    "and_bytes",
    "decode_mask",
    "exact_mask",
    "fields_of",
    "MAC_PROTO_PATH",
    "mask_bytes",
    "mask_of_tree",
    "masked_fields",
    "masked_key_bytes",
    "parse_key",
    "parse_mask",
    "stored_mask",
    "with_mac_proto",
]

Path = tuple[int, ...]
# A key, masked key or mask as its non-zero fields, sorted by path: hashable
# and independent of attribute order, like the kernel's struct image. (A
# sorted tuple rather than a frozenset: a flow keeps one, and a tuple of 13
# fields is a quarter of the memory.)
Fields = tuple[tuple[Path, bytes], ...]
# A mask as (path, mask bytes) pairs, sorted by path.
MaskSig = tuple[tuple[Path, bytes], ...]

_FLAG = b"\x01"
# Kernel-internal or invalid at the top level of a request key: UNSPEC and
# TUNNEL_INFO have no entry in the kernel's length table
# (flow_netlink.c ovs_key_lens), so parse_flow_nlattrs rejects them.
_REFUSED_TOP = frozenset({KeyAttr.UNSPEC, KeyAttr.TUNNEL_INFO})
# Attributes the kernel accepts in a flow key although OVS userspace's schema
# does not know them, with the payload length of the kernel's ovs_key_lens:
# IPV6_EXTHDRS (u16) since Linux 5.18, emitted in every IPv6 upcall key.
_KERNEL_ONLY_LENS: dict[int, int] = {KeyAttr.IPV6_EXTHDRS: 2}
# flow_netlink.c ovs_key_from_nlattrs: an MPLS key holds 1..MPLS_LABEL_DEPTH
# (3) label stack entries of 4 bytes, else EINVAL.
_MPLS_LABEL_DEPTH = 3
_IN_PORT_PATH: Path = (int(KeyAttr.IN_PORT),)
_ARP = int(KeyAttr.ARP)
_ETHERNET = int(KeyAttr.ETHERNET)
_ETHERTYPE = int(KeyAttr.ETHERTYPE)
_ENCAP = int(KeyAttr.ENCAP)
_ARP_OP_HIGH = 8  # struct ovs_key_arp: sip, tip, then the be16 opcode
# flow_netlink.c nlattr_set: the exact mask of ct_state is CT_SUPPORTED_MASK.
_CT_STATE_PATH: Path = (int(KeyAttr.CT_STATE),)
_CT_STATE_EXACT = (0xFF).to_bytes(4, sys.byteorder)


def and_bytes(value: bytes, mask: bytes) -> bytes:
    """``value & mask`` byte-wise; ``value`` is zero-extended or cut to ``len(mask)``."""
    n = len(mask)
    if len(value) != n:
        value = value[:n].ljust(n, b"\0")
    return (int.from_bytes(value, "big") & int.from_bytes(mask, "big")).to_bytes(n, "big")


def _nonzero(data: bytes) -> bool:
    return data.count(0) != len(data)


def _walk(attrs: tuple[Attribute, ...], prefix: Path, out: dict[Path, bytes], flags: set[Path]) -> None:
    for a in attrs:
        path = (*prefix, a.type)
        if a.children is not None:
            _walk(a.children, path, out, flags)
        elif a.payload:
            out[path] = a.payload
        else:
            out[path] = _FLAG
            flags.add(path)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A validated key: its bytes, decoded tree and every leaf field (zeros included)."""

    data: bytes
    tree: tuple[Attribute, ...]
    leaves: Mapping[Path, bytes]
    flags: frozenset[Path]

    @property
    def fields(self) -> Fields:
        """The key's non-zero fields: the identity of an unmasked key."""
        return fields_of(self.leaves)


def fields_of(leaves: Mapping[Path, bytes]) -> Fields:
    """The non-zero fields of ``leaves``, sorted by path."""
    return tuple(sorted((p, v) for p, v in leaves.items() if _nonzero(v)))


def parse_key(data: bytes, *, where: str = "key", for_flow: bool = True) -> ParsedKey:
    """Decode and check a key; raises :class:`OdpDecodeError` naming what is wrong and where.

    ``for_flow=False`` is for a packet's own key (``inject``): the kernel
    looks packets up with whatever key_extract() produced, e.g. an empty
    MPLS attribute for a cut label stack, which a flow request may not carry.
    """
    tree = decode_key(data, where=where).attrs
    for a in tree if for_flow else ():
        if a.type in _KERNEL_ONLY_LENS:
            if len(a.payload) != _KERNEL_ONLY_LENS[a.type]:
                raise OdpDecodeError(
                    f"key attribute type {a.type} must carry {_KERNEL_ONLY_LENS[a.type]} bytes", where=where
                )
        elif a.type not in KEY_ATTRS or a.type in _REFUSED_TOP:
            raise OdpDecodeError(f"key attribute type {a.type} is not accepted in a flow", where=where)
        if a.type == KeyAttr.MPLS and not 1 <= len(a.payload) // 4 <= _MPLS_LABEL_DEPTH:
            raise OdpDecodeError(
                f"mpls must hold 1 to {_MPLS_LABEL_DEPTH} label stack entries, not {len(a.payload) // 4}",
                where=where,
            )
    leaves: dict[Path, bytes] = {}
    flags: set[Path] = set()
    _walk(tree, (), leaves, flags)
    return ParsedKey(bytes(data), tree, leaves, frozenset(flags))


# Where a kernel key keeps its sw_flow_key.mac_proto, which no attribute carries:
# attribute type 0 (UNSPEC) is never a flow key attribute, so no leaf collides.
MAC_PROTO_PATH: Path = (0,)
_MAC_PROTO_NONE, _MAC_PROTO_ETHERNET = b"\x00", b"\x01"


def with_mac_proto(key: ParsedKey) -> ParsedKey:
    """``key`` with the kernel's ``mac_proto`` as a leaf, so that lookups and identity see it.

    flow_netlink.c metadata_from_nlattrs: a key with ETHERTYPE but no
    ETHERNET is a layer-3 packet (MAC_PROTO_NONE), any other is Ethernet; the
    mask's mac_proto is always 0xff ("Always exact match mac_proto"). So an
    L3 flow never matches an Ethernet key, however much the mask wildcards,
    and ``eth()`` with zero addresses is another key than no ``eth()``.
    """
    top = {a.type for a in key.tree}
    l3 = _ETHERTYPE in top and _ETHERNET not in top
    leaves = dict(key.leaves)
    leaves[MAC_PROTO_PATH] = _MAC_PROTO_NONE if l3 else _MAC_PROTO_ETHERNET
    return ParsedKey(key.data, key.tree, leaves, key.flags)


def exact_mask(key: ParsedKey) -> MaskSig:
    """The mask the kernel builds when a request has no MASK: every key field exact.

    flow_netlink.c ovs_nla_get_match copies the key attributes and sets
    their payloads to 0xff (mask_set_nlattr), except ct_state, which
    nlattr_set cuts to CT_SUPPORTED_MASK (0xff, host order).
    """
    return tuple(
        sorted(
            (p, _FLAG if p in key.flags else _CT_STATE_EXACT if p == _CT_STATE_PATH else b"\xff" * len(v))
            for p, v in key.leaves.items()
        )
    )


def parse_mask(data: bytes | None, key: ParsedKey, *, where: str = "mask") -> MaskSig:
    """Validate ``data`` as a mask for ``key`` (``None``: exact match); return its non-zero fields.

    A flag in the mask may name a flag the key lacks (match "clear"). Any
    other mask field must name a field of the key with the same length (the
    kernel checks mask attributes against the same length table); a
    non-zero mask for a field the key lacks is a mask wider than the key and
    is refused (the kernel's match_validate). All-zero mask fields are
    wildcards and dropped.
    """
    if data is None:
        return exact_mask(key)
    return mask_of_tree(decode_mask(data, where=where), key, where=where)


def decode_mask(data: bytes, *, where: str = "mask") -> tuple[Attribute, ...]:
    """The top-level attributes of mask bytes (for checks that need the tree, like the kernel's match_validate)."""
    return decode_key(data, where=where, is_mask=True).attrs


def mask_of_tree(tree: tuple[Attribute, ...], key: ParsedKey, *, where: str = "mask") -> MaskSig:
    """:func:`parse_mask` for an already decoded mask."""
    leaves: dict[Path, bytes] = {}
    mask_flags: set[Path] = set()
    _walk(tree, (), leaves, mask_flags)
    out: list[tuple[Path, bytes]] = []
    for path, m in leaves.items():
        label = f"{where}/" + "/".join(str(t) for t in path)
        kv = key.leaves.get(path)
        if kv is None and path in mask_flags:
            # A masked flag the key lacks (e.g. tunnel csum): "must be clear",
            # which OVS userspace sends for every tunnel flag.
            out.append((path, m))
            continue
        if kv is None:
            if _nonzero(m):
                raise OdpDecodeError("mask names a field that the key does not have (mask wider than key)", where=label)
            continue
        if len(kv) != len(m):
            raise OdpDecodeError(f"mask is {len(m)} bytes but the key field is {len(kv)}", where=label)
        if _nonzero(m):
            out.append((path, m))
    return tuple(sorted(out))


def _is_arp(path: Path) -> bool:
    # arp() at the top level or inside any depth of encap() (802.1Q, 802.1ad + 802.1Q).
    return path[-1] == _ARP and all(p == _ENCAP for p in path[:-1])


def stored_mask(mask: MaskSig, *, exact_in_port: bool = True) -> MaskSig:
    """``mask`` as a datapath stores it: bits its flow key struct cannot hold are dropped or widened.

    As flow_netlink.c ovs_key_from_nlattrs (is_mask) stores them: a non-zero
    in_port mask is always exact; the ARP opcode lands in the u8 ip.proto,
    so the opcode mask's high byte is lost (dpif-netdev's struct flow keeps
    the same u8 nw_proto). That holds at every VLAN nesting level: the
    attributes inside ``encap()`` are parsed into the same key struct
    (parse_vlan_from_nlattrs, then ovs_key_from_nlattrs on them).
    ``exact_in_port=False`` keeps the in_port mask as given (dpif-netdev,
    which refuses a non-exact one itself).
    """
    out: list[tuple[Path, bytes]] = []
    changed = False
    for path, given in mask:
        m = given
        if exact_in_port and path == _IN_PORT_PATH and m != b"\xff\xff\xff\xff":
            m, changed = b"\xff\xff\xff\xff", True
        elif _is_arp(path) and len(m) > _ARP_OP_HIGH and m[_ARP_OP_HIGH]:
            m, changed = m[:_ARP_OP_HIGH] + b"\0" + m[_ARP_OP_HIGH + 1 :], True
            if not _nonzero(m):
                continue
        out.append((path, m))
    return tuple(out) if changed else mask


def masked_fields(leaves: Mapping[Path, bytes], mask: MaskSig) -> Fields:
    """The non-zero fields of ``leaves & mask`` (absent fields are zero), in the mask's order (by path)."""
    out = []
    for path, m in mask:
        v = leaves.get(path)
        if v is None:
            continue
        # all-ones masks (exact matches, the common case) need no AND
        mv = v if len(v) == len(m) and m.count(255) == len(m) else and_bytes(v, m)
        if _nonzero(mv):
            out.append((path, mv))
    return tuple(out)


def _render(attrs: tuple[Attribute, ...], prefix: Path, mask: Mapping[Path, bytes], *, as_mask: bool) -> bytes:
    parts: list[bytes] = []
    for a in attrs:
        path = (*prefix, a.type)
        if a.children is not None:
            parts.append(pack_attr(a.type, _render(a.children, path, mask, as_mask=as_mask)))
            continue
        m = mask.get(path)
        if not a.payload:  # a flag: present iff the mask keeps it
            if m is not None:
                parts.append(pack_attr(a.type))
            continue
        if as_mask:
            parts.append(pack_attr(a.type, m if m is not None else bytes(len(a.payload))))
        else:
            parts.append(pack_attr(a.type, and_bytes(a.payload, m) if m is not None else bytes(len(a.payload))))
    return b"".join(parts)


def masked_key_bytes(key: ParsedKey, mask: MaskSig) -> bytes:
    """The key with every field ANDed with the mask, in the key's attribute order.

    This is what the kernel reports for a UFID flow (ovs_nla_put_masked_key):
    the stored, masked key. Wildcarded fields come back as zeros.
    """
    return _render(key.tree, (), dict(mask), as_mask=False)


def mask_bytes(key: ParsedKey, mask: MaskSig) -> bytes:
    """The mask laid out like the key: one attribute per key attribute, zeros where wildcarded."""
    return _render(key.tree, (), dict(mask), as_mask=True)


T = TypeVar("T")


class TupleSpace(Generic[T]):
    """One table per distinct mask, each keyed by masked key (the kernel's flow table ``ti``)."""

    __slots__ = ("_masks", "_tables")

    def __init__(self) -> None:
        # dicts keep insertion order: masks are tried in the order they first
        # appeared, like the kernel's mask array without its per-CPU cache.
        self._tables: dict[MaskSig, dict[Fields, T]] = {}
        # Every mask in use, once: flows of one mask share it, as kernel flows share
        # their sw_flow_mask (flow_table.c flow_mask_find / flow_mask_insert).
        self._masks: dict[MaskSig, MaskSig] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    @property
    def n_masks(self) -> int:
        """Number of distinct masks in use."""
        return len(self._tables)

    def get(self, mask: MaskSig, masked: Fields) -> T | None:
        """The entry stored under exactly this mask and masked key."""
        table = self._tables.get(mask)
        return None if table is None else table.get(masked)

    def shared_mask(self, mask: MaskSig) -> MaskSig:
        """The equal mask already in use if there is one (to share), else ``mask`` itself."""
        return self._masks.get(mask, mask)

    def insert(self, mask: MaskSig, masked: Fields, item: T) -> None:
        """Store ``item``; the caller has checked that the slot is free."""
        self._tables.setdefault(self._masks.setdefault(mask, mask), {})[masked] = item

    def remove(self, mask: MaskSig, masked: Fields) -> None:
        """Remove an entry; a mask with no flows left is dropped (the kernel's mask refcount)."""
        table = self._tables[mask]
        del table[masked]
        if not table:
            del self._tables[mask]
            del self._masks[mask]

    def lookup(self, leaves: Mapping[Path, bytes]) -> T | None:
        """Packet-style lookup: the first entry, over all masks, whose masked key equals ``leaves & mask``."""
        for mask, table in self._tables.items():
            hit = table.get(masked_fields(leaves, mask))
            if hit is not None:
                return hit
        return None

    def clear(self) -> None:
        """Remove every entry."""
        self._tables.clear()
        self._masks.clear()

    def __iter__(self) -> Iterator[T]:
        for table in self._tables.values():
            yield from table.values()
