"""litellm-mixture: Mixture-of-Agents pipelines addressable as LiteLLM model names.

    import litellm
    litellm.completion(model="mixture/moa-lite", messages=[...])

Installing the package registers the ``mixture/`` provider whenever litellm is imported
(a ``.pth`` import hook; ``LITELLM_MIXTURE_NO_HOOK=1`` turns it off). Importing this package
registers it too; :func:`register` does it explicitly and is idempotent.
"""

from __future__ import annotations

from . import redaction
from .api import Result, run
from .config import (
    Aggregate,
    Dropout,
    Filter,
    Map,
    Member,
    Pipeline,
    Propose,
    Rank,
    Refine,
    Sample,
    SelfMoaSeq,
    Shuffle,
    Synthesize,
    Take,
    Vote,
)
from .engine import Run, StepResult, TraceEntry
from .errors import (
    MemberFailure,
    MembersAuthError,
    MembersFailedError,
    MembersNotFoundError,
    MembersPermissionError,
    MembersRateLimitedError,
    MembersRejectedError,
    MembersTimedOutError,
    MixtureError,
    ParamError,
    RefusedFieldError,
    SpecError,
)
from .modelinfo import model_info, register_presets
from .names import decode, encode, preset_names
from .policy import Policy, PolicyError, set_policy
from .provider import MixtureLLM, exact_completion_cost
from .proxy import ProxyGuard

__all__ = [
    "Aggregate",
    "Dropout",
    "Filter",
    "Map",
    "Member",
    "MemberFailure",
    "MembersAuthError",
    "MembersFailedError",
    "MembersNotFoundError",
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
    "ProxyGuard",
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
    "handler",
    "model_info",
    "preset_names",
    "proxy_guard",
    "register",
    "run",
    "set_policy",
]

PROVIDER = "mixture"


def register(handler: MixtureLLM | None = None) -> MixtureLLM:
    """Register the ``mixture`` provider with litellm (idempotent). Returns the handler.

    Also tells litellm the presets' model info, makes ``litellm.completion_cost`` exact for
    mixture responses, and strikes known secrets from litellm's log records.
    """
    import litellm
    from litellm.utils import custom_llm_setup

    for entry in litellm.custom_provider_map:
        if entry.get("provider") == PROVIDER and handler is None:
            return entry["custom_handler"]
    handler = handler or MixtureLLM()
    litellm.custom_provider_map = [
        *(e for e in litellm.custom_provider_map if e.get("provider") != PROVIDER),
        {"provider": PROVIDER, "custom_handler": handler},
    ]
    custom_llm_setup()
    register_presets()
    exact_completion_cost()
    redaction.guard_logs()
    return handler


handler = register()
# The proxy's pre-call hook, named in proxy_config.yaml (through mixture_hooks.py).
proxy_guard = ProxyGuard(handler.check_client_spec)
