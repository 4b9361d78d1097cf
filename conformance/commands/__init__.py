"""Subcommands of ``ufidcert``; each module exposes ``register(subparsers)``."""

from __future__ import annotations

__all__: list[str] = []
