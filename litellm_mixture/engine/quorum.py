"""Fanning a step's calls out at once, and the quorum that says when the step may stop waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MemberFailure, quorum_error
from ..spec import Propose, Refine, Synthesize
from .call import answer
from .context import Context
from .panel import Hearer
from .request import Ask

Answer = tuple[str, str] | MemberFailure


@dataclass(frozen=True)
class Quorum:
    """``need`` answers make a step; once it has them, the calls still running get ``grace``
    seconds more (None: every call is awaited)."""

    need: int
    grace: float | None = None

    def met(self, ok: int) -> bool:
        return ok >= self.need

    def hopeless(self, ok: int, running: int) -> bool:
        return ok + running < self.need

    @property
    def awaits_all(self) -> bool:
        """Nothing can end the wait early: every call is awaited and one answer is enough."""
        return self.grace is None and self.need <= 1

    def why_cut(self, ok: int) -> str:
        if not self.met(ok):
            return "cancelled: the quorum could no longer be met"
        return f"cut: still running {self.grace or 0:g}s after the quorum"


async def _settle(tasks: set[asyncio.Task[Answer]], quorum: Quorum) -> tuple[set, int]:
    """Waits until the quorum is met and its grace over, it is out of reach, or every task
    ended; returns the tasks still running and the answers in."""
    pending, cut_at, ok = set(tasks), None, 0
    if quorum.awaits_all:
        # gather is the cheapest way to wait (and cancels every task if we are cancelled).
        await asyncio.gather(*tasks)
        return set(), sum(1 for t in tasks if not isinstance(t.result(), MemberFailure))
    while pending:
        wait = None if cut_at is None else max(0.0, cut_at - time.monotonic())
        done, pending = await asyncio.wait(
            pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        ok += sum(1 for t in done if not isinstance(t.result(), MemberFailure))
        if not done or quorum.hopeless(ok, len(pending)):
            break  # the grace period is over, or the quorum can no longer be met
        if quorum.met(ok) and quorum.grace is not None and cut_at is None:
            cut_at = time.monotonic() + quorum.grace
    return pending, ok


async def fan_out(
    ctx: Context,
    index: int,
    step: Propose | Synthesize | Refine,
    asks: Sequence[Ask],
    hear: Hearer | None = None,
) -> list[Answer]:
    """Makes the calls at once; returns each one's answer or failure, in order, once the step's
    quorum says it may stop waiting. Calls cut then are failures marked ``cut``."""
    need = len(asks) if ctx.whole_only else step.min_successful
    quorum = Quorum(need, ctx.setting(step, "grace"))
    ctx.recorder.add(*(ask.entry for ask in asks))
    tasks = [asyncio.ensure_future(answer(ctx, ask, hear)) for ask in asks]
    pending: set = set(tasks)
    try:
        pending, ok = await _settle(pending, quorum)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    why = quorum.why_cut(ok)
    results = [
        _cut(index, ask, why) if t.cancelled() else t.result()
        for ask, t in zip(asks, tasks, strict=True)
    ]
    return checked(index, step, quorum, results)


def _cut(index: int, ask: Ask, why: str) -> MemberFailure:
    """A call the mixture cancelled, marked so on its trace entry."""
    ask.entry.stop(why)
    return MemberFailure(index, ask.entry.model, TimeoutError(why), True)


def checked(
    index: int, step: Propose | Synthesize | Refine, quorum: Quorum, results: list[Answer]
) -> list[Answer]:
    """``results``, if they make the quorum; else the typed error naming the failures."""
    answered = sum(1 for r in results if not isinstance(r, MemberFailure))
    if not quorum.met(answered):
        failures = [r for r in results if isinstance(r, MemberFailure)]
        members = "+".join(m.model for m in step.members)
        raise quorum_error(index, quorum.need, answered, failures, members)
    return results
