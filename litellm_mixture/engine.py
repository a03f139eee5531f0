"""Runs a pipeline over a conversation: fan-out, quorum, references, trace, usage and cost.

Knows nothing about CustomLLM. Every member call goes through one seam, a :data:`Caller`
(``litellm.acompletion`` by default), so LiteLLM's providers, keys, retries and callbacks apply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import litellm

from . import prompts
from .config import Aggregate, Member, Pipeline, Propose, Synthesize
from .errors import MemberFailure, quorum_error

Caller = Callable[..., Awaitable[Any]]

# Caller params that bind only the final step: proposers get plain-text requests.
FINAL_ONLY = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "logprobs",
        "top_logprobs",
        "stream_options",
    }
)
# Transport settings the outer call carries that must not reach members as-is.
DROP = frozenset({"stream", "max_retries", "stream_options"})
_ZERO_TEMPERATURE = 1e-4


async def litellm_caller(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return await litellm.acompletion(model=model, messages=messages, **kwargs)


@dataclass
class TraceEntry:
    """One member call: what was asked of whom, how long it took, what it used and cost."""

    step: int
    kind: str
    model: str
    sample: int
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Outcome:
    """The final answer: text, tool calls and finish reason, as the aggregator gave them."""

    content: str | None
    tool_calls: list[Any] | None = None
    finish_reason: str = "stop"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class StreamEvent:
    """A piece of the final answer as it streams: text, a tool-call delta, or the end."""

    text: str = ""
    tool_call: Any = None
    finish_reason: str | None = None


def _tokens(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    return int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0)


def _cost_from_usage(model: str, usage: Any) -> float | None:
    prompt_tokens, completion_tokens = _tokens(usage)
    try:
        costs = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:
        return None
    return float(sum(costs))


def _response_cost(model: str, response: Any) -> float | None:
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    return float(cost) if cost is not None else _cost_from_usage(model, response.usage)


def _settings(*layers: Any) -> dict[str, Any]:
    """temperature and max_tokens from the most specific layer that sets them."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key in ("temperature", "max_tokens"):
            value = getattr(layer, key)
            if value is not None:
                out[key] = value
    return out


@dataclass
class Run:
    """One pipeline run over one conversation. Not reusable."""

    pipeline: Pipeline
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    caller: Caller = litellm_caller
    timeout: float | None = None
    max_tokens: int | None = None  # a cap on every call's max_tokens (the policy's, for clients)
    trace: list[TraceEntry] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    # ------------------------------------------------------------ request building

    def _kwargs(self, step: Any, member: Member, final: bool) -> dict[str, Any]:
        excluded = DROP if final else DROP | FINAL_ONLY
        kwargs = {k: v for k, v in self.params.items() if k not in excluded}
        own = _settings(step, member)
        if final and "max_tokens" in own and "max_tokens" in kwargs:
            # Both the caller's contract and the step's budget bind the final answer.
            own["max_tokens"] = min(own["max_tokens"], kwargs["max_tokens"])
        kwargs.update(own)
        kwargs.update(member.params)
        if self.max_tokens is not None:
            kwargs["max_tokens"] = min(kwargs.get("max_tokens", self.max_tokens), self.max_tokens)
        if kwargs.get("temperature") is not None and kwargs["temperature"] <= _ZERO_TEMPERATURE:
            kwargs["temperature"] = 0
        if self.timeout is not None:
            kwargs.setdefault("timeout", self.timeout)
        return kwargs

    def _messages(
        self, step: Any, member: Member, refs: list[tuple[str, str]], final: bool
    ) -> list[dict[str, Any]]:
        msgs = self.messages if final else prompts.text_only(self.messages)
        if refs:  # none for a passthrough: the one model gets the conversation as it is
            p = self.pipeline
            msgs = prompts.inject(msgs, refs, p.references, step.prompt, p.delimiter)
        if member.prompt:
            msgs = prompts.with_user_text(msgs, member.prompt)
        if member.system_prompt:
            msgs = prompts.with_system_prompt(msgs, member.system_prompt)
        return msgs

    def _record(self, entry: TraceEntry, model: str, response: Any, started: float) -> None:
        entry.latency_ms = (time.perf_counter() - started) * 1000
        usage = getattr(response, "usage", None)
        entry.prompt_tokens, entry.completion_tokens = _tokens(usage)
        entry.cost = _response_cost(model, response)
        self._account(entry)

    def _account(self, entry: TraceEntry) -> None:
        self.usage.prompt_tokens += entry.prompt_tokens
        self.usage.completion_tokens += entry.completion_tokens
        if entry.cost is None:
            self.usage.cost_known = False
        else:
            self.usage.cost += entry.cost

    # ------------------------------------------------------------ layers

    async def _answer(
        self, index: int, step: Any, member: Member, sample: int, msgs: list[dict[str, Any]]
    ) -> tuple[str, str] | MemberFailure:
        entry = TraceEntry(index, step.kind, member.model, sample)
        self.trace.append(entry)
        started = time.perf_counter()
        try:
            response = await self.caller(member.model, msgs, **self._kwargs(step, member, False))
        except Exception as e:
            entry.latency_ms = (time.perf_counter() - started) * 1000
            entry.error = f"{type(e).__name__}: {e}"
            return MemberFailure(index, member.model, e)
        self._record(entry, member.model, response, started)
        message = response.choices[0].message
        text = prompts.clean_answer(message.content)
        if not text:
            entry.error = "empty answer (no text after removing reasoning)"
            return MemberFailure(index, member.model, ValueError(entry.error))
        return member.model, text

    async def _layer(
        self, index: int, step: Propose | Synthesize, refs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        jobs = []
        for member in step.members:
            msgs = self._messages(step, member, refs, final=False)
            jobs += [self._answer(index, step, member, s, msgs) for s in range(member.samples)]
        results = await asyncio.gather(*jobs)
        answers = [r for r in results if not isinstance(r, MemberFailure)]
        if len(answers) < step.min_successful:
            failures = [r for r in results if isinstance(r, MemberFailure)]
            raise quorum_error(
                index,
                step.min_successful,
                len(answers),
                failures,
                "+".join(m.model for m in step.members),
            )
        return answers

    async def references(self) -> list[tuple[str, str]]:
        """Runs every step before the final one; returns the last layer's (model, answer)s."""
        refs: list[tuple[str, str]] = []
        for index, step in enumerate(self.pipeline.steps):
            if isinstance(step, Aggregate):
                break
            refs = await self._layer(index, step, refs)
        return refs

    # ------------------------------------------------------------ final step

    def _final(self, refs: list[tuple[str, str]]) -> tuple[Aggregate, dict[str, Any]]:
        step = self.pipeline.steps[-1]
        assert isinstance(step, Aggregate)
        member = step.member
        return step, {
            "model": member.model,
            "messages": self._messages(step, member, refs, final=True),
            **self._kwargs(step, member, True),
        }

    def _failed_final(self, entry: TraceEntry, error: Exception) -> Exception:
        entry.error = f"{type(error).__name__}: {error}"
        failure = MemberFailure(entry.step, entry.model, error)
        return quorum_error(entry.step, 1, 0, [failure], entry.model)

    async def complete(self) -> Outcome:
        refs = await self.references()
        if not isinstance(self.pipeline.steps[-1], Aggregate):
            return Outcome(self._options(refs))
        step, request = self._final(refs)
        entry = TraceEntry(len(self.pipeline.steps) - 1, step.kind, request["model"], 0)
        self.trace.append(entry)
        started = time.perf_counter()
        try:
            response = await self.caller(**request)
        except Exception as e:
            entry.latency_ms = (time.perf_counter() - started) * 1000
            raise self._failed_final(entry, e) from e
        self._record(entry, request["model"], response, started)
        choice = response.choices[0]
        message = choice.message
        if not message.content and not message.tool_calls:
            raise self._failed_final(entry, ValueError("empty answer"))
        return Outcome(message.content, message.tool_calls, choice.finish_reason or "stop")

    async def stream(self) -> AsyncIterator[StreamEvent]:
        """The final answer as it arrives; the last event carries the finish reason."""
        refs = await self.references()
        if not isinstance(self.pipeline.steps[-1], Aggregate):
            yield StreamEvent(self._options(refs))
            yield StreamEvent(finish_reason="stop")
            return
        step, request = self._final(refs)
        entry = TraceEntry(len(self.pipeline.steps) - 1, step.kind, request["model"], 0)
        self.trace.append(entry)
        started = time.perf_counter()
        finish, usage, produced = "stop", None, False
        try:
            stream = await self.caller(
                **request, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in stream:
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta.content:
                    produced = True
                    yield StreamEvent(text=delta.content)
                for call in delta.tool_calls or ():
                    produced = True
                    yield StreamEvent(tool_call=call)
                finish = choice.finish_reason or finish
        except Exception as e:
            entry.latency_ms = (time.perf_counter() - started) * 1000
            raise self._failed_final(entry, e) from e
        entry.latency_ms = (time.perf_counter() - started) * 1000
        entry.prompt_tokens, entry.completion_tokens = _tokens(usage)
        entry.cost = _cost_from_usage(request["model"], usage)
        self._account(entry)
        if not produced:
            raise self._failed_final(entry, ValueError("empty answer"))
        yield StreamEvent(finish_reason=finish)

    def _options(self, refs: list[tuple[str, str]]) -> str:
        return prompts.options_block(refs, self.pipeline.delimiter, None)

    def trace_dicts(self) -> list[dict[str, Any]]:
        # Entries hold scalars only; dataclasses.asdict's recursive deep copy is measurably slow.
        return [dict(vars(e)) for e in self.trace]
