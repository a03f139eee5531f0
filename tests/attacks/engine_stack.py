"""The real proxy the engine-side attacks run against (leaked keys, mistyped params, time
bounds, missing keys).

It is the shipped proxy_config.yaml with every alias pointed at a recording fake upstream, plus
operator entries of these attacks' own. Its master key and provider keys have shapes no pattern
knows (``mk_…``, ``zz-…``): only scrubbing by value keeps them out of what a client or the log
sees. The Router keeps its shipped retries unless a test asks otherwise; its cooldowns are off,
so that one test's failed alias is not "in cooldown" for the next.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.attacks.proxy_helpers import assert_no_secret
from tests.proxy_process import ProxyProcess, litellm_proxy
from tests.upstream_process import UpstreamProcess

# Longest timeout a client may ask for in this proxy's policy (the shipped default is 300 s).
MAX_SECONDS = 4


def _mixture(doc: dict) -> dict:
    return {"litellm_params": {"model": "mixture/" + json.dumps(doc)}}


# Operator entries (trusted), by name.
ENTRIES = {
    "deadline-3": {
        "deadline": 3,
        "steps": [{"propose": ["gpt-4o-mini", "deepseek-chat"]}, {"aggregate": "gpt-4o"}],
    },
    "step-timeout-2": {
        "steps": [
            {"propose": ["gpt-4o-mini", "deepseek-chat"], "timeout": 2},
            {"aggregate": "gpt-4o"},
        ],
    },
    "inner-timeout-2": {
        "timeout": 2,
        "steps": [{"propose": ["gpt-4o-mini"]}, {"aggregate": "gpt-4o"}],
    },
    "nested-timeout-2": {"steps": [{"propose": ["inner-timeout-2"]}, {"aggregate": "gpt-4o"}]},
    "mistyped-params": {
        "steps": [
            {"propose": [{"model": "gpt-4o-mini", "params": {"max_tokens": "100000"}}]},
            {"aggregate": "gpt-4o"},
        ]
    },
}


def _adjust(doc: dict, router_retries: bool) -> None:
    doc["model_list"] += [{"model_name": name, **_mixture(spec)} for name, spec in ENTRIES.items()]
    doc["litellm_settings"]["mixture_policy"]["max_seconds"] = MAX_SECONDS
    doc["router_settings"] = {"disable_cooldowns": True}
    if not router_retries:
        doc["router_settings"]["num_retries"] = 0


@contextlib.contextmanager
def engine_proxy(
    folder: Path, upstream_base: str, provider_keys: bool = True, router_retries: bool = True
) -> Iterator[ProxyProcess]:
    """The proxy, its aliases calling ``upstream_base``; ``provider_keys=False`` starts it with
    none set, ``router_retries=False`` with ``router_settings.num_retries: 0``."""
    master = "mk_" + secrets.token_hex(14)
    keys = {
        "OPENAI_API_KEY": "zz-ab12" + secrets.token_hex(12),
        "DEEPSEEK_API_KEY": "q9." + secrets.token_hex(12),
    }
    env = {"LITELLM_MASTER_KEY": master, **(keys if provider_keys else {})}
    env["LITELLM_MIXTURE_DUMP_DIR"] = str(folder / "dumps")
    with litellm_proxy(
        folder,
        upstream_base,
        extra_env=env,
        provider_keys=provider_keys,
        adjust=lambda doc: _adjust(doc, router_retries),
    ) as proxy:
        proxy.master_key, proxy.keys = master, keys if provider_keys else {}
        yield proxy


def post(proxy: ProxyProcess, body: dict | str, timeout: float = 60) -> httpx.Response:
    """A chat completion request; ``body`` as a dict, or as raw JSON text (NaN, 1e999)."""
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {proxy.master_key}", "Content-Type": "application/json"}
    return httpx.post(
        proxy.base + "/v1/chat/completions", content=content, headers=headers, timeout=timeout
    )


def dumps_of(proxy: ProxyProcess) -> list[str]:
    """The debug dumps the proxy wrote (LITELLM_MIXTURE_DUMP_DIR)."""
    return [p.read_text() for p in (proxy.log.parent / "dumps").glob("*.json")]


def assert_nothing_leaked(proxy: ProxyProcess, *received: str | bytes) -> None:
    """No master or provider key in ``received``, the proxy's log or its dumps."""
    assert_no_secret(proxy, *received, *dumps_of(proxy))


def calls_to(upstream: UpstreamProcess, model: str) -> list[dict]:
    return [c for c in upstream.calls() if c["request"]["model"] == model]
