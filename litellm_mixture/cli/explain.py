"""Pipelines as text people read: a tree of steps, and the canonical YAML document."""

from __future__ import annotations

from typing import Any

import yaml
from typing_extensions import assert_never

from ..common import prompts
from ..spec import (
    PREFIX,
    Aggregate,
    Member,
    Pipeline,
    Propose,
    Step,
    decode,
    encode,
    is_url,
    route_error,
)
from ..spec.documents import to_document as _document
from ..spec.schema import calls_of
from ..spec.steps import MemberStep
from ..spec.transforms import Dropout, Filter, Map, Sample, Shuffle, Take

_LAYOUTS = {
    "system": "numbered in the system message (Together MoA)",
    "inline": "as <option> blocks in the user's turn (mixtcha inline)",
    "concat": "as <option> blocks in a separate user turn (mixtcha concat)",
}
_FAILURE = ("deadline", "timeout", "retries", "grace", "cut_answers", "seed")


def canonical_yaml(pipeline: Pipeline) -> str:
    """The pipeline as a ``steps`` document with every default left out."""
    doc = _document(pipeline)
    first: dict[str, Any] = {k: doc.pop(k) for k in ("description", "source") if k in doc}
    return yaml.safe_dump({**first, **doc}, sort_keys=False, allow_unicode=True, width=100)


def _settings(obj: Any, names: tuple[str, ...]) -> str:
    """The named settings that differ from their defaults, as ``name=value``."""
    given = obj.model_dump(exclude_defaults=True)
    return "  ".join(f"{n}={given[n]}" for n in names if n in given)


def _member(member: Member) -> str:
    parts = [member.model + (f" *{member.samples}" if member.samples > 1 else "")]
    parts.append(_settings(member, ("temperature", "max_tokens")))
    parts += [f"{key}=…" for key in member.params]  # values may be canned text or secrets
    if member.system_prompt:
        parts.append(f"system_prompt={_short(member.system_prompt)}")
    if member.prompt:
        parts.append(f"prompt={_short(member.prompt)}")
    return "  ".join(p for p in parts if p)


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return repr(line if len(line) <= width else line[: width - 1] + "…")


def _prompt(step: Any) -> str | None:
    if step.prompt is not None:
        return f"prompt: {_short(step.prompt)}"
    if step.kind == "propose":
        return None
    kind = step.kind if step.kind in prompts.DEFAULTS else "aggregate"
    return f"prompt: the default {kind} prompt ({_short(prompts.DEFAULTS[kind], 40)})"


_STEP_SETTINGS = ("n", "window", "rate", "temperature", "max_tokens", "min_successful")
_FILTER = ("min_length", "max_length", "must_match", "must_not_match", "on_unclear")


def tree(pipeline: Pipeline, name: str = "") -> str:
    """Steps, members, prompts and the failure policy, one block per step."""
    lines = [name or "pipeline"]
    if pipeline.description:
        lines.append(f"  {' '.join(pipeline.description.split())}")
    if pipeline.source:
        lines.append(f"  source: {' '.join(pipeline.source.split())}")
    lines.append(f"  answers are passed on {_LAYOUTS[pipeline.references]}")
    if top := _settings(pipeline, _FAILURE):
        lines.append(f"  {top}")
    if pipeline.panel == "reasoning":
        lines.append("  panel: every member's answer streams to the caller as reasoning")
    counts = most_calls(pipeline)
    for index, (step, calls) in enumerate(zip(pipeline.steps, counts, strict=True)):
        head = f"  {index + 1}. {step.kind}  {_settings(step, _STEP_SETTINGS)}".rstrip()
        if step.members:
            head += f"  (at most {calls} call{'s' if calls != 1 else ''})"
        lines.append(head)
        details = [d for d in _details(step) if d]
        for i, detail in enumerate(details):
            lines.append(f"     {'└─' if i == len(details) - 1 else '├─'} {detail}")
    lines.append(f"  at most {sum(counts)} member calls per request, retries aside")
    return "\n".join(lines)


def _details(step: Step) -> list[str]:
    """A step's lines under its head: who it calls and how, or what a transform keeps."""
    given = [f"{k}: {getattr(step, k)!r}" for k in _FILTER if k in _given(step)]
    match step:
        case MemberStep():
            calls = calls_of(step)
            details = [_member(m) for m in calls.members]
            details += [f"fallback: {_member(m)}" for m in calls.fallbacks]
            if isinstance(step, Aggregate) and step.best_proposal:
                details.append("if every model fails: the previous step's first answer")
            return [
                *details,
                _mode(step),
                *given,
                _prompt(step) or "",
                _settings(step, ("timeout", "retries", "grace", "cut_answers")),
            ]
        case Shuffle() | Dropout() | Sample() | Take():
            return given
        case Filter() | Map():
            fn = "" if step.fn is None else f"Python function {getattr(step.fn, '__name__', '')}"
            return [*given, fn.rstrip()]
        case _:
            assert_never(step)


def _mode(step: MemberStep) -> str:
    """How an opt-in mode changes the step: until_agree's waves, early aggregation."""
    if isinstance(step, Propose) and step.until_agree is not None:
        return (
            f"until_agree: calls in waves until {step.until_agree} answers agree "
            f"(by {step.agree_by}), the rest not made"
        )
    if isinstance(step, Aggregate) and step.early is not None:
        early = step.early
        return (
            f"early: writes the answer in up to {early.segments} segments of at most "
            f"{early.chunk_tokens} tokens while the proposals stream"
        )
    return ""


def _given(step: Any) -> dict[str, Any]:
    return step.model_dump(exclude_defaults=True)


def most_calls(pipeline: Pipeline, seen: frozenset[str] = frozenset()) -> list[int]:
    """Per step, the most member calls one run makes, retries aside, a member that is itself a
    mixture counted as its own calls (``mixture/demo`` as a member is demo's 4, not 1)."""
    from ..trust.calls import once, upstream  # (its errors import litellm: not for --help)

    def nested(model: str) -> tuple[Pipeline, bool] | None:
        inside = model.startswith(PREFIX) and not is_url(model[len(PREFIX) :])
        return (decode(model), True) if inside and model not in seen else None

    def inner(member: Member, inside: Pipeline, trusted: bool, depth: int) -> int:
        return sum(most_calls(inside, seen | {member.model}))

    return [
        upstream(
            ((m, used, False) for m, used in zip(calls_of(step).callees, uses, strict=True)),
            nested=nested,
            attempts=once,
            inner=inner,
        )
        for step, uses in zip(pipeline.steps, pipeline.bounds(), strict=True)
    ]


def unroutable(pipeline: Pipeline, seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """The members litellm cannot route, nested mixtures' included, with litellm's reason."""
    from .live import error_line

    found: dict[str, str] = {}
    for step in pipeline.steps:
        for member in calls_of(step).callees:
            model = member.model
            if model.startswith(PREFIX) and model not in seen:
                found.update(unroutable(decode(model), seen | {model}))
            elif not model.startswith(PREFIX) and (error := route_error(model)) is not None:
                found[model] = error_line(error).split(". ", 1)[0]
    return found


def client_verdict(pipeline: Pipeline) -> str:
    """How the proxy's default policy would take this pipeline sent by a client, assuming its
    members are the proxy's aliases (only the proxy knows its aliases)."""
    from ..errors import SpecError
    from ..trust.calls import DEFAULT_ATTEMPTS
    from ..trust.policy import Policy, check, check_name

    def nested(model: str) -> tuple[Pipeline, bool] | None:
        return (decode(model), False) if model.startswith(PREFIX) else None

    try:
        calls = check(
            pipeline,
            Policy(),
            allowed=lambda _: True,
            nested=nested,
            attempts=lambda _, retried: DEFAULT_ATTEMPTS,
        )
        check_name(encode(pipeline), Policy())
    except SpecError as e:
        return e.message.split("Invalid mixture spec: ", 1)[-1]
    return (
        f"allowed by the default policy if its members are aliases ({calls} upstream requests "
        "at most, the Router's default retries included)"
    )
