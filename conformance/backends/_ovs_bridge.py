"""A private ovs-vswitchd with one netdev bridge, set up to time its revalidator rounds.

The set-up used for the revalidation figures of docs/performance.md: a ``datapath_type=netdev``
bridge with two dummy ports and one OpenFlow rule (port 1 -> port 2), one
revalidator thread, megaflows disabled so each packet makes its own
exact-match datapath flow, flow limit raised above the flow count, flows
never idle out. Flows are made by real upcalls (``netdev-dummy/receive``, one
request at a time: pipelined requests overflow the dummy port's queue and
lose packets). Used by ``ufidcert bench --backend netdev``.

Use::

    with RevalidatorBridge() as br:
        br.receive(frame)
        br.wait_round()
        status = br.show()
"""

from __future__ import annotations

import time

from conformance.backends._ovsd import PrivateOvs, Started
from conformance.backends.upcall_show import UdpifStatus, parse_upcall_show
from conformance.errors import BackendUnavailable

__all__ = ["BRIDGE", "RevalidatorBridge"]

BRIDGE = "br0"
FLOW_LIMIT = 400_000
MAX_IDLE_MS = 3_600_000


class RevalidatorBridge(Started):
    """Private daemons + bridge ``br0`` (dummy ports ``p1`` -> ``p2``); see the module docstring."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        # No standalone dp ports: a netdev bridge deletes a standalone netdev datapath made before it anyway
        # (ofproto/ofproto-dpif.c open_dpif_backer() removes every other datapath of its type when the
        # backer is created); the bridge's own datapath is netdev@ovs-netdev.
        self.ovs = PrivateOvs(ports=0, timeout=timeout)
        self.version = ""

    def start(self) -> None:
        """Start the daemons and configure the bridge; raises :class:`BackendUnavailable` on failure."""
        ovs = self.ovs
        ovs.start()
        try:
            # flow-limit raises ofproto_flow_limit, the cap that udpif_revalidator() clamps the dynamic
            # limit to (ofproto-dpif-upcall.c); upcall/set-flow-limit below only sets the current value.
            ovs.vsctl(
                "set",
                "Open_vSwitch",
                ".",
                "other_config:n-revalidator-threads=1",
                "other_config:n-handler-threads=1",
                f"other_config:max-idle={MAX_IDLE_MS}",
                f"other_config:flow-limit={FLOW_LIMIT}",
            )
            ovs.vsctl(
                "add-br",
                BRIDGE,
                "--",
                "set",
                "bridge",
                BRIDGE,
                "datapath_type=netdev",
                "fail-mode=secure",
                *_port("p1", 1),
                *_port("p2", 2),
            )
            # An explicit rule, not NORMAL: MAC learning of thousands of source MACs would make the
            # revalidator re-translate flows, and the round would time xlate rather than the dump.
            ovs.ofctl("add-flow", f"unix:{ovs.rundir}/run/{BRIDGE}.mgmt", "in_port=1,actions=output:2")
            ovs.appctl("upcall/disable-megaflows")
            ovs.appctl("upcall/set-flow-limit", str(FLOW_LIMIT))
            self.version = ovs.version
        except BaseException:
            ovs.close()
            raise

    def close(self) -> None:
        """Stop the daemons and remove the namespace and run directory (idempotent)."""
        self.ovs.close()

    def receive(self, frame: bytes) -> None:
        """One frame into port ``p1`` (an upcall, then a datapath flow); waits for the reply."""
        self.ovs.appctl("netdev-dummy/receive", "p1", frame.hex())

    def set_terse(self, terse: bool) -> None:
        """Switch the revalidator's dumps to terse (UFID only) or full (key, mask, actions)."""
        self.ovs.appctl("upcall/enable-ufid" if terse else "upcall/disable-ufid")

    def wait_round(self) -> None:
        """Block until the revalidator finishes its next round."""
        self.ovs.appctl("revalidator/wait")
        # The leader revalidator bumps dump_seq (which answers revalidator/wait) just BEFORE it stores the
        # round's dump_duration (udpif_revalidator() in ofproto-dpif-upcall.c); give it a moment.
        time.sleep(0.02)

    def show(self) -> UdpifStatus:
        """The bridge datapath's ``upcall/show`` block."""
        for status in parse_upcall_show(self.ovs.appctl("upcall/show")):
            if status.dpif.startswith("netdev@"):
                return status
        raise BackendUnavailable("upcall/show lists no netdev datapath: the bridge did not come up")


def _port(name: str, ofport: int) -> list[str]:
    return ["--", "add-port", BRIDGE, name, "--", "set", "interface", name, "type=dummy", f"ofport_request={ofport}"]
