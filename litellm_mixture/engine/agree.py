"""A propose step with ``until_agree: K``: its calls run in waves and it stops as soon as K
answers agree, cancelling the calls still running and never making the rest.

The first wave is K calls; each time an answer comes in without agreement, as many more start
as the largest agreeing group still lacks, beyond the calls already running (at most the calls
left). So the largest group plus the calls running never exceed K: every call made could still
complete the agreement, none is made that could not, and when K agree no call is left running
(one that hangs holds the step until its ``timeout``, as in any fan-out without ``grace``).
Without agreement every call runs and the step passes on what it would without
``until_agree``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MemberFailure, NotStarted, describe
from ..spec import Propose
from ..spec.agreement import ByEmbedding, text_key
from .call import answer, settle
from .context import Context
from .quorum import Answer, Quorum, checked
from .records import TraceEntry
from .request import Ask, call_metadata

EMBEDDING = "embedding"  # the kind of the trace entry of an agreement's embedding call


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


@dataclass
class Groups:
    """The answers so far, grouped by agreement: each group's first key and its positions."""

    step: Propose
    keys: list[Any] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)

    def same(self, a: Any, b: Any) -> bool:
        by = self.step.agree_by
        return _cosine(a, b) >= by.threshold if isinstance(by, ByEmbedding) else a == b

    def add(self, position: int, key: Any) -> list[int]:
        """The group ``position`` joins (an answer without a key agrees with none)."""
        if key is None:
            return [position]
        for first, group in zip(self.keys, self.groups, strict=True):
            if self.same(first, key):
                group.append(position)
                return group
        self.keys.append(key)
        self.groups.append([position])
        return self.groups[-1]

    @property
    def largest(self) -> int:
        return max(map(len, self.groups), default=0)


async def _embedding(ctx: Context, ask: Ask, by: ByEmbedding, text: str) -> list[float] | None:
    """The answer's embedding, its call traced and billed; None (noted) if the call fails."""
    entry = TraceEntry(ask.entry.step, EMBEDDING, by.embedding, ask.entry.sample, ask.entry.member)
    ctx.recorder.add(entry)
    ctx.recorder.started(entry)
    started = time.perf_counter()
    timeout = ctx.setting(ask.step, "timeout") or ctx.timeout
    budget = ctx.recorder.budget
    # Priced as a call that reads the answer and writes nothing.
    priced = {
        "model": by.embedding,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 0,
    }
    try:
        if budget is not None and (why := budget.admit(entry, priced, ctx.recorder.usage.cost)):
            raise NotStarted(why, by.embedding)
        response = await ctx.embedder(
            model=by.embedding,
            input=[text],
            metadata=call_metadata(ctx, entry, None),
            **({} if timeout is None else {"timeout": timeout}),
        )
    except asyncio.CancelledError:
        entry.cancel()
        raise
    except Exception as e:
        entry.error = describe(e)
        ask.entry.add_note("its embedding failed: it agrees with no other answer")
        return None
    else:
        settle(ctx, entry, by.embedding, response, started)
        item = response.data[0]
        return list(item["embedding"] if isinstance(item, dict) else item.embedding)
    finally:
        entry.latency_ms = (time.perf_counter() - started) * 1000
        ctx.recorder.ended(entry)


async def _key(ctx: Context, ask: Ask, step: Propose, text: str) -> Any:
    by = step.agree_by
    if isinstance(by, ByEmbedding):
        return await _embedding(ctx, ask, by, text)
    return await asyncio.to_thread(text_key, by, text)  # a client's regex: off the event loop


@dataclass
class _Waves:
    """One step's calls: those not yet made, those running, and the answers in."""

    ctx: Context
    asks: Sequence[Ask]
    left: list[int]
    running: dict[asyncio.Task[Answer], int] = field(default_factory=dict)
    results: dict[int, Answer] = field(default_factory=dict)

    def start(self, wanted: int) -> None:
        wanted = max(0, wanted)
        for position in self.left[:wanted]:
            ask = self.asks[position]
            self.ctx.recorder.add(ask.entry)
            self.running[asyncio.ensure_future(answer(self.ctx, ask))] = position
        del self.left[:wanted]

    async def stop(self) -> None:
        for task in self.running:
            task.cancel()
        if self.running:
            await asyncio.wait(self.running)


async def _until_agreed(step: Propose, waves: _Waves, groups: Groups) -> list[int]:
    """Runs waves until K answers agree (their positions) or every call ended ([])."""
    k = step.until_agree or 1
    agreed: list[int] = []
    while not agreed:
        waves.start(k - groups.largest - len(waves.running))
        if not waves.running:
            return []
        done, _ = await asyncio.wait(waves.running, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(done, key=waves.running.__getitem__):
            position = waves.running.pop(task)
            result = waves.results[position] = task.result()
            if isinstance(result, MemberFailure):
                continue
            key = await _key(waves.ctx, waves.asks[position], step, result[1])
            group = groups.add(position, key)
            if len(group) >= k:
                agreed = list(group)
    return agreed


async def until_agree(ctx: Context, index: int, step: Propose, asks: Sequence[Ask]) -> list[Answer]:
    """The step's answers: the K agreeing ones first, then the rest, in order; or, without
    agreement, every one in order. Failures stay in place, for the quorum."""
    waves = _Waves(ctx, asks, list(range(len(asks))))
    try:
        agreed = await _until_agreed(step, waves, Groups(step))
    finally:
        await waves.stop()  # only when the step itself is cut (the deadline): see the docstring
    if agreed:
        ctx.recorder.agreed.add(index)
        asks[agreed[-1]].entry.add_note(
            f"agreement reached: {len(agreed)} answers agree; "
            f"{len(waves.left)} of {len(asks)} calls not made"
        )
    rest = [p for p in sorted(waves.results) if p not in agreed]
    results = [waves.results[p] for p in [*agreed, *rest]]
    need = len(results) if ctx.whole_only else step.min_successful
    return checked(index, step, Quorum(need), results)
