"""Every change litellm-mixture makes to litellm's global state, installed from here only.

:func:`install` (run by ``register()``) makes them, each once; what they compute lives in the
module named. Each leaves other providers' calls and other replies as litellm makes them. Each
reaches litellm through ``_litellm``, the door to its internals, which declares what it relies on
for the contract test.
"Needed" was checked against litellm's source, 1.81.10 (aider's pin) to 1.110.2.

1. ``litellm.custom_provider_map`` (then ``litellm.utils.custom_llm_setup()``): adds the
   ``mixture`` provider, replacing an earlier ``mixture`` entry. litellm's own way to add a
   provider (it has no entry points): all versions.
2. ``litellm.get_supported_openai_params`` and ``litellm.utils.get_supported_openai_params``
   (``params.listing``): every OpenAI param for ``mixture/...``. litellm checks a custom
   provider's params against the generic OpenAI-like list (``LlmProviders.CUSTOM``'s config),
   which lacks ``reasoning_effort`` and ``thinking``: the call raises ``UnsupportedParamsError``
   before the handler runs. Needed in all versions so far (1.110.2 still answers so).
3. ``litellm.main.get_optional_params`` (``params.keeping``): keeps for ``mixture/...`` calls
   the params that generic config drops silently, by naming them in ``allowed_openai_params``.
   All versions so far.
4. ``litellm.completion_cost`` (``cost.exact``): a mixture reply's summed cost instead of a
   price looked up by its model name, which fails or only estimates. Before 1.109 litellm
   never reads ``usage.cost``; 1.109 and later read it, but not when the caller set prices
   (aider's model metadata) nor for a reply that carries the cost only in ``mixture_cost`` (a
   proxy's reply read by litellm 1.81, a stream without usage). All versions so far.
5. ``litellm.model_cost`` (``modelinfo.preset_entries``): each preset's model info, as
   ``mixture/<name>``, for tools that ask litellm a model's context window and prices (aider).
   Set directly, entries already there win: ``litellm.register_model`` looks each entry up in
   the builtin map and warns, slowly and loudly, at import time. All versions.
6. ``CustomStreamWrapper.chunk_creator`` (``_reasoning_deltas``): the live panel's text as
   ``delta.reasoning_content`` and ``delta.thinking_blocks``. A custom provider's stream is made
   of generic chunks, which have no reasoning field (litellm 1.81 reads nothing else from a
   custom provider); the text travels in the chunk's provider fields (``response.REASONING``)
   and is moved into the delta, where litellm's bridges turn it into Anthropic ``thinking``
   blocks (1.81's opens one only for ``thinking_blocks``) and Responses reasoning items. Only
   chunks that carry that field are touched. All versions so far.
7. ``CustomStreamWrapper.model_response_creator`` (``_closing_cost``): the chunks litellm
   itself makes to close a mixture's stream (the one with the finish reason, and the usage
   chunk) carry ``mixture_cost`` (and ``mixture_degraded``) too, so the stream's last chunk
   has them, as documented. litellm holds back a custom provider's finish and makes that chunk
   anew, without the fields of the provider's last chunk. The run's summary is on the request's
   logging object by then (``cost.carry``); chunks of other providers, and those made before
   the run ended, are left alone. Also set as the chunk's provider fields: the proxy (1.108)
   serializes a chunk without them by a fast path that drops every other field. All versions
   so far.
8. A log filter (``redaction.SCRUBBER``) on litellm's loggers and ours (``redaction.LOGGERS``):
   strikes known secrets from log records, which carry member errors and tracebacks. All
   versions. Another (``errors.ONE_LINE_REFUSALS``) on the proxy's logger drops the traceback
   of a request our checks refused (a 400 the client caused): one line each. All versions.
9. ``litellm.caching.caching.Cache.get_cache_key`` (``cache_keys.keyed``): a ``mixture/...``
   request's own params (``estimate_only``, ``intermediate_responses``, ``max_cost``,
   ``panel``) in its response-cache key; litellm keys only the OpenAI params, so an estimate
   would be served as an answer. Only requests that send one of them are touched. All versions.

Not here, on purpose: the import hook (``_litellm_mixture_hook.py``) wraps the loader of the
``litellm`` module so that ``register()`` runs once litellm is imported; it is loaded from a
``.pth`` file at interpreter start and must not import this package. Changes to one request
only: ``cost.carry`` (its logging object's cost) and ``proxy.ProxyGuard`` (its
``num_retries``). ``live.quiet_litellm`` sets ``litellm.suppress_debug_info`` for the
command-line tool, not for the library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import litellm

from .. import _litellm, errors
from ..common import redaction
from ..engine import cache_keys, params
from ..observe import report
from ..pricing import cost
from ..pricing.modelinfo import preset_entries
from ..provider import response
from . import wrap


def install(provider: str, handler: Any) -> None:
    """Makes every change listed above (idempotent); ``handler`` serves ``provider/...``."""
    _litellm.add_provider(provider, handler)
    wrap(
        _litellm.SUPPORTED_PARAMS_OWNERS,
        "get_supported_openai_params",
        lambda original: params.listing(provider, original),
    )
    wrap(
        _litellm.OPTIONAL_PARAMS_OWNERS,
        "get_optional_params",
        lambda o: params.keeping(provider, o),
    )
    wrap((litellm,), "completion_cost", cost.exact)
    wrap((_litellm.STREAM_WRAPPER,), "chunk_creator", _reasoning_deltas)
    wrap((_litellm.RESPONSE_CACHE,), "get_cache_key", cache_keys.keyed)
    wrap(
        (_litellm.STREAM_WRAPPER,),
        "model_response_creator",
        lambda original: _closing_cost(provider, original),
    )
    _litellm.add_model_info(preset_entries())
    guard_logs()


def _reasoning_deltas(original: Callable[..., Any]) -> Callable[..., Any]:
    def chunk_creator(self: Any, chunk: Any) -> Any:
        fields = chunk.get("provider_specific_fields") if isinstance(chunk, dict) else None
        said = fields.get(response.REASONING) if isinstance(fields, dict) else None
        out = original(self, chunk)
        if said is None or out is None or not getattr(out, "choices", None):
            return out
        delta = out.choices[0].delta
        delta.reasoning_content = said
        # What litellm 1.81's /v1/messages bridge reads to open a thinking block.
        delta.thinking_blocks = [{"type": "thinking", "thinking": said, "signature": ""}]
        if not delta.content:
            delta.content = None
        theirs = getattr(delta, "provider_specific_fields", None)
        if isinstance(theirs, dict):
            theirs.pop(response.REASONING, None)
            delta.provider_specific_fields = theirs or None
        if response.REASONING in vars(out):
            delattr(out, response.REASONING)
        return out

    return chunk_creator


def _closing_cost(provider: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def model_response_creator(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if _litellm.stream_provider(self) == provider:
            details = _litellm.call_details(_litellm.stream_logging(self)) or {}
            summary = details.get(cost.HIDDEN_KEY)
            if isinstance(summary, dict) and summary.get("cost") is not None:
                fields = {cost.FIELD: summary["cost"]}
                if summary.get(report.DEGRADED):
                    fields[report.DEGRADED] = summary[report.DEGRADED]
                for key, value in fields.items():
                    setattr(out, key, value)
                # The proxy serializes a chunk without provider fields by a fast path that
                # sends only OpenAI's fields. (So the 1.108 proxy no longer strips the usage
                # chunk it asked for itself: a client that did not ask gets it too.)
                out.provider_specific_fields = fields
        return out

    return model_response_creator


def guard_logs() -> None:
    """Puts the scrubber on litellm's loggers and ours, and keeps our refusals to one line in
    the proxy's log (idempotent)."""
    for name in redaction.LOGGERS:
        logger = logging.getLogger(name)
        if redaction.SCRUBBER not in logger.filters:
            logger.addFilter(redaction.SCRUBBER)
    proxy_logger = logging.getLogger("LiteLLM Proxy")
    if errors.ONE_LINE_REFUSALS not in proxy_logger.filters:
        # First: the scrubber renders a traceback into text, after which it is no longer
        # known whose it was.
        proxy_logger.filters.insert(0, errors.ONE_LINE_REFUSALS)
