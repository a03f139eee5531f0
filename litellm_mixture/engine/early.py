"""Early (staircase) aggregation (``early`` on the aggregate step, arXiv 2510.05059): the
aggregator does not wait for complete proposals. The last proposer layer streams; once each of
its calls has said something (or ended), the aggregator writes a first segment of the answer
(at most ``chunk_tokens``) from the partial proposals; each later segment sees more of them and
continues the answer so far, until the proposals are complete and a last segment finishes it.
The caller gets one continuous answer.

The quorum, grace, deadline and fallbacks keep working: the layer runs as it would (its quorum
decides which complete proposals the last segment reads), every await is bounded by the clock,
and the first segment may fall back to the next aggregator until it has written something.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..common import prompts
from ..errors import MemberFailure, quorum_error
from ..spec import Aggregate, Member, Propose, Synthesize
from .call import first_answer
from .context import Context
from .final import STOP, Opened, final_entry, half_sent, open_answer, rest
from .records import CallState, StreamEvent, TraceEntry
from .request import Ask, Refs, messages, settings
from .seam import Seam
from .steps import layer

CONTINUE = (
    "Continue your answer from where it stops: write only what comes next. "
    "Do not repeat any of it and do not comment on it."
)
COMPLETE = "cut: the answer was complete before this proposal"


class Proposals:
    """The last layer's answers as they stream: what each call has said so far."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.said: dict[int, tuple[TraceEntry, list[str]]] = {}
        self.ended: set[int] = set()
        self.changed = asyncio.Event()

    def say(self, entry: TraceEntry, text: str) -> None:
        self.said.setdefault(id(entry), (entry, []))[1].append(text)
        self.changed.set()

    def done(self, entry: TraceEntry) -> None:
        self.ended.add(id(entry))
        self.changed.set()

    def started(self) -> bool:
        return len(self.said.keys() | self.ended) >= self.calls

    def references(self) -> Refs:
        """What each call has said so far, in the members' order, reasoning left out."""
        out = []
        for entry, parts in sorted(self.said.values(), key=lambda p: (p[0].member, p[0].sample)):
            text = _so_far("".join(parts))
            if text and entry.error is None:
                out.append((entry.model, text))
        return out


def _so_far(text: str) -> str:
    """A partial answer as a reference: an unclosed reasoning block is no part of it."""
    opened = max(text.rfind("<think>"), text.rfind("<thinking>"))
    if opened >= 0 and "</think" not in text[opened:]:
        text = text[:opened]
    return prompts.clean_answer(text)


async def _until_started(heard: Proposals, task: asyncio.Future[Any]) -> None:
    while not heard.started() and not task.done():
        heard.changed.clear()
        waiter = asyncio.ensure_future(heard.changed.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()


def _continued(
    ctx: Context, msgs: list[dict[str, Any]], model: str, written: str
) -> list[dict[str, Any]]:
    """The conversation for a later segment: the answer so far as a prefill where the host says
    the model takes one, else as the assistant's turn and an instruction to continue it."""
    if not written:
        return msgs
    if ctx.facts.prefills(model):
        return [*msgs, {"role": "assistant", "content": written}]
    return [
        *msgs,
        {"role": "assistant", "content": written.rstrip()},
        {"role": "user", "content": CONTINUE},
    ]


def answer_limit(ctx: Context, step: Aggregate, member: Member) -> int | None:
    """The most tokens the whole answer may have: the max_tokens its one call would be sent
    without early aggregation (the caller's, the step's, the member's, the policy's cap)."""
    probe = TraceEntry(ctx.last_index, step.kind, member.model, 0)
    sent = settings(ctx, Ask(probe, step, member, [], final=True))
    limits = [sent.get(k) for k in ("max_tokens", "max_completion_tokens")]
    return min((x for x in limits if isinstance(x, int)), default=None)


@dataclass
class Answer:
    """The answer so far: its text, the tokens its segments used (a segment cut by its cap
    used exactly that many), and how the last segment ended."""

    text: str = ""
    used: int = 0
    finish: str = "stop"

    def cap(self, ctx: Context, step: Aggregate, member: Member, complete: bool) -> int | None:
        """A segment's max_tokens: what the answer has left, and at most ``chunk_tokens`` while
        the proposals are partial."""
        assert step.early is not None
        limit = answer_limit(ctx, step, member)
        left = None if limit is None else limit - self.used
        if complete:
            return left
        return step.early.chunk_tokens if left is None else min(left, step.early.chunk_tokens)

    def left(self, ctx: Context, step: Aggregate, member: Member) -> bool:
        limit = answer_limit(ctx, step, member)
        return limit is None or self.used < limit


def _ask(
    ctx: Context,
    step: Aggregate,
    place: int,
    member: Member,
    seen: Refs,
    answer: Answer,
    complete: bool,
) -> Ask:
    entry = final_entry(ctx, step, place, member)
    cap = answer.cap(ctx, step, member, complete)
    entry.add_note(
        f"segment {entry.sample + 1} at +{ctx.clock.elapsed_ms():.0f} ms: {len(seen)} references, "
        f"{sum(len(t) for _, t in seen)} characters{' (complete)' if complete else ''}; "
        f"{len(answer.text)} characters written before it"
    )
    msgs = messages(ctx, step, member, seen, final=True)
    msgs = _continued(ctx, msgs, member.model, answer.text)
    return Ask(entry, step, member, msgs, final=True, cap=cap)


async def early_events(ctx: Context, refs: Refs) -> AsyncGenerator[StreamEvent, None]:
    """The final answer, written in segments while the last proposer layer streams."""
    index = ctx.last_index - 1
    proposers = ctx.pipeline.steps[index]
    assert isinstance(proposers, (Propose, Synthesize))
    heard = Proposals(proposers.calls)
    task = asyncio.ensure_future(ctx.clock.within(layer(ctx, index, proposers, refs, heard)))
    try:
        await ctx.clock.within(_until_started(heard, task))
        async for event in _segments(ctx, heard, task):
            yield event
    finally:
        if not task.done():  # the answer was complete first, or the run failed
            task.cancel()
            await asyncio.wait({task})
            for entry in ctx.recorder.trace:
                if entry.step == index and entry.state is CallState.CANCELLED:
                    entry.stop(COMPLETE, CallState.UNNEEDED)


async def _segments(
    ctx: Context, heard: Proposals, task: asyncio.Future[Refs]
) -> AsyncIterator[StreamEvent]:
    step, answer = ctx.last, Answer()
    assert isinstance(step, Aggregate) and step.early is not None
    chosen: tuple[int, Member] | None = None
    for segment in range(step.early.segments):
        if segment == step.early.segments - 1:
            await ctx.clock.within(asyncio.wait({task}))
        complete = task.done()
        seen = task.result() if complete else heard.references()
        if complete:
            ctx.recorder.passed(ctx.last_index - 1, ctx.pipeline.steps[-2].kind, seen)
        opened = await _opened(ctx, step, chosen, seen, answer, complete)
        if isinstance(opened, str):  # every aggregator failed: the best proposal
            yield StreamEvent(opened)
            yield STOP
            return
        chosen = (opened.ask.entry.member, opened.ask.member)
        async for event in _segment(ctx, opened, answer, complete):
            yield event
        more = answer.finish == "length" and answer.left(ctx, step, opened.ask.member)
        if complete or not more:
            yield StreamEvent(finish_reason=answer.finish)
            return


async def _segment(
    ctx: Context, opened: Opened, answer: Answer, complete: bool
) -> AsyncIterator[StreamEvent]:
    """One segment's answer, joined to the answer so far (through a :class:`Seam` where the
    model cannot take a prefill); how it ended goes in ``answer.finish``."""
    ask, answer.finish = opened.ask, "stop"
    assert isinstance(ask.step, Aggregate)  # every segment is the last step's call
    last = complete or ask.cap == answer.cap(ctx, ask.step, ask.member, complete=True)
    seam = None if ctx.facts.prefills(ask.member.model) else Seam(answer.text, more=not last)
    async for event in rest(ctx, opened):
        if event.finish_reason is not None:
            answer.finish = event.finish_reason
            continue
        if seam is not None and event.text:
            event = StreamEvent(seam.feed(event.text))
        answer.text += event.text
        if event.text or event.tool_call is not None:
            yield event
    if answer.finish == "length" and ask.cap is not None:
        answer.used += ask.cap
    if seam is not None:
        continued = answer.finish == "length" and not last
        if text := seam.end(continued):
            answer.text += text
            yield StreamEvent(text)
        ask.entry.add_note(seam.note())


async def _opened(
    ctx: Context,
    step: Aggregate,
    chosen: tuple[int, Member] | None,
    seen: Refs,
    answer: Answer,
    complete: bool,
) -> Opened | str:
    """The segment's aggregator, started: the first segment's may fall back; a later one is
    the member that wrote the answer so far, and its failure fails the answer."""

    async def attempt(place: int, member: Member) -> Opened | MemberFailure:
        ask = _ask(ctx, step, place, member, seen, answer, complete)
        return await open_answer(ctx, ask, stream=True)

    if chosen is None:
        members = ctx.tried(step)
        opened = await first_answer(members, attempt)
        if isinstance(opened, list):
            if step.best_proposal and seen and not ctx.whole_only:
                return seen[0][1]
            raise quorum_error(ctx.last_index, 1, 0, opened, "+".join(m.model for m in members))
        return opened
    result = await attempt(*chosen)
    if isinstance(result, MemberFailure):
        raise half_sent(result.step, result.model, result.error) from result.error
    return result
