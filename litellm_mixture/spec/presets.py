"""Presets: pipelines by name, from the user's folders and the builtin ones, and their
parameters (``self-moa?model=openai/gpt-4o&samples=4``)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import Member
from .documents import pipeline_from_document, to_document
from .errors import describe, did_you_mean, spec_error
from .oneline import members_from_layer
from .safe_yaml import load_yaml
from .schema import Pipeline
from .steps import Aggregate, FanOut, Rank, Single, Vote
from .typed_params import flag

PRESETS_ENV = "LITELLM_MIXTURE_PRESETS"
USER_PRESET_DIR = "mixtures"
_BUILTIN_DIR = Path(__file__).parent.parent / "presets"
# Bounded: a longer name is no file name (the OS refuses it with an OSError, not a SpecError).
_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PRESET_PARAMS = (
    "proposers",
    "aggregator",
    "judge",
    "model",
    "temperature",
    "max_tokens",
    "panel",
    "early",
    "degraded",
    "api_base",
)
_EXAMPLES = {
    "proposers": "proposers=openai/gpt-4o-mini*2+anthropic/claude-3-5-haiku",
    "aggregator": "aggregator=openai/gpt-4o",
    "judge": "judge=openai/gpt-4o",
    "model": "model=openai/gpt-4o-mini",
    "temperature": "temperature=0.7",
    "max_tokens": "max_tokens=512",
    "panel": "panel=reasoning",
    "early": "early=yes",
    "degraded": "degraded=error",
    "api_base": "api_base=http://127.0.0.1:8080/v1",
}


def preset_dirs() -> list[Path]:
    """User preset folders, searched before the builtin presets: $LITELLM_MIXTURE_PRESETS
    (os.pathsep-separated), then ./mixtures."""
    env = [Path(p) for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p]
    return [*env, Path(USER_PRESET_DIR)]


def _preset_file(name: str) -> Path | None:
    for folder in [*preset_dirs(), _BUILTIN_DIR]:
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def preset_names() -> list[str]:
    names: set[str] = set()
    for folder in [*preset_dirs(), _BUILTIN_DIR]:
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    return sorted(n for n in names if _PRESET_NAME.match(n))


@lru_cache(maxsize=128)
def _load_preset_file(path: Path, mtime_ns: int) -> Pipeline:
    where = f"preset file {path}"
    doc = load_yaml(path.read_text(encoding="utf-8"), spec=path.stem, where=where)
    return pipeline_from_document(doc, spec=path.stem, where=where)


def load_preset(name: str) -> Pipeline | None:
    path = _preset_file(name) if _PRESET_NAME.match(name) else None
    return None if path is None else _load_preset_file(path, path.stat().st_mtime_ns)


# ---------------------------------------------------------------- parameters


def _read_params(query: str, spec: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if key not in _PRESET_PARAMS:
            hint = did_you_mean(key, _PRESET_PARAMS)
            raise spec_error(
                f"unknown parameter {key!r}; {hint + ' ' if hint else ''}"
                f"parameters: {', '.join(_PRESET_PARAMS)}",
                spec=spec,
            )
        if not sep or not value:
            raise spec_error(
                f"parameter {key!r} has no value: write {key}=VALUE, e.g. {_EXAMPLES[key]}",
                spec=spec,
            )
        params[key] = value
    return params


def _checked(key: str, raw: str, value: Any, spec: str) -> Any:
    """``value`` if a member may have it as ``key``: its range is checked once, here, not
    once per member it is given to."""
    try:
        Member(**{"model": "m", key: value})
    except ValueError as e:
        why = describe(e).split(": ", 1)[-1]
        raise spec_error(f"parameter {key}={raw}: {why}", spec=spec) from None
    return value


def _cast(key: str, raw: str, spec: str) -> Any:
    cast, expected = (float, "not a number") if key == "temperature" else (int, "not an integer")
    try:
        return cast(raw)
    except ValueError:
        raise spec_error(f"parameter {key}={raw!r} is {expected}", spec=spec) from None


def _member_updates(params: dict[str, str], spec: str) -> dict[str, Any]:
    """What the parameters change in every member, each checked once."""
    updates: dict[str, Any] = {}
    for key in ("temperature", "max_tokens"):
        if key in params:
            updates[key] = _checked(key, params[key], _cast(key, params[key], spec), spec)
    for key in ("model", "aggregator", "judge"):
        if key in params:
            _checked("model", params[key], params[key], spec)
    if "model" in params:
        updates["model"] = params["model"]
    return updates


def _with_params(
    step: Any, i: int, params: dict[str, str], updates: dict[str, Any], spec: str
) -> Any:
    if not step.members:  # a transform: nothing to replace
        return step
    members = step.members
    if "proposers" in params and isinstance(step, FanOut):
        members = tuple(members_from_layer(params["proposers"], i, spec))
    for key, kinds in (("aggregator", Aggregate), ("judge", (Rank, Vote))):
        if key in params and isinstance(step, kinds):
            members = (members[0].model_copy(update={"model": params[key]}),)
    if updates:
        members = tuple(m.model_copy(update=updates) for m in members)
    if "api_base" not in params:
        return step.with_members(members)
    # Where members (fallbacks too) that name no endpoint of their own live.
    base = params["api_base"]
    step = step.with_members(tuple(at_base(m, base) for m in members))
    if isinstance(step, Single) and step.fallbacks:
        step = step.model_copy(
            update={"fallbacks": tuple(at_base(m, base) for m in step.fallbacks)}
        )
    return step


def at_base(member: Any, base: str) -> Any:
    """``member`` served at ``base``, unless its params name an endpoint of their own."""
    if "api_base" in member.params or "base_url" in member.params:
        return member
    return member.model_copy(update={"params": {**member.params, "api_base": base}})


def apply_params(pipeline: Pipeline, query: str, spec: str) -> Pipeline:
    """Reuse a preset (or a one-line pipeline) with other members or modes, without copying
    it: ``name?key=value&key=value``."""
    params = _read_params(query, spec)
    updates = _member_updates(params, spec)
    steps = tuple(
        _with_params(step, i, params, updates, spec) for i, step in enumerate(pipeline.steps)
    )
    # Revalidate, from the document: model_copy checks nothing, and the overrides must still
    # make a valid pipeline (temperature=5 must not pass).
    updated = pipeline.model_copy(update={"steps": steps})
    document = to_document(updated)
    for key in ("panel", "degraded"):
        if key in params:
            document[key] = params[key]
    if "early" in params:
        try:
            document["steps"][-1]["early"] = flag(params["early"], "early")
        except ValueError as e:
            raise spec_error(f"parameter {e}", spec=spec) from None
    return pipeline_from_document(document, spec=spec)
