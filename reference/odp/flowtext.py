"""dpctl flow text codec; work in progress (interfaces fixed)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParsedFlow", "format_key", "format_key_attr", "parse_flow", "parse_key_attr"]


@dataclass(frozen=True, slots=True)
class ParsedFlow:
    """Result of :func:`parse_flow`."""

    ufid: object | None
    key: bytes
    mask: bytes | None


def parse_flow(text: str) -> ParsedFlow:
    """Parse dpctl flow text; not implemented yet."""
    raise NotImplementedError


def format_key(key: bytes, mask: bytes | None = None, *, verbose: bool = False) -> str:
    """Format key bytes as dpctl text; not implemented yet."""
    raise NotImplementedError


def format_key_attr(attr_type: int, payload: bytes, mask: bytes | None, *, verbose: bool) -> str:
    """Format one key attribute; not implemented yet."""
    raise NotImplementedError


def parse_key_attr(text: str, pos: int, *, with_mask: bool) -> tuple[int, bytes, bytes | None, int]:
    """Parse one key attribute; not implemented yet."""
    raise NotImplementedError
