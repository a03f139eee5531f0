"""Running a pipeline directly from Python, without going through litellm.completion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .engine import Run, StepResult
from .pricing import estimates
from .spec import Pipeline, decode, pipeline_from_document


@dataclass(frozen=True)
class Result:
    """A run's final answer, what it used and cost, and what each step passed on."""

    content: str | None
    tool_calls: list[Any] | None
    finish_reason: str
    usage: dict[str, int]
    cost: float
    history: list[StepResult]
    trace: list[dict[str, Any]]


Spec = Pipeline | Sequence[Any] | str
Conversation = list[dict[str, Any]] | str


def _pipeline(spec: Spec) -> tuple[str, Pipeline]:
    """A Pipeline, a list of steps (as in mixture-llm) or a ``mixture/...`` string, and its name."""
    if isinstance(spec, str):
        return spec, decode(spec)
    if isinstance(spec, Pipeline):
        return "pipeline", spec
    return "pipeline", pipeline_from_document({"steps": list(spec)})


def _conversation(messages: Conversation) -> list[dict[str, Any]]:
    return [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)


async def run(pipeline: Spec, messages: Conversation, **params: Any) -> Result:
    """Runs ``pipeline`` over a conversation: a Pipeline, a list of steps (as in mixture-llm)
    or a ``mixture/...`` string.

    ``messages`` may be a plain question. ``params`` are what ``litellm.completion`` would take
    (temperature, tools, max_tokens, ...); the caller's contract binds the final step as usual.
    With a ``max_cost`` (the param's or the spec's), a run whose worst case costs more is
    refused with a :class:`~litellm_mixture.errors.BudgetError` before any call, and while it
    runs no call starts that could take it past the budget.
    """
    name, pipeline = _pipeline(pipeline)
    conversation = _conversation(messages)
    budget = estimates.budget(params, pipeline)
    if budget is not None:
        estimates.check(estimates.estimate(pipeline, conversation, params, model=name), budget)
    timeout = params.pop("timeout", None)
    cap = budget[0] if budget is not None else None
    pricer = estimates.in_process_pricer()
    execution = Run(pipeline, conversation, params, timeout=timeout, max_cost=cap, pricer=pricer)
    outcome = await execution.complete()
    record = execution.record()
    return Result(
        content=outcome.content,
        tool_calls=outcome.tool_calls,
        finish_reason=outcome.finish_reason,
        usage=record.usage.as_dict(),
        cost=record.usage.cost,
        history=list(record.history),
        trace=record.trace_dicts(),
    )


def estimate(
    pipeline: Spec,
    messages: Conversation | None = None,
    *,
    expected_tokens: int = estimates.EXPECTED_TOKENS,
    **params: Any,
) -> estimates.Estimate:
    """What running ``pipeline`` on ``messages`` may cost, per step and in total, before
    anything is called: the calls, and the cost's likely and worst case at litellm's prices
    (see :mod:`litellm_mixture.pricing.estimates`). ``expected_tokens`` is the likely case's answer
    length per call; ``params`` are the caller's, as for :func:`run`. Without ``messages``, the
    conversation is one empty user turn.
    """
    name, pipeline = _pipeline(pipeline)
    conversation = _conversation(messages or "")
    return estimates.estimate(
        pipeline, conversation, params, model=name, expected_tokens=expected_tokens
    )
