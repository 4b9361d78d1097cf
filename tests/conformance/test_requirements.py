"""The requirement catalogue: IDs, applicability, coverage by the suite, and docs/requirements.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import conformance.suite
from conformance.cli import main
from conformance.errors import UsageError
from conformance.requirements import (
    CATALOGUE,
    Capability,
    Level,
    Semantics,
    by_id,
    not_applicable_reason,
    parse_catalogue,
    render_markdown,
)

_ROOT = Path(__file__).resolve().parents[2]
_SUITE = Path(conformance.suite.__file__).parent


def _suite_ids() -> set[str]:
    """Every ID named by a ``requirement(...)`` marker in the shipped suite."""
    ids: set[str] = set()
    for path in _SUITE.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "requirement":
                ids.update(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return ids


def test_ids_are_unique_and_well_formed() -> None:
    ids = [r.id for r in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"UFID-[A-Z]+-\d{3}", i) for i in ids)


def test_every_requirement_has_a_test_and_every_marker_a_requirement() -> None:
    named = _suite_ids()
    catalogue = {r.id for r in CATALOGUE}
    assert named - catalogue == set(), f"markers naming unknown IDs: {sorted(named - catalogue)}"
    assert catalogue - named == set(), f"requirements without a test: {sorted(catalogue - named)}"


def test_issue_coverage_areas_present() -> None:
    areas = {r.id.split("-")[1] for r in CATALOGUE}
    for area in ("ID", "GET", "PUT", "DUP", "TERSE", "DUMP", "FLUSH", "STATS", "OP", "PROBE", "LEGACY", "KEY", "HASH"):
        assert area in areas


def test_by_id() -> None:
    assert by_id("UFID-SMOKE-001").level is Level.MUST
    with pytest.raises(UsageError, match="UFID-NOPE-001"):
        by_id("UFID-NOPE-001")


def test_not_applicable_reason() -> None:
    kernel_only = next(r for r in CATALOGUE if r.semantics is Semantics.KERNEL)
    assert not_applicable_reason(kernel_only, semantics="kernel", capabilities={"ufid": None}) is None or (
        kernel_only.capability is not Capability.NONE
    )
    reason = not_applicable_reason(kernel_only, semantics="netdev", capabilities={})
    assert reason is not None and "kernel" in reason and "netdev" in reason
    needs_ufid = by_id("UFID-ID-001")
    assert not_applicable_reason(needs_ufid, semantics="kernel", capabilities={"ufid": None}) is None
    why = not_applicable_reason(needs_ufid, semantics="kernel", capabilities={"ufid": "features.ufid is false"})
    assert why is not None and "features.ufid is false" in why
    assert not_applicable_reason(needs_ufid, semantics="kernel", capabilities={}) is not None
    assert not_applicable_reason(by_id("UFID-SMOKE-001"), semantics="generic", capabilities={}) is None


def test_markdown_lists_every_requirement() -> None:
    text = render_markdown()
    for r in CATALOGUE:
        assert f"| {r.id} | {r.level.value} |" in text


def test_docs_requirements_md_is_up_to_date() -> None:
    committed = (_ROOT / "docs" / "requirements.md").read_text()
    assert committed == render_markdown(), "run: ufidcert requirements --markdown > docs/requirements.md"


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown()
    assert main(["requirements"]) == 0
    assert "UFID-SMOKE-001" in capsys.readouterr().out
    assert main(["requirements", "--json"]) == 0
    assert '"UFID-TERSE-001"' in capsys.readouterr().out


def test_suite_uses_the_dpif_contract_only() -> None:
    # The reference datapath may serve as the differential *model*, never as the thing inspected:
    # no suite module touches private attributes of a backend or imports reference internals
    # (the shared netlink TLV helpers excepted).
    for path in _SUITE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module != "reference.datapath" or path.name in (
                    "test_differential.py",
                    "test_properties.py",
                ), f"{path.name} imports the reference datapath"
                private = node.module.startswith("reference._") and node.module != "reference._netlink"
                assert not private, f"{path.name} imports {node.module}"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("dpif", "dp", "dut")
                and node.attr.startswith("_")
            ):
                raise AssertionError(f"{path.name}: {node.value.id}.{node.attr} is not part of the Dpif contract")


_ENTRY = """
[[requirement]]
id = "UFID-SMOKE-001"
level = "MUST"
capability = "none"
semantics = "common"
title = "t"
source = "s"
"""


def test_the_catalogue_file_parses_back_to_the_catalogue() -> None:
    text = (_ROOT / "conformance" / "requirements.toml").read_text()
    assert parse_catalogue(text) == CATALOGUE
    assert parse_catalogue(_ENTRY)[0].level is Level.MUST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("requirement = [", "not a list"),
        ("other = 1", "not a list"),
        ("requirement = [1]", "entry 1: not a table"),
        (_ENTRY.replace('title = "t"\n', ""), r"entry 1 \(UFID-SMOKE-001\): needs exactly"),
        (_ENTRY.replace('"t"', "3"), "needs exactly the text fields"),
        (_ENTRY + 'extra = "x"\n', "needs exactly"),
        (_ENTRY.replace('"MUST"', '"MAY"'), r"entry 1 \(UFID-SMOKE-001\): 'MAY' is not a valid Level"),
        (_ENTRY.replace('"none"', '"wings"'), "not a valid Capability"),
    ],
)
def test_a_malformed_catalogue_is_a_value_error_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_catalogue(text)
