"""What a spec nobody trusts may do: which members, which params, how big, how deep.

A spec the operator wrote (the proxy's config, preset files, Python code) is trusted. A spec a
client sends through the proxy's ``mixture/*`` route is checked against a :class:`Policy`
before any member is called. The operator sets the policy under ``litellm_settings:
mixture_policy:`` in the proxy config (the proxy stores it as ``litellm.mixture_policy``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Pipeline
from .errors import MixtureError, SpecError

SETTING = "mixture_policy"
# Per-call generation settings: nothing here names a host, a key, a header or a callback.
GENERATION_PARAMS = (
    "frequency_penalty",
    "max_completion_tokens",
    "max_tokens",
    "presence_penalty",
    "reasoning_effort",
    "seed",
    "stop",
    "temperature",
    "thinking",
    "top_p",
)
# The caller's contract for the final answer, and identifiers (of the end user, of the
# conversation for prompt caching), which a client's request may always carry.
REQUEST_PARAMS = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stream",
        "stream_options",
        "max_retries",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "n",
        "logprobs",
        "top_logprobs",
        "intermediate_responses",
    }
)


class Policy(BaseModel):
    """The limits on client-sent specs. Every field is a setting of ``mixture_policy``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_aliases: bool = True
    """Members may name the proxy's own model aliases (its ``model_list`` names)."""
    allow_members: tuple[str, ...] = ()
    """More allowed members, as glob patterns (``openai/*``)."""
    allow_params: tuple[str, ...] = GENERATION_PARAMS
    """Params a client spec may set on a member."""
    max_members_per_layer: int = Field(8, ge=1)
    max_layers: int = Field(4, ge=1)
    max_calls: int = Field(16, ge=1)
    """Member calls in the whole run, nested mixtures included."""
    max_tokens: int = Field(4096, ge=1)
    """Cap on any max_tokens, and the default for members that set none."""
    max_seconds: float = Field(300.0, gt=0)
    """Longest timeout, grace or deadline a client spec may set."""
    max_nesting: int = Field(1, ge=0)
    """How deep ``mixture/`` members may nest inside a client spec."""
    max_name_bytes: int = Field(2048, ge=16)
    """Longest client-sent model name: the proxy echoes names in response headers."""
    url_hosts: tuple[str, ...] = ()
    """Hosts (glob patterns) URL specs may come from. Empty: URL specs are off."""
    url_max_bytes: int = Field(65536, ge=1)
    url_timeout: float = Field(5.0, gt=0)
    url_ttl: float = Field(300.0, ge=0)
    url_pins: dict[str, str] = Field(default_factory=dict)
    """URL -> sha256 hex digest the fetched document must have."""


class PolicyError(SpecError):
    """A client spec broke one of the operator's rules. No member was called."""

    def __init__(self, rule: str, message: str, *, spec: str = "") -> None:
        self.rule = rule
        super().__init__(
            f"refused by rule {rule!r}: {message} "
            f"(the proxy operator sets this in litellm_settings.{SETTING})",
            spec=spec,
        )


_cache: tuple[Any, Policy] | None = None


def current() -> Policy:
    """The operator's policy: ``litellm.mixture_policy`` (a mapping or a Policy), else defaults."""
    global _cache
    import litellm

    raw = getattr(litellm, SETTING, None)
    if isinstance(raw, Policy):
        return raw
    if _cache is not None and _cache[0] is raw:
        return _cache[1]
    try:
        policy = Policy.model_validate(raw or {})
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise MixtureError(f"litellm_settings.{SETTING} is invalid: {fields}") from None
    _cache = (raw, policy)
    return policy


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_request(params: Mapping[str, Any], policy: Policy, spec: str) -> None:
    """The client's own request params: generation settings and the answer's contract only."""
    extra = sorted(k for k in params if k not in REQUEST_PARAMS and k not in policy.allow_params)
    if extra:
        raise PolicyError(
            "allow_params", f"request params not allowed: {', '.join(extra)}", spec=spec
        )
    for key in ("max_tokens", "max_completion_tokens"):
        value = params.get(key)
        if isinstance(value, int) and value > policy.max_tokens:
            raise PolicyError("max_tokens", f"{key}={value} > {policy.max_tokens}", spec=spec)


Nested = Callable[[str], "tuple[Pipeline, bool] | None"]


def check(
    pipeline: Pipeline,
    policy: Policy,
    *,
    allowed: Callable[[str], bool],
    nested: Nested,
    spec: str = "",
    depth: int = 0,
) -> int:
    """Refuses a client pipeline that breaks the policy; returns how many member calls it makes.

    ``allowed(model)`` says whether the proxy offers ``model`` (an alias); ``nested(model)`` gives
    the pipeline a member runs when it is itself a mixture, and whether the operator wrote it.
    """

    def refuse(rule: str, message: str) -> PolicyError:
        return PolicyError(rule, message, spec=spec)

    if len(pipeline.steps) > policy.max_layers:
        raise refuse("max_layers", f"{len(pipeline.steps)} layers > {policy.max_layers}")
    for where, part in [("the pipeline", pipeline)] + [
        (f"layer {i + 1}", step) for i, step in enumerate(pipeline.steps)
    ]:
        for name in ("timeout", "grace", "deadline"):
            value = getattr(part, name, None)
            if value is not None and value > policy.max_seconds:
                raise refuse("max_seconds", f"{where}: {name}={value:g} > {policy.max_seconds:g}")
    calls = 0
    for index, (step, uses) in enumerate(zip(pipeline.steps, pipeline.bounds(), strict=True)):
        if not step.members:
            continue  # a transform calls no model
        layer = sum(uses[: len(step.members)])
        if layer > policy.max_members_per_layer:
            raise refuse(
                "max_members_per_layer",
                f"layer {index + 1} makes {layer} calls > {policy.max_members_per_layer}",
            )
        limits = [step.max_tokens, *(m.max_tokens for m in step.members)]
        for member in step.members:
            limits += [member.params.get(k) for k in ("max_tokens", "max_completion_tokens")]
        for value in limits:
            if isinstance(value, int) and value > policy.max_tokens:
                raise refuse("max_tokens", f"layer {index + 1}: {value} > {policy.max_tokens}")
        # Retries and fallbacks only run on failure, but may all run: count the worst case.
        attempts = 1 + ((step.retries if step.retries is not None else pipeline.retries) or 0)
        members = (*step.members, *getattr(step, "fallbacks", ()))
        for member, used in zip(members, uses, strict=True):
            extra = sorted(set(member.params) - set(policy.allow_params))
            if extra:
                raise refuse("allow_params", f"{member.model}: params {', '.join(extra)}")
            inner = nested(member.model)
            if inner is None:
                if not (policy.allow_aliases and allowed(member.model)) and not _matches(
                    member.model, policy.allow_members
                ):
                    raise refuse(
                        "allow_members",
                        f"{member.model!r} is not one of the proxy's models or allowed patterns",
                    )
                calls += used * attempts
                continue
            if depth + 1 > policy.max_nesting:
                raise refuse(
                    "max_nesting",
                    f"{member.model!r} nests mixtures {depth + 2} deep > {policy.max_nesting + 1}",
                )
            pipeline_inside, trusted = inner
            inner_calls = (
                pipeline_inside.max_calls
                if trusted
                else check(
                    pipeline_inside,
                    policy,
                    allowed=allowed,
                    nested=nested,
                    spec=spec,
                    depth=depth + 1,
                )
            )
            calls += used * attempts * inner_calls
    if calls > policy.max_calls:
        raise refuse("max_calls", f"{calls} member calls > {policy.max_calls}")
    return calls


def check_name(model: str, policy: Policy) -> None:
    """Names the proxy would mangle: split at commas, cut at newlines, echoed in headers."""
    hint = "write the one-line form (a*2+b>c) or ask the operator for a preset"
    if "," in model:
        raise PolicyError(
            "name", f"a comma makes the proxy split the name into a batch call; {hint}", spec=model
        )
    if any(c in model for c in "\r\n") or model != model.strip():
        raise PolicyError(
            "name",
            f"a newline or leading/trailing space breaks the proxy's response headers; {hint}",
            spec=model,
        )
    size = len(model.encode())
    if size > policy.max_name_bytes:
        raise PolicyError(
            "max_name_bytes",
            f"the name is {size} bytes > {policy.max_name_bytes}, too long for the proxy's "
            f"response headers; {hint}",
            spec=model,
        )
