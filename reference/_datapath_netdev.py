"""dpif-netdev semantics of the reference datapath: lib/dpif-netdev.c's puts, gets and deletes; no I/O."""

from __future__ import annotations

from reference._classifier import mask_bytes
from reference._datapath_core import DatapathCore
from reference._flow_slots import Flow
from reference.dpif import (
    DpifExists,
    DpifFlow,
    DpifInvalid,
    DpifNotFound,
    DpifNotSupported,
    FlowStats,
    PutFlags,
    UfidArg,
)
from reference.odp.fitness import KeyFitness, fitness_report
from reference.uapi import KeyAttr

__all__ = ["NetdevCommands"]

_IN_PORT = (int(KeyAttr.IN_PORT),)
_CREATE, _MODIFY, _ZERO = (int(f) for f in (PutFlags.CREATE, PutFlags.MODIFY, PutFlags.ZERO_STATS))
_ZERO_STATS = FlowStats()


class NetdevCommands(DatapathCore):
    """``dpif_netdev_flow_put/get/del`` (``flow_put_on_pmd``, ``dp_netdev_pmd_find_flow``) on the shared table."""

    def _n_ufid(self, raw: bytes) -> bytes:
        # dpif-netdev only knows 128-bit UFIDs (ovs_u128).
        if len(raw) != 16:
            raise DpifInvalid(f"UFID of {len(raw)} bytes: the userspace datapath takes 16")
        return raw

    def _n_put(self, key: bytes, mask: bytes | None, actions: bytes, raw: bytes | None, pf: int) -> FlowStats:
        pk, ms, masked = self._parse_match(key, mask)
        acts = self._check_actions(actions)
        # dpif_netdev_flow_put: "in_port is not an exact match" -> EINVAL.
        if dict(ms).get(_IN_PORT) != b"\xff\xff\xff\xff":
            raise DpifInvalid("in_port is not an exact match")
        given = raw is not None
        ufid = self._n_ufid(raw) if raw is not None else self.generate_ufid(pk.data).to_wire()
        by_ufid = self._by_ufid.get(ufid) if given else None
        by_key = self._table.lookup(pk.leaves)  # the classifier lookup of the unmasked key
        target = by_ufid if given else by_key
        if target is None:
            if given and pf & _CREATE and self._table.get(ms, masked) is not None:
                # A flow with this very match exists under another UFID. Since
                # upstream 21410ff80 (first in 3.1.3) flow_put_on_pmd() looks a
                # put with a UFID up by that UFID only and installs a second flow
                # with the same match, but lib/dpif.h's dpif_flow_put contract
                # says a put whose key exists fails with EEXIST without MODIFY
                # (and the Linux datapath does so): the documented contract
                # decides (docs/dpif-contract.md, difference (d)).
                raise DpifExists("a flow with the same match exists under another UFID")
            # Only an overlapping megaflow (another match) covers the key: with a
            # UFID, upstream looks the UFID up and installs the new megaflow
            # (21410ff80: "OVS allows overlapping megaflows"); 3.1.0 found the
            # overlapping flow by key instead.
            if not pf & _CREATE:
                raise DpifNotFound("flow not found and CREATE not given")
            if ufid in self._by_ufid:
                raise DpifExists("a flow with this UFID exists")
            flow = Flow(pk, ms, masked, acts, ufid, keep_tree=True)
            self._insert(flow)
            flow.public_ufid()
            return _ZERO_STATS
        if not pf & _MODIFY:
            raise DpifExists("flow exists and MODIFY not given")
        if not given and target.unmasked != pk.fields:
            raise DpifInvalid("overlapping flow")
        before = target.stats()
        target.actions = acts
        if pf & _ZERO:
            # The actions are replaced, then the call fails: dpif-netdev
            # cannot zero its per-thread stats (flow_put_on_pmd).
            raise DpifNotSupported("ZERO_STATS is not supported by the userspace datapath")
        return before

    def _n_find(self, ufid: UfidArg | None, key: bytes | None) -> Flow:
        # dp_netdev_pmd_find_flow: only by UFID; without one, the key is
        # hashed into the UFID it would have been given.
        if ufid is not None:
            u = self._n_ufid(self._raw_ufid(ufid) or b"")
        elif key is not None:
            if not isinstance(key, (bytes, bytearray, memoryview)):
                raise DpifInvalid(f"a key must be bytes, not {type(key).__name__}")
            # dp_netdev_pmd_find_flow hashes the key only if it converts perfectly.
            if fitness_report(bytes(key)).fitness is not KeyFitness.PERFECT:
                raise DpifNotFound("flow not found (the key is not a complete userspace key)")
            u = self.generate_ufid(key).to_wire()
        else:
            raise DpifNotFound("neither UFID nor key given")
        flow = self._by_ufid.get(u)
        if flow is None:
            raise DpifNotFound("flow not found")
        return flow

    def _n_flow(self, flow: Flow, terse: bool) -> DpifFlow:
        stats = flow.stats()
        if terse:
            return DpifFlow(flow.public_ufid(), True, None, None, None, stats, flow.ufid)
        return DpifFlow(
            flow.public_ufid(), True, flow.key, mask_bytes(flow.parsed_key(), flow.mask), flow.actions, stats, flow.ufid
        )
