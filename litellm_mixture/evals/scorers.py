"""The scorers ``--scorer`` names for a JSONL task: ``exact``, ``includes``, ``last_number``,
``choice`` (the multiple-choice letter), ``regex:PATTERN`` (its first group, else the whole
match, against the target) and ``judge:SPEC`` (a model grades the answer against the target;
it runs as ``mixture/SPEC``, so what it costs is billed and counted in each sample's cost)."""

from __future__ import annotations

import re

from inspect_ai.model import get_model
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Scorer,
    Target,
    accuracy,
    choice,
    exact,
    includes,
    model_graded_qa,
    pattern,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from ..errors import MixtureError
from ..spec import PREFIX

NAMES = ("exact", "includes", "last_number", "choice", "regex:PATTERN", "judge:SPEC")
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


class TaskError(MixtureError, ValueError):
    """A task, a JSONL line or a scorer that cannot run: refused before any call."""


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


@scorer(metrics=[accuracy(), stderr()])
def last_number() -> Scorer:
    """Correct when the answer's last number equals the target's (as numbers: 42.0 is 42)."""

    async def score(state: TaskState, target: Target) -> Score:
        found = _NUMBER.findall(state.output.completion)
        answer = found[-1] if found else ""
        value = _number(answer) if answer else None
        ok = value is not None and value == _number(target.text)
        return Score(value=CORRECT if ok else INCORRECT, answer=answer)

    return score


def _regex(text: str) -> Scorer:
    try:
        re.compile(text)
    except re.error as e:
        raise TaskError(f"--scorer regex: {e}") from None
    return pattern(text)


def make(name: str, has_choices: bool = False) -> Scorer:
    """The scorer ``name`` names; a TaskError for a name, pattern or judge that cannot run."""
    kind, _, arg = name.partition(":")
    if kind == "choice" and not has_choices:
        raise TaskError("--scorer choice needs samples with 'choices'")
    if kind == "regex" and arg:
        return _regex(arg)
    if kind == "judge" and arg:
        return model_graded_qa(model=get_model(PREFIX + arg.removeprefix(PREFIX)))
    simple = {"exact": exact, "includes": includes, "last_number": last_number, "choice": choice}
    if kind not in simple or arg:
        raise TaskError(f"unknown scorer {name!r}: one of {', '.join(NAMES)}")
    return simple[kind]()
