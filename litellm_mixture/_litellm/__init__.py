"""The one door to litellm's internals: every private or semi-private name of litellm the package
relies on is read, called or written here, and declared in :data:`INTERNALS`, which
``tests/test_contract.py`` walks first on every litellm of CI.

The rule. Elsewhere the package uses litellm's public API only: the names litellm exports at
its top level (``acompletion``, ``aembedding``, ``token_counter``, ``cost_per_token``,
``get_model_info``, ``get_llm_provider``, ``supports_reasoning``, ``Usage``, the exception
classes, ``CustomLLM``; reading ``model_cost`` and ``cache``), ``litellm.exceptions``,
``litellm.types.*`` models, ``litellm.integrations.custom_logger.CustomLogger`` and what
litellm documents it passes to a provider or a callback (the ``logging_obj`` and
``litellm_params`` of a call, a callback's kwargs). Through this module only:

- names that are underscored, or live in ``litellm.main``, ``litellm.utils`` (beyond its
  top-level exports), ``litellm.constants``, ``litellm.caching.caching``,
  ``litellm.litellm_core_utils.*``, ``litellm.router_utils.*``, ``litellm.proxy.*``;
- fields of litellm's objects that are not their documented API: a logging object's, a
  response's ``_hidden_params``, a stream wrapper's, the Router's settings, the proxy
  server's module globals, the metadata keys the Router writes;
- every write to litellm's globals (``custom_provider_map``, ``model_cost``,
  ``suppress_debug_info``, the functions ``patches`` wraps) and to its objects' private
  fields.

``patches`` (what is changed, and why) sits beside this module and reaches litellm through it.
When a litellm release moves one of these, the contract test names it; fix it here.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import litellm
import litellm.main
import litellm.utils
from litellm.caching.caching import Cache
from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

PROXY_SERVER = "litellm.proxy.proxy_server"
# The qualified name of the coroutine of litellm's logging worker task (one per process).
LOGGING_WORKER = "LoggingWorker."
# What the Router writes into a routed call's metadata.
ROUTED_GROUP, ROUTED_PATTERN, ROUTED_INFO = "model_group", "deployment_model_name", "model_info"
# The Router's tables of fallback groups.
FALLBACK_TABLES = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
# Set on every function installed by wrap(): a second wrap leaves it in place.
_MARK = "_litellm_mixture_patch"


@dataclass(frozen=True)
class Internal:
    """One internal the package relies on. ``path`` is ``module`` or ``module:attr.attr``, or
    several such joined by `` | `` where litellm versions differ (the first found is checked;
    ``mentions`` may be in any). ``params``: parameter names of a callable; ``fields``:
    attributes of a class (set in its body or on ``self``; ``a|b``: either), or of what
    ``example`` makes when the class builds its attributes at run time; ``mentions``: text its
    module's source must hold."""

    path: str
    relies: str
    params: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    example: Callable[[], Any] | None = None


def _example_router() -> Any:
    """A Router with one alias and a fallback (litellm 1.110's builds its fields at run time)."""
    alias = {"model_name": "a", "litellm_params": {"model": "openai/a", "api_key": "-"}}
    return litellm.Router(model_list=[alias], fallbacks=[{"a": ["a"]}])


_CORE = "litellm.litellm_core_utils"
INTERNALS: tuple[Internal, ...] = (
    Internal("litellm:custom_provider_map", "a list of {provider, custom_handler}: patch 1"),
    Internal("litellm.utils:custom_llm_setup", "re-reads custom_provider_map: patch 1"),
    Internal(
        "litellm.utils:get_supported_openai_params",
        "wrapped: every OpenAI param for mixture/ (patch 2)",
        params=("model", "custom_llm_provider"),
    ),
    Internal("litellm:get_supported_openai_params", "the same function, re-exported: patch 2"),
    Internal(
        "litellm.main:get_optional_params",
        "wrapped, called by keyword: allowed_openai_params (patch 3)",
        params=("model", "custom_llm_provider", "allowed_openai_params"),
    ),
    Internal(
        "litellm.constants:DEFAULT_CHAT_COMPLETION_PARAM_VALUES",
        "the OpenAI params litellm knows (params.OPENAI_PARAMS)",
    ),
    Internal(
        "litellm:completion_cost",
        "wrapped: a mixture's summed cost (patch 4)",
        params=("completion_response",),
    ),
    Internal("litellm:model_cost", "a dict of model info: preset entries added (patch 5)"),
    Internal("litellm:suppress_debug_info", "a flag: litellm's banners off (quiet)"),
    Internal(
        f"{_CORE}.streaming_handler:CustomStreamWrapper.chunk_creator",
        "wrapped: the panel's reasoning deltas (patch 6)",
        params=("self", "chunk"),
    ),
    Internal(
        f"{_CORE}.streaming_handler:CustomStreamWrapper.model_response_creator",
        "wrapped: the closing chunks' cost (patch 7)",
        params=("self",),
    ),
    Internal(
        f"{_CORE}.streaming_handler:CustomStreamWrapper",
        "a stream's fields: its provider, logging object, kept chunks, finish, inner stream",
        fields=(
            "custom_llm_provider",
            "logging_obj",
            "chunks",
            "received_finish_reason",
            "completion_stream",
        ),
    ),
    Internal(
        "litellm.caching.caching:Cache.get_cache_key",
        "wrapped, called with the request's kwargs: a mixture's own params keyed (patch 9)",
        params=("self",),
    ),
    Internal(
        f"{_CORE}.litellm_logging:Logging",
        "a request's logging object: its details dict, call id, cost calculator",
        fields=(
            "model_call_details",
            "litellm_call_id",
            "_response_cost_calculator|response_cost_calculator",
        ),
    ),
    Internal(
        f"{_CORE}.litellm_logging:Logging.async_failure_handler",
        "logs a hung-up run's failure (cost.bill_failure)",
        params=("self", "exception", "traceback_exception"),
    ),
    Internal(
        f"{_CORE}.litellm_logging:Logging",
        "failure logging reads a stream's recovered spend",
        mentions=("combined_usage_object",),
    ),
    Internal(
        "litellm.types.utils:ModelResponse",
        "_hidden_params: response_cost (read by callbacks, the proxy's cost header), cache_hit",
        fields=("_hidden_params",),
    ),
    Internal(
        f"{_CORE}.logging_worker:LoggingWorker",
        "its task's coroutine is named LoggingWorker.* (_sync drops its pending-task report)",
    ),
    Internal(
        "litellm.router_utils.pattern_match_deployments:PatternMatchRouter"
        ".set_deployment_model_name | litellm.litellm_core_utils.pattern_match_deployments"
        ":PatternMatchRouter.set_deployment_model_name",
        "how a wildcard entry fills its model in: fill_wildcard copies it",
        params=("matched_pattern", "litellm_deployment_litellm_model"),
    ),
    Internal(
        "litellm.router:Router",
        # 1.110 warns (DeprecationWarning) on model_list, model_names and the fallback tables:
        # use Router.registry() and Router.settings(). They are still there in 1.110.2.
        "the proxy's Router: its aliases, retries, fallbacks, calls",
        fields=(
            "model_list",
            "model_names",
            "num_retries",
            "retry_policy",
            "model_group_retry_policy",
            *FALLBACK_TABLES,
            "acompletion",
            "aembedding",
        ),
        example=_example_router,
    ),
    Internal(
        "litellm.router | litellm.router_attempt",
        "what the Router writes into a routed call's metadata (host.routed_model)",
        mentions=(ROUTED_GROUP, ROUTED_PATTERN, ROUTED_INFO),
    ),
    Internal(
        "litellm.proxy.proxy_server",
        "module globals: the Router, the master key",
        mentions=("llm_router", "master_key"),
    ),
    Internal("litellm:credential_list", "the proxy's credentials (their values are secrets)"),
    Internal(
        "litellm.proxy.proxy_server",
        "litellm_settings become litellm's attributes (policy reads litellm.mixture_policy)",
        mentions=("setattr(litellm, key, value)",),
    ),
    Internal(
        "litellm.caching.caching:Cache",
        "a cache's namespace; the key litellm keeps for a request (cache_keys)",
        fields=("namespace",),
        mentions=("preset_cache_key",),
    ),
    Internal(
        "litellm.router | litellm.litellm_core_utils.exception_mapping_utils",
        "an exception's Retry-After (errors.retry_after): the Router waits it (1.81 to 1.108)",
        mentions=("litellm_response_headers",),
    ),
    Internal(
        "litellm.integrations.opentelemetry",
        "a call's parent span in its metadata (telemetry.PARENT)",
        mentions=("litellm_parent_otel_span",),
    ),
)


# -- litellm's globals --------------------------------------------------------------------------


def add_provider(provider: str, handler: Any) -> None:
    """``handler`` serves ``provider/...``, replacing an earlier entry for it."""
    litellm.custom_provider_map = [
        *(e for e in litellm.custom_provider_map if e.get("provider") != provider),
        {"provider": provider, "custom_handler": handler},
    ]
    litellm.utils.custom_llm_setup()


def add_model_info(entries: dict[str, dict[str, Any]]) -> None:
    """Model info for names litellm does not know; entries already there win."""
    for key, entry in entries.items():
        litellm.model_cost.setdefault(key, entry)


def ours(function: Any) -> bool:
    """Whether ``function`` is one of our wrappers (a patch installed by :func:`wrap`)."""
    return bool(getattr(function, _MARK, False))


def wrap(owners: tuple[Any, ...], name: str, wrapper: Callable[[Any], Any]) -> None:
    """Sets ``name`` on each of ``owners`` to ``wrapper`` of the first's, unless it is ours."""
    original = getattr(owners[0], name)
    if ours(original):
        return
    patched = wrapper(original)
    setattr(patched, _MARK, True)
    for owner in owners:
        setattr(owner, name, patched)


# What the patches wrap.
SUPPORTED_PARAMS_OWNERS = (litellm.utils, litellm)
OPTIONAL_PARAMS_OWNERS = (litellm.main,)
STREAM_WRAPPER, RESPONSE_CACHE = CustomStreamWrapper, Cache
OPENAI_PARAM_DEFAULTS: dict[str, Any] = DEFAULT_CHAT_COMPLETION_PARAM_VALUES


def quiet_banners() -> None:
    """litellm's debug banners off, for good (a terminal command)."""
    litellm.suppress_debug_info = True


@contextlib.contextmanager
def banners_off() -> Iterator[None]:
    quiet, litellm.suppress_debug_info = litellm.suppress_debug_info, True
    try:
        yield
    finally:
        litellm.suppress_debug_info = quiet


# -- a request's logging object and a response's hidden params ------------------------------------


def hidden(response: Any) -> dict[str, Any]:
    """A response's ``_hidden_params`` ({} when it has none)."""
    found = getattr(response, "_hidden_params", None)
    return found if isinstance(found, dict) else {}


def hide(response: Any, **fields: Any) -> None:
    """Sets ``fields`` in a response's ``_hidden_params``."""
    response._hidden_params.update(fields)


def keep_cache_key(request: dict[str, Any], key: str) -> None:
    """The response-cache key litellm returns for ``request`` from now on (it keeps the first
    key it computed for a request in its ``litellm_params``)."""
    params = request.get("litellm_params")
    if isinstance(params, dict):
        params["preset_cache_key"] = key


def call_details(logging_obj: Any) -> dict[str, Any] | None:
    """A logging object's ``model_call_details`` (None without one)."""
    found = getattr(logging_obj, "model_call_details", None)
    return found if isinstance(found, dict) else None


def set_call_details(logging_obj: Any, details: dict[str, Any]) -> None:
    logging_obj.model_call_details = details


def set_cost_calculator(logging_obj: Any, calculate: Callable[..., float]) -> None:
    """What the logging object prices its request with (litellm 1.81 calls it
    ``_response_cost_calculator``; newer ones ``response_cost_calculator``)."""
    logging_obj._response_cost_calculator = logging_obj.response_cost_calculator = calculate


def set_recovered_usage(logging_obj: Any, usage: Any) -> None:
    """Where litellm's failure logging reads a stream's recovered spend."""
    logging_obj.model_call_details["combined_usage_object"] = usage


def log_failure(logging_obj: Any, error: Exception, trace: str) -> Any:
    """The coroutine that runs the request's failure callbacks."""
    return logging_obj.async_failure_handler(error, trace)


def call_id(logging_obj: Any) -> str | None:
    return getattr(logging_obj, "litellm_call_id", None)


# -- streams -------------------------------------------------------------------------------------


def stream_provider(stream: Any) -> str | None:
    return getattr(stream, "custom_llm_provider", None)


def stream_logging(stream: Any) -> Any:
    return getattr(stream, "logging_obj", None)


def stream_chunks(stream: Any) -> list[Any] | None:
    """The chunks a stream wrapper keeps (None: it keeps none)."""
    return getattr(stream, "chunks", None)


def stream_finish(stream: Any, default: str | None) -> str | None:
    """The finish reason a stream wrapper recorded."""
    return getattr(stream, "received_finish_reason", default)


def inner_stream(stream: Any) -> Any:
    """The provider's stream inside litellm's wrapper."""
    return getattr(stream, "completion_stream", None)


def keeps_nothing(stream: Any) -> bool:
    """Whether ``stream`` is litellm 1.81's Router wrapper, which records neither the finish
    reason nor the chunks (1.108's shares the chunks of the stream it wraps)."""
    names = [c.__name__ for c in type(stream).__mro__]
    return names[0] == "FallbackStreamWrapper" and "FallbackAwareStreamWrapper" not in names


def is_logging_worker(task: Any) -> bool:
    """Whether ``task`` is litellm's logging worker's."""
    coro = getattr(task, "get_coro", lambda: None)()
    return str(getattr(coro, "__qualname__", "")).startswith(LOGGING_WORKER)


# -- the proxy and its Router ----------------------------------------------------------------------


def router() -> Any | None:
    """The proxy's Router (None outside the proxy, or before it has one): read each time, the
    proxy replaces it on reload."""
    return getattr(sys.modules.get(PROXY_SERVER), "llm_router", None)


def in_proxy() -> bool:
    return PROXY_SERVER in sys.modules


def master_key() -> str | None:
    key = getattr(sys.modules.get(PROXY_SERVER), "master_key", None)
    return key if isinstance(key, str) else None


def credentials() -> list[Any]:
    """The proxy's ``credential_list`` (its entries' ``credential_values`` are secrets)."""
    return list(getattr(litellm, "credential_list", None) or ())


def credential_values(credential: Any) -> dict[str, Any]:
    return getattr(credential, "credential_values", None) or {}


def deployments(current: Any) -> list[dict[str, Any]]:
    """A Router's ``model_list`` entries."""
    return list(getattr(current, "model_list", None) or ())


def deployments_key(current: Any) -> tuple[int, int]:
    """What changes when the Router's model list does (the proxy replaces or extends it)."""
    return id(current.model_list), len(current.model_list or ())


def aliases(current: Any) -> Any:
    """The Router's model group names."""
    return current.model_names


def retry_settings(current: Any, group: str) -> tuple[Any, Any, Any]:
    """The Router's retries, its retry policy, and ``group``'s retry policy."""
    group_policy = (getattr(current, "model_group_retry_policy", None) or {}).get(group)
    return current.num_retries, getattr(current, "retry_policy", None), group_policy


def fallback_tables(current: Any) -> list[Any]:
    """The Router's fallback tables (each a list of {group: [groups]})."""
    return [getattr(current, table, None) or () for table in FALLBACK_TABLES]


def fill_wildcard(match: re.Match[str], template: str) -> str:
    """litellm's PatternMatchRouter.set_deployment_model_name: the entry's model, each * filled
    in turn with what the name's * matched."""
    if "*" not in template:
        return template
    if len(match.groups()) > template.count("*"):
        return match.string
    for part in match.groups():
        template = template.replace("*", part, 1)
    return template
