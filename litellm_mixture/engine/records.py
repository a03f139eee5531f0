"""What a run records: one entry per member call, the usage summed over them, what each step
passed on, and the final answer (whole or as stream events)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..spec import Pipeline

if TYPE_CHECKING:
    from .budget import Budget


class CallState(Enum):
    """Where a member call stands beyond its answer or error: what the engine compares, never
    the error's text (which traces, dumps and the JSON output print)."""

    RAN = "ran"  # running, answered, or failed with ``error``
    CANCELLED = "cancelled"  # its task was cancelled; whoever cancelled it then says why
    CUT = "cut"  # stopped on purpose: past its quorum's grace, or the run's time limit
    UNNEEDED = "unneeded"  # cut too: early aggregation's answer was complete before it


@dataclass
class TraceEntry:
    """One member call: what was asked of whom, how long it took, what it used and cost."""

    step: int
    kind: str
    model: str
    sample: int
    member: int = 0  # its place in the step's members (fallbacks follow the member)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    error: str | None = None
    attempts: int = 1
    state: CallState = CallState.RAN  # printed as ``cut`` (see as_dict)
    # The server sent no usage (a llama.cpp stream): the tokens are litellm's own count.
    usage_estimated: bool = False
    # Settings not sent to this member, how a judge's unclear answer was read.
    note: str | None = None
    samples: int = 1  # how many samples its member has (its label numbers them)
    # What was sent and what came back, kept only when the run keeps its calls (intermediate
    # responses, debug dumps): a run holds every answer in memory otherwise only until the next
    # step.
    request: dict[str, Any] | None = field(default=None, repr=False)
    reply: dict[str, Any] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        # Entries hold scalars; dataclasses.asdict's recursive deep copy is measurably slow.
        # The state is shown as it always was: ``cut``, in its place, and the error's text.
        return {
            ("cut" if k == "state" else k): (self.cut if k == "state" else v)
            for k, v in vars(self).items()
            if k not in ("request", "reply")
        }

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cut(self) -> bool:
        """Cancelled by the mixture: a straggler, the time limit, an answer complete first."""
        return self.state in (CallState.CUT, CallState.UNNEEDED)

    def cancel(self) -> None:
        """Its task was cancelled; who cancelled it says why with :meth:`stop`."""
        self.error, self.state = CallState.CANCELLED.value, CallState.CANCELLED

    def stop(self, why: str, state: CallState = CallState.CUT) -> None:
        """The mixture cut this call, for ``why``."""
        self.error, self.state = why, state

    @property
    def label(self) -> str:
        """The call as people read it (live view, panel): its model, and ``#k`` (counted from 1,
        like steps) when it is one of several samples."""
        return self.model + (f" #{self.sample + 1}" if self.samples > 1 else "")

    def add_note(self, note: str | None) -> None:
        if note:
            self.note = note if self.note is None else f"{self.note}; {note}"


# Told of each member call as it starts ("start") and ends ("end"), e.g. for a live view.
Observer = Callable[[str, TraceEntry], None]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, entry: TraceEntry) -> Usage:
        return Usage(
            self.prompt_tokens + entry.prompt_tokens,
            self.completion_tokens + entry.completion_tokens,
            self.cost + (entry.cost or 0.0),
            self.cost_known and entry.cost is not None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class StepResult:
    """The answers a step passed on: (model, text) pairs, in the order the next step sees them."""

    step: int
    kind: str
    answers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Outcome:
    """The final answer: text, tool calls and finish reason, as the aggregator gave them."""

    content: str | None
    tool_calls: list[Any] | None = None
    finish_reason: str = "stop"
    reasoning: str | None = None  # the live panel's text, when asked for


@dataclass(frozen=True)
class StreamEvent:
    """A piece of the answer as it streams: text, a tool-call delta, reasoning (the live
    panel), or the end."""

    text: str = ""
    tool_call: Any = None
    finish_reason: str | None = None
    reasoning: str = ""


@dataclass(frozen=True)
class RunRecord:
    """What a run was asked and did, as its readers (the provider, reports, dumps, the CLI) see
    it: every call, the summed usage and cost, what each step passed on. Taken when the run
    ends (or fails); nothing the run does later changes it."""

    id: str
    pipeline: Pipeline
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    metadata: dict[str, Any]
    trace: tuple[TraceEntry, ...]
    usage: Usage
    history: tuple[StepResult, ...]
    agreed: frozenset[int] = frozenset()  # the steps whose answers agreed (until_agree)

    def trace_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.trace]


@dataclass
class Recorder:
    """A run's shared log: its calls as they start and end (told to the observer, and to the
    budget), the usage they add up to, and what each step passed on. ``keep`` keeps each
    call's request and reply (for intermediate responses and dumps)."""

    keep: bool = False
    observer: Observer | None = None
    budget: Budget | None = None  # max_cost while the run goes: a call ending frees its hold
    trace: list[TraceEntry] = field(default_factory=list)
    history: list[StepResult] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    agreed: set[int] = field(default_factory=set)  # the steps whose answers agreed

    def add(self, *entries: TraceEntry) -> None:
        self.trace += entries

    def started(self, entry: TraceEntry) -> None:
        if self.observer is not None:
            self.observer("start", entry)

    def ended(self, entry: TraceEntry) -> None:
        if self.budget is not None:
            self.budget.release(entry)  # what it billed is in the usage by now
        if self.observer is not None:
            self.observer("end", entry)

    def account(self, entry: TraceEntry) -> None:
        self.usage = self.usage.plus(entry)

    def passed(self, step: int, kind: str, answers: list[tuple[str, str]]) -> None:
        self.history.append(StepResult(step, kind, tuple(answers)))

    def kept(self, entry: TraceEntry, **reply: Any) -> None:
        if self.keep:
            entry.reply = reply

    def snapshot(self) -> tuple[tuple[TraceEntry, ...], Usage, tuple[StepResult, ...], frozenset]:
        # Entries are copied: a call cut after the record was taken must not change it.
        trace = tuple(dataclasses.replace(e) for e in self.trace)
        return trace, self.usage, tuple(self.history), frozenset(self.agreed)
