"""Backends that the conformance suite certifies (reference, netdev, kernel)."""

from __future__ import annotations

__all__: list[str] = []
