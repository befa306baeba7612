"""The import graph of npae/ has no cycle: imports run one way.

Every ``import`` statement of every module under npae/ counts, those inside functions
included (a circle hidden behind a function-level import is still a circle: the two
modules cannot be read or loaded one after the other). Relative imports are resolved;
``from pkg import name`` is an arrow to the submodule ``pkg.name`` when that is a
module of npae, else to ``pkg``. The implicit import of a module's parent packages is
not an arrow (it is how Python loads any submodule, not a dependency of the code).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_names(root, package="npae"):
    """{dotted module name: path} for every .py file under root/package."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(root, package="npae"):
    """{module: {modules of the package it imports}}, from the source (nothing is run)."""
    modules = module_names(root, package)
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    # `import a.b.c` loads a, a.b and a.b.c; the arrow goes to the deepest one
                    found = [".".join(parts[:i]) for i in range(1, len(parts) + 1)
                             if ".".join(parts[:i]) in modules]
                    if found:
                        targets.add(found[-1])
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        targets.add(sub)
                    elif target in modules:
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def find_cycles(graph):
    """The strongly connected components with more than one module: sorted lists of the
    modules that reach each other (every circle lies inside one of them)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(v):                          # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(sorted(c) for c in components)


def _closed_path(graph, component):
    """A shortest path from the component's first module back to itself, inside it."""
    component = set(component)
    start = min(component)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & component):
            if w == start:
                return path + [start]
            if w not in seen:
                seen.add(w)
                paths.append(path + [w])
    raise AssertionError("a strongly connected component always has a cycle")


def describe(graph, component):
    """One circle of the component, then every arrow inside it."""
    arrows = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & set(component))]
    return (" -> ".join(_closed_path(graph, component)) + " (all arrows among these "
            f"{len(component)} modules: " + ", ".join(arrows) + ")")


def test_npae_import_graph_has_no_cycle():
    """Follow every import of npae/ (function-level ones too): no module reaches itself."""
    graph = import_graph(ROOT)
    assert "npae.models.vae" in graph and "npae.layers" in graph["npae.models.vae"]
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in npae/: " + "; ".join(describe(graph, c) for c in cycles)


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_finder_sees_a_cycle_hidden_in_a_function_and_names_it(tmp_path):
    """The checker itself: a relative import inside a function closes a circle it reports."""
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .sub.b import f\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from .. import a\n    return a\n",
        "pkg/c.py": "import pkg.a\nfrom pkg import sub\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a", "pkg.sub"}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert describe(graph, ["pkg.a", "pkg.sub.b"]).startswith("pkg.a -> pkg.sub.b -> pkg.a (")


@pytest.mark.parametrize("acyclic", [True, False])
def test_cycle_finder_on_a_chain_and_on_a_three_module_loop(tmp_path, acyclic):
    """A -> B -> C has no cycle; adding C -> A makes the one cycle A -> B -> C -> A."""
    _write(tmp_path, {
        "q/__init__.py": "",
        "q/a.py": "from . import b\n",
        "q/b.py": "from .c import x\n",
        "q/c.py": "x = 1\n" if acyclic else "x = 1\nimport q.a\n",
    })
    graph = import_graph(tmp_path, "q")
    cycles = find_cycles(graph)
    assert cycles == ([] if acyclic else [["q.a", "q.b", "q.c"]])
    if not acyclic:
        assert describe(graph, cycles[0]).startswith("q.a -> q.b -> q.c -> q.a (")
