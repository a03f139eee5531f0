"""The CustomLLM adapter: ``mixture/<spec>`` in, one ordinary LiteLLM response out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm import CustomLLM

from . import _sync
from .engine import Caller, Outcome, Run, litellm_caller
from .names import PREFIX, decode

HIDDEN_KEY = "mixture"


def _tool_use(call: Any) -> dict[str, Any]:
    fn = call.function
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": fn.name, "arguments": fn.arguments or ""},
        "index": getattr(call, "index", 0) or 0,
    }


class MixtureLLM(CustomLLM):
    """Runs the pipeline named by the model string. Register it as provider ``mixture``."""

    def __init__(self, caller: Caller = litellm_caller) -> None:
        super().__init__()
        self.caller = caller

    def _run(self, model: str, messages: list, call: dict[str, Any]) -> Run:
        pipeline = decode(model)
        timeout = call.get("timeout")
        seconds = timeout if isinstance(timeout, (int, float)) else None
        params = dict(call.get("optional_params") or {})
        return Run(pipeline, list(messages), params, self.caller, seconds)

    def _summary(self, model: str, run: Run) -> dict[str, Any]:
        return {
            "model": PREFIX + model,
            "cost": run.usage.cost,
            "cost_complete": run.usage.cost_known,
            "trace": run.trace_dicts(),
        }

    def _usage(self, run: Run) -> litellm.Usage:
        usage = litellm.Usage(**run.usage.as_dict())
        # litellm >= 1.10x reads usage.cost (responses, stream chunks, completion_cost).
        usage.cost = run.usage.cost
        return usage

    def _fill(self, model: str, response: Any, outcome: Outcome, run: Run) -> Any:
        message = response.choices[0].message
        message.content = outcome.content
        if outcome.tool_calls:
            message.tool_calls = outcome.tool_calls
        response.choices[0].finish_reason = outcome.finish_reason
        response.model = PREFIX + model
        response.created = int(time.time())
        response.usage = self._usage(run)
        # What litellm 1.81's callbacks and the proxy's cost header read.
        response._hidden_params["response_cost"] = run.usage.cost
        response._hidden_params[HIDDEN_KEY] = self._summary(model, run)
        return response

    # litellm calls every entry point with keyword arguments only (model_response,
    # optional_params, logging_obj, timeout, ...); these read just what they use.

    async def acompletion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        run = self._run(model, messages, kwargs)
        outcome = await run.complete()
        return self._fill(model, kwargs["model_response"], outcome, run)

    def completion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        return _sync.run(self.acompletion(model, messages, **kwargs))

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        run = self._run(model, messages, kwargs)
        finish = "stop"
        async for event in run.stream():
            if event.finish_reason is not None:
                finish = event.finish_reason
                continue
            yield {
                "text": event.text,
                "tool_use": _tool_use(event.tool_call) if event.tool_call is not None else None,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
            }
        usage = self._usage(run).model_dump()
        _carry_stream_cost(kwargs.get("logging_obj"), run.usage.cost, self._summary(model, run))
        yield {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": finish,
            "usage": usage,
            "index": 0,
        }

    def streaming(self, model: str, messages: list, **kwargs: Any) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return _sync.iterate(self.astreaming(model, messages, **kwargs))


def _carry_stream_cost(logging_obj: Any, cost: float, summary: dict[str, Any]) -> None:
    """Make this request's success callbacks see the mixture's summed cost.

    A stream's logged response is rebuilt from its chunks, and older litellm (1.81) prices it
    by looking the ``mixture/...`` name up in its cost map, which fails. The override is set on
    this request's own logging object only.
    """
    if logging_obj is None:
        return
    logging_obj._response_cost_calculator = lambda *args, **kwargs: cost
    logging_obj.model_call_details[HIDDEN_KEY] = summary
