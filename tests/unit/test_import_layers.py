"""Imports flow one way: no two modules of the package import each other, even through
others, and even inside functions or under TYPE_CHECKING; lower layers never import
higher ones (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from repo_paths import REPO_ROOT

PACKAGE = REPO_ROOT / "modelforge_nb"
#: Who may import whom, lowest first (docs/architecture.md, "Layers").
LAYERS = [
    {"errors", "_version", "environment", "config", "optional"},
    {"data", "rundir", "embedded", "card", "tiny", "examples", "hardware", "rewards"},
    {"tuner", "registry", "worker"},
    {"plan", "loading"},
    {"runs", "chat", "export", "gguf_export", "hub", "job"},
    {"widgets"},
    {"session", "magics", "server", "demo", "selfcheck"},
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    files = {_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in names:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                inside = target.startswith(name + ".") or name.startswith(target + ".")
                if target and target != name and not inside:
                    targets.add(target)
        graph[name] = targets
    return graph


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
    top = module.split(".")[1] if module.count(".") else ""
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def test_lower_layers_never_import_higher_ones() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        if source != "modelforge_nb"
        for target in targets
        if target != "modelforge_nb" and _layer(target) > _layer(source)
    ]
    assert upward == []
