"""The docs cannot drift from the code: architecture.md's table names every module, the patch
list in development.md is the one _litellm/patches.py declares and installs, and the code the
docs name exists."""

import ast
import logging
import re
from pathlib import Path

import litellm

import litellm_mixture
from litellm_mixture import _litellm
from litellm_mixture._litellm import patches as _patches

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "litellm_mixture"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A numbered item and the first name in backticks on its first line (`x` in Markdown, ``x`` in
# the docstring).
ITEM = re.compile(r"^(\d+)\. [^`\n]*`+([^`]+)`+", re.MULTILINE)
# `module.name`, `Class.attr`, `module.Class.attr`, `func()`, `Class.method()`: what the docs
# name as code. A name whose first part is not one of the package's modules or classes is
# someone else's (litellm's, the standard library's) and is not checked.
CODE = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\(\))?`")
# Named in the docs on purpose though not in the package.
NOT_OURS = {
    "mixture_hooks.mixture_metrics",  # a name in the proxy's config, from mixture_hooks.py
    "mixture_hooks.proxy_guard",
    "mixture_hooks.handler",
    "response.mixture_cost",  # a litellm response's fields, not the module response.py
    "response.mixture_estimate",
    "response.model",
    "response.completed",  # a Responses API event
    "reliability_guard()",  # HumanEval's sandbox, in its harness
}
FILES = {"py", "yaml", "md", "toml", "json", "txt", "html", "pth", "sh"}


def test_the_architecture_table_names_every_module():
    table = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))
    missing = [m for m in modules if f"`{m}`" not in table]
    assert not missing, f"docs/architecture.md's table does not name: {missing}"


def _listed_patches() -> list[str]:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("## Patches to litellm", 1)[1].split("\n## ", 1)[0]
    return [name for _, name in ITEM.findall(section)]


def test_the_patch_list_in_the_docs_is_the_one_declared_in_order():
    declared = [name for _, name in ITEM.findall(_patches.__doc__ or "")]
    assert declared, "no numbered patch found in _litellm/patches.py's docstring"
    assert _listed_patches() == declared


def _resolve(dotted: str) -> object:
    """A patch's target from the names the patches and the door import (litellm,
    CustomStreamWrapper, ...)."""
    first, *rest = dotted.split(".")
    value = {**vars(_litellm), **vars(_patches)}[first]
    for part in rest:
        value = getattr(value, part)
    return value


# What installing a patch that wraps no function leaves behind.
INSTALLED = {
    "litellm.custom_provider_map": lambda: any(
        e.get("provider") == litellm_mixture.PROVIDER for e in litellm.custom_provider_map
    ),
    "litellm.model_cost": lambda: f"{litellm_mixture.PROVIDER}/moa-lite" in litellm.model_cost,
    "redaction.SCRUBBER": lambda: all(
        _patches.redaction.SCRUBBER in logging.getLogger(name).filters
        for name in _patches.redaction.LOGGERS
    ),
}


def test_every_listed_patch_is_installed():
    litellm_mixture.register()
    for name in _listed_patches():
        target = _resolve(name)
        if name in INSTALLED:
            assert INSTALLED[name](), f"{name} is listed but not installed"
        else:
            assert callable(target), f"{name}: no check says how to see it installed"
            assert _litellm.ours(target), f"{name} is listed but not wrapped"


class _Symbols:
    """Every module of the package, its top-level names, and each class's members, read from
    the source (no import: evals/ needs an extra)."""

    def __init__(self) -> None:
        self.modules: dict[str, set[str]] = {}  # "engine.final" and "final" alike
        self.classes: dict[str, set[str]] = {}
        for path in PACKAGE.rglob("*.py"):
            dotted = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
            names = self._read(ast.parse(path.read_text(encoding="utf-8")))
            for key in {dotted, dotted.rsplit(".", 1)[-1]} - {"__init__"}:
                self.modules.setdefault(key.removesuffix(".__init__"), set()).update(names)
        for module in list(self.modules):  # a package's submodules are its names too
            if "." in module:
                parent, child = module.rsplit(".", 1)
                self.modules.setdefault(parent, set()).add(child)

    def _read(self, tree: ast.Module) -> set[str]:
        names: set[str] = set()
        for node in tree.body:
            names.update(_bound(node))
            if isinstance(node, ast.ClassDef):
                members = self.classes.setdefault(node.name, set())
                for item in ast.walk(node):
                    members.update(_bound(item) if item in node.body else _on_self(item))
                for base in node.bases:  # inherited members: the base's, if it is ours
                    if isinstance(base, ast.Name):
                        members.add(f"<{base.id}>")
        return names

    def members(self, cls: str, seen: frozenset[str] = frozenset()) -> set[str]:
        own = self.classes.get(cls, set())
        bases = {m[1:-1] for m in own if m.startswith("<")} - seen
        return own.union(*(self.members(b, seen | {cls}) for b in bases))

    def exists(self, parts: list[str]) -> bool | None:
        """Whether ``a.b.c`` names something of ours; None if ``a`` is not ours."""
        first, *rest = parts
        if first in self.modules:
            return self._in_module(first, rest)
        if first in self.classes:
            return not rest or rest[0] in self.members(first)
        return None

    def _in_module(self, module: str, rest: list[str]) -> bool:
        if not rest:
            return True
        name, *more = rest
        if name not in self.modules[module]:
            return False
        if f"{module}.{name}" in self.modules:
            return self._in_module(f"{module}.{name}", more)
        return not more or name not in self.classes or more[0] in self.members(name)


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.If, ast.Try)):
        return set().union(*(_bound(n) for n in node.body))
    return set()


def _on_self(node: ast.AST) -> set[str]:
    """``x`` of ``self.x = ...`` (an attribute a method sets)."""
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {
        t.attr
        for t in targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }


def test_the_code_the_docs_name_exists():
    symbols = _Symbols()
    functions = set().union(*symbols.modules.values()) | set().union(*symbols.classes.values())
    missing = []
    for doc in DOCS:
        for name, called in CODE.findall(doc.read_text(encoding="utf-8")):
            parts = name.split(".")
            if name + called in NOT_OURS or parts[-1] in FILES or (len(parts) == 1 and not called):
                continue
            found = symbols.exists(parts) if len(parts) > 1 else name in functions
            if found is False:
                missing.append(f"{doc.relative_to(ROOT)}: `{name}{called}`")
    assert not missing, "the docs name code the package does not have:\n" + "\n".join(missing)
