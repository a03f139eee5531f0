"""The contract with litellm: every internal the door (``litellm_mixture._litellm``) relies on
still exists with the shape relied on. Run first on every CI leg: a litellm release that moved
one fails here in seconds, naming it and the litellm version, not ten minutes into the suite.

Sources are read, not imported, where importing is slow (the proxy server)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import re
import tokenize
import warnings
from pathlib import Path
from typing import Any

import pytest

from litellm_mixture import _litellm
from litellm_mixture._litellm import INTERNALS, Internal

VERSION = importlib.metadata.version("litellm")


def _resolve(path: str) -> tuple[Any, str | None]:
    """The object at ``path`` (a module's source path instead, for a module named alone and
    checked by its text only), and why it cannot be found."""
    module_name, _, attrs = path.partition(":")
    if not attrs:
        spec = importlib.util.find_spec(module_name)
        return (spec.origin, None) if spec and spec.origin else (None, "no such module")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as e:
        return None, f"cannot import {module_name}: {e}"
    for attr in attrs.split("."):
        if not hasattr(found, attr):
            return None, f"{attr!r} is gone"
        found = getattr(found, attr)
    return found, None


def _source(found: Any) -> str:
    """The text of the file ``found`` is defined in (inspect.getsource parses a class out of
    it, seconds for the Router's)."""
    path = found if isinstance(found, str) else inspect.getsourcefile(found)
    with open(path or "", encoding="utf-8") as f:
        return f.read()


def _has_field(cls: type, name: str) -> bool:
    annotated = any(name in getattr(k, "__annotations__", {}) for k in cls.__mro__)
    if hasattr(cls, name) or annotated or name in getattr(cls, "__private_attributes__", {}):
        return True
    return re.search(rf"self\.{re.escape(name)}\s*(?::[^=]*)?=(?!=)", _source(cls)) is not None


def _problems(internal: Internal) -> list[str]:
    places = [p.strip() for p in internal.path.split(" | ")]
    resolved = [_resolve(p) for p in places]
    found = next((f for f, missing in resolved if not missing), None)
    if found is None:
        return [missing or "" for _, missing in resolved]
    out = []
    if internal.params:
        names = list(inspect.signature(found).parameters)
        out += [f"no parameter {p!r}" for p in internal.params if p not in names]
    if internal.example is not None:
        with warnings.catch_warnings():  # 1.110 deprecates some of the Router's fields
            warnings.simplefilter("ignore", DeprecationWarning)
            example = internal.example()
            out += [f"no field {f!r}" for f in internal.fields if not hasattr(example, f)]
    else:
        for field in internal.fields:
            if not any(_has_field(found, f) for f in field.split("|")):
                out.append(f"no field {field!r}")
    if internal.mentions:
        text = "".join(_source(f) for f, missing in resolved if not missing)
        out += [f"its source no longer mentions {m!r}" for m in internal.mentions if m not in text]
    return out


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda i: i.path)
def test_each_internal_the_door_relies_on_is_still_there(internal: Internal, litellm_restored):
    problems = _problems(internal)
    assert not problems, (
        f"litellm {VERSION} moved {internal.path} (relied on for: {internal.relies}): "
        + "; ".join(problems)
        + " -- fix litellm_mixture/_litellm/__init__.py"
    )


@pytest.mark.parametrize(
    "pattern, name, model",
    [
        ("mixture/*", "mixture/x*3>y", "mixture/*"),
        ("team-*", "team-big", "openai/*"),
        ("a/*/b/*", "a/1/b/2", "openai/*-*"),
        ("a/*/b/*", "a/1/b/2", "openai/*"),
        ("plain-*", "plain-x", "openai/fixed"),
    ],
)
def test_the_wildcard_filling_is_still_the_routers(pattern, name, model):
    internal = next(i for i in INTERNALS if "set_deployment_model_name" in i.path)
    method = next(f for f, missing in map(_resolve, internal.path.split(" | ")) if not missing)
    match = re.match(re.escape(pattern).replace(r"\*", "(.*)"), name)
    assert match is not None
    theirs = method(match, model)  # a staticmethod
    assert _litellm.fill_wildcard(match, model) == theirs, (
        f"litellm {VERSION}'s PatternMatchRouter.set_deployment_model_name fills {model!r} "
        f"for {name!r} as {theirs!r}: update _litellm.fill_wildcard"
    )


def test_a_response_has_hidden_params_and_a_stream_wrapper_its_fields():
    import litellm

    response = litellm.ModelResponse()
    _litellm.hide(response, response_cost=1.5)
    assert _litellm.hidden(response)["response_cost"] == 1.5, f"litellm {VERSION}"


# What only the door may touch: litellm's private modules, private fields and globals it writes.
PRIVATE = re.compile(
    r"litellm\.(litellm_core_utils|proxy|router_utils|caching|constants|main|utils)\b"
    r"|\b(_hidden_params|model_call_details|llm_router|_response_cost_calculator)\b"
    r"|\.(model_list|model_names|num_retries|retry_policy|logging_obj|custom_llm_provider)\b"
    r"|\blitellm\.\w+\s*=[^=]|\blitellm\.model_cost\.setdefault"
)
# The same, reached by name: getattr(obj, "field"), sys.modules.get("litellm...").
BY_NAME = re.compile(
    r"getattr\(\s*[^,()]+,\s*[\"'](_hidden_params|model_call_details|llm_router|master_key"
    r"|credential_list|litellm_call_id|logging_obj|custom_llm_provider|chunks|completion_stream"
    r"|received_finish_reason|model_list|model_names|retry_policy)[\"']"
    r"|sys\.modules\.get\(\s*[\"']litellm"
)
PACKAGE = Path(__file__).resolve().parent.parent / "litellm_mixture"
DOOR = PACKAGE / "_litellm" / "__init__.py"


def _code(path: Path) -> str:
    """A module's code with its strings and comments blanked (docstrings may name internals)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for token in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            (row, col), (end_row, end_col) = token.start, token.end
            for r in range(row - 1, end_row):
                start = col if r == row - 1 else 0
                stop = end_col if r == end_row - 1 else len(lines[r].rstrip("\n"))
                lines[r] = lines[r][:start] + " " * (stop - start) + lines[r][stop:]
    return "".join(lines)


def test_only_the_door_touches_litellms_internals():
    found = {
        str(path.relative_to(PACKAGE)): [
            *PRIVATE.findall(_code(path)),
            *BY_NAME.findall(path.read_text(encoding="utf-8")),
        ]
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != DOOR
    }
    assert {k: v for k, v in found.items() if v} == {}, (
        "go through litellm_mixture/_litellm/__init__.py"
    )
    assert PRIVATE.findall(_code(DOOR))  # the pattern sees what it looks for
