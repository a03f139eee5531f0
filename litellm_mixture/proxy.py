"""Inside the LiteLLM proxy: the Router as the member seam, and the guard on client-sent names.

The proxy replaces its Router on reload, so it is read from ``proxy_server.llm_router`` at call
time. Outside the proxy every function here is a no-op and members go to ``litellm.acompletion``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from . import dump, policy
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
    # Wildcard entries: deployment id -> (its model_name pattern, the model it fills in).
    wildcards: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, router: Any) -> Models:
        targets: dict[str, str] = {}
        wildcards: dict[str, tuple[str, str]] = {}
        specs = set()
        for entry in router.model_list or ():
            name, model = entry.get("model_name"), entry.get("litellm_params", {}).get("model")
            if not isinstance(name, str) or not isinstance(model, str):
                continue
            if "*" in name:
                wildcards[(entry.get("model_info") or {}).get("id")] = (name, model)
                continue
            targets.setdefault(name, model)
            if model.startswith(PREFIX):
                specs.add(model)
        return cls(targets, frozenset(specs), wildcards)


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


def routed_model(model: str, metadata: dict[str, Any]) -> str:
    """The model the Router meant to call: ``model``, unless a wildcard entry filled it in wrong.

    litellm 1.110's Router fills a wildcard entry's ``*`` twice: through ``mixture/*`` a client's
    ``mixture/x*3>y`` reaches the provider as ``mixture/xx*3>y3>y``. The Router records the name
    the client called (``model_group``) and the entry that served it (``deployment_model_name``),
    overwriting any a client sends, so the name is filled in again, once, from those. The result
    is taken only if the Router's own filling (once or twice) of it gives ``model``; inside the
    proxy, only for a wildcard entry of its model_list.
    """
    pattern, called = metadata.get("deployment_model_name"), metadata.get("model_group")
    if not isinstance(pattern, str) or "*" not in pattern or not isinstance(called, str):
        return model
    # litellm's PatternMatchRouter: each * of the entry's name matches any text.
    match = re.match(re.escape(pattern).replace(r"\*", "(.*)"), called)
    if match is None:
        return model
    template = pattern  # outside the proxy: an entry that maps names to themselves (mixture/*)
    current = models()
    if current is not None:
        entry = current.wildcards.get((metadata.get("model_info") or {}).get("id"))
        if entry is None or entry[0] != pattern:
            return model
        template = entry[1]
    once = _fill(match, template)
    return once if model in (once, _fill(match, once)) else model


def _fill(match: re.Match[str], template: str) -> str:
    """litellm's PatternMatchRouter.set_deployment_model_name: the entry's model, each * filled
    in turn with what the name's * matched."""
    if "*" not in template:
        return template
    if len(match.groups()) > template.count("*"):
        return match.string
    for part in match.groups():
        template = template.replace("*", part, 1)
    return template


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
