"""Fingerprints of the code a job executes, so that an edit reruns exactly the jobs it affects.

A fingerprint is a SHA-256 over the vrdl modules in a job's import closure, each read as its
syntax tree with docstrings dropped (comments never reach the tree): a comment, docstring or
formatting edit changes nothing, any other edit changes every fingerprint whose closure holds
the module (and the report's templates, read whole). The workflow passes fingerprints through
`params:` (Snakemake's rerun trigger) and every run records its own in RUN.json.

What a training run executes: `vrdl.train` (the loop, data, models, gradients, MetaInit, ...)
and everything it imports, plus its optimizer's builder, read at function granularity (only
the builder and the module-level names it reaches, so that editing MARS's builder does not
rerun SGD). The optimizer registry enters with only this optimizer's `register(...)` entry:
adding or changing another optimizer's entry reruns nothing else. A stacked grid runs
`vrdl.grid` instead of `vrdl.train`'s loop, so its closure starts there, and its optimizer's
stacked update rule (vrdl.optim.stacked) enters at function granularity as the builder does.

No torch here: Snakemake reads fingerprints in its own environment.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

import vrdl

PACKAGE = "vrdl"
REGISTRY = "vrdl.optim.registry"
# Files a module reads as code (the report's Jinja2 templates and CSS): in its fingerprint, whole.
PACKAGE_DATA = {"vrdl.report": "templates"}


def source_root() -> Path:
    """The directory holding the vrdl package that is imported (a checkout's src/, or site-packages)."""
    return Path(vrdl.__file__).resolve().parent.parent


def module_path(module: str, root: Path) -> Path | None:
    """A vrdl module's file under `root`; None if there is none."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _source_of(module: str, root: Path) -> Path | None:
    """The file of a module: a vrdl module under `root`, else wherever Python finds it (an
    optimizer registered from the user's own module)."""
    if module.split(".")[0] == PACKAGE:
        return module_path(module, root)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _tree(path: Path) -> ast.Module:
    stat = path.stat()
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    """The module's syntax tree without docstrings (cached per file version)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _imports(nodes, module: str, root: Path) -> set[str]:
    """vrdl modules imported anywhere inside `nodes` (function-level imports too)."""
    found = set()
    for node in (n for top in nodes for n in ast.walk(top)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, `level - 1` packages up
                package = module.split(".") if _is_package(module, root) else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from vrdl.optim import svrg` names a module; `from vrdl.optim import SVRG` an attribute
            names = [f"{base}.{a.name}" if module_path(f"{base}.{a.name}", root) else base for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != PACKAGE:
                continue
            # `import vrdl.optim.svrg` runs vrdl/__init__, vrdl/optim/__init__ and svrg
            for i in range(1, len(parts) + 1):
                if module_path(".".join(parts[:i]), root):
                    found.add(".".join(parts[:i]))
    return found


def _is_package(module: str, root: Path) -> bool:
    path = module_path(module, root)
    return path is not None and path.name == "__init__.py"


def _registry_entry_of(statement: ast.stmt) -> str | None:
    """The optimizer name of a top-level `register(Optimizer("name", ...))` statement."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    call = statement.value
    if not (isinstance(call.func, ast.Name) and call.func.id == "register" and call.args):
        return None
    entry = call.args[0]
    if isinstance(entry, ast.Call) and entry.args and isinstance(entry.args[0], ast.Constant):
        return entry.args[0].value
    return None


def _defined_names(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    return set()


def _reachable(tree: ast.Module, starts: frozenset[str]) -> list[ast.stmt]:
    """Module-level statements that are not definitions, plus the definitions reachable by name
    from `starts` (an optimizer's builder, its stacked update rule)."""
    defs = {name: stmt for stmt in tree.body for name in _defined_names(stmt)}
    if not starts <= defs.keys():
        return list(tree.body)
    keep, todo = set(), list(starts)
    while todo:
        name = todo.pop()
        if name in keep or name not in defs:
            continue
        keep.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)]
    return [stmt for stmt in tree.body if not _defined_names(stmt) or _defined_names(stmt) & keep]


def _statements(module: str, root: Path, optimizer: str | None, starts: frozenset[str] | None) -> list[ast.stmt]:
    path = _source_of(module, root)
    if path is None:  # no source to read: the module's name stands for it
        return [ast.Expr(ast.Constant(module))]
    tree = _tree(path)
    if starts is not None:
        return _reachable(tree, starts)
    if module == REGISTRY and optimizer is not None:
        return [stmt for stmt in tree.body if _registry_entry_of(stmt) in (None, optimizer)]
    return list(tree.body)


def closure(roots: list[str], root: Path, optimizer: str | None = None,
            functions: tuple[str, ...] = ()) -> dict[str, list[ast.stmt]]:
    """Every vrdl module reachable from `roots` by imports, with the statements that count; each
    of `functions` ("module:attribute": the builder, the stacked rule) enters with only what its
    attribute reaches, unless something imports its module whole."""
    modules: dict[str, list[ast.stmt]] = {}
    whole: set[str] = set()

    def visit(module: str, starts: frozenset[str] | None = None) -> None:
        todo = [(module, starts)]
        while todo:
            name, starts = todo.pop()
            if name in whole or (starts is not None and name in modules):
                continue
            statements = _statements(name, root, optimizer, starts)
            modules[name] = statements
            if starts is None:
                whole.add(name)
            todo += [(imported, None) for imported in _imports(statements, name, root)]

    for module in roots:
        visit(module)
    starts: dict[str, set[str]] = {}
    for function in functions:
        module, _, attribute = function.partition(":")
        starts.setdefault(module, set()).add(attribute)
    for module, attributes in starts.items():
        visit(module, frozenset(attributes))
    return modules


def digest(modules: dict[str, list[ast.stmt]], root: Path) -> str:
    sha = hashlib.sha256()
    for name in sorted(modules):
        sha.update(name.encode() + b"\0")
        sha.update(ast.unparse(ast.Module(body=modules[name], type_ignores=[])).encode() + b"\0")
        if name in PACKAGE_DATA:
            folder = root.joinpath(*name.split(".")[:-1], PACKAGE_DATA[name])
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def run_fingerprint(optimizer: str, stacked: bool = False, root: Path | None = None) -> str:
    """The fingerprint of a training run of `optimizer` (`vrdl train`, or a stacked `vrdl train-grid`)."""
    from vrdl.optim import registry

    root = root or source_root()
    entry = registry.get(optimizer)
    functions = (entry.builder, entry.stacked) if stacked and entry.stacked else (entry.builder,)
    return digest(closure(["vrdl.grid" if stacked else "vrdl.train"], root, optimizer, functions), root)


def script_imports(script: str | Path) -> tuple[str, ...]:
    """The vrdl modules a rule script imports (its analysis code's roots)."""
    tree = ast.parse(Path(script).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
    return tuple(sorted(names))


def _local_imports(script: Path) -> list[Path]:
    """The rule script's helper modules beside it (scripts/vrdl_env.py) that it imports."""
    tree = _tree(script)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    return sorted(script.with_name(f"{name}.py") for name in names if script.with_name(f"{name}.py").is_file())


def script_fingerprint(script: str | Path, root: Path | None = None) -> str:
    """What a rule script executes: the script itself and its helpers beside it (read as syntax
    trees, as modules are), and the vrdl modules it imports with theirs. Snakemake's own check of
    a script is its mtime, which the workflow turns off (a restored result or a clock skew would
    rerun the study): this is what reruns a job after an edit of its script."""
    root, script = root or source_root(), Path(script)
    roots = tuple(name for name in script_imports(script) if module_path(name, root))
    modules = closure(list(roots), root)
    for path in [script, *_local_imports(script)]:
        modules[f"scripts/{path.name}"] = list(_tree(path).body)
    return digest(modules, root)
