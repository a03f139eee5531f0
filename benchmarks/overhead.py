"""Orchestration overhead: a mixture vs the same member calls written by hand.

    python benchmarks/overhead.py [--latency 0.05] [--rounds 40] [--requests 200]

Starts the fake upstream (tests/fake_upstream.py) with a fixed latency per call, then in this
one process runs, interleaved:

- ``hand``: ``asyncio.gather`` of the proposer ``litellm.acompletion`` calls, the Together MoA
  aggregation prompt built by hand, then the aggregator ``litellm.acompletion``;
- ``mixture``: ``litellm.acompletion(model="mixture/<same pipeline>")``;
- ``hand+outer`` (at 50 in flight): the hand-written gather reached through one outer
  ``litellm.acompletion`` to a do-nothing CustomLLM, i.e. the same litellm entry cost a mixture
  pays once (see DESIGN.md, Targets).

At 1 in flight it reports latency (p50, p99) and the overhead above the hand-written baseline;
at 10 and 50 in flight the throughput ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench")

import litellm  # noqa: E402
from litellm import CustomLLM  # noqa: E402

import litellm_mixture  # noqa: E402
from litellm_mixture.common.prompts import TOGETHER_AGGREGATE, numbered_block  # noqa: E402
from tests.upstream_process import fake_upstream  # noqa: E402

PROPOSER, AGGREGATOR, N = "openai/gpt-4o-mini", "openai/gpt-4o", 3
SPEC = f"mixture/{PROPOSER}*{N}>{AGGREGATOR}"
ASK = [{"role": "user", "content": "Explain the CAP theorem briefly."}]


async def hand() -> None:
    answers = await asyncio.gather(
        *(litellm.acompletion(model=PROPOSER, messages=ASK) for _ in range(N))
    )
    refs = [a.choices[0].message.content.strip() for a in answers]
    system = {"role": "system", "content": numbered_block(TOGETHER_AGGREGATE, refs)}
    await litellm.acompletion(model=AGGREGATOR, messages=[system, *ASK])


class HandBehindLitellm(CustomLLM):
    async def acompletion(self, *args, model_response=None, **kwargs):  # type: ignore[override]
        await hand()
        model_response.choices[0].message.content = "done"
        return model_response


async def mixture() -> None:
    await litellm.acompletion(model=SPEC, messages=ASK)


async def hand_outer() -> None:
    await litellm.acompletion(model="handgather/x", messages=ASK)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(fn, in_flight: int, total: int) -> float:
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await fn()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> None:
    litellm.custom_provider_map.append(
        {"provider": "handgather", "custom_handler": HandBehindLitellm()}
    )
    litellm_mixture.register()
    for fn in (hand, mixture, hand_outer):  # warm clients and caches
        await fn()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, litellm {version('litellm')}"
    )
    print(f"pipeline: {SPEC}  (upstream latency {args.latency * 1000:.0f} ms per call)\n")

    # 1 in flight: interleave rounds so drift hits both alike.
    lat = {"hand": [], "mixture": []}
    for _ in range(args.rounds // 5):
        lat["hand"] += await latency(hand, 5)
        lat["mixture"] += await latency(mixture, 5)
    h50, m50 = statistics.median(lat["hand"]), statistics.median(lat["mixture"])
    h99, m99 = pct(lat["hand"], 0.99), pct(lat["mixture"], 0.99)
    critical = 2 * args.latency * 1000
    print("1 in flight           p50 ms   p99 ms   above critical path (p50)")
    print(f"  hand-written gather {h50:7.2f}  {h99:7.2f}   {h50 - critical:6.2f}")
    print(f"  mixture             {m50:7.2f}  {m99:7.2f}   {m50 - critical:6.2f}")
    print(
        f"  overhead vs hand: p50 {m50 - h50:+.2f} ms, p99 {m99 - h99:+.2f} ms (target <= +2 ms)\n"
    )

    print("in flight   hand req/s   mixture req/s   ratio   hand+outer req/s   ratio to it")
    for in_flight in (10, 50):
        runs: dict[str, list[float]] = {"hand": [], "mixture": [], "outer": []}
        for _ in range(args.repeats):
            runs["hand"].append(await throughput(hand, in_flight, args.requests))
            runs["mixture"].append(await throughput(mixture, in_flight, args.requests))
            if in_flight == 50:
                runs["outer"].append(await throughput(hand_outer, in_flight, args.requests))
        h, m = statistics.median(runs["hand"]), statistics.median(runs["mixture"])
        line = f"  {in_flight:>3}        {h:8.1f}      {m:8.1f}      {m / h:5.3f}"
        if runs["outer"]:
            o = statistics.median(runs["outer"])
            line += f"   {o:10.1f}          {m / o:5.3f}"
        print(line)
    print("\ntargets: ratio >= 0.95 at 10 in flight; at 50, ratio to hand+outer >= 0.95")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="mixture orchestration overhead")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per upstream call")
    parser.add_argument("--rounds", type=int, default=40, help="sequential runs at 1 in flight")
    parser.add_argument("--requests", type=int, default=200, help="requests per throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per variant")
    args = parser.parse_args()
    with fake_upstream(f"*={args.latency}") as upstream:
        os.environ["OPENAI_API_BASE"] = upstream.base
        asyncio.run(main(args))
