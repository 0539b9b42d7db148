"""Imports flow one way: no two modules of the package import each other, even through
others, and even inside functions or under TYPE_CHECKING; lower layers never import
higher ones (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from repo_paths import REPO_ROOT

PACKAGE = REPO_ROOT / "modelforge_nb"
ROOT = "modelforge_nb"
#: Who may import whom, lowest first (docs/architecture.md, "Layers"). A dotted name places
#: one module of a package apart from the rest of it. The root package (the public API,
#: re-exported from every layer) sits above them all: no module inside imports it.
LAYERS = [
    {"errors", "_version", "environment", "config", "optional"},
    {"data", "rundir", "embedded", "export.card", "tiny", "examples", "hardware", "rewards"},
    {"tuner", "registry", "worker"},
    {"plan", "loading"},
    {"runs", "chat", "export"},
    {"widgets"},
    {"session", "magics", "server", "demo", "selfcheck"},
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(name: str, is_package: bool, tree: ast.AST, files: set[str]) -> set[str]:
    """The package's modules that ``name``'s code imports, each as the module that actually
    runs: ``from modelforge_nb import rewards`` is ``modelforge_nb.rewards``, but
    ``from modelforge_nb import Run`` and ``import modelforge_nb`` are the root package;
    relative imports are resolved against ``name``'s own package."""
    here = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{package}.{base}" if base else package
            if base == ROOT:
                names = [
                    f"{ROOT}.{a.name}" if f"{ROOT}.{a.name}" in files else ROOT for a in node.names
                ]
            else:
                names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in names:
            while target and target not in files:
                target = target.rpartition(".")[0]
            inside = ROOT not in (name, target) and (
                target.startswith(name + ".") or name.startswith(target + ".")
            )
            if target and target != name and not inside:
                targets.add(target)
    return targets


def _graph() -> dict[str, set[str]]:
    paths = {_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: _imported(
            name, path.name == "__init__.py", ast.parse(path.read_text("utf-8")), set(paths)
        )
        for name, path in paths.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], dict.fromkeys(graph, 0)
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def _layer(module: str) -> int:
    if module == ROOT:
        return len(LAYERS)
    parts = module.split(".")[1:]
    for size in range(len(parts), 0, -1):
        for index, names in enumerate(LAYERS):
            if ".".join(parts[:size]) in names:
                return index
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def test_lower_layers_never_import_higher_ones() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(source)
    ]
    assert upward == []


_FILES = {ROOT, f"{ROOT}.rewards", f"{ROOT}.rundir", f"{ROOT}.data", f"{ROOT}.data.checks"}


def _imports_of(source: str, name: str = f"{ROOT}.data.checks", package: bool = False) -> set[str]:
    return _imported(name, package, ast.parse(source), _FILES)


def test_an_import_of_the_root_package_is_the_root_package() -> None:
    assert _imports_of("import modelforge_nb") == {ROOT}
    assert _imports_of("from modelforge_nb import Run") == {ROOT}
    assert _imports_of("from modelforge_nb import rewards") == {f"{ROOT}.rewards"}
    assert _layer(ROOT) > _layer(f"{ROOT}.data.checks")


def test_relative_imports_resolve_against_their_package() -> None:
    assert _imports_of("from .. import rundir") == {f"{ROOT}.rundir"}
    assert _imports_of("from ..rundir import read_json") == {f"{ROOT}.rundir"}
    assert (
        _imports_of("from . import checks", f"{ROOT}.data", package=True) == set()
    )  # its own module
    assert _imports_of("from .. import Run") == {ROOT}


def test_a_dotted_layer_places_one_module_apart_from_its_package() -> None:
    assert _layer(f"{ROOT}.export.card") < _layer("modelforge_nb.tuner.worker")
    assert _layer(f"{ROOT}.export.gguf") == _layer(f"{ROOT}.export")
