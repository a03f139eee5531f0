"""One OpenTelemetry trace per mixture, when LiteLLM's ``otel`` callback (or any SDK tracer
provider) is on: a ``mixture`` span under the request's span, one ``mixture member`` span per
member call under it, and LiteLLM's own span of each member call under it too.

The ``mixture`` span becomes the run's ``litellm_parent_otel_span``, which LiteLLM's callback
reads for the parent of every call it traces; a nested mixture reads it the same way, so its
span nests. Attributes hold where a call sits (step, kind, member, sample), its model, tokens,
cost and outcome (``ok``, ``failed``, ``cut``, ``saved_by_agreement`` for calls never made), and
the spec's label (``metrics.label``): never a client's spec, message or key.
"""

from __future__ import annotations

import functools
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..engine import Observer, Run, RunRecord, TraceEntry
from .report import saved_calls

# Where LiteLLM looks for the span a call's span is drawn under.
PARENT = "litellm_parent_otel_span"
# Open runs: their mixture span (by id) -> how they are traced; gone with the run.
_OPEN: weakref.WeakValueDictionary[int, _Tracing] = weakref.WeakValueDictionary()


def _tracer() -> Any | None:
    """A tracer, when an SDK tracer provider is set (LiteLLM's otel callback sets one)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):  # the API's no-op default: nobody exports
        return None
    return provider.get_tracer("litellm_mixture")


def _where(entry: TraceEntry) -> dict[str, Any]:
    return {
        "mixture.step": entry.step,
        "mixture.kind": entry.kind,
        "mixture.member": entry.member,
        "mixture.sample": entry.sample,
        "mixture.model": entry.model,
    }


def outcome(entry: TraceEntry) -> str:
    if entry.cut:
        return "cut"
    return "ok" if entry.ok else "failed"


@dataclass(eq=False)
class _Tracing:
    tracer: Any
    span: Any
    # Member spans by their entry: started, and the time (ns) the call ended, once it has.
    # Their outcome is written when the run ends: a call is marked cut after it ends.
    members: dict[int, tuple[Any, TraceEntry, int | None]] = field(default_factory=dict)

    def observe(self, event: str, entry: TraceEntry) -> None:
        """The run's observer: a member span from a call's start to its end."""
        if event == "start":
            from opentelemetry import trace

            context = trace.set_span_in_context(self.span)
            span = self.tracer.start_span("mixture member", context, attributes=_where(entry))
            self.members[id(entry)] = (span, entry, None)
        elif id(entry) in self.members:
            span, _, _ = self.members[id(entry)]
            self.members[id(entry)] = (span, entry, time.time_ns())

    def close_members(self) -> None:
        from opentelemetry import trace

        for span, entry, ended in self.members.values():
            span.set_attributes(
                {
                    "mixture.outcome": outcome(entry),
                    "mixture.attempts": entry.attempts,
                    "gen_ai.usage.input_tokens": entry.prompt_tokens,
                    "gen_ai.usage.output_tokens": entry.completion_tokens,
                    "mixture.cost": entry.cost or 0.0,
                }
            )
            if entry.error is not None:  # the trace's error text: keys are struck from it
                span.set_status(trace.Status(trace.StatusCode.ERROR, entry.error[:500]))
            span.end(end_time=ended)
        self.members.clear()

    def saved(self, record: RunRecord) -> None:
        """A zero-length member span for each call agreement saved (never made)."""
        from opentelemetry import trace

        context = trace.set_span_in_context(self.span)
        for step, count in saved_calls(record).items():
            where = {"mixture.step": step, "mixture.kind": record.pipeline.steps[step].kind}
            for _ in range(count):
                span = self.tracer.start_span("mixture member", context, attributes=where)
                span.set_attribute("mixture.outcome", "saved_by_agreement")
                span.end()


@functools.lru_cache(maxsize=1)
def _parent_class() -> type:
    """A span's context as the parent of the spans LiteLLM draws, not recording itself."""
    from opentelemetry import trace

    class Parent(trace.NonRecordingSpan):
        name = "mixture"  # litellm 1.81 reads its parent span's name

    return Parent


def begin(label: str, metadata: dict[str, Any]) -> tuple[dict[str, Any], Observer | None]:
    """The run's metadata with its ``mixture`` span as the parent of its calls' spans, and the
    observer that draws its member spans; unchanged and None when nothing traces."""
    tracer = _tracer()
    if tracer is None:
        return metadata, None
    from opentelemetry import trace

    parent = metadata.get(PARENT)
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span("mixture", context, attributes={"mixture.spec": label})
    tracing = _Tracing(tracer, span)
    # Member calls get the span's context only, not the span: litellm 1.81 writes a failed
    # call's raw error (a key a provider echoed, too) onto a parent span that is recording.
    handle = _parent_class()(span.get_span_context())
    _OPEN[id(handle)] = tracing
    return {**metadata, PARENT: handle}, tracing.observe


def end(run: Run, error: BaseException | None) -> None:
    """Ends the run's ``mixture`` span: what it used, the calls agreement saved, its outcome."""
    tracing = _OPEN.pop(id(run.context.metadata.get(PARENT)), None)
    if tracing is None:
        return
    from opentelemetry import trace

    record = run.record()
    tracing.close_members()
    tracing.saved(record)
    usage = record.usage
    tracing.span.set_attributes(
        {
            "mixture.id": record.id,
            "mixture.calls": len(record.trace),
            "mixture.saved_calls": sum(saved_calls(record).values()),
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "mixture.cost": usage.cost,
            "mixture.outcome": "ok" if error is None else type(error).__name__,
        }
    )
    if error is not None:
        tracing.span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    tracing.span.end()
