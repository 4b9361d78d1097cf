"""``ufidcert selftest``: how good is the suite? Certify every mutant and print the kill matrix.

``ufidcert selftest [--profile P] [--json PATH] [--markdown PATH] [-n N]
[--full] [--mutant NAME]... [--base kernel|netdev|legacy]... [--list]``
certifies each mutant of :mod:`conformance.mutants` (a reference datapath
with one realistic defect) on every base configuration it applies to,
through the same in-process runner as ``ufidcert certify``. A mutant is
killed when its verdict is FAIL on every base. By default a certification
stops at the first failed MUST test (example tests first, the properties
and the state machine last), so the matrix names the requirement that
killed it and the time to kill; ``--full`` runs the whole suite for every
mutant and records every requirement that fails. The unmutated bases are
certified first as controls: if one of them fails, nothing can be
measured (exit 2). Exit 1 when a mutant survives, 0 when every mutant is
killed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import UsageError
from conformance.mutants import BASES, CATALOGUE, LEVELS, NOT_MUTANTS, Mutant, by_name
from conformance.plugin import PROFILES
from conformance.requirements import Level, by_id

__all__ = ["RunResult", "register", "render_markdown", "run", "run_one", "summarise"]

EXIT_ALL_KILLED, EXIT_SURVIVOR, EXIT_ERROR = 0, 1, 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "selftest",
        help="mutation analysis: certify one-defect datapaths and print the kill matrix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="standard", help="suite profile")
    parser.add_argument("--json", metavar="PATH", help="write the kill matrix as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the kill matrix as Markdown")
    parser.add_argument("-n", "--workers", type=int, default=1, metavar="N", help="parallel processes (default 1)")
    parser.add_argument("--mutant", action="append", default=[], metavar="NAME", help="only these mutants")
    parser.add_argument("--base", action="append", default=[], choices=sorted(BASES), help="only these bases")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: derandomised)")
    parser.add_argument("--full", action="store_true", help="run every test of every mutant (the whole matrix; slower)")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One certification: a mutant (``None`` for a control) on one base."""

    mutant: str | None
    base: str
    verdict: str
    failed: tuple[str, ...]  # requirement IDs with status fail (any level)
    errors: tuple[str, ...]  # requirement IDs with status error
    duration_s: float
    time_to_kill_s: float | None  # from the start of the run to the first failed test


# Run last when stopping at the first kill: the state machine and the properties cost most.
_EXPENSIVE = ("test_properties.py", "test_differential.py")


@dataclass
class _KillClock:
    """pytest plugin: when did the first test fail? With ``first_kill``, cheap tests first and stop there."""

    first_kill: bool = False
    t0: float = field(default_factory=time.monotonic)
    first: float | None = None
    session: Any = None

    def pytest_sessionstart(self, session: Any) -> None:
        self.session = session

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if self.first_kill:
            # Stable: the plugin's smoke-first order is kept within each group.
            items.sort(key=lambda it: next((i + 1 for i, f in enumerate(_EXPENSIVE) if it.path.name == f), 0))

    def pytest_runtest_logreport(self, report: Any) -> None:
        # Only a failed MUST requirement kills (the verdict); a SHOULD failure is reported but runs on.
        rids = str(dict(report.user_properties).get("ufidcert.requirements", ""))
        if not report.failed or not any(r and by_id(r).level is Level.MUST for r in rids.split(",")):
            return
        if self.first is None:
            self.first = time.monotonic() - self.t0
        if self.first_kill and self.session is not None:
            self.session.shouldstop = "ufidcert selftest: the mutant is killed"


def _certify_args(backend: str, options: Sequence[str], profile: str, seed: int) -> argparse.Namespace:
    return argparse.Namespace(
        backend=backend,
        option=list(options),
        profile=profile,
        report=None,
        seed=seed,
        timeout=30.0,
        workers=None,
        junitxml=None,
        quiet=True,
        # The mutants are this package's own wrappers around the reference:
        # run them in this process (the supervised mode isolates untrusted backends).
        in_process=True,
    )


def run_one(mutant: str | None, base: str, profile: str, seed: int = 0, full: bool = False) -> RunResult:
    """Certify ``mutant`` (or the bare base when ``None``) on ``base`` with the suite, quietly.

    Unless ``full``, a mutant's certification stops at its first failed test (cheap tests run first).
    """
    from conformance.commands.certify import run_suite

    b = BASES[base]
    options = [f"{k}={v}" for k, v in b.options]
    if mutant is None:
        backend = b.backend
    else:
        backend = "python:conformance.mutants:mutant"
        options = [f"mutant={mutant}", f"base={b.backend}", *options]
    clock = _KillClock(first_kill=not full and mutant is not None)
    t0 = time.monotonic()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        report, status = run_suite(_certify_args(backend, options, profile, seed), plugins=[clock])
    duration = time.monotonic() - t0
    if report is None:
        return RunResult(mutant, base, f"did not run (pytest exit {status})", (), (), duration, None)
    failed = tuple(r.requirement.id for r in report.requirements if r.status == "fail")
    errors = tuple(r.requirement.id for r in report.requirements if r.status == "error")
    ttk = clock.first if report.verdict == "fail" else None
    return RunResult(mutant, base, report.verdict, failed, errors, round(duration, 2), ttk and round(ttk, 2))


def _run_star(job: tuple[str | None, str, str, int, bool]) -> RunResult:
    return run_one(*job)


def _run_all(jobs: list[tuple[str | None, str, str, int, bool]], workers: int) -> Iterable[RunResult]:
    if workers <= 1:
        yield from map(_run_star, jobs)
        return
    # fork: the workers inherit the imported suite; each runs whole certifications in-process.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(_run_star, jobs)


def summarise(profile: str, mutants: Sequence[Mutant], results: Sequence[RunResult]) -> dict[str, Any]:
    """The JSON document: counts, survivors, the kill matrix and time to kill per mutant and base."""
    by: dict[tuple[str, str], RunResult] = {(r.mutant, r.base): r for r in results if r.mutant is not None}
    matrix: dict[str, dict[str, list[str]]] = {}
    survivors: list[str] = []
    ttk: dict[str, dict[str, float | None]] = {}
    killed = 0
    for m in mutants:
        row = {b: by[m.name, b] for b in m.bases if (m.name, b) in by}
        matrix[m.name] = {b: list(r.failed) for b, r in row.items()}
        ttk[m.name] = {b: r.time_to_kill_s for b, r in row.items()}
        alive = [b for b, r in row.items() if r.verdict != "fail"]
        if alive:
            survivors.append(f"{m.name} ({', '.join(alive)})")
        else:
            killed += 1
    runs = [r for r in results if r.mutant is not None]
    n = len(mutants)
    return {
        "profile": profile,
        "mutants": n,
        "killed": killed,
        "kill_rate": round(killed / n, 4) if n else 1.0,
        "runs": len(runs),
        "runs_killed": sum(r.verdict == "fail" for r in runs),
        "survivors": survivors,
        "matrix": matrix,
        "time_to_kill_s": ttk,
        "controls": {r.base: r.verdict for r in results if r.mutant is None},
        "duration_s": round(sum(r.duration_s for r in results), 1),
    }


def _short(rid: str) -> str:
    return rid.removeprefix("UFID-")


def render_markdown(doc: dict[str, Any], mutants: Sequence[Mutant]) -> str:
    """The kill matrix and the catalogue as Markdown (docs/suite-quality.md's generated part)."""
    lines = [
        f"## Kill matrix, profile `{doc['profile']}`",
        "",
        f"{doc['killed']} of {doc['mutants']} mutants killed ({100 * doc['kill_rate']:.1f} %), "
        f"{doc['runs_killed']} of {doc['runs']} runs; controls: "
        + ", ".join(f"{b} {v}" for b, v in sorted(doc["controls"].items()))
        + f"; total certification time {doc['duration_s']} s.",
        "",
        "A mutant is killed when its verdict is FAIL on every base it applies to. The cells list the "
        "requirements that failed; the time is from the start of the certification to the first failed test.",
        "",
        "| Mutant | Area | " + " | ".join(sorted(BASES)) + " |",
        "|---|---|" + "---|" * len(BASES),
    ]
    for m in mutants:
        cells = []
        for b in sorted(BASES):
            if b not in doc["matrix"].get(m.name, {}):
                cells.append("")
                continue
            reqs = doc["matrix"][m.name][b]
            t = doc["time_to_kill_s"][m.name][b]
            cells.append(
                (", ".join(_short(r) for r in reqs) + (f" ({t:.1f} s)" if t is not None else "")) if reqs else
                "**survives**"
            )  # fmt: skip
        lines.append(f"| `{m.name}` | {m.area} | " + " | ".join(cells) + " |")
    if doc["survivors"]:
        lines += ["", "Survivors: " + "; ".join(doc["survivors"])]
    return "\n".join(lines) + "\n"


def render_catalogue(mutants: Sequence[Mutant]) -> str:
    """The catalogue (defect and what ovs-vswitchd relies on), what is not a mutant, and the level review."""
    lines = ["## The catalogue", "", "| Mutant | Method | Defect | What ovs-vswitchd relies on |", "|---|---|---|---|"]
    for m in mutants:
        lines.append(f"| `{m.name}` | {m.method} | {m.defect} | {m.harm} |")
    lines += ["", "## Defects that are not mutants", ""]
    lines += [f"* **{what}**: {why}" for what, why in NOT_MUTANTS]
    lines += ["", "## Requirement levels", "", "| Requirement | Level and reason |", "|---|---|"]
    lines += [f"| {rid} | {why} |" for rid, why in LEVELS.items()]
    return "\n".join(lines) + "\n"


def _select(args: argparse.Namespace) -> tuple[list[Mutant], list[str]]:
    mutants = [by_name(n) for n in args.mutant] if args.mutant else list(CATALOGUE)
    bases = list(dict.fromkeys(args.base)) if args.base else sorted(BASES)
    if args.workers < 1:
        raise UsageError("-n must be at least 1")
    return mutants, bases


def run(args: argparse.Namespace) -> int:
    mutants, bases = _select(args)
    if args.list:
        for m in mutants:
            print(f"{m.name:<40} {m.area:<9} {','.join(m.bases):<22} {m.defect}")
        print(f"{len(mutants)} mutants")
        return EXIT_ALL_KILLED
    selected = [
        Mutant(m.name, m.area, m.method, m.defect, m.harm, m.build, tuple(b for b in m.bases if b in bases))
        for m in mutants
    ]
    selected = [m for m in selected if m.bases]
    jobs: list[tuple[str | None, str, str, int, bool]] = [(None, b, args.profile, args.seed, True) for b in bases]
    jobs += [(m.name, b, args.profile, args.seed, args.full) for m in selected for b in m.bases]
    print(f"ufidcert selftest: {len(selected)} mutants, {len(jobs) - len(bases)} runs, profile {args.profile}, "
          f"{args.workers} worker(s)", flush=True)  # fmt: skip
    t0 = time.monotonic()
    results: list[RunResult] = []
    for r in _run_all(jobs, args.workers):
        results.append(r)
        what = "control" if r.mutant is None else r.mutant
        mark = "KILLED" if r.verdict == "fail" and r.mutant else r.verdict.upper()
        print(f"  {what:<40} {r.base:<7} {mark:<9} {r.duration_s:6.1f} s  {' '.join(map(_short, r.failed))}",
              flush=True)  # fmt: skip
    doc = summarise(args.profile, selected, results)
    doc["wall_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(doc, selected) + "\n" + render_catalogue(selected),
                                       encoding="utf-8")  # fmt: skip
    print()
    print(f"profile {args.profile}: {doc['killed']} of {doc['mutants']} mutants killed "
          f"({100 * doc['kill_rate']:.1f} %), {doc['wall_s']} s wall")  # fmt: skip
    for s in doc["survivors"]:
        print(f"  SURVIVOR {s}")
    bad = {b: v for b, v in doc["controls"].items() if v != "pass"}
    if bad:
        print(f"ufidcert selftest: the unmutated bases must pass, got {bad}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_SURVIVOR if doc["survivors"] else EXIT_ALL_KILLED
