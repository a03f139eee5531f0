"""Runs a pipeline over a conversation: fan-out, quorum, references, trace, usage and cost.

Knows nothing about CustomLLM. Every member call goes through one seam, a :data:`Caller`
(``litellm.acompletion`` by default), so LiteLLM's providers, keys, retries and callbacks apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import litellm

from . import prompts, retry
from .errors import MemberFailure, SpecError, as_auth, deadline_error, describe, quorum_error
from .params import Lookup, fit, takes
from .spec import (
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
)

logger = logging.getLogger("litellm_mixture")

Caller = Callable[..., Awaitable[Any]]
# Told of each member call as it starts ("start") and ends ("end"), e.g. for a live view.
Observer = Callable[[str, "TraceEntry"], None]
T = TypeVar("T")
CANCELLED = "cancelled"
EMPTY = "empty answer (no text after removing reasoning)"
CUT_OFF = "the stream ended with no answer and no finish reason (a malformed or cut-off response)"

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
# The shape of the final answer: never left out, so a model that cannot give it fails loudly.
ANSWER_SHAPE = frozenset({"tools", "tool_choice", "functions", "function_call", "response_format"})
# Settings of the outer call that must not reach members as-is: transport, and what the
# mixture itself reports (intermediate_responses).
DROP = frozenset({"stream", "max_retries", "stream_options", "intermediate_responses"})
_ZERO_TEMPERATURE = 1e-4


async def litellm_caller(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return await litellm.acompletion(model=model, messages=messages, **kwargs)


if sys.version_info >= (3, 11):

    async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
        # One timer on the running task; before 3.12, wait_for made a task for every await.
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(awaitable, seconds)


@dataclass
class TraceEntry:
    """One member call: what was asked of whom, how long it took, what it used and cost."""

    step: int
    kind: str
    model: str
    sample: int
    member: int = 0  # its place in the step's members (fallbacks follow the member)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    error: str | None = None
    attempts: int = 1
    cut: bool = False  # cancelled: a straggler after the quorum's grace, or the deadline
    # Settings not sent to this member, how a judge's unclear answer was read.
    note: str | None = None
    # What was sent and what came back, kept only when the run records (intermediate responses,
    # debug dumps): a run holds every answer in memory otherwise only until the next step.
    request: dict[str, Any] | None = field(default=None, repr=False)
    reply: dict[str, Any] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        # Entries hold scalars; dataclasses.asdict's recursive deep copy is measurably slow.
        out = dict(vars(self))
        del out["request"], out["reply"]
        return out

    @property
    def ok(self) -> bool:
        return self.error is None

    def add_note(self, note: str | None) -> None:
        if note:
            self.note = note if self.note is None else f"{self.note}; {note}"


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


@dataclass(frozen=True)
class StepResult:
    """The answers a step passed on: (model, text) pairs, in the order the next step sees them."""

    step: int
    kind: str
    answers: tuple[tuple[str, str], ...]


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
    text: list[str] = field(default_factory=list)  # kept only when the run records
    tool_calls: list[Any] = field(default_factory=list)


async def _close(stream: Any) -> None:
    """Close a member's stream (and its HTTP connection): litellm 1.81's wrapper has no aclose,
    the provider stream inside it does."""
    for target in (stream, getattr(stream, "completion_stream", None)):
        close = getattr(target, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
            return


@dataclass
class Run:
    """One pipeline run over one conversation. Not reusable.

    ``timeout`` is the caller's: like the pipeline's ``deadline``, it bounds the whole run (the
    sooner of the two wins), and it is each member call's own limit too.
    """

    pipeline: Pipeline
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    caller: Caller = litellm_caller
    timeout: float | None = None
    max_tokens: int | None = None  # a cap on every call's max_tokens (the policy's, for clients)
    trace: list[TraceEntry] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    history: list[StepResult] = field(default_factory=list)
    observer: Observer | None = None
    # Set on every member call's LiteLLM metadata, under the run's own keys (see _metadata).
    metadata: dict[str, Any] = field(default_factory=dict)
    # What a member's model takes (litellm's lists; the provider resolves proxy aliases first).
    takes: Lookup = takes
    record: bool = False  # keep each call's request and reply on its trace entry
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _ends_at: float | None = field(default=None, init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Seeded from the spec, a run's shuffles and drops repeat exactly; unseeded, they vary.
        self._random = random.Random(self.pipeline.seed)
        self._check_contract()

    # ------------------------------------------------------------ clock and settings

    @property
    def deadline(self) -> float | None:
        # litellm passes a timeout (600 s) on every call, so nearly every run has a deadline:
        # _bounded keeps it one timer on the running task, not a task per await.
        limits = [x for x in (self.pipeline.deadline, self.timeout) if x is not None]
        return min(limits) if limits else None

    @property
    def _bound(self) -> str:
        """What the deadline is to the user: the spec's deadline or the caller's timeout."""
        return "deadline" if self.deadline == self.pipeline.deadline else "timeout"

    def _start(self) -> None:
        deadline = self.deadline
        self._ends_at = None if deadline is None else time.monotonic() + deadline

    def _remaining(self) -> float | None:
        return None if self._ends_at is None else max(0.0, self._ends_at - time.monotonic())

    def _observe(self, event: str, entry: TraceEntry) -> None:
        if self.observer is not None:
            self.observer(event, entry)

    def _setting(self, step: Any, name: str) -> Any:
        value = getattr(step, name)
        return value if value is not None else getattr(self.pipeline, name)

    async def _within(self, awaitable: Awaitable[T], streaming: TraceEntry | None = None) -> T:
        """Awaits under the request's deadline; past it, every member call still running (and
        the ``streaming`` one) is cut and the caller gets a Timeout naming them."""
        remaining = self._remaining()
        if remaining is None:
            return await awaitable
        try:
            return await _bounded(awaitable, remaining)
        except asyncio.TimeoutError:
            if streaming is not None:
                streaming.error = CANCELLED
            cut = [e for e in self.trace if e.error == CANCELLED]
            seconds, bound = self.deadline or 0, self._bound
            for entry in cut:
                entry.error, entry.cut = f"cut by the {seconds:g}s {bound}", True
            running = [MemberFailure(e.step, e.model, TimeoutError(e.error), True) for e in cut]
            raise deadline_error(seconds, running, self._models(), bound) from None

    def _models(self) -> str:
        return ">".join("+".join(m.model for m in s.members) for s in self.pipeline.steps)

    # ------------------------------------------------------------ request building

    def _caller_settings(self, entry: TraceEntry, member: Member, final: bool) -> dict[str, Any]:
        """The caller's params for this call. The contract binds the final step only; a param
        the member's model does not take is left out (noted on the trace entry), except the
        answer's shape, which fails loudly on a model that cannot give it."""
        excluded = DROP if final else DROP | FINAL_ONLY
        sent = {k: v for k, v in self.params.items() if k not in excluded}
        shape = {k: v for k, v in sent.items() if k in ANSWER_SHAPE}
        settings = {k: v for k, v in sent.items() if k not in ANSWER_SHAPE}
        if settings:
            settings, note = fit(settings, member.model, self.takes(member.model))
            entry.add_note(note)
        return {**settings, **shape}

    def _kwargs(self, entry: TraceEntry, step: Any, member: Member, final: bool) -> dict[str, Any]:
        kwargs = self._caller_settings(entry, member, final)
        own = _settings(step, member)
        if final and "max_tokens" in own and "max_tokens" in kwargs:
            # Both the caller's contract and the step's budget bind the final answer.
            own["max_tokens"] = min(own["max_tokens"], kwargs["max_tokens"])
        kwargs.update(own)
        kwargs.update(member.params)
        if self.max_tokens is not None:
            kwargs["max_tokens"] = min(kwargs.get("max_tokens", self.max_tokens), self.max_tokens)
            if "max_completion_tokens" in kwargs:
                kwargs["max_completion_tokens"] = min(
                    kwargs["max_completion_tokens"], self.max_tokens
                )
        if kwargs.get("temperature") is not None and kwargs["temperature"] <= _ZERO_TEMPERATURE:
            kwargs["temperature"] = 0
        if self._setting(step, "retries") is not None or self._setting(step, "timeout"):
            # The spec's retries and timeouts are exact: the mixture retries this call itself
            # (honouring Retry-After), and the provider SDK's own retries (the OpenAI SDK's
            # default 2, each given the whole timeout again) would multiply them.
            kwargs.setdefault("max_retries", 0)
        # Static limits only: the deadline is enforced around the calls (_within). A timeout
        # that shrank with the time left would differ on every call, and litellm caches its
        # HTTP clients by timeout: each call would open a new client and new connections.
        limits = [kwargs.get("timeout"), self._setting(step, "timeout"), self.timeout]
        limits = [x for x in limits if isinstance(x, (int, float))]
        if limits:
            kwargs["timeout"] = min(limits)
        return kwargs

    def _messages(
        self, step: Any, member: Member, refs: list[tuple[str, str]], final: bool
    ) -> list[dict[str, Any]]:
        msgs = self.messages if final else prompts.text_only(self.messages)
        if refs:
            p = self.pipeline
            prompt = step.prompt if step.prompt is not None else prompts.DEFAULTS.get(step.kind)
            if isinstance(step, Rank):
                prompt = prompt.replace("{n}", str(min(step.n, len(refs))))
            msgs = prompts.inject(msgs, refs, p.references, prompt, p.delimiter)
        elif step.prompt:  # a propose step's (or a passthrough's) instruction
            msgs = prompts.with_user_text(msgs, step.prompt)
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

    async def _call(self, entry: TraceEntry, step: Any, member: Member, final: bool, **call: Any):
        """One member call with its retries. Raises the last error; records time and attempts."""
        retries = self._setting(step, "retries") or 0
        kwargs = self._kwargs(entry, step, member, final)
        kwargs["metadata"] = self._metadata(entry, kwargs.get("metadata"))
        if self.record:  # a copy: litellm adds its own fields to the metadata it is given
            entry.request = {**call, **kwargs, "metadata": dict(kwargs["metadata"])}
        started = time.perf_counter()
        while True:
            try:
                return await self.caller(**call, **kwargs)
            except asyncio.CancelledError:
                entry.error = CANCELLED
                raise
            except Exception as e:
                error = as_auth(e)  # a missing key is no server error: never retried
                wait = retry.delay(error, entry.attempts, retries, self._remaining())
                if wait is None:
                    entry.error = describe(error)  # traces reach clients
                    if error is e:
                        raise
                    raise error from e
                entry.attempts += 1
                await asyncio.sleep(wait)
            finally:
                entry.latency_ms = (time.perf_counter() - started) * 1000

    def _metadata(self, entry: TraceEntry, own: Any) -> dict[str, Any]:
        """LiteLLM metadata for one member call: callbacks (Langfuse, OpenTelemetry, custom
        loggers) see which mixture, step and member it belongs to."""
        return {
            **(own if isinstance(own, dict) else {}),
            **self.metadata,
            "mixture_id": self.id,
            "mixture_step": entry.step,
            "mixture_step_kind": entry.kind,
            "mixture_member": entry.member,
            "mixture_sample": entry.sample,
            "generation_name": f"mixture step {entry.step} {entry.kind} {entry.model}",
        }

    @staticmethod
    def _reply(entry: TraceEntry, message: Any, finish_reason: str | None) -> None:
        calls = [c.model_dump() for c in getattr(message, "tool_calls", None) or ()]
        entry.reply = {
            "content": message.content,
            "tool_calls": calls or None,
            "finish_reason": finish_reason,
        }

    # ------------------------------------------------------------ layers

    async def _answer(
        self, entry: TraceEntry, step: Any, member: Member, msgs: list[dict[str, Any]]
    ) -> tuple[str, str] | MemberFailure:
        started = time.perf_counter()
        self._observe("start", entry)
        try:
            call = {"model": member.model, "messages": msgs}
            response = await self._call(entry, step, member, False, **call)
        except Exception as e:
            return MemberFailure(entry.step, member.model, e)
        else:
            self._record(entry, member.model, response, started)
            if self.record:
                self._reply(entry, response.choices[0].message, response.choices[0].finish_reason)
            text = prompts.clean_answer(response.choices[0].message.content)
            if not text:
                entry.error = EMPTY
                return MemberFailure(entry.step, member.model, ValueError(entry.error))
            return member.model, text
        finally:
            self._observe("end", entry)

    async def _fan_out(
        self, index: int, step: Any, calls: list[tuple[TraceEntry, Member, list[dict[str, Any]]]]
    ) -> list[tuple[str, str] | MemberFailure]:
        """Makes the calls at once; returns each one's answer or failure, in order, once
        ``min_successful`` answered (and the grace passed) or every call ended."""
        entries = [entry for entry, _, _ in calls]
        self.trace += entries
        tasks = [asyncio.ensure_future(self._answer(e, step, m, msgs)) for e, m, msgs in calls]
        need, grace = step.min_successful, self._setting(step, "grace")
        pending, cut_at, ok = set(tasks), None, 0
        if grace is None and need <= 1:
            # Every member is awaited and one answer is a quorum: nothing can end the wait
            # early, and gather is the cheapest way to wait (it cancels all if we are cancelled).
            await asyncio.gather(*tasks)
            pending = set()
        try:
            while pending:
                wait = None if cut_at is None else max(0.0, cut_at - time.monotonic())
                done, pending = await asyncio.wait(
                    pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                ok += sum(1 for t in done if not isinstance(t.result(), MemberFailure))
                if not done or ok + len(pending) < need:
                    break  # the grace period is over, or the quorum can no longer be met
                if ok >= need and grace is not None and cut_at is None:
                    cut_at = time.monotonic() + grace
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        why = (
            "cancelled: the quorum could no longer be met"
            if ok < need
            else f"cut: still running {grace or 0:g}s after the quorum"
        )
        results: list[tuple[str, str] | MemberFailure] = []
        for entry, task in zip(entries, tasks, strict=True):
            if task.cancelled():
                entry.error, entry.cut = why, True
                results.append(MemberFailure(index, entry.model, TimeoutError(why), True))
            else:
                results.append(task.result())
        failures = [r for r in results if isinstance(r, MemberFailure)]
        if len(results) - len(failures) < need:
            members = "+".join(m.model for m in step.members)
            raise quorum_error(index, need, len(results) - len(failures), failures, members)
        return results

    async def _layer(
        self, index: int, step: Propose | Synthesize, refs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        calls = []
        for place, member in enumerate(step.members):
            msgs = self._messages(step, member, refs, final=False)
            for sample in range(member.samples):
                entry = TraceEntry(index, step.kind, member.model, sample, place)
                calls.append((entry, member, msgs))
        results = await self._fan_out(index, step, calls)
        return [r for r in results if not isinstance(r, MemberFailure)]

    async def _refine(
        self, index: int, step: Refine, refs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        calls = []
        for i, ref in enumerate(refs):
            place = i % len(step.members)
            member = step.members[place]
            msgs = self._messages(step, member, [ref], final=False)
            calls.append((TraceEntry(index, step.kind, member.model, i, place), member, msgs))
        results = await self._fan_out(index, step, calls)
        # A failed refinement leaves its answer as it was (the trace entry says why).
        return [
            ref if isinstance(r, MemberFailure) else r for ref, r in zip(refs, results, strict=True)
        ]

    async def _single(
        self, index: int, step: Any, refs: list[tuple[str, str]], sample: int = 0
    ) -> tuple[str, str]:
        """One answer from the step's member, or from its fallbacks in order."""
        failures = []
        for place, member in enumerate((step.member, *step.fallbacks)):
            entry = TraceEntry(index, step.kind, member.model, sample, place)
            self.trace.append(entry)
            msgs = self._messages(step, member, refs, final=False)
            result = await self._answer(entry, step, member, msgs)
            if not isinstance(result, MemberFailure):
                return result
            failures.append(result)
        models = "+".join(m.model for m in (step.member, *step.fallbacks))
        raise quorum_error(index, 1, 0, failures, models)

    async def _judge(
        self, index: int, step: Rank | Vote, refs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The answers a judge keeps, best first. Its answer is read as response numbers."""
        if len(refs) == 1:
            return refs  # nothing to judge
        keep = min(step.n if isinstance(step, Rank) else 1, len(refs))
        numbered = [(str(i), text) for i, (_, text) in enumerate(refs, 1)]
        judge, answer = await self._single(index, step, numbered)
        entry = self.trace[-1]
        picks = prompts.read_choice(answer, len(refs))[:keep]
        if len(picks) < keep:
            if not picks and step.on_unclear == "fail":
                entry.error = f"unclear answer: no response number in {answer!r:.120}"
                failure = MemberFailure(index, judge, ValueError(entry.error))
                raise quorum_error(index, 1, 0, [failure], judge)
            unclear = (
                f"named {len(picks)} of {keep} responses in {answer!r:.120}; "
                "the rest kept in the order they came"
            )
            entry.add_note(unclear)
            logger.warning("%s step %d: the judge %s %s", step.kind, index + 1, judge, unclear)
            picks += [i for i in range(len(refs)) if i not in picks][: keep - len(picks)]
        return [refs[i] for i in picks]

    async def _carry(self, refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Self-MoA-Seq: all but the last window, each synthesis carried into the next."""
        step, index = self.pipeline.steps[-1], len(self.pipeline.steps) - 1
        if not isinstance(step, SelfMoaSeq) or len(refs) <= step.window:
            return refs
        size = step.window
        window, rest, sample = refs[:size], refs[size:], 0
        while rest:
            synthesis = await self._single(index, step, window, sample)
            self.history.append(StepResult(index, step.kind, (synthesis,)))
            window, rest, sample = [synthesis, *rest[: size - 1]], rest[size - 1 :], sample + 1
        return window

    async def references(self) -> list[tuple[str, str]]:
        """Runs every step before the final one; returns the last layer's (model, answer)s."""
        if self._ends_at is None:
            self._start()
        refs: list[tuple[str, str]] = []
        for index, step in enumerate(self.pipeline.steps):
            match step:
                case Aggregate():
                    break
                case Propose() | Synthesize():
                    refs = await self._within(self._layer(index, step, refs))
                case Refine():
                    refs = await self._within(self._refine(index, step, refs))
                case Rank() | Vote():
                    refs = await self._within(self._judge(index, step, refs))
                case _:
                    refs = self._transform(index, step, refs)
            self.history.append(StepResult(index, step.kind, tuple(refs)))
        return refs

    def _transform(
        self, index: int, step: Any, refs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        rng = self._random
        match step:
            case Shuffle():
                refs = rng.sample(refs, len(refs))
            case Dropout(rate=rate):
                kept = [r for r in refs if rng.random() >= rate]
                refs = kept or [rng.choice(refs)]
            case Sample(n=n):
                refs = rng.sample(refs, min(n, len(refs)))
            case Take(n=n):
                refs = refs[:n]
            case Filter():
                refs = [r for r in refs if step.keeps(r[1])]
            case Map(fn=fn):
                refs = [(model, out) for model, text in refs if (out := fn(text))]
        if not refs:
            why = ValueError(f"{step!r} kept none of the answers")
            raise quorum_error(index, 1, 0, [MemberFailure(index, step.kind, why)], step.kind)
        return refs

    # ------------------------------------------------------------ final step

    def _finalists(self) -> list[Member]:
        step = self.pipeline.steps[-1]
        assert isinstance(step, Aggregate)
        return [step.member, *step.fallbacks]

    def _final_entry(self, place: int, member: Member) -> TraceEntry:
        index = len(self.pipeline.steps) - 1
        # Numbered after self-moa-seq's earlier windows and the failed tries before it.
        sample = sum(1 for e in self.trace if e.step == index)
        entry = TraceEntry(index, self.pipeline.steps[-1].kind, member.model, sample, place)
        self.trace.append(entry)
        self._observe("start", entry)
        return entry

    def _final_messages(self, member: Member, refs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return self._messages(self.pipeline.steps[-1], member, refs, final=True)

    def _last_resort(self, failures: list[MemberFailure], refs: list[tuple[str, str]]) -> str:
        """The best proposal when the step allows it; otherwise the typed error."""
        step = self.pipeline.steps[-1]
        if step.best_proposal and refs:
            return refs[0][1]
        models = "+".join(m.model for m in self._finalists())
        raise quorum_error(len(self.pipeline.steps) - 1, 1, 0, failures, models)

    async def _complete(self) -> Outcome:
        refs = await self._carry(await self.references())
        if not isinstance(self.pipeline.steps[-1], Aggregate):
            return Outcome(self._unaggregated(refs))
        step = self.pipeline.steps[-1]
        failures = []
        for place, member in enumerate(self._finalists()):
            entry = self._final_entry(place, member)
            started = time.perf_counter()
            msgs = self._final_messages(member, refs)
            try:
                response = await self._call(
                    entry, step, member, True, model=member.model, messages=msgs
                )
            except Exception as e:
                failures.append(MemberFailure(entry.step, member.model, e))
                continue
            else:
                self._record(entry, member.model, response, started)
            finally:
                self._observe("end", entry)
            choice = response.choices[0]
            message = choice.message
            if self.record:
                self._reply(entry, message, choice.finish_reason)
            # As when streamed: reasoning alone is no answer (litellm moves <think> out of some
            # providers' content, not all), and a leading block is not part of the answer.
            content = message.content and prompts.without_leading_think(message.content)
            if content or message.tool_calls:
                return Outcome(content, message.tool_calls, choice.finish_reason or "stop")
            entry.error = EMPTY
            failures.append(MemberFailure(entry.step, member.model, ValueError(entry.error)))
        return Outcome(self._last_resort(failures, refs))

    def _check_contract(self) -> None:
        if (self.params.get("n") or 1) != 1:
            # The aggregator would be paid for n answers and only the first returned.
            raise SpecError(f"n={self.params['n']}: a mixture returns one answer, so n must be 1")
        last = self.pipeline.steps[-1]
        asked = sorted(k for k in ("tools", "functions", "response_format") if self.params.get(k))
        if asked and not isinstance(last, Aggregate):
            what = "one of the answers verbatim" if isinstance(last, Vote) else "the answers"
            raise SpecError(
                f"this pipeline returns {what}, so no model sees {', '.join(asked)}: "
                "end it with an aggregate step to use them"
            )

    async def complete(self) -> Outcome:
        self._start()
        return await self._within(self._complete())

    async def stream(self) -> AsyncIterator[StreamEvent]:
        """The final answer as it arrives; the last event carries the finish reason."""
        self._start()
        refs = await self.references()
        refs = await self._within(self._carry(refs))
        if not isinstance(self.pipeline.steps[-1], Aggregate):
            yield StreamEvent(self._unaggregated(refs))
            yield StreamEvent(finish_reason="stop")
            return
        step = self.pipeline.steps[-1]
        failures = []
        for place, member in enumerate(self._finalists()):
            entry = self._final_entry(place, member)
            started = time.perf_counter()
            read = _Read()
            try:
                async for event in self._read_final(entry, step, member, refs, read):
                    yield event
            except Exception as e:
                if getattr(e, "deadline", False):
                    raise
                entry.error = entry.error or describe(e)
                if read.produced:  # the answer is half sent: no fallback can take it back
                    cause = RuntimeError(f"failed mid-stream: {type(e).__name__}: {e}")
                    cause.__cause__ = e  # what the stream died of, for the error's message
                    failure = MemberFailure(entry.step, member.model, cause)
                    raise quorum_error(entry.step, 1, 0, [failure], member.model) from e
                failures.append(MemberFailure(entry.step, member.model, e))
                continue
            finally:
                entry.latency_ms = (time.perf_counter() - started) * 1000
                if read.complete or read.usage is not None:  # what a failed stream billed
                    entry.prompt_tokens, entry.completion_tokens = _tokens(read.usage)
                    entry.cost = _cost_from_usage(member.model, read.usage)
                    self._account(entry)
                if self.record:
                    entry.reply = {
                        "content": "".join(read.text),
                        "tool_calls": [c.model_dump() for c in read.tool_calls] or None,
                        "finish_reason": read.finish if read.complete else None,
                    }
                self._observe("end", entry)
            if read.produced:
                yield StreamEvent(finish_reason=read.finish)
                return
            entry.error = EMPTY if read.ended else CUT_OFF
            failures.append(MemberFailure(entry.step, member.model, ValueError(entry.error)))
        yield StreamEvent(self._last_resort(failures, refs))
        yield StreamEvent(finish_reason="stop")

    async def _read_final(
        self,
        entry: TraceEntry,
        step: Aggregate,
        member: Member,
        refs: list[tuple[str, str]],
        read: _Read,
    ) -> AsyncIterator[StreamEvent]:
        """One aggregator's stream, as events; what it used and how it ended go in ``read``."""
        stream = await self._within(
            self._call(
                entry,
                step,
                member,
                True,
                model=member.model,
                messages=self._final_messages(member, refs),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        try:
            # A leading reasoning block is held back: reasoning alone is an empty answer that a
            # fallback may still replace, which it no longer can once text has gone out.
            think, chunks = prompts.LeadingThink(), aiter(stream)
            while (chunk := await self._within(anext(chunks, None), entry)) is not None:
                read.usage = getattr(chunk, "usage", None) or read.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.delta.content:
                    if self.record:
                        read.text.append(choice.delta.content)
                    if text := think.feed(choice.delta.content):
                        read.produced = True
                        yield StreamEvent(text=text)
                for call in choice.delta.tool_calls or ():
                    read.produced = True
                    if self.record:
                        read.tool_calls.append(call)
                    yield StreamEvent(tool_call=call)
                read.finish = choice.finish_reason or read.finish
            if text := think.flush():
                read.produced = True
                yield StreamEvent(text=text)
            read.complete = True
            read.ended = getattr(stream, "received_finish_reason", "stop") is not None
        finally:
            if not read.complete:  # stopped early: give its connection back now, not at GC
                await _close(stream)

    def _unaggregated(self, refs: list[tuple[str, str]]) -> str:
        """The answer of a pipeline with no aggregator: a vote's pick, or mixtcha's options."""
        if isinstance(self.pipeline.steps[-1], Vote):
            return refs[0][1]
        return prompts.options_block(refs, self.pipeline.delimiter, None)

    def trace_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.trace]
