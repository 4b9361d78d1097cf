"""Hypothesis settings of the suite's tests, derived from the loaded certification profile.

The plugin loads the Hypothesis profile of ``--dpif-profile``
(:mod:`conformance.profiles` defines it); these only scale its example
counts.
"""

from __future__ import annotations

from hypothesis import settings

from conformance.profiles import active_profile

__all__ = ["machine_settings", "property_settings"]


def property_settings(scale: float = 1.0) -> settings:
    """Settings for a property test (``scale`` for expensive ones)."""
    return settings(max_examples=max(1, int(active_profile().max_examples * scale)))


def machine_settings() -> settings:
    """Settings for the differential state machine."""
    p = active_profile()
    return settings(max_examples=p.machine_examples, stateful_step_count=p.machine_steps)
