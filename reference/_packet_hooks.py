"""Action validation and key extraction used by the reference datapath; no I/O.

The project's codecs own these jobs (``reference.odp.actions.validate_actions``
and ``reference.odp.extract.extract_key``). They are looked up once at import;
while a codec is not available the small fallbacks here keep the datapath
usable: a structural action check (well-formed attributes of known
``OVS_ACTION_ATTR_*`` types) and an Ethernet-only key (in_port, eth,
eth_type).
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable
from typing import cast

from reference._netlink import pack_attr, split_attrs
from reference.errors import OdpDecodeError
from reference.uapi import ActionAttr, KeyAttr

__all__ = ["extract_key", "output_ports", "uses_codec", "validate_actions"]

_KNOWN_ACTIONS = frozenset(int(a) for a in ActionAttr) - {int(ActionAttr.UNSPEC)}


def _fallback_validate_actions(data: bytes, *, where: str = "actions") -> None:
    for attr_type, _payload in split_attrs(data, where=where):
        if attr_type not in _KNOWN_ACTIONS:
            raise OdpDecodeError(f"unknown action type {attr_type}", where=where)


def _fallback_extract_key(packet: bytes, in_port: int) -> bytes:
    # An Ethernet-only key; the real extractor (flow.c key_extract) goes on
    # into VLAN, L3 and L4 headers.
    frame = packet[:14].ljust(14, b"\0")
    dst, src, ethertype = frame[0:6], frame[6:12], frame[12:14]
    return (
        pack_attr(KeyAttr.IN_PORT, struct.pack("=I", in_port))
        + pack_attr(KeyAttr.ETHERNET, src + dst)
        + pack_attr(KeyAttr.ETHERTYPE, ethertype)
    )


def _load(module: str, name: str) -> Callable[..., object] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return cast("Callable[..., object]", fn) if callable(fn) else None


_codec_validate = _load("reference.odp.actions", "validate_actions")
_codec_extract = _load("reference.odp.extract", "extract_key")


def uses_codec() -> dict[str, bool]:
    """Which of the project's codecs are in use (False: the fallback here is)."""
    return {"validate_actions": _codec_validate is not None, "extract_key": _codec_extract is not None}


def validate_actions(data: bytes, *, where: str = "actions") -> None:
    """Raise :class:`OdpDecodeError` if ``data`` is not an acceptable action list."""
    if _codec_validate is not None:
        _codec_validate(data, where=where)
    else:
        _fallback_validate_actions(data, where=where)


def extract_key(packet: bytes, in_port: int) -> bytes:
    """The flow key the datapath extracts from ``packet`` arriving on ``in_port``."""
    if _codec_extract is not None:
        key = _codec_extract(packet, in_port)
        if not isinstance(key, bytes):
            raise TypeError("extract_key did not return bytes")
        return key
    return _fallback_extract_key(packet, in_port)


def output_ports(actions: bytes) -> list[int]:
    """The ports of the top-level OUTPUT actions, in order (what execution forwards to)."""
    ports = []
    for attr_type, payload in split_attrs(actions, where="actions"):
        if attr_type == ActionAttr.OUTPUT and len(payload) == 4:
            ports.append(struct.unpack("=I", payload)[0])
    return ports
