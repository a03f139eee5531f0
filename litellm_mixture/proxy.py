"""Inside the LiteLLM proxy: the Router as the member seam, and the guard on client-sent names.

The proxy replaces its Router on reload, so it is read from ``proxy_server.llm_router`` at call
time. Outside the proxy every function here is a no-op and members go to ``litellm.acompletion``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from . import policy, redaction
from .engine import litellm_caller
from .names import PREFIX

# How a proxy config names an environment variable's value instead of writing it out.
ENV_REFERENCE = "os.environ/"


def router() -> Any | None:
    server = sys.modules.get("litellm.proxy.proxy_server")
    return getattr(server, "llm_router", None)


@dataclass(frozen=True)
class Models:
    """What the proxy's ``model_list`` offers: alias -> the model its first deployment calls."""

    targets: dict[str, str]
    operator_specs: frozenset[str]

    @classmethod
    def of(cls, router: Any) -> Models:
        targets: dict[str, str] = {}
        specs = set()
        for entry in router.model_list or ():
            name, model = entry.get("model_name"), entry.get("litellm_params", {}).get("model")
            if not isinstance(name, str) or not isinstance(model, str) or "*" in name:
                continue
            targets.setdefault(name, model)
            if model.startswith(PREFIX):
                specs.add(model)
        return cls(targets, frozenset(specs))


_models: tuple[int, int, Models] | None = None


def models() -> Models | None:
    """The proxy's models, or None outside the proxy. Recomputed when the model list changes."""
    global _models
    current = router()
    if current is None:
        return None
    key = (id(current.model_list), len(current.model_list or ()))
    if _models is None or _models[:2] != key:
        redaction.register(secrets())
        _models = (*key, Models.of(current))
    return _models[2]


def secrets() -> set[str]:
    """The proxy's master key and its deployments' credentials, with the values of the
    environment variables they name (``os.environ/NAME``): what nobody may ever see."""
    server = sys.modules.get("litellm.proxy.proxy_server")
    found: set[str] = set()
    master = getattr(server, "master_key", None)
    if isinstance(master, str):
        found.add(master)
    current = router()
    for entry in getattr(current, "model_list", None) or ():
        redaction.fields(entry.get("litellm_params") or {}, found)
    named = [os.environ.get(v[len(ENV_REFERENCE) :]) for v in found if v.startswith(ENV_REFERENCE)]
    return found | {v for v in named if v}


async def call_member(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    """A member call: through the proxy's Router when ``model`` is one of its aliases, so it
    gets the operator's keys, load balancing, fallbacks and rate limits."""
    current = router()
    if current is not None and model in current.model_names:
        if kwargs.get("max_retries") == 0:
            # The spec's retries and timeouts are exact (see Run._kwargs): the Router's own
            # retries of the alias would multiply them as the SDK's would.
            kwargs.setdefault("num_retries", 0)
        return await current.acompletion(model=model, messages=messages, **kwargs)
    return await litellm_caller(model, messages, **kwargs)


class ProxyGuard(CustomLogger):
    """A proxy pre-call hook: refuses client-sent ``mixture/`` names before the proxy routes them.

    It has to run that early: the proxy splits a name at commas into a batch call, its wildcard
    route cuts a name at the first newline, and it echoes names in response headers. Add it as
    ``litellm_settings: callbacks: [mixture_hooks.proxy_guard]`` (see proxy_config.yaml).
    """

    def __init__(self, check_spec: Any) -> None:
        super().__init__()
        self._check_spec = check_spec

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        models()  # on every request: the keys of a changed model list are struck from logs
        model = data.get("model")
        if not isinstance(model, str) or not model.startswith(PREFIX):
            return data
        current = router()
        if current is not None and model in current.model_names:
            return data  # an entry of the operator's model_list, called by its name
        # The spec's own faults first: they matter more than how the name is spelled.
        await self._check_spec(model.removeprefix(PREFIX))
        policy.check_name(model, policy.current())
        return data
