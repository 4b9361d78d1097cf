"""Datapath actions as a datapath checks them before accepting a flow; no I/O."""

from __future__ import annotations

import struct
from collections.abc import Callable

from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError
from reference.odp import _action_spec as spec
from reference.odp._action_format import format_nat
from reference.odp._text import u32h
from reference.odp.keys import validate_key
from reference.uapi import (
    ActionAttr,
    CheckPktLenAttr,
    CtAttr,
    DecTtlAttr,
    HashAlg,
    KeyAttr,
    PsampleAttr,
    SampleAttr,
    UserspaceAttr,
)

__all__ = ["validate_actions"]

_ETH_TYPE_VLAN_8021AD = 0x88A8


def validate_actions(data: bytes, *, where: str = "actions", contents_checked: frozenset[int] = frozenset()) -> None:
    """Raise :class:`OdpDecodeError` unless ``data`` is a well-formed list of actions.

    Checks framing at every level, known action types, payload sizes
    (``odp_action_len()``), the nested attributes each action requires, one
    key attribute in ``set``/``set_masked`` (validated as a key), VLAN push
    rules, and nesting up to :data:`MAX_NESTING`. The empty list is valid (drop).
    ``contents_checked``: action types whose payload the caller checks by
    its own rules (a datapath model's), so only their framing and length are checked here.
    """
    _validate_list(bytes(data), where, 0, contents_checked)


def _validate_list(data: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    if depth > spec.MAX_NESTING:
        raise OdpDecodeError(f"actions nested deeper than {spec.MAX_NESTING} levels", where=where)
    for attr_type, payload, offset in iter_attrs(data, where=where):
        expected = spec.ACTION_LEN.get(attr_type)
        if expected is None:
            raise OdpDecodeError(f"unknown action type {attr_type}", where=where, offset=offset)
        here = f"{where}/{spec.action_name(attr_type)}"
        if expected != spec.VARIABLE and len(payload) != expected:
            raise OdpDecodeError(f"payload of {len(payload)} bytes, expected {expected}", where=here, offset=offset)
        check = None if attr_type in skip else _VALIDATORS.get(attr_type)
        if check is not None:
            check(payload, here, depth, skip)


def _strict_nested(payload: bytes, policy: spec.Policy, where: str) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for attr_type, value, offset in iter_attrs(payload, where=where):
        rule = policy.get(attr_type)
        if rule is None:
            raise OdpDecodeError(f"unexpected nested attribute type {attr_type}", where=where, offset=offset)
        lo, hi, _ = rule
        if not lo <= len(value) <= hi:
            size = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < spec.ANY else f"at least {lo}"
            raise OdpDecodeError(
                f"nested attribute {attr_type} has {len(value)} bytes, expected {size}", where=where, offset=offset
            )
        if attr_type in found:
            raise OdpDecodeError(f"duplicate nested attribute {attr_type}", where=where, offset=offset)
        found[attr_type] = value
    missing = [t for t, (_, _, required) in policy.items() if required and t not in found]
    if missing:
        raise OdpDecodeError(f"missing required nested attribute(s) {missing}", where=where)
    return found


def _v_userspace(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    a = _strict_nested(payload, spec.USERSPACE_POLICY, where)
    if a.get(UserspaceAttr.ACTIONS):
        raise OdpDecodeError("the 'actions' flag takes no payload", where=where)


def _v_set(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1:
        raise OdpDecodeError(f"set needs exactly one key attribute, got {len(attrs)}", where=where)
    validate_key(payload, where=where)


def _v_set_masked(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1:
        raise OdpDecodeError(f"set_masked needs exactly one key attribute, got {len(attrs)}", where=where)
    attr_type, both, _ = attrs[0]
    if attr_type in (KeyAttr.ENCAP, KeyAttr.TUNNEL):
        raise OdpDecodeError(f"key attribute {attr_type} cannot be set with a mask", where=where)
    if attr_type == KeyAttr.NSH:
        # Nested: every attribute carries its own value and mask (format_odp_set_nsh()).
        for nsh_type, value, offset in iter_attrs(both, where=f"{where}/nsh"):
            size = spec.SET_NSH_LENS.get(nsh_type)
            if size is None or len(value) != 2 * size:
                raise OdpDecodeError(
                    f"masked nsh attribute {nsh_type} of {len(value)} bytes", where=f"{where}/nsh", offset=offset
                )
        return
    if len(both) % 2:
        raise OdpDecodeError(f"value and mask of odd total length {len(both)}", where=where)
    half = len(both) // 2
    validate_key(pack_attr(attr_type, both[:half]), where=f"{where}/value")
    validate_key(pack_attr(attr_type, both[half:]), where=f"{where}/mask")


def _v_push_vlan(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    tpid, tci = struct.unpack("!HH", payload)
    # Linux validate_and_copy_actions(): an 802.1Q/802.1ad TPID and the CFI (present) bit set.
    if tpid not in (spec.ETH_TYPE_VLAN, _ETH_TYPE_VLAN_8021AD):
        raise OdpDecodeError(f"push_vlan TPID 0x{tpid:04x} is not 0x8100 or 0x88a8", where=where)
    if not tci & spec.VLAN_CFI:
        raise OdpDecodeError("push_vlan TCI without the CFI/present bit", where=where)


def _v_sample(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    a = _strict_nested(payload, spec.SAMPLE_POLICY, where)
    _validate_list(a[SampleAttr.ACTIONS], where, depth + 1, skip)


def _v_clone(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    _validate_list(payload, where, depth + 1, skip)


def _v_check_pkt_len(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    a = _strict_nested(payload, spec.CPL_POLICY, where)
    _validate_list(a[CheckPktLenAttr.ACTIONS_IF_GREATER], f"{where}/gt", depth + 1, skip)
    _validate_list(a[CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL], f"{where}/le", depth + 1, skip)


def _v_dec_ttl(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    a = _strict_nested(payload, {DecTtlAttr.ACTION: (0, spec.ANY, True)}, where)
    _validate_list(a[DecTtlAttr.ACTION], where, depth + 1, skip)


def _v_psample(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    _strict_nested(payload, {PsampleAttr.GROUP: (4, 4, True), PsampleAttr.COOKIE: (0, 16, False)}, where)


def _v_push_nsh(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1 or attrs[0][0] != KeyAttr.NSH:
        raise OdpDecodeError("push_nsh needs exactly one nested nsh key attribute", where=where)
    nsh = spec.nsh_header(payload)
    if nsh is None or nsh[2] not in (spec.NSH_M_TYPE1, spec.NSH_M_TYPE2):
        raise OdpDecodeError("push_nsh header is not a valid MD type 1 or 2 NSH header", where=where)


def _v_tnl_push(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    if len(payload) < 16:
        raise OdpDecodeError(f"tnl_push payload of {len(payload)} bytes, need at least 16", where=where)
    header_len = u32h(payload[8:12])
    # struct ovs_action_push_tnl: 16 bytes of ports/length/type, then header_len (<= TNL_PUSH_HEADER_SIZE) bytes.
    if header_len != len(payload) - 16 or header_len > 512:
        raise OdpDecodeError(
            f"tnl_push header_len {header_len} does not match its {len(payload) - 16} bytes", where=where
        )


def _v_hash(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    alg = u32h(payload)
    if alg not in (HashAlg.L4, HashAlg.SYM_L4):
        raise OdpDecodeError(f"unknown hash algorithm {alg}", where=where)


def _v_ct(payload: bytes, where: str, depth: int, skip: frozenset[int]) -> None:
    policy = dict(spec.CT_POLICY)
    policy[CtAttr.EVENTMASK] = (4, 4, False)
    policy[CtAttr.MARK] = (8, 8, False)
    policy[CtAttr.LABELS] = (32, 32, False)
    a = _strict_nested(payload, policy, where)
    for flag in (CtAttr.COMMIT, CtAttr.FORCE_COMMIT):
        if a.get(flag):
            raise OdpDecodeError(f"ct flag {flag.name.lower()} takes no payload", where=where)
    if CtAttr.COMMIT in a and CtAttr.FORCE_COMMIT in a:
        raise OdpDecodeError("ct has both commit and force_commit", where=where)
    for attr in spec.CT_STRINGS:
        if attr in a and spec.ct_string(a[attr]) is None:
            raise OdpDecodeError(f"ct {attr.name.lower()} is not a NUL-terminated string", where=where)
    if CtAttr.NAT in a:
        nat = format_nat(a[CtAttr.NAT])
        if "error" in nat:
            raise OdpDecodeError(f"invalid nat: {nat}", where=f"{where}/nat")
        _strict_nested(a[CtAttr.NAT], spec.NAT_POLICY, f"{where}/nat")


_VALIDATORS: dict[int, Callable[[bytes, str, int, frozenset[int]], None]] = {
    ActionAttr.USERSPACE: _v_userspace,
    ActionAttr.SET: _v_set,
    ActionAttr.SET_MASKED: _v_set_masked,
    ActionAttr.PUSH_VLAN: _v_push_vlan,
    ActionAttr.SAMPLE: _v_sample,
    ActionAttr.CLONE: _v_clone,
    ActionAttr.CHECK_PKT_LEN: _v_check_pkt_len,
    ActionAttr.DEC_TTL: _v_dec_ttl,
    ActionAttr.PSAMPLE: _v_psample,
    ActionAttr.HASH: _v_hash,
    ActionAttr.TUNNEL_PUSH: _v_tnl_push,
    ActionAttr.PUSH_NSH: _v_push_nsh,
    ActionAttr.CT: _v_ct,
}
