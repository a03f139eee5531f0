"""What the provider asks of where it runs: the seams between a mixture and its host.

A :class:`Host` says how a member is called, which model aliases exist (and which of them are
the operator's mixtures), what a member takes, which spec a litellm Router meant to call, how
many upstream requests one member call may make, and what the engine asks of a model (its
prices, its context window, whether it takes a prefill). :data:`IN_PROCESS` is the default:
members are litellm model names called with ``litellm.acompletion``, there are no aliases, and
litellm's own param lists and model map answer for them. Inside the LiteLLM proxy,
``proxy.HOST`` calls the proxy's aliases through its Router; ``register()`` decides which one
the handler gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .. import _litellm
from ..engine import LITELLM_FACTS, Caller, Facts, litellm_caller, litellm_embedder, params
from ..spec import PREFIX
from ..trust.calls import sdk_attempts

# litellm's default retries: a Router with no num_retries setting retries a call twice, and a
# call outside a Router keeps the OpenAI SDK's own two (litellm passes max_retries=2 to
# OpenAI-compatible providers). Either way one member call may reach its provider three times.
_EFFORT = "reasoning_effort"


@dataclass(frozen=True)
class Models:
    """What a Router's ``model_list`` offers: alias -> the model its first deployment calls."""

    targets: dict[str, str]
    operator_specs: frozenset[str]
    # Wildcard entries: deployment id (or None) -> (its model_name pattern, the model it fills in).
    wildcards: dict[str | None, tuple[str, str]]
    # Aliases whose first deployment's model_info says whether it reasons (supports_reasoning).
    reasoning: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, router: Any) -> Models:
        targets: dict[str, str] = {}
        wildcards: dict[str | None, tuple[str, str]] = {}
        specs = set()
        reasoning: dict[str, bool] = {}
        for entry in _litellm.deployments(router):
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


def routed_model(model: str, metadata: dict[str, Any], known: Models | None = None) -> str:
    """The model the Router meant to call: ``model``, unless a wildcard entry filled it in wrong.

    litellm 1.110's Router fills a wildcard entry's ``*`` twice: through ``mixture/*`` a client's
    ``mixture/x*3>y`` reaches the provider as ``mixture/xx*3>y3>y``. The Router records the name
    the client called (``model_group``) and the entry that served it (``deployment_model_name``),
    overwriting any a client sends, so the name is filled in again, once, from those. The result
    is taken only if the Router's own filling (once or twice) of it gives ``model``; with the
    ``known`` models of a proxy, only for a wildcard entry of its model_list.
    """
    pattern, called = metadata.get(_litellm.ROUTED_PATTERN), metadata.get(_litellm.ROUTED_GROUP)
    if not isinstance(pattern, str) or "*" not in pattern or not isinstance(called, str):
        return model
    # litellm's PatternMatchRouter: each * of the entry's name matches any text.
    match = re.match(re.escape(pattern).replace(r"\*", "(.*)"), called)
    if match is None:
        return model
    template = pattern  # outside the proxy: an entry that maps names to themselves (mixture/*)
    if known is not None:
        entry = known.wildcards.get((metadata.get(_litellm.ROUTED_INFO) or {}).get("id"))
        if entry is None or entry[0] != pattern:
            return model
        template = entry[1]
    once = _litellm.fill_wildcard(match, template)
    return once if model in (once, _litellm.fill_wildcard(match, once)) else model


def no_models() -> Models | None:
    return None


def itself(model: str) -> tuple[str, ...]:
    return (model,)


@dataclass(frozen=True)
class Host:
    """The seams a :class:`~litellm_mixture.provider.llm.MixtureLLM` runs through (see above).

    Each is read at call time: a host may change what it answers (the proxy reloads its
    model list). ``dataclasses.replace(IN_PROCESS, caller=fake)`` makes a host for tests.
    """

    # How one member call is made.
    caller: Caller = litellm_caller
    # The aliases members may name and the operator's mixtures among them; None: no aliases.
    models: Callable[[], Models | None] = no_models
    # What a member's model takes (which of the caller's settings reach it).
    takes: params.Lookup = params.takes
    # The spec a Router meant, from the model the provider got and the request's metadata.
    routed_model: Callable[[str, dict[str, Any]], str] = routed_model
    # The most upstream requests one call to a member may make (what max_calls counts).
    attempts: Callable[[str, bool], int] = sdk_attempts
    # The models one call to a member may reach (a Router's deployments and fallbacks): a
    # budget prices the call at the dearest.
    reach: Callable[[str], tuple[str, ...]] = itself
    # How one embedding call (agree_by: {embedding: ...}) is made.
    embedder: Caller = litellm_embedder
    # What a model costs, how long a prompt it reads, whether it takes a prefill.
    facts: Facts = LITELLM_FACTS

    def aliases(self) -> dict[str, str]:
        """Alias -> the model it calls (empty without aliases)."""
        known = self.models()
        return known.targets if known is not None else {}


IN_PROCESS = Host()
