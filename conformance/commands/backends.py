"""``ufidcert backends``: the registered backends, whether each can run here and why not."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backends", help="list the registered dpif backends and whether they can run here", description=__doc__
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from conformance.registry import list_backends

    infos = list_backends()
    if not infos:
        print("no backends registered (entry-point group ufidcert.backends); is ufidcert installed?")
        return 0
    width = max(len(i.name) for i in infos)
    print(f"{'NAME':<{width}}  AVAILABLE  DETAILS")
    for info in infos:
        details = info.description if info.available else info.reason
        print(f"{info.name:<{width}}  {'yes' if info.available else 'no':<9}  {details}")
    print("\nAlso: --backend python:MODULE:FACTORY for a backend that is not registered.")
    return 0
