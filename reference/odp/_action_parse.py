"""Datapath actions from text: ``odp_actions_from_string()`` (lib/odp-util.c) -> netlink action bytes; no I/O."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from functools import partial

from reference._netlink import pack_attr
from reference.odp import _action_spec as spec
from reference.odp._action_scan import NoMatch, Scanner
from reference.odp._key_parse import parse_key_attr
from reference.odp._text import DEC_OR_HEX, DELIMITERS, hexit
from reference.odp._tnl_push import parse_tnl_push
from reference.uapi import (
    ActionAttr,
    CheckPktLenAttr,
    CtAttr,
    DecTtlAttr,
    HashAlg,
    KeyAttr,
    NatAttr,
    NshKeyAttr,
    SampleAttr,
    UserspaceAttr,
)

__all__ = ["parse_actions"]

_ODPP_NONE = spec.U32_MAX
_OFPP_NONE = 0xFFFF  # ofp_port_t is 32 bits, OFPP_NONE is 0xffff
_DELIMITERS_END = DELIMITERS + ")"


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
    scan = Scanner(text)
    out: list[bytes] = []
    while True:
        scan.skip(DELIMITERS)
        if scan.pos >= len(text):
            return b"".join(out)
        out.append(_parse_action(scan))
        if scan.peek() not in DELIMITERS:  # "" (end of text) is in every string
            raise scan.error("expected ',' or end of actions after an action")


def _parse_list(scan: Scanner, *, allow_drop: bool = True) -> bytes:
    """``parse_action_list()``: actions up to (not including) the closing ')'."""
    if allow_drop and scan.text[scan.pos : scan.pos + 5].lower() == "drop)":
        scan.pos += 4  # our extension: "drop" as the whole nested list, as format_actions prints it
        return b""
    out: list[bytes] = []
    while True:
        scan.skip(DELIMITERS)
        if scan.peek() == ")":
            return b"".join(out)
        if scan.peek() == "":
            raise scan.error("unterminated action list: expected ')'")
        out.append(_parse_action(scan))


def _parse_action(scan: Scanner) -> bytes:
    scan.depth += 1
    try:
        if scan.depth >= spec.MAX_NESTING:
            raise scan.error(f"actions nested deeper than {spec.MAX_NESTING} levels")
        start = scan.pos
        for parser in _PARSERS:
            try:
                return parser(scan)
            except NoMatch:
                scan.pos = start
            except OverflowError:
                raise scan.error("action too large for a netlink attribute", start) from None
        word = scan.text[start:].split("(", 1)[0]
        for ch in DELIMITERS:
            word = word.split(ch, 1)[0]
        if word.lower() == "drop":
            raise scan.error("'drop' must be the whole action list", start)
        if word and not word[0].isdigit() and word.isidentifier() and word not in _KNOWN_WORDS:
            raise scan.error(f"unknown action {word!r} (port names are not supported: use port numbers)", start)
        raise scan.error("cannot parse action", start)
    finally:
        scan.depth -= 1


def _p_output(scan: Scanner) -> bytes:
    return pack_attr(ActionAttr.OUTPUT, struct.pack("=I", scan.integer(32, 0, "output port")))


def _p_u32_call(name: str, attr: ActionAttr, base: int) -> Callable[[Scanner], bytes]:
    def parse(scan: Scanner) -> bytes:
        (value,) = scan.numbers((name + "(", 32, base, name))
        scan.need(")")
        return pack_attr(attr, struct.pack("=I", value))

    return parse


def _p_userspace(scan: Scanner) -> bytes:
    scan.need("userspace(")
    if not scan.take("pid="):
        raise scan.error("expected 'pid=' in userspace()")
    try:
        pid = scan.integer(32, 0, "pid")
    except NoMatch:
        raise scan.error("expected a number after 'pid='") from None
    userdata = scan.attempt(lambda: _p_cookie(scan))
    if userdata is None:
        userdata = bytes(spec.USER_COOKIE_SIZE)  # OVS puts an all-zero cookie when none is written
    include_actions = scan.take(",actions")
    tunnel_out_port = _ODPP_NONE
    if scan.take(",tunnel_out_port="):
        try:
            tunnel_out_port = scan.integer(32, 0, "tunnel_out_port")
        except NoMatch:
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
    return (head + union).ljust(spec.USER_COOKIE_SIZE, b"\0")


def _p_cookie(scan: Scanner) -> bytes:
    """The cookie alternatives of parse_odp_userspace_action(), in OVS's order."""

    def sflow() -> bytes:
        vid, pcp, output = scan.numbers(
            (",sFlow(vid=", 12, 0, "vid"), (",pcp=", 3, 0, "pcp"), (",output=", 32, 0, "output")
        )
        scan.need(")")
        tci = vid | (pcp << 13)
        if tci:
            tci |= spec.VLAN_CFI
        return _cookie(spec.COOKIE_SFLOW, struct.pack("!H", tci) + b"\0\0" + struct.pack("=I", output))

    def slow_path() -> bytes:
        scan.need(",slow_path(")
        reason = _parse_flags(scan)
        scan.expect(")", "to close slow_path()")
        return _cookie(spec.COOKIE_SLOW_PATH, struct.pack("=4xI", reason))

    def flow_sample() -> bytes:
        names = ("collector_set_id", "obs_domain_id", "obs_point_id", "output_port")
        values = scan.numbers(
            (",flow_sample(probability=", 32, 0, "probability"), *((f",{name}=", 32, 0, name) for name in names)
        )
        if values[0] > 0xFFFF:
            raise scan.error("probability is out of range (at most 16 bits)")
        direction = 1 if scan.take(",ingress") else 2 if scan.take(",egress") else 0
        scan.expect(")", "to close flow_sample()")
        return _cookie(spec.COOKIE_FLOW_SAMPLE, struct.pack("=H2xIIIII", *values, direction))

    def ipfix() -> bytes:
        (port,) = scan.numbers((",ipfix(output_port=", 32, 0, "output_port"))
        scan.need(")")
        return _cookie(spec.COOKIE_IPFIX, struct.pack("=I", port))

    def controller() -> bytes:
        reason, dont_send, continuation, recirc_id, rule_cookie, controller_id, max_len = scan.numbers(
            (",controller(reason=", 16, 10, "reason"),
            (",dont_send=", 8, 10, "dont_send"),
            (",continuation=", 8, 10, "continuation"),
            (",recirc_id=", 32, 10, "recirc_id"),
            (",rule_cookie=", 64, 16, "rule_cookie"),
            (",controller_id=", 16, 10, "controller_id"),
            (",max_len=", 16, 10, "max_len"),
        )
        scan.need(")")
        union = struct.pack("=BBHI", bool(dont_send), bool(continuation), reason, recirc_id)
        union += rule_cookie.to_bytes(8, "big") + struct.pack("=HH", controller_id, max_len)
        return _cookie(spec.COOKIE_CONTROLLER, union)

    def userdata() -> bytes:
        scan.need(",userdata(")
        data = bytearray()
        while True:
            scan.skip(" .\t\r\n")  # ofpbuf_put_hex() skips these between bytes
            pair = scan.text[scan.pos : scan.pos + 2]
            if len(pair) == 2 and hexit(pair[0]) < 16 and hexit(pair[1]) < 16:
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
    raise NoMatch


def _parse_flags(scan: Scanner) -> int:
    """parse_flags() for slow_path reasons: names or numbers separated by '|', up to ')'."""
    result = 0
    while scan.peek() != ")":
        if scan.peek() == "":
            raise scan.error("unterminated slow_path(")
        start = scan.pos
        try:
            value = scan.integer(64, 0, "slow_path reason")
        except NoMatch:
            for bit, name in enumerate(spec.SLOW_PATH_REASONS):
                end = scan.pos + len(name)
                if scan.at(name) and scan.text[end : end + 1] in ("|", ",", ")"):
                    value = 1 << bit
                    scan.pos = end
                    break
            else:
                raise scan.error("unknown slow_path reason", start) from None
        if value & ~spec.SLOW_PATH_MASK:
            raise scan.error("unknown slow_path reason bits", start)
        result |= value
        # OVS separates with '|' when parsing but prints ',' (format_flags); we accept both.
        if not scan.take("|"):
            scan.take(",")
    return result


def _p_set(scan: Scanner) -> bytes:
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


def _p_push_vlan(scan: Scanner) -> bytes:
    scan.need("push_vlan(")
    tpid = spec.ETH_TYPE_VLAN
    if scan.take("tpid="):
        tpid = scan.integer(16, 0, "tpid")
        scan.need(",")
    vid, pcp = scan.numbers(("vid=", 12, 0, "vid"), (",pcp=", 3, 0, "pcp"))
    cfi = 1
    if scan.take(",cfi="):
        cfi = scan.integer(32, 0, "cfi")
    scan.need(")")
    tci = vid | (pcp << 13) | (spec.VLAN_CFI if cfi else 0)
    return pack_attr(ActionAttr.PUSH_VLAN, struct.pack("!HH", tpid, tci))


# parse_odp_push_nsh_action(): the header's defaults (an MD type 1 header for
# Ethernet, np 3 = NSH_P_ETHERNET) and its "name=" fields (literal, name, bits, base).
_PUSH_NSH_DEFAULTS = {"flags": 0, "ttl": 63, "mdtype": spec.NSH_M_TYPE1, "np": 3, "spi": 0, "si": 255}
_PUSH_NSH_FIELDS = (
    ("flags=", "flags", 8, 0),
    ("ttl=", "ttl", 8, 0),
    ("mdtype=", "mdtype", 8, 0),
    ("np=", "np", 8, 0),
    ("spi=0x", "spi", 24, 16),
    ("si=", "si", 8, 0),
)


def _p_push_nsh(scan: Scanner) -> bytes:
    """parse_odp_push_nsh_action(): key=value fields in any order, defaults of an MD type 1 header."""
    action_start = scan.pos
    scan.need("push_nsh(")
    values = dict(_PUSH_NSH_DEFAULTS)
    context = [0, 0, 0, 0]
    md2 = b""
    while True:
        scan.skip(DELIMITERS)
        if scan.peek() == ")":
            break
        start = scan.pos
        mdtype = values["mdtype"]
        field = next((f for f in _PUSH_NSH_FIELDS if scan.take(f[0])), None)
        if field is not None:
            literal, name, bits, radix = field
            values[name] = scan.committed(partial(scan.integer, bits, radix, name), literal)
            if name == "mdtype":
                if values[name] not in (spec.NSH_M_TYPE1, spec.NSH_M_TYPE2):
                    raise scan.error("push_nsh mdtype must be 1 or 2", start)
                md2 = b""
        elif (
            mdtype == spec.NSH_M_TYPE1
            and scan.text[scan.pos : scan.pos + 1] == "c"
            and scan.text[scan.pos + 1 : scan.pos + 5] in ("1=0x", "2=0x", "3=0x", "4=0x")
        ):
            index = int(scan.text[scan.pos + 1]) - 1
            scan.pos += 5
            context[index] = scan.committed(lambda: scan.integer(32, 16, "context"), "c=0x")
        elif mdtype == spec.NSH_M_TYPE2 and scan.take("md2=0x"):
            digits_start = scan.pos
            while scan.pos < len(scan.text) and hexit(scan.text[scan.pos]) < 16 and scan.pos - digits_start < 511:
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
    v = values
    base = struct.pack("!BBBBI", v["flags"], v["ttl"], v["mdtype"], v["np"], v["spi"] << 8 | v["si"])
    attrs = pack_attr(NshKeyAttr.BASE, base)
    if v["mdtype"] == spec.NSH_M_TYPE1:
        attrs += pack_attr(NshKeyAttr.MD1, b"".join(c.to_bytes(4, "big") for c in context))
    elif md2:
        attrs += pack_attr(NshKeyAttr.MD2, md2)
    return pack_attr(ActionAttr.PUSH_NSH, pack_attr(KeyAttr.NSH, attrs))


def _p_tnl_push(scan: Scanner) -> bytes:
    return pack_attr(ActionAttr.TUNNEL_PUSH, parse_tnl_push(scan))


def _p_word(word: str, attr: ActionAttr) -> Callable[[Scanner], bytes]:
    def parse(scan: Scanner) -> bytes:
        scan.need(word)
        return pack_attr(attr)

    return parse


def _p_sample(scan: Scanner) -> bytes:
    scan.need("sample(sample=")
    column = scan.pos
    percentage = scan.floating()
    scan.need("%,actions(")
    if not 0.0 <= percentage <= 100.0:
        raise scan.error("sample percentage must be between 0 and 100", column)
    probability = math.floor(spec.U32_MAX * (percentage / 100.0) + 0.5)
    probability = min(max(probability, 0), spec.U32_MAX)
    inner = _parse_list(scan)
    scan.expect("))", "to close sample(...,actions(...))")
    body = pack_attr(SampleAttr.PROBABILITY, struct.pack("=I", probability)) + pack_attr(SampleAttr.ACTIONS, inner)
    return pack_attr(ActionAttr.SAMPLE, body)


def _p_list(opening: str, closing: str, wrap: Callable[[bytes], bytes]) -> Callable[[Scanner], bytes]:
    """``opening`` actions ``closing``: clone(...) and dec_ttl(le_1(...)), ``wrap`` builds the attribute."""

    def parse(scan: Scanner) -> bytes:
        scan.need(opening)
        inner = _parse_list(scan)
        scan.expect(closing, f"to close {opening}{'...' if closing == '))' else ''}{closing}")
        return wrap(inner)

    return parse


def _p_check_pkt_len(scan: Scanner) -> bytes:
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


def _p_mpls(word: str, attr: ActionAttr) -> Callable[[Scanner], bytes]:
    def parse(scan: Scanner) -> bytes:
        label, tc, ttl, bos, eth_type = scan.numbers(
            (f"{word}(label=", 20, 0, "label"),
            (",tc=", 3, 10, "tc"),
            (",ttl=", 8, 10, "ttl"),
            (",bos=", 1, 10, "bos"),
            (",eth_type=0x", 16, 16, "eth_type"),
        )
        scan.need(")")
        lse = (label << 12) | (tc << 9) | (bos << 8) | ttl
        return pack_attr(attr, struct.pack("!IH2x", lse, eth_type))

    return parse


def _p_pop_mpls(scan: Scanner) -> bytes:
    (eth_type,) = scan.numbers(("pop_mpls(eth_type=0x", 16, 16, "eth_type"))
    scan.need(")")
    return pack_attr(ActionAttr.POP_MPLS, struct.pack("!H", eth_type))


def _p_hash(scan: Scanner) -> bytes:
    scan.need("hash(")
    if scan.take("l4("):
        alg = HashAlg.L4
    else:
        scan.need("sym_l4(")
        alg = HashAlg.SYM_L4
    basis = scan.integer(32, 0, "hash basis")
    scan.need("))")
    return pack_attr(ActionAttr.HASH, struct.pack("=II", alg, basis))


def _p_push_eth(scan: Scanner) -> bytes:
    scan.need("push_eth(src=")
    src = scan.mac()
    scan.need(",dst=")
    dst = scan.mac()
    scan.need(")")
    return pack_attr(ActionAttr.PUSH_ETH, src + dst)


def _p_ct(scan: Scanner) -> bytes:
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
            scan.skip(DELIMITERS)
            option_start = scan.pos
            if scan.take("commit"):
                commit = True
            elif scan.take("force_commit"):
                force = True
            elif scan.at("zone="):
                scan.pos += 5
                zone = scan.committed(lambda: scan.integer(16, 10, "zone"), "zone=")
            elif scan.at("mark="):
                scan.pos += 5
                value = scan.committed(lambda: scan.integer(32, 16, "mark"), "mark=")
                mask = spec.U32_MAX
                if scan.take("/"):
                    mask = scan.committed(lambda: scan.integer(32, 16, "mark mask"), "mark=.../")
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


def _ct_word(scan: Scanner, limit: int, what: str) -> str:
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


def _scan_u128(scan: Scanner) -> tuple[int, int]:
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
                if ch and hexit(ch) < 16:
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
            except NoMatch:
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


def _p_nat(scan: Scanner) -> bytes:
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
            scan.skip(DELIMITERS)
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


def _nat_range(scan: Scanner, amin: bytes, amax: bytes, pmin: int, pmax: int) -> tuple[bytes, bytes, int, int]:
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
        lo6 = scan.ipv6(brackets=True)
        if lo6 is None:
            raise scan.error("expected an IPv4 or IPv6 address after '='", start)
        amin, amax = lo6, bytes(16)
        if scan.take("-"):
            hi6 = scan.ipv6(brackets=True)
            if hi6 is None:
                raise scan.error("expected an IPv6 address after '-'")
            amax = hi6
    if scan.take(":"):
        saved = scan.pos
        try:
            pmin = scan.integer(16, 10, "port")
        except NoMatch:
            scan.pos = saved - 1  # ovs_scan(":%u") failed as a whole
        else:
            if scan.take("-"):
                pmax = scan.committed(lambda: scan.integer(16, 10, "port"), "-")
    return amin, amax, pmin, pmax


_PARSERS: tuple[Callable[[Scanner], bytes], ...] = (
    # parse_odp_action__() order; our extensions last.
    _p_output,
    _p_u32_call("lb_output", ActionAttr.LB_OUTPUT, 10),
    _p_u32_call("trunc", ActionAttr.TRUNC, 0),
    _p_u32_call("recirc", ActionAttr.RECIRC, DEC_OR_HEX),
    _p_userspace,
    _p_set,
    _p_push_vlan,
    _p_word("pop_vlan", ActionAttr.POP_VLAN),
    _p_u32_call("meter", ActionAttr.METER, 0),
    _p_sample,
    _p_list("clone(", ")", lambda inner: pack_attr(ActionAttr.CLONE, inner)),
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
    _p_list("dec_ttl(le_1(", "))", lambda inner: pack_attr(ActionAttr.DEC_TTL, pack_attr(DecTtlAttr.ACTION, inner))),
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
