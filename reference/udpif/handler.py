"""Handlers: turn upcalls into ukeys, datapath flows and packet executions.

Reproduces ``recv_upcalls()`` / ``handle_upcalls()`` / ``should_install_flow()``
of ofproto/ofproto-dpif-upcall.c: up to 64 upcalls per batch, each translated
(its packet credited to the winning rule), a ukey installed unless the
datapath is at the dynamic flow limit or the UFID is already cached, then
ONE ``operate`` with a CREATE put per new ukey and an execute per packet.
Put failures move the ukey to EVICTED, successes to OPERATIONAL.
"""

from __future__ import annotations

import logging
import time

from reference.dpif import DpifOp, ExecuteOp, PutFlags, PutOp
from reference.errors import UfidcertInputError
from reference.udpif._services import UdpifServices
from reference.udpif.config import UPCALL_MAX_BATCH
from reference.udpif.ukey import Ukey, UkeyState
from reference.udpif.umap import InstallResult

__all__ = ["Handler"]

_log = logging.getLogger("reference.udpif")


class Handler:
    """One handler thread's work (``struct handler``)."""

    def __init__(self, udpif: UdpifServices, index: int) -> None:
        self.udpif = udpif
        self.index = index

    def should_install(self) -> bool:
        """``should_install_flow`` for a MISS upcall: refused once the datapath holds flow_limit flows."""
        udpif = self.udpif
        limit = udpif.flow_limit.value
        if udpif.n_flows() >= limit:
            udpif.count("upcall_flow_limit_hit")
            return False
        return True

    def handle_batch(self) -> int:
        """Receive and handle up to 64 upcalls; returns how many were received."""
        udpif = self.udpif
        dpif = udpif.dpif
        upcalls = dpif.recv_upcalls(UPCALL_MAX_BATCH)
        if not upcalls:
            return 0
        rules = udpif.rules
        now = udpif.clock.now_ms()
        ops: list[DpifOp] = []
        installed: list[Ukey | None] = []
        for up in upcalls:
            try:
                xlated = rules.translate(up.key, megaflows=udpif.enable_megaflows)
            except UfidcertInputError as exc:
                # ODP_FIT_ERROR: the key does not parse; the upcall is dropped.
                udpif.count("upcall_bad_key")
                _log.warning("dropping upcall with a malformed key: %s", exc)
                continue
            # The packet that missed is accounted to its rule during translation (resubmit_stats).
            rules.credit(xlated.rule_id, 1, len(up.packet), now)
            if self.should_install():
                ufid = up.ufid if up.ufid is not None else udpif.ufid_for_key(up.key)
                ukey = Ukey(
                    ufid=ufid,
                    key=up.key,
                    mask=xlated.mask,
                    actions=xlated.actions,
                    reval_seq=xlated.reval_seq,
                    created=now,
                    xcache=xlated.rule_id,
                )
                result = udpif.ukeys.install(ukey)
                if result.installed:
                    ops.append(PutOp(up.key, xlated.mask, xlated.actions, ufid=ufid, flags=PutFlags.CREATE))
                    installed.append(ukey)
                else:
                    udpif.count(
                        "handler_duplicate_upcall" if result is InstallResult.DUPLICATE else f"ukey_{result.value}"
                    )
            if xlated.actions:
                ops.append(ExecuteOp(up.packet, xlated.actions, up.in_port))
                installed.append(None)
        if ops:
            results = dpif.operate(ops)
            for new, res in zip(installed, results, strict=True):
                if new is None:
                    continue
                with new.lock:
                    if res.error is not None:
                        udpif.count("handler_put_error")
                        # A revalidator may already have seen the flow (an EEXIST for a flow that
                        # exists): only a ukey still waiting for its install is given up.
                        if new.state == UkeyState.VISIBLE:
                            new.transition(UkeyState.EVICTED)
                    elif new.state < UkeyState.OPERATIONAL:
                        new.transition(UkeyState.OPERATIONAL)
        return len(upcalls)

    def run(self) -> None:
        """The handler thread: handle batches until the udpif exits, backing off while idle."""
        udpif = self.udpif
        idle = 0.0005
        while not udpif.exiting:
            if self.handle_batch():
                idle = 0.0005
            else:
                time.sleep(idle)
                idle = min(idle * 2, 0.005)
