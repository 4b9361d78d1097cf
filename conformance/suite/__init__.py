"""The shipped conformance suite: test modules the ufidcert pytest plugin runs against a backend.

Run it with ``ufidcert certify`` or ``pytest --dpif-backend NAME``; each test
names the requirement IDs it checks (``conformance.requirements``).
Every test talks to the backend only through the :class:`reference.dpif.Dpif` API.
"""

from __future__ import annotations

__all__: list[str] = []
