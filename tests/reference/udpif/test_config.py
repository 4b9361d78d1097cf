"""UdpifConfig: OVS's defaults, and bad settings refused with the project's input error."""

from __future__ import annotations

import pytest

from reference.errors import UfidcertInputError
from reference.udpif import UdpifConfig
from reference.udpif import config as c


def test_defaults_are_ovs_defaults() -> None:
    cfg = UdpifConfig()
    # ofproto/ofproto.h and ofproto-dpif-upcall.c (facts 7.1)
    assert (cfg.flow_limit, cfg.max_idle, cfg.max_revalidator, cfg.min_revalidate_pps) == (200000, 10000, 500, 5)
    assert (c.UPCALL_MAX_BATCH, c.REVALIDATE_MAX_BATCH, c.N_UMAPS) == (64, 50, 512)
    assert c.UINT64_THREE_QUARTERS == 0xBFFF_FFFF_FFFF_FFFD
    assert (c.DUMP_TOO_SLOW_MS, c.DUMP_SLOW_MS, c.DUMP_FAST_MS) == (2000, 1300, 1000)
    assert (c.FLOW_LIMIT_STEP, c.FLOW_LIMIT_FLOOR, c.FLOW_LIMIT_INITIAL_MAX) == (1000, 1000, 10000)
    assert (c.MAX_MISSED_DUMPS, c.OVER_LIMIT_MAX_IDLE_MS, c.N_FLOWS_CACHE_MS) == (4, 100, 100)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flow_limit": 0},
        {"max_idle": -1},
        {"n_handlers": 0},
        {"n_revalidators": 513},
        {"min_revalidate_pps": -1},
        {"max_revalidator": True},
        {"flow_limit": 1.5},
    ],
)
def test_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(UfidcertInputError):
        UdpifConfig(**kwargs)  # type: ignore[arg-type]
