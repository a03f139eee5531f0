"""The pipeline: its steps, in the order they run, and the settings for the whole run.

Both document dialects and the one-line form produce one canonical, immutable
:class:`Pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StrictInt, model_validator
from typing_extensions import assert_never

from .agreement import ByEmbedding
from .base import Failure, Member
from .steps import Aggregate, MemberStep, Propose, Rank, Refine, SelfMoaSeq, Synthesize, Vote
from .transforms import Dropout, Filter, Map, Sample, Shuffle, Take, Transform
from .typed_params import Finite

ReferenceMode = Literal["system", "inline", "concat"]

# Every kind of step, in two unions: those that call members and those that reshape answers.
# A walker ``match``es over them and ``assert_never``s the rest (see docs/architecture.md).
Calling = Propose | Synthesize | Refine | Rank | Vote | Aggregate | SelfMoaSeq
Reshaping = Shuffle | Dropout | Sample | Take | Filter | Map
Step = Annotated[Calling | Reshaping, Field(discriminator="kind")]
# Each step's class by its kind, read off the union: a new step class is named there only.
KINDS: dict[str, type[MemberStep | Transform]] = {
    cls.model_fields["kind"].default: cls for cls in get_args(get_args(Step)[0])
}


@dataclass(frozen=True)
class Calls:
    """What a step may call, for every walker that counts, prices, polices or shows its calls
    (the estimate, call counting, the policy, explain, modelinfo): read here, once per kind.
    ``bounds`` on the step says how often each of ``callees`` is called and what it passes on."""

    members: tuple[Member, ...] = ()
    fallbacks: tuple[Member, ...] = ()  # tried in order when the member fails
    embedding: str | None = None  # until_agree by embedding: one call to it per answer
    settings: Failure | None = None  # its own timeout, retries, grace (None: it calls nothing)

    @property
    def callees(self) -> tuple[Member, ...]:
        """Members then fallbacks: the order of ``bounds``' counts."""
        return (*self.members, *self.fallbacks)


NO_CALLS = Calls()


def calls_of(step: Step) -> Calls:
    """What ``step`` may call: one case per kind, so a new kind not named here fails
    (``assert_never``) rather than being counted or policed as another."""
    match step:
        case Propose():
            by = step.agree_by
            embedding = by.embedding if isinstance(by, ByEmbedding) else None
            return Calls(step.members, embedding=embedding, settings=step)
        case Synthesize() | Refine():
            return Calls(step.members, settings=step)
        case Rank() | Vote() | SelfMoaSeq() | Aggregate():
            return Calls(step.members, step.fallbacks, settings=step)
        case Shuffle() | Dropout() | Sample() | Take() | Filter() | Map():
            return NO_CALLS
        case _:
            assert_never(step)


def _check_early(steps: tuple[Any, ...], i: int) -> None:
    if type(steps[i]) is not Aggregate:
        raise ValueError(f"steps[{i}]: early aggregation is for an aggregate step")
    if i == 0 or not isinstance(steps[i - 1], (Propose, Synthesize)):
        raise ValueError(
            f"steps[{i}]: early aggregation reads the proposals as they stream: it needs a "
            "propose or synthesize step right before it"
        )


class Pipeline(Failure):
    """A validated Mixture-of-Agents pipeline.

    ``references`` says how a step sees the previous step's answers: ``system`` (Together MoA,
    the default), ``inline`` or ``concat`` (mixtcha's message modes). ``deadline`` bounds the
    whole request in seconds; ``timeout``, ``retries`` and ``grace`` are defaults for the steps;
    ``max_cost`` (USD) refuses a run whose worst case costs more, before any call.
    ``panel: reasoning`` streams every member's answer to the caller as reasoning while the
    steps before the final answer run (opt-in: see docs/semantics.md, "Live panel").
    """

    steps: tuple[Step, ...] = Field(min_length=1)
    deadline: Finite | None = Field(None, gt=0)
    max_cost: Finite | None = Field(None, gt=0)
    seed: StrictInt | None = None
    """Seeds the random transforms (shuffle, dropout, sample), so a run can be reproduced."""
    references: ReferenceMode = "system"
    panel: Literal["reasoning"] | None = None
    degraded: Literal["warn", "error"] = "warn"
    """A step that goes on with fewer answers than it asked for (a member failed, was cut or
    over budget): ``warn`` answers and says so on the response; ``error`` fails the run (every
    call of every step must answer; fallbacks and ``best_proposal`` are not used)."""
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
            if isinstance(step, Aggregate) and step.early is not None:
                _check_early(self.steps, i)
            if isinstance(step, Transform) and last:
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
        return all(isinstance(step, MemberStep) or step.portable for step in self.steps)

    def bounds(self) -> list[list[int]]:
        """For each step, the most calls each of its members (then fallbacks) may get."""
        width, out = 0, []
        for step in self.steps:
            calls, width = step.bounds(width)
            out.append(calls)
        return out

    def setting(self, step: Failure | None, name: str) -> Any:
        """A step's failure setting ``name`` (timeout, retries, grace), else the pipeline's."""
        own = None if step is None else getattr(step, name)
        return own if own is not None else getattr(self, name)

    @property
    def callees(self) -> list[Member]:
        """Every member and fallback of every step, in order."""
        return [m for step in self.steps for m in calls_of(step).callees]

    @property
    def max_calls(self) -> int:
        """The most member calls one run makes, retries aside."""
        return sum(map(sum, self.bounds()))
