"""The steps that call members: fan-outs (propose, synthesize), refine, and the steps one
member makes at a time (aggregate, self-moa-seq, rank, vote)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import AliasChoices, Field, StrictInt, field_validator, model_validator

from .agreement import AgreeBy
from .base import Failure, Frozen, Member, as_members
from .typed_params import Finite, Flag, flag

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+


class MemberStep(Failure):
    at_once: ClassVar[bool] = True  # its calls run at once (else one after another)
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
        return as_members(value)

    def bounds(self, width: int) -> tuple[list[int], int]:
        """Given at most ``width`` answers in: the most calls each member (then each fallback)
        may get, and the most answers this step passes on."""
        raise NotImplementedError

    def with_members(self, members: tuple[Member, ...]) -> MemberStep:
        """This step with other members, unvalidated (``model_copy`` checks nothing)."""
        return self.model_copy(update={"members": members})


class FanOut(MemberStep):
    """Every member (each sample) answers at once; ``min_successful`` answers make a quorum."""

    @property
    def calls(self) -> int:
        return sum(m.samples for m in self.members)

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [m.samples for m in self.members], self.calls

    @model_validator(mode="after")
    def _quorum_reachable(self) -> FanOut:
        if self.min_successful > self.calls:
            raise ValueError(
                f"min_successful={self.min_successful} exceeds the step's {self.calls} calls"
            )
        return self

    def with_members(self, members: tuple[Member, ...]) -> Self:
        # The quorum is of calls: fewer calls lower it, so a preset's quorum fits new members.
        step = self.model_copy(update={"members": members})
        return step.model_copy(update={"min_successful": min(self.min_successful, step.calls)})


class Propose(FanOut):
    """Each member answers the caller's conversation (``prompt`` is added to the user's turn).

    With ``until_agree: K`` the calls run in waves and the step stops once K answers agree
    (``agree_by`` says when two do), passing those on first; see docs/steps.md.
    """

    kind: Literal["propose"] = "propose"
    until_agree: StrictInt | None = Field(None, ge=1)
    agree_by: AgreeBy = "text"

    @model_validator(mode="after")
    def _agreement_reachable(self) -> Propose:
        k = self.until_agree
        if k is None:
            if self.agree_by != "text":
                raise ValueError("agree_by says when answers agree: it needs until_agree")
            return self
        if k > self.calls:
            raise ValueError(f"until_agree={k} exceeds the step's {self.calls} calls")
        if self.min_successful > k:
            raise ValueError(
                f"min_successful={self.min_successful} exceeds until_agree={k}: the step may "
                f"stop with {k} answers"
            )
        return self

    def with_members(self, members: tuple[Member, ...]) -> Propose:
        # Like the quorum, agreement is of calls: a preset's K fits fewer calls.
        step = super().with_members(members)
        if self.until_agree is None:
            return step
        return step.model_copy(update={"until_agree": min(self.until_agree, step.calls)})


class Synthesize(FanOut):
    """Each member answers the conversation with the previous step's answers as references."""

    kind: Literal["synthesize"] = "synthesize"


class Refine(MemberStep):
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


class Single(MemberStep):
    """One member makes each call; ``fallbacks`` are tried in order when it fails."""

    at_once: ClassVar[bool] = False
    fallbacks: tuple[Member, ...] = ()

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _coerce_fallbacks(cls, value: Any) -> Any:
        return as_members(value)

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


class Early(Frozen):
    """Early (staircase) aggregation: the aggregator writes the answer in segments of at most
    ``chunk_tokens``, each from the proposals so far, until they are complete; it makes at most
    ``segments`` calls (the last waits for the complete proposals)."""

    chunk_tokens: StrictInt = Field(64, ge=1)
    segments: StrictInt = Field(4, ge=2, le=16)


class Aggregate(Single):
    """One member writes the final answer from the previous step's answers.

    With ``best_proposal``, the first answer of the previous step (members in the order
    written) is returned when the member and every fallback fail. With ``early`` (``true``, or
    :class:`Early`'s settings), it starts before the proposals are complete (opt-in: see
    docs/semantics.md, "Early aggregation").
    """

    kind: Literal["aggregate"] = "aggregate"
    best_proposal: Flag = False
    early: Early | None = None

    @field_validator("early", mode="before")
    @classmethod
    def _early(cls, value: Any) -> Any:
        value = flag(value, "early") if isinstance(value, (str, int)) else value
        return {} if value is True else None if value is False else value

    def bounds(self, width: int) -> tuple[list[int], int]:
        # Every segment may be written by the member; only the first may fall back.
        calls = self._each(1)
        if self.early is not None:
            calls[0] = self.early.segments
        return calls, 1


class SelfMoaSeq(Aggregate):
    """Self-MoA-Seq: aggregates the answers ``window`` at a time, carrying each synthesis into
    the next window as its first reference, so no call reads more than ``window`` answers."""

    # An Aggregate in behaviour, with a kind of its own (Aggregate's kind is the literal
    # "aggregate", so mypy sees a narrower type replaced).
    kind: Literal["self-moa-seq"] = "self-moa-seq"  # type: ignore[assignment]
    window: StrictInt = Field(3, ge=2)

    def windows(self, width: int) -> int:
        return (
            1 if width <= self.window else 1 + math.ceil((width - self.window) / (self.window - 1))
        )

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(self.windows(width)), 1


_UNCLEAR = Literal["take", "fail"]


class Rank(Single):
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
        # MemberStep.__init__ takes the members positionally; the pydantic plugin types Single's
        # inherited __init__ from its fields (keywords only).
        super().__init__(members, **data)  # type: ignore[call-arg]

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(1), min(self.n, width)


class Vote(Single):
    """A judge picks the answer most of the others agree with; it alone goes on (as the final
    answer, verbatim, when this is the last step). ``on_unclear`` as for :class:`Rank`."""

    kind: Literal["vote"] = "vote"
    on_unclear: _UNCLEAR = "take"

    def bounds(self, width: int) -> tuple[list[int], int]:
        return self._each(1), 1
