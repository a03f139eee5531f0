"""What a run reports once it ends: summary figures, what each step passed on, and each member's
answer (the opt-in ``intermediate_responses``)."""

from __future__ import annotations

import re
from typing import Any

from typing_extensions import assert_never

from ..engine import RunRecord, TraceEntry
from ..engine.records import CallState
from ..spec import Aggregate, Propose, Step, Vote
from ..spec.steps import MemberStep
from ..spec.transforms import Transform

# Where a response says that a step went on with fewer answers than it asked for:
# ``_hidden_params[DEGRADED]``, a stream's last chunk, the proxy's header (:func:`degraded`).
DEGRADED = "mixture_degraded"
DEGRADED_HEADER = "x-litellm-mixture-degraded"
_TYPE = re.compile(r"^(\w+):")


def critical_path_ms(run: RunRecord) -> float:
    """The time the run could not have beaten: per step, its slowest call when they run at once,
    or all its calls when they run one after another (fallbacks, windows, early segments). An
    early aggregator's segments run while the proposers before it stream: those two steps take
    the longer of the slowest proposer and the segments one after another."""
    took = {}
    for index, step in enumerate(run.pipeline.steps):
        latencies = [e.latency_ms for e in run.trace if e.step == index]
        if latencies:
            took[index] = max(latencies) if _at_once(step) else sum(latencies)
    for index, step in enumerate(run.pipeline.steps):
        early = isinstance(step, Aggregate) and step.early is not None
        if early and {index - 1, index} <= took.keys():
            took[index - 1] = max(took[index - 1], took.pop(index))
    return sum(took.values())


def _at_once(step: Step) -> bool:
    """Whether a step's calls run at once (else one after another)."""
    match step:
        case MemberStep():
            return step.at_once
        case Transform():
            return True  # it makes no calls
        case _:
            assert_never(step)


def saved_calls(run: RunRecord) -> dict[int, int]:
    """Per step: the calls it never made because answers agreed. A step with ``until_agree``
    that ran saves the calls left (its embedding calls are no member calls); a vote right after
    it saves its own call when the answers agreed (their first is its pick)."""
    saved = {}
    for index, step in enumerate(run.pipeline.steps):
        made = sum(1 for e in run.trace if e.step == index and e.kind == step.kind)
        if isinstance(step, Propose) and step.until_agree is not None and made:
            saved[index] = step.calls - made
        elif isinstance(step, Vote) and not made and index - 1 in run.agreed:
            saved[index] = 1
    return saved


def _lost(entry: TraceEntry) -> str:
    """Why a call gave no answer, in a word or two: its error's type, never its text (which may
    quote a request, or a key a provider echoed)."""
    error = entry.error or ""
    if entry.cut:
        return "cut"
    if error.startswith("not started: max_cost"):
        return "over budget"
    if error.startswith("not started"):
        return "not started"
    found = _TYPE.match(error)
    return found[1] if found else error.split(" (", 1)[0][:40]


def degraded(run: RunRecord) -> str | None:
    """What a run that answered lost on the way, read off its trace: per step, the calls that
    failed, were cut or not started (over budget), as "step 1 propose: 1 of 4 calls failed
    (anthropic/claude-3-5-haiku: AuthenticationError)". None when every call answered. Any
    entry marked failed counts, whatever marked it."""
    parts = []
    for index, step in enumerate(run.pipeline.steps):
        made = [e for e in run.trace if e.step == index and e.kind == step.kind]
        lost = [e for e in made if not e.ok and e.state is not CallState.UNNEEDED]
        if not lost:
            continue
        reasons: dict[str, int] = {}
        for entry in lost:
            key = f"{entry.model}: {_lost(entry)}"
            reasons[key] = reasons.get(key, 0) + 1
        said = ", ".join(k if n == 1 else f"{k} x{n}" for k, n in reasons.items())
        parts.append(
            f"step {index + 1} {step.kind}: {len(lost)} of {len(made)} calls failed ({said})"
        )
    return "; ".join(parts) or None


def summary(run: RunRecord, wall_ms: float) -> dict[str, Any]:
    usage = run.usage
    return {
        "usage": usage.as_dict(),
        "cost": usage.cost,
        "cost_complete": usage.cost_known,
        "wall_ms": round(wall_ms, 1),
        "critical_path_ms": round(critical_path_ms(run), 1),
        "calls": len(run.trace),
        "failed_calls": sum(1 for e in run.trace if not e.ok),
        "saved_calls": sum(saved_calls(run).values()),
        "steps": steps(run),
        "degraded": degraded(run),
    }


def _cost(entry: TraceEntry) -> float | None:
    """What a call cost: a failed call that billed nothing cost nothing, it is not unpriced."""
    return 0.0 if entry.cost is None and not entry.ok else entry.cost


def steps(run: RunRecord) -> list[dict[str, Any]]:
    """Per step that called members: its calls and what they cost (None when one is unpriced)."""
    out: dict[int, dict[str, Any]] = {}
    for entry in run.trace:
        step = out.setdefault(entry.step, {"step": entry.step, "kind": entry.kind, "calls": 0})
        step["calls"] += 1
        cost = _cost(entry)
        known = step.get("cost", 0.0) is not None and cost is not None
        step["cost"] = step.get("cost", 0.0) + cost if known else None
    return [out[i] for i in sorted(out)]


def history(run: RunRecord) -> list[dict[str, Any]]:
    """The answers each step passed on to the next."""
    return [
        {"step": h.step, "kind": h.kind, "answers": [{"model": m, "text": t} for m, t in h.answers]}
        for h in run.history
    ]


def intermediate_responses(run: RunRecord) -> list[dict[str, Any]]:
    """Every member call of a recording run, grouped by step: what it said, how long it took,
    what it used and cost, and how it failed; a step with ``until_agree`` says how many calls it
    ``saved``."""
    steps: dict[int, dict[str, Any]] = {}
    for entry in run.trace:
        step = steps.setdefault(
            entry.step, {"step": entry.step, "kind": entry.kind, "responses": []}
        )
        reply = entry.reply or {}
        step["responses"].append(
            {
                "model": entry.model,
                "member": entry.member,
                "sample": entry.sample,
                "text": reply.get("content"),
                "tool_calls": reply.get("tool_calls"),
                "finish_reason": reply.get("finish_reason"),
                "latency_ms": round(entry.latency_ms, 1),
                "usage": {
                    "prompt_tokens": entry.prompt_tokens,
                    "completion_tokens": entry.completion_tokens,
                    "total_tokens": entry.prompt_tokens + entry.completion_tokens,
                },
                "cost": entry.cost,
                "error": entry.error,
                "cut": entry.cut,
                "attempts": entry.attempts,
                "note": entry.note,
            }
        )
    for index, saved in saved_calls(run).items():
        kind = run.pipeline.steps[index].kind
        steps.setdefault(index, {"step": index, "kind": kind, "responses": []})["saved"] = saved
    for step in steps.values():  # what the step cost (None: some call had no known price)
        costs = [0.0 if r["cost"] is None and r["error"] else r["cost"] for r in step["responses"]]
        step["cost"] = None if None in costs else sum(costs)
    return [steps[i] for i in sorted(steps)]
