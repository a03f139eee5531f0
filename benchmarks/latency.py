"""How soon the answer starts: the standard mixture vs the live panel vs early aggregation.

    python benchmarks/latency.py [--runs 20] [--words 20] [--pace 0.1] [--first 0.3]

Three proposers on the fake upstream each take ``--pace`` seconds per word to write a
``--words``-word answer (about 2 s, streamed or not, as a model generates either way); the
aggregator takes ``--first`` seconds to its first token, then writes quickly. Interleaved in one
process, streamed through ``litellm.acompletion``, for each variant:

- ``standard``: the paper's mixture, the default;
- ``panel``: ``panel: reasoning``, the proposers' answers streamed to the caller as reasoning;
- ``early``: ``early: true`` on the aggregate step, staircase aggregation over partial answers.

It reports the time to the first visible token (reasoning or content) and to the first content
token, p50 and p99, and each as a ratio to the standard mixture's; ``proposer`` is one proposer
called alone, streamed, for reference. Targets: the panel's first visible token within 50 ms of
that proposer's first token (p50); early aggregation's first content token at most 0.3x the
standard's (p50). The exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench")

import litellm  # noqa: E402

import litellm_mixture  # noqa: E402, F401  (registers the provider)
from tests.upstream_process import fake_upstream  # noqa: E402

ASK = [{"role": "user", "content": "Name a prime number."}]
PROPOSERS = ["openai/p1", "openai/p2", "openai/p3"]


def spec(panel: bool = False, early: bool = False) -> str:
    aggregate: dict[str, object] = {"aggregate": "openai/agg"}
    if early:
        aggregate["early"] = True
    doc: dict[str, object] = {"steps": [{"propose": PROPOSERS}, aggregate]}
    if panel:
        doc["panel"] = "reasoning"
    return "mixture/" + json.dumps(doc)


# "proposer" is one proposer called alone, streamed: the first token the panel can show.
VARIANTS = {
    "proposer": "openai/p1",
    "standard": spec(),
    "panel": spec(panel=True),
    "early": spec(early=True),
}


async def timed(model: str) -> tuple[float, float]:
    """Milliseconds to the first visible token and to the first content token."""
    started = time.perf_counter()
    visible = content = None
    stream = await litellm.acompletion(model=model, messages=ASK, stream=True)
    async for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        now = (time.perf_counter() - started) * 1000
        if delta is not None and getattr(delta, "reasoning_content", None) and visible is None:
            visible = now
        if delta is not None and delta.content:
            visible = now if visible is None else visible
            content = now if content is None else content
    assert visible is not None and content is not None
    return visible, content


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> bool:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, model in VARIANTS.items():
            runs[name].append(await timed(model))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()},"
        f" litellm {version('litellm')}; 3 proposers of {args.words} words at {args.pace:g} s per"
        f" word, aggregator first token after {args.first:g} s; {args.runs} runs each"
    )
    print("variant      first visible p50/p99 ms  ratio   first content p50/p99 ms  ratio")
    standard = runs["standard"]
    base = (percentile([v for v, _ in standard], 0.5), percentile([c for _, c in standard], 0.5))
    for name, values in runs.items():
        visible = [percentile([v for v, _ in values], q) for q in (0.5, 0.99)]
        content = [percentile([c for _, c in values], q) for q in (0.5, 0.99)]
        print(
            f"  {name:9} {visible[0]:9.0f} {visible[1]:9.0f}   {visible[0] / base[0]:5.3f}"
            f"  {content[0]:11.0f} {content[1]:9.0f}   {content[0] / base[1]:5.3f}"
        )
    panel_visible = percentile([v for v, _ in runs["panel"]], 0.5)
    first_word = percentile([c for _, c in runs["proposer"]], 0.5)
    early_ratio = percentile([c for _, c in runs["early"]], 0.5) / base[1]
    panel_ok = panel_visible <= first_word + 50
    early_ok = early_ratio <= 0.3
    print(
        f"panel: first visible {panel_visible:.0f} ms vs a proposer's own first token"
        f" {first_word:.0f} ms (target <= +50 ms: {'met' if panel_ok else 'MISSED'});"
        f" early: first content {early_ratio:.3f}x standard (target <= 0.3: "
        f"{'met' if early_ok else 'MISSED'})"
    )
    return panel_ok and early_ok


def run(args: argparse.Namespace) -> bool:
    reply = " ".join(f"word{i}" for i in range(args.words))
    with fake_upstream() as upstream:
        os.environ["OPENAI_API_BASE"] = upstream.base
        upstream.configure(
            latency={"agg": args.first},
            pace={"p1": args.pace, "p2": args.pace, "p3": args.pace, "agg": 0.005},
            reply={"p1": reply, "p2": reply, "p3": reply},
        )
        return asyncio.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="time to the first token of a mixture")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds per proposer word")
    parser.add_argument("--first", type=float, default=0.3, help="aggregator's first token")
    sys.exit(0 if run(parser.parse_args()) else 1)
