"""Imports point down the data flow only, and no module imports itself back in a cycle.

The layers, lowest first (a module may import its own layer's lower packages and any lower
layer, never a higher one):

0. ``errors``, ``config``, ``types``, ``parts``: plain definitions (``parts``: the store's
   parts as roles, the protocols that modules below the root take instead of ``Store``);
1. ``images``, ``models``, ``store``: decoding, models, the catalog and the vector index
   (``store`` is a leaf: it knows nothing of pipeline, search or privacy);
2. ``search``, ``pipeline``, ``privacy``, ``subjects``: what the engine does with them;
3. ``ledger``: the composition root that opens the parts and offers the verbs;
4. ``api``, ``web``, ``cli``, ``demo``, the package's ``__init__``: thin layers on top.

Imports under ``if TYPE_CHECKING:`` are not imports at run time and are not counted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import faceledger

PACKAGE = Path(faceledger.__file__).resolve().parent
LAYERS = {
    "errors": 0, "config": 0, "types": 0, "parts": 0,
    "images": 1, "models": 1, "store": 1,
    "search": 2, "pipeline": 2, "privacy": 2, "subjects": 2, "people": 2,
    "ledger": 3,
    "api": 4, "web": 4, "cli": 4, "demo": 4, "__init__": 4, "__main__": 4,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def runtime_imports(path: Path) -> set[str]:
    """faceledger modules this file imports at run time (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    here = module_name(path).split(".")
    is_package = path.name == "__init__.py"
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name[len("faceledger."):] for a in node.names
                    if a.name.startswith("faceledger.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("faceledger."):
                target = node.module[len("faceledger."):]
            elif node.module == "faceledger":
                target = ""
            else:
                continue
            out.add(target)
            out |= {f"{target}.{a.name}" if target else a.name for a in node.names}
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in out if m in known and m}


def graph() -> dict[str, set[str]]:
    return {module_name(p): runtime_imports(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    top = module.split(".")[0]
    return LAYERS.get(top, 4)


def test_every_top_level_module_has_a_layer():
    tops = {module_name(p).split(".")[0] for p in PACKAGE.rglob("*.py")}
    assert tops <= set(LAYERS), f"give these a layer: {sorted(tops - set(LAYERS))}"


def test_imports_point_down_only():
    upward = [
        f"{m} (layer {layer(m)}) imports {dep} (layer {layer(dep)})"
        for m, deps in graph().items() for dep in deps
        if layer(dep) > layer(m) and m.split(".")[0] != "__init__"
    ]
    assert not upward, "\n".join(sorted(upward))


def test_store_is_a_leaf():
    leaks = [f"{m} imports {d}" for m, deps in graph().items() if m.startswith("store")
             for d in deps if d.split(".")[0] not in ("store", "errors", "config", "types")]
    assert not leaks, "\n".join(sorted(leaks))


def test_no_import_cycles_between_packages():
    edges: dict[str, set[str]] = {}
    for m, deps in graph().items():
        src = m.split(".")[0]
        edges.setdefault(src, set()).update(d.split(".")[0] for d in deps
                                            if d.split(".")[0] != src)
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif len(path) < 12:
                visit(nxt, path + [nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert not cycles, "\n".join(sorted(set(cycles)))


def test_no_module_level_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if d == m or d.startswith(m + "."):
                continue  # a package importing its own submodules
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]) if d in stack
                              else f"{m} -> {d}")
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(sorted(set(cycles)))


CATALOG_SQL = re.compile(
    r"\b(FROM|INTO|UPDATE|JOIN)\s+(faces|photos|sources|ingest_runs|store_meta|vector_log)\b",
    re.IGNORECASE)


def test_only_the_catalog_writes_sql_on_its_tables():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] != "store"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if CATALOG_SQL.search(line)
    ]
    assert not offenders, "\n".join(offenders)


#: modules below the root that still name ``Store``: none since issue 10's narrowing; the
#: set may only shrink
STILL_TAKE_THE_STORE: set[str] = set()


NAMES_LEDGER = re.compile(r"from \.+ledger import|(from|import) faceledger\.ledger")


def test_modules_below_the_root_take_parts_not_the_store():
    """Below the composition root a module declares the parts it uses (a protocol built
    from ``faceledger.parts``); it does not name ``ledger``, even for type checking."""
    naming = {module_name(p) for p in PACKAGE.rglob("*.py")
              if layer(module_name(p)) < LAYERS["ledger"]
              and NAMES_LEDGER.search(p.read_text())}
    assert naming <= STILL_TAKE_THE_STORE, sorted(naming - STILL_TAKE_THE_STORE)
    assert not STILL_TAKE_THE_STORE - naming, (
        f"narrowed already, take them off the list: {sorted(STILL_TAKE_THE_STORE - naming)}")


def test_the_store_satisfies_every_parts_protocol(tmp_path):
    """Every protocol a module declares from the roles in ``faceledger.parts`` is met by a
    real ``Store`` (a missing or renamed part fails here, not in production)."""
    import importlib
    import inspect

    from faceledger import Settings, init_store
    from faceledger import parts as roles

    role_types = {v for v in vars(roles).values() if inspect.isclass(v)
                  and getattr(v, "_is_protocol", False) and v.__module__ == roles.__name__}
    declared = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if layer(name) >= LAYERS["ledger"]:
            continue
        module = importlib.import_module(f"faceledger.{name}")
        for value in vars(module).values():
            if (inspect.isclass(value) and getattr(value, "_is_protocol", False)
                    and value.__module__ == module.__name__
                    and (value in role_types or role_types & set(value.__mro__))):
                declared[f"{name}.{value.__name__}"] = value
    assert len(declared) >= len(role_types) + 5, sorted(declared)
    with init_store(Settings(data_dir=tmp_path / "data",
                             key_file=tmp_path / "k" / "t.key")) as store:
        missing = {n: [a for a in dir(p) if not a.startswith("_") and not hasattr(store, a)]
                   for n, p in declared.items() if not isinstance(store, p)}
    assert not missing, missing


def test_modules_use_only_the_parts_they_declare():
    """A function that takes a parts protocol reads nothing else off it: every ``store.x``
    on a parameter annotated with such a protocol names a member the protocol declares
    (an attribute or a verb), so the protocol is the whole of what the module needs."""
    import importlib
    import inspect

    from faceledger import parts as roles

    role_types = {v for v in vars(roles).values() if inspect.isclass(v)
                  and getattr(v, "_is_protocol", False) and v.__module__ == roles.__name__}

    def members(protocol: type) -> set[str]:
        return {name for cls in protocol.__mro__
                for name in [*getattr(cls, "__annotations__", {}), *vars(cls)]}

    undeclared = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if layer(name) >= LAYERS["ledger"]:
            continue
        module = importlib.import_module(f"faceledger.{name}")
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for arg in [*fn.args.args, *fn.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                protocol = getattr(module, annotation, None)
                if not (inspect.isclass(protocol)
                        and (protocol in role_types or role_types & set(protocol.__mro__))):
                    continue
                known = members(protocol)
                undeclared += [
                    f"{name}.{fn.name}:{node.lineno}: {arg.arg}.{node.attr} "
                    f"({protocol.__name__} does not declare it)"
                    for node in ast.walk(fn)
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == arg.arg and node.attr not in known
                ]
    assert not undeclared, "\n".join(sorted(undeclared))
