"""The final answer, as events: the aggregator's (a member, then its fallbacks), streamed or
read whole; or, with no aggregator, the last step's answers.

Whichever way it is read, an aggregator's answer goes through the same path: it may fall back
until it has produced something, and not after (the caller may already have it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from ..common import prompts
from ..errors import MemberFailure, StoppedEmptyError, describe, quorum_error
from ..spec import Aggregate, Member, Vote
from .call import (
    NoAnswer,
    Said,
    billed,
    call,
    close_stream,
    first_answer,
    stream_finish,
    unanswered_reason,
    usage_sent,
    whole,
)
from .context import Context
from .records import StreamEvent, TraceEntry
from .request import Ask, Refs, messages

CUT_OFF = "the stream ended with no answer and no finish reason (a malformed or cut-off response)"
STOP = StreamEvent(finish_reason="stop")


async def _whole(ctx: Context, ask: Ask) -> AsyncGenerator[StreamEvent, None]:
    """An aggregator's answer read whole, as events."""
    entry = ask.entry
    try:
        choice = await ctx.clock.within(whole(ctx, ask, time.perf_counter()))
        # As when streamed: reasoning alone is no answer (litellm moves <think> out of some
        # providers' content, not all), and a leading block is not part of the answer.
        message = choice.message
        text = message.content and prompts.without_leading_think(message.content)
        if not text and not message.tool_calls:
            reasoned = bool(getattr(message, "reasoning_content", None))
            said = Said(message.content, choice.finish_reason, reasoned)
            _no_answer(ctx, ask, prompts.unanswered(message.content) or "empty", said)
    finally:
        ctx.recorder.ended(entry)
    if text:
        yield StreamEvent(text=text)
    for tool_call in choice.message.tool_calls or ():
        yield StreamEvent(tool_call=tool_call)
    yield StreamEvent(finish_reason=choice.finish_reason or "stop")


def _no_answer(ctx: Context, ask: Ask, verdict: str, said: Said) -> None:
    """Raises why the final answer is empty: the caller's own ``stop`` (a 400: asking again
    gets the same), or the aggregator's (recorded on its trace entry)."""
    stop = ctx.params.get("stop")
    if stop and verdict == "empty" and said.finish == "stop" and not said.reasoned:
        error: Exception = StoppedEmptyError(stop, ask.member.model)
        ask.entry.error = f"empty answer: the request's stop={stop!r} ended it before any text"
        raise error
    ask.entry.error = unanswered_reason(verdict, said)
    raise NoAnswer(ask.entry.error)


@dataclass
class _Read:
    """How an aggregator's stream went."""

    usage: Any = None
    produced: bool = False
    finish: str = "stop"
    complete: bool = False
    # Whether the provider ended the stream itself: litellm makes up a final chunk for a body
    # it could not read (a truncated or malformed response), but never the reason it records.
    ended: bool = True
    text: list[str] | None = None  # kept only when the run keeps its calls
    tool_calls: list[Any] | None = None
    reasoned: bool = False  # sent reasoning_content
    estimated: bool = False  # the server sent no usage: litellm counted it
    think: prompts.LeadingThink = field(default_factory=prompts.LeadingThink)

    @property
    def verdict(self) -> str:
        """Why an answer that produced nothing has none (see prompts.unanswered)."""
        if self.think.unclosed:
            return "unclosed"
        return "reasoning" if self.think.seen else "empty"


async def _streamed(ctx: Context, ask: Ask) -> AsyncGenerator[StreamEvent, None]:
    """An aggregator's answer as it streams."""
    entry, read = ask.entry, _Read()
    if ctx.recorder.keep:
        read.text, read.tool_calls = [], []
    started = time.perf_counter()
    try:
        async with contextlib.aclosing(_chunks(ctx, ask, read)) as chunks:
            async for event in chunks:
                yield event
        if not read.produced and not read.ended:
            entry.error = CUT_OFF
            raise ValueError(entry.error)
        if not read.produced:
            _no_answer(ctx, ask, read.verdict, Said(None, read.finish, read.reasoned))
        if not read.ended:  # sent already: the caller has it, the trace says it may be cut
            entry.add_note("the stream ended without a finish reason: the answer may be cut")
        yield StreamEvent(finish_reason=read.finish)
    except Exception as e:
        entry.error = entry.error or describe(e)
        raise
    finally:
        entry.latency_ms = (time.perf_counter() - started) * 1000
        if read.complete or read.usage is not None:  # what a failed stream billed
            billed(ctx, entry, ask.member.model, read.usage)
            ctx.recorder.account(entry)
            entry.usage_estimated = read.estimated
        if read.text is not None:
            ctx.recorder.kept(
                entry,
                content="".join(read.text),
                tool_calls=[c.model_dump() for c in read.tool_calls or ()] or None,
                finish_reason=read.finish if read.complete else None,
            )
        ctx.recorder.ended(entry)


async def _chunks(ctx: Context, ask: Ask, read: _Read) -> AsyncGenerator[StreamEvent, None]:
    """One aggregator's stream, as events; what it used and how it ended go in ``read``."""
    transport = {"stream": True, "stream_options": {"include_usage": True}}
    stream = await ctx.clock.within(call(ctx, ask, **transport))
    try:
        # A leading reasoning block is held back: reasoning alone is an empty answer that a
        # fallback may still replace, which it no longer can once text has gone out.
        think, chunks = read.think, aiter(stream)
        while (chunk := await ctx.clock.within(anext(chunks, None), ask.entry)) is not None:
            read.usage = getattr(chunk, "usage", None) or read.usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            read.reasoned = read.reasoned or bool(getattr(choice.delta, "reasoning_content", None))
            if choice.delta.content:
                if read.text is not None:
                    read.text.append(choice.delta.content)
                if text := think.feed(choice.delta.content):
                    read.produced = True
                    yield StreamEvent(text=text)
            for tool_call in choice.delta.tool_calls or ():
                read.produced = True
                if read.tool_calls is not None:
                    read.tool_calls.append(tool_call)
                yield StreamEvent(tool_call=tool_call)
            read.finish = choice.finish_reason or read.finish
        if text := think.flush():
            read.produced = True
            yield StreamEvent(text=text)
        read.complete = True
        said = read.produced or read.think.seen or read.think.unclosed
        read.ended = stream_finish(stream, read.finish, said) is not None
        read.estimated = not usage_sent(stream)
    finally:
        if not read.complete:  # stopped early: give its connection back now, not at GC
            await close_stream(stream)


@dataclass
class Opened:
    """An aggregator that has produced its first event: the answer is now its."""

    first: StreamEvent
    events: AsyncGenerator[StreamEvent, None]
    ask: Ask


async def open_answer(ctx: Context, ask: Ask, stream: bool) -> Opened | MemberFailure:
    """Starts an aggregator and reads it up to its first event; a failure before that leaves
    the answer to the next fallback. The limit passing is no member's failure: it ends the run."""
    ctx.recorder.add(ask.entry)
    ctx.recorder.started(ask.entry)
    events = (_streamed if stream else _whole)(ctx, ask)
    try:
        return Opened(await anext(events), events, ask)
    except Exception as e:
        if ctx.clock.expired:
            raise
        return MemberFailure(ask.entry.step, ask.member.model, e)


async def rest(ctx: Context, opened: Opened) -> AsyncGenerator[StreamEvent, None]:
    yield opened.first
    entry, model = opened.ask.entry, opened.ask.member.model
    try:
        async with contextlib.aclosing(opened.events) as events:
            async for event in events:
                yield event
    except Exception as e:
        if ctx.clock.expired:
            raise
        raise half_sent(entry.step, model, e) from e


def _unaggregated(ctx: Context, refs: Refs) -> str:
    """The answer of a pipeline with no aggregator: a vote's pick, or mixtcha's options."""
    if isinstance(ctx.last, Vote):
        return refs[0][1]
    return prompts.options_block(refs, ctx.pipeline.delimiter, None)


def half_sent(step: int, model: str, error: BaseException) -> Exception:
    """The error of an answer that failed once some of it was sent: no fallback can take it
    back."""
    cause = RuntimeError(f"failed mid-stream: {type(error).__name__}: {error}")
    cause.__cause__ = error  # what the stream died of, for the error's message
    return quorum_error(step, 1, 0, [MemberFailure(step, model, cause)], model)


def final_entry(ctx: Context, step: Aggregate, place: int, member: Member) -> TraceEntry:
    """The trace entry of an aggregator call: numbered after self-moa-seq's earlier windows,
    the failed tries before it and (early aggregation) the earlier segments."""
    index = ctx.last_index
    sample = sum(1 for e in ctx.recorder.trace if e.step == index)
    return TraceEntry(index, step.kind, member.model, sample, place)


def _ask(ctx: Context, step: Aggregate, place: int, member: Member, refs: Refs) -> Ask:
    entry = final_entry(ctx, step, place, member)
    return Ask(entry, step, member, messages(ctx, step, member, refs, final=True), final=True)


async def answer_events(
    ctx: Context, refs: Refs, stream: bool
) -> AsyncGenerator[StreamEvent, None]:
    """The final answer; the last event carries the finish reason."""
    step = ctx.last
    if not isinstance(step, Aggregate):
        yield StreamEvent(_unaggregated(ctx, refs))
        yield STOP
        return
    members = ctx.tried(step)

    async def attempt(place: int, member: Member) -> Opened | MemberFailure:
        return await open_answer(ctx, _ask(ctx, step, place, member, refs), stream)

    opened = await first_answer(members, attempt)
    if isinstance(opened, Opened):
        async with contextlib.aclosing(rest(ctx, opened)) as events:
            async for event in events:
                yield event
    elif step.best_proposal and refs and not ctx.whole_only:  # the best proposal, if allowed
        yield StreamEvent(refs[0][1])
        yield STOP
    else:
        models = "+".join(m.model for m in members)
        raise quorum_error(ctx.last_index, 1, 0, opened, models)
