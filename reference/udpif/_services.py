"""What handlers and revalidators may use of their udpif: a narrow, read-mostly interface.

:class:`~reference.udpif.udpif.Udpif` satisfies it; handlers and
revalidators are written against this Protocol instead of the class, so
neither module imports the udpif (which owns them and the revalidation
round). These are the ``struct udpif`` fields and helpers that
ofproto/ofproto-dpif-upcall.c's handler and revalidator code reads.
"""

from __future__ import annotations

from typing import Protocol

from reference.dpif import Dpif
from reference.udpif.clock import Clock
from reference.udpif.config import UdpifConfig
from reference.udpif.flow_limit import FlowLimit
from reference.udpif.umap import UkeyMap
from reference.udpif.xlate import RuleTable
from reference.ufid import Ufid

__all__ = ["UdpifServices"]


class UdpifServices(Protocol):
    """The udpif as its handler and revalidator threads see it."""

    @property
    def dpif(self) -> Dpif: ...

    @property
    def rules(self) -> RuleTable: ...

    @property
    def config(self) -> UdpifConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def ukeys(self) -> UkeyMap: ...

    @property
    def flow_limit(self) -> FlowLimit: ...

    @property
    def dump_seq(self) -> int:
        """The sequence number of the round in progress (``udpif->dump_seq``)."""

    @property
    def dump_duration(self) -> int:
        """How long the last completed round took, in ms."""

    @property
    def enable_megaflows(self) -> bool: ...

    @property
    def exiting(self) -> bool:
        """Threads should return (``latch_is_set(&udpif->exit_latch)``)."""

    def use_ufid(self) -> bool: ...

    def ufid_for_key(self, key: bytes) -> Ufid: ...

    def count(self, name: str, n: int = 1) -> None: ...

    def n_flows(self) -> int: ...
