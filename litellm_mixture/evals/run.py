"""``litellm-mixture eval``'s run, on Inspect: check everything, estimate the whole eval (and
refuse past ``--max-cost``) before any call, then run the systems with ``inspect_ai.eval_set``
in two rounds (the mixture, its members and ``--against``; then Self-MoA of the best member).

``eval_set`` keeps each system's log in ``--log-dir``: run again with the same directory and
finished systems are read back, an interrupted one goes on from the samples it finished, so
no paid call is made twice. Systems run one after another, each with the samples at once that
keep about ``model.MEMBER_CALLS_IN_FLIGHT`` member calls in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval_set
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog, read_eval_log
from inspect_ai.util import DisplayType

from ..pricing import estimates
from ..spec import PREFIX, decode
from . import systems as sys_
from .scorers import TaskError
from .systems import System


class OverBudget(TaskError):
    """The whole eval's worst case passes ``--max-cost``, or cannot be bounded."""


class Unfinished(TaskError):
    """A round of the eval stopped before every system finished (interrupted, or a system's
    task failed): what finished is in the log directory, and a rerun resumes from it."""


@dataclass(frozen=True)
class Options:
    spec: str
    task: Task
    limit: int | None = None
    against: tuple[str, ...] = ()
    max_cost: float | None = None
    log_dir: Path = Path("mixture-eval-logs")
    judge: str | None = None
    display: DisplayType | None = None
    at_once: int | None = None
    """Samples at once per system (default: see ``model.MEMBER_CALLS_IN_FLIGHT``)."""


@dataclass(frozen=True)
class Cost:
    """The whole eval before it runs: calls, likely and worst cost, what is left out."""

    samples: int
    systems: int
    calls: int
    likely: float
    worst: float
    unpriced: tuple[str, ...]
    unbounded: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.unpriced and not self.unbounded

    def line(self) -> str:
        at_least = "" if self.complete else "at least "
        text = (
            f"estimate: {self.samples} samples x {self.systems} systems, {self.calls} calls; "
            f"likely {at_least}${self.likely:.4f}, worst {at_least}${self.worst:.4f}"
        )
        if self.unpriced:
            text += f"; no price for {', '.join(self.unpriced)}"
        if self.unbounded:
            text += f"; no output limit for {', '.join(self.unbounded)}"
        return text


def _conversation(sample: Sample) -> list[dict[str, Any]]:
    if isinstance(sample.input, str):
        return [{"role": "user", "content": sample.input}]
    return [{"role": m.role, "content": m.text} for m in sample.input]


def _one(spec: str, samples: list[Sample]) -> list[estimates.Estimate]:
    pipeline = decode(spec)
    return [estimates.estimate(pipeline, _conversation(s), model=spec) for s in samples]


def _dearest(options: Options, members: list[System], samples: list[Sample]) -> list[Any]:
    """Self-MoA's estimate before its member is chosen: that of the dearest member."""
    baselines = [sys_.self_moa(decode(options.spec), m) for m in members]
    found = [_one(b.spec, samples) for b in baselines if b is not None]
    return max(found, key=lambda es: sum(e.worst for e in es), default=[])


def estimate(options: Options, planned: list[System], samples: list[Sample]) -> Cost:
    """Every system on every sample, Self-MoA at its dearest member, the judge per answer."""
    found = [e for s in planned for e in _one(s.spec, samples)]
    found += _dearest(options, [s for s in planned if s.role == "member"], samples)
    runs = len(planned) + 1
    if options.judge:
        found += _one(PREFIX + options.judge.removeprefix(PREFIX), samples) * runs
    return Cost(
        samples=len(samples),
        systems=runs,
        calls=sum(e.calls for e in found),
        likely=sum(e.likely for e in found),
        worst=sum(e.worst for e in found),
        unpriced=tuple(dict.fromkeys(n for e in found for n in e.unpriced)),
        unbounded=tuple(dict.fromkeys(n for e in found for n in e.unbounded)),
    )


def check(cost: Cost, cap: float | None) -> None:
    if cap is None:
        return
    if not cost.complete:
        raise OverBudget(
            f"--max-cost ${cap}: the eval's worst case cannot be bounded ({cost.line()})"
        )
    if cost.worst > cap:
        raise OverBudget(
            f"--max-cost ${cap}: the eval may cost up to ${cost.worst:.4f} (worst case); "
            "nothing was called"
        )


def _round(options: Options, planned: list[System], where: str) -> list[EvalLog]:
    """One eval_set over ``planned``: each system's log, read whole, in their order."""
    models = [s.model(i) for i, s in enumerate(planned)]
    finished, logs = eval_set(
        options.task,
        model=models,
        log_dir=str(options.log_dir / where),
        limit=options.limit,
        fail_on_error=False,
        retry_attempts=0,
        retry_immediate=False,
        max_tasks=1,
        display=options.display,
        max_connections=options.at_once,
        # Another --against, or a changed spec, adds systems beside the logs of those that
        # stayed: they are reused, not run again.
        log_dir_allow_dirty=True,
    )
    by_model = {log.eval.model: log for log in logs if log.status == "success"}
    if not finished or any(str(m) not in by_model for m in models):
        raise Unfinished(
            f"the eval did not finish; run the same command again (same --log-dir "
            f"{options.log_dir}) to resume from the samples done"
        )
    return [read_eval_log(by_model[str(m)].location) for m in models]


def run(options: Options, say: Callable[[str], None] = print) -> list[tuple[System, EvalLog]]:
    """The eval: estimate, refuse or run, and each system with its log."""
    from .report import mean_score

    planned = sys_.plan(options.spec, options.against)
    samples = list(options.task.dataset)[: options.limit]
    cost = estimate(options, planned, samples)
    say(cost.line())
    check(cost, options.max_cost)
    done = list(zip(planned, _round(options, planned, "systems"), strict=True))
    members = [(s, log) for s, log in done if s.role == "member"]
    if members:
        best = max(members, key=lambda item: mean_score(item[1]))[0]
        baseline = sys_.self_moa(decode(options.spec), best)
        if baseline is not None:
            done += zip([baseline], _round(options, [baseline], "self-moa"), strict=True)
    return done
