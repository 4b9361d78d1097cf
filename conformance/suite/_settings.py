"""Hypothesis settings for the certification, from the active ``--dpif-profile``.

Derandomised (each test's seed derived from its name) unless ``--dpif-seed``
forces one; no deadline (backends may be slow, e.g. a VM); no example
database (a certification must not depend on earlier runs).
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

from conformance.plugin import active_profile, active_seed

__all__ = ["machine_settings", "property_settings"]

# No explain phase: it re-runs failing examples under a tracer, which is slow and adds nothing to a report.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def property_settings(scale: float = 1.0) -> settings:
    """Settings for a property test (``scale`` for expensive ones)."""
    return settings(
        max_examples=max(1, int(active_profile().max_examples * scale)),
        derandomize=active_seed() == 0,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=_PHASES,
    )


def machine_settings() -> settings:
    """Settings for the differential state machine."""
    p = active_profile()
    return settings(
        max_examples=p.machine_examples,
        stateful_step_count=p.machine_steps,
        derandomize=active_seed() == 0,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=_PHASES,
    )
