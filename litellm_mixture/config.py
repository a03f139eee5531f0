"""The pipeline schema, and the two config dialects that decode into it.

- mixtcha: ``layers`` of ``parallel`` / ``aggregator``, ``messageMode``, ``delimiter``.
- ours: ``steps`` of ``propose`` / ``synthesize`` / ``refine`` / ``rank`` / ``vote`` /
  ``aggregate`` / ``self-moa-seq`` and the transforms.

Both produce one canonical, immutable :class:`Pipeline`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .typed_params import Finite, problems

if TYPE_CHECKING:
    from .errors import SpecError


def spec_error(message: str, *, spec: str = "", where: str = "") -> SpecError:
    """A :class:`~litellm_mixture.errors.SpecError`, for the caller to raise.

    SpecError is a ``litellm.BadRequestError``, and importing litellm takes seconds: reading
    presets and specs (``litellm-mixture presets``) imports it only once one is bad.
    """
    from .errors import SpecError

    return SpecError(message, spec=spec, where=where)


ReferenceMode = Literal["system", "inline", "concat"]
MAX_SAMPLES = 64
MAX_RETRIES = 10
# What one compiled pattern may take (RE2 refuses a bigger program; its matching falls back to a
# slower but still linear engine past it).
PATTERN_MEMORY = 1 << 20


def pattern(text: str) -> Any:
    """A spec's regular expression, compiled by RE2.

    Patterns run on the event loop over member answers. RE2 matches in time linear in the text,
    so no pattern, a client's included, can backtrack for seconds (``(a+)+$`` on ``aaaa...b``).
    It has no backreferences or lookaround: a pattern using them is refused here, at decoding;
    ``Filter(fn)`` in Python takes any function.
    """
    import re2  # ~5 ms, paid only by specs with a pattern

    options = re2.Options()
    options.log_errors = False  # a bad pattern is a SpecError, not a line on stderr
    options.max_mem = PATTERN_MEMORY
    try:
        return re2.compile(text, options)
    except re2.error as e:
        reason = e.args[0].decode(errors="replace") if e.args else "invalid"
        raise ValueError(
            f"not a regular expression RE2 accepts ({reason}); patterns match in linear time, "
            "so backreferences and lookaround are not supported"
        ) from None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Member(_Frozen):
    """One model in a step. A plain string is shorthand for ``Member(model=...)``."""

    model: str = Field(min_length=1)
    samples: StrictInt = Field(1, ge=1, le=MAX_SAMPLES)
    temperature: Finite | None = Field(None, ge=0, le=2)
    max_tokens: StrictInt | None = Field(None, ge=1)
    system_prompt: str | None = Field(None, alias="systemPrompt")
    prompt: str | None = None
    # Further litellm.completion kwargs for this member (top_p, seed, mock_response, ...).
    params: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, model: str | None = None, /, **data: Any) -> None:
        if model is not None:
            data["model"] = model
        super().__init__(**data)

    @field_validator("params")
    @classmethod
    def _typed_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        wrong = problems(value)
        if wrong:
            raise ValueError("; ".join(wrong))
        return value

    @property
    def is_plain(self) -> bool:
        return self == Member(self.model, samples=self.samples)


def _member(value: Any) -> Any:
    return {"model": value} if isinstance(value, str) else value


def _members(value: Any) -> Any:
    if isinstance(value, (str, dict, Member)):
        value = [value]
    return [_member(v) for v in value] if isinstance(value, (list, tuple)) else value


class _Failure(_Frozen):
    """How long member calls may take and how often they are retried. A step's settings win
    over the pipeline's."""

    timeout: Finite | None = Field(None, gt=0)
    """Seconds one member call may take."""
    retries: StrictInt | None = Field(None, ge=0, le=MAX_RETRIES)
    """Retries of a member call that was rate limited, timed out or hit a server error."""
    grace: Finite | None = Field(None, ge=0)
    """Once ``min_successful`` members have answered, seconds the rest get before they are cut."""


class _Step(_Failure):
    members: tuple[Member, ...] = Field(min_length=1)
    # ``temp`` as in mixture-llm, so its pipelines read the same here.
    temperature: Finite | None = Field(
        None, ge=0, le=2, validation_alias=AliasChoices("temperature", "temp")
    )
    max_tokens: StrictInt | None = Field(None, ge=1)
    min_successful: StrictInt = Field(1, ge=1)
    prompt: str | None = None
    """Replaces the step's default prompt (see ``prompts.yaml``)."""

    def __init__(self, members: Any = None, /, **data: Any) -> None:
        if members is not None:
            data["members"] = members
        super().__init__(**data)

    @field_validator("members", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _members(value)

    def bounds(self, width: int) -> tuple[list[int], int]:
        """Given at most ``width`` answers in: the most calls each member (then each fallback)
        may get, and the most answers this step passes on."""
        raise NotImplementedError


class _FanOut(_Step):
    """Every member (each sample) answers at once; ``min_successful`` answers make a quorum."""

    @property
    def calls(self) -> int:
        return sum(m.samples for m in self.members)

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [m.samples for m in self.members], self.calls

    @model_validator(mode="after")
    def _quorum_reachable(self) -> _FanOut:
        if self.min_successful > self.calls:
            raise ValueError(
                f"min_successful={self.min_successful} exceeds the step's {self.calls} calls"
            )
        return self


class Propose(_FanOut):
    """Each member answers the caller's conversation (``prompt`` is added to the user's turn)."""

    kind: Literal["propose"] = "propose"


class Synthesize(_FanOut):
    """Each member answers the conversation with the previous step's answers as references."""

    kind: Literal["synthesize"] = "synthesize"


class Refine(_Step):
    """Each answer is improved by one member (taken in turn); an answer whose refinement fails
    is passed on as it was, as long as ``min_successful`` refinements succeed."""

    kind: Literal["refine"] = "refine"

    @field_validator("members")
    @classmethod
    def _no_samples(cls, members: tuple[Member, ...]) -> tuple[Member, ...]:
        if any(m.samples != 1 for m in members):
            raise ValueError("refine members take turns over the answers: samples must be 1")
        return members

    def bounds(self, width: int) -> tuple[list[int], int]:
        k = len(self.members)
        return [len(range(j, width, k)) for j in range(k)], width


class _Single(_Step):
    """One member makes each call; ``fallbacks`` are tried in order when it fails."""

    fallbacks: tuple[Member, ...] = ()

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _coerce_fallbacks(cls, value: Any) -> Any:
        return _members(value)

    @field_validator("members")
    @classmethod
    def _one(cls, members: tuple[Member, ...]) -> tuple[Member, ...]:
        if len(members) != 1 or members[0].samples != 1:
            raise ValueError("this step has exactly one member with samples=1")
        return members

    @property
    def member(self) -> Member:
        return self.members[0]

    def _each(self, calls: int) -> list[int]:
        return [calls] * (1 + len(self.fallbacks))


class Aggregate(_Single):
    """One member writes the final answer from the previous step's answers.

    With ``best_proposal``, the first answer of the previous step (members in the order
    written) is returned when the member and every fallback fail.
    """

    kind: Literal["aggregate"] = "aggregate"
    best_proposal: bool = False

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(1), 1


class SelfMoaSeq(Aggregate):
    """Self-MoA-Seq: aggregates the answers ``window`` at a time, carrying each synthesis into
    the next window as its first reference, so no call reads more than ``window`` answers."""

    kind: Literal["self-moa-seq"] = "self-moa-seq"  # type: ignore[assignment]
    window: StrictInt = Field(3, ge=2)

    def windows(self, width: int) -> int:
        return (
            1 if width <= self.window else 1 + math.ceil((width - self.window) / (self.window - 1))
        )

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(self.windows(width)), 1


_UNCLEAR = Literal["take", "fail"]


class Rank(_Single):
    """A judge orders the answers; the best ``n`` go on, best first.

    When its answer names none of them by number, ``on_unclear: take`` keeps the first ``n`` as
    they came (noted in the trace) and ``fail`` fails the request.
    """

    kind: Literal["rank"] = "rank"
    n: StrictInt = Field(ge=1)
    on_unclear: _UNCLEAR = "take"

    def __init__(self, members: Any = None, n: int | None = None, /, **data: Any) -> None:
        if n is not None:
            data["n"] = n
        super().__init__(members, **data)

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(1), min(self.n, width)


class Vote(_Single):
    """A judge picks the answer most of the others agree with; it alone goes on (as the final
    answer, verbatim, when this is the last step). ``on_unclear`` as for :class:`Rank`."""

    kind: Literal["vote"] = "vote"
    on_unclear: _UNCLEAR = "take"

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(1), 1


class _Transform(_Frozen):
    """A step that reshapes the previous step's answers without calling a model."""

    members: ClassVar[tuple[Member, ...]] = ()
    portable: ClassVar[bool] = True  # can be written into a model string

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [], width


class Shuffle(_Transform):
    """Puts the answers in random order (against position bias in the next step)."""

    kind: Literal["shuffle"] = "shuffle"


class Dropout(_Transform):
    """Drops each answer with probability ``rate``; at least one always stays."""

    kind: Literal["dropout"] = "dropout"
    rate: Finite = Field(ge=0, lt=1)

    def __init__(self, rate: float | None = None, /, **data: Any) -> None:
        if rate is not None:
            data["rate"] = rate
        super().__init__(**data)


class _Count(_Transform):
    n: StrictInt = Field(ge=1)

    def __init__(self, n: int | None = None, /, **data: Any) -> None:
        if n is not None:
            data["n"] = n
        super().__init__(**data)

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [], min(self.n, width)


class Sample(_Count):
    """Keeps ``n`` answers chosen at random (all of them if there are fewer)."""

    kind: Literal["sample"] = "sample"


class Take(_Count):
    """Keeps the first ``n`` answers."""

    kind: Literal["take"] = "take"


class Filter(_Transform):
    """Keeps the answers within a length range that match ``must_match`` and do not match
    ``must_not_match`` (regular expressions, searched anywhere in the answer).

    From Python, ``Filter(fn)`` keeps the answers for which ``fn(text)`` is true; such a step
    runs with :func:`litellm_mixture.run` but has no model string.
    """

    kind: Literal["filter"] = "filter"
    fn: Callable[[str], bool] | None = Field(None, exclude=True)
    min_length: StrictInt | None = Field(None, ge=0)
    max_length: StrictInt | None = Field(None, ge=1)
    must_match: str | None = None
    must_not_match: str | None = None

    def __init__(self, fn: Callable[[str], bool] | None = None, /, **data: Any) -> None:
        if fn is not None:
            data["fn"] = fn
        super().__init__(**data)

    @property
    def portable(self) -> bool:  # type: ignore[override]
        return self.fn is None

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            pattern(value)
        return value

    def keeps(self, text: str) -> bool:
        return (
            (self.min_length is None or len(text) >= self.min_length)
            and (self.max_length is None or len(text) <= self.max_length)
            and (self.must_match is None or pattern(self.must_match).search(text) is not None)
            and (self.must_not_match is None or pattern(self.must_not_match).search(text) is None)
            and (self.fn is None or bool(self.fn(text)))
        )


class Map(_Transform):
    """Python only: replaces each answer with ``fn(text)`` (an empty result drops it)."""

    kind: Literal["map"] = "map"
    fn: Callable[[str], str] = Field(exclude=True)
    portable: ClassVar[bool] = False

    def __init__(self, fn: Callable[[str], str] | None = None, /, **data: Any) -> None:
        if fn is not None:
            data["fn"] = fn
        super().__init__(**data)


TRANSFORMS: tuple[type[_Transform], ...] = (Shuffle, Dropout, Sample, Take, Filter, Map)
Step = Annotated[
    Propose
    | Synthesize
    | Refine
    | Rank
    | Vote
    | Aggregate
    | SelfMoaSeq
    | Shuffle
    | Dropout
    | Sample
    | Take
    | Filter
    | Map,
    Field(discriminator="kind"),
]


class Pipeline(_Failure):
    """A validated Mixture-of-Agents pipeline.

    ``references`` says how a step sees the previous step's answers: ``system`` (Together MoA,
    the default), ``inline`` or ``concat`` (mixtcha's message modes). ``deadline`` bounds the
    whole request in seconds; ``timeout``, ``retries`` and ``grace`` are defaults for the steps.
    """

    steps: tuple[Step, ...] = Field(min_length=1)
    deadline: Finite | None = Field(None, gt=0)
    seed: StrictInt | None = None
    """Seeds the random transforms (shuffle, dropout, sample), so a run can be reproduced."""
    references: ReferenceMode = "system"
    delimiter: tuple[str, str] = ("<option>", "</option>")
    description: str | None = None
    source: str | None = None

    def __init__(self, steps: Any = None, /, **data: Any) -> None:
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    @model_validator(mode="after")
    def _shape(self) -> Pipeline:
        for i, step in enumerate(self.steps):
            first, last = i == 0, i == len(self.steps) - 1
            if isinstance(step, Propose) and not first:
                raise ValueError(f"steps[{i}]: propose must be the first step")
            if first and not isinstance(step, Propose) and type(step) is not Aggregate:
                raise ValueError(f"steps[{i}]: {step.kind} needs a previous step to read")
            if isinstance(step, Aggregate) and not last:
                raise ValueError(f"steps[{i}]: {step.kind} must be the last step")
            if isinstance(step, _Transform) and last:
                raise ValueError(
                    f"steps[{i}]: {step.kind} reshapes the answers of a previous step for a "
                    "next one: it cannot be last"
                )
        if not isinstance(self.steps[-1], (Aggregate, Vote)) and self.references != "concat":
            raise ValueError(
                "the pipeline must end with an aggregate, self-moa-seq or vote step "
                "(only mixtcha's messageMode: concat may return the options themselves)"
            )
        return self

    @property
    def is_passthrough(self) -> bool:
        return len(self.steps) == 1 and isinstance(self.steps[0], Aggregate)

    @property
    def portable(self) -> bool:
        """Whether it can be written as a model string (no Python callables in it)."""
        return all(getattr(step, "portable", True) for step in self.steps)

    def bounds(self) -> list[list[int]]:
        """For each step, the most calls each of its members (then fallbacks) may get."""
        width, out = 0, []
        for step in self.steps:
            calls, width = step.bounds(width)
            out.append(calls)
        return out

    @property
    def max_calls(self) -> int:
        """The most member calls one run makes, retries aside."""
        return sum(map(sum, self.bounds()))


# ---------------------------------------------------------------- mixtcha dialect


class _MixtchaParallel(_Frozen):
    type: Literal["parallel"]
    # A member is a model name or an object, as in the steps dialect.
    models: list[Member] = Field(min_length=1)
    prompts: str | list[str | None] | None = None
    systemPrompts: str | list[str | None] | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _members(value)


class _MixtchaAggregator(_Frozen):
    type: Literal["aggregator"]
    model: Member
    prompt: str | None = None
    systemPrompt: str | None = None

    @field_validator("model", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _member(value)


class _Mixtcha(_Frozen):
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


def _from_mixtcha(cfg: _Mixtcha) -> Pipeline:
    steps: list[Any] = []
    for i, layer in enumerate(cfg.layers):
        if isinstance(layer, _MixtchaAggregator):
            member = _with_prompts(layer.model, None, layer.systemPrompt)
            steps.append(Aggregate([member], prompt=layer.prompt or ""))
            continue
        n = len(layer.models)
        try:
            prompts = _per_model(layer.prompts, n, "prompts")
            systems = _per_model(layer.systemPrompts, n, "systemPrompts")
        except ValueError as e:
            raise ValueError(f"layers[{i}]: {e}") from None
        members = [
            _with_prompts(member, p, s)
            for member, p, s in zip(layer.models, prompts, systems, strict=True)
        ]
        steps.append(Propose(members) if not steps else Synthesize(members, prompt=""))
    return Pipeline(
        steps,
        references=cfg.messageMode,
        delimiter=cfg.delimiter,
        description=cfg.description,
        source=cfg.source,
    )


# ---------------------------------------------------------------- our dialect

_STEP_TYPES: dict[str, type[_Step]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Propose, Synthesize, Refine, Rank, Vote, Aggregate, SelfMoaSeq)
}
# What a transform's value means when it is not a mapping: {dropout: 0.2}, {take: 3}.
_TRANSFORM_VALUE = {"shuffle": None, "dropout": "rate", "sample": "n", "take": "n", "filter": None}


def _step_from_mapping(raw: Any, i: int) -> Any:
    """``{propose: [a, b], temperature: 0.7}`` or ``{kind: propose, members: [a, b]}``."""
    if isinstance(raw, BaseModel):
        return raw  # a step built in Python
    if raw == "map" or (isinstance(raw, dict) and "map" in raw):
        raise ValueError(
            f"steps[{i}]: map takes a Python function; it exists only in the Python API "
            "(litellm_mixture.run)"
        )
    if isinstance(raw, str) and raw in _TRANSFORM_VALUE:
        return {"kind": raw}  # - shuffle
    if not isinstance(raw, dict):
        raise ValueError(f"steps[{i}]: expected a mapping such as {{propose: [model, ...]}}")
    if "kind" in raw:
        return raw
    known = sorted([*_STEP_TYPES, *_TRANSFORM_VALUE])
    kinds = [k for k in raw if k in known]
    if len(kinds) != 1:
        raise ValueError(
            f"steps[{i}]: name exactly one step kind out of {known}, "
            f"got keys {sorted(map(str, raw))}"
        )
    kind = kinds[0]
    if kind in _TRANSFORM_VALUE:
        value, rest = raw[kind], {k: v for k, v in raw.items() if k != kind}
        if isinstance(value, dict):
            return {"kind": kind, **value, **rest}
        field = _TRANSFORM_VALUE[kind]
        if value is None or field is None:
            if value not in (None, {}):
                raise ValueError(f"steps[{i}]: {kind} takes a mapping of settings, got {value!r}")
            return {"kind": kind, **rest}
        return {"kind": kind, field: value, **rest}
    rest = {k: v for k, v in raw.items() if k != kind}
    return {"kind": kind, "members": raw[kind], **rest}


def _from_steps(doc: dict[str, Any]) -> Pipeline:
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, (list, tuple)):
        raise ValueError("steps: expected a list of steps")
    return Pipeline.model_validate(
        {**doc, "steps": [_step_from_mapping(s, i) for i, s in enumerate(raw_steps)]}
    )


# ---------------------------------------------------------------- entry point


_SHOW_INPUT = ("literal_error", "union_tag_invalid", "extra_forbidden", "missing")


def describe(error: ValueError) -> str:
    """One line for a failed validation, worded like the rest of the spec errors: each field's
    path, what is wrong and the value given (not pydantic's multi-line text with a URL)."""
    if not isinstance(error, ValidationError):
        return str(error)
    errors = error.errors()
    parts = []
    for e in errors:
        if e["type"] == "too_short" and any(
            o["loc"][: len(e["loc"])] == e["loc"] and o["loc"] != e["loc"] for o in errors
        ):
            continue  # "at least 1 item" because an item inside failed: that item's error says it
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        msg = "unknown field" if e["type"] == "extra_forbidden" else msg[:1].lower() + msg[1:]
        value = e.get("input")
        if e["type"] in _SHOW_INPUT or isinstance(value, (str, int, float)):
            msg += f" (got {value!r:.80})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def pipeline_from_document(doc: Any, *, spec: str = "", where: str = "") -> Pipeline:
    """Validate a decoded YAML/JSON document in either dialect."""
    try:
        if isinstance(doc, Pipeline):
            return doc
        if not isinstance(doc, dict):
            raise ValueError(
                f"expected a mapping with 'layers' (mixtcha) or 'steps', got {type(doc).__name__}"
            )
        if "layers" in doc and "steps" in doc:
            raise ValueError("give either 'layers' (mixtcha) or 'steps', not both")
        if "layers" in doc:
            return _from_mixtcha(_Mixtcha.model_validate(doc))
        if "steps" in doc:
            return _from_steps(doc)
        raise ValueError(
            "a mixture document needs 'layers' (mixtcha) or 'steps'; "
            f"got keys {sorted(map(str, doc))}"
        )
    except ValueError as e:  # pydantic's ValidationError included
        raise spec_error(describe(e), spec=spec, where=where) from None
