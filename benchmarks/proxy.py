"""Mixtures per second through the LiteLLM proxy, against the same proxy serving one plain model.

    python benchmarks/proxy.py [--latency 0.05] [--requests 300] [--in-flight 50] [--repeats 3]

Starts the fake upstream and the real proxy (the repository's proxy_config.yaml, members pointed
at the fake upstream) and drives it with ``--in-flight`` concurrent clients, interleaving:

- ``plain``: the alias ``gpt-4o-mini`` (one upstream call per request), the baseline;
- ``passthrough``: ``mixture/gpt-4o-mini``, the same single call behind the mixture provider;
- ``team-moa``: the config's mixture of four member calls (three proposers, one aggregator).

Reports requests/s (median of the repeats) and each ratio to ``plain`` from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.proxy_process import litellm_proxy
from tests.upstream_process import fake_upstream

TARGETS = {"plain": "gpt-4o-mini", "passthrough": "mixture/gpt-4o-mini", "team-moa": "team-moa"}
ASK = [{"role": "user", "content": "Name a prime number."}]


async def throughput(client: httpx.AsyncClient, model: str, in_flight: int, total: int) -> float:
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            r = await client.post("/v1/chat/completions", json={"model": model, "messages": ASK})
            r.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return total / (time.perf_counter() - started)


async def main(base: str, key: str, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.in_flight, max_keepalive_connections=args.in_flight)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120, limits=limits
    ) as client:
        for model in TARGETS.values():  # warm up: imports, connection pools, caches
            await throughput(client, model, args.in_flight, args.in_flight)
        runs: dict[str, list[float]] = {name: [] for name in TARGETS}
        for _ in range(args.repeats):
            for name, model in TARGETS.items():
                runs[name].append(await throughput(client, model, args.in_flight, args.requests))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, litellm {version('litellm')}; upstream latency "
        f"{args.latency * 1000:.0f} ms; {args.in_flight} in flight; {args.requests} requests x "
        f"{args.repeats} repeats"
    )
    plain = statistics.median(runs["plain"])
    print("target                 req/s (median)   ratio to plain   runs")
    for name, values in runs.items():
        median = statistics.median(values)
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:<20} {median:10.1f}        {median / plain:8.3f}        {shown}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="mixtures/s through the LiteLLM proxy")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per upstream call")
    parser.add_argument("--requests", type=int, default=300, help="requests per run")
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        fake_upstream(f"*={args.latency}") as upstream,
        litellm_proxy(Path(folder), upstream.base, spend_spy=False) as proxy,
    ):
        asyncio.run(main(proxy.base, proxy.master_key, args))
