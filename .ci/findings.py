"""CI check: a real backend's certification still says what docs/certification/ says.

Usage: python .ci/findings.py NEW_REPORT_DIR DOCUMENTED_REPORT_JSON

The certification of a real datapath is allowed to fail (its findings are
the result, documented in docs/certification/), but CI must notice when
the set of failed requirements changes: either the suite, the backend or
the reference model regressed, or the documented findings are out of date.
Exit 0 when the failed/errored requirement IDs are the same, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def failed(report: Path) -> set[str]:
    data = json.loads(report.read_text())
    return {r["id"] for r in data["requirements"] if r["status"] in ("fail", "error")}


def main(argv: list[str]) -> int:
    new_dir, documented = Path(argv[1]), Path(argv[2])
    got, want = failed(new_dir / "report.json"), failed(documented)
    print(f"failed now: {sorted(got)}; documented in {documented}: {sorted(want)}")
    if got != want:
        print(f"newly failing: {sorted(got - want)}; no longer failing: {sorted(want - got)}", file=sys.stderr)
        print(f"see {new_dir / 'report.md'} for the evidence", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
