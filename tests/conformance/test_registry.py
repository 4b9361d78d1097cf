"""Backend registry: entry points, python:MODULE:FACTORY, availability reasons."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from conformance import registry
from conformance.errors import BackendUnavailable, UsageError
from conformance.registry import ENTRY_POINT_GROUP, check_options, list_backends, open_backend
from reference.datapath import ReferenceDatapath
from reference.probe import probe_ufid

VENDOR = textwrap.dedent(
    '''
    from reference.datapath import ReferenceDatapath

    def good(**options):
        """A vendor backend (the reference in disguise)."""
        return ReferenceDatapath(**{k: v for k, v in options.items()})

    def needs_daemon(**options):
        """Needs a daemon that is not running."""
        raise AssertionError("must not be called when unavailable")

    needs_daemon.unavailable_reason = lambda: "ovs-vswitchd is not running\\nsecond line"

    def not_a_dpif(**options):
        return object()

    def broken_check(**options):
        return ReferenceDatapath()

    def _boom():
        raise RuntimeError("probe crashed")

    broken_check.unavailable_reason = _boom
    '''
)


@pytest.fixture
def vendor(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "ufidcert_test_vendor.py").write_text(VENDOR)
    sys.path.insert(0, str(tmp_path))
    try:
        yield "ufidcert_test_vendor"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ufidcert_test_vendor", None)


def test_reference_backends_are_registered_and_available() -> None:
    infos = {b.name: b for b in list_backends()}
    assert {"reference", "reference-legacy"} <= set(infos)
    for name in ("reference", "reference-legacy"):
        assert infos[name].available and infos[name].reason == "available"
        assert "\n" not in infos[name].description


def test_open_reference_and_legacy() -> None:
    with open_backend("reference", {}) as dp:
        assert isinstance(dp, ReferenceDatapath) and dp.features.ufid and probe_ufid(dp)
    with open_backend("reference-legacy") as dp:
        assert not dp.features.ufid and not probe_ufid(dp)
    with open_backend("reference", {"semantics": "netdev", "ufid_secret": "0x10", "max_flows": "5"}) as dp:
        assert dp.features.semantics == "netdev"


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("no-such-backend", {}),
        ("reference", {"colour": "blue"}),
        ("reference", {"semantics": "tc"}),
        ("reference", {"max_flows": "many"}),
        ("reference", {"max_flows": "-3"}),
        ("reference", {"max_flows": "0"}),
        ("reference", {"ufid_secret": "0x100000000"}),
        ("reference-legacy", {"semantics": "netdev"}),
        ("python:missing-colon", {}),
        ("", {}),
    ],
)
def test_usage_errors(spec: str, options: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        open_backend(spec, options)
    with pytest.raises(UsageError):  # the same, found before anything is opened
        check_options(spec, options)


def test_check_options_accepts_what_the_factory_accepts() -> None:
    check_options("reference", {"semantics": "netdev", "max_flows": "5", "ufid_secret": "0x10"})
    check_options("reference-legacy", {})


def test_a_factorys_own_errors_keep_their_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "picky_vendor.py").write_text(
        "def typeerr(**options):\n    return 1 + 'x'\n"
        "def keyerr(**options):\n    return {}['socket']\n"
        "def fixed(socket):\n    raise AssertionError('not called')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="unsupported operand"):
        open_backend("python:picky_vendor:typeerr")
    with pytest.raises(KeyError, match="socket"):
        open_backend("python:picky_vendor:keyerr")
    # A real signature mismatch is still a usage error naming the options.
    with pytest.raises(UsageError, match=r"rejected options \['colour'\]"):
        check_options("python:picky_vendor:fixed", {"colour": "blue"})


def test_python_factory(vendor: str) -> None:
    with open_backend(f"python:{vendor}:good", {"semantics": "netdev"}) as dp:
        assert dp.features.semantics == "netdev"


def test_python_factory_errors(vendor: str) -> None:
    with pytest.raises(UsageError):
        open_backend(f"python:{vendor}:nothing_here")
    with pytest.raises(UsageError):
        open_backend(f"python:{vendor}:not_a_dpif")
    with pytest.raises(BackendUnavailable) as exc:
        open_backend(f"python:{vendor}:needs_daemon")
    assert "ovs-vswitchd is not running" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(BackendUnavailable):
        open_backend("python:ufidcert_no_such_module_xyz:factory")


def test_list_reports_unavailable_and_broken_entry_points(vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    eps = {
        "good": EntryPoint("good", f"{vendor}:good", ENTRY_POINT_GROUP),
        "daemon": EntryPoint("daemon", f"{vendor}:needs_daemon", ENTRY_POINT_GROUP),
        "crash": EntryPoint("crash", f"{vendor}:broken_check", ENTRY_POINT_GROUP),
        "gone": EntryPoint("gone", "ufidcert_no_such_module_xyz:f", ENTRY_POINT_GROUP),
    }
    monkeypatch.setattr(registry, "_entry_points", lambda: eps)
    infos = {b.name: b for b in list_backends()}
    assert [b.name for b in list_backends()] == sorted(eps)
    assert infos["good"].available and infos["good"].description.startswith("A vendor backend")
    assert not infos["daemon"].available and infos["daemon"].reason == "ovs-vswitchd is not running"
    assert not infos["crash"].available and "probe crashed" in infos["crash"].reason
    assert not infos["gone"].available and "cannot import" in infos["gone"].reason
    with pytest.raises(BackendUnavailable):
        open_backend("gone")
    with pytest.raises(BackendUnavailable):
        open_backend("daemon")


def test_declared_metadata_is_what_factory_metadata_reads() -> None:
    def check() -> str | None:
        return "no daemon here"

    def validate(**options: str) -> None:
        raise UsageError("bad")

    def make(**options: str) -> ReferenceDatapath:
        return ReferenceDatapath()

    marked = registry.declare_factory(
        unavailable_reason=check, single_worker="one per host", open_timeout_s=90, validate_options=validate
    )(make)
    assert marked is make
    meta = registry.factory_metadata(make)
    assert meta.unavailable_reason is check and meta.validate_options is validate
    assert (meta.single_worker, meta.open_timeout_s) == ("one per host", 90.0)
    assert registry.factory_metadata(open_backend) == registry.FactoryMetadata()  # declares nothing


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"open_timeout_s": "soon"}, registry.FactoryMetadata()),
        ({"open_timeout_s": True}, registry.FactoryMetadata()),
        ({"open_timeout_s": float("inf")}, registry.FactoryMetadata()),
        ({"single_worker": True}, registry.FactoryMetadata(single_worker="single_worker")),
        ({"single_worker": ""}, registry.FactoryMetadata()),
        ({"validate_options": "not callable"}, registry.FactoryMetadata()),
    ],
)
def test_metadata_of_the_wrong_kind_is_not_declared(attrs: dict[str, object], expected: object) -> None:
    def make(**options: str) -> ReferenceDatapath:
        return ReferenceDatapath()

    for name, value in attrs.items():
        setattr(make, name, value)
    assert registry.factory_metadata(make) == expected


def test_a_plain_string_unavailable_reason_is_the_reason() -> None:
    def make(**options: str) -> ReferenceDatapath:
        return ReferenceDatapath()

    make.unavailable_reason = "needs root"  # type: ignore[attr-defined]
    check = registry.factory_metadata(make).unavailable_reason
    assert check is not None and check() == "needs root"
