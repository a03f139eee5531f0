"""Inside the LiteLLM proxy: the Router as the member seam, and the guard on client-sent names.

The proxy replaces its Router on reload, so it is read from ``proxy_server.llm_router`` at call
time. Outside the proxy every function here is a no-op and members go to ``litellm.acompletion``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any

import openai
from litellm.integrations.custom_logger import CustomLogger

from . import params, policy, redaction
from .engine import litellm_caller
from .spec import PREFIX

# How a proxy config names an environment variable's value instead of writing it out.
ENV_REFERENCE = "os.environ/"
# litellm's default retries: a Router with no num_retries setting retries a call twice, and a
# call outside a Router keeps the OpenAI SDK's own two (litellm passes max_retries=2 to
# OpenAI-compatible providers). Either way one member call may reach its provider three times.
DEFAULT_ATTEMPTS = 1 + openai.DEFAULT_MAX_RETRIES


def router() -> Any | None:
    server = sys.modules.get("litellm.proxy.proxy_server")
    return getattr(server, "llm_router", None)


def _as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _policy_retries(policy: Any) -> int:
    """The most retries a Router retry policy (a RetryPolicy or its dict) grants any error."""
    values = policy.model_dump() if hasattr(policy, "model_dump") else policy
    return max(map(_as_int, values.values()), default=0) if isinstance(values, dict) else 0


def _group_attempts(current: Any, group: str, retried: bool) -> int:
    """Upstream requests one Router call to ``group`` may make: the Router's retries (its
    setting, the deployment's, a retry policy) times each deployment's SDK retries (both off
    when the spec owns the call's retries: the engine passes max_retries=0, call_member
    num_retries=0)."""
    if retried:
        return 1
    deployments = [
        entry.get("litellm_params") or {}
        for entry in current.model_list or ()
        if entry.get("model_name") == group
    ]
    retries = [
        _as_int(current.num_retries),
        _policy_retries(getattr(current, "retry_policy", None)),
        _policy_retries((getattr(current, "model_group_retry_policy", None) or {}).get(group)),
        *(_as_int(d.get("num_retries")) for d in deployments),
    ]
    sdk = max((1 + _as_int(d.get("max_retries")) for d in deployments), default=1)
    return (1 + max(retries)) * sdk


def _fallback_groups(current: Any, group: str) -> list[str]:
    found: list[str] = []
    for table in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for entry in getattr(current, table, None) or ():
            if isinstance(entry, dict):
                for key in (group, "*"):
                    found += [g for g in entry.get(key) or () if isinstance(g, str)]
    return found


def attempts(model: str, retried: bool = False) -> int:
    """The most upstream requests one member call to ``model`` may make, retries included: what
    ``max_calls`` counts. A proxy alias gets its Router's retries and (one level of) fallbacks;
    any other model the SDK's, unless the spec retries the call itself (``retried``)."""
    current = router()
    if current is None or model not in current.model_names:
        return 1 if retried else DEFAULT_ATTEMPTS
    groups = [model, *_fallback_groups(current, model)]
    return sum(_group_attempts(current, g, retried) for g in groups)


@dataclass(frozen=True)
class Models:
    """What the proxy's ``model_list`` offers: alias -> the model its first deployment calls."""

    targets: dict[str, str]
    operator_specs: frozenset[str]
    # Wildcard entries: deployment id -> (its model_name pattern, the model it fills in).
    wildcards: dict[str, tuple[str, str]]
    # Aliases whose first deployment's model_info says whether it reasons (supports_reasoning).
    reasoning: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, router: Any) -> Models:
        targets: dict[str, str] = {}
        wildcards: dict[str, tuple[str, str]] = {}
        specs = set()
        reasoning: dict[str, bool] = {}
        for entry in router.model_list or ():
            name, model = entry.get("model_name"), entry.get("litellm_params", {}).get("model")
            if not isinstance(name, str) or not isinstance(model, str):
                continue
            if "*" in name:
                wildcards[(entry.get("model_info") or {}).get("id")] = (name, model)
                continue
            if name not in targets:
                flag = (entry.get("model_info") or {}).get("supports_reasoning")
                if isinstance(flag, bool):
                    reasoning[name] = flag
            targets.setdefault(name, model)
            if model.startswith(PREFIX):
                specs.add(model)
        return cls(targets, frozenset(specs), wildcards, reasoning)

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
        redaction.register(secrets())
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
        known = models()
        nested = known is not None and known.targets.get(model, "").startswith(PREFIX)
        if nested or kwargs.get("max_retries") == 0:
            # A mixture is never re-run whole (its member calls have retries of their own), and
            # the spec's retries and timeouts are exact (see Run._kwargs): the Router's retries
            # of the alias would multiply them as the SDK's would.
            kwargs.setdefault("num_retries", 0)
        return await current.acompletion(model=model, messages=messages, **kwargs)
    return await litellm_caller(model, messages, **kwargs)


class ProxyGuard(CustomLogger):
    """A proxy pre-call hook: refuses client-sent ``mixture/`` names before the proxy routes them.

    It has to run that early: the proxy splits a name at commas into a batch call, its wildcard
    route cuts a name at the first newline, and it echoes names in response headers. For every
    mixture, named entries included, it also refuses body fields that would route the call past
    the handler, and stops the Router from re-running the mixture whole. Add it as
    ``litellm_settings: callbacks: [mixture_hooks.proxy_guard]`` (see proxy_config.yaml).
    """

    def __init__(self, check_spec: Any) -> None:
        super().__init__()
        self._check_spec = check_spec

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict:
        model = data.get("model")
        if not isinstance(model, str):
            return data
        # models() on every request: the keys of a changed model list are struck from logs too.
        current, known = router(), models()
        entry = current is not None and model in current.model_names
        if entry and (known is None or not known.targets.get(model, "").startswith(PREFIX)):
            return data  # a plain alias of the model_list: not a mixture
        if not entry and not model.startswith(PREFIX):
            return data
        # Named mixtures too: a body field must not send the call past the handler.
        policy.check_fields(data, model)
        if not entry:  # a client's spec: size first, then what it says, then its spelling
            rules = policy.current()
            policy.check_size(model, rules)
            await self._check_spec(model.removeprefix(PREFIX))
            policy.check_name(model, rules)
        # Never re-run a mixture whole: its member calls have retries of their own.
        data["num_retries"] = 0
        return data
