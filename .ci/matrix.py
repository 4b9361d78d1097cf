"""CI: certify every row of the datapath x version matrix and check each verdict against docs/certification/.

Usage:
    python .ci/matrix.py [--only NAME[,NAME...]] [--record]
    python .ci/matrix.py --table

Each row of docs/certification/matrix.json names a backend, its options, a
profile and the verdict documented for it. The row is certified with
``ufidcert certify``; the exit status must be that of the documented verdict
(0 pass, 1 fail; 2, "could not run", is never accepted), and the set of
failed and errored requirements must equal the one in the documented
report (``<name>-report.json``). ``--record`` writes the new reports into
docs/certification/ instead of comparing (use it after a deliberate change,
then review the diff). Durations are printed per row and in total.
``--table`` prints the matrix of docs/certification/README.md from the
documented reports, so that page and the reports cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "docs" / "certification"


def failed(report: Path) -> set[str]:
    data = json.loads(report.read_text())
    return {r["id"] for r in data["requirements"] if r["status"] in ("fail", "error")}


_OWNED = re.compile(r"ufidcert-(?:ovs-)?(\d+)-[0-9a-f]+")


def _orphaned(text: str) -> bool:
    # Names the backends make carry their owner's pid (ufidcert-[ovs-]<pid>-<hex>): a
    # leftover is one whose owner has ended, not a live run of someone else on this machine.
    m = _OWNED.search(text)
    return m is not None and not Path(f"/proc/{m.group(1)}").exists()


def leftovers() -> list[str]:
    """What finished runs left: namespaces, run directories, daemons and guests whose owner has ended."""
    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if ln.startswith("ufidcert-") and _orphaned(ln)]
    found += [f"dir {p}" for p in Path(tempfile.gettempdir()).glob("ufidcert-ovs-*") if _orphaned(p.name)]
    ps = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,args="], capture_output=True, text=True, check=False).stdout
    for line in ps.splitlines():
        pid, ppid, stat, args = [*line.split(None, 3), "", "", ""][:4]
        if stat.startswith("Z"):
            continue
        # A guest dies with the process that booted it (PR_SET_PDEATHSIG): one that
        # outlived it has been reparented.
        guest = args.startswith("qemu-system") and "ufidcert.relay" in args and ppid == "1"
        if ("ufidcert-ovs-" in args and _orphaned(args)) or guest:
            found.append(f"process {pid} {args[:100]}")
    return found


def run_row(row: dict[str, object], record: bool) -> tuple[bool, str]:
    name = str(row["name"])
    out = Path(tempfile.mkdtemp(prefix=f"ufidcert-ci-{name}-"))
    argv = ["ufidcert", "certify", "--quiet", "--backend", str(row["backend"]), "--profile", str(row["profile"])]
    for opt in row.get("options", []):  # type: ignore[union-attr]
        argv += ["--option", str(opt)]
    argv += ["--report", str(out)]
    start = time.monotonic()
    done = subprocess.run(argv, check=False)
    took = time.monotonic() - start
    want_rc = {"pass": 0, "fail": 1}[str(row["verdict"])]
    documented = HERE / f"{name}-report.json"
    try:
        if done.returncode == 2 or not (out / "report.json").is_file():
            return False, f"{name}: could not run (exit {done.returncode}) in {took:.0f} s"
        if record:
            shutil.copy(out / "report.json", documented)
            shutil.copy(out / "report.md", HERE / f"{name}-report.md")
            return True, f"{name}: recorded (exit {done.returncode}) in {took:.0f} s"
        got, want = failed(out / "report.json"), failed(documented)
        left = leftovers()
        ok = done.returncode == want_rc and got == want and not left
        line = f"{name}: exit {done.returncode} (documented {want_rc}), failed {sorted(got)} in {took:.0f} s"
        if got != want:
            line += f"; newly failing {sorted(got - want)}, no longer failing {sorted(want - got)}"
        if left:
            line += f"; left behind: {', '.join(left)}"
        return ok, line
    finally:
        shutil.rmtree(out, ignore_errors=True)


def table(rows: list[dict[str, object]]) -> str:
    """The README's matrix rows, one per documented report."""
    lines = []
    for row in rows:
        name = str(row["name"])
        doc = json.loads((HERE / f"{name}-report.json").read_text())
        c = doc["counts"]
        ran = "; ".join(f"{p['version']} ({p['source']})" for p in doc["backend"].get("provenance", [])) or "-"
        bad = ", ".join(sorted(r["id"] for r in doc["requirements"] if r["status"] in ("fail", "error"))) or "-"
        counts = f"{c['pass']} / {c['fail']} / {c['error']} / {c['not-applicable']}"
        lines.append(
            f"| {name} | {ran} | {doc['profile']} | **{doc['verdict'].upper()}** | {counts} | {bad} "
            f"| [{name}-report.md]({name}-report.md) |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated row names (default: every row)")
    parser.add_argument("--record", action="store_true", help="write the new reports into docs/certification/")
    parser.add_argument("--table", action="store_true", help="print the README's matrix from the documented reports")
    args = parser.parse_args(argv)
    rows = json.loads((HERE / "matrix.json").read_text())["rows"]
    if args.table:
        print(table(rows))
        return 0
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {r["name"] for r in rows}
        if unknown:
            parser.error(f"no such row(s): {', '.join(sorted(unknown))}")
        rows = [r for r in rows if r["name"] in wanted]
    if not args.record and not args.only:
        readme = (HERE / "README.md").read_text()
        stale = [ln for ln in table(rows).splitlines() if ln not in readme]
        if stale:
            print("docs/certification/README.md does not show the documented reports; paste:", *stale, sep="\n")
            return 1
    start = time.monotonic()
    results = [run_row(r, args.record) for r in rows]
    for _, line in results:
        print(("ok   " if _ else "FAIL ") + line)
    print(f"matrix: {len(rows)} rows in {time.monotonic() - start:.0f} s")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
