"""One member call with its retries; a member's answer as the next step reads it; the first
answer from members tried in order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import _litellm
from ..common import prompts, retry
from ..errors import ContextOverflowError, MemberFailure, NotStarted, as_auth, describe
from ..spec import Member
from .context import Context
from .panel import Hearer
from .records import TraceEntry
from .request import Ask, settings

T = TypeVar("T")
# Why a member's answer is no reference, by prompts.unanswered's verdict.
NO_ANSWER = {
    "empty": "empty answer: the model sent no text",
    "reasoning": "reasoning only: no text after the model's reasoning",
    "unclosed": "reasoning only: a <think> block that never closed, and no answer",
}
THOUGHT_OUT = (
    "ran out of tokens inside its leading <think> block (finish_reason=length), before any "
    "answer: give it a larger max_tokens"
)
CUT = (
    "cut answer: the stream ended without a finish reason after {n} characters (the server "
    "stopped it; llama.cpp's server does so when another request arrives)"
)


@dataclass(frozen=True)
class Said:
    """What a member sent back: its text, why it stopped (None: a stream that ended without
    saying), and whether it sent reasoning apart from the text (``reasoning_content``)."""

    content: str | None
    finish: str | None
    reasoned: bool = False


def why_no_answer(said: Said) -> str | None:
    """Why ``said`` gives no answer a later step can read; None when it gives one."""
    verdict = prompts.unanswered(said.content)
    return None if verdict is None else unanswered_reason(verdict, said)


def unanswered_reason(verdict: str, said: Said) -> str:
    """The trace's reason for an answer :func:`prompts.unanswered` found none in."""
    if verdict == "unclosed" and said.finish == "length":
        return THOUGHT_OUT
    if verdict == "empty" and said.reasoned:
        verdict = "reasoning"
    return NO_ANSWER[verdict]


class NoAnswer(ValueError):
    """A member answered, but with nothing a later step can use (the reason says why)."""


def _tokens(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    return int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0)


def billed(
    ctx: Context, entry: TraceEntry, model: str, usage: Any, cost: float | None = None
) -> None:
    """Sets what a call used and cost: ``cost`` when litellm priced the response, else its
    usage at the host's prices."""
    entry.prompt_tokens, entry.completion_tokens = _tokens(usage)
    entry.cost = cost if cost is not None else ctx.facts.cost(model, *_tokens(usage))


def usage_sent(stream: Any) -> bool:
    """Whether the server sent a stream's usage. litellm ends every stream with usage, counted
    by its own tokenizer when the server sent none (llama.cpp's server ignores
    ``include_usage``); only the chunks it keeps tell the two apart (litellm 1.81's Router
    keeps none: taken as sent)."""
    chunks = _litellm.stream_chunks(stream)
    if chunks is None or _litellm.keeps_nothing(stream):
        return True
    return any(getattr(c, "usage", None) for c in chunks)


def _response_cost(response: Any) -> float | None:
    hidden = _litellm.hidden(response)
    if hidden.get("cache_hit"):  # litellm's response cache answered: nothing was spent
        return 0.0
    cost = hidden.get("response_cost")
    return None if cost is None else float(cost)


def settle(ctx: Context, entry: TraceEntry, model: str, response: Any, started: float) -> None:
    """Records a whole response: its time, usage and cost."""
    entry.latency_ms = (time.perf_counter() - started) * 1000
    billed(ctx, entry, model, getattr(response, "usage", None), _response_cost(response))
    ctx.recorder.account(entry)


def _admit(ctx: Context, ask: Ask, kwargs: dict[str, Any]) -> None:
    """Refuses a call before it starts: one that could take the run past its ``max_cost``, or
    whose prompt cannot fit its model's context window (the same request would fail again)."""
    entry, budget = ask.entry, ctx.recorder.budget
    if budget is not None and (why := budget.admit(entry, kwargs, ctx.recorder.usage.cost)):
        entry.error = why
        raise NotStarted(why, ask.member.model)
    if why := ctx.facts.past_window(ask.member.model, ask.messages, kwargs.get("tools")):
        if entry.step > 0:
            why += f": the answers before step {entry.step} are too long (bound their max_tokens)"
        entry.error = why
        raise ContextOverflowError(why, ask.member.model)


async def call(ctx: Context, ask: Ask, **transport: Any) -> Any:
    """One member call with its retries. Raises the last error; records time and attempts."""
    entry, retries = ask.entry, ctx.setting(ask.step, "retries") or 0
    kwargs = {"model": ask.member.model, "messages": ask.messages, **transport}
    kwargs.update(settings(ctx, ask))
    if ctx.recorder.keep:  # a copy: litellm adds its own fields to the metadata it is given
        entry.request = {**kwargs, "metadata": dict(kwargs["metadata"])}
    _admit(ctx, ask, kwargs)
    started = time.perf_counter()
    while True:
        try:
            return await ctx.caller(**kwargs)
        except asyncio.CancelledError:
            entry.cancel()
            raise
        except Exception as e:
            error = as_auth(e)  # a missing key is no server error: never retried
            wait = retry.delay(error, entry.attempts, retries, ctx.clock.remaining())
            if wait is None:
                entry.error = describe(error)  # traces reach clients
                if error is e:
                    raise
                raise error from e
            entry.attempts += 1
            await asyncio.sleep(wait)
        finally:
            entry.latency_ms = (time.perf_counter() - started) * 1000


def kept_reply(ctx: Context, entry: TraceEntry, message: Any, finish_reason: str | None) -> None:
    calls = [c.model_dump() for c in getattr(message, "tool_calls", None) or ()]
    ctx.recorder.kept(
        entry, content=message.content, tool_calls=calls or None, finish_reason=finish_reason
    )


async def close_stream(stream: Any) -> None:
    """Close a member's stream (and its HTTP connection): litellm 1.81's wrapper has no aclose,
    the provider stream inside it does."""
    for target in (stream, _litellm.inner_stream(stream)):
        close = getattr(target, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
            return


def stream_finish(stream: Any, seen: str | None, said: bool) -> str | None:
    """How a member's stream ended: the finish reason the server sent, or None when it sent
    none (a cut stream). litellm makes one up ("stop") in the last chunk it yields, but leaves
    it out of the chunks it keeps (``stream.chunks``), through a Router too (1.108). Where it
    kept none, the reason it recorded (none for a body it could not read). litellm 1.81's
    Router keeps neither: there a stream that ``said`` something ended with the reason
    ``seen`` (a cut one cannot be told), and one that said nothing is taken as cut."""
    chunks = _litellm.stream_chunks(stream)
    if not chunks:
        if _litellm.keeps_nothing(stream):
            return seen if said else None
        return _litellm.stream_finish(stream, seen)
    reasons = [c.choices[0].finish_reason for c in chunks if getattr(c, "choices", None)]
    return next((r for r in reversed(reasons) if r), None)


def _reasoned(part: Any) -> bool:
    return bool(getattr(part, "reasoning_content", None))


async def whole(ctx: Context, ask: Ask, started: float) -> Any:
    """A member's answer read whole (its first choice), billed and kept."""
    response = await call(ctx, ask)
    settle(ctx, ask.entry, ask.member.model, response, started)
    choice = response.choices[0]
    kept_reply(ctx, ask.entry, choice.message, choice.finish_reason)
    return choice


async def _heard(ctx: Context, ask: Ask, started: float, hear: Hearer) -> Said:
    """A member's answer streamed, each piece told to ``hear`` as it arrives."""
    entry, parts, usage, finish, reasoned = ask.entry, [], None, None, False
    stream = await call(ctx, ask, stream=True, stream_options={"include_usage": True})
    try:
        async for chunk in stream:
            usage = getattr(chunk, "usage", None) or usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            reasoned = reasoned or _reasoned(choice.delta)
            if choice.delta.content:
                parts.append(choice.delta.content)
                hear.say(entry, choice.delta.content)
            finish = choice.finish_reason or finish
    except BaseException as e:
        if isinstance(e, asyncio.CancelledError):
            entry.cancel()  # cut mid-stream, as the seam marks a call cut before it
        await close_stream(stream)  # stopped early: give its connection back now, not at GC
        raise
    finally:
        hear.done(entry)
    entry.latency_ms = (time.perf_counter() - started) * 1000
    billed(ctx, entry, ask.member.model, usage)
    entry.usage_estimated = not usage_sent(stream)
    ctx.recorder.account(entry)
    text = "".join(parts)
    finish = stream_finish(stream, finish, bool(parts))
    ctx.recorder.kept(entry, content=text, tool_calls=None, finish_reason=finish)
    return Said(text, finish, reasoned)


def _usable(ctx: Context, ask: Ask, said: Said) -> str:
    """The answer a later step reads; raises :class:`NoAnswer` when there is none. A cut
    answer is one only where the step's ``cut_answers`` is ``keep``."""
    entry = ask.entry
    why = why_no_answer(said)
    if said.finish is None:  # cut, whatever it holds: an empty cut answer is no empty answer
        cut = CUT.format(n=len(said.content or ""))
        if why is None and ctx.setting(ask.step, "cut_answers") == "keep":
            entry.add_note(f"{cut}; kept as a reference (cut_answers: keep)")
        else:
            why = cut
    if why is not None:
        entry.error = why
        raise NoAnswer(why)
    return prompts.clean_answer(said.content)


async def answer(
    ctx: Context, ask: Ask, hear: Hearer | None = None
) -> tuple[str, str] | MemberFailure:
    """A member's answer as a later step reads it (reasoning removed), or why there is none.
    With someone to hear it (``hear``, else the live panel), it streams, heard as it comes."""
    entry, model = ask.entry, ask.member.model
    started = time.perf_counter()
    ctx.recorder.started(entry)
    hear = hear or ctx.panel
    try:
        if hear is None:
            choice = await whole(ctx, ask, started)
            said = Said(choice.message.content, choice.finish_reason, _reasoned(choice.message))
        else:
            said = await _heard(ctx, ask, started, hear)
        return model, _usable(ctx, ask, said)
    except Exception as e:
        entry.error = entry.error or describe(e)
        return MemberFailure(entry.step, model, e)
    finally:
        ctx.recorder.ended(entry)


async def first_answer(
    members: Sequence[Member], attempt: Callable[[int, Member], Awaitable[T | MemberFailure]]
) -> T | list[MemberFailure]:
    """The first of ``members`` (a member, then its fallbacks) to answer, tried one at a time;
    or every one's failure."""
    failures = []
    for place, member in enumerate(members):
        result = await attempt(place, member)
        if not isinstance(result, MemberFailure):
            return result
        failures.append(result)
    return failures
