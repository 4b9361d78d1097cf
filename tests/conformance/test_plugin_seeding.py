"""How a certification seeds Hypothesis: ``hypothesis.seed`` per test, never from the pytest node id."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.certification_run import per_test_seed

pytest_plugins = ["pytester"]

# A parametrized property: Hypothesis's own pytest plugin mixes the node id of such a test into
# its derandomised digest, so only an explicit seed makes its examples independent of the rootdir.
_DRAWN = """
from pathlib import Path

import pytest
from hypothesis import given, strategies as st


@pytest.mark.parametrize("case", ["a", "b"])
@given(st.integers())
def test_drawn(case, n):
    with open(Path(__file__).with_name("drawn.log"), "a") as f:
        f.write(f"{case} {n}\\n")
"""


def _drawn(pytester: pytest.Pytester, where: Path, rootdir: Path, seed: int) -> list[str]:
    """The examples ``test_drawn`` draws in a certification run started with ``rootdir``."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "test_drawn.py").write_text(_DRAWN)
    log = where / "drawn.log"
    log.unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(
        str(where / "test_drawn.py"), "-p", "no:cacheprovider", f"--rootdir={rootdir}", "--dpif-backend=reference",
        "--dpif-profile=smoke", f"--dpif-seed={seed}", "-k", "drawn",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    return log.read_text().splitlines()


def test_seed_0_draws_the_same_examples_whatever_the_node_id(pytester: pytest.Pytester) -> None:
    here = pytester.path
    # Node ids "test_drawn.py::test_drawn[a]" and "two/deep/test_drawn.py::test_drawn[a]".
    first = _drawn(pytester, here / "one", here / "one", 0)
    other = _drawn(pytester, here / "two" / "deep", here, 0)
    assert first == other
    cases = {case: [line for line in first if line.startswith(f"{case} ")] for case in "ab"}
    assert cases["a"] and [ln[2:] for ln in cases["a"]] != [ln[2:] for ln in cases["b"]]  # a seed per case


def test_a_forced_seed_applies_to_every_test(pytester: pytest.Pytester) -> None:
    drawn = _drawn(pytester, pytester.path / "forced", pytester.path, 1234)
    a = [ln[2:] for ln in drawn if ln.startswith("a ")]
    b = [ln[2:] for ln in drawn if ln.startswith("b ")]
    assert a and a == b  # both cases draw from the same forced seed
    assert drawn != _drawn(pytester, pytester.path / "forced", pytester.path, 0)


def test_the_per_test_seed_depends_on_the_test_and_the_run_seed_only() -> None:
    seed = per_test_seed(0, "test_properties.py", "test_roundtrip")
    assert seed == per_test_seed(0, "test_properties.py", "test_roundtrip")
    assert seed != per_test_seed(0, "test_properties.py", "test_roundtrip[x]")
    assert seed != per_test_seed(0, "test_hash.py", "test_roundtrip")
    assert per_test_seed(7, "test_properties.py", "test_roundtrip") == per_test_seed(7, "test_hash.py", "other") == 7
