"""``ufidcert vectors``: check a MurmurHash3 implementation against the test vectors.

Exit status 0 only when every group passes for every variant checked, 1 when
some vector fails, 2 when the arguments cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from conformance.errors import UsageError
from conformance.vectors import check_vectors, format_report, load_vectors, resolve_implementation
from reference.hash import VARIANTS, Variant

__all__ = ["register", "run"]

_EPILOG = """\
implementations:
  python                 the pure-Python reference (reference.hash)
  mmh3                   the mmh3 C extension
  python:MODULE:CALLABLE any callable f(data: bytes, seed: int) -> 16 bytes
                         (MODULE is imported from sys.path and the current directory)
  c:LIBRARY:SYMBOL       a C function void f(const void *p, size_t n, uint32_t basis, ovs_u128 *out)
                         in a shared library (OVS's hash_bytes128 signature), loaded with ctypes

Without --variant, python and mmh3 are checked in both variants; other implementations
need --variant. Example:
  ufidcert vectors --impl c:./libmyhash.so:my_hash_bytes128 --variant x64
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "vectors",
        help="check a MurmurHash3 implementation against the test vectors",
        description="Check a MurmurHash3 128-bit implementation against ufidcert's vectors and SMHasher's "
        "verification value; prints a table per variant and exits 0 only if everything passes.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--impl",
        default="python",
        metavar="IMPL",
        help="implementation to check: python (default), mmh3, python:MODULE:CALLABLE or c:LIBRARY:SYMBOL",
    )
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        action="append",
        help="x64 (OVS on x86_64/aarch64) or x86 (OVS elsewhere); repeatable; default for python/mmh3: both",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.impl.startswith("python:") and "" not in sys.path and os.getcwd() not in sys.path:
        # A console script's sys.path starts at its bin/ directory; a vendor
        # runs this from their project, so let python:MODULE:CALLABLE find it.
        sys.path.insert(0, os.getcwd())
    if not args.variant and args.impl not in ("python", "mmh3"):
        # One function implements one variant; checking it against both would always fail one.
        raise UsageError(f"--impl {args.impl} implements a single variant: add --variant x64 or --variant x86")
    variants: list[Variant] = args.variant or list(VARIANTS)
    all_ok = True
    for i, variant in enumerate(dict.fromkeys(variants)):
        fn = resolve_implementation(args.impl, variant)
        report = check_vectors(fn, load_vectors(variant), implementation=args.impl)
        if i:
            print()
        print(format_report(report))
        all_ok = all_ok and report.ok
    return 0 if all_ok else 1
