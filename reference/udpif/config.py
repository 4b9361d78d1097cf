"""Tunables and constants of the upcall/revalidator machinery.

Numbers reproduce ofproto/ofproto-dpif-upcall.c and ofproto/ofproto.h
(OVS@HEAD): the former's #defines and the literals of the functions named in
the comments below, and the latter's ``OFPROTO_*_DEFAULT`` values. Build a
:class:`UdpifConfig` to change the defaults (``upcall/set-flow-limit``,
``other_config:max-idle`` and friends in real OVS).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.errors import UfidcertInputError

__all__ = [
    "DUMP_SLOW_MS",
    "DUMP_TOO_SLOW_MS",
    "DUMP_FAST_MS",
    "FLOW_LIMIT_FLOOR",
    "FLOW_LIMIT_INITIAL_MAX",
    "FLOW_LIMIT_STEP",
    "MAX_MISSED_DUMPS",
    "N_UMAPS",
    "N_FLOWS_CACHE_MS",
    "OFPROTO_FLOW_LIMIT_DEFAULT",
    "OFPROTO_MAX_IDLE_DEFAULT",
    "OFPROTO_MAX_REVALIDATOR_DEFAULT",
    "OFPROTO_MIN_REVALIDATE_PPS_DEFAULT",
    "OVER_LIMIT_MAX_IDLE_MS",
    "REVALIDATE_MAX_BATCH",
    "UINT64_THREE_QUARTERS",
    "UPCALL_MAX_BATCH",
    "UdpifConfig",
]

UPCALL_MAX_BATCH = 64  # upcalls a handler reads before one dpif_operate (recv_upcalls)
REVALIDATE_MAX_BATCH = 50  # flows per dump batch and ops per push (revalidate, push_dp_ops)
N_UMAPS = 512  # ukey map shards per udpif
UINT64_THREE_QUARTERS = (2**64 - 1) // 4 * 3  # counter-wrap guard for "unexpected jump" logging
MAX_MISSED_DUMPS = 4  # revalidator_sweep__: a ukey not dumped this many rounds has lost its flow
N_FLOWS_CACHE_MS = 100  # udpif_get_n_flows refreshes the datapath flow count at most every 100 ms
OVER_LIMIT_MAX_IDLE_MS = 100  # revalidate(): max_idle when the datapath is above the flow limit

# udpif_revalidator's dynamic flow limit (after each dump).
DUMP_TOO_SLOW_MS = 2000  # above: limit /= whole seconds spent
DUMP_SLOW_MS = 1300  # above: limit *= 3/4
DUMP_FAST_MS = 1000  # below (and flows would fit): limit += 1000
FLOW_LIMIT_STEP = 1000
FLOW_LIMIT_FLOOR = 1000
FLOW_LIMIT_INITIAL_MAX = 10000  # udpif_create: flow_limit = MIN(ofproto_flow_limit, 10000)

# ofproto/ofproto.h defaults.
OFPROTO_FLOW_LIMIT_DEFAULT = 200000
OFPROTO_MAX_IDLE_DEFAULT = 10000
OFPROTO_MAX_REVALIDATOR_DEFAULT = 500
OFPROTO_MIN_REVALIDATE_PPS_DEFAULT = 5


@dataclass(frozen=True, slots=True)
class UdpifConfig:
    """Settings of one :class:`reference.udpif.Udpif`; every field in OVS's units (ms, flows, threads)."""

    flow_limit: int = OFPROTO_FLOW_LIMIT_DEFAULT  # ofproto_flow_limit, the cap of the dynamic limit
    max_idle: int = OFPROTO_MAX_IDLE_DEFAULT
    max_revalidator: int = OFPROTO_MAX_REVALIDATOR_DEFAULT
    min_revalidate_pps: int = OFPROTO_MIN_REVALIDATE_PPS_DEFAULT
    n_handlers: int = 1
    n_revalidators: int = 1
    enable_ufid: bool = True  # upcall/enable-ufid (AND-ed with the datapath's probed support)
    enable_megaflows: bool = True  # upcall/disable-megaflows makes every installed mask exact

    def __post_init__(self) -> None:
        for name in ("flow_limit", "max_idle", "max_revalidator", "n_handlers", "n_revalidators"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UfidcertInputError(f"UdpifConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.min_revalidate_pps, bool) or self.min_revalidate_pps < 0:
            raise UfidcertInputError(f"UdpifConfig.min_revalidate_pps must be >= 0, got {self.min_revalidate_pps!r}")
        if self.n_revalidators > N_UMAPS:
            raise UfidcertInputError(f"UdpifConfig.n_revalidators must be <= {N_UMAPS}, got {self.n_revalidators}")
