"""Flow keys, masks and actions for datapath tests, built with plain ``struct``.

Deliberately independent of ``reference._netlink`` and ``reference.odp``:
attribute numbers come from include/uapi/linux/openvswitch.h
and the TLV layout from include/uapi/linux/netlink.h.
"""

from __future__ import annotations

import ipaddress
import struct

__all__ = [
    "ACTIONS_DROP",
    "TERSE",
    "attr",
    "eth_key",
    "ipv4_key",
    "ipv4_mask",
    "meaning",
    "output",
    "ufid_bytes",
]

# OVS_KEY_ATTR_*
IN_PORT, ETHERNET, ETHERTYPE, IPV4, TCP, TCP_FLAGS = 3, 4, 6, 7, 9, 18
# OVS_ACTION_ATTR_OUTPUT
_OUTPUT = 1
TERSE = 0x7  # OMIT_KEY | OMIT_MASK | OMIT_ACTIONS
ACTIONS_DROP = b""


def attr(attr_type: int, payload: bytes = b"") -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, attr_type) + payload + b"\0" * (-n % 4)


_ENCAP, _TUNNEL = 1, 16


def meaning(data: bytes, nested: bool = False) -> dict[int, object]:
    """Key or mask attributes that carry something: type -> payload (nests -> dict), all-zero ones left out.

    The kernel sends a flow's key and mask back from its struct sw_flow_key
    (flow_netlink.c __ovs_nla_put_key): every metadata attribute, zero or
    not, in its own order. Two keys "mean" the same when this agrees.
    """
    out: dict[int, object] = {}
    pos = 0
    while pos + 4 <= len(data):
        n, t = struct.unpack_from("=HH", data, pos)
        payload = data[pos + 4 : pos + n]
        pos += (n + 3) & ~3
        if not nested and t in (_ENCAP, _TUNNEL):
            inner = meaning(payload, nested=True)
            if inner:
                out[t] = inner
        elif any(payload):
            out[t] = payload
    return out


def _mac(i: int) -> bytes:
    return bytes([0, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF])


def eth_key(*, in_port: int = 1, src: int = 1, dst: int = 2, eth_type: int = 0x88CC) -> bytes:
    """in_port, eth(src, dst), eth_type: the key of the Linux 6.1 transcript replayed in test_datapath.py."""
    return (
        attr(IN_PORT, struct.pack("=I", in_port))
        + attr(ETHERNET, _mac(src) + _mac(dst))
        + attr(ETHERTYPE, struct.pack("!H", eth_type))
    )


def ipv4_key(
    dst: str = "10.1.2.2", *, src: str = "10.0.0.1", in_port: int = 1, sport: int = 1, dport: int = 2
) -> bytes:
    """An exact TCP/IPv4 key (with tcp_flags, which the kernel requires for TCP: flow_netlink.c match_validate)."""
    ip = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + bytes([6, 0, 64, 0])
    return (
        attr(IN_PORT, struct.pack("=I", in_port))
        + attr(ETHERNET, _mac(1) + _mac(2))
        + attr(ETHERTYPE, struct.pack("!H", 0x0800))
        + attr(IPV4, ip)
        + attr(TCP, struct.pack("!HH", sport, dport))
        + attr(TCP_FLAGS, struct.pack("!H", 0))
    )


def ipv4_mask(prefix: int = 24, *, in_port: bool = True) -> bytes:
    """Exact on everything but the IPv4 destination, which is matched on ``prefix`` bits."""
    dst_mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF if prefix else 0
    ip = b"\xff" * 4 + struct.pack("!I", dst_mask) + b"\xff\xff\xff\xff"
    return (
        attr(IN_PORT, b"\xff\xff\xff\xff" if in_port else b"\0\0\0\0")
        + attr(ETHERNET, b"\xff" * 12)
        + attr(ETHERTYPE, b"\xff\xff")
        + attr(IPV4, ip)
        + attr(TCP, b"\xff" * 4)
        + attr(TCP_FLAGS, b"\xff\xff")
    )


def output(port: int) -> bytes:
    return attr(_OUTPUT, struct.pack("=I", port))


def ufid_bytes(n: int, fill: int = 0x11) -> bytes:
    return bytes([fill]) * n
