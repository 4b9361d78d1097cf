"""``ufidcert requirements``: the requirement catalogue (``--markdown`` renders docs/requirements.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from conformance.requirements import CATALOGUE, render_markdown

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "requirements", help="list the requirements a backend is certified against", description=__doc__
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument(
        "--markdown",
        action="store_true",
        help="docs/requirements.md (ufidcert requirements --markdown > docs/requirements.md)",
    )
    fmt.add_argument("--json", action="store_true", help="the catalogue as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        print(render_markdown(), end="")
    elif args.json:
        doc = [
            {
                "id": r.id,
                "level": r.level.value,
                "capability": r.capability.value,
                "semantics": r.semantics.value,
                "title": r.title,
                "source": r.source,
            }
            for r in CATALOGUE
        ]
        print(json.dumps(doc, indent=2))
    else:
        for r in CATALOGUE:
            print(f"{r.id:<16} {r.level.value:<6} {r.capability.value:<8} {r.semantics.value:<7} {r.title}")
    return 0
