"""The UFID probe: OVS's ``check_ufid`` over any :class:`~reference.dpif.Dpif`.

ofproto/ofproto-dpif.c ``check_ufid`` builds the key of an all-zero flow
with ``dl_type=0x1234``, derives its UFID and runs lib/dpif.c
``dpif_probe_feature``: put the flow (CREATE|MODIFY|PROBE, no mask, empty
actions), get it back by key and UFID, and call UFIDs supported only if the
reply carries the same UFID; then delete the probe flow. A datapath that
ignores the UFID attribute finds the flow by key and replies without one.
"""

from __future__ import annotations

import contextlib
import random
import struct

from reference._netlink import pack_attrs
from reference.dpif import Dpif, DpifError, PutFlags
from reference.uapi import KeyAttr
from reference.ufid import Ufid

__all__ = ["PROBE_ETHERTYPE", "probe_key", "probe_ufid"]

PROBE_ETHERTYPE = 0x1234


def probe_key() -> bytes:
    """The probe flow's key: what odp_flow_key_from_flow emits for a zeroed flow with dl_type 0x1234.

    skb_priority(0), in_port(0), skb_mark(0), eth(all zero), eth_type(0x1234)
    (no recirc/ct attributes: the probe runs before those features are known).
    """
    return pack_attrs(
        [
            (KeyAttr.PRIORITY, struct.pack("=I", 0)),
            (KeyAttr.IN_PORT, struct.pack("=I", 0)),
            (KeyAttr.SKB_MARK, struct.pack("=I", 0)),
            (KeyAttr.ETHERNET, bytes(12)),
            (KeyAttr.ETHERTYPE, struct.pack("!H", PROBE_ETHERTYPE)),
        ]
    )


def probe_ufid(dpif: Dpif, *, secret: int | None = None) -> bool:
    """True if ``dpif`` stores and echoes UFIDs (``Ufid: Yes`` in ``dpif/show-dp-features``).

    ``secret`` is the hash basis for the probe flow's UFID (random by
    default, as in an OVS process). The probe flow is removed afterwards.
    Any datapath error during the put or get means "not supported".
    """
    key = probe_key()
    ufid = Ufid.from_key(key, random.getrandbits(32) if secret is None else secret)
    try:
        dpif.flow_put(key, None, b"", ufid=ufid, flags=PutFlags.CREATE | PutFlags.MODIFY | PutFlags.PROBE)
    except DpifError:
        return False
    try:
        flow = dpif.flow_get(ufid=ufid, key=key)
        supported = flow.ufid_present and flow.ufid == ufid
    except DpifError:
        supported = False
    # lib/dpif.c only warns when the probe flow cannot be deleted.
    with contextlib.suppress(DpifError):
        dpif.flow_del(ufid=ufid, key=key)
    return supported
