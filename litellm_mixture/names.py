"""Model string <-> pipeline.

What follows ``mixture/`` is one of:

- a preset: ``moa-lite``, optionally with parameters ``self-moa?model=openai/gpt-4o&samples=4``;
- a one-line pipeline: ``openai/gpt-4o-mini*3+anthropic/claude-3-5-haiku>openai/gpt-4o``, whose
  middle layers may also be transforms: ``a*4+b>shuffle>dropout=0.2>c``;
- an inline YAML/JSON document in the mixtcha or the ``steps`` dialect;
- a single model, passed through: ``deepseek/deepseek-chat``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Container
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from .config import (
    Aggregate,
    Dropout,
    Member,
    Pipeline,
    Propose,
    Rank,
    Sample,
    Shuffle,
    Synthesize,
    Take,
    Vote,
    pipeline_from_document,
)
from .errors import SpecError
from .memo import ByteBoundCache

PREFIX = "mixture/"
PRESETS_ENV = "LITELLM_MIXTURE_PRESETS"
USER_PRESET_DIR = "mixtures"
MAX_SPEC_BYTES = 64 * 1024
MAX_BRACKET_DEPTH = 32  # a spec needs ~6
# Accepted pipelines of inline and one-line specs. A decoded pipeline takes ~100-200 bytes per
# byte of its spec: bounded by bytes, so neither many specs nor a few large ones grow it further.
CACHE_BYTES = 8 * 1024 * 1024
_BUILTIN_DIR = Path(__file__).parent / "presets"
# Bounded: a longer name is no file name (the OS refuses it with an OSError, not a SpecError).
_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# At most 9 digits: int() of a 5,000-digit string raises ValueError, not a SpecError.
_ONE_LINE_MEMBER = re.compile(r"^(?P<model>[^*+>\s]+?)(?:\*(?P<n>\d{1,9}))?$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INLINE_KEY = re.compile(r"^\w+\s*:\s")
_PRESET_PARAMS = ("proposers", "aggregator", "judge", "model", "temperature", "max_tokens")
# Transforms as one-line layers: shuffle, dropout=0.2, sample=2, take=2.
_ONE_LINE_TRANSFORM = re.compile(
    r"^(?:(?P<kind>shuffle)|(?P<kind2>dropout|sample|take)=(?P<value>\d{1,9}(?:\.\d{1,9})?))$"
)


# ---------------------------------------------------------------- YAML, safely


class _NoAliasLoader(yaml.SafeLoader):
    """Rejects anchors and aliases: they are how YAML 'billion laughs' documents blow up."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not allowed in a mixture spec")
        return super().compose_node(parent, index)


def _bracket_depth(text: str) -> int:
    """How deep ``[``/``{`` nest, quotes ignored (an over-count at worst): PyYAML's scanner takes
    time quadratic in this depth (2 KB of ``[[[...]]]`` cost it half a second)."""
    depth = deepest = 0
    for c in text:
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: let YAML read them (as the strings they are there)


def load_yaml(text: str, *, spec: str = "", where: str = "") -> Any:
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError(
            f"the document is larger than {MAX_SPEC_BYTES} bytes", spec=spec, where=where
        )
    if _bracket_depth(text) > MAX_BRACKET_DEPTH:
        raise SpecError(
            f"the document is nested too deeply (brackets more than {MAX_BRACKET_DEPTH} deep)",
            spec=spec,
            where=where,
        )
    if text.lstrip().startswith(("{", "[")):
        # JSON is YAML, and the C json parser reads it ~50x faster than PyYAML.
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            pass  # YAML flow style ({steps: [...]}) or a JSON error: YAML says what is wrong
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as e:
        raise SpecError(
            f"not valid YAML/JSON: {' '.join(str(e).split())}", spec=spec, where=where
        ) from None
    except RecursionError:
        raise SpecError("the document is nested too deeply", spec=spec, where=where) from None


# ---------------------------------------------------------------- presets


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
    names = set()
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


def _apply_params(pipeline: Pipeline, query: str, spec: str) -> Pipeline:
    """Reuse a preset with other members, without copying it: ``name?key=value&key=value``."""
    params: dict[str, str] = {}
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if not sep or not value:
            raise SpecError(f"preset parameter {pair!r} must look like key=value", spec=spec)
        if key not in _PRESET_PARAMS:
            raise SpecError(
                f"unknown preset parameter {key!r}; allowed: {', '.join(_PRESET_PARAMS)}", spec=spec
            )
        params[key] = value

    member_updates: dict[str, Any] = {}
    for key, cast in (("temperature", float), ("max_tokens", int)):
        if key in params:
            try:
                member_updates[key] = cast(params[key])
            except ValueError:
                raise SpecError(
                    f"preset parameter {key}={params[key]!r} is not a number", spec=spec
                ) from None
    if "model" in params:
        member_updates["model"] = params["model"]

    steps = []
    for i, step in enumerate(pipeline.steps):
        if not step.members:  # a transform: nothing to replace
            steps.append(step)
            continue
        members = step.members
        if "proposers" in params and isinstance(step, (Propose, Synthesize)):
            members = tuple(_parse_one_line_layer(params["proposers"], i, spec))
        for key, kinds in (("aggregator", Aggregate), ("judge", (Rank, Vote))):
            if key in params and isinstance(step, kinds):
                members = (members[0].model_copy(update={"model": params[key]}),)
        if member_updates:
            members = tuple(m.model_copy(update=member_updates) for m in members)
        min_ok = min(step.min_successful, sum(m.samples for m in members))
        if not isinstance(step, (Propose, Synthesize)):
            min_ok = step.min_successful  # not bounded by its members: they take turns
        steps.append(step.model_copy(update={"members": members, "min_successful": min_ok}))
    # Revalidated from plain data (model_copy checks nothing): the overrides must still make a
    # valid pipeline, with no temperature=nan or max_tokens=0 in it.
    updated = pipeline.model_copy(update={"steps": tuple(steps)})
    return pipeline_from_document(updated.model_dump(), spec=spec)


# ---------------------------------------------------------------- one-line form


def _parse_one_line_layer(text: str, layer: int, spec: str) -> list[Member]:
    members = []
    for part in text.split("+"):
        match = _ONE_LINE_MEMBER.match(part)
        if not match:
            raise SpecError(
                f"layer {layer + 1}: {part!r} is not a member; write model or model*N "
                "(no spaces, e.g. openai/gpt-4o-mini*3)",
                spec=spec,
            )
        samples = int(match["n"] or 1)
        try:
            # %XX escapes keep words such as "replicate" out of the model string, where
            # litellm's substring routing would take the call away from this provider.
            members.append(Member(unquote(match["model"]), samples=samples))
        except ValueError as e:
            raise SpecError(f"layer {layer + 1}: {part!r}: {e}", spec=spec) from None
    return members


def _one_line_transform(layer: str, index: int, spec: str) -> Any:
    match = _ONE_LINE_TRANSFORM.match(layer)
    if match is None:
        return None
    if match["kind"]:
        return Shuffle()
    kind, value = match["kind2"], match["value"]
    try:
        return (
            Dropout(float(value))
            if kind == "dropout"
            else {"sample": Sample, "take": Take}[kind](int(value))
        )
    except ValueError as e:
        raise SpecError(f"layer {index + 1}: {layer!r}: {_first_error(e)}", spec=spec) from None


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    return errors()[0]["msg"] if errors else str(error)


def _parse_one_line(spec: str) -> Pipeline:
    layers = spec.split(">")
    if any(not layer for layer in layers):
        raise SpecError(
            "empty layer in one-line spec (two '>' in a row, or one at an end)", spec=spec
        )
    transforms = [_one_line_transform(layer, i, spec) for i, layer in enumerate(layers)]
    if transforms[0] is not None or transforms[-1] is not None:
        raise SpecError(
            "a transform (shuffle, dropout=R, sample=N, take=N) goes between two layers of "
            "members, e.g. a*3+b>shuffle>c",
            spec=spec,
        )
    parsed = [
        step or _parse_one_line_layer(layer, i, spec)
        for i, (layer, step) in enumerate(zip(layers, transforms, strict=True))
    ]
    final = parsed[-1]
    if len(final) != 1 or final[0].samples != 1:
        raise SpecError(
            f"the last layer must be a single aggregator model, got {layers[-1]!r}; "
            "e.g. a*3+b>c ends with the aggregator c",
            spec=spec,
        )
    steps: list[Any] = [Propose(parsed[0])]
    steps += [
        s if t is not None else Synthesize(s) for s, t in zip(parsed, transforms, strict=True)
    ][1:-1]
    steps.append(Aggregate(final))
    return Pipeline(steps)


# ---------------------------------------------------------------- decode / encode


def _known_model(name: str) -> bool:
    import litellm

    if name in litellm.model_cost:
        return True
    try:
        litellm.get_llm_provider(name)
    except Exception:
        return False
    return True


def _decode_name(spec: str, aliases: Container[str]) -> Pipeline:
    name, _, query = spec.partition("?")
    pipeline = load_preset(name)
    if pipeline is not None:
        return _apply_params(pipeline, query, spec) if query else pipeline
    if any(c in spec for c in "+*"):
        raise SpecError(
            f"{spec!r} has members but no aggregator: add '>' and the aggregator model, "
            "e.g. a*3+b>c",
            spec=spec,
        )
    if "/" not in spec and spec not in aliases and not _known_model(spec):
        close = difflib.get_close_matches(name, preset_names(), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise SpecError(
            f"{spec!r} is neither a preset nor a model litellm knows; {hint}"
            f"presets: {', '.join(preset_names())}",
            spec=spec,
        )
    return Pipeline([Aggregate([spec])])


_accepted: ByteBoundCache[Pipeline] = ByteBoundCache(CACHE_BYTES)


def _decode_inline(spec: str) -> Pipeline:
    return pipeline_from_document(load_yaml(spec, spec=spec), spec=spec)


def _cached(spec: str, parse: Callable[[str], Pipeline]) -> Pipeline:
    hit = _accepted.get(spec)
    return hit if hit is not None else parse(spec)


def _is_inline(stripped: str) -> bool:
    return stripped.startswith(("{", "[")) or "\n" in stripped or bool(_INLINE_KEY.match(stripped))


def accepted(model: str) -> Pipeline | None:
    """The pipeline of a spec remembered as accepted, if the cache still has it."""
    return _accepted.get(model.removeprefix(PREFIX))


def remember(model: str, pipeline: Pipeline) -> None:
    """Keep the pipeline ``decode(model)`` returned, once the caller accepted it (trusted, or a
    client spec that passed the policy): later calls skip decoding. Inline and one-line specs
    only; presets and URL specs have caches of their own."""
    stripped = model.removeprefix(PREFIX).strip()
    if _is_inline(stripped) or (">" in stripped and not is_url(stripped)):
        _accepted.put(stripped, pipeline)


def is_url(spec: str) -> bool:
    """Whether a spec (the text after ``mixture/``) is a URL."""
    return _URL.match(spec) is not None


def decode_fetched(text: str, url: str) -> Pipeline:
    """The pipeline in a document fetched from a URL spec."""
    return pipeline_from_document(load_yaml(text, spec=url, where=url), spec=url, where=url)


def decode(model: str, aliases: Container[str] = ()) -> Pipeline:
    """The pipeline a model string names. Raises :class:`SpecError` (a BadRequestError).

    ``aliases`` are more model names to accept as a single model (the proxy's model_list).
    """
    if not isinstance(model, str):
        raise SpecError(f"expected a string, got {type(model).__name__}")
    spec = model.removeprefix(PREFIX)
    if len(spec.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is longer than {MAX_SPEC_BYTES} bytes", spec=spec)
    stripped = spec.strip()
    if not stripped:
        raise SpecError("empty spec after 'mixture/'", spec=spec)
    if _is_inline(stripped):
        return _cached(stripped, _decode_inline)
    if is_url(stripped):
        raise SpecError(
            "a URL spec is fetched when litellm runs it (if mixture_policy.url_hosts allows "
            "its host); decode() reads only local specs",
            spec=spec,
        )
    if stripped != spec or any(c.isspace() for c in spec):
        raise SpecError("whitespace is not allowed in a preset name or one-line spec", spec=spec)
    if ">" in spec:
        return _cached(spec, _parse_one_line)
    return _decode_name(spec, aliases)


def _escape(model: str) -> str:
    text = "".join(f"%{ord(c):02X}" if c in "%+*>" else c for c in model)
    if _ONE_LINE_TRANSFORM.match(text):  # a model named like a transform: shuffle
        text = f"%{ord(text[0]):02X}{text[1:]}"
    return text


def _one_line(pipeline: Pipeline) -> str | None:
    if pipeline != Pipeline(pipeline.steps):
        return None  # top-level settings (references, deadline, seed, ...) have no one-line form
    layers = []
    for step in pipeline.steps:
        match step:
            case Shuffle():
                layers.append("shuffle")
                continue
            case Dropout(rate=value) | Sample(n=value) | Take(n=value):
                layers.append(f"{step.kind}={value}")
                if not _ONE_LINE_TRANSFORM.match(layers[-1]):
                    return None  # a rate such as 1e-05
                continue
            case Propose() | Synthesize() | Aggregate() if type(step) in (
                Propose,
                Synthesize,
                Aggregate,
            ) and step == type(step)(step.members):
                if not all(m.is_plain for m in step.members):
                    return None
            case _:
                return None  # the other steps, or settings the one-line form cannot write
        layers.append(
            "+".join(
                _escape(m.model) + (f"*{m.samples}" if m.samples > 1 else "") for m in step.members
            )
        )
    text = ">".join(layers)
    return text if all(c not in text for c in " ,\n") else None


def _document(pipeline: Pipeline) -> dict[str, Any]:
    dumped = pipeline.model_dump(mode="json", exclude_defaults=True)
    steps = []
    for step, raw in zip(pipeline.steps, dumped["steps"], strict=True):
        raw.pop("kind", None)
        if not step.members:  # a transform: {dropout: {rate: 0.2}}
            steps.append({step.kind: raw})
            continue
        members = [
            m.model if m == Member(m.model) else m.model_dump(mode="json", exclude_defaults=True)
            for m in step.members
        ]
        raw.pop("members", None)
        steps.append({step.kind: members, **raw})
    return {**dumped, "steps": steps}


def encode(pipeline: Pipeline) -> str:
    """The shortest model string for a pipeline: a preset name, the one-line form, or inline JSON.

    ``decode(encode(p)) == p`` for every pipeline. Raises :class:`SpecError` for a pipeline
    with Python callables (``Filter(fn)``, ``Map(fn)``): those run only with ``run()``.
    """
    if not pipeline.portable:
        raise SpecError(
            "a pipeline with a Python function (Filter(fn) or Map(fn)) has no model string; "
            "run it with litellm_mixture.run(), or use filter's declarative settings"
        )
    for name in preset_names():
        if load_preset(name) == pipeline:
            return PREFIX + name
    if pipeline.is_passthrough and pipeline.steps[0].member.is_plain:
        return PREFIX + pipeline.steps[0].member.model
    return PREFIX + (_one_line(pipeline) or json.dumps(_document(pipeline), separators=(",", ":")))
