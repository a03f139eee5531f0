"""What a run may cost, before it runs: per step, the calls it makes and the cost range.

- The worst case: every call, retry and fallback is made (with the retries a provider SDK or
  the Router may add, as ``max_calls`` counts them: each is an upstream request, assumed
  billed), every call writes its max_tokens (the caller's, the step's, the member's, the
  policy's cap; else its model's output limit), and every answer passed on is as long as its
  writer may make it.
- The likely case: nothing fails, each call reads what the engine would send it (conversation,
  prompts, references: counted with ``litellm.token_counter``) and writes ``expected_tokens``
  (:data:`EXPECTED_TOKENS` unless told; at most its max_tokens).

Prices are litellm's (:mod:`.prices`). A model litellm has no price for is named and left out
of the sums, which are then lower bounds; so is a call with no max_tokens and no known output
limit (its worst case is unbounded). A member that is itself a mixture is estimated as the
pipeline it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import assert_never

from ..engine import MAX_COST
from ..engine.budget import Pricer
from ..engine.context import NO_ENDPOINT, Endpoint
from ..engine.params import Lookup, takes
from ..engine.records import TraceEntry
from ..engine.request import Ask, Inputs, check_contract, messages, settings
from ..errors import BudgetError, SpecError
from ..spec import (
    PREFIX,
    Aggregate,
    Dropout,
    Filter,
    Map,
    Member,
    Pipeline,
    Propose,
    Rank,
    Refine,
    Sample,
    SelfMoaSeq,
    Shuffle,
    Synthesize,
    Take,
    Vote,
    decode,
    is_url,
)
from ..spec.schema import Calling, Reshaping
from ..spec.steps import MemberStep
from ..spec.transforms import Transform
from ..trust.calls import MAX_DEPTH, Attempts, Nested, once, sdk_attempts, step_calls
from ..trust.policy import SETTING
from . import prices
from .estimate_model import Estimate, StepEstimate, names

EXPECTED_TOKENS = 300
"""The likely case's answer length per call, in tokens, unless told otherwise."""


@dataclass(frozen=True)
class Where:
    """What the estimate asks of where the pipeline runs: which pipeline a member runs when it is
    a mixture (:data:`calls.Nested`), how many requests one call may make (``Attempts``), and the
    models one call may reach (for their prices and limits)."""

    nested: Nested
    attempts: Attempts = once
    # Every model one call may reach: an alias's deployments and its Router fallbacks' (priced
    # at the dearest), else the model itself.
    reach: Callable[[str], tuple[str, ...]] = lambda model: (model,)

    def worst(self, model: str, tokens: int, cap: int | None) -> float | None:
        """The most one call to ``model`` may cost, whichever deployment or fallback serves it;
        None when one of them cannot be bounded."""
        costs = [prices.worst_call_cost(m, tokens, cap) for m in self.reach(model)]
        return None if None in costs else max(c for c in costs if c is not None)

    def limit(self, model: str) -> int | None:
        """The longest answer any model ``model`` may reach writes (None: unknown)."""
        limits = [prices.output_limit(m) for m in self.reach(model)]
        return None if None in limits else max(x for x in limits if x is not None)


@dataclass(frozen=True)
class _Call:
    """One call of a step: its cost (with the requests it may make), and its answer's length."""

    requests: int
    worst: float
    likely: float
    worst_answer: int
    likely_answer: int
    unpriced: tuple[str, ...] = ()
    unbounded: tuple[str, ...] = ()
    calls: int = 1  # member calls it likely makes: a nested mixture's are its own members'


@dataclass
class _Walk:
    """The steps of one run, in order, and the answers each passes on (their lengths)."""

    ctx: Inputs
    where: Where
    expected: int
    depth: int = 0
    counter: prices.Counter = field(default_factory=prices.Counter)  # shared with nested walks
    worst_refs: list[int] = field(default_factory=list)
    likely_refs: list[int] = field(default_factory=list)

    def steps(self) -> list[StepEstimate]:
        pipeline, out = self.ctx.pipeline, []
        for index, (step, uses) in enumerate(zip(pipeline.steps, pipeline.bounds(), strict=True)):
            match step:
                case MemberStep():
                    out.append(self._step(index, step, uses))
                case Transform():
                    self._transform(step)
                    out.append(
                        StepEstimate(
                            step=index, kind=step.kind, calls=0, requests=0, likely=0.0, worst=0.0
                        )
                    )
                case _:
                    assert_never(step)
        return out

    def _transform(self, step: Reshaping) -> None:
        """The longest answers a transform may keep (worst), the first it likely keeps."""
        width = step.bounds(len(self.worst_refs))[1]
        self.worst_refs = sorted(self.worst_refs)[len(self.worst_refs) - width :]
        match step:
            case Dropout():
                likely = max(1, round(len(self.likely_refs) * (1 - step.rate)))
            case Shuffle() | Sample() | Take() | Filter() | Map():
                likely = step.bounds(len(self.likely_refs))[1]
            case _:
                assert_never(step)
        self.likely_refs = self.likely_refs[:likely]

    def _step(self, index: int, step: Calling, uses: list[int]) -> StepEstimate:
        pipeline = self.ctx.pipeline
        seen_w, seen_l = self._seen(step)
        final = index == len(pipeline.steps) - 1 and isinstance(step, Aggregate)
        counted = list(step_calls(pipeline, step, uses))
        done = [
            self._call(index, step, place, each, (seen_w, seen_l), final)
            for place, each in enumerate(counted)
        ]
        likely_uses = self._likely_uses(step)
        used_by = [used for _, used, _ in counted]
        step_estimate = StepEstimate(
            step=index,
            kind=step.kind,
            calls=sum(n * c.calls for n, c in zip(likely_uses, done, strict=False)),
            requests=sum(used * c.requests for used, c in zip(used_by, done, strict=True)),
            worst=sum(used * c.worst for used, c in zip(used_by, done, strict=True)),
            # Fallbacks are likely not called: likely_uses has the members only.
            likely=sum(n * c.likely for n, c in zip(likely_uses, done, strict=False)),
            unpriced=names(c.unpriced for c in done),
            unbounded=names(c.unbounded for c in done),
        )
        self._passed(step, done, likely_uses)
        return step_estimate

    def _seen(self, step: Calling) -> tuple[list[int], list[int]]:
        """The answers one call of ``step`` reads, worst and likely; -1 stands for the call's own
        earlier answer (self-moa-seq carries its synthesis into the next window)."""
        worst, likely = self.worst_refs, self.likely_refs
        if isinstance(step, Refine):
            return [max(worst, default=0)], likely[:1]
        if isinstance(step, SelfMoaSeq) and len(worst) > step.window:
            return [*sorted(worst)[1 - step.window :], -1], likely[: step.window]
        return list(worst), list(likely)

    def _likely_uses(self, step: Calling) -> list[int]:
        """How many calls each member (fallbacks: none) likely gets."""
        width = len(self.likely_refs)
        if isinstance(step, (Rank, Vote)) and width <= 1:
            return [0]  # one answer: nothing to judge
        return step.bounds(width)[0][: len(step.members)]

    def _passed(self, step: Calling, done: list[_Call], likely_uses: list[int]) -> None:
        """The answers ``step`` passes on: their most and likely lengths."""
        worst, likely = self.worst_refs, self.likely_refs
        longest = max(c.worst_answer for c in done)
        match step:
            case Propose() | Synthesize():
                samples = [m.samples for m in step.members]
                done = done[: len(samples)]  # an agreement's embedding calls pass nothing on
                self.worst_refs = [
                    c.worst_answer for c, n in zip(done, samples, strict=True) for _ in range(n)
                ]
                self.likely_refs = [
                    c.likely_answer
                    for c, n in zip(done, likely_uses, strict=True)
                    for _ in range(n)
                ]
            case Refine():  # a failed refinement passes the answer on as it was
                self.worst_refs = [max(r, longest) for r in worst]
                self.likely_refs = [
                    done[i % len(step.members)].likely_answer for i in range(len(likely))
                ]
            case Rank():
                self.worst_refs = sorted(worst)[max(0, len(worst) - step.n) :]
                self.likely_refs = likely[: step.n]
            case Vote():
                self.worst_refs, self.likely_refs = [max(worst, default=0)], likely[:1]
            case SelfMoaSeq() | Aggregate():  # the final answer; maybe the longest proposal
                extra = max(worst, default=0) if step.best_proposal else 0
                self.worst_refs, self.likely_refs = [max(longest, extra)], [done[0].likely_answer]
            case _:
                assert_never(step)

    def _ask(
        self, index: int, step: Calling, place: int, member: Member, refs: list[str], final: bool
    ) -> Ask:
        """The call as the engine makes it, with these references."""
        entry = TraceEntry(index, step.kind, member.model, 0, place)
        sent = messages(self.ctx, step, member, [("", text) for text in refs], final=final)
        return Ask(entry, step, member, sent, final=final)

    def _call(
        self,
        index: int,
        step: Calling,
        place: int,
        counted: tuple[Member, int, bool],
        seen: tuple[list[int], list[int]],
        final: bool,
    ) -> _Call:
        """One call of ``member``: its references are left empty and their tokens added."""
        member, _, retried = counted
        (seen_w, seen_l), ask = (
            seen,
            self._ask(index, step, place, member, [""] * len(seen[0]), final),
        )
        sent = settings(self.ctx, ask)
        caps = [sent.get(k) for k in ("max_tokens", "max_completion_tokens")]
        cap = min((c for c in caps if isinstance(c, int)), default=None)
        model = self.where.reach(member.model)[0]  # where its price is (an alias's deployment)
        limit = cap if cap is not None else self.where.limit(member.model)
        own = [(limit or 0) if r < 0 else r for r in seen_w]
        inner = self.where.nested(member.model)
        if inner is not None and self.depth >= MAX_DEPTH:  # as a run would refuse it
            raise SpecError(f"mixtures nested more than {MAX_DEPTH} deep", spec=member.model)
        if inner is not None:
            filled = self._ask(index, step, place, member, [" x" * n for n in own], final)
            return self._nested(inner[0], filled, cap)
        worst_prompt = self._tokens(ask) + sum(own)
        likely_ask = self._ask(index, step, place, member, [""] * len(seen_l), final)
        likely_prompt = self._tokens(likely_ask) + sum(seen_l)
        answer = min(self.expected, limit or self.expected)
        attempts = self.where.attempts(member.model, retried)
        worst = self.where.worst(member.model, worst_prompt, limit)
        likely = prices.cost(model, likely_prompt, answer)
        return _Call(
            requests=attempts,
            worst=attempts * (worst or 0.0),
            likely=likely or 0.0,
            worst_answer=limit or 0,
            likely_answer=answer,
            unpriced=() if likely is not None else (member.model,),
            unbounded=() if limit is not None else (member.model,),
        )

    def _tokens(self, ask: Ask) -> int:
        tools = self.ctx.params.get("tools") if ask.final else None
        return self.counter(ask.messages, tools)

    def _nested(self, pipeline: Pipeline, ask: Ask, cap: int | None) -> _Call:
        """A member that is itself a mixture: its pipeline, over what it is sent (references as
        filler text of their length), its final answer capped as the call's is."""
        params = {} if cap is None else {"max_tokens": cap}
        walk = _Walk(
            _context(pipeline, ask.messages, params),
            self.where,
            self.expected,
            self.depth + 1,
            self.counter,
        )
        inner = _result(ask.member.model, walk)
        return _Call(
            requests=inner.requests,
            worst=inner.worst,
            likely=inner.likely,
            worst_answer=sum(walk.worst_refs),
            likely_answer=sum(walk.likely_refs),
            unpriced=inner.unpriced,
            unbounded=inner.unbounded,
            calls=inner.calls,
        )


@dataclass(frozen=True)
class _Inputs:
    """What the engine would build a run's calls from (:class:`engine.request.Inputs`), for a
    run that is never made: no clock, recorder, caller or budget."""

    pipeline: Pipeline
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    timeout: float | None = None
    max_tokens: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    endpoint: Endpoint = NO_ENDPOINT
    takes: Lookup = takes

    def setting(self, step: MemberStep, name: str) -> Any:
        return self.pipeline.setting(step, name)


def _context(
    pipeline: Pipeline, sent: list[dict[str, Any]], params: dict[str, Any], **run: Any
) -> Inputs:
    """The inputs a run of ``pipeline`` would have, checked as a run checks them."""
    check_contract(pipeline, params)
    return _Inputs(pipeline, sent, params, **run)


def _result(model: str, walk: _Walk) -> Estimate:
    steps = walk.steps()
    prompt = walk.counter(walk.ctx.messages)
    return Estimate(
        model=model, prompt_tokens=prompt, expected_tokens=walk.expected, steps=tuple(steps)
    )


def of_context(
    ctx: Inputs, model: str, where: Where, expected_tokens: int = EXPECTED_TOKENS
) -> Estimate:
    """The estimate of the run ``ctx`` belongs to (made but not started): ``model`` names it."""
    return _result(model, _Walk(ctx, where, expected_tokens))


def in_process(model: str) -> tuple[Pipeline, bool] | None:
    """What a member runs in this process when it is itself a mixture (URL specs aside: they
    are fetched only when run)."""
    if not model.startswith(PREFIX) or is_url(model.removeprefix(PREFIX)):
        return None
    return decode(model), True


def estimate(
    pipeline: Pipeline,
    conversation: list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    *,
    model: str = "pipeline",
    expected_tokens: int = EXPECTED_TOKENS,
) -> Estimate:
    """The estimate of running ``pipeline`` in this process on ``conversation`` with the
    caller's ``params`` (what ``litellm.completion`` would take)."""
    params = dict(params or {})
    ctx = _context(pipeline, conversation, params, timeout=params.pop("timeout", None))
    return of_context(ctx, model, Where(in_process, sdk_attempts), expected_tokens)


def pricer(where: Where) -> Pricer:
    """How a running budget bounds one call where the run is: an alias at the price of the
    dearest model it may reach (deployments, fallbacks), a member that is itself a mixture at
    its own estimate's worst case, its answer capped as the call's is. One run's calls share a
    :class:`prices.Counter`: the conversation is measured once."""
    counter = prices.Counter()

    def worst(model: str, sent: list[dict[str, Any]], max_tokens: int | None) -> float | None:
        inner = where.nested(model)
        if inner is not None:
            params = {} if max_tokens is None else {"max_tokens": max_tokens}
            walk = _Walk(_context(inner[0], sent, params), where, EXPECTED_TOKENS, 0, counter)
            found = _result(model, walk)
            return found.worst if found.complete else None
        return where.worst(model, counter(sent), max_tokens)

    return worst


def in_process_pricer() -> Pricer:
    """:func:`pricer` for a run in this process (no aliases)."""
    return pricer(Where(in_process, sdk_attempts))


def budget(
    params: dict[str, Any], pipeline: Pipeline, policy_cap: float | None = None
) -> tuple[float, str] | None:
    """The run's max_cost and who set it: the lowest of the request's, the spec's and (for a
    client spec) the policy's; None when none is set."""
    found = [
        (params.get(MAX_COST), "the request's max_cost"),
        (pipeline.max_cost, "the spec's max_cost"),
        (policy_cap, f"the policy's rule max_cost (litellm_settings.{SETTING})"),
    ]
    given = [(float(cap), source) for cap, source in found if cap is not None]
    return min(given, key=lambda item: item[0]) if given else None


def check(estimate: Estimate, limit: tuple[float, str]) -> None:
    """Refuses a run whose worst case costs more than ``limit`` (see :func:`budget`), or cannot
    be bounded, with the estimate in the error."""
    cap, source = limit
    if not estimate.complete or estimate.worst > cap:
        raise BudgetError(cap, source, estimate)
