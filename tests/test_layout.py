"""The layout tells the truth: apps depend one way, and no module imports one that imports it back.

Dependency order: workspaces ← projects ← labeling ← training ← predictions ← health ← notifications ← datasets
(portal/ is wiring and Azure plumbing).
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("workspaces", "projects", "labeling", "training", "predictions", "health", "notifications", "datasets")
RANK = {app: i for i, app in enumerate(APPS)}
# The documented enqueue calls: a service sends its Celery task on commit, and the task's body calls the service
# that does the work (a task is a two-line wrapper).
# Nothing may be added here: a lower app reaches a higher one through a registry wired in the higher one's
# apps.py (projects.regions is how uploads reach labeling's region checks).
KNOWN_UPWARD: set[str] = set()
ALLOWED_CYCLES = [{"training.services.queue", "training.tasks"}, {"predictions.exports", "predictions.tasks"},
                  {"notifications.services", "notifications.tasks"}, {"health.suggestions", "health.suggestions_tasks"},
                  {"health.datahealth", "health.datahealth_tasks"},
                  {"datasets.customvision.services", "datasets.customvision.tasks"},
                  {"datasets.archives.background", "datasets.archives.tasks"}]


def _modules() -> dict[str, Path]:
    out = {}
    for top in (*APPS, "portal"):
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts or (top == "training" and "ml" in path.parts):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, known) - {m} for m, p in mods.items()}


def test_apps_import_only_downwards() -> None:
    wrong: list[str] = []
    for module, deps in _graph().items():
        app = module.split(".")[0]
        if app not in RANK:
            continue
        for dep in deps:
            other = dep.split(".")[0]
            line = f"{module} imports {dep}"
            if other in RANK and RANK[other] > RANK[app] and line not in KNOWN_UPWARD:
                wrong.append(line)
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    unexpected = [sorted(c) for c in cycles if c not in ALLOWED_CYCLES]
    assert not unexpected, unexpected
