"""The same load through one LiteLLM proxy and through two sharing one Redis; and what Redis
costs one instance.

    python benchmarks/fleet.py [--latency 0.05] [--requests 300] [--in-flight 20] [--distinct 100]

Starts the fake upstream, a real redis-server (tests/redis_process.py) and real proxies
(tests/fleet.py: the repository's proxy_config.yaml, members pointed at the fake upstream; with
Redis, LiteLLM's response cache and the Router's counters in it). Three set-ups, each fresh:

- ``1 instance``: no Redis, no cache (the baseline);
- ``1 instance + Redis``: the response cache and the Router's usage counters in Redis;
- ``2 instances + Redis``: both sharing one Redis, the client spreading requests round-robin
  (the load balancer);
- ``1 inst. + Redis, new``: every question new, so no hit: the cost of Redis on its own.

The load: ``--requests`` mixtures (``mixture/gpt-4o-mini*2>gpt-4o``, three member calls each),
``--in-flight`` at a time, asking ``--distinct`` different questions in turn, so a question
comes back once every ``--distinct`` requests: the cache can answer repeats. Reports requests/s,
p50/p99 latency, whole-request cache hits, upstream calls, errors, and each instance's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from tests.fleet import fleet
from tests.redis_process import redis_server
from tests.upstream_process import fake_upstream

MODEL = "mixture/gpt-4o-mini*2>gpt-4o"
# name: (instances, Redis, questions repeat). Without repeats nothing is a cache hit: what
# Redis costs (cache writes and misses, the Router's counters) on its own.
SETUPS = {
    "1 instance": (1, False, True),
    "1 instance + Redis": (1, True, True),
    "2 instances + Redis": (2, True, True),
    "1 inst. + Redis, new": (1, True, False),
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(proxies: list, args: argparse.Namespace, distinct: int) -> dict:
    clients = [
        httpx.AsyncClient(
            base_url=p.base, headers={"Authorization": f"Bearer {p.master_key}"}, timeout=120
        )
        for p in proxies
    ]
    latencies: list[float] = []
    hits = errors = 0
    remaining = iter(range(args.requests))

    async def worker() -> None:
        nonlocal hits, errors
        for n in remaining:
            ask = [{"role": "user", "content": f"Question {n % distinct}: name a prime."}]
            started = time.perf_counter()
            try:
                r = await clients[n % len(clients)].post(
                    "/v1/chat/completions", json={"model": MODEL, "messages": ask}
                )
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            errors += r.status_code != 200
            hits += bool(r.headers.get("x-litellm-cache-key"))  # only a cache hit names its key

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.in_flight)))
    took = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    latencies.sort()
    return {
        "rps": args.requests / took,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "hits": hits / args.requests,
        "errors": errors,
        "rss": [rss_mb(p.pid) for p in proxies],
    }


def measure(args: argparse.Namespace, folder: Path, size: int, shared: bool, repeat: bool) -> dict:
    with fake_upstream(f"*={args.latency}") as upstream:
        redis = redis_server(folder) if shared else contextlib.nullcontext(None)
        with redis as server, fleet(folder, upstream.base, server, size=size) as proxies:
            distinct = args.distinct if repeat else args.requests
            result = asyncio.run(load(proxies, args, distinct))
        result["upstream"] = len(upstream.calls())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="one proxy vs two sharing Redis")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per upstream call")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--distinct", type=int, default=100, help="different questions asked")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, litellm {version('litellm')}; upstream latency "
        f"{args.latency * 1000:.0f} ms; {args.requests} requests of {MODEL}, {args.in_flight} "
        f"in flight, {args.distinct} distinct questions"
    )
    print(
        f"{'set-up':<22}{'req/s':>8}{'ratio':>7}{'p50 ms':>9}{'p99 ms':>9}{'hits':>7}"
        f"{'upstream':>10}{'errors':>8}  RSS MB per instance"
    )
    baseline = None
    for name, (size, shared, repeat) in SETUPS.items():
        with tempfile.TemporaryDirectory() as folder:
            r = measure(args, Path(folder), size, shared, repeat)
        baseline = baseline or r["rps"]
        rss = ", ".join(f"{m:.0f}" for m in r["rss"])
        print(
            f"{name:<22}{r['rps']:8.1f}{r['rps'] / baseline:7.2f}{r['p50']:9.0f}{r['p99']:9.0f}"
            f"{r['hits']:7.0%}{r['upstream']:10d}{r['errors']:8d}  {rss}"
        )


if __name__ == "__main__":
    main()
