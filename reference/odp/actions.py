"""Datapath actions (``OVS_ACTION_ATTR_*``): netlink bytes <-> dpctl text; no I/O.

* :func:`format_actions` prints netlink action bytes exactly as Open vSwitch
  3.1.0's ``format_odp_actions()`` (lib/odp-util.c) does with no port names:
  ``2,set(ipv4(src=10.0.0.1)),ct(commit,zone=5),recirc(0x1)``, ``drop`` for an
  empty list. Actions it cannot understand print as OVS prints them
  (``bad length 3, expected 4 for: action1(01 02 03)``, ``ct(error)``, ...);
  only broken netlink framing raises :class:`~reference.errors.OdpDecodeError`.
* :func:`parse_actions` parses that text back (``odp_actions_from_string()``):
  ``drop`` alone gives the explicit ``OVS_ACTION_ATTR_DROP`` attribute, an
  empty string gives the empty list. Errors raise
  :class:`~reference.errors.OdpSyntaxError` with the column.
* :func:`validate_actions` is the strict structural check a datapath applies
  before accepting actions (lengths, required nested attributes, nesting).

Attribute numbers are those of :mod:`reference.uapi` (Linux UAPI; OVS HEAD's
userspace-only actions after them). OVS 3.1.0's own header numbers the
userspace-only actions differently (TUNNEL_PUSH 23, TUNNEL_POP 24, DROP 25,
LB_OUTPUT 26) and has no DEC_TTL/PSAMPLE; only the text is compared with it,
and for DEC_TTL and PSAMPLE the printed form is OVS HEAD's. Port names are
out of scope: ports are numbers.

Deliberate differences from OVS's parser (documented in the tests):

* Numbers out of range for their field, and negative numbers, are errors;
  OVS silently keeps the low bits.
* Accepted although OVS 3.1.0 rejects them, so that every form
  :func:`format_actions` prints parses back: ``hash(l4(N))``,
  ``hash(sym_l4(N))``, ``push_mpls(...)``, ``pop_mpls(eth_type=...)``,
  ``push_eth(src=...,dst=...)``, ``pop_eth`` (OVS has no parser for these, or
  an unreachable one), ``recirc(0x..)`` in hex (OVS scans ``%u`` but prints
  ``%#x``; without ``0x`` the number is decimal, as in OVS), ``drop`` as the whole list inside ``clone(...)``,
  ``sample(...,actions(...))`` and ``dec_ttl(le_1(...))``, and
  ``dec_ttl(le_1(...))`` itself, and slow_path reasons separated by ``,``
  (OVS prints ``slow_path(cfm,lacp)`` but parses only ``slow_path(cfm|lacp)``).
* ``tnl_push(...)`` (userspace tunnel push) is handled in
  :mod:`reference.odp._tnl_push`, which lists its own differences.
* ``push_nsh(...)``: a payload that OVS's ``odp_nsh_hdr_from_attr()``
  rejects prints as generic ``action17(..)`` hex (OVS prints a half-filled
  header there). ``set(nsh(...))`` is rejected when parsing, as OVS 3.1.0
  rejects it; a masked NSH set prints as ``format_odp_set_nsh()`` does.
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Callable

from reference._netlink import iter_attrs, pack_attr
from reference.errors import OdpDecodeError, OdpSyntaxError
from reference.odp._tnl_push import format_tnl_push, parse_tnl_push
from reference.uapi import (
    ActionAttr,
    CheckPktLenAttr,
    CtAttr,
    DecTtlAttr,
    HashAlg,
    KeyAttr,
    NatAttr,
    NshKeyAttr,
    PsampleAttr,
    SampleAttr,
    UserspaceAttr,
)

__all__ = [
    "MAX_NESTING",
    "USER_COOKIE_SIZE",
    "format_actions",
    "parse_actions",
    "validate_actions",
]

# lib/odp-util.c MAX_ODP_NESTED: parse_odp_action() refuses deeper nesting.
MAX_NESTING = 32
# sizeof(struct user_action_cookie) (lib/odp-util.h BUILD_ASSERT_DECL).
USER_COOKIE_SIZE = 48
# sizeof(struct ovs_key_ipv6): larger masked sets are printed unmasked (format_odp_action).
_MAX_MASKED_SET = 40
_U32_MAX = 0xFFFFFFFF
_NSH_M_TYPE1, _NSH_M_TYPE2 = 1, 2
_NSH_HDR_MAX_LEN = 252
_ODPP_NONE = _U32_MAX
_OFPP_NONE = 0xFFFF  # ofp_port_t is 32 bits, OFPP_NONE is 0xffff
_VLAN_CFI = 0x1000
_ETH_TYPE_VLAN = 0x8100
_ETH_TYPE_VLAN_8021AD = 0x88A8
_DELIMITERS = ", \t\r\n"
_DELIMITERS_END = ", \t\r\n)"
_SPACES = " \t\n\v\f\r"  # C isspace()
# recirc(): OVS scans %u (decimal, so "010" is ten) but prints %#x; we also read the 0x form.
_DEC_OR_HEX = -10

_VARIABLE = -2  # ATTR_LEN_VARIABLE
_INVALID = -1  # ATTR_LEN_INVALID

# odp_action_len(): payload size of each action, or variable.
_ACTION_LEN: dict[int, int] = {
    ActionAttr.OUTPUT: 4,
    ActionAttr.USERSPACE: _VARIABLE,
    ActionAttr.SET: _VARIABLE,
    ActionAttr.PUSH_VLAN: 4,
    ActionAttr.POP_VLAN: 0,
    ActionAttr.SAMPLE: _VARIABLE,
    ActionAttr.RECIRC: 4,
    ActionAttr.HASH: 8,
    ActionAttr.PUSH_MPLS: 8,
    ActionAttr.POP_MPLS: 2,
    ActionAttr.SET_MASKED: _VARIABLE,
    ActionAttr.CT: _VARIABLE,
    ActionAttr.TRUNC: 4,
    ActionAttr.PUSH_ETH: 12,
    ActionAttr.POP_ETH: 0,
    ActionAttr.CT_CLEAR: 0,
    ActionAttr.PUSH_NSH: _VARIABLE,
    ActionAttr.POP_NSH: 0,
    ActionAttr.METER: 4,
    ActionAttr.CLONE: _VARIABLE,
    ActionAttr.CHECK_PKT_LEN: _VARIABLE,
    ActionAttr.ADD_MPLS: 8,
    ActionAttr.DEC_TTL: _VARIABLE,
    ActionAttr.DROP: 4,
    ActionAttr.PSAMPLE: _VARIABLE,
    ActionAttr.TUNNEL_PUSH: _VARIABLE,
    ActionAttr.TUNNEL_POP: 4,
    ActionAttr.LB_OUTPUT: 4,
}

# Slow-path reasons (lib/odp-util.h SLOW_PATH_REASONS), bit i = 1 << i.
_SLOW_PATH_REASONS = ("cfm", "bfd", "lacp", "stp", "lldp", "action", "match")
_SLOW_PATH_MASK = (1 << len(_SLOW_PATH_REASONS)) - 1

# enum user_action_cookie_type (lib/odp-util.h).
_COOKIE_SFLOW = 1
_COOKIE_SLOW_PATH = 2
_COOKIE_FLOW_SAMPLE = 3
_COOKIE_IPFIX = 4
_COOKIE_CONTROLLER = 5
_COOKIE_UNION = 24  # offset of the cookie's union: u16 type, pad, u32 ofp_in_port, 16-byte uuid

# nl_parse_nested() policies: attribute -> (min_len, max_len, required); NL_A_FLAG
# takes any length, NL_A_STRING must end in its only NUL.
_Policy = dict[int, tuple[int, int, bool]]
_ANY = 1 << 20
_USERSPACE_POLICY: _Policy = {
    UserspaceAttr.PID: (4, 4, True),
    UserspaceAttr.USERDATA: (0, _ANY, False),
    UserspaceAttr.EGRESS_TUN_PORT: (4, 4, False),
    UserspaceAttr.ACTIONS: (0, _ANY, False),
}
_SAMPLE_POLICY: _Policy = {SampleAttr.PROBABILITY: (4, 4, True), SampleAttr.ACTIONS: (0, _ANY, True)}
_CPL_POLICY: _Policy = {
    CheckPktLenAttr.PKT_LEN: (2, 2, True),
    CheckPktLenAttr.ACTIONS_IF_GREATER: (0, _ANY, True),
    CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL: (0, _ANY, True),
}
_CT_POLICY: _Policy = {
    CtAttr.COMMIT: (0, _ANY, False),
    CtAttr.FORCE_COMMIT: (0, _ANY, False),
    CtAttr.ZONE: (2, 2, False),
    CtAttr.MARK: (8, _ANY, False),
    CtAttr.LABELS: (32, _ANY, False),
    CtAttr.HELPER: (1, 16, False),
    CtAttr.NAT: (0, _ANY, False),
    CtAttr.TIMEOUT: (1, 32, False),
}
_CT_STRINGS = (CtAttr.HELPER, CtAttr.TIMEOUT)
_NAT_POLICY: _Policy = {
    NatAttr.SRC: (0, _ANY, False),
    NatAttr.DST: (0, _ANY, False),
    NatAttr.IP_MIN: (4, 16, False),
    NatAttr.IP_MAX: (4, 16, False),
    NatAttr.PROTO_MIN: (2, 2, False),
    NatAttr.PROTO_MAX: (2, 2, False),
    NatAttr.PERSISTENT: (0, _ANY, False),
    NatAttr.PROTO_HASH: (0, _ANY, False),
    NatAttr.PROTO_RANDOM: (0, _ANY, False),
}


# --------------------------------------------------------------------------------------------
# Formatting (bytes -> text)
# --------------------------------------------------------------------------------------------


def format_actions(data: bytes) -> str:
    """Print netlink action bytes as OVS's ``format_odp_actions()`` does (``drop`` when empty).

    Raises :class:`OdpDecodeError` only when the netlink framing itself is
    broken (truncated attribute, length that lies) or nesting exceeds
    :data:`MAX_NESTING`; check semantics with :func:`validate_actions`.
    """
    return _format_list(bytes(data), 0, "actions")


def _format_list(data: bytes, depth: int, where: str) -> str:
    if depth > MAX_NESTING:
        raise OdpDecodeError(f"actions nested deeper than {MAX_NESTING} levels", where=where)
    if not data:
        return "drop"
    return ",".join(_format_action(t, p, depth, where) for t, p, _ in iter_attrs(data, where=where))


def _generic(attr_type: int, payload: bytes) -> str:
    # format_generic_odp_action(): "action<N>" and the payload bytes in hex.
    if not payload:
        return f"action{attr_type}"
    return f"action{attr_type}(" + " ".join(f"{b:02x}" for b in payload) + ")"


def _hex(data: bytes) -> str:
    # ds_put_hex(): "0x" and the bytes with leading zero bytes dropped; "0" if all zero.
    stripped = data.lstrip(b"\0")
    if not stripped:
        return "0"
    return f"0x{stripped[0]:x}" + stripped[1:].hex()


def _cx(value: int) -> str:
    """C's ``%#x``: ``0`` for zero, else ``0x...``."""
    return f"{value:#x}" if value else "0"


def _mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def _u16(data: bytes) -> int:
    return int(struct.unpack("=H", data[:2])[0])


def _u32(data: bytes) -> int:
    return int(struct.unpack("=I", data[:4])[0])


def _nested(payload: bytes, policy: _Policy) -> dict[int, bytes] | None:
    """OVS ``nl_parse_nested()``: last duplicate wins, unknown types ignored; None on any violation."""
    found: dict[int, bytes] = {}
    try:
        attrs = list(iter_attrs(payload))
    except OdpDecodeError:
        return None
    for attr_type, value, _ in attrs:
        rule = policy.get(attr_type)
        if rule is None:
            continue
        lo, hi, _required = rule
        if not lo <= len(value) <= hi:
            return None
        found[attr_type] = value
    if any(required and t not in found for t, (_, _, required) in policy.items()):
        return None
    return found


def _ct_string(value: bytes) -> str | None:
    # NL_A_STRING: NUL-terminated, no embedded NUL.
    if not value or value[-1] != 0 or 0 in value[:-1]:
        return None
    return value[:-1].decode("latin-1")


def _format_action(attr_type: int, payload: bytes, depth: int, where: str) -> str:
    expected = _ACTION_LEN.get(attr_type, _INVALID)
    if expected != _VARIABLE and len(payload) != expected:
        return f"bad length {len(payload)}, expected {expected} for: {_generic(attr_type, payload)}"
    here = f"{where}/{_action_name(attr_type)}"
    formatter = _FORMATTERS.get(attr_type)
    if formatter is None:
        return _generic(attr_type, payload)
    return formatter(payload, depth, here)


def _action_name(attr_type: int) -> str:
    try:
        return ActionAttr(attr_type).name.lower()
    except ValueError:
        return f"action{attr_type}"


def _fmt_userspace(payload: bytes, depth: int, where: str) -> str:
    a = _nested(payload, _USERSPACE_POLICY)
    if a is None:
        return "userspace(error)"
    out = [f"userspace(pid={_u32(a[UserspaceAttr.PID])}"]
    userdata = a.get(UserspaceAttr.USERDATA)
    if userdata is not None:
        cookie = _format_cookie(userdata) if len(userdata) == USER_COOKIE_SIZE else None
        out.append(cookie if cookie is not None else f",userdata({userdata.hex()})")
    if UserspaceAttr.ACTIONS in a:
        out.append(",actions")
    tun = a.get(UserspaceAttr.EGRESS_TUN_PORT)
    if tun is not None:
        out.append(f",tunnel_out_port={_u32(tun)}")
    return "".join(out) + ")"


def _format_flags(flags: int) -> str:
    # format_flags() with ',' as delimiter: names of known bits, then unknown bits in hex.
    if not flags:
        return "0"
    names = [name for i, name in enumerate(_SLOW_PATH_REASONS) if flags & (1 << i)]
    bad = flags & ~_SLOW_PATH_MASK
    if bad:
        names.append(f"0x{bad:x}")
    return ",".join(names)


def _format_cookie(data: bytes) -> str | None:
    """The ``struct user_action_cookie`` forms of format_odp_userspace_action(); None = print as hex."""
    kind = _u16(data)
    u = data[_COOKIE_UNION:]
    if kind == _COOKIE_SFLOW:
        tci = int.from_bytes(u[0:2], "big")
        return f",sFlow(vid={tci & 0xFFF},pcp={tci >> 13},output={_u32(u[4:8])})"
    if kind == _COOKIE_SLOW_PATH:
        return f",slow_path({_format_flags(_u32(u[4:8]))})"
    if kind == _COOKIE_FLOW_SAMPLE:
        prob, coll, dom, point, port, direction = struct.unpack("=H2xIIIII", u[:24])
        text = (
            f",flow_sample(probability={prob},collector_set_id={coll},obs_domain_id={dom},"
            f"obs_point_id={point},output_port={port}"
        )
        text += {1: ",ingress", 2: ",egress"}.get(direction, "")
        return text + ")"
    if kind == _COOKIE_IPFIX:
        return f",ipfix(output_port={_u32(u[0:4])})"
    if kind == _COOKIE_CONTROLLER:
        dont_send, continuation, reason, recirc_id = struct.unpack("=BBHI", u[:8])
        rule_cookie = int.from_bytes(u[8:16], "big")
        controller_id, max_len = struct.unpack("=HH", u[16:20])
        return (
            f",controller(reason={reason},dont_send={int(bool(dont_send))},continuation={int(bool(continuation))},"
            f"recirc_id={recirc_id},rule_cookie={_cx(rule_cookie)},controller_id={controller_id},max_len={max_len})"
        )
    return None


def _fmt_set(payload: bytes, depth: int, where: str) -> str:
    from reference.odp.flowtext import format_key_attr

    key_type, key_payload = _single_key_attr(payload, where)
    return "set(" + format_key_attr(key_type, key_payload, None, verbose=True) + ")"


def _fmt_set_masked(payload: bytes, depth: int, where: str) -> str:
    from reference.odp.flowtext import format_key_attr

    key_type, both = _single_key_attr(payload, where)
    if key_type == KeyAttr.NSH:
        return _format_set_nsh(both)
    size = len(both) // 2
    if size <= _MAX_MASKED_SET:
        text = format_key_attr(key_type, both[:size], both[size : 2 * size], verbose=False)
    else:
        text = format_key_attr(key_type, both, None, verbose=False)
    return "set(" + text + ")"


# ovs_nsh_key_attr_lens for the types format_odp_set_nsh() accepts (MD2 and above end it).
_SET_NSH_LENS: dict[int, int] = {NshKeyAttr.UNSPEC: 0, NshKeyAttr.BASE: 8, NshKeyAttr.MD1: 16}


def _format_set_nsh(nested: bytes) -> str:
    """format_odp_set_nsh(): nested NSH key attributes, each value followed by its mask.

    Like OVS, an attribute of the wrong size or of type MD2 or above makes the
    whole action print as nothing at all.
    """
    key = bytearray(24)  # ovs_key_nsh: flags, ttl, mdtype, np, be32 path_hdr, be32 context[4]
    mask = bytearray(b"\xff" * 24)
    try:
        attrs = list(iter_attrs(nested))
    except OdpDecodeError:
        return ""
    for attr_type, value, _ in attrs:
        expected = _SET_NSH_LENS.get(attr_type)
        if expected is None or len(value) != 2 * expected:
            return ""
        if attr_type == NshKeyAttr.BASE:
            key[0:8], mask[0:8] = value[:8], value[8:]
        elif attr_type == NshKeyAttr.MD1:
            key[8:24], mask[8:24] = value[:16], value[16:]
    parts: list[str] = []

    def u8(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}={v}" if m == 0xFF else f"{name}=0x{v:02x}/0x{m:02x}")

    def be32(name: str, v: int, m: int) -> None:
        if m:
            parts.append(f"{name}=0x{v:x}" if m == _U32_MAX else f"{name}=0x{v:x}/0x{m:08x}")

    path, path_mask = int.from_bytes(key[4:8], "big"), int.from_bytes(mask[4:8], "big")
    spi_mask = path_mask >> 8
    for i, name in enumerate(("flags", "ttl", "mdtype", "np")):
        u8(name, key[i], mask[i])
    be32("spi", path >> 8, _U32_MAX if spi_mask == 0xFFFFFF else spi_mask)
    u8("si", path & 0xFF, path_mask & 0xFF)
    for i in range(4):
        be32(
            f"c{i + 1}",
            int.from_bytes(key[8 + 4 * i : 12 + 4 * i], "big"),
            int.from_bytes(mask[8 + 4 * i : 12 + 4 * i], "big"),
        )
    return "set(nsh(" + ",".join(parts) + "))"


def _single_key_attr(payload: bytes, where: str) -> tuple[int, bytes]:
    # OVS reads the first nested attribute without checking; we require one to exist.
    attrs = list(iter_attrs(payload, where=where))
    if not attrs:
        raise OdpDecodeError("set action without a key attribute", where=where)
    return attrs[0][0], attrs[0][1]


def _fmt_sample(payload: bytes, depth: int, where: str) -> str:
    a = _nested(payload, _SAMPLE_POLICY)
    if a is None:
        return "sample(error)"
    percentage = 100.0 * _u32(a[SampleAttr.PROBABILITY]) / _U32_MAX
    inner = _format_list(a[SampleAttr.ACTIONS], depth + 1, where)
    return f"sample(sample={percentage:.1f}%,actions({inner}))"


def _fmt_hash(payload: bytes, depth: int, where: str) -> str:
    alg, basis = struct.unpack("=II", payload)
    if alg == HashAlg.L4:
        return f"hash(l4({basis}))"
    if alg == HashAlg.SYM_L4:
        return f"hash(sym_l4({basis}))"
    return f"hash(Unknown hash algorithm({alg}))"


def _lse(lse: int) -> str:
    return f"label={lse >> 12},tc={(lse >> 9) & 7},ttl={lse & 0xFF},bos={(lse >> 8) & 1}"


def _fmt_push_mpls(payload: bytes, depth: int, where: str) -> str:
    lse, eth_type = struct.unpack("!IH", payload[:6])
    return f"push_mpls({_lse(lse)},eth_type=0x{eth_type:x})"


def _fmt_add_mpls(payload: bytes, depth: int, where: str) -> str:
    lse, eth_type = struct.unpack("!IH", payload[:6])
    return f"add_mpls({_lse(lse)},eth_type=0x{eth_type:x})"


def _fmt_push_vlan(payload: bytes, depth: int, where: str) -> str:
    tpid, tci = struct.unpack("!HH", payload)
    # format_vlan_tci() with an exact mask and verbose=false: vid and pcp always, cfi only when clear.
    parts = [] if tpid == _ETH_TYPE_VLAN else [f"tpid=0x{tpid:04x}"]
    parts += [f"vid={tci & 0xFFF}", f"pcp={tci >> 13}"]
    if not tci & _VLAN_CFI:
        parts.append("cfi=0")
    return "push_vlan(" + ",".join(parts) + ")"


def _fmt_ct(payload: bytes, depth: int, where: str) -> str:
    a = _nested(payload, _CT_POLICY)
    if a is None:
        return "ct(error)"
    strings: dict[int, str] = {}
    for attr in _CT_STRINGS:
        if attr in a:
            text = _ct_string(a[attr])
            if text is None:
                return "ct(error)"
            strings[attr] = text
    parts: list[str] = []
    if CtAttr.COMMIT in a:
        parts.append("commit")
    if CtAttr.FORCE_COMMIT in a:
        parts.append("force_commit")
    zone = _u16(a[CtAttr.ZONE]) if CtAttr.ZONE in a else 0
    if zone:
        parts.append(f"zone={zone}")
    if CtAttr.MARK in a:
        value, mask = struct.unpack("=II", a[CtAttr.MARK][:8])
        parts.append(f"mark={_cx(value)}/{_cx(mask)}")
    if CtAttr.LABELS in a:
        label = a[CtAttr.LABELS]
        # format_u128(verbose=true): value in hex, "/mask" unless all ones; host-order u128 printed big-endian.
        text = "label=" + _hex(label[15::-1])
        mask = label[16:32]
        if mask != b"\xff" * 16:
            text += "/" + _hex(mask[::-1])
        parts.append(text)
    if CtAttr.HELPER in strings:
        parts.append(f"helper={strings[CtAttr.HELPER]}")
    if CtAttr.TIMEOUT in strings:
        parts.append(f"timeout={strings[CtAttr.TIMEOUT]}")
    if CtAttr.NAT in a:
        parts.append(_format_nat(a[CtAttr.NAT]))
    if not parts:
        return "ct"
    return "ct(" + ",".join(parts) + ")"


def _ip6(data: bytes, bracket: bool) -> str:
    text = socket.inet_ntop(socket.AF_INET6, data)
    return f"[{text}]" if bracket else text


def _format_nat(payload: bytes) -> str:
    """format_odp_ct_nat(), including its error texts."""
    a = _nested(payload, _NAT_POLICY)
    if a is None:
        return "nat(error: nl_parse_nested() failed.)"
    src, dst = NatAttr.SRC in a, NatAttr.DST in a
    options = (
        NatAttr.IP_MIN,
        NatAttr.IP_MAX,
        NatAttr.PROTO_MIN,
        NatAttr.PROTO_MAX,
        NatAttr.PERSISTENT,
        NatAttr.PROTO_HASH,
        NatAttr.PROTO_RANDOM,
    )
    if not (src or dst) and any(o in a for o in options):
        return 'nat(error: options allowed only with "src" or "dst")'
    if src and dst:
        return 'nat(error: Only one of "src" or "dst" may be present.)'
    if NatAttr.IP_MIN not in a and NatAttr.PROTO_MIN in a:
        return "nat(error: proto but no IP.)"
    if (NatAttr.IP_MIN not in a and NatAttr.IP_MAX in a) or (NatAttr.PROTO_MIN not in a and NatAttr.PROTO_MAX in a):
        return "nat(error: range max without min.)"
    ip_min_raw = a.get(NatAttr.IP_MIN)
    ip_max_raw = a.get(NatAttr.IP_MAX)
    if ip_min_raw is not None and (
        len(ip_min_raw) not in (4, 16) or (ip_max_raw is not None and len(ip_max_raw) != len(ip_min_raw))
    ):
        return "nat(error: IP address sizes do not match)"
    addr_len = len(ip_min_raw) if ip_min_raw is not None else 0
    ip_min = ip_min_raw or b""
    ip_max = ip_max_raw if ip_max_raw is not None else b"\0" * addr_len
    proto_min = _u16(a[NatAttr.PROTO_MIN]) if NatAttr.PROTO_MIN in a else 0
    proto_max = _u16(a[NatAttr.PROTO_MAX]) if NatAttr.PROTO_MAX in a else 0
    max_set = addr_len and any(ip_max)
    if (max_set and ip_min > ip_max) or (proto_max and proto_min > proto_max):
        return "nat(range error)"
    if not (src or dst):
        return "nat"
    text = "nat(" + ("src" if src else "dst")
    if addr_len:
        text += "="
        if addr_len == 4:
            text += socket.inet_ntoa(ip_min)
            if max_set and ip_max != ip_min:
                text += "-" + socket.inet_ntoa(ip_max)
        else:
            text += _ip6(ip_min, bool(proto_min))
            if max_set and ip_max != ip_min:
                text += "-" + _ip6(ip_max, bool(proto_min))
        if proto_min:
            text += f":{proto_min}"
            if proto_max and proto_max != proto_min:
                text += f"-{proto_max}"
    text += ","
    for attr, word in (
        (NatAttr.PERSISTENT, "persistent"),
        (NatAttr.PROTO_HASH, "hash"),
        (NatAttr.PROTO_RANDOM, "random"),
    ):
        if attr in a:
            text += word + ","
    return text.removesuffix(",") + ")"  # ds_chomp(ds, ',') removes one comma


def _fmt_clone(payload: bytes, depth: int, where: str) -> str:
    return "clone(" + _format_list(payload, depth + 1, where) + ")"


def _fmt_check_pkt_len(payload: bytes, depth: int, where: str) -> str:
    a = _nested(payload, _CPL_POLICY)
    if a is None:
        return "check_pkt_len(error)"
    gt = _format_list(a[CheckPktLenAttr.ACTIONS_IF_GREATER], depth + 1, where)
    le = _format_list(a[CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL], depth + 1, where)
    return f"check_pkt_len(size={_u16(a[CheckPktLenAttr.PKT_LEN])},gt({gt}),le({le}))"


def _fmt_dec_ttl(payload: bytes, depth: int, where: str) -> str:
    # OVS HEAD format_dec_ttl_action(): the first ACTION attribute's list.
    inner = ""
    for attr_type, value, _ in iter_attrs(payload, where=where):
        if attr_type == DecTtlAttr.ACTION:
            inner = _format_list(value, depth + 1, where)
            break
    return f"dec_ttl(le_1({inner}))"


def _fmt_psample(payload: bytes, depth: int, where: str) -> str:
    # OVS HEAD format_odp_psample_action().
    text = "psample("
    for attr_type, value, _ in iter_attrs(payload, where=where):
        if attr_type == PsampleAttr.GROUP and len(value) >= 4:
            text += f"group={_u32(value)},"
        elif attr_type == PsampleAttr.COOKIE:
            text += "cookie=" + _hex(value)
    return text.rstrip(",") + ")"


def _fmt_push_nsh(payload: bytes, depth: int, where: str) -> str:
    """format_odp_push_nsh_action() after odp_nsh_hdr_from_attr() (payload: one nested OVS_KEY_ATTR_NSH)."""
    nsh = _nsh_header(payload)
    if nsh is None:
        # OVS prints from a half-filled header here (undefined for md type 2); we print the bytes.
        return _generic(ActionAttr.PUSH_NSH, payload)
    flags, ttl, mdtype, np, path_hdr, md = nsh
    text = f"push_nsh(flags={flags},ttl={ttl},mdtype={mdtype},np={np},spi=0x{path_hdr >> 8:x},si={path_hdr & 0xFF}"
    if mdtype == _NSH_M_TYPE1:
        context = md.ljust(16, b"\0")
        text += "".join(f",c{i + 1}=0x{int.from_bytes(context[4 * i : 4 * i + 4], 'big'):x}" for i in range(4))
    elif mdtype == _NSH_M_TYPE2:
        text += ",md2=" + _hex(md)
    else:
        text += ",<error: unknown mdtype>"
    return text + ")"


def _nsh_header(payload: bytes) -> tuple[int, int, int, int, int, bytes] | None:
    """(flags, ttl, mdtype, np, path_hdr, metadata) as the NSH header OVS builds, or None if it reports an error."""
    attrs = list(iter_attrs(payload))
    if not attrs:
        return None
    flags, ttl, mdtype, np, path_hdr = 0, 63, 0, 0, 0
    md = b""
    has_md1 = has_md2 = False
    for attr_type, value, _ in iter_attrs(attrs[0][1]):
        if attr_type == NshKeyAttr.BASE and len(value) == 8:
            flags, ttl, mdtype, np = value[0], value[1], value[2], value[3]
            path_hdr = int.from_bytes(value[4:8], "big")
        elif attr_type == NshKeyAttr.MD1 and len(value) == 16:
            md, has_md1 = value, True
        elif attr_type == NshKeyAttr.MD2 and len(value) + 8 <= _NSH_HDR_MAX_LEN:
            md, has_md2 = value, True
        else:
            return None  # wrong length or unknown attribute: ODP_FIT_ERROR / ODP_FIT_TOO_MUCH
    if (has_md1 and mdtype != _NSH_M_TYPE1) or (has_md2 and mdtype != _NSH_M_TYPE2):
        return None
    # nsh_set_flags_ttl_len(): 2 flag bits, 6 TTL bits, length in 4-byte words.
    md = md[: (((8 + len(md)) >> 2) & 0x3F) * 4 - 8]
    return flags & 0x3, ttl & 0x3F, mdtype, np, path_hdr, md


def _fmt_tnl_push(payload: bytes, depth: int, where: str) -> str:
    text = format_tnl_push(payload)
    # OVS reads the header without bounds checks; a payload too short for it prints as hex here.
    return text if text is not None else _generic(ActionAttr.TUNNEL_PUSH, payload)


def _fixed(fmt: Callable[[bytes], str]) -> Callable[[bytes, int, str], str]:
    return lambda payload, depth, where: fmt(payload)


_FORMATTERS: dict[int, Callable[[bytes, int, str], str]] = {
    ActionAttr.OUTPUT: _fixed(lambda p: str(_u32(p))),
    ActionAttr.USERSPACE: _fmt_userspace,
    ActionAttr.SET: _fmt_set,
    ActionAttr.PUSH_VLAN: _fmt_push_vlan,
    ActionAttr.POP_VLAN: _fixed(lambda p: "pop_vlan"),
    ActionAttr.SAMPLE: _fmt_sample,
    ActionAttr.RECIRC: _fixed(lambda p: f"recirc({_cx(_u32(p))})"),
    ActionAttr.HASH: _fmt_hash,
    ActionAttr.PUSH_MPLS: _fmt_push_mpls,
    ActionAttr.POP_MPLS: _fixed(lambda p: f"pop_mpls(eth_type=0x{int.from_bytes(p, 'big'):x})"),
    ActionAttr.SET_MASKED: _fmt_set_masked,
    ActionAttr.CT: _fmt_ct,
    ActionAttr.TRUNC: _fixed(lambda p: f"trunc({_u32(p)})"),
    ActionAttr.PUSH_ETH: _fixed(lambda p: f"push_eth(src={_mac(p[0:6])},dst={_mac(p[6:12])})"),
    ActionAttr.POP_ETH: _fixed(lambda p: "pop_eth"),
    ActionAttr.CT_CLEAR: _fixed(lambda p: "ct_clear"),
    ActionAttr.PUSH_NSH: _fmt_push_nsh,
    ActionAttr.POP_NSH: _fixed(lambda p: "pop_nsh()"),
    ActionAttr.METER: _fixed(lambda p: f"meter({_u32(p)})"),
    ActionAttr.CLONE: _fmt_clone,
    ActionAttr.CHECK_PKT_LEN: _fmt_check_pkt_len,
    ActionAttr.ADD_MPLS: _fmt_add_mpls,
    ActionAttr.DEC_TTL: _fmt_dec_ttl,
    ActionAttr.DROP: _fixed(lambda p: "drop"),
    ActionAttr.PSAMPLE: _fmt_psample,
    ActionAttr.TUNNEL_PUSH: _fmt_tnl_push,
    ActionAttr.TUNNEL_POP: _fixed(lambda p: f"tnl_pop({_u32(p)})"),
    ActionAttr.LB_OUTPUT: _fixed(lambda p: f"lb_output({_u32(p)})"),
}


# --------------------------------------------------------------------------------------------
# Parsing (text -> bytes)
# --------------------------------------------------------------------------------------------


class _NoMatch(Exception):
    """An alternative did not match; the caller tries the next one (like a failed ovs_scan())."""


class _Scanner:
    """Cursor over the action text with ``ovs_scan()``-like primitives (lib/util.c)."""

    __slots__ = ("depth", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- errors ------------------------------------------------------------------------------
    def error(self, message: str, column: int | None = None) -> OdpSyntaxError:
        return OdpSyntaxError(message, text=self.text, column=self.pos if column is None else column)

    # -- literals ----------------------------------------------------------------------------
    def at(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def need(self, literal: str) -> None:
        """Literal inside an ovs_scan() pattern: a mismatch means the pattern does not match."""
        if not self.take(literal):
            raise _NoMatch

    def expect(self, literal: str, what: str) -> None:
        """Literal after a committed prefix: a mismatch is a syntax error."""
        if not self.take(literal):
            raise self.error(f"expected {literal!r} {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        n = len(self.text)
        while self.pos < n and self.text[self.pos] in chars:
            self.pos += 1

    # -- conversions -------------------------------------------------------------------------
    def raw_integer(self, base: int = 0) -> tuple[int, int]:
        """``%i``/``%u``/``%x`` without range checks: ``(signed value, start column)``.

        Spaces, sign, ``0x`` (bases 0 and 16), leading ``0`` = octal (base 0),
        as ``scan_int()`` in lib/util.c; no digits raises :class:`_NoMatch`.
        """
        self.skip(_SPACES)
        start = self.pos
        text = self.text
        pos = self.pos
        negative = pos < len(text) and text[pos] == "-"
        if pos < len(text) and text[pos] in "+-":
            pos += 1
        if base in (0, 16, _DEC_OR_HEX) and text.startswith(("0x", "0X"), pos):
            base = 16
            pos += 2
        elif base == 0:
            base = 8 if text.startswith("0", pos) else 10
        elif base == _DEC_OR_HEX:
            base = 10
        digits_start = pos
        while pos < len(text) and _hexit(text[pos]) < base:
            pos += 1
        if pos == digits_start:
            raise _NoMatch
        value = int(text[digits_start:pos], base)
        self.pos = pos
        return (-value if negative else value), start

    def check(self, value: int, start: int, bits: int, what: str) -> int:
        """Range check after a whole pattern matched (OVS would keep the low bits instead)."""
        if value < 0:
            raise self.error(f"{what} must not be negative", start)
        if value >> bits:
            raise self.error(f"{what} {value} is out of range (at most {bits} bits)", start)
        return value

    def integer(self, bits: int, base: int = 0, what: str = "number") -> int:
        value, start = self.raw_integer(base)
        return self.check(value, start, bits, what)

    def floating(self) -> float:
        """``%lf`` as ovs_scan() reads it: [sign] digits [. digits] [e [sign] digits]."""
        self.skip(_SPACES)
        start = pos = self.pos
        text = self.text
        if pos < len(text) and text[pos] in "+-":
            pos += 1
        while pos < len(text) and text[pos].isdigit() and text[pos].isascii():
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            while pos < len(text) and text[pos].isdigit() and text[pos].isascii():
                pos += 1
        if pos < len(text) and text[pos] in "eE":
            pos += 1
            if pos < len(text) and text[pos] in "+-":
                pos += 1
            while pos < len(text) and text[pos].isdigit() and text[pos].isascii():
                pos += 1
        chunk = text[start:pos]
        if chunk == "":
            value = 0.0  # strtold("") converts nothing and leaves the tail at the (empty) end
        else:
            try:
                value = float(chunk)
            except ValueError:
                raise _NoMatch from None
        self.pos = pos
        return value

    def _octets(self, count: int, separator: str, base: int, what: str) -> bytes:
        raw = []
        for i in range(count):
            if i:
                self.need(separator)
            raw.append(self.raw_integer(base))
        # Only a complete match is range-checked, so "300::1" can still be tried as IPv6.
        return bytes(self.check(value, start, 8, what) for value, start in raw)

    def mac(self) -> bytes:
        return self._octets(6, ":", 16, "Ethernet address byte")

    def ipv4(self) -> bytes:
        return self._octets(4, ".", 10, "IPv4 address byte")

    def attempt(self, pattern: Callable[[], bytes]) -> bytes | None:
        """Run ``pattern``; on :class:`_NoMatch` restore the position and return None."""
        saved = self.pos
        try:
            return pattern()
        except _NoMatch:
            self.pos = saved
            return None


def _hexit(ch: str) -> int:
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "a" <= ch <= "f":
        return ord(ch) - 87
    if "A" <= ch <= "F":
        return ord(ch) - 55
    return 99


def parse_actions(text: str) -> bytes:
    """Parse dpctl action text into netlink bytes (``odp_actions_from_string()``).

    ``drop`` (the whole text, any case) is the explicit ``OVS_ACTION_ATTR_DROP``
    with reason 0 (XLATE_OK); an empty text is the empty list. Actions are
    separated by any run of ``,`` and white space. Raises
    :class:`OdpSyntaxError` naming the column of the problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_actions() takes str, not {type(text).__name__}")
    if text.lower() == "drop":
        return pack_attr(ActionAttr.DROP, struct.pack("=I", 0))
    scan = _Scanner(text)
    out: list[bytes] = []
    while True:
        scan.skip(_DELIMITERS)
        if scan.pos >= len(text):
            return b"".join(out)
        out.append(_parse_action(scan))
        if scan.peek() not in _DELIMITERS:  # "" (end of text) is in every string
            raise scan.error("expected ',' or end of actions after an action")


def _parse_list(scan: _Scanner, *, allow_drop: bool = True) -> bytes:
    """``parse_action_list()``: actions up to (not including) the closing ')'."""
    if allow_drop and scan.text[scan.pos : scan.pos + 5].lower() == "drop)":
        scan.pos += 4  # our extension: "drop" as the whole nested list, as format_actions prints it
        return b""
    out: list[bytes] = []
    while True:
        scan.skip(_DELIMITERS)
        if scan.peek() == ")":
            return b"".join(out)
        if scan.peek() == "":
            raise scan.error("unterminated action list: expected ')'")
        out.append(_parse_action(scan))


def _parse_action(scan: _Scanner) -> bytes:
    scan.depth += 1
    try:
        if scan.depth >= MAX_NESTING:
            raise scan.error(f"actions nested deeper than {MAX_NESTING} levels")
        start = scan.pos
        for parser in _PARSERS:
            try:
                return parser(scan)
            except _NoMatch:
                scan.pos = start
            except OverflowError:
                raise scan.error("action too large for a netlink attribute", start) from None
        word = scan.text[start:].split("(", 1)[0]
        for ch in _DELIMITERS:
            word = word.split(ch, 1)[0]
        if word.lower() == "drop":
            raise scan.error("'drop' must be the whole action list", start)
        if word and not word[0].isdigit() and word.isidentifier() and word not in _KNOWN_WORDS:
            raise scan.error(f"unknown action {word!r} (port names are not supported: use port numbers)", start)
        raise scan.error("cannot parse action", start)
    finally:
        scan.depth -= 1


def _p_output(scan: _Scanner) -> bytes:
    return pack_attr(ActionAttr.OUTPUT, struct.pack("=I", scan.integer(32, 0, "output port")))


def _p_u32_call(name: str, attr: ActionAttr, base: int) -> Callable[[_Scanner], bytes]:
    def parse(scan: _Scanner) -> bytes:
        scan.need(name + "(")
        value = scan.integer(32, base, name)
        scan.need(")")
        return pack_attr(attr, struct.pack("=I", value))

    return parse


def _p_userspace(scan: _Scanner) -> bytes:
    scan.need("userspace(")
    if not scan.take("pid="):
        raise scan.error("expected 'pid=' in userspace()")
    try:
        pid = scan.integer(32, 0, "pid")
    except _NoMatch:
        raise scan.error("expected a number after 'pid='") from None
    userdata = scan.attempt(lambda: _p_cookie(scan))
    if userdata is None:
        userdata = bytes(USER_COOKIE_SIZE)  # OVS puts an all-zero cookie when none is written
    include_actions = scan.take(",actions")
    tunnel_out_port = _ODPP_NONE
    if scan.take(",tunnel_out_port="):
        try:
            tunnel_out_port = scan.integer(32, 0, "tunnel_out_port")
        except _NoMatch:
            raise scan.error("expected a number after 'tunnel_out_port='") from None
    scan.expect(")", "to close userspace()")
    attrs = [pack_attr(UserspaceAttr.PID, struct.pack("=I", pid))]
    # odp_put_userspace_action(): at least 8 bytes of userdata for old kernels.
    attrs.append(pack_attr(UserspaceAttr.USERDATA, userdata.ljust(8, b"\0")))
    if tunnel_out_port != _ODPP_NONE:
        attrs.append(pack_attr(UserspaceAttr.EGRESS_TUN_PORT, struct.pack("=I", tunnel_out_port)))
    if include_actions:
        attrs.append(pack_attr(UserspaceAttr.ACTIONS))
    return pack_attr(ActionAttr.USERSPACE, b"".join(attrs))


def _cookie(kind: int, union: bytes) -> bytes:
    head = struct.pack("=H2xI", kind, _OFPP_NONE) + bytes(16)
    return (head + union).ljust(USER_COOKIE_SIZE, b"\0")


def _p_cookie(scan: _Scanner) -> bytes:
    """The cookie alternatives of parse_odp_userspace_action(), in OVS's order."""

    def sflow() -> bytes:
        scan.need(",sFlow(vid=")
        vid = scan.integer(12, 0, "vid")
        scan.need(",pcp=")
        pcp = scan.integer(3, 0, "pcp")
        scan.need(",output=")
        output = scan.integer(32, 0, "output")
        scan.need(")")
        tci = vid | (pcp << 13)
        if tci:
            tci |= _VLAN_CFI
        return _cookie(_COOKIE_SFLOW, struct.pack("!H", tci) + b"\0\0" + struct.pack("=I", output))

    def slow_path() -> bytes:
        scan.need(",slow_path(")
        reason = _parse_flags(scan)
        scan.expect(")", "to close slow_path()")
        return _cookie(_COOKIE_SLOW_PATH, struct.pack("=4xI", reason))

    def flow_sample() -> bytes:
        scan.need(",flow_sample(probability=")
        values = [scan.integer(32, 0, "probability")]
        for name in ("collector_set_id", "obs_domain_id", "obs_point_id", "output_port"):
            scan.need(f",{name}=")
            values.append(scan.integer(32, 0, name))
        if values[0] > 0xFFFF:
            raise scan.error("probability is out of range (at most 16 bits)")
        direction = 1 if scan.take(",ingress") else 2 if scan.take(",egress") else 0
        scan.expect(")", "to close flow_sample()")
        return _cookie(_COOKIE_FLOW_SAMPLE, struct.pack("=H2xIIIII", *values, direction))

    def ipfix() -> bytes:
        scan.need(",ipfix(output_port=")
        port = scan.integer(32, 0, "output_port")
        scan.need(")")
        return _cookie(_COOKIE_IPFIX, struct.pack("=I", port))

    def controller() -> bytes:
        scan.need(",controller(reason=")
        reason = scan.integer(16, 10, "reason")
        scan.need(",dont_send=")
        dont_send = scan.integer(8, 10, "dont_send")
        scan.need(",continuation=")
        continuation = scan.integer(8, 10, "continuation")
        scan.need(",recirc_id=")
        recirc_id = scan.integer(32, 10, "recirc_id")
        scan.need(",rule_cookie=")
        rule_cookie = scan.integer(64, 16, "rule_cookie")
        scan.need(",controller_id=")
        controller_id = scan.integer(16, 10, "controller_id")
        scan.need(",max_len=")
        max_len = scan.integer(16, 10, "max_len")
        scan.need(")")
        union = struct.pack("=BBHI", bool(dont_send), bool(continuation), reason, recirc_id)
        union += rule_cookie.to_bytes(8, "big") + struct.pack("=HH", controller_id, max_len)
        return _cookie(_COOKIE_CONTROLLER, union)

    def userdata() -> bytes:
        scan.need(",userdata(")
        data = bytearray()
        while True:
            scan.skip(" .\t\r\n")  # ofpbuf_put_hex() skips these between bytes
            pair = scan.text[scan.pos : scan.pos + 2]
            if len(pair) == 2 and _hexit(pair[0]) < 16 and _hexit(pair[1]) < 16:
                data.append(int(pair, 16))
                scan.pos += 2
                continue
            break
        scan.expect(")", "to close userdata() (hex digits come in pairs)")
        return bytes(data)

    for alternative in (sflow, slow_path, flow_sample, ipfix, controller, userdata):
        found = scan.attempt(alternative)
        if found is not None:
            return found
    raise _NoMatch


def _parse_flags(scan: _Scanner) -> int:
    """parse_flags() for slow_path reasons: names or numbers separated by '|', up to ')'."""
    result = 0
    while scan.peek() != ")":
        if scan.peek() == "":
            raise scan.error("unterminated slow_path(")
        start = scan.pos
        try:
            value = scan.integer(64, 0, "slow_path reason")
        except _NoMatch:
            for bit, name in enumerate(_SLOW_PATH_REASONS):
                end = scan.pos + len(name)
                if scan.at(name) and scan.text[end : end + 1] in ("|", ",", ")"):
                    value = 1 << bit
                    scan.pos = end
                    break
            else:
                raise scan.error("unknown slow_path reason", start) from None
        if value & ~_SLOW_PATH_MASK:
            raise scan.error("unknown slow_path reason bits", start)
        result |= value
        # OVS separates with '|' when parsing but prints ',' (format_flags); we accept both.
        if not scan.take("|"):
            scan.take(",")
    return result


def _p_set(scan: _Scanner) -> bytes:
    from reference.odp.flowtext import parse_key_attr

    scan.need("set(")
    if scan.at("nsh("):
        # ovs-vswitchd 3.1.0 answers "parsing actions (Invalid argument)" to any set(nsh(...)); so do we.
        raise scan.error("set(nsh(...)) is not accepted in action text (as in OVS 3.1.0)")
    attr_type, key, mask, end = parse_key_attr(scan.text, scan.pos, with_mask=True)
    scan.pos = end
    scan.expect(")", "to close set()")
    # parse_odp_action__(): a mask of the key's size that is not all ones makes it set_masked.
    if mask is not None and len(mask) == len(key) and mask != b"\xff" * len(mask):
        return pack_attr(ActionAttr.SET_MASKED, pack_attr(attr_type, key + mask))
    return pack_attr(ActionAttr.SET, pack_attr(attr_type, key))


def _p_push_vlan(scan: _Scanner) -> bytes:
    scan.need("push_vlan(")
    tpid = _ETH_TYPE_VLAN
    if scan.take("tpid="):
        tpid = scan.integer(16, 0, "tpid")
        scan.need(",")
    scan.need("vid=")
    vid = scan.integer(12, 0, "vid")
    scan.need(",pcp=")
    pcp = scan.integer(3, 0, "pcp")
    cfi = 1
    if scan.take(",cfi="):
        cfi = scan.integer(32, 0, "cfi")
    scan.need(")")
    tci = vid | (pcp << 13) | (_VLAN_CFI if cfi else 0)
    return pack_attr(ActionAttr.PUSH_VLAN, struct.pack("!HH", tpid, tci))


def _p_push_nsh(scan: _Scanner) -> bytes:
    """parse_odp_push_nsh_action(): key=value fields in any order, defaults of an MD type 1 header."""
    action_start = scan.pos
    scan.need("push_nsh(")
    flags, ttl, mdtype, np, spi, si = 0, 63, _NSH_M_TYPE1, 3, 0, 255  # np 3 = NSH_P_ETHERNET
    context = [0, 0, 0, 0]
    md2 = b""
    while True:
        scan.skip(_DELIMITERS)
        if scan.peek() == ")":
            break
        start = scan.pos
        if scan.take("flags="):
            flags = _committed(scan, lambda: scan.integer(8, 0, "flags"), "flags=")
        elif scan.take("ttl="):
            ttl = _committed(scan, lambda: scan.integer(8, 0, "ttl"), "ttl=")
        elif scan.take("mdtype="):
            mdtype = _committed(scan, lambda: scan.integer(8, 0, "mdtype"), "mdtype=")
            if mdtype not in (_NSH_M_TYPE1, _NSH_M_TYPE2):
                raise scan.error("push_nsh mdtype must be 1 or 2", start)
            md2 = b""
        elif scan.take("np="):
            np = _committed(scan, lambda: scan.integer(8, 0, "np"), "np=")
        elif scan.take("spi=0x"):
            spi = _committed(scan, lambda: scan.integer(24, 16, "spi"), "spi=0x")
        elif scan.take("si="):
            si = _committed(scan, lambda: scan.integer(8, 0, "si"), "si=")
        elif (
            mdtype == _NSH_M_TYPE1
            and scan.text[scan.pos : scan.pos + 1] == "c"
            and scan.text[scan.pos + 1 : scan.pos + 5] in ("1=0x", "2=0x", "3=0x", "4=0x")
        ):
            index = int(scan.text[scan.pos + 1]) - 1
            scan.pos += 5
            context[index] = _committed(scan, lambda: scan.integer(32, 16, "context"), "c=0x")
        elif mdtype == _NSH_M_TYPE2 and scan.take("md2=0x"):
            digits_start = scan.pos
            while scan.pos < len(scan.text) and _hexit(scan.text[scan.pos]) < 16 and scan.pos - digits_start < 511:
                scan.pos += 1
            digits = scan.text[digits_start : scan.pos]
            if not digits:
                raise scan.error("expected hex digits after 'md2=0x'", digits_start)
            raw = bytes.fromhex(digits[: len(digits) // 2 * 2])  # ofpbuf_put_hex() takes whole pairs only
            # OVS checks n/2 <= 244 with n counted from the start of "push_nsh(", not of the digits.
            if (scan.pos - action_start) // 2 > 244:
                raise scan.error(
                    "push_nsh md2 metadata too long (OVS limits push_nsh(...md2=0x<hex> to 489 characters)",
                    digits_start,
                )
            md2 = raw.ljust((len(raw) + 3) // 4 * 4, b"\0")  # padded to 4 bytes
        else:
            raise scan.error("unknown push_nsh field", start)
    scan.pos += 1
    base = struct.pack("!BBBBI", flags, ttl, mdtype, np, spi << 8 | si)
    attrs = pack_attr(NshKeyAttr.BASE, base)
    if mdtype == _NSH_M_TYPE1:
        attrs += pack_attr(NshKeyAttr.MD1, b"".join(c.to_bytes(4, "big") for c in context))
    elif md2:
        attrs += pack_attr(NshKeyAttr.MD2, md2)
    return pack_attr(ActionAttr.PUSH_NSH, pack_attr(KeyAttr.NSH, attrs))


def _p_tnl_push(scan: _Scanner) -> bytes:
    return pack_attr(ActionAttr.TUNNEL_PUSH, parse_tnl_push(scan))


def _p_word(word: str, attr: ActionAttr) -> Callable[[_Scanner], bytes]:
    def parse(scan: _Scanner) -> bytes:
        scan.need(word)
        return pack_attr(attr)

    return parse


def _p_meter(scan: _Scanner) -> bytes:
    scan.need("meter(")
    value = scan.integer(32, 0, "meter")
    scan.need(")")
    return pack_attr(ActionAttr.METER, struct.pack("=I", value))


def _p_sample(scan: _Scanner) -> bytes:
    scan.need("sample(sample=")
    column = scan.pos
    percentage = scan.floating()
    scan.need("%,actions(")
    if not 0.0 <= percentage <= 100.0:
        raise scan.error("sample percentage must be between 0 and 100", column)
    probability = math.floor(_U32_MAX * (percentage / 100.0) + 0.5)
    probability = min(max(probability, 0), _U32_MAX)
    inner = _parse_list(scan)
    scan.expect("))", "to close sample(...,actions(...))")
    body = pack_attr(SampleAttr.PROBABILITY, struct.pack("=I", probability)) + pack_attr(SampleAttr.ACTIONS, inner)
    return pack_attr(ActionAttr.SAMPLE, body)


def _p_clone(scan: _Scanner) -> bytes:
    scan.need("clone(")
    inner = _parse_list(scan)
    scan.expect(")", "to close clone()")
    return pack_attr(ActionAttr.CLONE, inner)


def _p_dec_ttl(scan: _Scanner) -> bytes:
    scan.need("dec_ttl(le_1(")
    inner = _parse_list(scan)
    scan.expect("))", "to close dec_ttl(le_1(...))")
    return pack_attr(ActionAttr.DEC_TTL, pack_attr(DecTtlAttr.ACTION, inner))


def _p_check_pkt_len(scan: _Scanner) -> bytes:
    scan.need("check_pkt_len(size=")
    size = scan.integer(16, 0, "size")
    scan.need(",gt(")
    lists = []
    for closing in ("),le(", "))"):
        if scan.text[scan.pos : scan.pos + 4].lower() == "drop":
            scan.pos += 4
            lists.append(b"")
        else:
            lists.append(_parse_list(scan, allow_drop=False))
        scan.expect(closing, "in check_pkt_len()")
    body = pack_attr(CheckPktLenAttr.PKT_LEN, struct.pack("=H", size))
    body += pack_attr(CheckPktLenAttr.ACTIONS_IF_GREATER, lists[0])
    body += pack_attr(CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL, lists[1])
    return pack_attr(ActionAttr.CHECK_PKT_LEN, body)


def _p_mpls(word: str, attr: ActionAttr) -> Callable[[_Scanner], bytes]:
    def parse(scan: _Scanner) -> bytes:
        scan.need(f"{word}(label=")
        label = scan.integer(20, 0, "label")
        scan.need(",tc=")
        tc = scan.integer(3, 10, "tc")
        scan.need(",ttl=")
        ttl = scan.integer(8, 10, "ttl")
        scan.need(",bos=")
        bos = scan.integer(1, 10, "bos")
        scan.need(",eth_type=0x")
        eth_type = scan.integer(16, 16, "eth_type")
        scan.need(")")
        lse = (label << 12) | (tc << 9) | (bos << 8) | ttl
        return pack_attr(attr, struct.pack("!IH2x", lse, eth_type))

    return parse


def _p_pop_mpls(scan: _Scanner) -> bytes:
    scan.need("pop_mpls(eth_type=0x")
    eth_type = scan.integer(16, 16, "eth_type")
    scan.need(")")
    return pack_attr(ActionAttr.POP_MPLS, struct.pack("!H", eth_type))


def _p_hash(scan: _Scanner) -> bytes:
    scan.need("hash(")
    if scan.take("l4("):
        alg = HashAlg.L4
    else:
        scan.need("sym_l4(")
        alg = HashAlg.SYM_L4
    basis = scan.integer(32, 0, "hash basis")
    scan.need("))")
    return pack_attr(ActionAttr.HASH, struct.pack("=II", alg, basis))


def _p_push_eth(scan: _Scanner) -> bytes:
    scan.need("push_eth(src=")
    src = scan.mac()
    scan.need(",dst=")
    dst = scan.mac()
    scan.need(")")
    return pack_attr(ActionAttr.PUSH_ETH, src + dst)


def _p_ct(scan: _Scanner) -> bytes:
    """parse_conntrack_action(): ``ct`` or ``ct(<options>)``."""
    scan.need("ct")
    commit = force = False
    zone = 0
    mark = (0, 0)
    label = (0, 0)
    helper: str | None = None
    timeout: str | None = None
    nat: bytes | None = None
    if scan.take("("):
        while True:
            end = scan.text.find(")", scan.pos)
            if end < 0:
                raise scan.error("unterminated ct(")
            if scan.pos == end:
                break
            scan.skip(_DELIMITERS)
            option_start = scan.pos
            if scan.take("commit"):
                commit = True
            elif scan.take("force_commit"):
                force = True
            elif scan.at("zone="):
                scan.pos += 5
                zone = _committed(scan, lambda: scan.integer(16, 10, "zone"), "zone=")
            elif scan.at("mark="):
                scan.pos += 5
                value = _committed(scan, lambda: scan.integer(32, 16, "mark"), "mark=")
                mask = _U32_MAX
                if scan.take("/"):
                    mask = _committed(scan, lambda: scan.integer(32, 16, "mark mask"), "mark=.../")
                mark = (value, mask)
            elif scan.take("label="):
                label = _scan_u128(scan)
            elif scan.take("helper="):
                helper = _ct_word(scan, 15, "helper")
            elif scan.take("timeout="):
                timeout = _ct_word(scan, 31, "timeout")
            elif scan.at("nat"):
                nat = _p_nat(scan)
            else:
                raise scan.error("unknown ct option", option_start)
        scan.pos += 1
    if commit and force:
        raise scan.error("ct() takes commit or force_commit, not both")
    attrs: list[bytes] = []
    if commit:
        attrs.append(pack_attr(CtAttr.COMMIT))
    elif force:
        attrs.append(pack_attr(CtAttr.FORCE_COMMIT))
    if zone:
        attrs.append(pack_attr(CtAttr.ZONE, struct.pack("=H", zone)))
    if mark[1]:
        attrs.append(pack_attr(CtAttr.MARK, struct.pack("=II", *mark)))
    if label[1]:
        attrs.append(pack_attr(CtAttr.LABELS, label[0].to_bytes(16, "little") + label[1].to_bytes(16, "little")))
    if helper is not None:
        attrs.append(pack_attr(CtAttr.HELPER, helper.encode("latin-1") + b"\0"))
    if timeout is not None:
        attrs.append(pack_attr(CtAttr.TIMEOUT, timeout.encode("latin-1") + b"\0"))
    if nat is not None:
        attrs.append(nat)
    return pack_attr(ActionAttr.CT, b"".join(attrs))


def _committed(scan: _Scanner, conversion: Callable[[], int], what: str) -> int:
    try:
        return conversion()
    except _NoMatch:
        raise scan.error(f"expected a number after {what!r}") from None


def _ct_word(scan: _Scanner, limit: int, what: str) -> str:
    start = scan.pos
    while scan.pos < len(scan.text) and scan.text[scan.pos] not in _DELIMITERS_END:
        scan.pos += 1
    word = scan.text[start : scan.pos]
    if not word or len(word) > limit:
        raise scan.error(f"{what} name must have 1 to {limit} characters", start)
    try:
        word.encode("latin-1")
    except UnicodeEncodeError:
        raise scan.error(f"{what} name must be ASCII", start) from None
    return word


def _scan_u128(scan: _Scanner) -> tuple[int, int]:
    """scan_u128() with a mask: ``0x`` hex (spaces allowed between digits) or a C integer; ``/mask`` optional."""

    def one() -> int:
        start = scan.pos
        text = scan.text
        if text.startswith(("0x", "0X"), scan.pos):
            scan.pos += 2
            digits = []
            while True:
                scan.skip(" \t\r\n")
                ch = scan.peek()
                if ch and _hexit(ch) < 16:
                    digits.append(ch)
                    scan.pos += 1
                    continue
                break
            value = int("".join(digits), 16) if digits else 0
        else:
            # strtoull(s, &tail, 0): spaces, sign, 0x / octal / decimal.
            saved = scan.pos
            try:
                value = scan.integer(64, 0, "label")
            except _NoMatch:
                scan.pos = saved
                raise scan.error("expected a number after 'label='", start) from None
        if value >> 128:
            raise scan.error("label is out of range (at most 128 bits)", start)
        return value

    value = one()
    mask = (1 << 128) - 1
    if scan.take("/"):
        mask = one()
    return value, mask


def _p_nat(scan: _Scanner) -> bytes:
    """scan_ct_nat() + nl_msg_put_ct_nat()."""
    scan.need("nat")
    snat = dnat = persistent = proto_hash = proto_random = False
    addr_min = addr_max = b""
    proto_min = proto_max = 0
    if scan.take("("):
        end = scan.text.find(")", scan.pos)
        if end < 0:
            raise scan.error("unterminated nat(")
        while scan.pos < end:
            scan.skip(_DELIMITERS)
            option_start = scan.pos
            if scan.take("src"):
                addr_min, addr_max, proto_min, proto_max = _nat_range(scan, addr_min, addr_max, proto_min, proto_max)
                snat = True
            elif scan.take("dst"):
                addr_min, addr_max, proto_min, proto_max = _nat_range(scan, addr_min, addr_max, proto_min, proto_max)
                dnat = True
            elif scan.take("persistent"):
                persistent = True
            elif scan.take("hash"):
                proto_hash = True
            elif scan.take("random"):
                proto_random = True
            else:
                raise scan.error("unknown nat option", option_start)
        if snat and dnat:
            raise scan.error("nat() takes src or dst, not both")
        if addr_min and any(addr_max) and addr_max < addr_min:
            raise scan.error("nat() address range ends before it starts")
        if proto_max and proto_max < proto_min:
            raise scan.error("nat() port range ends before it starts")
        if proto_hash and proto_random:
            raise scan.error("nat() takes hash or random, not both")
        scan.expect(")", "to close nat()")
    attrs: list[bytes] = []
    if snat or dnat:
        attrs.append(pack_attr(NatAttr.SRC if snat else NatAttr.DST))
        if addr_min:
            attrs.append(pack_attr(NatAttr.IP_MIN, addr_min))
            if addr_max > addr_min:
                attrs.append(pack_attr(NatAttr.IP_MAX, addr_max))
            if proto_min:
                attrs.append(pack_attr(NatAttr.PROTO_MIN, struct.pack("=H", proto_min)))
                if proto_max > proto_min:
                    attrs.append(pack_attr(NatAttr.PROTO_MAX, struct.pack("=H", proto_max)))
            # OVS only emits the flags together with an address.
            for flag, attr in (
                (persistent, NatAttr.PERSISTENT),
                (proto_hash, NatAttr.PROTO_HASH),
                (proto_random, NatAttr.PROTO_RANDOM),
            ):
                if flag:
                    attrs.append(pack_attr(attr))
    return pack_attr(CtAttr.NAT, b"".join(attrs))


_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")


def _nat_range(scan: _Scanner, amin: bytes, amax: bytes, pmin: int, pmax: int) -> tuple[bytes, bytes, int, int]:
    """scan_ct_nat_range(): ``=ADDR[-ADDR][:PORT[-PORT]]``; values not written stay as they were."""
    if not scan.take("="):
        return amin, amax, pmin, pmax
    start = scan.pos
    v4 = scan.attempt(scan.ipv4)
    if v4 is not None:
        amin, amax = v4, bytes(4)
        if scan.take("-"):
            hi = scan.attempt(scan.ipv4)
            if hi is None:
                raise scan.error("expected an IPv4 address after '-'")
            amax = hi
    else:
        lo6 = _ipv6(scan)
        if lo6 is None:
            raise scan.error("expected an IPv4 or IPv6 address after '='", start)
        amin, amax = lo6, bytes(16)
        if scan.take("-"):
            hi6 = _ipv6(scan)
            if hi6 is None:
                raise scan.error("expected an IPv6 address after '-'")
            amax = hi6
    if scan.take(":"):
        saved = scan.pos
        try:
            pmin = scan.integer(16, 10, "port")
        except _NoMatch:
            scan.pos = saved - 1  # ovs_scan(":%u") failed as a whole
        else:
            if scan.take("-"):
                pmax = _committed(scan, lambda: scan.integer(16, 10, "port"), "-")
    return amin, amax, pmin, pmax


def _ipv6(scan: _Scanner) -> bytes | None:
    # IPV6_SCAN_FMT is %46[0-9a-fA-F:.], optionally in brackets, then inet_pton().
    saved = scan.pos
    bracket = scan.take("[")
    start = scan.pos
    while scan.pos < len(scan.text) and scan.text[scan.pos] in _IPV6_CHARS and scan.pos - start < 46:
        scan.pos += 1
    word = scan.text[start : scan.pos]
    if word and (not bracket or scan.take("]")):
        try:
            return socket.inet_pton(socket.AF_INET6, word)
        except OSError:
            pass
    scan.pos = saved
    return None


_PARSERS: tuple[Callable[[_Scanner], bytes], ...] = (
    # parse_odp_action__() order; our extensions last.
    _p_output,
    _p_u32_call("lb_output", ActionAttr.LB_OUTPUT, 10),
    _p_u32_call("trunc", ActionAttr.TRUNC, 0),
    _p_u32_call("recirc", ActionAttr.RECIRC, _DEC_OR_HEX),
    _p_userspace,
    _p_set,
    _p_push_vlan,
    _p_word("pop_vlan", ActionAttr.POP_VLAN),
    _p_meter,
    _p_sample,
    _p_clone,
    _p_push_nsh,
    _p_word("pop_nsh()", ActionAttr.POP_NSH),
    _p_u32_call("tnl_pop", ActionAttr.TUNNEL_POP, 0),
    _p_word("ct_clear", ActionAttr.CT_CLEAR),
    _p_check_pkt_len,
    _p_ct,
    _p_mpls("add_mpls", ActionAttr.ADD_MPLS),
    _p_tnl_push,
    _p_mpls("push_mpls", ActionAttr.PUSH_MPLS),
    _p_pop_mpls,
    _p_hash,
    _p_push_eth,
    _p_word("pop_eth", ActionAttr.POP_ETH),
    _p_dec_ttl,
)
_KNOWN_WORDS = frozenset(
    (
        "lb_output",
        "trunc",
        "recirc",
        "userspace",
        "set",
        "push_vlan",
        "pop_vlan",
        "meter",
        "sample",
        "clone",
        "pop_nsh",
        "tnl_pop",
        "ct_clear",
        "check_pkt_len",
        "ct",
        "add_mpls",
        "push_mpls",
        "pop_mpls",
        "hash",
        "push_eth",
        "pop_eth",
        "dec_ttl",
        "tnl_push",
        "push_nsh",
        "drop",
    )
)


# --------------------------------------------------------------------------------------------
# Validation (what a datapath accepts)
# --------------------------------------------------------------------------------------------


def validate_actions(data: bytes, *, where: str = "actions") -> None:
    """Raise :class:`OdpDecodeError` unless ``data`` is a well-formed list of actions.

    Checks framing at every level, known action types, payload sizes
    (``odp_action_len()``), the nested attributes each action requires, one
    key attribute in ``set``/``set_masked`` (validated as a key), VLAN push
    rules, and nesting up to :data:`MAX_NESTING`. The empty list is valid (drop).
    """
    _validate_list(bytes(data), where, 0)


def _validate_list(data: bytes, where: str, depth: int) -> None:
    if depth > MAX_NESTING:
        raise OdpDecodeError(f"actions nested deeper than {MAX_NESTING} levels", where=where)
    for attr_type, payload, offset in iter_attrs(data, where=where):
        expected = _ACTION_LEN.get(attr_type)
        if expected is None:
            raise OdpDecodeError(f"unknown action type {attr_type}", where=where, offset=offset)
        here = f"{where}/{_action_name(attr_type)}"
        if expected != _VARIABLE and len(payload) != expected:
            raise OdpDecodeError(f"payload of {len(payload)} bytes, expected {expected}", where=here, offset=offset)
        check = _VALIDATORS.get(attr_type)
        if check is not None:
            check(payload, here, depth)


def _strict_nested(payload: bytes, policy: _Policy, where: str) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for attr_type, value, offset in iter_attrs(payload, where=where):
        rule = policy.get(attr_type)
        if rule is None:
            raise OdpDecodeError(f"unexpected nested attribute type {attr_type}", where=where, offset=offset)
        lo, hi, _ = rule
        if not lo <= len(value) <= hi:
            size = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < _ANY else f"at least {lo}"
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


def _v_userspace(payload: bytes, where: str, depth: int) -> None:
    a = _strict_nested(payload, _USERSPACE_POLICY, where)
    if a.get(UserspaceAttr.ACTIONS):
        raise OdpDecodeError("the 'actions' flag takes no payload", where=where)


def _v_set(payload: bytes, where: str, depth: int) -> None:
    from reference.odp.keys import validate_key

    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1:
        raise OdpDecodeError(f"set needs exactly one key attribute, got {len(attrs)}", where=where)
    validate_key(payload, where=where)


def _v_set_masked(payload: bytes, where: str, depth: int) -> None:
    from reference.odp.keys import validate_key

    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1:
        raise OdpDecodeError(f"set_masked needs exactly one key attribute, got {len(attrs)}", where=where)
    attr_type, both, _ = attrs[0]
    if attr_type in (KeyAttr.ENCAP, KeyAttr.TUNNEL):
        raise OdpDecodeError(f"key attribute {attr_type} cannot be set with a mask", where=where)
    if attr_type == KeyAttr.NSH:
        # Nested: every attribute carries its own value and mask (format_odp_set_nsh()).
        for nsh_type, value, offset in iter_attrs(both, where=f"{where}/nsh"):
            size = _SET_NSH_LENS.get(nsh_type)
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


def _v_push_vlan(payload: bytes, where: str, depth: int) -> None:
    tpid, tci = struct.unpack("!HH", payload)
    # Linux validate_and_copy_actions(): an 802.1Q/802.1ad TPID and the CFI (present) bit set.
    if tpid not in (_ETH_TYPE_VLAN, _ETH_TYPE_VLAN_8021AD):
        raise OdpDecodeError(f"push_vlan TPID 0x{tpid:04x} is not 0x8100 or 0x88a8", where=where)
    if not tci & _VLAN_CFI:
        raise OdpDecodeError("push_vlan TCI without the CFI/present bit", where=where)


def _v_sample(payload: bytes, where: str, depth: int) -> None:
    a = _strict_nested(payload, _SAMPLE_POLICY, where)
    _validate_list(a[SampleAttr.ACTIONS], where, depth + 1)


def _v_clone(payload: bytes, where: str, depth: int) -> None:
    _validate_list(payload, where, depth + 1)


def _v_check_pkt_len(payload: bytes, where: str, depth: int) -> None:
    a = _strict_nested(payload, _CPL_POLICY, where)
    _validate_list(a[CheckPktLenAttr.ACTIONS_IF_GREATER], f"{where}/gt", depth + 1)
    _validate_list(a[CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL], f"{where}/le", depth + 1)


def _v_dec_ttl(payload: bytes, where: str, depth: int) -> None:
    a = _strict_nested(payload, {DecTtlAttr.ACTION: (0, _ANY, True)}, where)
    _validate_list(a[DecTtlAttr.ACTION], where, depth + 1)


def _v_psample(payload: bytes, where: str, depth: int) -> None:
    _strict_nested(payload, {PsampleAttr.GROUP: (4, 4, True), PsampleAttr.COOKIE: (0, 16, False)}, where)


def _v_push_nsh(payload: bytes, where: str, depth: int) -> None:
    attrs = list(iter_attrs(payload, where=where))
    if len(attrs) != 1 or attrs[0][0] != KeyAttr.NSH:
        raise OdpDecodeError("push_nsh needs exactly one nested nsh key attribute", where=where)
    nsh = _nsh_header(payload)
    if nsh is None or nsh[2] not in (_NSH_M_TYPE1, _NSH_M_TYPE2):
        raise OdpDecodeError("push_nsh header is not a valid MD type 1 or 2 NSH header", where=where)


def _v_tnl_push(payload: bytes, where: str, depth: int) -> None:
    if len(payload) < 16:
        raise OdpDecodeError(f"tnl_push payload of {len(payload)} bytes, need at least 16", where=where)
    header_len = _u32(payload[8:12])
    # struct ovs_action_push_tnl: 16 bytes of ports/length/type, then header_len (<= TNL_PUSH_HEADER_SIZE) bytes.
    if header_len != len(payload) - 16 or header_len > 512:
        raise OdpDecodeError(
            f"tnl_push header_len {header_len} does not match its {len(payload) - 16} bytes", where=where
        )


def _v_hash(payload: bytes, where: str, depth: int) -> None:
    alg = _u32(payload)
    if alg not in (HashAlg.L4, HashAlg.SYM_L4):
        raise OdpDecodeError(f"unknown hash algorithm {alg}", where=where)


def _v_ct(payload: bytes, where: str, depth: int) -> None:
    policy = dict(_CT_POLICY)
    policy[CtAttr.EVENTMASK] = (4, 4, False)
    policy[CtAttr.MARK] = (8, 8, False)
    policy[CtAttr.LABELS] = (32, 32, False)
    a = _strict_nested(payload, policy, where)
    for flag in (CtAttr.COMMIT, CtAttr.FORCE_COMMIT):
        if a.get(flag):
            raise OdpDecodeError(f"ct flag {flag.name.lower()} takes no payload", where=where)
    if CtAttr.COMMIT in a and CtAttr.FORCE_COMMIT in a:
        raise OdpDecodeError("ct has both commit and force_commit", where=where)
    for attr in _CT_STRINGS:
        if attr in a and _ct_string(a[attr]) is None:
            raise OdpDecodeError(f"ct {attr.name.lower()} is not a NUL-terminated string", where=where)
    if CtAttr.NAT in a:
        nat = _format_nat(a[CtAttr.NAT])
        if "error" in nat:
            raise OdpDecodeError(f"invalid nat: {nat}", where=f"{where}/nat")
        _strict_nested(a[CtAttr.NAT], _NAT_POLICY, f"{where}/nat")


_VALIDATORS: dict[int, Callable[[bytes, str, int], None]] = {
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
