"""A run: one pipeline over one conversation, the final answer streamed or whole, and the
record of what it did."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ..spec import Aggregate, Pipeline
from .budget import Budget, Pricer
from .context import (
    LITELLM_FACTS,
    NO_ENDPOINT,
    Caller,
    Clock,
    Context,
    Endpoint,
    Facts,
    litellm_caller,
    litellm_embedder,
)
from .early import early_events
from .final import answer_events
from .panel import Panel, Result
from .params import Lookup, takes
from .records import Observer, Outcome, Recorder, RunRecord, StreamEvent
from .request import Refs, check_contract
from .steps import carry, references


async def _references(ctx: Context) -> Refs:
    return await carry(ctx, await references(ctx))


class Run:
    """One pipeline run over one conversation. Not reusable.

    ``timeout`` is the caller's: like the pipeline's ``deadline``, it bounds the whole run (the
    sooner of the two wins), and it is each member call's own limit too. ``max_tokens`` caps
    every call's (the policy's, for clients); ``max_cost`` is the run's budget in USD (the
    provider checks the estimate against it before the run; while it runs, no call starts that
    could break it: ``pricer`` bounds each call, ``facts.worst`` when none is given).
    ``metadata`` is set on every member call's LiteLLM metadata, beside the run's own keys.
    ``takes`` says what a member's model takes (litellm's lists; the provider resolves proxy
    aliases first). ``keep_calls`` keeps each call's request and reply on its trace entry
    (intermediate responses, dumps). ``panel`` streams every member's answer to the caller as
    reasoning while the steps before the final one run. ``facts`` answers what a model costs,
    what it reads and whether it takes a prefill (the host's; litellm's model map by default).
    ``endpoint`` is the caller's ``api_base`` / ``api_key``, for the members that name no
    endpoint of their own.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        caller: Caller = litellm_caller,
        timeout: float | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        pricer: Pricer | None = None,
        metadata: dict[str, Any] | None = None,
        takes: Lookup = takes,
        observer: Observer | None = None,
        keep_calls: bool = False,
        panel: bool = False,
        embedder: Caller = litellm_embedder,
        endpoint: Endpoint = NO_ENDPOINT,
        facts: Facts = LITELLM_FACTS,
    ) -> None:
        params = params or {}
        check_contract(pipeline, params)
        budget = None if max_cost is None else Budget(max_cost, pricer or facts.worst)
        recorder = Recorder(keep_calls, observer, budget)
        models = ">".join("+".join(m.model for m in s.members) for s in pipeline.steps)
        self.context = Context(
            pipeline=pipeline,
            messages=messages,
            params=params,
            caller=caller,
            clock=Clock(pipeline.deadline, timeout, recorder.trace, models),
            recorder=recorder,
            metadata=metadata or {},
            takes=takes,
            timeout=timeout,
            max_tokens=max_tokens,
            max_cost=max_cost,
            id=uuid.uuid4().hex,
            rng=random.Random(pipeline.seed),
            panel=Panel() if panel else None,
            embedder=embedder,
            endpoint=endpoint,
            facts=facts,
        )

    @property
    def id(self) -> str:
        return self.context.id

    def record(self) -> RunRecord:
        """What the run has done so far: its calls, usage and cost, what each step passed on."""
        ctx = self.context
        request = (ctx.pipeline, ctx.messages, ctx.params, ctx.metadata)
        return RunRecord(ctx.id, *request, *ctx.recorder.snapshot())

    async def _events(self, stream: bool) -> AsyncGenerator[StreamEvent, None]:
        ctx = self.context
        ctx.clock.start()
        early = isinstance(ctx.last, Aggregate) and ctx.last.early is not None
        work = references(ctx, until=-2) if early else _references(ctx)
        if ctx.panel is None:
            refs = await work
        else:
            heard: Result[Refs] = Result()
            async for event in ctx.panel.during(work, heard):
                yield event
            refs = heard.value
        final = early_events(ctx, refs) if early else answer_events(ctx, refs, stream)
        async with contextlib.aclosing(final) as events:
            async for event in events:
                yield event

    def stream(self) -> AsyncIterator[StreamEvent]:
        """The final answer as it arrives; the last event carries the finish reason."""
        return self._events(stream=True)

    async def complete(self) -> Outcome:
        """The final answer, read whole: the streamed answer's events, collected."""
        texts: list[str] = []
        calls: list[Any] = []
        reasoning: list[str] = []
        finish = "stop"
        async with contextlib.aclosing(self._events(stream=False)) as events:
            async for event in events:
                if event.finish_reason is not None:
                    finish = event.finish_reason
                elif event.tool_call is not None:
                    calls.append(event.tool_call)
                elif event.reasoning:
                    reasoning.append(event.reasoning)
                else:
                    texts.append(event.text)
        content = "".join(texts) if texts else None
        return Outcome(content, calls or None, finish, "".join(reasoning) or None)
