"""What each datapath action is (``OVS_ACTION_ATTR_*``): payload sizes, nested policies, cookie layout; no I/O.

Shared by the action printer, parser and validator (:mod:`reference.odp.actions`).
"""

from __future__ import annotations

from reference._netlink import iter_attrs
from reference.errors import OdpDecodeError
from reference.uapi import (
    ActionAttr,
    CheckPktLenAttr,
    CtAttr,
    NatAttr,
    NshKeyAttr,
    SampleAttr,
    UserspaceAttr,
)

__all__ = [
    "ACTION_LEN",
    "ANY",
    "COOKIE_CONTROLLER",
    "COOKIE_FLOW_SAMPLE",
    "COOKIE_IPFIX",
    "COOKIE_SFLOW",
    "COOKIE_SLOW_PATH",
    "COOKIE_UNION",
    "CPL_POLICY",
    "CT_POLICY",
    "CT_STRINGS",
    "ETH_TYPE_VLAN",
    "INVALID",
    "MAX_NESTING",
    "NAT_POLICY",
    "NSH_M_TYPE1",
    "NSH_M_TYPE2",
    "SAMPLE_POLICY",
    "SET_NSH_LENS",
    "SLOW_PATH_MASK",
    "SLOW_PATH_REASONS",
    "U32_MAX",
    "USERSPACE_POLICY",
    "USER_COOKIE_SIZE",
    "VARIABLE",
    "VLAN_CFI",
    "Policy",
    "action_name",
    "ct_string",
    "lenient_nested",
    "nsh_header",
]

# lib/odp-util.c MAX_ODP_NESTED: parse_odp_action() refuses deeper nesting.
MAX_NESTING = 32
# sizeof(struct user_action_cookie) (lib/odp-util.h BUILD_ASSERT_DECL).
USER_COOKIE_SIZE = 48
U32_MAX = 0xFFFFFFFF
NSH_M_TYPE1, NSH_M_TYPE2 = 1, 2
_NSH_HDR_MAX_LEN = 252
VLAN_CFI = 0x1000
ETH_TYPE_VLAN = 0x8100

VARIABLE = -2  # ATTR_LEN_VARIABLE
INVALID = -1  # ATTR_LEN_INVALID

# odp_action_len(): payload size of each action, or variable.
ACTION_LEN: dict[int, int] = {
    ActionAttr.OUTPUT: 4,
    ActionAttr.USERSPACE: VARIABLE,
    ActionAttr.SET: VARIABLE,
    ActionAttr.PUSH_VLAN: 4,
    ActionAttr.POP_VLAN: 0,
    ActionAttr.SAMPLE: VARIABLE,
    ActionAttr.RECIRC: 4,
    ActionAttr.HASH: 8,
    ActionAttr.PUSH_MPLS: 8,
    ActionAttr.POP_MPLS: 2,
    ActionAttr.SET_MASKED: VARIABLE,
    ActionAttr.CT: VARIABLE,
    ActionAttr.TRUNC: 4,
    ActionAttr.PUSH_ETH: 12,
    ActionAttr.POP_ETH: 0,
    ActionAttr.CT_CLEAR: 0,
    ActionAttr.PUSH_NSH: VARIABLE,
    ActionAttr.POP_NSH: 0,
    ActionAttr.METER: 4,
    ActionAttr.CLONE: VARIABLE,
    ActionAttr.CHECK_PKT_LEN: VARIABLE,
    ActionAttr.ADD_MPLS: 8,
    ActionAttr.DEC_TTL: VARIABLE,
    ActionAttr.DROP: 4,
    ActionAttr.PSAMPLE: VARIABLE,
    ActionAttr.TUNNEL_PUSH: VARIABLE,
    ActionAttr.TUNNEL_POP: 4,
    ActionAttr.LB_OUTPUT: 4,
}

# Slow-path reasons (lib/odp-util.h SLOW_PATH_REASONS), bit i = 1 << i.
SLOW_PATH_REASONS = ("cfm", "bfd", "lacp", "stp", "lldp", "action", "match")
SLOW_PATH_MASK = (1 << len(SLOW_PATH_REASONS)) - 1

# enum user_action_cookie_type (lib/odp-util.h).
COOKIE_SFLOW = 1
COOKIE_SLOW_PATH = 2
COOKIE_FLOW_SAMPLE = 3
COOKIE_IPFIX = 4
COOKIE_CONTROLLER = 5
COOKIE_UNION = 24  # offset of the cookie's union: u16 type, pad, u32 ofp_in_port, 16-byte uuid

# nl_parse_nested() policies: attribute -> (min_len, max_len, required); NL_A_FLAG
# takes any length, NL_A_STRING must end in its only NUL.
Policy = dict[int, tuple[int, int, bool]]
ANY = 1 << 20
USERSPACE_POLICY: Policy = {
    UserspaceAttr.PID: (4, 4, True),
    UserspaceAttr.USERDATA: (0, ANY, False),
    UserspaceAttr.EGRESS_TUN_PORT: (4, 4, False),
    UserspaceAttr.ACTIONS: (0, ANY, False),
}
SAMPLE_POLICY: Policy = {SampleAttr.PROBABILITY: (4, 4, True), SampleAttr.ACTIONS: (0, ANY, True)}
CPL_POLICY: Policy = {
    CheckPktLenAttr.PKT_LEN: (2, 2, True),
    CheckPktLenAttr.ACTIONS_IF_GREATER: (0, ANY, True),
    CheckPktLenAttr.ACTIONS_IF_LESS_EQUAL: (0, ANY, True),
}
CT_POLICY: Policy = {
    CtAttr.COMMIT: (0, ANY, False),
    CtAttr.FORCE_COMMIT: (0, ANY, False),
    CtAttr.ZONE: (2, 2, False),
    CtAttr.MARK: (8, ANY, False),
    CtAttr.LABELS: (32, ANY, False),
    CtAttr.HELPER: (1, 16, False),
    CtAttr.NAT: (0, ANY, False),
    CtAttr.TIMEOUT: (1, 32, False),
}
CT_STRINGS = (CtAttr.HELPER, CtAttr.TIMEOUT)
NAT_POLICY: Policy = {
    NatAttr.SRC: (0, ANY, False),
    NatAttr.DST: (0, ANY, False),
    NatAttr.IP_MIN: (4, 16, False),
    NatAttr.IP_MAX: (4, 16, False),
    NatAttr.PROTO_MIN: (2, 2, False),
    NatAttr.PROTO_MAX: (2, 2, False),
    NatAttr.PERSISTENT: (0, ANY, False),
    NatAttr.PROTO_HASH: (0, ANY, False),
    NatAttr.PROTO_RANDOM: (0, ANY, False),
}


def lenient_nested(payload: bytes, policy: Policy) -> dict[int, bytes] | None:
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


def ct_string(value: bytes) -> str | None:
    # NL_A_STRING: NUL-terminated, no embedded NUL.
    if not value or value[-1] != 0 or 0 in value[:-1]:
        return None
    return value[:-1].decode("latin-1")


def action_name(attr_type: int) -> str:
    try:
        return ActionAttr(attr_type).name.lower()
    except ValueError:
        return f"action{attr_type}"


# ovs_nsh_key_attr_lens for the types format_odp_set_nsh() accepts (MD2 and above end it).
SET_NSH_LENS: dict[int, int] = {NshKeyAttr.UNSPEC: 0, NshKeyAttr.BASE: 8, NshKeyAttr.MD1: 16}


def nsh_header(payload: bytes) -> tuple[int, int, int, int, int, bytes] | None:
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
    if (has_md1 and mdtype != NSH_M_TYPE1) or (has_md2 and mdtype != NSH_M_TYPE2):
        return None
    # nsh_set_flags_ttl_len(): 2 flag bits, 6 TTL bits, length in 4-byte words.
    md = md[: (((8 + len(md)) >> 2) & 0x3F) * 4 - 8]
    return flags & 0x3, ttl & 0x3F, mdtype, np, path_hdr, md
