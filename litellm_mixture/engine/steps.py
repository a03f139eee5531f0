"""Every step before the final answer, as one ``match``: each takes the previous step's answers
and returns the answers it passes on."""

from __future__ import annotations

import asyncio
import logging

from typing_extensions import assert_never

from ..common import prompts
from ..errors import MemberFailure, quorum_error
from ..spec import (
    Aggregate,
    Dropout,
    Filter,
    Map,
    Member,
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
from ..spec.schema import Reshaping
from .agree import until_agree
from .call import answer, first_answer
from .context import Context
from .panel import Hearer
from .quorum import fan_out
from .records import TraceEntry
from .request import Ask, Refs, messages

logger = logging.getLogger("litellm_mixture")


async def references(ctx: Context, until: int | None = None) -> Refs:
    """Runs every step before the final one (or before step ``until``); returns the last
    layer's (model, answer)s."""
    refs: Refs = []
    within = ctx.clock.within
    for index, step in enumerate(ctx.pipeline.steps[:until]):
        match step:
            case Aggregate():
                break
            case Propose() | Synthesize():
                refs = await within(layer(ctx, index, step, refs))
            case Refine():
                refs = await within(_refine(ctx, index, step, refs))
            case Rank() | Vote():
                refs = await within(_judge(ctx, index, step, refs))
            case Filter():  # a client's patterns (or the caller's fn) run off the event loop
                refs = await within(asyncio.to_thread(_transform, ctx, index, step, refs))
            case Shuffle() | Dropout() | Sample() | Take() | Map():
                refs = _transform(ctx, index, step, refs)
            case _:
                assert_never(step)
        ctx.recorder.passed(index, step.kind, refs)
    return refs


async def layer(
    ctx: Context, index: int, step: Propose | Synthesize, refs: Refs, hear: Hearer | None = None
) -> Refs:
    asks = []
    for place, member in enumerate(step.members):
        msgs = messages(ctx, step, member, refs)
        for sample in range(member.samples):
            entry = TraceEntry(index, step.kind, member.model, sample, place)
            entry.samples = member.samples
            asks.append(Ask(entry, step, member, msgs))
    if isinstance(step, Propose) and step.until_agree is not None:
        results = await until_agree(ctx, index, step, asks)
    else:
        results = await fan_out(ctx, index, step, asks, hear)
    return [r for r in results if not isinstance(r, MemberFailure)]


async def _refine(ctx: Context, index: int, step: Refine, refs: Refs) -> Refs:
    asks = []
    for i, ref in enumerate(refs):
        place = i % len(step.members)
        member = step.members[place]
        entry = TraceEntry(index, step.kind, member.model, i, place)
        asks.append(Ask(entry, step, member, messages(ctx, step, member, [ref])))
    results = await fan_out(ctx, index, step, asks)
    # A failed refinement leaves its answer as it was (the trace entry says why).
    return [
        ref if isinstance(r, MemberFailure) else r for ref, r in zip(refs, results, strict=True)
    ]


async def single(
    ctx: Context, index: int, step: Rank | Vote | SelfMoaSeq, refs: Refs, sample: int = 0
) -> tuple[str, str]:
    """One answer from the step's member, or from its fallbacks in order."""

    async def attempt(place: int, member: Member) -> tuple[str, str] | MemberFailure:
        entry = TraceEntry(index, step.kind, member.model, sample, place)
        ctx.recorder.add(entry)
        return await answer(ctx, Ask(entry, step, member, messages(ctx, step, member, refs)))

    members = ctx.tried(step)
    found = await first_answer(members, attempt)
    if isinstance(found, list):
        raise quorum_error(index, 1, 0, found, "+".join(m.model for m in members))
    return found


async def _judge(ctx: Context, index: int, step: Rank | Vote, refs: Refs) -> Refs:
    """The answers a judge keeps, best first. Its answer is read as response numbers."""
    if len(refs) == 1:
        return refs  # nothing to judge
    if isinstance(step, Vote) and index - 1 in ctx.recorder.agreed:
        return refs[:1]  # the answers before it agreed: the first of them is the consensus
    keep = min(step.n if isinstance(step, Rank) else 1, len(refs))
    numbered = [(str(i), text) for i, (_, text) in enumerate(refs, 1)]
    judge, said = await single(ctx, index, step, numbered)
    entry = ctx.recorder.trace[-1]
    picks = prompts.read_choice(said, len(refs))[:keep]
    if len(picks) < keep:
        if not picks and step.on_unclear == "fail":
            entry.error = f"unclear answer: no response number in {said!r:.120}"
            failure = MemberFailure(index, judge, ValueError(entry.error))
            raise quorum_error(index, 1, 0, [failure], judge)
        unclear = (
            f"named {len(picks)} of the {keep} asked for (among {len(refs)} responses) in "
            f"{said!r:.120}; the rest kept in the order they came"
        )
        entry.add_note(unclear)
        logger.warning("%s step %d: the judge %s %s", step.kind, index + 1, judge, unclear)
        picks += [i for i in range(len(refs)) if i not in picks][: keep - len(picks)]
    return [refs[i] for i in picks]


def _transform(ctx: Context, index: int, step: Reshaping, refs: Refs) -> Refs:
    rng = ctx.rng
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
        case _:
            assert_never(step)
    if not refs:
        why = ValueError(f"{step!r} kept none of the answers")
        raise quorum_error(index, 1, 0, [MemberFailure(index, step.kind, why)], step.kind)
    return refs


async def carry(ctx: Context, refs: Refs) -> Refs:
    """Self-MoA-Seq: all but the last window, each synthesis carried into the next."""
    step, index = ctx.last, ctx.last_index
    if not isinstance(step, SelfMoaSeq) or len(refs) <= step.window:
        return refs
    size = step.window
    window, rest, sample = refs[:size], refs[size:], 0
    while rest:
        synthesis = await ctx.clock.within(single(ctx, index, step, window, sample))
        ctx.recorder.passed(index, step.kind, [synthesis])
        window, rest, sample = [synthesis, *rest[: size - 1]], rest[size - 1 :], sample + 1
    return window
