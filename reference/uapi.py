"""Numbers from the Linux Open vSwitch UAPI (``include/uapi/linux/openvswitch.h``).

Every codec, the reference datapath and the kernel backend take their
attribute and command numbers from here, so a number is written once.
Values were checked against OVS's copy of the header (``include/linux/
openvswitch.h``) and the recent Linux UAPI; where the two disagree the
comment says which one we follow and why.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "GENL_ID_CTRL",
    "MAX_UFID_LENGTH",
    "NLA_ALIGNTO",
    "NLA_HDRLEN",
    "OVS_DATAPATH_FAMILY",
    "OVS_DATAPATH_VERSION",
    "OVS_FLOW_FAMILY",
    "OVS_FLOW_VERSION",
    "OVS_PACKET_FAMILY",
    "OVS_PACKET_VERSION",
    "OVS_VPORT_FAMILY",
    "OVS_VPORT_VERSION",
    "ActionAttr",
    "CtrlAttr",
    "CtrlCmd",
    "CheckPktLenAttr",
    "CtAttr",
    "CtState",
    "DatapathAttr",
    "DatapathCmd",
    "DecTtlAttr",
    "FlowAttr",
    "FlowCmd",
    "FragType",
    "HashAlg",
    "KeyAttr",
    "NatAttr",
    "NlmFlag",
    "NlmsgType",
    "NshKeyAttr",
    "PacketAttr",
    "PacketCmd",
    "PsampleAttr",
    "SampleAttr",
    "TunnelKeyAttr",
    "UfidFlags",
    "UserspaceAttr",
    "VportAttr",
    "VportCmd",
    "VportType",
    "VxlanExtAttr",
]

# Netlink attribute framing (include/uapi/linux/netlink.h).
NLA_ALIGNTO = 4
NLA_HDRLEN = 4

OVS_DATAPATH_FAMILY = "ovs_datapath"
OVS_DATAPATH_VERSION = 2
OVS_VPORT_FAMILY = "ovs_vport"
OVS_VPORT_VERSION = 1
OVS_FLOW_FAMILY = "ovs_flow"
OVS_FLOW_VERSION = 1
OVS_PACKET_FAMILY = "ovs_packet"
OVS_PACKET_VERSION = 1

# net/openvswitch/flow.h: struct sw_flow_id holds at most 4 u32 words.
MAX_UFID_LENGTH = 16


class DatapathCmd(IntEnum):
    UNSPEC = 0
    NEW = 1
    DEL = 2
    GET = 3
    SET = 4


class DatapathAttr(IntEnum):
    UNSPEC = 0
    NAME = 1
    UPCALL_PID = 2
    STATS = 3
    MEGAFLOW_STATS = 4
    USER_FEATURES = 5
    PAD = 6
    MASKS_CACHE_SIZE = 7
    PER_CPU_PIDS = 8
    IFINDEX = 9  # Linux only; absent from OVS's copy of the header.


class VportCmd(IntEnum):
    UNSPEC = 0
    NEW = 1
    DEL = 2
    GET = 3
    SET = 4


class VportType(IntEnum):
    UNSPEC = 0
    NETDEV = 1
    INTERNAL = 2
    GRE = 3
    VXLAN = 4
    GENEVE = 5


class VportAttr(IntEnum):
    UNSPEC = 0
    PORT_NO = 1
    TYPE = 2
    NAME = 3
    OPTIONS = 4
    UPCALL_PID = 5
    STATS = 6
    PAD = 7
    IFINDEX = 8
    NETNSID = 9
    UPCALL_STATS = 10


class FlowCmd(IntEnum):
    UNSPEC = 0
    NEW = 1
    DEL = 2
    GET = 3
    SET = 4


class FlowAttr(IntEnum):
    UNSPEC = 0
    KEY = 1
    ACTIONS = 2
    STATS = 3
    TCP_FLAGS = 4
    USED = 5
    CLEAR = 6
    MASK = 7
    PROBE = 8
    UFID = 9
    UFID_FLAGS = 10
    PAD = 11


class UfidFlags(IntFlag):
    """``OVS_UFID_F_*``: which attributes a reply may leave out (terse)."""

    NONE = 0
    OMIT_KEY = 1 << 0
    OMIT_MASK = 1 << 1
    OMIT_ACTIONS = 1 << 2
    TERSE = OMIT_KEY | OMIT_MASK | OMIT_ACTIONS


class PacketCmd(IntEnum):
    UNSPEC = 0
    MISS = 1
    ACTION = 2
    EXECUTE = 3


class PacketAttr(IntEnum):
    UNSPEC = 0
    PACKET = 1
    KEY = 2
    ACTIONS = 3
    USERDATA = 4
    EGRESS_TUN_KEY = 5
    UNUSED1 = 6
    UNUSED2 = 7
    PROBE = 8
    MRU = 9
    LEN = 10
    HASH = 11
    UPCALL_PID = 12  # OVS's copy only; not confirmed in Linux.


class KeyAttr(IntEnum):
    """``OVS_KEY_ATTR_*``."""

    UNSPEC = 0
    ENCAP = 1
    PRIORITY = 2
    IN_PORT = 3
    ETHERNET = 4
    VLAN = 5
    ETHERTYPE = 6
    IPV4 = 7
    IPV6 = 8
    TCP = 9
    UDP = 10
    ICMP = 11
    ICMPV6 = 12
    ARP = 13
    ND = 14
    SKB_MARK = 15
    TUNNEL = 16
    SCTP = 17
    TCP_FLAGS = 18
    DP_HASH = 19
    RECIRC_ID = 20
    MPLS = 21
    CT_STATE = 22
    CT_ZONE = 23
    CT_MARK = 24
    CT_LABELS = 25
    CT_ORIG_TUPLE_IPV4 = 26
    CT_ORIG_TUPLE_IPV6 = 27
    NSH = 28
    PACKET_TYPE = 29  # userspace only: dpif-netlink strips it before sending
    ND_EXTENSIONS = 30  # userspace only
    TUNNEL_INFO = 31  # kernel internal
    IPV6_EXTHDRS = 32  # Linux only (recent UAPI)


class TunnelKeyAttr(IntEnum):
    """``OVS_TUNNEL_KEY_ATTR_*``: numbering starts at 0, there is no UNSPEC."""

    ID = 0
    IPV4_SRC = 1
    IPV4_DST = 2
    TOS = 3
    TTL = 4
    DONT_FRAGMENT = 5
    CSUM = 6
    OAM = 7
    GENEVE_OPTS = 8
    TP_SRC = 9
    TP_DST = 10
    VXLAN_OPTS = 11
    IPV6_SRC = 12
    IPV6_DST = 13
    PAD = 14
    ERSPAN_OPTS = 15
    # 16 is IPV4_INFO_BRIDGE (flag) in Linux but GTPU_OPTS in OVS userspace;
    # we follow Linux because the kernel is what certifies against it.
    IPV4_INFO_BRIDGE = 16


class VxlanExtAttr(IntEnum):
    UNSPEC = 0
    GBP = 1


class NshKeyAttr(IntEnum):
    UNSPEC = 0
    BASE = 1
    MD1 = 2
    MD2 = 3


class FragType(IntEnum):
    NONE = 0
    FIRST = 1
    LATER = 2


class CtState(IntFlag):
    """``OVS_CS_F_*`` bits of ``OVS_KEY_ATTR_CT_STATE``."""

    NEW = 0x01
    ESTABLISHED = 0x02
    RELATED = 0x04
    REPLY_DIR = 0x08
    INVALID = 0x10
    TRACKED = 0x20
    SRC_NAT = 0x40
    DST_NAT = 0x80


class ActionAttr(IntEnum):
    """``OVS_ACTION_ATTR_*``."""

    UNSPEC = 0
    OUTPUT = 1
    USERSPACE = 2
    SET = 3
    PUSH_VLAN = 4
    POP_VLAN = 5
    SAMPLE = 6
    RECIRC = 7
    HASH = 8
    PUSH_MPLS = 9
    POP_MPLS = 10
    SET_MASKED = 11
    CT = 12
    TRUNC = 13
    PUSH_ETH = 14
    POP_ETH = 15
    CT_CLEAR = 16
    PUSH_NSH = 17
    POP_NSH = 18
    METER = 19
    CLONE = 20
    CHECK_PKT_LEN = 21
    ADD_MPLS = 22
    DEC_TTL = 23
    DROP = 24
    PSAMPLE = 25
    # 26-28 exist only in the userspace datapath (OVS's header).
    TUNNEL_PUSH = 26
    TUNNEL_POP = 27
    LB_OUTPUT = 28


class UserspaceAttr(IntEnum):
    UNSPEC = 0
    PID = 1
    USERDATA = 2
    EGRESS_TUN_PORT = 3
    ACTIONS = 4


class SampleAttr(IntEnum):
    UNSPEC = 0
    PROBABILITY = 1
    ACTIONS = 2


class HashAlg(IntEnum):
    L4 = 0
    SYM_L4 = 1


class CtAttr(IntEnum):
    UNSPEC = 0
    COMMIT = 1
    ZONE = 2
    MARK = 3
    LABELS = 4
    HELPER = 5
    NAT = 6
    FORCE_COMMIT = 7
    EVENTMASK = 8
    TIMEOUT = 9


class NatAttr(IntEnum):
    UNSPEC = 0
    SRC = 1
    DST = 2
    IP_MIN = 3
    IP_MAX = 4
    PROTO_MIN = 5
    PROTO_MAX = 6
    PERSISTENT = 7
    PROTO_HASH = 8
    PROTO_RANDOM = 9


class CheckPktLenAttr(IntEnum):
    UNSPEC = 0
    PKT_LEN = 1
    ACTIONS_IF_GREATER = 2
    ACTIONS_IF_LESS_EQUAL = 3


class DecTtlAttr(IntEnum):
    UNSPEC = 0
    ACTION = 1


class PsampleAttr(IntEnum):
    GROUP = 1
    COOKIE = 2


# include/uapi/linux/netlink.h: message types and header flags.
class NlmsgType(IntEnum):
    """Netlink control message types (``NLMSG_*``); families use ids from 0x10 (NLMSG_MIN_TYPE)."""

    NOOP = 1
    ERROR = 2
    DONE = 3
    OVERRUN = 4
    MIN_TYPE = 0x10


class NlmFlag(IntFlag):
    """``NLM_F_*`` flags of ``struct nlmsghdr``; the same bits mean different things per request kind."""

    NONE = 0
    REQUEST = 0x01
    MULTI = 0x02
    ACK = 0x04
    ECHO = 0x08
    DUMP_INTR = 0x10
    DUMP_FILTERED = 0x20
    # GET requests
    ROOT = 0x100
    MATCH = 0x200
    ATOMIC = 0x400
    DUMP = ROOT | MATCH
    # NEW requests
    REPLACE = 0x100
    EXCL = 0x200
    CREATE = 0x400
    APPEND = 0x800
    # NLMSG_ERROR replies
    CAPPED = 0x100
    ACK_TLVS = 0x200


# include/uapi/linux/genetlink.h: the generic netlink controller (nlctrl), which maps family names to ids.
GENL_ID_CTRL = 0x10


class CtrlCmd(IntEnum):
    """``CTRL_CMD_*``: a GETFAMILY request by name is answered with a NEWFAMILY message."""

    NEWFAMILY = 1
    GETFAMILY = 3


class CtrlAttr(IntEnum):
    """``CTRL_ATTR_*`` of a nlctrl message (the family's id, name, version, header size and last attribute)."""

    FAMILY_ID = 1
    FAMILY_NAME = 2
    VERSION = 3
    HDRSIZE = 4
    MAXATTR = 5
