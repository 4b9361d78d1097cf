"""Certification profiles and the one definition of their Hypothesis settings.

``--dpif-profile smoke|standard|full`` picks a :class:`CertProfile`. Each is
registered with Hypothesis as the settings profile ``ufidcert-NAME``
(:func:`certification_settings`), which the plugin loads for the run and
which vendors may load to run their own properties the certification way
(``settings.load_profile("ufidcert-standard")``). The suite's property and
state-machine settings derive from the loaded profile, so the counts,
deadline, database and health checks are written here only.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings

__all__ = [
    "PROFILES",
    "CertProfile",
    "active_profile",
    "certification_settings",
    "hypothesis_profile_name",
]


@dataclass(frozen=True, slots=True)
class CertProfile:
    """Example counts for one ``--dpif-profile``."""

    name: str
    max_examples: int  # hypothesis properties
    machine_examples: int  # differential state machine runs
    machine_steps: int  # steps per state machine run
    big_dump: int  # flows in the large-dump check (must exceed 1000)


PROFILES: dict[str, CertProfile] = {
    "smoke": CertProfile("smoke", max_examples=5, machine_examples=3, machine_steps=10, big_dump=1001),
    "standard": CertProfile("standard", max_examples=150, machine_examples=100, machine_steps=50, big_dump=2000),
    "full": CertProfile("full", max_examples=500, machine_examples=300, machine_steps=60, big_dump=10_000),
}

_PREFIX = "ufidcert-"

# No explain phase: it re-runs failing examples under a tracer, which is slow and adds nothing to a report.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def certification_settings(profile: CertProfile) -> settings:
    """The Hypothesis settings of a certification under ``profile``.

    Derandomised: a test nobody seeds draws examples that follow from its
    own source (the differential state machine at ``--dpif-seed 0``, which
    Hypothesis's stateful runner digests by its class, and a vendor's own
    properties under the profile). The plugin seeds every property of the
    suite with ``hypothesis.seed``, which takes precedence. No deadline (a
    backend may be slow, e.g. in a VM); no example database (a certification
    must not depend on earlier runs).
    """
    return settings(
        max_examples=profile.max_examples,
        stateful_step_count=profile.machine_steps,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=_PHASES,
    )


def hypothesis_profile_name(profile: CertProfile) -> str:
    """The name ``profile`` is registered under with Hypothesis."""
    return f"{_PREFIX}{profile.name}"


def active_profile() -> CertProfile:
    """The profile whose Hypothesis settings are loaded (``standard`` when none is)."""
    name = settings.get_current_profile_name()
    if not name.startswith(_PREFIX):
        return PROFILES["standard"]
    return PROFILES.get(name.removeprefix(_PREFIX), PROFILES["standard"])


for _profile in PROFILES.values():
    settings.register_profile(hypothesis_profile_name(_profile), certification_settings(_profile))
