"""``ufidcert ufid`` (work in progress)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("ufid", help="UFID tools")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return 1
