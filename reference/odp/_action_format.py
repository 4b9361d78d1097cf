"""Datapath actions as text: netlink action bytes -> ``format_odp_actions()`` text (lib/odp-util.c); no I/O."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from reference._netlink import iter_attrs
from reference.errors import OdpDecodeError
from reference.odp import _action_spec as spec
from reference.odp._key_format import format_key_attr
from reference.odp._text import cx, format_ipv6, format_nsh_masked, hexdump, mac, put_hex, u16h, u32h
from reference.odp._tnl_push import format_tnl_push
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

__all__ = ["format_actions", "format_nat"]

# sizeof(struct ovs_key_ipv6): larger masked sets are printed unmasked (format_odp_action).
_MAX_MASKED_SET = 40


def format_actions(data: bytes) -> str:
    """Print netlink action bytes as OVS's ``format_odp_actions()`` does (``drop`` when empty).

    Raises :class:`OdpDecodeError` only when the netlink framing itself is
    broken (truncated attribute, length that lies) or nesting exceeds
    :data:`MAX_NESTING`; check semantics with :func:`validate_actions`.
    """
    return _format_list(bytes(data), 0, "actions")


def _format_list(data: bytes, depth: int, where: str) -> str:
    if depth > spec.MAX_NESTING:
        raise OdpDecodeError(f"actions nested deeper than {spec.MAX_NESTING} levels", where=where)
    if not data:
        return "drop"
    return ",".join(_format_action(t, p, depth, where) for t, p, _ in iter_attrs(data, where=where))


def _generic(attr_type: int, payload: bytes) -> str:
    # format_generic_odp_action(): "action<N>" and the payload bytes in hex.
    if not payload:
        return f"action{attr_type}"
    return f"action{attr_type}(" + hexdump(payload) + ")"


def _format_action(attr_type: int, payload: bytes, depth: int, where: str) -> str:
    expected = spec.ACTION_LEN.get(attr_type, spec.INVALID)
    if expected != spec.VARIABLE and len(payload) != expected:
        return f"bad length {len(payload)}, expected {expected} for: {_generic(attr_type, payload)}"
    here = f"{where}/{spec.action_name(attr_type)}"
    formatter = _FORMATTERS.get(attr_type)
    if formatter is None:
        return _generic(attr_type, payload)
    return formatter(payload, depth, here)


def _fmt_userspace(payload: bytes, depth: int, where: str) -> str:
    a = spec.lenient_nested(payload, spec.USERSPACE_POLICY)
    if a is None:
        return "userspace(error)"
    out = [f"userspace(pid={u32h(a[UserspaceAttr.PID])}"]
    userdata = a.get(UserspaceAttr.USERDATA)
    if userdata is not None:
        cookie = _format_cookie(userdata) if len(userdata) == spec.USER_COOKIE_SIZE else None
        out.append(cookie if cookie is not None else f",userdata({userdata.hex()})")
    if UserspaceAttr.ACTIONS in a:
        out.append(",actions")
    tun = a.get(UserspaceAttr.EGRESS_TUN_PORT)
    if tun is not None:
        out.append(f",tunnel_out_port={u32h(tun)}")
    return "".join(out) + ")"


def _format_flags(flags: int) -> str:
    # format_flags() with ',' as delimiter: names of known bits, then unknown bits in hex.
    if not flags:
        return "0"
    names = [name for i, name in enumerate(spec.SLOW_PATH_REASONS) if flags & (1 << i)]
    bad = flags & ~spec.SLOW_PATH_MASK
    if bad:
        names.append(f"0x{bad:x}")
    return ",".join(names)


def _format_cookie(data: bytes) -> str | None:
    """The ``struct user_action_cookie`` forms of format_odp_userspace_action(); None = print as hex."""
    kind = u16h(data)
    u = data[spec.COOKIE_UNION :]
    if kind == spec.COOKIE_SFLOW:
        tci = int.from_bytes(u[0:2], "big")
        return f",sFlow(vid={tci & 0xFFF},pcp={tci >> 13},output={u32h(u[4:8])})"
    if kind == spec.COOKIE_SLOW_PATH:
        return f",slow_path({_format_flags(u32h(u[4:8]))})"
    if kind == spec.COOKIE_FLOW_SAMPLE:
        prob, coll, dom, point, port, direction = struct.unpack("=H2xIIIII", u[:24])
        text = (
            f",flow_sample(probability={prob},collector_set_id={coll},obs_domain_id={dom},"
            f"obs_point_id={point},output_port={port}"
        )
        text += {1: ",ingress", 2: ",egress"}.get(direction, "")
        return text + ")"
    if kind == spec.COOKIE_IPFIX:
        return f",ipfix(output_port={u32h(u[0:4])})"
    if kind == spec.COOKIE_CONTROLLER:
        dont_send, continuation, reason, recirc_id = struct.unpack("=BBHI", u[:8])
        rule_cookie = int.from_bytes(u[8:16], "big")
        controller_id, max_len = struct.unpack("=HH", u[16:20])
        return (
            f",controller(reason={reason},dont_send={int(bool(dont_send))},continuation={int(bool(continuation))},"
            f"recirc_id={recirc_id},rule_cookie={cx(rule_cookie)},controller_id={controller_id},max_len={max_len})"
        )
    return None


def _fmt_set(payload: bytes, depth: int, where: str) -> str:
    key_type, key_payload = _single_key_attr(payload, where)
    return "set(" + format_key_attr(key_type, key_payload, None, verbose=True) + ")"


def _fmt_set_masked(payload: bytes, depth: int, where: str) -> str:
    key_type, both = _single_key_attr(payload, where)
    if key_type == KeyAttr.NSH:
        return _format_set_nsh(both)
    size = len(both) // 2
    if size <= _MAX_MASKED_SET:
        text = format_key_attr(key_type, both[:size], both[size : 2 * size], verbose=False)
    else:
        text = format_key_attr(key_type, both, None, verbose=False)
    return "set(" + text + ")"


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
        expected = spec.SET_NSH_LENS.get(attr_type)
        if expected is None or len(value) != 2 * expected:
            return ""
        if attr_type == NshKeyAttr.BASE:
            key[0:8], mask[0:8] = value[:8], value[8:]
        elif attr_type == NshKeyAttr.MD1:
            key[8:24], mask[8:24] = value[:16], value[16:]
    return "set(nsh(" + format_nsh_masked(bytes(key), bytes(mask)) + "))"


def _single_key_attr(payload: bytes, where: str) -> tuple[int, bytes]:
    # OVS reads the first nested attribute without checking; we require one to exist.
    attrs = list(iter_attrs(payload, where=where))
    if not attrs:
        raise OdpDecodeError("set action without a key attribute", where=where)
    return attrs[0][0], attrs[0][1]


def _fmt_sample(payload: bytes, depth: int, where: str) -> str:
    a = spec.lenient_nested(payload, spec.SAMPLE_POLICY)
    if a is None:
        return "sample(error)"
    percentage = 100.0 * u32h(a[SampleAttr.PROBABILITY]) / spec.U32_MAX
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
    parts = [] if tpid == spec.ETH_TYPE_VLAN else [f"tpid=0x{tpid:04x}"]
    parts += [f"vid={tci & 0xFFF}", f"pcp={tci >> 13}"]
    if not tci & spec.VLAN_CFI:
        parts.append("cfi=0")
    return "push_vlan(" + ",".join(parts) + ")"


def _fmt_ct(payload: bytes, depth: int, where: str) -> str:
    a = spec.lenient_nested(payload, spec.CT_POLICY)
    if a is None:
        return "ct(error)"
    strings: dict[int, str] = {}
    for attr in spec.CT_STRINGS:
        if attr in a:
            text = spec.ct_string(a[attr])
            if text is None:
                return "ct(error)"
            strings[attr] = text
    parts: list[str] = []
    if CtAttr.COMMIT in a:
        parts.append("commit")
    if CtAttr.FORCE_COMMIT in a:
        parts.append("force_commit")
    zone = u16h(a[CtAttr.ZONE]) if CtAttr.ZONE in a else 0
    if zone:
        parts.append(f"zone={zone}")
    if CtAttr.MARK in a:
        value, mask = struct.unpack("=II", a[CtAttr.MARK][:8])
        parts.append(f"mark={cx(value)}/{cx(mask)}")
    if CtAttr.LABELS in a:
        label = a[CtAttr.LABELS]
        # format_u128(verbose=true): value in hex, "/mask" unless all ones; host-order u128 printed big-endian.
        text = "label=" + put_hex(label[15::-1])
        mask = label[16:32]
        if mask != b"\xff" * 16:
            text += "/" + put_hex(mask[::-1])
        parts.append(text)
    if CtAttr.HELPER in strings:
        parts.append(f"helper={strings[CtAttr.HELPER]}")
    if CtAttr.TIMEOUT in strings:
        parts.append(f"timeout={strings[CtAttr.TIMEOUT]}")
    if CtAttr.NAT in a:
        parts.append(format_nat(a[CtAttr.NAT]))
    if not parts:
        return "ct"
    return "ct(" + ",".join(parts) + ")"


def _ip6(data: bytes, bracket: bool) -> str:
    text = format_ipv6(data)
    return f"[{text}]" if bracket else text


def format_nat(payload: bytes) -> str:
    """format_odp_ct_nat(), including its error texts."""
    a = spec.lenient_nested(payload, spec.NAT_POLICY)
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
    proto_min = u16h(a[NatAttr.PROTO_MIN]) if NatAttr.PROTO_MIN in a else 0
    proto_max = u16h(a[NatAttr.PROTO_MAX]) if NatAttr.PROTO_MAX in a else 0
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
    a = spec.lenient_nested(payload, spec.CPL_POLICY)
    if a is None:
        return "check_pkt_len(error)"
    gt = _format_list(a[CheckPktLenAttr.ACTIONS_IF_GREATER], depth + 1, where)
    le = _format_list(a[CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL], depth + 1, where)
    return f"check_pkt_len(size={u16h(a[CheckPktLenAttr.PKT_LEN])},gt({gt}),le({le}))"


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
            text += f"group={u32h(value)},"
        elif attr_type == PsampleAttr.COOKIE:
            text += "cookie=" + put_hex(value)
    return text.rstrip(",") + ")"


def _fmt_push_nsh(payload: bytes, depth: int, where: str) -> str:
    """format_odp_push_nsh_action() after odp_nsh_hdr_from_attr() (payload: one nested OVS_KEY_ATTR_NSH)."""
    nsh = spec.nsh_header(payload)
    if nsh is None:
        # OVS prints from a half-filled header here (undefined for md type 2); we print the bytes.
        return _generic(ActionAttr.PUSH_NSH, payload)
    flags, ttl, mdtype, np, path_hdr, md = nsh
    text = f"push_nsh(flags={flags},ttl={ttl},mdtype={mdtype},np={np},spi=0x{path_hdr >> 8:x},si={path_hdr & 0xFF}"
    if mdtype == spec.NSH_M_TYPE1:
        context = md.ljust(16, b"\0")
        text += "".join(f",c{i + 1}=0x{int.from_bytes(context[4 * i : 4 * i + 4], 'big'):x}" for i in range(4))
    elif mdtype == spec.NSH_M_TYPE2:
        text += ",md2=" + put_hex(md)
    else:
        text += ",<error: unknown mdtype>"
    return text + ")"


def _fmt_tnl_push(payload: bytes, depth: int, where: str) -> str:
    text = format_tnl_push(payload)
    # OVS reads the header without bounds checks; a payload too short for it prints as hex here.
    return text if text is not None else _generic(ActionAttr.TUNNEL_PUSH, payload)


def _fixed(fmt: Callable[[bytes], str]) -> Callable[[bytes, int, str], str]:
    return lambda payload, depth, where: fmt(payload)


_FORMATTERS: dict[int, Callable[[bytes, int, str], str]] = {
    ActionAttr.OUTPUT: _fixed(lambda p: str(u32h(p))),
    ActionAttr.USERSPACE: _fmt_userspace,
    ActionAttr.SET: _fmt_set,
    ActionAttr.PUSH_VLAN: _fmt_push_vlan,
    ActionAttr.POP_VLAN: _fixed(lambda p: "pop_vlan"),
    ActionAttr.SAMPLE: _fmt_sample,
    ActionAttr.RECIRC: _fixed(lambda p: f"recirc({cx(u32h(p))})"),
    ActionAttr.HASH: _fmt_hash,
    ActionAttr.PUSH_MPLS: _fmt_push_mpls,
    ActionAttr.POP_MPLS: _fixed(lambda p: f"pop_mpls(eth_type=0x{int.from_bytes(p, 'big'):x})"),
    ActionAttr.SET_MASKED: _fmt_set_masked,
    ActionAttr.CT: _fmt_ct,
    ActionAttr.TRUNC: _fixed(lambda p: f"trunc({u32h(p)})"),
    ActionAttr.PUSH_ETH: _fixed(lambda p: f"push_eth(src={mac(p[0:6])},dst={mac(p[6:12])})"),
    ActionAttr.POP_ETH: _fixed(lambda p: "pop_eth"),
    ActionAttr.CT_CLEAR: _fixed(lambda p: "ct_clear"),
    ActionAttr.PUSH_NSH: _fmt_push_nsh,
    ActionAttr.POP_NSH: _fixed(lambda p: "pop_nsh()"),
    ActionAttr.METER: _fixed(lambda p: f"meter({u32h(p)})"),
    ActionAttr.CLONE: _fmt_clone,
    ActionAttr.CHECK_PKT_LEN: _fmt_check_pkt_len,
    ActionAttr.ADD_MPLS: _fmt_add_mpls,
    ActionAttr.DEC_TTL: _fmt_dec_ttl,
    ActionAttr.DROP: _fixed(lambda p: "drop"),
    ActionAttr.PSAMPLE: _fmt_psample,
    ActionAttr.TUNNEL_PUSH: _fmt_tnl_push,
    ActionAttr.TUNNEL_POP: _fixed(lambda p: f"tnl_pop({u32h(p)})"),
    ActionAttr.LB_OUTPUT: _fixed(lambda p: f"lb_output({u32h(p)})"),
}
