"""A fleet for tests and benchmarks: real LiteLLM proxies on loopback sharing one real Redis
through LiteLLM's own settings (the response cache and the Router's usage counters)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.proxy_process import ProxyProcess, litellm_proxy
from tests.redis_process import RedisProcess

# A member alias with a request-per-minute limit the Router enforces across the fleet.
LIMITED = {"model_name": "limited", "litellm_params": {"model": "openai/limited", "rpm": 3}}
# Operator entries that sample one model until two answers agree; they differ in the aggregator.
AGREE = "{steps: [{propose: [{model: gpt-4o-mini, samples: 4}], until_agree: 2}, {aggregate: %s}]}"
AGREEING = [
    {"model_name": f"agree-{name}", "litellm_params": {"model": "mixture/" + AGREE % name}}
    for name in ("gpt-4o", "deepseek-chat")
]


def shared(redis: RedisProcess | None, more: Callable[[dict], None] | None = None):
    """A config adjustment: the response cache and the Router's counters in ``redis`` (None:
    each instance on its own, no cache)."""

    def adjust(doc: dict) -> None:
        if redis is not None:
            settings = doc["litellm_settings"]
            settings["cache"] = True
            settings["cache_params"] = {"type": "redis", "host": redis.host, "port": redis.port}
            doc["router_settings"] = {
                "redis_host": redis.host,
                "redis_port": redis.port,
                # The strategy that counts rpm/tpm per deployment (in Redis) and refuses past it.
                "routing_strategy": "usage-based-routing-v2",
            }
        if more is not None:
            more(doc)

    return adjust


@contextlib.contextmanager
def fleet(
    folder: Path,
    upstream_base: str,
    redis: RedisProcess | None,
    size: int = 2,
    more: Callable[[dict], None] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[list[ProxyProcess]]:
    """``size`` proxies with one config, each in a folder of its own, stopped on exit."""
    with contextlib.ExitStack() as stack:
        proxies = []
        for n in range(size):
            place = folder / f"proxy-{n}"
            place.mkdir(parents=True, exist_ok=True)
            proxy = litellm_proxy(
                place,
                upstream_base,
                adjust=shared(redis, more),
                models=[LIMITED, *AGREEING],
                extra_env=extra_env,
            )
            proxies.append(stack.enter_context(proxy))
        yield proxies
