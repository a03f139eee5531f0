"""Imports flow one way: a module imports from its own folder and the folders below it
(docs/architecture.md, "The folders"), type-only imports aside. The few imports that go up are
listed here with why, so a new one fails until it is moved or argued for."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "litellm_mixture"

# Top to bottom. The root's modules (the public API, errors, the demo) are placed by name.
LAYERS = [
    ("cli", "evals", "api", "demo", "__init__"),
    ("provider",),
    ("observe",),
    ("pricing",),
    ("trust",),
    ("engine",),
    ("spec",),
    ("errors",),
    ("common",),
    ("_litellm",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

# (importer, imported): why it may reach up.
UPWARD = {
    # The patches install what the layers above compute (the cost, the chunks, the cache key).
    ("_litellm/patches.py", "*"): "the patches install wrappers from the modules they name",
    # A metrics callback labels a request by the proxy's own aliases (imported when called).
    ("observe/metrics.py", "provider/proxy.py"): "the proxy's model list, names its operator chose",
    # The engine's seams default to litellm itself in process: its model map's prices.
    ("engine/context.py", "pricing/prices.py"): "the in-process default of the facts seam",
    # The module state holds values of the layers' types; it imports them for type checking only.
    ("common/state.py", "*"): "type-only imports",
    # The loop's worker skips litellm's own logging task, named by the door.
    ("common/_sync.py", "_litellm/__init__.py"): "litellm's logging task name",
    # The cli's eval command quiets litellm the way the cli does.
    ("evals/command.py", "cli/live.py"): "litellm's banners off, as every command",
}


def _layer(relative: str) -> str:
    first = relative.split("/")[0]
    return first.removesuffix(".py")


def _target(module: Path, node: ast.ImportFrom, name: str) -> Path | None:
    package = module.parent
    for _ in range(node.level - 1):
        package = package.parent
    base = package.joinpath(*(node.module or "").split(".")) if node.module else package
    for candidate in (base / name / "__init__.py", base / f"{name}.py", base / "__init__.py"):
        if candidate.exists():
            return candidate
    return base.with_suffix(".py") if base.with_suffix(".py").exists() else None


def _imports(module: Path):
    tree = ast.parse(module.read_text(encoding="utf-8"))
    type_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in type_only:
            for alias in node.names:
                target = _target(module, node, alias.name)
                if target is not None:
                    yield target


def test_imports_flow_down_the_folders():
    upward = []
    for module in sorted(PACKAGE.rglob("*.py")):
        importer = module.relative_to(PACKAGE).as_posix()
        for target in _imports(module):
            imported = target.relative_to(PACKAGE).as_posix()
            if RANK[_layer(importer)] <= RANK[_layer(imported)] or _layer(importer) == _layer(
                imported
            ):
                continue
            if (importer, imported) in UPWARD or (importer, "*") in UPWARD:
                continue
            upward.append(f"{importer} -> {imported}")
    assert not upward, "imports that reach up a layer (docs/architecture.md): " + ", ".join(
        sorted(set(upward))
    )


def test_every_folder_and_root_module_has_a_layer():
    names = {_layer(p.relative_to(PACKAGE).as_posix()) for p in PACKAGE.rglob("*.py")}
    assert names <= set(RANK), names - set(RANK)
