"""Handlers, the ukey cache and revalidators over any :class:`reference.dpif.Dpif` (ofproto-dpif-upcall.c).

Start with :class:`Udpif`: give it a datapath and a :class:`RuleTable`, then
either drive it step by step (``handle_upcalls()``, ``revalidate()``) or run
handler and revalidator threads with ``start()``/``stop()``. docs/udpif.md
explains the model and what is reproduced from OVS.
"""

from __future__ import annotations

from reference.udpif.clock import Clock, ManualClock, MonotonicClock
from reference.udpif.config import UdpifConfig
from reference.udpif.flow_limit import FlowLimit, LimitChange, LimitDecision, adapt_flow_limit, initial_flow_limit
from reference.udpif.handler import Handler
from reference.udpif.revalidator import Revalidator, RevalResult
from reference.udpif.udpif import RoundReport, Udpif
from reference.udpif.ukey import TRANSITIONS, IllegalUkeyTransition, Ukey, UkeyState, check_transition
from reference.udpif.umap import InstallResult, UkeyMap
from reference.udpif.xlate import TABLE_MISS, FieldMatch, Rule, RuleStats, RuleTable, Translation

__all__ = [
    "TABLE_MISS",
    "TRANSITIONS",
    "Clock",
    "FieldMatch",
    "FlowLimit",
    "Handler",
    "IllegalUkeyTransition",
    "InstallResult",
    "LimitChange",
    "LimitDecision",
    "ManualClock",
    "MonotonicClock",
    "RevalResult",
    "Revalidator",
    "RoundReport",
    "Rule",
    "RuleStats",
    "RuleTable",
    "Translation",
    "Udpif",
    "UdpifConfig",
    "Ukey",
    "UkeyMap",
    "UkeyState",
    "adapt_flow_limit",
    "check_transition",
    "initial_flow_limit",
]
