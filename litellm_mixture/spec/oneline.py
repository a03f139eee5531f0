"""The one-line dialect, both ways: ``openai/gpt-4o-mini*3+anthropic/claude-3-5-haiku>gpt-4o``.

Layers are separated by ``>``; a layer is members joined by ``+`` (``model*N`` for N samples)
or, between two layers of members, a transform: ``a*4+b>shuffle>dropout=0.2>c``. The first
layer proposes, the middle ones synthesize, the last is the aggregator.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from .base import Member
from .errors import describe, did_you_mean, spec_error
from .schema import Pipeline
from .steps import Aggregate, Propose, Synthesize
from .transforms import Dropout, Sample, Shuffle, Take

# At most 9 digits: int() of a 5,000-digit string raises ValueError, not a SpecError.
_MEMBER = re.compile(r"^(?P<model>[^*+>\s]+?)(?:\*(?P<n>\d{1,9}))?$")
# Transforms as one-line layers: shuffle, dropout=0.2, sample=2, take=2.
_TRANSFORM = re.compile(
    r"^(?:(?P<kind>shuffle)|(?P<kind2>dropout|sample|take)=(?P<value>\d{1,9}(?:\.\d{1,9})?))$"
)
_TRANSFORMS = ("shuffle", "dropout", "sample", "take")
_TRANSFORM_FORMS = "shuffle, dropout=R (0 <= R < 1), sample=N or take=N"


def _not_a_transform(layer: str, index: int, spec: str, middle: bool) -> None:
    """Refuses a layer written like a transform but not one (``shufle``, ``sample=abc``): it
    would otherwise be read as a model of that name, and paid for up to that step. Near misses
    only count between two layers, where a transform may stand: the first and last layers are
    members, often a proxy's aliases (``smol`` is not a typo of ``sample`` there)."""
    word, eq, _ = layer.partition("=")
    if word in _TRANSFORMS:
        raise spec_error(
            f"layer {index + 1}: {layer!r} is not a transform; write {_TRANSFORM_FORMS}",
            spec=spec,
        )
    if not middle or any(c in layer for c in "/+*%"):
        return  # members: a provider's model, several, samples, or an escaped name
    hint = did_you_mean(word, _TRANSFORMS)
    if hint or eq:
        raise spec_error(
            f"layer {index + 1}: {layer!r} is neither a transform nor a model name; "
            f"{hint + ' ' if hint else ''}transforms: {_TRANSFORM_FORMS} (a model named so: "
            f"escape its first letter, %{ord(layer[0]):02X}{layer[1:]})",
            spec=spec,
        )


def members_from_layer(text: str, layer: int, spec: str) -> list[Member]:
    """The members of one layer, ``a*3+b`` (``layer`` counts from 0, for the error)."""
    members = []
    for part in text.split("+"):
        match = _MEMBER.match(part)
        if not match:
            raise spec_error(
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
            raise spec_error(f"layer {layer + 1}: {part!r}: {describe(e)}", spec=spec) from None
    return members


def _transform(layer: str, index: int, spec: str, middle: bool) -> Any:
    match = _TRANSFORM.match(layer)
    if match is None:
        _not_a_transform(layer, index, spec, middle)
        return None
    if match["kind"]:
        return Shuffle()
    kind, value = match["kind2"], match["value"]
    try:
        return (
            Dropout(float(value))
            if kind == "dropout"
            else {"sample": Sample, "take": Take}[kind](n=int(value))
        )
    except ValueError as e:
        raise spec_error(f"layer {index + 1}: {layer!r}: {describe(e)}", spec=spec) from None


def from_one_line(spec: str) -> Pipeline:
    layers = spec.split(">")
    if any(not layer for layer in layers):
        raise spec_error(
            "empty layer in one-line spec (two '>' in a row, or one at an end)", spec=spec
        )
    last = len(layers) - 1
    transforms = [_transform(layer, i, spec, 0 < i < last) for i, layer in enumerate(layers)]
    if transforms[0] is not None or transforms[-1] is not None:
        raise spec_error(
            "a transform (shuffle, dropout=R, sample=N, take=N) goes between two layers of "
            "members, e.g. a*3+b>shuffle>c",
            spec=spec,
        )
    parsed = [
        step or members_from_layer(layer, i, spec)
        for i, (layer, step) in enumerate(zip(layers, transforms, strict=True))
    ]
    final = parsed[-1]
    if len(final) != 1 or final[0].samples != 1:
        raise spec_error(
            f"the last layer must be a single aggregator model, got {layers[-1]!r}; "
            "e.g. a*3+b>c ends with the aggregator c",
            spec=spec,
        )
    steps: list[Any] = [Propose(members=parsed[0])]
    steps += [
        s if t is not None else Synthesize(members=s)
        for s, t in zip(parsed, transforms, strict=True)
    ][1:-1]
    steps.append(Aggregate(members=final))
    return Pipeline(steps)


def _escape(model: str) -> str:
    text = "".join(f"%{ord(c):02X}" if c in "%+*>?" else c for c in model)
    word = text.partition("=")[0]
    plain = not any(c in text for c in "/%")
    if word in _TRANSFORMS or (plain and ("=" in text or did_you_mean(word, _TRANSFORMS))):
        text = f"%{ord(text[0]):02X}{text[1:]}"  # a model named like a transform: shuffle
    return text


def _layer(step: Any) -> str | None:
    """One step as a one-line layer, or None if the one-line form cannot write it."""
    match step:
        case Shuffle():
            return "shuffle"
        case Dropout(rate=value) | Sample(n=value) | Take(n=value):
            layer = f"{step.kind}={value}"
            return layer if _TRANSFORM.match(layer) else None  # not a rate such as 1e-05
        case Propose() | Synthesize() | Aggregate() if type(step) in (
            Propose,
            Synthesize,
            Aggregate,
        ) and step == type(step)(members=step.members):
            if not all(m.is_plain for m in step.members):
                return None
            return "+".join(
                _escape(m.model) + (f"*{m.samples}" if m.samples > 1 else "") for m in step.members
            )
        case _:
            return None  # the other steps, or settings the one-line form cannot write


def to_one_line(pipeline: Pipeline) -> str | None:
    """The pipeline in the one-line form, or None if it has none."""
    if pipeline != Pipeline(pipeline.steps):
        return None  # top-level settings (references, deadline, seed, ...) have no one-line form
    layers = []
    for step in pipeline.steps:
        layer = _layer(step)
        if layer is None:
            return None
        layers.append(layer)
    text = ">".join(layers)
    return text if all(c not in text for c in " ,\n") else None
