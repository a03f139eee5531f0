"""Runs a pipeline over a conversation: fan-out, quorum, references, trace, usage and cost.

Knows nothing about CustomLLM, the proxy, the policy or the CLI. Every member call goes through
one seam, a :data:`Caller` (``litellm.acompletion`` by default), so LiteLLM's providers, keys,
retries and callbacks apply. The flow, one module per job::

    Run (run.py) ── steps.references ── quorum.fan_out / call.first_answer ── call.call ── Caller
       │                    (one match over the steps)       (one member call, its retries)
       └── final.answer_events (the aggregator, streamed or whole; fallbacks)

All of them share one immutable :class:`~.context.Context` (the request, the caller, the
:class:`~.context.Clock` whose ``within`` bounds every await, the seeded rng, the
:class:`~.records.Recorder`); a reader gets a frozen :class:`RunRecord`.
"""

from .context import LITELLM_FACTS, Caller, Clock, Endpoint, Facts, litellm_caller, litellm_embedder
from .quorum import Quorum
from .records import Observer, Outcome, RunRecord, StepResult, StreamEvent, TraceEntry, Usage
from .request import ESTIMATE_ONLY, INTERMEDIATE, MAX_COST, PANEL, check_prompt
from .run import Run

__all__ = [
    "ESTIMATE_ONLY",
    "INTERMEDIATE",
    "LITELLM_FACTS",
    "MAX_COST",
    "PANEL",
    "Caller",
    "Clock",
    "Endpoint",
    "Facts",
    "Observer",
    "Outcome",
    "Quorum",
    "Run",
    "RunRecord",
    "StepResult",
    "StreamEvent",
    "TraceEntry",
    "Usage",
    "check_prompt",
    "litellm_caller",
    "litellm_embedder",
]
