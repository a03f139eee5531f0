"""The package's public API: exactly these names, each one real, nothing internal.

(That importing the package imports no litellm, and that every name loads in a fresh
interpreter, is tested in test_e2e.py.)"""

import inspect

import litellm_mixture

PUBLIC = [
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


def test_the_public_names_are_exactly_these():
    assert sorted(litellm_mixture.__all__) == PUBLIC
    assert len(set(litellm_mixture.__all__)) == len(PUBLIC)


def test_every_public_name_resolves_to_a_public_object_of_the_package():
    for name in PUBLIC:
        value = getattr(litellm_mixture, name)
        home = inspect.getmodule(value)
        assert home is not None and home.__name__.startswith("litellm_mixture"), name
        assert not name.startswith("_") and not value.__name__.startswith("_"), name


def test_a_star_import_gives_the_public_names_and_nothing_else():
    scope: dict = {}
    exec("from litellm_mixture import *", scope)
    assert sorted(k for k in scope if k != "__builtins__") == PUBLIC


def test_the_proxy_hooks_stay_reachable_outside_the_public_names():
    # mixture_hooks.py (next to proxy_config.yaml) imports these two.
    assert litellm_mixture.handler is litellm_mixture.register()
    assert litellm_mixture.proxy_guard.async_pre_call_hook is not None
    assert not {"handler", "proxy_guard", "ProxyGuard"} & set(litellm_mixture.__all__)
