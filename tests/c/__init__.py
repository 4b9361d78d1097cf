"""C sources the project's tests compile at test time (gcc)."""

from __future__ import annotations

__all__: list[str] = []
