"""Mixtures of real small models on llama.cpp's server (tests/llama_server.py): what they get
right, how long they take, and how early aggregation's segments join.

    python benchmarks/local_models.py [--part check|joins|all] [--json FILE]

SmolLM2-135M-Instruct and Qwen2.5-Coder-0.5B-Instruct, each on its own server (one thread,
``interrupt_requests`` off: one request at a time, the others queued), on 127.0.0.1.

``check``: ten questions with known answers (arithmetic, capitals, small Python functions run
against tests in a subprocess), asked of each model alone, of a mixture (both propose, Qwen
aggregates), and of ``until_agree`` + vote (Qwen sampled at temperature 0.8 until 2 answers
agree, at most 4; Qwen votes). Correct answers and the median and total wall time per question.

``joins``: early aggregation (``chunk_tokens`` 24, ``max_tokens`` 120) on six prompts, Qwen
aggregating SmolLM2's two streamed proposals. At each
seam (where a later segment's text starts, from the segments' trace notes): ``glued`` (a letter
or digit on both sides), ``repeat`` (4 words in a row among the segment's first 6 that the
answer already said), ``announce`` (it begins by saying it continues). Also the whole answer's
tokens as the aggregator's server counts them (its ``/extras/tokenize``) against ``max_tokens``,
and early's wall time against the standard mixture's on the same prompt.

Everything runs at temperature 0 with a fixed seed (which repeats exactly on one server), except
the sampled ``until_agree`` proposals. Exits 1 if an early answer exceeds ``max_tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402

import litellm_mixture  # noqa: E402
from litellm_mixture import Aggregate, Member, Pipeline, Propose, Vote, encode  # noqa: E402
from litellm_mixture.pricing.cost import HIDDEN_KEY  # noqa: E402
from tests.joins import judge, seams  # noqa: E402
from tests.llama_server import QWEN_05B, SMOLLM2, LlamaServer, llama_server  # noqa: E402

SEED, MAX_TOKENS, CHUNK = 7, 120, 24
FIXED = {"temperature": 0, "seed": SEED}


def _number(expected: int) -> Callable[[str], bool]:
    return lambda text: re.search(rf"(?<![\d.]){expected}(?![\d]|\.\d)", text) is not None


def _word(expected: str) -> Callable[[str], bool]:
    return lambda text: expected in text.lower()


def _code(tests: str) -> Callable[[str], bool]:
    """Runs the answer's code (its first fenced block, or all of it), then ``tests``, in a
    fresh isolated interpreter with a time limit."""

    def check(text: str) -> bool:
        block = re.search(r"```(?:python)?\n(.*?)(```|$)", text, re.S)
        source = (block.group(1) if block else text) + "\n" + tests
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", source], capture_output=True, timeout=10
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    return check


QUESTIONS: list[tuple[str, Callable[[str], bool]]] = [
    ("What is 17 + 25? Answer with the number only.", _number(42)),
    ("What is 9 * 8? Answer with the number only.", _number(72)),
    ("What is 100 - 37? Answer with the number only.", _number(63)),
    ("What is the capital of France? Answer with the city only.", _word("paris")),
    ("What is the capital of Japan? Answer with the city only.", _word("tokyo")),
    ("What is the capital of Italy? Answer with the city only.", _word("rome")),
    (
        "Write a Python function add(a, b) that returns a + b. Reply with the code only.",
        _code("assert add(2, 3) == 5 and add(-1, 1) == 0"),
    ),
    (
        "Write a Python function is_even(n) that returns True if n is even. Code only.",
        _code("assert is_even(4) and not is_even(7) and is_even(0)"),
    ),
    (
        "Write a Python function reverse_string(s) that returns s reversed. Code only.",
        _code("assert reverse_string('abc') == 'cba' and reverse_string('') == ''"),
    ),
    (
        "Write a Python function factorial(n) that returns n factorial. Code only.",
        _code("assert factorial(5) == 120 and factorial(0) == 1"),
    ),
]

JOIN_PROMPTS = [
    "Explain how a hash table works.",
    "Write a Python function that checks whether a string is a palindrome, and explain it.",
    "Compare arrays and linked lists.",
    "Describe the water cycle.",
    "What are the benefits of unit tests?",
    "Explain recursion with an example in Python.",
]


def _member(server: LlamaServer, **fields) -> Member:
    return Member(**server.member(**fields))


def check_configs(smol: LlamaServer, qwen: LlamaServer) -> dict[str, tuple[str, dict]]:
    """Name -> (model string, call settings)."""
    both = Propose([_member(smol), _member(qwen)], max_tokens=200)
    sampled = Propose([_member(qwen, samples=4, temperature=0.8)], until_agree=2, max_tokens=200)
    return {
        "SmolLM2-135M alone": (smol.model, {**FIXED, "api_base": smol.base, "api_key": "x"}),
        "Qwen-0.5B alone": (qwen.model, {**FIXED, "api_base": qwen.base, "api_key": "x"}),
        "mixture (both propose, Qwen aggregates)": (
            encode(Pipeline([both, Aggregate(_member(qwen))])),
            FIXED,
        ),
        # No seed: every sample would be the same answer.
        "until_agree 2 of 4 Qwen samples + Qwen vote": (
            encode(Pipeline([sampled, Vote(_member(qwen))])),
            {"temperature": 0},
        ),
    }


async def _ask(model: str, question: str, settings: dict) -> tuple[str, float, int]:
    started = time.perf_counter()
    messages = [{"role": "user", "content": question}]
    reply = await litellm.acompletion(model, messages, max_tokens=200, timeout=300, **settings)
    calls = len(reply._hidden_params.get(HIDDEN_KEY, {}).get("trace", [])) or 1
    return reply.choices[0].message.content or "", time.perf_counter() - started, calls


async def check(smol: LlamaServer, qwen: LlamaServer) -> list[dict]:
    rows = []
    for name, (model, settings) in check_configs(smol, qwen).items():
        results = [await _ask(model, q, settings) for q, _ in QUESTIONS]
        right = [ok(text) for (_, ok), (text, _, _) in zip(QUESTIONS, results, strict=True)]
        times = [t for _, t, _ in results]
        rows.append(
            {
                "config": name,
                "correct": sum(right),
                "wrong": [i + 1 for i, r in enumerate(right) if not r],
                "median_s": round(statistics.median(times), 2),
                "total_s": round(sum(times), 1),
                "calls": sum(c for _, _, c in results),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def join_spec(smol: LlamaServer, qwen: LlamaServer, early: bool) -> str:
    proposers = Propose([_member(smol, samples=2, temperature=0.7)], max_tokens=80)
    settings = {"early": {"chunk_tokens": CHUNK, "segments": 4}} if early else {}
    return encode(Pipeline([proposers, Aggregate(_member(qwen), **settings)]))


async def _answer(model: str, prompt: str) -> tuple[str, list[dict], float]:
    """The answer (early streams its aggregator either way), its trace, its wall time."""
    started = time.perf_counter()
    result = await litellm_mixture.run(model, prompt, max_tokens=MAX_TOKENS, timeout=300, **FIXED)
    return result.content or "", result.trace, time.perf_counter() - started


async def joins(smol: LlamaServer, qwen: LlamaServer) -> list[dict]:
    rows = []
    for prompt in JOIN_PROMPTS:
        _, _, standard_s = await _answer(join_spec(smol, qwen, early=False), prompt)
        text, trace, early_s = await _answer(join_spec(smol, qwen, early=True), prompt)
        notes = [e["note"] for e in trace if e["step"] == 1]
        judged = [judge(text, at) for at in seams(notes)]
        row = {
            "prompt": prompt,
            "seams": len(judged),
            "at": seams(notes),
            "clean": sum(not any(j.values()) for j in judged),
            **{k: sum(j[k] for j in judged) for k in ("glued", "restart", "repeat", "announce")},
            "tokens": qwen.tokens(text),
            "early_s": round(early_s, 1),
            "standard_s": round(standard_s, 1),
            "text": text,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


async def main(part: str) -> dict:
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "seed": SEED}
    with llama_server(SMOLLM2) as smol, llama_server(QWEN_05B) as qwen:
        if part in ("check", "all"):
            out["check"] = await check(smol, qwen)
        if part in ("joins", "all"):
            out["joins"] = await joins(smol, qwen)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["check", "joins", "all"], default="all")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    results = asyncio.run(main(args.part))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    over = [r["prompt"] for r in results.get("joins", []) if r["tokens"] > MAX_TOKENS]
    if over:
        print(f"early answers past max_tokens={MAX_TOKENS}: {over}")
    sys.exit(1 if over else 0)
