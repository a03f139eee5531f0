"""Running a pipeline directly from Python, without going through litellm.completion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .engine import Run, StepResult
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


async def run(
    pipeline: Pipeline | Sequence[Any] | str, messages: list[dict[str, Any]] | str, **params: Any
) -> Result:
    """Runs ``pipeline`` over a conversation: a Pipeline, a list of steps (as in mixture-llm)
    or a ``mixture/...`` string.

    ``messages`` may be a plain question. ``params`` are what ``litellm.completion`` would take
    (temperature, tools, max_tokens, ...); the caller's contract binds the final step as usual.
    """
    if isinstance(pipeline, str):
        pipeline = decode(pipeline)
    elif not isinstance(pipeline, Pipeline):
        pipeline = pipeline_from_document({"steps": list(pipeline)})
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    timeout = params.pop("timeout", None)
    execution = Run(pipeline, list(messages), params, timeout=timeout)
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
