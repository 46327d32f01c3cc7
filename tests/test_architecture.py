"""docs/architecture.md stays true, and the layout keeps its floors: the model imports nothing
above it, and no two modules import each other in a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import prt_sim
from prt_sim.jit import _imports

PKG = Path(prt_sim.__file__).resolve().parent
DOC = PKG.parent / "docs" / "architecture.md"


def _first_paragraph(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_module_is_in_the_architecture_page_with_its_sentence():
    rows = dict(re.findall(r"^\| `(prt_sim/[^`]+\.py)` \| (.+?) \|$", DOC.read_text(), re.M))
    for path in _modules():
        rel = str(path.relative_to(PKG.parent))
        sentence = _first_paragraph(path)
        assert sentence, f"{rel} opens with no docstring"
        assert rel in rows, f"{rel} is not listed in docs/architecture.md"
        assert " ".join(rows[rel].split()) == sentence, (
            f"docs/architecture.md says of {rel}: {rows[rel]!r}; its docstring: {sentence!r}"
        )
    listed = {PKG.parent / r for r in rows}
    gone = sorted(str(p) for p in listed if not p.exists())
    assert not gone, f"docs/architecture.md lists modules that do not exist: {gone}"


def test_the_model_imports_nothing_above_it():
    ground = {PKG / "errors.py", PKG / "jit.py", PKG / "__init__.py"}
    for path in sorted((PKG / "model").rglob("*.py")):
        for dep in _imports(path):
            assert dep.is_relative_to(PKG / "model") or dep in ground, (
                f"{path.relative_to(PKG)} imports {dep.relative_to(PKG)}: the model package "
                "must not import from the layers built on it"
            )


def test_no_circle_of_imports():
    """Package faces (``__init__.py``) only hand names on and are left out."""
    graph = {
        p: {d for d in _imports(p) if d.name != "__init__.py" and d != p}
        for p in _modules()
        if p.name != "__init__.py"
    }
    state: dict[Path, int] = {}

    def visit(node, stack):
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                loop = stack[stack.index(dep) :] + [dep]
                raise AssertionError(
                    "import circle: " + " -> ".join(str(p.relative_to(PKG)) for p in loop)
                )
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
