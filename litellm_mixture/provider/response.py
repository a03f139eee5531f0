"""A run's answer and record as litellm reads them: the response it fills, or the chunks of the
stream (a ``GenericStreamingChunk`` each), with the summed usage and the true summed cost."""

from __future__ import annotations

import logging
import time
from typing import Any

import litellm
from litellm.types.utils import CompletionTokensDetailsWrapper

from .. import _litellm
from ..engine import INTERMEDIATE, PANEL, Outcome, RunRecord, StreamEvent
from ..observe import report
from ..pricing import cost
from ..pricing.estimates import Estimate

logger = logging.getLogger("litellm_mixture")

# The field an ``estimate_only`` reply, and its stream's last chunk, carry the estimate in.
ESTIMATE_FIELD = "mixture_estimate"


def summary(name: str, record: RunRecord) -> dict[str, Any]:
    """What callbacks and the proxy's cost header see of a run (cost.carry, hidden params)."""
    return {
        "model": name,
        "mixture_id": record.id,
        "cost": record.usage.cost,
        "cost_complete": record.usage.cost_known,
        report.DEGRADED: report.degraded(record),
        "trace": record.trace_dicts(),
        "saved_calls": sum(report.saved_calls(record).values()),
    }


def _logged(name: str, record: RunRecord, lost: str | None) -> str | None:
    """What the run lost on the way (:func:`report.degraded`), logged once: each request's
    response (:func:`fill`) or stream end (:func:`last_chunk`) passes it here once."""
    if lost is not None:
        logger.warning("%s answered degraded (request %s): %s", name, record.id, lost)
    return lost


def _panel_tokens(record: RunRecord) -> int | None:
    """With the live panel, the tokens it showed as reasoning: every answer before the final
    step's. litellm would count the panel's text instead, and take it all for reasoning."""
    if record.pipeline.panel != "reasoning" and record.params.get(PANEL) != "reasoning":
        return None
    last = len(record.pipeline.steps) - 1
    return sum(e.completion_tokens for e in record.trace if e.step < last)


def usage(record: RunRecord) -> litellm.Usage:
    out = litellm.Usage(**record.usage.as_dict())
    if (panel := _panel_tokens(record)) is not None:
        out.completion_tokens_details = CompletionTokensDetailsWrapper(reasoning_tokens=panel)
    # litellm >= 1.10x reads usage.cost (responses, stream chunks, completion_cost).
    out.cost = record.usage.cost
    return out


def fill(name: str, response: Any, outcome: Outcome, record: RunRecord) -> Any:
    """litellm's ``model_response``, filled with the final answer and what the run used."""
    message = response.choices[0].message
    message.content = outcome.content
    if outcome.tool_calls:
        message.tool_calls = outcome.tool_calls
    if outcome.reasoning:
        message.reasoning_content = outcome.reasoning
    response.choices[0].finish_reason = outcome.finish_reason
    response.model = name
    response.created = int(time.time())
    response.usage = usage(record)
    figures = summary(name, record)
    lost = _logged(name, record, figures[report.DEGRADED])
    # What litellm 1.81's callbacks and the proxy's cost header read, and the proxy's degraded
    # header (proxy.ProxyGuard.async_post_call_response_headers_hook).
    hidden = {"response_cost": record.usage.cost, cost.HIDDEN_KEY: figures, report.DEGRADED: lost}
    _litellm.hide(response, **hidden)
    if lost is not None:
        setattr(response, report.DEGRADED, lost)  # in the body too, as mixture_cost
    # Sent on by the proxy, for its clients (cost.of).
    setattr(response, cost.FIELD, record.usage.cost)
    if record.params.get(INTERMEDIATE):
        response.intermediate_responses = report.intermediate_responses(record)
    return response


def _tool_use(call: Any) -> dict[str, Any]:
    fn = call.function
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": fn.name, "arguments": fn.arguments or ""},
        "index": getattr(call, "index", 0) or 0,
    }


# Where a chunk carries the live panel's text: litellm's generic chunk has no reasoning field, so
# it travels among the provider's fields and the patches move it into delta.reasoning_content.
REASONING = "mixture_reasoning"


def chunk(event: StreamEvent) -> dict[str, Any]:
    """A piece of the answer, as a chunk of the stream."""
    out: dict[str, Any] = {
        "text": event.text,
        "tool_use": _tool_use(event.tool_call) if event.tool_call is not None else None,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
    }
    if event.reasoning:
        out["provider_specific_fields"] = {REASONING: event.reasoning}
    return out


def last_chunk(name: str, finish: str, record: RunRecord) -> dict[str, Any]:
    """The stream's end: the finish reason, the usage, what the run cost, and what it lost."""
    # litellm lifts provider_specific_fields onto the chunk (chunk.mixture_cost), and the proxy
    # sends them on: a stream's cost reaches proxy clients that read no usage (aider's 1.81).
    # Its headers left before the members ran: mixture_degraded rides this chunk instead.
    fields: dict[str, Any] = {cost.FIELD: record.usage.cost}
    if (lost := _logged(name, record, report.degraded(record))) is not None:
        fields[report.DEGRADED] = lost
    if record.params.get(INTERMEDIATE):
        fields[INTERMEDIATE] = report.intermediate_responses(record)
    return _end(finish, usage(record), fields)


def _end(finish: str, used: litellm.Usage, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": "",
        "tool_use": None,
        "is_finished": True,
        "finish_reason": finish,
        "usage": used.model_dump(),
        "index": 0,
        "provider_specific_fields": fields,
    }


def _unused() -> litellm.Usage:
    out = litellm.Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
    out.cost = 0.0
    return out


def estimate_summary(estimate: Estimate) -> dict[str, Any]:
    """What callbacks see of an ``estimate_only`` request: no call, no cost, the estimate."""
    return {"model": estimate.model, "cost": 0.0, ESTIMATE_FIELD: estimate.model_dump()}


def estimated(response: Any, estimate: Estimate) -> Any:
    """litellm's ``model_response`` answering ``estimate_only``: the estimate as text and on
    ``mixture_estimate``; nothing was called, so usage and cost are 0."""
    response.choices[0].message.content = estimate.table()
    response.choices[0].finish_reason = "stop"
    response.model = estimate.model
    response.created = int(time.time())
    response.usage = _unused()
    _litellm.hide(response, response_cost=0.0, **{cost.HIDDEN_KEY: estimate_summary(estimate)})
    setattr(response, cost.FIELD, 0.0)
    setattr(response, ESTIMATE_FIELD, estimate.model_dump())
    return response


def estimate_chunks(estimate: Estimate) -> list[dict[str, Any]]:
    """An ``estimate_only`` stream: the estimate as text, then the end, which carries it."""
    text = chunk(StreamEvent(text=estimate.table()))
    fields = {cost.FIELD: 0.0, ESTIMATE_FIELD: estimate.model_dump()}
    return [text, _end("stop", _unused(), fields)]
