"""litellm-mixture: Mixture-of-Agents pipelines addressable as LiteLLM model names.

    import litellm
    litellm.completion(model="mixture/moa-lite", messages=[...])

Installing the package registers the ``mixture/`` provider whenever litellm is imported
(a ``.pth`` import hook; ``LITELLM_MIXTURE_NO_HOOK=1`` turns it off). Importing this package
registers it too, at once if litellm is loaded, else the moment litellm is imported;
:func:`register` does it explicitly and is idempotent.

The public names (``__all__``, pinned by tests/test_public_api.py) load on first use:
importing the package, or a module of it that does not need litellm (``spec``, ``cli``), does
not import litellm, which takes seconds. Two more attributes are the proxy's hooks, named in its
config through ``mixture_hooks.py``: ``handler`` (what :func:`register` returns) and
``proxy_guard`` (the pre-call hook, ``proxy.ProxyGuard``), and ``mixture_metrics`` (the
mixtures' Prometheus series, ``metrics.METRICS``).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .api import Result, estimate, run
    from .engine import Run, StepResult, TraceEntry
    from .errors import (
        BudgetError,
        MemberFailure,
        MembersAuthError,
        MembersContextWindowError,
        MembersFailedError,
        MembersNotFoundError,
        MembersOverBudgetError,
        MembersPermissionError,
        MembersRateLimitedError,
        MembersRejectedError,
        MembersTimedOutError,
        MixtureError,
        ParamError,
        RefusedFieldError,
        SpecError,
    )
    from .observe.metrics import MixtureMetrics
    from .pricing.estimates import Estimate
    from .pricing.modelinfo import model_info
    from .provider.llm import MixtureLLM
    from .provider.proxy import ProxyGuard
    from .spec import decode, encode
    from .spec.base import Member
    from .spec.presets import preset_names
    from .spec.schema import Pipeline
    from .spec.steps import Aggregate, Propose, Rank, Refine, SelfMoaSeq, Synthesize, Vote
    from .spec.transforms import Dropout, Filter, Map, Sample, Shuffle, Take
    from .trust.policy import Policy, PolicyError, set_policy

    handler: MixtureLLM
    proxy_guard: ProxyGuard
    mixture_metrics: MixtureMetrics

__all__ = [
    "Aggregate",
    "BudgetError",
    "Dropout",
    "Estimate",
    "Filter",
    "Map",
    "Member",
    "MemberFailure",
    "MembersAuthError",
    "MembersContextWindowError",
    "MembersFailedError",
    "MembersNotFoundError",
    "MembersOverBudgetError",
    "MembersPermissionError",
    "MembersRateLimitedError",
    "MembersRejectedError",
    "MembersTimedOutError",
    "MixtureError",
    "MixtureLLM",
    "ParamError",
    "Pipeline",
    "Policy",
    "PolicyError",
    "Propose",
    "Rank",
    "Refine",
    "RefusedFieldError",
    "Result",
    "Run",
    "Sample",
    "SelfMoaSeq",
    "Shuffle",
    "SpecError",
    "StepResult",
    "Synthesize",
    "Take",
    "TraceEntry",
    "Vote",
    "decode",
    "encode",
    "estimate",
    "model_info",
    "preset_names",
    "register",
    "run",
    "set_policy",
]

# Where each public name lives (loaded on first use, PEP 562).
_MODULES = {
    **dict.fromkeys(("Result", "estimate", "run"), "api"),
    "Estimate": "pricing.estimates",
    **dict.fromkeys(("decode", "encode"), "spec"),
    "Member": "spec.base",
    "Pipeline": "spec.schema",
    "preset_names": "spec.presets",
    **dict.fromkeys(
        ("Aggregate", "Propose", "Rank", "Refine", "SelfMoaSeq", "Synthesize", "Vote"),
        "spec.steps",
    ),
    **dict.fromkeys(("Dropout", "Filter", "Map", "Sample", "Shuffle", "Take"), "spec.transforms"),
    **dict.fromkeys(("Run", "StepResult", "TraceEntry"), "engine"),
    **dict.fromkeys(
        (
            *("MemberFailure", "MembersAuthError", "MembersFailedError", "MembersNotFoundError"),
            *("MembersPermissionError", "MembersRateLimitedError", "MembersRejectedError"),
            *("MembersOverBudgetError", "MembersTimedOutError", "ParamError"),
            "MembersContextWindowError",
            *("BudgetError", "MixtureError", "RefusedFieldError", "SpecError"),
        ),
        "errors",
    ),
    "model_info": "pricing.modelinfo",
    **dict.fromkeys(("Policy", "PolicyError", "set_policy"), "trust.policy"),
    "MixtureLLM": "provider.llm",
}

PROVIDER = "mixture"


def register(handler: MixtureLLM | None = None) -> MixtureLLM:
    """Register the ``mixture`` provider with litellm (idempotent). Returns the handler.

    Also tells litellm the presets' model info, makes ``litellm.completion_cost`` exact for
    mixture responses, and strikes known secrets from litellm's log records: every change to
    litellm is listed in ``litellm_mixture._litellm.patches``. The handler made here runs
    in-process; inside the LiteLLM proxy it calls the proxy's aliases through its Router
    (``proxy.HOST``).
    """
    import litellm

    for entry in litellm.custom_provider_map:
        if entry.get("provider") == PROVIDER and handler is None:
            # litellm types the entry's handler as any handler; under our name it is ours.
            return _placed(cast("MixtureLLM", entry["custom_handler"]))
    from ._litellm import patches as _patches
    from .provider.llm import MixtureLLM

    handler = handler or _placed(MixtureLLM())
    _patches.install(PROVIDER, handler)
    return handler


def _placed(handler: MixtureLLM) -> MixtureLLM:
    """``handler``, moved into the proxy once the proxy has loaded: it registers the provider
    from its config, which names our handler, and reads its Router from ``proxy_server``. A
    handler given a host of its own keeps it."""
    from ._litellm import in_proxy
    from .provider.host import IN_PROCESS

    if getattr(handler, "host", None) is IN_PROCESS and in_proxy():
        from .provider.proxy import HOST

        handler.host = HOST
    return handler


def __getattr__(name: str) -> Any:
    if name == "handler":
        value: Any = register()
    elif name == "proxy_guard":
        # The proxy's pre-call hook, named in proxy_config.yaml (through mixture_hooks.py).
        from .provider.proxy import ProxyGuard

        value = ProxyGuard(register().check_client_spec)
    elif name == "mixture_metrics":
        # The mixtures' Prometheus series, named in a proxy config's callbacks (docs/deploy.md).
        from .observe.metrics import METRICS

        register()
        value = METRICS
    elif name in _MODULES:
        value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
        if "litellm" in sys.modules:
            # The module may be what imported litellm; the hook leaves registering to us then.
            register()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if "litellm" in sys.modules:
    register()
else:
    import _litellm_mixture_hook

    _litellm_mixture_hook.install()
