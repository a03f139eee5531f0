"""Inside the LiteLLM proxy: the Router as the member seam (:data:`HOST`), and the guard on
client-sent names.

The proxy replaces its Router on reload, so it is read from ``proxy_server.llm_router`` at call
time. Until the proxy has a Router (or outside the proxy) every seam here answers as
:data:`host.IN_PROCESS` does and members go to ``litellm.acompletion``.
"""

from __future__ import annotations

import os
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from .. import _litellm
from ..common import redaction
from ..common.state import STATE
from ..engine import LITELLM_FACTS, Facts, litellm_caller, litellm_embedder, params
from ..observe import report
from ..pricing import cost, prices
from ..spec import PREFIX
from ..trust import body, calls, policy
from . import host
from .host import Host, Models

# How a proxy config names an environment variable's value instead of writing it out.
ENV_REFERENCE = "os.environ/"


router = _litellm.router


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
        for entry in _litellm.deployments(current)
        if entry.get("model_name") == group
    ]
    setting, router_policy, group_policy = _litellm.retry_settings(current, group)
    retries = [
        _as_int(setting),
        _policy_retries(router_policy),
        _policy_retries(group_policy),
        *(_as_int(d.get("num_retries")) for d in deployments),
    ]
    sdk = max((1 + _as_int(d.get("max_retries")) for d in deployments), default=1)
    return (1 + max(retries)) * sdk


def _fallback_groups(current: Any, group: str) -> list[str]:
    found: list[str] = []
    for table in _litellm.fallback_tables(current):
        for entry in table:
            if isinstance(entry, dict):
                for key in (group, "*"):
                    found += [g for g in entry.get(key) or () if isinstance(g, str)]
    return found


def attempts(model: str, retried: bool = False) -> int:
    """The most upstream requests one member call to ``model`` may make, retries included: what
    ``max_calls`` counts. A proxy alias gets its Router's retries and (one level of) fallbacks;
    any other model the SDK's, unless the spec retries the call itself (``retried``)."""
    current = router()
    if current is None or model not in _litellm.aliases(current):
        return calls.sdk_attempts(model, retried)
    groups = [model, *_fallback_groups(current, model)]
    return sum(_group_attempts(current, g, retried) for g in groups)


def _priced_name(entry: dict[str, Any]) -> str:
    """The name a deployment's price is found under: the Router files prices the operator set
    on a deployment (a zero included) under its id, and litellm's own under the model."""
    model_id = (entry.get("model_info") or {}).get("id")
    own = litellm.model_cost.get(model_id) if isinstance(model_id, str) else None
    if isinstance(own, dict) and any(own.get(k) is not None for k in prices.PRICE_KEYS):
        return str(model_id)  # a string already: own is looked up only under one
    return str((entry.get("litellm_params") or {}).get("model"))


def reach(model: str) -> tuple[str, ...]:
    """Every model one call to ``model`` may reach: an alias's deployments and (one level of)
    its Router fallbacks' deployments; any other model itself."""
    current = router()
    if current is None or model not in _litellm.aliases(current):
        return (model,)
    groups = [model, *_fallback_groups(current, model)]
    found = [
        _priced_name(entry)
        for group in groups
        for entry in _litellm.deployments(current)
        if entry.get("model_name") == group
    ]
    return tuple(dict.fromkeys(found)) or (model,)


def _credentials() -> int:
    return len(_litellm.credentials())


def models() -> Models | None:
    """The proxy's models, or None outside the proxy. Recomputed when the model list changes."""
    current = router()
    if current is None:
        return None
    key = (*_litellm.deployments_key(current), _credentials())
    if STATE.proxy_models is None or STATE.proxy_models[:3] != key:
        redaction.register(secrets())
        STATE.proxy_models = (*key, Models.of(current))
    return STATE.proxy_models[3]


def routed_model(model: str, metadata: dict[str, Any]) -> str:
    """The model the Router meant to call (see :func:`host.routed_model`): inside the proxy,
    only a wildcard entry of its model_list fills a name in."""
    return host.routed_model(model, metadata, models())


def takes(member: str) -> params.Takes:
    """What a member takes: an alias of the proxy's as the model it calls."""
    known = models()
    return known.takes(member) if known is not None else params.takes(member)


def secrets() -> set[str]:
    """The proxy's master key, its deployments' credentials and its ``credential_list``'s, with
    the values of the environment variables they name (``os.environ/NAME``): what nobody may
    ever see."""
    found: set[str] = set()
    master = _litellm.master_key()
    if master is not None:
        found.add(master)
    for entry in _litellm.deployments(router()):
        redaction.fields(entry.get("litellm_params") or {}, found)
    # Keys the model_list names by litellm_credential_name live in the proxy's credential_list.
    for credential in _litellm.credentials():
        redaction.fields(_litellm.credential_values(credential), found)
    named = [os.environ.get(v[len(ENV_REFERENCE) :]) for v in found if v.startswith(ENV_REFERENCE)]
    return found | {v for v in named if v}


async def call_member(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    """A member call: through the proxy's Router when ``model`` is one of its aliases, so it
    gets the operator's keys, load balancing, fallbacks and rate limits."""
    current = router()
    if current is not None and model in _litellm.aliases(current):
        known = models()
        nested = known is not None and known.targets.get(model, "").startswith(PREFIX)
        if nested or kwargs.get("max_retries") == 0:
            # A mixture is never re-run whole (its member calls have retries of their own), and
            # the spec's retries and timeouts are exact (see Run._kwargs): the Router's retries
            # of the alias would multiply them as the SDK's would.
            kwargs.setdefault("num_retries", 0)
        return await current.acompletion(model=model, messages=messages, **kwargs)
    return await litellm_caller(model, messages, **kwargs)


async def embed(model: str, input: list[str], **kwargs: Any) -> Any:
    """An embedding call (``agree_by: {embedding: ALIAS}``): through the Router for an alias,
    with its deployment's key, endpoint, limits and fallbacks, like every member call."""
    current = router()
    if current is not None and model in _litellm.aliases(current):
        return await current.aembedding(model=model, input=input, **kwargs)
    return await litellm_embedder(model, input, **kwargs)


def _called(model: str) -> str:
    """The model an alias calls (its first deployment's); any other model itself."""
    known = models()
    return known.targets.get(model, model) if known is not None else model


def prefills(model: str) -> bool:
    return LITELLM_FACTS.prefills(_called(model))


def past_window(model: str, messages: list[dict[str, Any]], tools: Any = None) -> str | None:
    return LITELLM_FACTS.past_window(_called(model), messages, tools)


# What the engine asks of a model: an alias answers as the model it calls.
FACTS = Facts(prefills=prefills, past_window=past_window)

# The provider's seams inside the proxy: its aliases, through its Router.
HOST = Host(
    caller=call_member,
    models=models,
    takes=takes,
    routed_model=routed_model,
    attempts=attempts,
    reach=reach,
    embedder=embed,
    facts=FACTS,
)


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
        entry = current is not None and model in _litellm.aliases(current)
        if entry and (known is None or not known.targets.get(model, "").startswith(PREFIX)):
            return data  # a plain alias of the model_list: not a mixture
        if not entry and not model.startswith(PREFIX):
            return data
        # Named mixtures too: a body field must not send the call past the handler.
        body.check_fields(data, model)
        if "messages" in data:  # a malformed conversation is a one-line 400, not a traceback
            body.check_messages(data["messages"], model)
        if not entry:  # a client's spec: size first, then what it says, then its spelling
            rules = policy.current()
            policy.check_size(model, rules)
            await self._check_spec(model.removeprefix(PREFIX))
            policy.check_name(model, rules)
        # Never re-run a mixture whole: its member calls have retries of their own.
        data["num_retries"] = 0
        return data

    async def async_post_call_response_headers_hook(
        self, data: dict, user_api_key_dict: Any, response: Any, *args: Any, **kwargs: Any
    ) -> dict[str, str] | None:
        """``x-litellm-mixture-degraded`` on a reply that answered from fewer members than it
        asked for. Set here, not in the reply's ``additional_headers``, which litellm 1.81
        renames ``llm_provider-...``. A stream's headers leave first: its chunk says it."""
        lost = _litellm.hidden(response).get(report.DEGRADED)
        return {report.DEGRADED_HEADER: lost} if lost else None

    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: Any, response: Any
    ) -> Any:
        # A mixture answered by the response cache (another instance's run, through Redis).
        cost.unspent(response)
        return response
