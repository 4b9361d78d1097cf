"""The codebase's shape, checked: module size, import cycles, self-containment, explicit exports.

These rules come from issue 17: a new maintainer must be able to find a concept by its file
name, read any module in one sitting, and need nothing but this repository.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reference", "conformance")
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The longest known module that `name` is or lies inside of."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """Modules of ours that `module` imports anywhere in its body (function-level imports count)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import sub` imports the submodule when there is one (the package
            # itself runs first whatever is imported, so that is no edge of this module's);
            # `from module import name` imports the module.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names
            ]
        for target in targets:
            owner = _owner(target)
            if owner is not None and owner != module:
                found.add(owner)
    return found


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph = {m: sorted(imports_of(m)) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root, successors in graph.items():
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(successors))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph[succ])))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_the_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rule below is only as good as the finder; feed it a known cycle.
    fake = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    monkeypatch.setattr("tests.test_architecture.MODULES", dict.fromkeys(fake, Path("unused")))
    monkeypatch.setattr("tests.test_architecture.imports_of", lambda m: set(fake[m]))
    assert import_cycles() == [["a", "b", "c"]]


def test_no_import_cycle_in_reference_or_conformance() -> None:
    assert import_cycles() == []


def test_reference_never_imports_conformance() -> None:
    bad = {
        m: sorted(i for i in imports_of(m) if i.startswith("conformance")) for m in MODULES if m.startswith("reference")
    }
    assert {m: i for m, i in bad.items() if i} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_fits_in_one_reading(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines; split it by concept"


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_package_declares_its_exports(package: str) -> None:
    tree = ast.parse(MODULES[package].read_text())
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    names |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert "__all__" in names, f"{package} has no explicit __all__"


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = []
    for name in out.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and path.suffix in {".py", ".md", ".toml", ".ini", ".c", ".h", ".txt", ""}:
            files.append(path)
    return files


# A markdown document named in a file (`docs/keys.md`, `backend-guide.md`). Report files are
# outputs a command writes (`kernel-6.1-report.md`), so they need not exist in the tree.
_DOC = re.compile(r"(?<![\w./-])((?:\.\./|\./)*[\w./-]*[\w-]\.md)\b")
_OUTPUT = re.compile(r"(^|[-/])report\.md$|-report\.md$")


def documents_named_outside(text: str, here: Path, known: set[str]) -> list[str]:
    """Markdown documents named in `text` that this repository does not hold."""
    missing = []
    for match in _DOC.finditer(text):
        ref = match.group(1)
        word_start = max(text.rfind(c, 0, match.start()) for c in " \n\t(<\"'`") + 1
        if _OUTPUT.search(ref) or "://" in text[word_start : match.end()]:
            continue
        if ref.startswith(("../", "./")):
            target = (here.parent / ref).resolve()
            if not target.is_relative_to(ROOT) or not target.exists():
                missing.append(ref)
        elif Path(ref).name not in known:
            missing.append(ref)
    return missing


def test_the_document_check_sees_a_document_from_elsewhere() -> None:
    known = {"keys.md"}
    here = ROOT / "docs" / "x.md"
    assert documents_named_outside("see ../../elsewhere/facts.md and docs/keys.md", here, known) == [
        "../../elsewhere/facts.md"
    ]
    assert documents_named_outside("as recorded in notes-we-lost.md", here, known) == ["notes-we-lost.md"]
    assert documents_named_outside("writes kernel-6.1-report.md", here, known) == []
    assert documents_named_outside("https://example.org/README.md", here, known) == []


def _prose(path: Path) -> str:
    """What a reader reads: a Python file's comments and docstrings (its strings are data), any other file whole."""
    text = path.read_text(errors="replace")
    if path.suffix != ".py":
        return text
    parts = [tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline) if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(ast.get_docstring(node) or "")
    return "\n".join(parts)


def test_no_file_refers_to_a_document_outside_the_repository() -> None:
    files = _tracked_text_files()
    known = {p.name for p in files if p.suffix == ".md"}
    missing = {}
    for path in files:
        found = documents_named_outside(_prose(path), path, known)
        if found:
            missing[str(path.relative_to(ROOT))] = found
    assert missing == {}


def test_every_package_is_shipped() -> None:
    # A package missing from pyproject's list works in a checkout and an editable install,
    # and is absent from the wheel: the quickstart's plain `pip install .` breaks.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = set(config["tool"]["setuptools"]["packages"])
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages - shipped == set()


# Hypothesis's private surface: its `_hypothesis_internal*` attributes and its internal modules.
# A certification must not depend on it (issue 17): it changes without notice between releases.
_HYPOTHESIS_PRIVATE = re.compile(r"\b_hypothesis_internal\w*|\bhypothesis\.(?:internal|core)\b|global_force_seed")


def hypothesis_private_uses(text: str) -> list[str]:
    """The private Hypothesis names `text` uses."""
    return _HYPOTHESIS_PRIVATE.findall(text)


def test_the_private_hypothesis_check_sees_a_private_name() -> None:
    assert hypothesis_private_uses("inner._hypothesis_internal_add_digest = key") == ["_hypothesis_internal_add_digest"]
    assert hypothesis_private_uses("from hypothesis.internal.reflection import function_digest")
    assert hypothesis_private_uses("hypothesis.seed(7)(test)  # public") == []


def test_no_private_hypothesis_name_in_reference_or_conformance() -> None:
    uses = {
        str(p.relative_to(ROOT)): found for p in MODULES.values() if (found := hypothesis_private_uses(p.read_text()))
    }
    assert uses == {}
