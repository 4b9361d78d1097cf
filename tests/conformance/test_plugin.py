"""The pytest plugin end to end, in fresh pytest processes (pytester)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests._support import require_module

pytest_plugins = ["pytester"]

_BACKENDS = """
import time
from conformance.errors import BackendUnavailable
from reference.datapath import ReferenceDatapath


def unavailable(**options):
    raise BackendUnavailable("no datapath daemon here (install it first)")


class _Hangs(ReferenceDatapath):
    def flow_put(self, *args, **kwargs):
        time.sleep(120)


def hangs(**options):
    return _Hangs()


class _Forgets(ReferenceDatapath):
    def flow_get(self, **kwargs):
        from reference.dpif import DpifNotFound
        raise DpifNotFound("forgot it")


def forgets(**options):
    return _Forgets()
"""


def _report(pytester: pytest.Pytester, name: str = "rep") -> dict[str, object]:
    doc: dict[str, object] = json.loads((pytester.path / name / "report.json").read_text())
    return doc


def _status(doc: dict[str, object]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in doc["requirements"]}  # type: ignore[attr-defined]


def test_inactive_without_backend_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_mine():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "ufidcert certification" not in result.stdout.str()


def test_certifies_reference_with_report_and_junit(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference", "--dpif-profile=smoke",
        "--dpif-report=rep", "--junitxml=junit.xml",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*ufidcert certification*", "*verdict PASS*"])
    doc = _report(pytester)
    assert doc["verdict"] == "pass" and doc["profile"] == "smoke" and doc["workers"] == 1
    assert all((pytester.path / "rep" / f).exists() for f in ("report.json", "report.md", "report.html"))
    junit = (pytester.path / "junit.xml").read_text()
    assert "test_open_put_get_delete_one_flow" in junit and "ufidcert.requirements" in junit


def test_legacy_marks_ufid_requirements_not_applicable(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference-legacy", "--dpif-profile=smoke", "--dpif-report=rep", "-rs"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*not applicable: UFID-ID-001 needs capability ufid*"])
    status = _status(_report(pytester))
    assert status["UFID-ID-001"] == "not-applicable" and status["UFID-LEGACY-001"] == "pass"


def test_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference", "--dpif-option=novalue"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dpif-option 'novalue': expected key=value*"])


@pytest.mark.parametrize(
    ("arg", "text"),
    [
        ("--dpif-timeout=0", "*--dpif-timeout 0.0: expected a number of seconds > 0*"),
        ("--dpif-timeout=nan", "*--dpif-timeout nan: expected a number of seconds > 0*"),
        ("--dpif-option=max_flows=-3", "*max_flows='-3': expected a positive integer*"),
        ("--dpif-report=/proc/ufidcert-r", "*report directory /proc/ufidcert-r:*"),
    ],
)
def test_bad_values_are_usage_errors_before_anything_runs(pytester: pytest.Pytester, arg: str, text: str) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dpif-backend=reference", arg)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([text])


def test_unavailable_backend_errors_with_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(mybackends=_BACKENDS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dpif-backend=python:mybackends:unavailable",
        "--dpif-profile=smoke",
        "--dpif-report=rep",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*backend unavailable*no datapath daemon here*"])
    doc = _report(pytester)
    assert doc["verdict"] == "error" and "no datapath daemon here" in str(doc["unavailable"])
    assert set(_status(doc).values()) <= {"error", "not-applicable"}


def test_hung_backend_times_out_instead_of_hanging(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(mybackends=_BACKENDS)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=python:mybackends:hangs", "--dpif-profile=smoke",
        "--dpif-timeout=0.5", "--dpif-report=rep",
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    doc = _report(pytester)
    status = _status(doc)
    assert status["UFID-SMOKE-001"] == "error" and doc["verdict"] == "error"
    reasons = {r["id"]: r["reason"] for r in doc["requirements"]}  # type: ignore[attr-defined]
    assert "did not complete within 0.5 s" in reasons["UFID-SMOKE-001"]
    assert "fail" not in status.values(), "a hung backend is an error, not a failed requirement"
    # Not a timing assertion on the code under test: a hang would never end, 120 s per put otherwise.
    assert elapsed < 110


def test_xdist_workers_merge_into_one_report(pytester: pytest.Pytester) -> None:
    require_module("xdist", "pytest-xdist: pip install -e '.[test]'")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference", "--dpif-profile=smoke", "--dpif-report=rep", "-n", "2"
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    doc = _report(pytester)
    assert doc["verdict"] == "pass" and doc["workers"] == 2
    assert "error" not in _status(doc).values()


def test_seed_is_recorded(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference", "--dpif-profile=smoke", "--dpif-report=rep",
        "--dpif-seed=12345", "-k", "properties",
    )  # fmt: skip
    doc = _report(pytester)
    assert doc["seed"] == 12345
    assert result.ret in (0, 1)


def test_suite_dir_is_collected_from_anywhere(tmp_path: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dpif-backend=reference", "--collect-only", "-q")
    out = result.stdout.str()
    assert "test_smoke.py::test_open_put_get_delete_one_flow" in out
    assert "test_differential.py::test_differential_against_reference" in out


def test_single_worker_backend_ignores_xdist(pytester: pytest.Pytester) -> None:
    require_module("xdist", "pytest-xdist: pip install -e '.[test]'")
    pytester.makepyfile(
        onedp=(
            "from reference.datapath import ReferenceDatapath\n"
            "def make(**options):\n"
            "    return ReferenceDatapath()\n"
            "make.single_worker = 'one datapath per machine'\n"
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=python:onedp:make", "--dpif-profile=smoke", "--dpif-report=rep",
        "-n", "2",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*note: ran in a single process, -n ignored: one datapath per machine*"])
    doc = _report(pytester)
    assert doc["workers"] == 1 and "one datapath per machine" in " ".join(doc["notes"])  # type: ignore[arg-type]


def test_failed_smoke_check_stops_the_run_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(mybackends=_BACKENDS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dpif-backend=python:mybackends:forgets",
        "--dpif-profile=smoke",
        "--dpif-report=rep",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    doc = _report(pytester)
    status = _status(doc)
    assert status["UFID-SMOKE-001"] == "fail" and doc["verdict"] == "fail"
    reasons = {r["id"]: r["reason"] for r in doc["requirements"]}  # type: ignore[attr-defined]
    assert "not run: the smoke check failed" in reasons["UFID-PUT-001"]
    assert status["UFID-PUT-001"] == "error"


def test_vanished_backend_is_an_error_and_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dies=(
            "import errno\n"
            "from reference.datapath import ReferenceDatapath\n"
            "from reference.dpif import dpif_error\n"
            "class _Dies(ReferenceDatapath):\n"
            "    calls = 0\n"
            "    def flow_put(self, *args, **kwargs):\n"
            "        type(self).calls += 1\n"
            "        if type(self).calls > 3:\n"
            "            raise dpif_error(errno.ECONNREFUSED, 'control socket refused the connection')\n"
            "        return super().flow_put(*args, **kwargs)\n"
            "def make(**options):\n"
            "    return _Dies()\n"
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=python:dies:make", "--dpif-profile=smoke", "--dpif-report=rep"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    doc = _report(pytester)
    status = _status(doc)
    assert doc["verdict"] == "error" and "fail" not in status.values(), status
    reasons = " ".join(r["reason"] for r in doc["requirements"])  # type: ignore[attr-defined]
    assert "control socket refused the connection" in reasons


def test_a_multi_failure_reason_is_each_sub_failures_own_first_line() -> None:
    from conformance.plugin import _group_reason

    group = ExceptionGroup(
        "Hypothesis found 2 distinct failures.",
        [AssertionError("flow_get: stats differ\nassert 1 == 0"), ValueError("bad key")],
    )
    assert _group_reason(group) == (
        "2 distinct failures: (1) AssertionError: flow_get: stats differ; (2) ValueError: bad key"
    )
    assert _group_reason(ExceptionGroup("one", [AssertionError("x\ny")])) == "AssertionError: x"
    assert _group_reason(AssertionError("not a group")) is None


def test_a_factory_may_declare_a_longer_open_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.backend_session import default_open_timeout as _default_open_timeout

    (tmp_path / "slow_open.py").write_text(
        "def slow(**options):\n    pass\nslow.open_timeout_s = 900\n"
        "def odd(**options):\n    pass\nodd.open_timeout_s = 'soon'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _default_open_timeout("python:slow_open:slow", 2.0) == 900
    assert _default_open_timeout("python:slow_open:slow", 100.0) == 1000  # never below 10 timeouts
    assert _default_open_timeout("python:slow_open:odd", 2.0) == 20
    assert _default_open_timeout("reference", 3.0) == 30
    assert _default_open_timeout("kernel", 30.0) >= 1800
