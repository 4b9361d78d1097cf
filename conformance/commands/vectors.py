"""``ufidcert vectors``: check a MurmurHash3 implementation against the test vectors.

Exit status 0 only when every group passes for every variant checked, 1 when
some vector fails, 2 when the arguments cannot be used.

A ``python:`` or ``c:`` implementation runs in a child process with a
timeout: one that crashes, exits or hangs fails the check with a message
saying so; only a child that finishes and reports its result can pass.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
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
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds the implementation may take in its child process (default 120)",
    )
    # The child side of the isolation: run in this process and record the status in FILE.
    parser.add_argument("--result-file", metavar="FILE", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _describe(returncode: int) -> str:
    from conformance.supervisor import describe_exit

    return describe_exit(returncode)


def _run_child(args: argparse.Namespace) -> int:
    # A vendor's function may call os._exit(0), crash or loop: none of that may read as a pass.
    with tempfile.TemporaryDirectory(prefix="ufidcert-vectors-") as tmp:
        result = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "conformance", "vectors", "--impl", args.impl, "--result-file", str(result)]
        for v in args.variant or []:
            argv += ["--variant", v]
        env = dict(os.environ)
        # The child imports what this process can: the current directory and our sys.path.
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *(p for p in sys.path if p)])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            sys.stdout.write(exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or "")
            print(f"ufidcert vectors: FAIL: {args.impl} did not finish within {args.timeout:g} s (--timeout)")
            return 1
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        try:
            status = int(json.loads(result.read_text(encoding="utf-8"))["status"])
        except (OSError, ValueError, KeyError, TypeError):
            if done.returncode == 2 and "error:" in done.stderr:
                return 2  # a usage error of the child (bad spec, missing library): already printed
            tail = done.stderr.strip().splitlines()[-1:] or ["no output on stderr"]
            print(
                f"ufidcert vectors: FAIL: {args.impl} ended the check early: the process "
                f"{_describe(done.returncode)} before reporting a result ({tail[0]})"
            )
            return 1
        return status


def run(args: argparse.Namespace) -> int:
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: expected a number of seconds > 0")
    if args.result_file is None and args.impl not in ("python", "mmh3"):
        if not args.variant:
            raise UsageError(f"--impl {args.impl} implements a single variant: add --variant x64 or --variant x86")
        return _run_child(args)
    status = _check(args)
    if args.result_file is not None:
        Path(args.result_file).write_text(json.dumps({"status": status}), encoding="utf-8")
    return status


def _check(args: argparse.Namespace) -> int:
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
