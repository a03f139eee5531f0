"""What ``until_agree`` saves: self-consistency over 8 samples, stopping once K agree, vs all 8.

    python benchmarks/cost.py [--requests 40] [--agree 0.8] [--k 3] [--latency 0.01]

Starts the fake upstream (tests/fake_upstream.py): the sampled model answers "42" with
probability ``--agree`` and "41" otherwise (seeded), and the judge names the response most of
those it is shown share, as a self-consistency judge does. In this one process it runs, request
by request, the same pipeline with and without ``until_agree: K``; both runs of a request get the
same seed, so the samples a run with ``until_agree`` makes are the first ones the full run makes.
Calls and cost are what the fake upstream billed, at litellm's prices for the models named.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench")

import litellm  # noqa: E402

import litellm_mixture  # noqa: E402
from tests.upstream_process import UpstreamProcess, fake_upstream  # noqa: E402

# The judge: the same prices as the sampler (the self-consistency preset judges with the same
# model), under another name so that the fake upstream judges rather than samples.
SAMPLER, JUDGE, SAMPLES = "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 8
ASK = [{"role": "user", "content": "What is 6 * 7? Answer with the number only."}]


def spec(k: int | None) -> str:
    propose = {"propose": [{"model": f"openai/{SAMPLER}", "samples": SAMPLES}], "temperature": 0.7}
    if k is not None:
        propose["until_agree"] = k
    return "mixture/" + json.dumps({"steps": [propose, {"vote": f"openai/{JUDGE}"}]})


def billed(upstream: UpstreamProcess) -> tuple[int, int, float]:
    """The calls the fake upstream answered, the samples among them, and their cost at
    litellm's prices."""
    calls = upstream.calls()
    cost = 0.0
    for call in calls:
        usage = call["usage"]
        cost += sum(
            litellm.cost_per_token(
                model=f"openai/{call['request']['model']}",
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=usage["completion_tokens"],
            )
        )
    return len(calls), sum(c["request"]["model"] == SAMPLER for c in calls), cost


async def one(upstream: UpstreamProcess, name: str, seed: int, agree: float) -> tuple:
    upstream.configure(pick={SAMPLER: [("42", agree), ("41", 1 - agree)]}, judge=[JUDGE], seed=seed)
    upstream.clear()
    response = await litellm.acompletion(model=name, messages=ASK)
    return (*billed(upstream), response.choices[0].message.content)


async def main(args: argparse.Namespace, upstream: UpstreamProcess) -> None:
    litellm_mixture.register()
    names = {"all 8": spec(None), f"until_agree {args.k}": spec(args.k)}
    results: dict[str, list[tuple]] = {label: [] for label in names}
    for seed in range(args.requests):
        for label, name in names.items():
            results[label].append(await one(upstream, name, seed, args.agree))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, litellm {version('litellm')}"
    )
    print(
        f"pipeline: openai/{SAMPLER} x{SAMPLES} > vote openai/{JUDGE}; samples agree "
        f"{args.agree:.0%} of the time; {args.requests} requests each\n"
    )
    print("variant          calls/request  (samples)   cost/request $   answer 42")
    for label, rows in results.items():
        calls, samples, cost = (statistics.mean(r[i] for r in rows) for i in range(3))
        right = sum(r[3] == "42" for r in rows)
        print(
            f"  {label:<15} {calls:8.2f}      ({samples:5.2f})    {cost:.8f}    {right}/{len(rows)}"
        )
    full, lean = results.values()
    ratio, sampled, cost = (
        statistics.mean(r[i] for r in lean) / statistics.mean(r[i] for r in full) for i in range(3)
    )
    same = sum(a[3] == b[3] for a, b in zip(full, lean, strict=True))
    print(
        f"\nratios: calls {ratio:.3f} (samples alone {sampled:.3f}), cost {cost:.3f}; "
        f"same final answer in {same}/{len(full)} requests (target: calls <= 0.5x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="calls and cost saved by until_agree")
    parser.add_argument("--requests", type=int, default=40, help="requests per variant")
    parser.add_argument("--agree", type=float, default=0.8, help="chance a sample says 42")
    parser.add_argument("--k", type=int, default=3, help="until_agree")
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per upstream call")
    args = parser.parse_args()
    with fake_upstream(f"*={args.latency}") as upstream:
        os.environ["OPENAI_API_BASE"] = upstream.base
        asyncio.run(main(args, upstream))
