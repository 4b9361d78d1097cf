"""``ufidcert certify``: run the conformance suite against a backend and print the verdict.

``ufidcert certify [--backend NAME|python:MODULE:FACTORY] [--option k=v]...
[--profile smoke|standard|full] [--report DIR] [--seed N]`` runs the
shipped suite through pytest in this process, shows progress, prints a
summary table and exits 0 when the verdict is pass, 1 when it is fail and
2 when the certification could not be made (backend unavailable, bad
arguments, a run that could not check every requirement, a backend that
died, hung or was stopped).

The backend runs in its own supervised process (``--in-process`` for a
debugger). Arguments are checked before anything runs; a report of an
earlier run in the ``--report`` directory is removed first, and exit 0
means this run wrote a PASS report.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from conformance import _signals
from conformance.errors import UsageError
from conformance.plugin import PROFILES, parse_options, session_report
from conformance.report import Report, prepare_report_dir, report_to_json

__all__ = ["build_pytest_args", "register", "run", "run_suite", "summary_table", "validate_args"]

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "certify",
        help="certify a dpif backend with the conformance suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend", default="reference", help="NAME (see `ufidcert backends`) or python:MODULE:FACTORY"
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="backend option (repeatable)"
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="standard", help="example counts (default standard)"
    )
    parser.add_argument("--report", metavar="DIR", help="write report.json, report.md and report.html into DIR")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: derandomised per test)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per-operation timeout in seconds")
    parser.add_argument(
        "--open-timeout", type=float, metavar="S", help="timeout of the backend's factory (default 10 x --timeout)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the backend in this process (for a debugger; an exit or crash of the backend then ends the run)",
    )
    parser.add_argument(
        "--memory-limit", type=int, default=0, metavar="MIB", help="address-space limit of the backend process"
    )
    parser.add_argument("--workers", "-n", metavar="N", help="pytest-xdist workers (a number or auto)")
    parser.add_argument("--junitxml", metavar="PATH", help="also write a JUnit XML file")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress, only the summary")
    parser.set_defaults(func=run)


def _plugin_autoloaded() -> bool:
    return any(ep.value == "conformance.plugin" for ep in entry_points(group="pytest11"))


class _Collector:
    """Picks up the merged report at the end of the in-process pytest run."""

    def __init__(self) -> None:
        self.report: Report | None = None

    def pytest_unconfigure(self, config: Any) -> None:
        self.report = session_report(config)


def build_pytest_args(args: argparse.Namespace, ini: Path) -> list[str]:
    """The pytest command line ``certify`` runs (also useful to reproduce a run by hand)."""
    import conformance.suite

    suite = str(Path(conformance.suite.__file__).parent)
    # Our own ini and rootdir: the project's or the caller's pytest configuration must not apply.
    out = [suite, "-c", str(ini), "--rootdir", str(ini.parent), "-p", "no:cacheprovider", "-p", "no:benchmark"]
    if not _plugin_autoloaded():
        out += ["-p", "conformance.plugin"]
    out += ["--dpif-backend", args.backend, "--dpif-profile", args.profile]
    if args.report:
        out += ["--dpif-report", args.report]
    out += [f"--dpif-option={o}" for o in args.option]
    out += ["--dpif-seed", str(args.seed), "--dpif-timeout", str(args.timeout)]
    if getattr(args, "open_timeout", None) is not None:
        out += ["--dpif-open-timeout", str(args.open_timeout)]
    if getattr(args, "in_process", False):
        out += ["--dpif-in-process"]
    if getattr(args, "memory_limit", 0):
        out += ["--dpif-memory-limit", str(args.memory_limit)]
    out += ["-q", "--no-header", "-p", "no:randomly"] if not args.quiet else ["-qq", "--no-header", "-p", "no:randomly"]
    # --tb=short keeps each failure's assertion and its full, uncut diff in the report
    # (verbosity_assertions=2 is -vv for assertion diffs only; progress stays quiet).
    out += ["--tb=short", "-rN", "-o", "verbosity_assertions=2"]
    if args.workers:
        if importlib.util.find_spec("xdist") is None:
            raise UsageError("--workers needs pytest-xdist (pip install pytest-xdist)")
        out += ["-n", str(args.workers)]
    if args.junitxml:
        out += ["--junitxml", args.junitxml]
    return out


def summary_table(doc: dict[str, Any]) -> str:
    """The end-of-run table: failures and errors first, then counts per status."""
    reqs = doc["requirements"]
    order = {"fail": 0, "error": 1, "pass": 2, "not-applicable": 3}
    rows = sorted(reqs, key=lambda r: (order.get(r["status"], 9), r["id"]))
    width = max((len(r["id"]) for r in reqs), default=10)
    lines = []
    if doc.get("root_cause"):
        # An error run names its cause first: which operation, in which test, what timed out or died.
        lines += [f"ROOT CAUSE: {doc['root_cause'].splitlines()[0]}", ""]
    lines.append(f"{'REQUIREMENT':<{width}}  LEVEL   STATUS          REASON")
    passed = 0
    for r in rows:
        if r["status"] == "pass":
            passed += 1
            continue
        lines.append(f"{r['id']:<{width}}  {r['level']:<6}  {r['status']:<14}  {r['reason'][:110]}")
    lines.append(f"{'(' + str(passed) + ' more)':<{width}}  {'':<6}  {'pass':<14}")
    counts = doc.get("counts", {})
    lines.append("")
    lines.append(
        f"backend {doc['backend']['name']} ({doc.get('semantics')}), profile {doc['profile']}, seed {doc['seed']}, "
        f"{doc['duration_s']:.1f} s: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
        f"{counts.get('error', 0)} error, {counts.get('not-applicable', 0)} not applicable"
    )
    for finding in doc.get("findings", []):
        lines.append(f"FINDING ({finding['kind']}): {finding['message']}")
    lines.append(f"VERDICT: {doc['verdict'].upper()}")
    return "\n".join(lines)


def _seconds(option: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise UsageError(f"{option} {value:g}: expected a number of seconds > 0")


def _check_junitxml(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--junitxml {path}: is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".ufidcert-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"--junitxml {path}: cannot write there ({exc.strerror or exc})") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"--junitxml {path}: not writable")


def validate_args(args: argparse.Namespace) -> None:
    """Every argument checked before anything runs; :class:`UsageError` (exit 2) naming the bad one."""
    from conformance.errors import BackendUnavailable
    from conformance.registry import check_options

    if args.report:
        prepare_report_dir(Path(args.report))  # creatable, writable, and no stale report left in it
    options = parse_options(args.option)
    _seconds("--timeout", args.timeout)
    _seconds("--open-timeout", getattr(args, "open_timeout", None))
    if getattr(args, "memory_limit", 0) < 0:
        raise UsageError(f"--memory-limit {args.memory_limit}: expected MiB >= 0 (0 = no limit)")
    if args.backend.startswith("python:") and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory are importable
    # An unknown name, a bad spec, option name or value is a usage error; an unavailable
    # backend is reported by the run itself ("could not run", exit 2 with a report).
    with contextlib.suppress(BackendUnavailable):
        check_options(args.backend, options)
    if args.junitxml:
        _check_junitxml(args.junitxml)


def _written_pass(args: argparse.Namespace, doc: dict[str, Any]) -> bool:
    # Exit 0 needs the PASS report of this very run on disk (when --report was given).
    if not args.report:
        return True
    try:
        written = json.loads((Path(args.report) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(written.get("verdict") == "pass" and written.get("started") == doc["started"])


def run_suite(args: argparse.Namespace, plugins: Sequence[object] = ()) -> tuple[Report | None, int]:
    """Run the suite as ``certify`` does; the merged report (None if it did not run) and pytest's exit.

    ``args`` has certify's options (checked by :func:`validate_args` first);
    ``plugins`` are extra pytest plugin objects (``ufidcert selftest`` times kills).
    SIGTERM and SIGHUP unwind like Ctrl-C while it runs.
    """
    import pytest

    collector = _Collector()
    installed = _signals.install()  # SIGTERM/SIGHUP from here on unwind like Ctrl-C (the plugin reuses this)
    try:
        with tempfile.TemporaryDirectory(prefix="ufidcert-certify-") as tmp:
            ini = Path(tmp) / "pytest.ini"
            ini.write_text("[pytest]\n", encoding="utf-8")
            status = pytest.main(build_pytest_args(args, ini), plugins=[collector, *plugins])
    finally:
        if installed:
            _signals.restore()
    return collector.report, int(status)


def run(args: argparse.Namespace) -> int:
    validate_args(args)
    print(f"ufidcert certify: backend {args.backend}, profile {args.profile}, seed {args.seed}", flush=True)
    report, status = run_suite(args)
    if report is None:
        print(f"ufidcert certify: the suite did not run (pytest exit {status})", file=sys.stderr)
        return EXIT_ERROR
    doc = report_to_json(report)
    print()
    print(summary_table(doc))
    if doc.get("root_cause"):
        print(f"ufidcert certify: root cause: {doc['root_cause']}", file=sys.stderr)  # in full, with the stderr
    if doc.get("unavailable"):
        print(f"ufidcert certify: could not run: {doc['unavailable']}", file=sys.stderr)
        return EXIT_ERROR
    status = {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(doc["verdict"], EXIT_ERROR)
    if status == EXIT_PASS and not _written_pass(args, doc):
        print("ufidcert certify: the PASS report was not written; no verdict", file=sys.stderr)
        return EXIT_ERROR
    return status
