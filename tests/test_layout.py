"""The dependency rules of the layout: no import cycle in src/, counting every way a module can
import another (top-level, inside functions, under ``TYPE_CHECKING``, ``importlib.import_module``
with a literal name), and the one-way layering of pachlet (lower layers never import upper ones)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module or ``module.attr``) refers to."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` depends on pkg.mod, not on pkg's __init__ (which Python runs for
            # any submodule import, a cycle with nothing in it); ``from pkg import name`` on pkg.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            target = _resolve(name, known)
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the src modules it imports, by any of the ways above."""
    known = _modules()
    return {m: _imports(m, p, known) for m, p in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The walker itself: a cycle hidden under TYPE_CHECKING or import_module is still a cycle."""
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.b import X\n")
    (pkg / "b.py").write_text("import importlib\n\ndef f():\n    return importlib.import_module('p.a')\n")
    known = {"p": pkg / "__init__.py", "p.a": pkg / "a.py", "p.b": pkg / "b.py"}
    graph = {m: _imports(m, path, known) for m, path in known.items()}
    assert graph["p.a"] == {"p.b"}
    assert graph["p.b"] == {"p.a"}
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_no_import_cycle_in_src() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles in src/: " + "; ".join(" <-> ".join(c) for c in cycles)


# Layers of pachlet, lowest first: a module may import its own layer and those below it.
PACHLET_LAYERS: list[tuple[str, ...]] = [
    (
        "pachlet.errors",
        "pachlet.names",
        "pachlet.projects",
        "pachlet.records",
        "pachlet.redact",
        "pachlet.timeutil",
        "pachlet.durations",
        "pachlet.cronspec",
        "pachlet.yamlfile",
    ),
    ("pachlet.store", "pachlet.lock", "pachlet.secrets"),
    ("pachlet.pfs",),
    ("pachlet.spec",),
    ("pachlet.runtimes",),
    ("pachlet.pps",),
    ("pachlet.egress",),
    ("pachlet.api_pfs",),
    ("pachlet.api",),
    ("pachlet.transactions",),
    ("pachlet.protos", "pachlet.tables", "pachlet.txnprotos"),
    ("pachlet.console", "pachlet.server", "pachlet.cli"),
]


def _layer(module: str) -> int | None:
    for i, prefixes in enumerate(PACHLET_LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_pachlet_layers_point_down() -> None:
    graph = import_graph()
    unplaced = sorted(m for m in graph if m.startswith("pachlet.") and _layer(m) is None)
    assert not unplaced, f"pachlet modules in no layer (add them to PACHLET_LAYERS): {unplaced}"
    wrong = []
    for module, targets in graph.items():
        src = _layer(module)
        if src is None:
            continue
        for t in targets:
            dst = _layer(t)
            if t.startswith("churn") or (dst is not None and dst > src):
                wrong.append(f"{module} -> {t}")
    assert not wrong, "pachlet imports pointing up a layer: " + ", ".join(sorted(wrong))


@pytest.mark.parametrize("package", ["pachlet", "churn"])
def test_no_module_over_500_lines(package: str) -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in (SRC / package).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, f"modules over 500 lines: {long}"


def _readme_table_paths() -> set[str]:
    readme = (SRC.parent / "README.md").read_text()
    table = readme[readme.index("| concept | module |") :].split("\n\n", 1)[0]
    return {p.rstrip("/") for p in re.findall(r"`((?:src/|jsonnet|pipelines|specs)[^`]*)`", table)}


def test_readme_architecture_table_matches_the_tree() -> None:
    """Every path the README's concept -> module table names exists, and every module or package at
    the top of src/pachlet and src/churn is in it."""
    named = _readme_table_paths()
    missing = sorted(p for p in named if not (SRC.parent / p).exists())
    assert not missing, f"README names paths that do not exist: {missing}"
    top = {
        str(p.relative_to(SRC.parent))
        for package in ("pachlet", "churn")
        for p in (SRC / package).iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    }
    unnamed = sorted(top - named)
    assert not unnamed, f"modules missing from the README's architecture table: {unnamed}"
