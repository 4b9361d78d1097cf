"""Sequences of raw ovs_flow requests (conformance.fidelity: the kernel differential).

A case is a short sequence of ovs_flow requests against an empty flow
table, as ``(cmd, nlmsg flags, OVS_FLOW_ATTR_* bytes)``; conformance.fidelity
frames them (family id, ifindex, seq, pid) for the kernel and the endpoint
alike. Requests draw on a small pool of matches so that later requests hit
earlier flows. The pool mixes keys a datapath accepts, keys it refuses,
keys reshaped the ways the key space allows (mask absent, all-ones, zero
or partial per attribute; no ETHERTYPE (an 802.2 frame); no ETHERNET (an
L3-only key); no IN_PORT) and malformed attribute streams.
"""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.strategies._common import U32, u32h
from conformance.strategies.datapath_keys import datapath_keys_with_masks
from conformance.strategies.keys import keys_with_masks
from conformance.strategies.odp_actions import action_lists
from reference._netlink import pack_attr as _pack_attr
from reference._netlink import split_attrs as _split_attrs
from reference.uapi import ActionAttr as _AA
from reference.uapi import FlowAttr as _FA
from reference.uapi import FlowCmd as _FC
from reference.uapi import KeyAttr as _KA

__all__ = ["flow_request_cases"]


_FlowReq = tuple[int, int, bytes]
_NLM_REQUEST, _NLM_ACK, _NLM_ECHO = 0x01, 0x04, 0x08
_NLM_REPLACE, _NLM_EXCL, _NLM_CREATE, _NLM_APPEND = 0x100, 0x200, 0x400, 0x800
_NLM_DUMP = 0x300


def _reshape_mask(draw: st.DrawFn, key: bytes, mask: bytes) -> bytes | None:
    """The drawn mask, absent, or per attribute all-ones / zero / as drawn."""
    how = draw(st.sampled_from(["as-is", "as-is", "absent", "per-attr"]))
    if how == "absent":
        return None
    if how == "as-is":
        return mask
    out: list[tuple[int, bytes]] = []
    for t, p in _split_attrs(mask, where="mask"):
        shape = draw(st.sampled_from(["keep", "ones", "zero", "drop"]))
        if shape == "drop":
            continue
        if t in (_KA.ENCAP, _KA.TUNNEL) or shape == "keep":
            out.append((t, p))
        else:
            out.append((t, (b"\xff" if shape == "ones" else b"\0") * len(p)))
    return b"".join(_pack_attr(t, p) for t, p in out)


def _malform(draw: st.DrawFn, attrs: bytes) -> bytes:
    """A key or mask made wrong in one place: a payload cut short or grown, an unknown or repeated attribute."""
    parts = _split_attrs(attrs, where="key")
    if not parts:
        return attrs
    i = draw(st.integers(0, len(parts) - 1))
    t, p = parts[i]
    how = draw(st.sampled_from(["short", "long", "unknown", "repeat", "zero-len"]))
    if how == "short" and p:
        parts[i] = (t, p[:-1])
    elif how == "long":
        parts[i] = (t, p + b"\0" * draw(st.sampled_from([1, 4])))
    elif how == "unknown":
        parts.insert(i, (draw(st.sampled_from([0, 33, 34, 63, 0x3FFF])), b"\0" * 4))
    elif how == "repeat":
        parts.insert(i, (t, p))
    else:
        parts[i] = (t, b"")
    return b"".join(_pack_attr(t, p) for t, p in parts)


@st.composite
def _flow_match(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    source = draw(st.sampled_from(["datapath"] * 5 + ["userspace", "userspace-compact"]))
    if source == "datapath":
        key, mask = draw(datapath_keys_with_masks())
    else:
        key, mask = draw(keys_with_masks(compact=source == "userspace-compact"))
    reshape = draw(st.sampled_from(["none"] * 6 + ["no-ethertype", "no-ethernet", "no-in-port", "malformed"]))
    drop = {
        "no-ethertype": {_KA.ETHERTYPE},
        "no-ethernet": {_KA.ETHERNET},
        "no-in-port": {_KA.IN_PORT},
    }.get(reshape, set())
    if drop:
        key = b"".join(_pack_attr(t, p) for t, p in _split_attrs(key) if t not in drop)
        mask = b"".join(_pack_attr(t, p) for t, p in _split_attrs(mask) if t not in drop)
    out_mask = _reshape_mask(draw, key, mask)
    if reshape == "malformed":
        if out_mask is not None and draw(st.booleans()):
            out_mask = _malform(draw, out_mask)
        else:
            key = _malform(draw, key)
    return key, out_mask


def _flow_ufid() -> st.SearchStrategy[bytes | None]:
    """Absent, or OVS_FLOW_ATTR_UFID of every interesting length (0 and >16 included)."""
    sized = st.sampled_from([0, 1, 4, 8, 15, 16, 17, 20]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    sixteen = st.binary(min_size=16, max_size=16)
    return st.one_of(st.none(), sixteen, sixteen, sized)


def _flow_actions() -> st.SearchStrategy[bytes]:
    output = st.integers(0, 0xFFFF).map(lambda p: _pack_attr(_AA.OUTPUT, u32h(p)))
    # Mostly actions the kernel takes for any flow, so that flows get installed.
    return st.one_of(st.just(b""), output, output, output, action_lists(max_leaves=3))


def _ufid_flags_attr() -> st.SearchStrategy[bytes]:
    value = st.one_of(st.integers(0, 7), st.integers(0, U32))
    full = value.map(lambda v: _pack_attr(_FA.UFID_FLAGS, u32h(v)))
    short = st.binary(max_size=3).map(lambda b: _pack_attr(_FA.UFID_FLAGS, b))  # shorter than a u32
    return st.one_of(full, full, full, short)


@st.composite
def _flow_request(draw: st.DrawFn, pool: list[tuple[tuple[bytes, bytes | None], bytes | None]]) -> _FlowReq:
    (key, mask), ufid = draw(st.sampled_from(pool))
    kind = draw(st.sampled_from(["new"] * 4 + ["set", "get", "get", "del", "dump", "flush", "raw-cmd"]))
    flags = _NLM_REQUEST | draw(st.sampled_from([0, _NLM_ACK, _NLM_ACK, _NLM_ECHO, _NLM_ACK | _NLM_ECHO]))
    attrs: list[bytes] = []
    if ufid is not None and draw(st.integers(0, 9)):
        attrs.append(_pack_attr(_FA.UFID, ufid))
    if kind == "dump":
        if draw(st.booleans()):
            attrs.append(draw(_ufid_flags_attr()))
        return _FC.GET, flags | _NLM_DUMP, b"".join(attrs)
    if kind == "flush":
        return _FC.DEL, flags, b""
    if kind == "raw-cmd":
        return draw(st.sampled_from([0, 5, 0xFF])), flags, b"".join(attrs)
    with_key = draw(st.integers(0, 9)) > (0 if kind in ("new", "set") else 4)
    if with_key:
        attrs.append(_pack_attr(_FA.KEY, key))
        if mask is not None and kind in ("new", "set"):
            attrs.append(_pack_attr(_FA.MASK, mask))
    if kind in ("new", "set") and draw(st.integers(0, 9)):
        attrs.append(_pack_attr(_FA.ACTIONS, draw(_flow_actions())))
    if draw(st.integers(0, 2)) == 0:
        attrs.append(draw(_ufid_flags_attr()))
    if kind == "set" and draw(st.integers(0, 3)) == 0:
        attrs.append(_pack_attr(_FA.CLEAR, b"" if draw(st.integers(0, 5)) else b"\0"))
    if draw(st.integers(0, 9)) == 0:
        attrs.append(_pack_attr(_FA.PROBE, b"" if draw(st.integers(0, 5)) else b"\0"))
    if kind == "new":
        flags |= draw(st.sampled_from([0, _NLM_CREATE, _NLM_CREATE | _NLM_EXCL, _NLM_EXCL, _NLM_REPLACE, _NLM_APPEND]))
        return _FC.NEW, flags, b"".join(attrs)
    cmd = {"set": _FC.SET, "get": _FC.GET, "del": _FC.DEL}[kind]
    return cmd, flags, b"".join(attrs)


@st.composite
def _flow_request_case(draw: st.DrawFn, max_requests: int) -> list[_FlowReq]:
    pool = draw(st.lists(st.tuples(_flow_match(), _flow_ufid()), min_size=1, max_size=3))
    # Start by installing the pool's first flow most of the time, so that later requests find something.
    first: list[_FlowReq] = []
    if draw(st.integers(0, 4)):
        (key, mask), ufid = pool[0]
        attrs = _pack_attr(_FA.KEY, key) + (b"" if mask is None else _pack_attr(_FA.MASK, mask))
        attrs += _pack_attr(_FA.ACTIONS, b"") + (b"" if ufid is None else _pack_attr(_FA.UFID, ufid))
        first.append((_FC.NEW, _NLM_REQUEST | _NLM_ACK | _NLM_CREATE, attrs))
    rest = draw(st.lists(_flow_request(pool), min_size=1, max_size=max_requests))
    return first + rest


def flow_request_cases(*, max_requests: int = 5) -> st.SearchStrategy[list[_FlowReq]]:
    """Sequences of raw ``ovs_flow`` requests ``(cmd, nlmsg flags, attrs)`` for an empty flow table.

    Every command (NEW with and without CREATE/EXCL, SET, GET, DEL, a flush,
    dump, unknown commands), every UFID_FLAGS value (and a short one), UFID
    lengths 0..20, NLM_F_ACK/ECHO, CLEAR and PROBE (empty or not), keys and
    masks as described in the section comment.
    """
    return _flow_request_case(max_requests)
