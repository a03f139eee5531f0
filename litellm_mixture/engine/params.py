"""Which OpenAI params a mixture takes, and which of a caller's settings reach each member.

Before any provider runs, litellm checks a call's OpenAI params against that provider's list; a
custom provider gets a generic OpenAI-like list, without ``reasoning_effort`` or ``thinking``.
A mixture takes every param litellm knows (:func:`listing` and :func:`keeping`, installed by
``_litellm.patches``) and decides per member instead: a member gets a caller's setting when litellm
says its model takes it (:func:`fit`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import litellm

from .._litellm import OPENAI_PARAM_DEFAULTS
from ..spec import PREFIX

# Entries of litellm's table of OpenAI params that are not request settings.
_NOT_SETTINGS = frozenset(
    {
        "model",
        "custom_llm_provider",
        "api_version",
        "drop_params",
        "allowed_openai_params",
        "additional_drop_params",
        "messages",
    }
)
# Every OpenAI param this litellm knows (and checks against a provider's list).
OPENAI_PARAMS = frozenset(OPENAI_PARAM_DEFAULTS) - _NOT_SETTINGS
# What litellm passes to any provider unchecked, and litellm's own metadata.
_UNCHECKED = frozenset({"user", "stream", "stream_options", "max_retries", "metadata"})
_CHECKED = OPENAI_PARAMS - _UNCHECKED
REASONING = ("reasoning_effort", "thinking")
# Anthropic thinking budgets as reasoning_effort, as litellm's Messages adapter buckets them
# (with "low" as the floor: "minimal" is GPT-5's only).
_EFFORTS = ((10000, "high"), (5000, "medium"), (0, "low"))


def listing(provider: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``get_supported_openai_params`` that lists every OpenAI param for ``provider``: what
    litellm, its proxy bridges and clients ask about a model (the check that raises
    ``UnsupportedParamsError``; whether the Messages bridge carries ``reasoning_effort``)."""

    @functools.wraps(original)
    def get_supported_openai_params(
        model: str, custom_llm_provider: str | None = None, *args: Any, **kwargs: Any
    ) -> list | None:
        if custom_llm_provider == provider or (
            custom_llm_provider is None and model.startswith(provider + "/")
        ):
            return sorted(OPENAI_PARAMS)  # a new list: litellm extends what it is given
        return original(model, custom_llm_provider, *args, **kwargs)

    return get_supported_openai_params


def keeping(provider: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``get_optional_params`` that keeps, for ``provider``, what the generic OpenAI-like config
    it maps a custom provider's params through drops silently: it names them in the call's
    ``allowed_openai_params``."""

    @functools.wraps(original)
    def get_optional_params(*args: Any, **kwargs: Any) -> dict:
        if kwargs.get("custom_llm_provider") == provider:
            generic = litellm.OpenAILikeChatConfig().get_supported_openai_params(
                kwargs.get("model") or ""
            )
            extra = [k for k in _CHECKED if kwargs.get(k) is not None and k not in generic]
            if extra:
                allowed = kwargs.get("allowed_openai_params") or ()
                kwargs["allowed_openai_params"] = [*allowed, *extra]
        return original(*args, **kwargs)

    return get_optional_params


@dataclass(frozen=True)
class Takes:
    """What a member's model takes, as litellm knows it."""

    params: frozenset[str] | None  # None: litellm has no list; every setting is sent
    reasoning: bool


Lookup = Callable[[str], Takes]


@functools.lru_cache(maxsize=1024)
def takes(model: str) -> Takes:
    """litellm's answer for ``model``: ``get_supported_openai_params`` and ``supports_reasoning``.
    A nested mixture takes everything: it applies the same rule to its own members."""
    if model.startswith(PREFIX):
        return Takes(None, True)
    try:
        name, provider, _, _ = litellm.get_llm_provider(model)
    except Exception:
        return Takes(None, False)  # the call itself will say what is wrong with the name
    try:
        listed = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider)
    except Exception:
        listed = None
    try:
        reasoning = bool(litellm.supports_reasoning(model=name, custom_llm_provider=provider))
    except Exception:
        reasoning = False
    return Takes(None if listed is None else frozenset(listed), reasoning)


def effort(thinking: Any) -> str | None:
    """An Anthropic ``thinking`` setting as ``reasoning_effort`` (None when it is off)."""
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens") or 0
    return next(name for floor, name in _EFFORTS if budget >= floor)


def fit(settings: Mapping[str, Any], model: str, takes: Takes) -> tuple[dict[str, Any], str | None]:
    """The caller's ``settings`` that ``model`` takes, and a note naming those left out.

    Reasoning settings need a model litellm says reasons (``supports_reasoning``); a
    ``thinking`` it cannot take goes as the equivalent ``reasoning_effort`` when it takes that.
    Other OpenAI params need a place in the model's ``get_supported_openai_params`` list.
    """
    kept: dict[str, Any] = {}
    unreasoned: list[str] = []
    unlisted: list[str] = []
    for key, value in settings.items():
        if key in REASONING and not takes.reasoning:
            unreasoned.append(key)
        elif takes.params is not None and key in _CHECKED and key not in takes.params:
            unlisted.append(key)
        else:
            kept[key] = value
    notes = []
    if "thinking" in unlisted and "reasoning_effort" not in settings:
        translated = effort(settings["thinking"])
        if translated is not None and "reasoning_effort" in (takes.params or ()):
            kept["reasoning_effort"] = translated
            unlisted.remove("thinking")
            notes.append(f"thinking sent as reasoning_effort={translated}")
    if unreasoned:
        notes.append(
            f"not sent: {', '.join(unreasoned)} ({model} does not reason, "
            "says litellm.supports_reasoning)"
        )
    if unlisted:
        notes.append(
            f"not sent: {', '.join(unlisted)} (not in litellm.get_supported_openai_params "
            f"for {model})"
        )
    return kept, "; ".join(notes) or None
