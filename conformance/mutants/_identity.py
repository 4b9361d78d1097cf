"""Identity and lookup mutants: the UFID in replies and arguments, lengths, lookups, deletes."""

from __future__ import annotations

import errno as _errno
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from conformance.mutants._mutant import KL, KN, KNL, REVAL, UKEY, K, Mutant, fixed
from conformance.mutants._wrapper import Hooks, Kind, do_del, do_get, do_put
from reference.dpif import (
    DelOp,
    Dpif,
    DpifError,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    FlowStats,
    GetOp,
    PutFlags,
    PutOp,
    UfidArg,
    ufid_wire,
)
from reference.odp.match import Match
from reference.ufid import Ufid

__all__ = ["FLUSH", "IDENTITY"]


def _swap_words(u: Ufid) -> Ufid:
    w = u.words
    return Ufid.from_words((w[1], w[0], w[3], w[2]))


def _byteswap_words(u: Ufid) -> Ufid:
    return Ufid.from_wire(u.to_wire("little"), "big")


def _swap_halves(u: Ufid) -> Ufid:
    w = u.words
    return Ufid.from_words((w[2], w[3], w[0], w[1]))


def _ufid_in_replies(of: Kind, change: Callable[[Ufid], Ufid]) -> Hooks:
    """The UFID of ``of`` replies goes through ``change``."""

    def reply(kind: Kind, flow: DpifFlow) -> DpifFlow:
        if kind == of and flow.ufid is not None:
            u = change(flow.ufid)
            return replace(flow, ufid=u, ufid_bytes=u.to_wire())
        return flow

    return Hooks(reply=reply)


def _ufid_not_present(of: Kind) -> Hooks:
    def reply(kind: Kind, flow: DpifFlow) -> DpifFlow:
        return replace(flow, ufid=None, ufid_present=False, ufid_bytes=None) if kind == of else flow

    return Hooks(reply=reply)


def _partial_lookup(part: slice) -> Hooks:
    """get/del by UFID compare only the bytes in ``part``: a near UFID finds an installed flow."""

    def resolve(inner: Dpif, ufid: UfidArg | None) -> UfidArg | None:
        if ufid is None:
            return None
        want = ufid_wire(ufid)
        if len(want) != 16:
            return ufid
        for f in inner.flow_dump(terse=False):
            have = f.ufid_bytes or (f.ufid.to_wire() if f.ufid is not None else b"")
            if f.ufid_present and len(have) == 16 and have[part] == want[part]:
                return f.ufid if f.ufid is not None else have
        return ufid

    return Hooks(
        get=lambda inner, op: do_get(inner, replace(op, ufid=resolve(inner, op.ufid))),
        delete=lambda inner, op: do_del(inner, replace(op, ufid=resolve(inner, op.ufid))),
    )


def _ufid_arg_bytes(change: Callable[[bytes], bytes | None]) -> Hooks:
    """Raw-bytes UFID arguments (the ``OVS_FLOW_ATTR_UFID`` payload) go through ``change`` on every call."""

    def arg(ufid: UfidArg | None) -> UfidArg | None:
        if ufid is None or not isinstance(ufid, (bytes, bytearray, memoryview)):
            return ufid
        return change(bytes(ufid))

    return Hooks(
        put=lambda inner, op: do_put(inner, replace(op, ufid=arg(op.ufid))),
        get=lambda inner, op: do_get(inner, replace(op, ufid=arg(op.ufid))),
        delete=lambda inner, op: do_del(inner, replace(op, ufid=arg(op.ufid))),
    )


def _wire_byte_order(raw: bytes) -> bytes | None:
    # The 16-byte wire form read as network-order words (ovs_u128 is host order).
    if len(raw) != 16:
        return raw
    return b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))


def _long_rejected(raw: bytes) -> bytes | None:
    if len(raw) > 16:
        raise DpifInvalid("UFID longer than 16 bytes")
    return raw


def _duplicate_ufid(inner: Dpif, op: PutOp) -> FlowStats:
    try:
        return do_put(inner, op)
    except DpifError as exc:
        if exc.errno != _errno.EEXIST or op.ufid is None or PutFlags.MODIFY in op.flags:
            raise
        # Only the UFID collides: the second flow goes in under its key.
        return do_put(inner, replace(op, ufid=None))


_Lookup = TypeVar("_Lookup", GetOp, DelOp)
_R = TypeVar("_R")


def _key_wins(op: _Lookup) -> _Lookup:
    return replace(op, ufid=None if op.key is not None else op.ufid)


def _by_key(inner: Dpif, key: bytes | None) -> DpifFlow | None:
    """A flow installed with a UFID that ``key`` matches (the kernel keeps them apart from key lookups)."""
    if key is None:
        return None
    for f in inner.flow_dump():
        if f.ufid_present and f.key is not None and Match.from_netlink(f.key, f.mask).matches(key):
            return f
    return None


def _or_ufid_flow_by_key(call: Callable[[Dpif, _Lookup], _R]) -> Callable[[Dpif, _Lookup], _R]:
    """``call``, and when a key-only lookup finds nothing, ``call`` again on a UFID flow the key matches."""

    def hook(inner: Dpif, op: _Lookup) -> _R:
        try:
            return call(inner, op)
        except DpifNotFound:
            f = _by_key(inner, op.key) if op.ufid is None else None
            if f is None:
                raise
            return call(inner, replace(op, ufid=f.ufid_bytes, key=None))

    return hook


def _absent_is_einval(inner: Dpif, op: GetOp) -> DpifFlow:
    try:
        return do_get(inner, op)
    except DpifNotFound:
        raise DpifInvalid("no such flow") from None


def _del_absent_succeeds(inner: Dpif, op: DelOp) -> FlowStats:
    try:
        return do_del(inner, op)
    except DpifNotFound:
        return FlowStats()


def _del_leaves_flow(inner: Dpif, op: DelOp) -> FlowStats:
    if op.ufid is None and op.key is None:
        return inner.flow_del()
    return inner.flow_get(ufid=op.ufid, key=op.key, terse=op.terse).stats


def _del_no_identifier_invalid(inner: Dpif, op: DelOp) -> FlowStats:
    if op.ufid is None and op.key is None:
        raise DpifInvalid("del needs a UFID or a key")
    return do_del(inner, op)


def _flush_partial(keep_ufid: bool) -> Hooks:
    """flow_flush deletes flows one by one, and only the kind ``keep_ufid`` does not name."""

    def flush(inner: Dpif) -> None:
        for f in list(inner.flow_dump()):
            if f.ufid_present == keep_ufid:
                continue
            try:
                if f.ufid_present:
                    inner.flow_del(ufid=f.ufid_bytes or f.ufid)
                else:
                    inner.flow_del(key=f.key)
            except DpifNotFound:
                pass

    return Hooks(flush=flush)


# The UFID reorderings, per reply kind, with the requirement that killed each (halves only in full replies).
_REORDERINGS = (
    ("words-swapped", _swap_words),
    ("bytes-swapped", _byteswap_words),
    ("halves-swapped", _swap_halves),
)
_REPLY_KINDS: tuple[tuple[Kind, str, str], ...] = (
    ("get", "flow_get", "UFID-ID-001"),
    ("dump", "flow_dump", "UFID-DUMP-008"),
    ("get-terse", "flow_get", "UFID-TERSE-003"),
    ("dump-terse", "flow_dump", "UFID-DUMP-008"),
)
_NOT_PRESENT: tuple[tuple[Kind, str, str], ...] = (
    ("dump", "flow_dump", "UFID-DUMP-008"),
    ("dump-terse", "flow_dump", "UFID-DUMP-008"),
    ("get", "flow_get", "UFID-ID-001"),
)

IDENTITY: tuple[Mutant, ...] = (
    *(
        Mutant(
            f"ufid-{what}-in-{kind}",
            "identity",
            method,
            f"the UFID in {kind} replies has its {what.replace('-', ' ')} (32-bit words, bytes within each "
            "word, or 64-bit halves)",
            f"{UKEY}: a reply UFID that is not the installed one finds no ukey, so {REVAL} deletes the flow as unknown",
            fixed(_ufid_in_replies(kind, change)),
            KN,
            (killer,),
        )
        for kind, method, killer in _REPLY_KINDS
        for what, change in _REORDERINGS
        if not (what == "halves-swapped" and kind in ("get-terse", "dump-terse"))
    ),
    *(
        Mutant(
            f"ufid-not-present-in-{kind}",
            "identity",
            method,
            f"{kind} replies leave OVS_FLOW_ATTR_UFID out for UFID-identified flows",
            "lib/dpif-netlink.c dpif_netlink_flow_to_dpif_flow hashes the key instead: a different UFID, an "
            f"unknown ukey, {REVAL} deletes the flow",
            fixed(_ufid_not_present(kind)),
            KN,
            (killer,),
        )
        for kind, method, killer in _NOT_PRESENT
    ),
    Mutant(
        "ufid-dropped-on-put",
        "identity",
        "flow_put",
        "put ignores the UFID and installs a key-identified flow",
        "ofproto/ofproto-dpif.c check_ufid would say yes while terse dumps and UFID gets/deletes of "
        f"{REVAL} find nothing",
        fixed(Hooks(put=lambda inner, op: do_put(inner, replace(op, ufid=None)))),
        KN,
        ("UFID-SMOKE-001",),
    ),
    *(
        Mutant(
            f"ufid-lookup-compares-{label}",
            "identity",
            "flow_get/flow_del",
            f"get and del by UFID compare only the {label.replace('-', ' ')} of the UFID",
            f"{UKEY}: two flows whose UFIDs share those bits are different flows to OVS; a delete of one "
            "removes the other",
            fixed(_partial_lookup(part)),
            KN,
            ("UFID-ID-003",),
        )
        for part, label in ((slice(0, 8), "first-64-bits"), (slice(12, 16), "last-32-bits"))
    ),
    Mutant(
        "ufid-wire-words-big-endian",
        "identity",
        "flow_put/flow_get/flow_del",
        "the 16-byte OVS_FLOW_ATTR_UFID payload is read as big-endian 32-bit words",
        "lib/dpif-netlink.c puts ovs_u128 in host order; a reordered UFID is echoed differently and no ukey matches it",
        fixed(_ufid_arg_bytes(_wire_byte_order)),
        KN,
        ("UFID-LEN-004",),
    ),
    Mutant(
        "ufid-duplicate-accepted",
        "identity",
        "flow_put",
        "a CREATE reusing a live UFID with another key installs a second flow",
        f"{UKEY}: one ukey per UFID; the second datapath flow is never revalidated or deleted by OVS",
        fixed(Hooks(put=_duplicate_ufid)),
        KN,
        ("UFID-ID-004",),
    ),
    Mutant(
        "ufid-zero-length-ignored",
        "identity",
        "flow_put/flow_get/flow_del",
        "a 0-byte UFID is treated as absent (flow installed key-identified) instead of ERANGE",
        "net/openvswitch/datapath.c flow_policy (.len = 1 minimum); a datapath accepting what the kernel "
        "refuses lets a buggy caller install flows OVS cannot address by UFID",
        fixed(_ufid_arg_bytes(lambda raw: None if raw == b"" else raw)),
        K,
        ("UFID-LEN-002",),
    ),
    Mutant(
        "ufid-long-rejected",
        "identity",
        "flow_put/flow_get/flow_del",
        "a UFID longer than 16 bytes is rejected with EINVAL instead of ignored",
        "net/openvswitch/flow_netlink.c ovs_nla_get_ufid ignores it (installs key-identified); callers "
        "relying on that fall back get errors",
        fixed(_ufid_arg_bytes(_long_rejected)),
        K,
        ("UFID-LEN-003",),
    ),
    Mutant(
        "ufid-long-truncated",
        "identity",
        "flow_put/flow_get/flow_del",
        "a UFID longer than 16 bytes is truncated to 16 and used",
        "net/openvswitch/flow_netlink.c ovs_nla_get_ufid ignores over-long UFIDs; key lookups then miss the flow",
        fixed(_ufid_arg_bytes(lambda raw: raw[:16])),
        K,
        ("UFID-LEN-003",),
    ),
    Mutant(
        "ufid-short-padded",
        "identity",
        "flow_put/flow_get/flow_del",
        "UFIDs of 1..15 bytes are zero-padded to 16",
        "net/openvswitch/flow_table.c compares ufid_len bytes and echoes exactly that length",
        fixed(_ufid_arg_bytes(lambda raw: raw.ljust(16, b"\0") if 0 < len(raw) < 16 else raw)),
        K,
        ("UFID-LEN-001",),
    ),
    # --- lookups
    Mutant(
        "lookup-key-wins-over-ufid",
        "lookup",
        "flow_get/flow_del",
        "with both a UFID and a key, the key decides the lookup",
        "lib/dpif.h flow_get/flow_del: 'if both are specified, key will be ignored'; revalidator deletes "
        "pass both (ofproto-dpif-upcall.c delete_op_init)",
        fixed(
            Hooks(
                get=lambda inner, op: do_get(inner, _key_wins(op)),
                delete=lambda inner, op: do_del(inner, _key_wins(op)),
            )
        ),
        KN,
        ("UFID-SMOKE-001",),
    ),
    Mutant(
        "lookup-key-finds-ufid-flows",
        "lookup",
        "flow_get/flow_del",
        "a key-only get/del also finds flows installed with a UFID",
        "net/openvswitch/datapath.c ovs_flow_cmd_get/del look UFID flows up by UFID only; a key delete "
        "(dpctl, old callers) must not remove a UFID flow OVS still tracks",
        fixed(Hooks(get=_or_ufid_flow_by_key(do_get), delete=_or_ufid_flow_by_key(do_del))),
        K,
        ("UFID-GET-003",),
    ),
    Mutant(
        "lookup-absent-is-einval",
        "lookup",
        "flow_get",
        "get of an absent flow fails with EINVAL instead of ENOENT",
        "ofproto/ofproto-dpif-upcall.c ukey_install/handle_upcalls and lib/dpif.c treat ENOENT as 'no flow'; "
        "other errnos are logged as datapath failures",
        fixed(Hooks(get=_absent_is_einval)),
        KNL,
        ("UFID-SMOKE-001",),
    ),
    Mutant(
        "del-absent-succeeds",
        "lookup",
        "flow_del",
        "del of an absent flow succeeds with zero statistics",
        "ofproto/ofproto-dpif-upcall.c push_dp_ops: ENOENT on delete means the flow was already gone; "
        "success with zero stats hides a lost flow",
        fixed(Hooks(delete=_del_absent_succeeds)),
        KNL,
        ("UFID-DEL-001",),
    ),
    Mutant(
        "del-leaves-flow",
        "lookup",
        "flow_del",
        "del returns the statistics but leaves the flow installed",
        f"{REVAL} deletes idle and stale flows: a flow that stays keeps forwarding with old actions",
        fixed(Hooks(delete=_del_leaves_flow)),
        KNL,
        ("UFID-SMOKE-001",),
    ),
    Mutant(
        "del-without-identifier-einval",
        "flush",
        "flow_del",
        "del with neither UFID nor key fails with EINVAL instead of flushing",
        "lib/dpif-netlink.c dpif_netlink_flow_flush sends OVS_FLOW_CMD_DEL without key or UFID "
        "(net/openvswitch/datapath.c ovs_flow_cmd_del flushes)",
        fixed(Hooks(delete=_del_no_identifier_invalid)),
        KL,
        ("UFID-FLUSH-002",),
    ),
)

FLUSH: tuple[Mutant, ...] = (
    Mutant(
        "flush-keeps-key-identified",
        "flush",
        "flow_flush",
        "flow_flush removes only UFID-identified flows",
        "ofproto/ofproto-dpif.c and dpctl/del-flows flush at startup and on request: left-over flows forward "
        "with stale actions",
        fixed(_flush_partial(keep_ufid=False)),
        KL,
        ("UFID-DUMP-008", "UFID-DUMP-009"),
    ),
    Mutant(
        "flush-keeps-ufid-flows",
        "flush",
        "flow_flush",
        "flow_flush removes only key-identified flows",
        "lib/dpif.c dpif_flow_flush (udpif_flush, dpctl/del-flows) must leave nothing behind",
        fixed(_flush_partial(keep_ufid=True)),
        KN,
        ("UFID-DUMP-008", "UFID-DUMP-009"),
    ),
)
