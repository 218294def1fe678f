"""The import graph of firmware/, hw/, boards/ and tools/ has no cycle.

Every import statement counts, at the top of a module or inside a function
(a lazy import is still a dependency), as the project's own modules are
named on the board and on hosts: firmware/ holds `main` and the `pump`
package, the repo root `hw` and `boards`, and each tool is a top-level
module of tools/. `import board` (main.py's name for the board folder on
the device) is an import of `boards`.
"""
import ast
import os

import mpenv

TOP_FOLDERS = (("firmware", "firmware"), ("hw", "."), ("boards", "."), ("tools", "tools"))


def project_modules():
    """{module name: file} of every module of the four folders."""
    found = {}
    for top, base in TOP_FOLDERS:
        for folder, dirs, files in os.walk(os.path.join(mpenv.ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, os.path.join(mpenv.ROOT, base))[:-3].replace(os.sep, ".")
                    found[module[:-len(".__init__")] if module.endswith(".__init__") else module] = path
    return found


def _absolute(node, module, is_package):
    """The module an ImportFrom names, its relative dots resolved."""
    if not node.level:
        return node.module
    parts = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(parts + ([node.module] if node.module else []))


def import_graph():
    """{module: the project modules it imports}."""
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        named = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                named += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, path.endswith("__init__.py"))
                named += [base] + [base + "." + alias.name for alias in node.names]
        imported = set()
        for name in named:
            if name == "board" or name.startswith("board."):
                name = "boards"
            while name and name not in modules:  # `from pkg import name`: name may be a function
                name = name.rpartition(".")[0]
            if name and name != module:
                imported.add(name)
        graph[module] = imported
    return graph


def package_of(module):
    top = module.split(".")[0]
    return "tools" if os.path.exists(os.path.join(mpenv.ROOT, "tools", top + ".py")) else top


def cycles(graph):
    """Each cycle a depth-first walk meets, as [a, b, ..., a]."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def package_graph():
    graph = {}
    for module, imported in import_graph().items():
        for other in imported:
            if package_of(other) != package_of(module):
                graph.setdefault(package_of(module), set()).add(package_of(other))
    return graph


def test_the_walk_sees_the_imports_it_must():
    graph = import_graph()
    assert "hw.pumpboard" in graph["boards.refpump_rp2040"]   # lazy, inside build()
    assert "boards.refpump_rp2040.config" in graph["boards.refpump_rp2040"]  # relative
    assert "boards" in graph["main"]                          # `import board`
    assert "hw.sim.board" in graph["hw.sim.runner"]


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_through_others():
    assert cycles(package_graph()) == []


def test_the_packages_are_layered_pump_hw_boards_main_tools():
    graph = package_graph()
    assert "pump" not in graph                       # the pump logic imports none of the others
    assert graph["hw"] == {"pump"}
    assert graph["boards"] <= {"hw", "pump"}
    assert graph["main"] <= {"pump", "boards"}       # main.py reaches hw only through the board
