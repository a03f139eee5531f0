"""Prometheus series of the mixtures a process serves, beside LiteLLM's own (its ``prometheus``
callback counts every member call per model, as for any call, and serves ``/metrics``).

Add ``mixture_hooks.mixture_metrics`` to the proxy's ``callbacks`` (see docs/deploy.md). Every
series is labelled by the spec's :func:`label` only, so their number stays bounded whatever
clients send: an operator's model_list entry or a preset by its name, any other spec by a short
hash, and past :data:`MAX_HASHED` distinct hashes, ``other``.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..common.state import STATE
from ..errors import BudgetError, MembersOverBudgetError
from ..pricing import cost
from ..spec import PREFIX
from ..spec.presets import preset_names
from .report import DEGRADED

# The provider name mixtures are registered under (litellm_mixture.PROVIDER).
PROVIDER = PREFIX.rstrip("/")

# Client specs labelled by hash before the rest share the label "other".
MAX_HASHED = 64


@functools.lru_cache(maxsize=1)
def _presets() -> frozenset[str]:
    return frozenset(preset_names())


def label(spec: str, entry: str | None = None) -> str:
    """The spec's name in metrics: ``entry`` (an operator's model_list name), a preset's name,
    or ``spec-<hash>``; never the client's text."""
    if entry is not None:
        return entry
    if spec.removeprefix(PREFIX) in _presets():
        return spec.removeprefix(PREFIX)
    digest = hashed(spec)
    if digest not in STATE.hashed and len(STATE.hashed) >= MAX_HASHED:
        return "other"
    STATE.hashed[digest] = None
    return digest


def hashed(spec: str) -> str:
    """``spec-<hash>``: the label of a spec that is neither an entry nor a preset, while
    fewer than ``MAX_HASHED`` of them have been seen (then ``other``)."""
    return "spec-" + hashlib.sha256(spec.removeprefix(PREFIX).encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=1)
def _series() -> dict[str, Any] | None:
    try:
        from prometheus_client import Counter, Histogram
    except ImportError:
        return None
    seconds = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
    by = ["spec"]
    return {
        "requests": Counter(
            "litellm_mixture_requests", "Mixture requests by outcome", [*by, "outcome"]
        ),
        "calls": Histogram(
            "litellm_mixture_member_calls",
            "Member calls per mixture request",
            by,
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48),
        ),
        "saved": Counter("litellm_mixture_saved_calls", "Member calls saved by agreement", by),
        "degraded": Counter(
            "litellm_mixture_degraded_requests", "Answered with fewer members than asked", by
        ),
        "refused": Counter("litellm_mixture_budget_refusals", "Refused over max_cost", by),
        "first_token": Histogram(
            "litellm_mixture_time_to_first_token_seconds", "To the first token", by, buckets=seconds
        ),
        "answer": Histogram(
            "litellm_mixture_answer_seconds", "To the whole answer", by, buckets=seconds
        ),
    }


def _metadata(kwargs: dict[str, Any]) -> dict[str, Any]:
    params = kwargs.get("litellm_params") or {}
    return {
        k: v for key in ("litellm_metadata", "metadata") for k, v in (params.get(key) or {}).items()
    }


def _spec_label(kwargs: dict[str, Any]) -> str | None:
    """The label of a top-level mixture request (None: another call, or a member call)."""
    # litellm logs a custom provider's call by the name after ``mixture/``.
    model = kwargs.get("model")
    provider = kwargs.get("custom_llm_provider")
    metadata = _metadata(kwargs)
    if provider != PROVIDER or not isinstance(model, str) or "mixture_id" in metadata:
        return None
    from ..provider import proxy  # the proxy's model_list: names only its operator chose

    known = proxy.models()
    group = metadata.get("model_group")
    entry = group if known is not None and group in known.targets else None
    return label(model, entry)


def _seconds(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start).total_seconds())
    return None


def degraded(summary: dict[str, Any]) -> bool:
    """Whether a step went on with fewer members than asked: the run summary's degraded line
    (report.degraded, the one definition the response, header and CLI use too)."""
    return bool(summary.get(DEGRADED))


class MixtureMetrics(CustomLogger):
    """Counts each mixture request when it ends (see the module's docstring)."""

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        series, spec = _series(), _spec_label(kwargs)
        if series is None or spec is None:
            return
        summary = kwargs.get(cost.HIDDEN_KEY)
        if kwargs.get("cache_hit") or not isinstance(summary, dict):
            series["requests"].labels(spec, "cache_hit").inc()
            return
        series["requests"].labels(spec, "ok").inc()
        series["calls"].labels(spec).observe(len(summary.get("trace", ())))
        series["saved"].labels(spec).inc(summary.get("saved_calls", 0))
        if degraded(summary):
            series["degraded"].labels(spec).inc()
        first = kwargs.get("completion_start_time") or end_time
        for name, took in (
            ("first_token", _seconds(start_time, first)),
            ("answer", _seconds(start_time, end_time)),
        ):
            if took is not None:
                series[name].labels(spec).observe(took)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        series, spec = _series(), _spec_label(kwargs)
        if series is None or spec is None:
            return
        error = kwargs.get("exception")
        # The outcome label is an exception class of litellm's or ours: a bounded set.
        series["requests"].labels(spec, type(error).__name__ if error else "error").inc()
        if isinstance(error, (BudgetError, MembersOverBudgetError)):
            series["refused"].labels(spec).inc()


METRICS = MixtureMetrics()
