"""Certification profiles: one Hypothesis settings definition each, and reproducible seeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from conformance.profiles import PROFILES, active_profile, certification_settings, hypothesis_profile_name
from conformance.suite._settings import machine_settings, property_settings

pytest_plugins = ["pytester"]


@pytest.fixture
def loaded_profile() -> Iterator[None]:
    previous = settings.get_current_profile_name()
    yield
    settings.load_profile(previous)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_profile_is_registered_with_hypothesis_as_defined(name: str) -> None:
    profile = PROFILES[name]
    registered = settings.get_profile(hypothesis_profile_name(profile))
    defined = certification_settings(profile)
    assert registered.max_examples == defined.max_examples == profile.max_examples
    assert registered.stateful_step_count == profile.machine_steps
    assert registered.derandomize and registered.database is None and registered.deadline is None
    assert Phase.explain not in registered.phases and not registered.print_blob


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_suite_settings_derive_from_the_loaded_profile(name: str, loaded_profile: None) -> None:
    profile = PROFILES[name]
    settings.load_profile(hypothesis_profile_name(profile))
    assert active_profile() == profile
    prop, half, machine = property_settings(), property_settings(0.5), machine_settings()
    assert prop.max_examples == profile.max_examples
    assert half.max_examples == max(1, int(profile.max_examples * 0.5))
    assert (machine.max_examples, machine.stateful_step_count) == (profile.machine_examples, profile.machine_steps)
    for s in (prop, half, machine):  # everything else as the profile defines it
        assert (
            s.derandomize
            and s.database is None
            and s.deadline is None
            and s.phases == settings.get_profile(hypothesis_profile_name(profile)).phases
        )


def test_outside_a_certification_the_profile_is_standard(loaded_profile: None) -> None:
    settings.load_profile("default")
    assert active_profile() == PROFILES["standard"]


_LOGGED = """
from reference.datapath import ReferenceDatapath


class _Logged(ReferenceDatapath):
    def __init__(self, log):
        super().__init__()
        self._log = log

    def flow_put(self, key, mask, actions, **kwargs):
        with open(self._log, "a") as f:
            f.write(key.hex() + " " + (mask or b"").hex() + "\\n")
        return super().flow_put(key, mask, actions, **kwargs)


def make(log=""):
    return _Logged(log)
"""


def _puts(pytester: pytest.Pytester, seed: int, run: str, *extra: str) -> list[str]:
    """The keys and masks the suite's properties and state machine put, in order, under ``--dpif-seed``."""
    log = pytester.path / f"{run}.log"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dpif-backend=python:logged:make", f"--dpif-option=log={log}",
        "--dpif-profile=smoke", f"--dpif-seed={seed}", "-k", "properties or differential", *extra,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    return Path(log).read_text().splitlines()


def test_same_seed_same_examples(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(logged=_LOGGED)
    first, again = _puts(pytester, 7, "a"), _puts(pytester, 7, "b")
    assert first and first == again
    assert _puts(pytester, 8, "c") != first  # the seed is what decides them
    # Seed 0: a seed per test from its name, so another rootdir (other node ids) draws the same.
    elsewhere = pytester.mkdir("elsewhere")
    assert _puts(pytester, 0, "d") == _puts(pytester, 0, "e", f"--rootdir={elsewhere}")


def test_an_in_process_run_leaves_hypothesis_as_it_found_it(pytester: pytest.Pytester, loaded_profile: None) -> None:
    settings.load_profile("default")
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--dpif-backend=reference", "--dpif-profile=smoke", "--dpif-seed=5", "-k", "hash",
    )  # fmt: skip
    assert result.ret in (0, 1, 5), result.stdout.str()[-3000:]
    assert settings.get_current_profile_name() == "default"


def test_a_users_hypothesis_profile_does_not_change_the_certification(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        logged=_LOGGED,
        tinyprofile="from hypothesis import settings\nsettings.register_profile('tiny', max_examples=1)\n",
    )
    assert _puts(pytester, 0, "own", "-p", "tinyprofile", "--hypothesis-profile=tiny") == _puts(pytester, 0, "cert")
