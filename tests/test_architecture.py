"""The package's structure: layers that only point down, no import circles, short functions.

Reads the source with ``ast`` (imports nothing from tfsal). The layer table below is the one that
``docs/architecture.md`` draws; a new module gets a row here.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfsal"

# Module (or package prefix) → layer. A module may import its own layer or lower ones, never a higher one.
# The longest matching prefix wins.
LAYERS = {
    # 0: ground floor: errors, I/O, kernels, layers, metrics, losses, baselines, saliency-map maths
    "tfsal._version": 0, "tfsal.errors": 0, "tfsal._io": 0, "tfsal._progress": 0, "tfsal._quiet": 0,
    "tfsal._keras_compat": 0, "tfsal._draw": 0, "tfsal.layers": 0, "tfsal.losses": 0, "tfsal.metrics": 0,
    "tfsal.baselines": 0, "tfsal.checks": 0, "tfsal.data._maps": 0, "tfsal.crop": 0, "tfsal.sampler": 0,
    "tfsal.kernels": 0,
    # 1: data readers + pipeline; model builders + registry + weights
    "tfsal.data": 1, "tfsal.models": 1,
    # 2: running a model of any format
    "tfsal.runtime": 2, "tfsal.predict": 2,
    # 3: pictures (arrays in, arrays out)
    "tfsal.viz": 3,
    # 4: workflows
    "tfsal.evaluate": 4, "tfsal.train": 4, "tfsal.training": 4, "tfsal.distill": 4, "tfsal.export": 4,
    "tfsal.quantize": 4, "tfsal.receptive": 4, "tfsal.visualize": 4, "tfsal.cropping": 4, "tfsal.benchmark": 4,
    "tfsal.bench_runtimes": 4,
    # 5: the command line, and the package's lazy front door
    "tfsal.cli": 5, "tfsal._cli_types": 5, "tfsal": 5,
}
# Same-layer neighbours that must not know each other: a data reader never imports a model, nor a model a reader.
APART = [("tfsal.data", "tfsal.models"), ("tfsal.models", "tfsal.data")]
# Where a function-local import of a tfsal module is the point (the CLI's --help must not import TensorFlow).
LOCAL_IMPORTS_OK = {"tfsal.cli", "tfsal._cli_types", "tfsal", "tfsal.metrics"}  # + lazy package front doors
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_OK = {"tfsal.cli"}

# What is still to be fixed. Each entry must still be true (so the list only shrinks); nothing new may appear.
KNOWN = set()


def _modules():
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


MODULES = _modules()


def _layer(name):
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{name} has no row in LAYERS (tests/test_architecture.py)")
    return best, LAYERS[best]


def _resolve(name):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name, path):
    """Yields (imported tfsal module, line, is_local) for every import in one module."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    local_nodes = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local_nodes.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import sub` imports the sub-module; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != "tfsal":
                continue
            resolved = _resolve(target)
            if resolved and resolved != name:
                yield resolved, node.lineno, id(node) in local_nodes


def _violations():
    found = set()
    graph = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        _, own = _layer(name)
        for target, line, local in _imports(name, path):
            graph[name].add(target)
            if _layer(target)[1] > own and not (name == "tfsal" or target == "tfsal._version"):
                found.add(f"upward: {name} -> {target}")
            for a, b in APART:
                if (name == a or name.startswith(a + ".")) and (target == b or target.startswith(b + ".")):
                    found.add(f"apart: {name} -> {target}")
            if local and name not in LOCAL_IMPORTS_OK:
                found.add(f"local import: {name} -> {target}")
        if name not in LONG_FUNCTIONS_OK:
            for fn in ast.walk(ast.parse(path.read_text())):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = fn.end_lineno - fn.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.add(f"long function: {name}.{fn.name}")
    for cycle in _cycles(graph):
        found.add("circle: " + " ".join(cycle))
    return found


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


@pytest.mark.parametrize("kind", ["circle", "upward", "apart", "local import", "long function"])
def test_no_new_structure_problems(kind):
    found = {v for v in _violations() if v.startswith(kind + ":")}
    new = sorted(found - KNOWN)
    assert not new, f"{len(new)} new {kind} problem(s): " + "; ".join(new)
    fixed = sorted(v for v in KNOWN if v.startswith(kind + ":") and v not in found)
    assert not fixed, "fixed, so remove from KNOWN in tests/test_architecture.py: " + "; ".join(fixed)


def test_the_check_sees_a_circle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _layer("tfsal.data.folder") == ("tfsal.data", 1) and _layer("tfsal.data._maps")[1] == 0
