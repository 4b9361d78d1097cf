"""Packet mutants: upcalls (in_port, packet, key, delivery) and execute."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conformance.mutants._mutant import KL, KNL, Mutant, fixed
from conformance.mutants._wrapper import Hooks
from reference._netlink import iter_attrs, pack_attrs
from reference.dpif import DpifInvalid, Upcall
from reference.uapi import KeyAttr

__all__ = ["EXECUTE", "UPCALLS"]


def _upcalls(change: Callable[[list[Upcall]], list[Upcall]]) -> Hooks:
    """What ``recv_upcalls`` returns goes through ``change``."""

    def around(recv: Callable[..., Any]) -> Callable[..., Any]:
        return lambda max=64: change(recv(max))

    return Hooks(around={"recv_upcalls": around})


def _strip_in_port(u: Upcall) -> Upcall:
    try:
        attrs = [(t, p) for t, p, _ in iter_attrs(u.key)]
    except ValueError:
        return u
    return replace(u, key=pack_attrs((t, p) for t, p in attrs if t != KeyAttr.IN_PORT))


def _lax(execute: Callable[..., Any]) -> Callable[..., Any]:
    def run(packet: bytes, actions: bytes, *, in_port: int) -> None:
        with contextlib.suppress(DpifInvalid):
            execute(packet, actions, in_port=in_port)

    return run


UPCALLS: tuple[Mutant, ...] = (
    Mutant(
        "upcall-in-port-off-by-one",
        "upcall",
        "recv_upcalls",
        "upcalls report in_port + 1",
        "ofproto/ofproto-dpif-upcall.c upcall_receive derives the ofport from the key's in_port",
        fixed(_upcalls(lambda ups: [replace(u, in_port=u.in_port + 1) for u in ups])),
        KNL,
        ("UFID-UPCALL-001",),
    ),
    Mutant(
        "upcall-packet-truncated",
        "upcall",
        "recv_upcalls",
        "upcall packets lose their last 4 bytes",
        "ofproto/ofproto-dpif-upcall.c handle_upcalls executes the upcall's packet: a truncated frame is forwarded",
        fixed(_upcalls(lambda ups: [replace(u, packet=u.packet[:-4]) for u in ups])),
        KNL,
        ("UFID-UPCALL-001",),
    ),
    Mutant(
        "upcall-key-without-in-port",
        "upcall",
        "recv_upcalls",
        "upcall keys lack OVS_KEY_ATTR_IN_PORT",
        "ofproto/ofproto-dpif-upcall.c upcall_receive/odp_flow_key_to_flow need in_port to find the bridge",
        fixed(_upcalls(lambda ups: [_strip_in_port(u) for u in ups])),
        KL,
        ("UFID-UPCALL-002",),
    ),
    Mutant(
        "upcall-dropped",
        "upcall",
        "inject/recv_upcalls",
        "misses are counted but never queued",
        "ofproto/ofproto-dpif-upcall.c handlers install flows only from upcalls: nothing is ever learned",
        fixed(_upcalls(lambda ups: [])),
        KNL,
        ("UFID-UPCALL-001",),
    ),
)

EXECUTE: tuple[Mutant, ...] = (
    Mutant(
        "execute-accepts-malformed-actions",
        "execute",
        "execute",
        "execute accepts actions it cannot run (malformed or unknown) without error",
        "ofproto/ofproto-dpif.c check_masked_set_action/check_trunc_action probe datapath features by executing "
        "the action: no EINVAL means supported, so OVS would install flows with actions the datapath cannot run "
        "(dpif-netdev does not check, so the rule is the kernel's)",
        fixed(Hooks(around={"execute": _lax})),
        KL,
        ("UFID-EXEC-001",),
    ),
)
