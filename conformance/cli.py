"""The ``ufidcert`` command line.

Each subcommand lives in its own module under :mod:`conformance.commands`
and exposes ``register(subparsers)``; this module only wires them together
and turns the project's errors into exit status 2 with a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from reference.errors import UfidcertError

__all__ = ["build_parser", "main"]

# Order here is the order in `ufidcert --help`.
_COMMAND_MODULES: tuple[str, ...] = (
    "conformance.commands.vectors",
    "conformance.commands.ufid",
    "conformance.commands.certify",
    "conformance.commands.backends",
    "conformance.commands.requirements",
    "conformance.commands.bench",
    "conformance.commands.selftest",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="ufidcert",
        description="Reference implementation and conformance suite for Open vSwitch UFIDs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ufidcert``; returns the exit status (2 for unusable input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except UfidcertError as exc:
        print(f"ufidcert {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ufidcert {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ufidcert requirements | head`: the reader left; say nothing more.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
