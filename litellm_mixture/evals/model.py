"""``mixture/<spec>`` as an Inspect AI model API: ``inspect eval task.py --model mixture/moa-lite``.

Each generate is one ``litellm.acompletion`` of the mixture, with Inspect's messages, tools and
generation settings. What Inspect would do by default, and a mixture must not:

- price the call from the model's name (it fuzzy-matches ``mixture/openai/gpt-4o-mini`` to
  gpt-4o-mini): :meth:`MixtureAPI.served_model_usage` hands it the run's summed cost instead;
- run 20 to 100 samples at once, adaptively (each sample makes every member call of a run):
  unless told otherwise, samples run statically, as many as keep about
  :data:`MEMBER_CALLS_IN_FLIGHT` member calls in flight;
- retry without end, each retry re-running (and paying for) the whole pipeline: the members
  already retry inside the run, so only rate limits and dropped connections are retried, at
  most :data:`MAX_RETRIES` times unless told otherwise.

The spec: the model name after ``mixture/``, or ``-M spec=...`` (an inline YAML spec holds
commas, which Inspect's ``--model`` splits on). A bad spec fails when the model is made, before
any call. ``-M`` arguments other than ``spec`` are passed to the mixture as request params
(``-M max_cost=0.05``).
"""

from __future__ import annotations

import time
from typing import Any

import litellm
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelCall,
    ModelCost,
    ModelOutput,
    ModelUsage,
    RetryDecision,
    ServedModelUsage,
    messages_to_openai,
    model_output_from_openai,
)

# Inspect's own mapping of its settings and tools to OpenAI's chat fields (not exported).
from inspect_ai.model._openai import (
    openai_chat_tool_choice,
    openai_chat_tools,
    openai_completion_params,
)
from inspect_ai.solver._task_state import sample_state  # the running sample (not exported)
from inspect_ai.tool import ToolChoice, ToolInfo

import litellm_mixture

from .. import _litellm
from ..common.retry import retry_after
from ..errors import MixtureError
from ..pricing import cost, estimates
from ..spec import PREFIX, decode

MEMBER_CALLS_IN_FLIGHT = 16
"""About how many member calls the samples running at once make together, by default."""
MAX_RETRIES = 2
"""Retries of a whole run (rate limited, or its connection dropped), by default."""
METADATA_KEY = "mixture_runs"
"""Where each run's summary (cost, trace, degraded) goes in the sample's metadata."""
DEGRADED_KEY = "mixture_degraded"
"""Set in a response's hidden params when the run answered with less than it was built for."""
# Inspect prices a call as tokens x $/million; the run's cost as a million "tokens" at its
# price in dollars is that cost exactly.
_MILLION = 1_000_000


class MixtureAPI(ModelAPI):
    """One ``mixture/<spec>`` model for Inspect (see the module's docstring)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        spec: str | None = None,
        **model_args: Any,
    ) -> None:
        config = config if config is not None else GenerateConfig()
        super().__init__(model_name, base_url, api_key, [], config)
        litellm_mixture.register()
        self.spec = PREFIX + (spec or model_name).removeprefix(PREFIX)
        pipeline = decode(self.spec)  # a bad spec: SpecError now, before any call
        self.params = model_args
        calls = estimates.estimate(pipeline, [{"role": "user", "content": ""}]).calls
        self.samples_at_once = max(1, MEMBER_CALLS_IN_FLIGHT // max(1, calls))
        # get_model hands the Model this same config: the defaults set here are the model's.
        if config.adaptive_connections is None and config.max_connections is None:
            config.adaptive_connections = False
        if config.max_retries is None:
            config.max_retries = MAX_RETRIES

    def max_connections(self) -> int:
        return self.samples_at_once

    def should_retry(self, ex: Exception) -> bool | RetryDecision:
        if isinstance(ex, litellm.RateLimitError):
            return RetryDecision.rate_limit(retry_after(ex))
        # A run's own failures (members failed after their retries, a refused request) are
        # final; a connection that dropped outside the run is worth one more try.
        return isinstance(ex, litellm.APIConnectionError) and not isinstance(ex, MixtureError)

    def served_model_usage(self, output: ModelOutput) -> list[ServedModelUsage] | None:
        spent = output.usage.total_cost if output.usage else None
        if spent is None:
            return None
        price = ModelCost(input=spent, output=0.0, input_cache_write=0.0, input_cache_read=0.0)
        return [ServedModelUsage(self.spec, ModelUsage(input_tokens=_MILLION), price)]

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput | Exception, ModelCall]:
        request = self._request(await messages_to_openai(input), tools, tool_choice, config)
        started = time.monotonic()
        response = await litellm.acompletion(**request)
        took = time.monotonic() - started
        output = await model_output_from_openai(response.model_dump())
        output.time = took
        run = _run_summary(response)
        if output.usage is not None:
            output.usage.total_cost = run["cost"]
        output.metadata = {"mixture": run}
        state = sample_state()
        if state is not None:
            state.metadata.setdefault(METADATA_KEY, []).append(run)
        return output, ModelCall.create(request, response.model_dump(), time=took)

    def _request(
        self,
        messages: list[Any],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        request = {**self.params, **openai_completion_params(self.spec, config, bool(tools))}
        request["messages"] = messages
        if tools:
            request["tools"] = openai_chat_tools(tools)
            request["tool_choice"] = openai_chat_tool_choice(tool_choice)
        return request


def _run_summary(response: Any) -> dict[str, Any]:
    """What the sample's metadata keeps of one run: its summed cost, whether it was degraded,
    each call's model, time, tokens, cost and error."""
    hidden = _litellm.hidden(response)
    summary = dict(hidden.get(cost.HIDDEN_KEY) or {})
    summary["cost"] = cost.of(response) or 0.0
    summary["degraded"] = hidden.get(DEGRADED_KEY) or None
    return summary
