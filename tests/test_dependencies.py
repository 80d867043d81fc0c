"""The import rules of README's "How the code is laid out", checked on every module of nlpkit.

Every import counts, also those inside functions: a function-level import is how a cycle hides.
"""

import ast
import pathlib

import pytest

NLPKIT = pathlib.Path(__file__).resolve().parents[1] / "nlpkit"

# package -> packages it must never import (prefixes of module names).
FORBIDDEN = {
    "nlpkit.atomic_files": ["nlpkit."],
    "nlpkit.layers": ["nlpkit.text", "nlpkit.data", "nlpkit.training", "nlpkit.export",
                      "nlpkit.tasks", "nlpkit.cli", "nlpkit.decoding"],
    "nlpkit.text": ["nlpkit.layers", "nlpkit.training", "nlpkit.export", "nlpkit.tasks",
                    "nlpkit.cli", "nlpkit.decoding"],
    "nlpkit.data": ["nlpkit.layers", "nlpkit.training", "nlpkit.export", "nlpkit.tasks",
                    "nlpkit.cli", "nlpkit.decoding"],
    "nlpkit.training": ["nlpkit.export", "nlpkit.tasks", "nlpkit.cli"],
    "nlpkit.export": ["nlpkit.tasks", "nlpkit.cli"],
    "nlpkit.cli": ["nlpkit.tasks", "nlpkit.export"],
}


def module_name(path):
    parts = path.relative_to(NLPKIT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


ALL_MODULES = {module_name(path) for path in NLPKIT.rglob("*.py")}


def imported_modules(path):
    """Every module `path` imports, at any depth of its code, as absolute dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                module = module_name(path)
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                # `from nlpkit import layers` imports the module nlpkit.layers; `from
                # nlpkit.layers import LSTM` imports the module nlpkit.layers.
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in ALL_MODULES else base)
    return names


def nlpkit_graph():
    modules = {module_name(path): path for path in NLPKIT.rglob("*.py")}
    return {
        name: {imported for imported in imported_modules(path) if imported in modules}
        for name, path in modules.items()
    }, modules


GRAPH, MODULES = nlpkit_graph()


def within(module, package):
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_they_may(package):
    wrong = sorted(
        f"{module} imports {imported}"
        for module, imports in GRAPH.items()
        if within(module, package)
        for imported in imports
        for forbidden in FORBIDDEN[package]
        if imported.startswith(forbidden) and not within(imported, package)
    )
    assert not wrong, wrong


def test_no_task_imports_another_task():
    def task_of(module):
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "tasks" else None

    wrong = sorted(
        f"{module} imports {imported}"
        for module, imports in GRAPH.items()
        for imported in imports
        if task_of(module) and task_of(imported) and task_of(module) != task_of(imported)
    )
    assert not wrong, wrong


def test_nothing_in_nlpkit_imports_a_recipe_or_a_test():
    wrong = sorted(
        f"{name} imports {imported}"
        for name, path in MODULES.items()
        for imported in imported_modules(path)
        if imported.split(".")[0] in ("recipes", "tests", "benchmarks")
    )
    assert not wrong, wrong


def test_no_import_cycles():
    # A package's __init__ importing its own modules is how packages re-export; a cycle is a
    # module that, through its imports, comes back to itself.
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for imported in sorted(GRAPH[module]):
            if state.get(imported) == "open":
                cycles.append(stack[stack.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_the_checker_sees_function_level_imports(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from nlpkit.layers import lstm\n    import nlpkit.cli\n")
    assert {"nlpkit.layers.lstm", "nlpkit.cli"} <= imported_modules(source)
