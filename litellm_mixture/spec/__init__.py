"""Model string <-> pipeline.

What follows ``mixture/`` is one of:

- a preset: ``moa-lite``, optionally with parameters ``self-moa?model=openai/gpt-4o&samples=4``
  (:mod:`.presets`);
- a one-line pipeline: ``openai/gpt-4o-mini*3+anthropic/claude-3-5-haiku>openai/gpt-4o``, whose
  middle layers may also be transforms: ``a*4+b>shuffle>dropout=0.2>c`` (:mod:`.oneline`);
- an inline YAML/JSON document in the mixtcha or the ``steps`` dialect (:mod:`.documents`,
  read by :mod:`.safe_yaml`);
- a single model, passed through: ``deepseek/deepseek-chat``.

Each decodes into a :class:`Pipeline` (:mod:`.schema`); :func:`encode` writes the shortest
string back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container

from ..common.state import STATE
from .base import Member
from .documents import pipeline_from_document, to_document
from .errors import did_you_mean, spec_error
from .oneline import from_one_line, to_one_line
from .presets import apply_params, load_preset, preset_names
from .safe_yaml import MAX_SPEC_BYTES, load_yaml
from .schema import Pipeline, Step
from .steps import Aggregate, Propose, Rank, Refine, SelfMoaSeq, Synthesize, Vote
from .transforms import Dropout, Filter, Map, Sample, Shuffle, Take

__all__ = [
    "PREFIX",
    "Aggregate",
    "Dropout",
    "Filter",
    "Map",
    "Member",
    "Pipeline",
    "Propose",
    "Rank",
    "Refine",
    "Sample",
    "SelfMoaSeq",
    "Shuffle",
    "Step",
    "Synthesize",
    "Take",
    "Vote",
    "accepted",
    "decode",
    "decode_fetched",
    "encode",
    "is_url",
    "load_preset",
    "pipeline_from_document",
    "preset_names",
    "remember",
    "route_error",
]

PREFIX = "mixture/"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INLINE_KEY = re.compile(r"^\w+\s*:\s")


def route_error(model: str) -> Exception | None:
    """Why litellm cannot route ``model``: ``litellm.get_llm_provider``'s error, or None.

    A question, not a call: litellm's red "Provider List" banner stays off the terminal.
    """
    import litellm

    from .._litellm import banners_off

    with banners_off():
        try:
            litellm.get_llm_provider(model)
        except Exception as e:
            return e
    return None


def _known_model(name: str) -> bool:
    import litellm

    return name in litellm.model_cost or route_error(name) is None


def _decode_name(spec: str, aliases: Container[str]) -> Pipeline:
    name, sep, query = spec.partition("?")
    pipeline = load_preset(name)
    if pipeline is not None:
        return apply_params(pipeline, query, spec) if sep else pipeline
    hint = did_you_mean(name, preset_names())
    hint = f"{hint} " if hint else ""
    if sep:
        raise spec_error(
            f"{name!r} is not a preset; {hint}'?name=value' parameters follow a preset or a "
            "one-line pipeline (e.g. a*3+b>c?early=yes)",
            spec=spec,
        )
    if any(c in spec for c in "+*"):
        raise spec_error(
            f"{spec!r} has members but no aggregator: add '>' and the aggregator model, "
            "e.g. a*3+b>c",
            spec=spec,
        )
    if "/" not in spec and spec not in aliases and not _known_model(spec):
        raise spec_error(
            f"{spec!r} is neither a preset nor a model litellm knows; {hint}"
            f"presets: {', '.join(preset_names())}",
            spec=spec,
        )
    return Pipeline([Aggregate(members=[spec])])


def _decode_one_line(spec: str) -> Pipeline:
    """``a*3+b>c``, and the preset parameters after it: ``a*3+b>c?early=yes``."""
    layers, sep, query = spec.partition("?")
    pipeline = from_one_line(layers)
    return apply_params(pipeline, query, spec) if sep else pipeline


def _decode_inline(spec: str) -> Pipeline:
    return pipeline_from_document(load_yaml(spec, spec=spec), spec=spec)


def _cached(spec: str, parse: Callable[[str], Pipeline]) -> Pipeline:
    hit = STATE.accepted.get(spec)
    return hit if hit is not None else parse(spec)


def _is_inline(stripped: str) -> bool:
    return stripped.startswith(("{", "[")) or "\n" in stripped or bool(_INLINE_KEY.match(stripped))


def accepted(model: str) -> Pipeline | None:
    """The pipeline of a spec remembered as accepted, if the cache still has it."""
    return STATE.accepted.get(model.removeprefix(PREFIX))


def remember(model: str, pipeline: Pipeline) -> None:
    """Keep the pipeline ``decode(model)`` returned, once the caller accepted it (trusted, or a
    client spec that passed the policy): later calls skip decoding. Inline and one-line specs
    only; presets and URL specs have caches of their own."""
    stripped = model.removeprefix(PREFIX).strip()
    if _is_inline(stripped) or (">" in stripped and not is_url(stripped)):
        STATE.accepted.put(stripped, pipeline)


def is_url(spec: str) -> bool:
    """Whether a spec (the text after ``mixture/``) is a URL."""
    return _URL.match(spec) is not None


def decode_fetched(text: str, url: str) -> Pipeline:
    """The pipeline in a document fetched from a URL spec."""
    return pipeline_from_document(load_yaml(text, spec=url, where=url), spec=url, where=url)


def _refuse_spaces_and_commas(spec: str) -> None:
    """A preset name or one-line spec has neither: say how to write what was meant."""
    if spec.strip() != spec or any(c.isspace() for c in spec):
        raise spec_error("whitespace is not allowed in a preset name or one-line spec", spec=spec)
    if "," in spec:
        members = spec.replace(",", "+")
        raise spec_error(
            "a comma does not separate members: join them with '+' and name the aggregator "
            f"after '>', e.g. {members if '>' in members else members + '>AGGREGATOR'}",
            spec=spec,
        )


def decode(model: str, aliases: Container[str] = ()) -> Pipeline:
    """The pipeline a model string names. Raises :class:`SpecError` (a BadRequestError).

    ``aliases`` are more model names to accept as a single model (the proxy's model_list).
    """
    if not isinstance(model, str):
        raise spec_error(f"expected a string, got {type(model).__name__}")
    spec = model.removeprefix(PREFIX)
    if len(spec.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
        raise spec_error(f"the spec is longer than {MAX_SPEC_BYTES} bytes", spec=spec)
    stripped = spec.strip()
    if not stripped:
        raise spec_error("empty spec after 'mixture/'", spec=spec)
    if _is_inline(stripped):
        return _cached(stripped, _decode_inline)
    if is_url(stripped):
        raise spec_error(
            "a URL spec is fetched when litellm runs it (if mixture_policy.url_hosts allows "
            "its host); decode() reads only local specs",
            spec=spec,
        )
    _refuse_spaces_and_commas(spec)
    if ">" in spec:
        return _cached(spec, _decode_one_line)
    return _decode_name(spec, aliases)


def encode(pipeline: Pipeline) -> str:
    """The shortest model string for a pipeline: a preset name, the one-line form, or inline JSON.

    ``decode(encode(p)) == p`` for every pipeline. Raises :class:`SpecError` for a pipeline
    with Python callables (``Filter(fn)``, ``Map(fn)``): those run only with ``run()``.
    """
    if not pipeline.portable:
        raise spec_error(
            "a pipeline with a Python function (Filter(fn) or Map(fn)) has no model string; "
            "run it with litellm_mixture.run(), or use filter's declarative settings"
        )
    for name in preset_names():
        if load_preset(name) == pipeline:
            return PREFIX + name
    single = pipeline.steps[0].members[0].model
    if pipeline == Pipeline(
        [Aggregate(members=single)]
    ):  # no setting of its own (deadline, max_cost)
        return PREFIX + single
    return PREFIX + (
        to_one_line(pipeline) or json.dumps(to_document(pipeline), separators=(",", ":"))
    )
