"""Inside the LiteLLM proxy: the Router as the member seam, and the guard on client-sent names.

The proxy replaces its Router on reload, so it is read from ``proxy_server.llm_router`` at call
time. Outside the proxy every function here is a no-op and members go to ``litellm.acompletion``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from . import dump, params, policy
from .engine import litellm_caller
from .names import PREFIX


def router() -> Any | None:
    server = sys.modules.get("litellm.proxy.proxy_server")
    return getattr(server, "llm_router", None)


@dataclass(frozen=True)
class Models:
    """What the proxy's ``model_list`` offers: alias -> the model its first deployment calls."""

    targets: dict[str, str]
    operator_specs: frozenset[str]
    # Aliases whose first deployment's model_info says whether it reasons (supports_reasoning).
    reasoning: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, router: Any) -> Models:
        targets: dict[str, str] = {}
        specs = set()
        reasoning: dict[str, bool] = {}
        for entry in router.model_list or ():
            name, model = entry.get("model_name"), entry.get("litellm_params", {}).get("model")
            if not isinstance(name, str) or not isinstance(model, str) or "*" in name:
                continue
            if name not in targets:
                flag = (entry.get("model_info") or {}).get("supports_reasoning")
                if isinstance(flag, bool):
                    reasoning[name] = flag
            targets.setdefault(name, model)
            if model.startswith(PREFIX):
                specs.add(model)
        return cls(targets, frozenset(specs), reasoning)

    def takes(self, member: str) -> params.Takes:
        """What a member takes: an alias is looked up as the model it calls. Its
        ``model_info.supports_reasoning``, when the operator set one, wins: an alias said to
        reason takes ``reasoning_effort`` whatever litellm lists for the model."""
        found = params.takes(self.targets.get(member, member))
        flag = self.reasoning.get(member)
        if flag is None:
            return found
        listed = found.params if found.params is None or not flag else found.params | {_EFFORT}
        return replace(found, params=listed, reasoning=flag)


_EFFORT = "reasoning_effort"
_models: tuple[int, int, Models] | None = None


def models() -> Models | None:
    """The proxy's models, or None outside the proxy. Recomputed when the model list changes."""
    global _models
    current = router()
    if current is None:
        return None
    key = (id(current.model_list), len(current.model_list or ()))
    if _models is None or _models[:2] != key:
        _models = (*key, Models.of(current))
    return _models[2]


def secrets() -> set[str]:
    """The proxy's master key and its deployments' credentials: what a dump must never hold."""
    server = sys.modules.get("litellm.proxy.proxy_server")
    found: set[str] = set()
    master = getattr(server, "master_key", None)
    if isinstance(master, str):
        found.add(master)
    current = router()
    for entry in getattr(current, "model_list", None) or ():
        dump.redact(entry.get("litellm_params") or {}, found)
    return found


async def call_member(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    """A member call: through the proxy's Router when ``model`` is one of its aliases, so it
    gets the operator's keys, load balancing, fallbacks and rate limits."""
    current = router()
    if current is not None and model in current.model_names:
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
