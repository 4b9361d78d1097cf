"""Match record (fixed fields + wildcards); work in progress."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Match"]


@dataclass(frozen=True, slots=True)
class Match:
    """Key plus mask; not implemented yet."""

    key: bytes
    mask: bytes
