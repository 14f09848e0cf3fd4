"""The import graph of the packages: each layer imports only the ones below it
(model < hw < cosim < flows), and no module imports itself through others. Read from the
source (every import statement, also those inside functions), nothing is executed."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.golden

ROOT = Path(__file__).resolve().parent.parent
#: the layers, lowest first; flows sits on cosim (make synth measures activity with the
#: cosim bench in Verilator: flows.verilator_activity), cosim never imports flows
LEVEL = {"model": 0, "hw": 1, "cosim": 2, "flows": 3}


def modules() -> dict[str, Path]:
    out = {}
    for pkg in LEVEL:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                else:
                    base = node.module
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def test_no_layer_imports_a_layer_above_or_beside_it():
    back = [f"{a} -> {b}" for a, deps in import_graph().items() for b in deps
            if a.split(".")[0] != b.split(".")[0]
            and LEVEL[b.split(".")[0]] >= LEVEL[a.split(".")[0]]]
    assert back == [], back


def test_no_import_cycles():
    graph = import_graph()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], [" -> ".join(c) for c in cycles]


def test_the_graph_sees_the_imports():
    # the checks above are only as good as the graph: edges it must find (a relative
    # import, an import of a package's name)
    assert "model.runs" in import_graph()["model.export"]
    assert "model.numerics" in import_graph()["model.cells.datta"]
