"""The eval's report, read from the systems' Inspect logs: per system the score and its 95%
interval, the paired difference against the best single member (interval, McNemar's exact test
when scores are pass/fail), cost per sample and per correct answer, latency p50/p95, member calls
per sample; the oracle (the share of samples some member got right); one verdict line.

A sample that errored (every member failed, say) scores 0: it is counted, not dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from inspect_ai.log import EvalLog, EvalSample
from inspect_ai.log._transcript import ModelEvent
from inspect_ai.scorer import value_to_float
from pydantic import BaseModel

from . import stats
from .model import METADATA_KEY
from .systems import System

_to_float = value_to_float()
Key = tuple[str, int]


class Row(BaseModel):
    """One system on one sample."""

    score: float
    cost: float
    latency: float
    calls: int
    failed: bool
    degraded: bool


class Versus(BaseModel):
    """A system against the best single member, on the same samples (in points: x100)."""

    points: float
    low: float
    high: float
    p_exact: float | None
    cost_ratio: float
    latency_ratio: float


class Result(BaseModel):
    label: str
    role: str
    spec: str
    samples: int
    score: float
    low: float
    high: float
    cost_per_sample: float
    cost_per_correct: float | None
    latency_p50: float
    latency_p95: float
    calls_per_sample: float
    failed: int
    degraded: int
    versus_best: Versus | None = None


class Report(BaseModel):
    task: str
    systems: list[Result]
    best_member: str | None
    oracle: float | None
    verdict: str


def _score(sample: EvalSample) -> float:
    if sample.error is not None or not sample.scores:
        return 0.0
    return float(_to_float(next(iter(sample.scores.values())).value))


def _row(system: System, model: str, sample: EvalSample) -> Row:
    runs = [r for r in sample.metadata.get(METADATA_KEY, []) if r.get("model") == system.spec]
    times = [
        e.output.time or 0.0
        for e in sample.events
        if isinstance(e, ModelEvent) and e.model == model and e.output is not None
    ]
    return Row(
        score=_score(sample),
        cost=sum(u.total_cost or 0.0 for u in (sample.model_usage or {}).values()),
        latency=sum(times),
        calls=sum(len(r.get("trace") or []) for r in runs),
        failed=sample.error is not None,
        degraded=any(r.get("degraded") for r in runs),
    )


def rows(system: System, log: EvalLog) -> dict[Key, Row]:
    return {(str(s.id), s.epoch): _row(system, log.eval.model, s) for s in log.samples or []}


def mean_score(log: EvalLog) -> float:
    scores = [_score(s) for s in log.samples or []]
    return sum(scores) / len(scores) if scores else 0.0


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _times(ratio: float, what: str) -> str:
    """``at 3.4x the cost``; nothing when unknown (free local models, an unpriced member)."""
    return f"{ratio:.1f}x the {what}" if math.isfinite(ratio) else ""


def _versus(mine: Sequence[Row], best: Sequence[Row]) -> Versus:
    a, b = [r.score for r in mine], [r.score for r in best]
    mean, low, high = stats.paired(a, b)
    exact = None
    if stats.binary(a + b):  # a pass/fail difference lies in [-1, 1], whatever t says
        low, high, exact = max(low, -1.0), min(high, 1.0), stats.mcnemar(a, b)
    cost = _ratio(sum(r.cost for r in mine), sum(r.cost for r in best))
    latency = _ratio(
        stats.percentile([r.latency for r in mine], 50),
        stats.percentile([r.latency for r in best], 50),
    )
    return Versus(
        points=100 * mean,
        low=100 * low,
        high=100 * high,
        p_exact=exact,
        cost_ratio=cost,
        latency_ratio=latency,
    )


def _result(system: System, found: Sequence[Row], best: Sequence[Row] | None) -> Result:
    scores = [r.score for r in found]
    low, high = stats.interval(scores)
    spent, right = sum(r.cost for r in found), sum(scores)
    n = max(1, len(found))
    return Result(
        label=system.label,
        role=system.role,
        spec=system.spec,
        samples=len(found),
        score=sum(scores) / n,
        low=low,
        high=high,
        cost_per_sample=spent / n,
        cost_per_correct=spent / right if right else None,
        latency_p50=stats.percentile([r.latency for r in found], 50),
        latency_p95=stats.percentile([r.latency for r in found], 95),
        calls_per_sample=sum(r.calls for r in found) / n,
        failed=sum(r.failed for r in found),
        degraded=sum(r.degraded for r in found),
        versus_best=_versus(found, best) if best is not None else None,
    )


def verdict(results: Sequence[Result], best: str | None) -> str:
    """One plain line: does the mixture beat its best member, at what cost and latency."""
    mixture = results[0]
    if best is None or mixture.versus_best is None:
        return f"mixture: {100 * mixture.score:.1f} points (no single member to compare with)"
    v = mixture.versus_best
    told = f"{v.points:+.1f} points [{v.low:+.1f}, {v.high:+.1f}]"
    known = [t for t in (_times(v.cost_ratio, "cost"), _times(v.latency_ratio, "latency")) if t]
    at = f", at {' and '.join(known)}" if known else ""
    if v.low > 0:
        line = f"mixture: {told} over {best}{at}"
    elif v.high < 0:
        line = f"mixture: {told} below {best}{at}"
    else:
        line = f"no evidence the mixture beats {best} ({told}{at})"
    for r in results:
        if r.role == "self-moa" and r.versus_best is not None:
            s = r.versus_best
            cost = _times(s.cost_ratio, "cost")
            line += f"; self-sampling {best}: {s.points:+.1f}" + (f" at {cost}" if cost else "")
    return line


def build(task: str, done: Sequence[tuple[System, EvalLog]]) -> Report:
    """The report of every system's log (the mixture's first)."""
    found = [(system, rows(system, log)) for system, log in done]
    keys = sorted(set.intersection(*(set(r) for _, r in found)))
    members = [(s, r) for s, r in found if s.role == "member"]
    best = max(members, key=lambda m: sum(m[1][k].score for k in keys), default=None)
    best_rows = [best[1][k] for k in keys] if best else None
    results = [
        _result(s, [r[k] for k in keys], None if best and s is best[0] else best_rows)
        for s, r in found
    ]
    oracle = (
        sum(any(r[k].score >= 1.0 for _, r in members) for k in keys) / len(keys)
        if members and keys
        else None
    )
    label = best[0].label if best else None
    return Report(
        task=task,
        systems=results,
        best_member=label,
        oracle=oracle,
        verdict=verdict(results, label),
    )


def table(report: Report) -> str:
    """The report for a terminal."""
    head = (
        f"{'system':<34}{'score':>7}{'95% CI':>16}{'vs best':>9}{'95% CI':>17}{'p':>7}"
        f"{'$/sample':>11}{'$/correct':>11}{'p50 s':>8}{'p95 s':>8}{'calls':>7}{'fail':>5}"
    )
    lines = [f"task {report.task}", head]
    for r in report.systems:
        v = r.versus_best
        vs = f"{v.points:+8.1f} [{v.low:+6.1f},{v.high:+6.1f}]" if v else f"{'(best)':>8}{'':>18}"
        p = f"{v.p_exact:7.3f}" if v and v.p_exact is not None else f"{'':>7}"
        per_correct = (
            f"{r.cost_per_correct:11.6f}" if r.cost_per_correct is not None else f"{'-':>11}"
        )
        lines.append(
            f"{r.label[:33]:<34}{100 * r.score:7.1f} [{100 * r.low:5.1f},{100 * r.high:6.1f}]"
            f"{vs}{p}{r.cost_per_sample:11.6f}{per_correct}"
            f"{r.latency_p50:8.2f}{r.latency_p95:8.2f}{r.calls_per_sample:7.1f}{r.failed:5d}"
        )
    for r in report.systems:
        if r.degraded:
            lines.append(f"{r.label}: {r.degraded} of {r.samples} answers degraded (see the log)")
    if report.oracle is not None:
        lines.append(f"oracle (some member right): {100 * report.oracle:.1f}%")
    lines.append(report.verdict)
    return "\n".join(lines)
