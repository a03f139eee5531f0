"""mixtcha's dialect: ``layers`` of ``parallel`` / ``aggregator``, ``messageMode``,
``delimiter``, read into a :class:`Pipeline`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .base import Frozen, Member, as_member, as_members
from .schema import Pipeline
from .steps import Aggregate, Propose, Synthesize


class _MixtchaParallel(Frozen):
    type: Literal["parallel"]
    # A member is a model name or an object, as in the steps dialect.
    models: list[Member] = Field(min_length=1)
    prompts: str | list[str | None] | None = None
    systemPrompts: str | list[str | None] | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return as_members(value)


class _MixtchaAggregator(Frozen):
    type: Literal["aggregator"]
    model: Member
    prompt: str | None = None
    systemPrompt: str | None = None

    @field_validator("model", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return as_member(value)


class _Mixtcha(Frozen):
    layers: list[Annotated[_MixtchaParallel | _MixtchaAggregator, Field(discriminator="type")]] = (
        Field(min_length=1)
    )
    messageMode: Literal["inline", "concat"] = "inline"
    delimiter: tuple[str, str] = ("<option>", "</option>")
    description: str | None = None
    source: str | None = None


def _per_model(value: str | list[str | None] | None, n: int, field: str) -> list[str | None]:
    if not isinstance(value, list):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{field} has {len(value)} entries for {n} models")
    return value


def _with_prompts(member: Member, prompt: str | None, system_prompt: str | None) -> Member:
    """A layer's prompts apply to the members that do not set their own."""
    given = {"prompt": prompt, "system_prompt": system_prompt}
    fill = {k: v for k, v in given.items() if v is not None and getattr(member, k) is None}
    return member.model_copy(update=fill)


def _members(layer: _MixtchaParallel, i: int) -> list[Member]:
    n = len(layer.models)
    try:
        prompts = _per_model(layer.prompts, n, "prompts")
        systems = _per_model(layer.systemPrompts, n, "systemPrompts")
    except ValueError as e:
        raise ValueError(f"layers[{i}]: {e}") from None
    return [
        _with_prompts(member, p, s)
        for member, p, s in zip(layer.models, prompts, systems, strict=True)
    ]


def from_mixtcha(doc: dict[str, Any]) -> Pipeline:
    """The pipeline of a mixtcha document. Raises ValueError (pydantic's included)."""
    cfg = _Mixtcha.model_validate(doc)
    steps: list[Any] = []
    for i, layer in enumerate(cfg.layers):
        if isinstance(layer, _MixtchaAggregator):
            member = _with_prompts(layer.model, None, layer.systemPrompt)
            steps.append(Aggregate(members=[member], prompt=layer.prompt or ""))
            continue
        members = _members(layer, i)
        steps.append(
            Propose(members=members) if not steps else Synthesize(members=members, prompt="")
        )
    return Pipeline(
        steps,
        references=cfg.messageMode,
        delimiter=cfg.delimiter,
        description=cfg.description,
        source=cfg.source,
    )
