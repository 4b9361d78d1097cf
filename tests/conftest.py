"""Shared pytest setup for the project's own tests.

Hypothesis profiles: ``ci`` (derandomised, no deadline) under CI, else ``dev``.
For skips that CI must never take, use ``tests._support.require``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") or os.environ.get("UFIDCERT_STRICT") else "dev")
