"""ufidcert's conformance suite: certifies dpif backends against the reference.

Run ``ufidcert --help`` to see what it can do.
"""

from __future__ import annotations

__all__: list[str] = []
