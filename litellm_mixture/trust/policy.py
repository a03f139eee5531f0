"""What a spec nobody trusts may do: which members, which params, how big, how deep.

A spec the operator wrote (the proxy's config, preset files, Python code) is trusted. A spec a
client sends through the proxy's ``mixture/*`` route is checked against a :class:`Policy`
before any member is called. The operator sets the policy under ``litellm_settings:
mixture_policy:`` in the proxy config (the proxy stores it as ``litellm.mixture_policy``).

In-process, a model string is trusted like code unless the application opts in with
:func:`set_policy` or ``$LITELLM_MIXTURE_POLICY``: then every ``mixture/`` name this process hands
litellm is checked like a client's.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import assert_never

from ..common.state import STATE
from ..errors import MixtureError, SpecError
from ..spec import Member, Pipeline
from ..spec.steps import MemberStep
from ..spec.transforms import Transform
from .calls import Attempts, Nested, count_calls, member_calls, once, upstream

SETTING = "mixture_policy"
ENV = "LITELLM_MIXTURE_POLICY"
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
        "panel",
        "estimate_only",
        "max_cost",
        "degraded",
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
    max_calls: int = Field(48, ge=1)
    """Upstream requests in the whole run: member calls, nested mixtures' included, times the
    retries each may get (the spec's own, and the Router's or the provider SDK's)."""
    max_cost: float | None = Field(None, gt=0, allow_inf_nan=False)
    """USD: a client spec whose worst case (see ``litellm-mixture estimate``) costs more is
    refused before any call; a request's or the spec's own ``max_cost`` may only lower it."""
    max_tokens: int = Field(4096, ge=1)
    """Cap on any max_tokens, and the default for members that set none."""
    max_seconds: float = Field(300.0, gt=0)
    """Longest timeout, grace or deadline a client spec may set."""
    max_nesting: int = Field(1, ge=0)
    """How deep ``mixture/`` members may nest inside a client spec."""
    max_name_bytes: int = Field(2048, ge=16)
    """Longest client-sent model name: the proxy echoes names in response headers."""
    url_hosts: tuple[str, ...] = ()
    """Hosts (glob patterns) URL specs may come from, on port 443; ``host:8443`` allows another
    port. Empty: URL specs are off."""
    url_max_bytes: int = Field(65536, ge=1)
    url_timeout: float = Field(5.0, gt=0)
    url_ttl: float = Field(300.0, ge=0)
    url_pins: dict[str, str] = Field(default_factory=dict)
    """URL -> sha256 hex digest the fetched document must have."""


class PolicyError(SpecError):
    """A client spec broke one of the operator's rules. No member was called."""

    def __init__(self, rule: str, message: str, *, spec: str = "") -> None:
        self.rule = rule
        where = (
            f"the proxy operator sets this in litellm_settings.{SETTING}"
            if rule in Policy.model_fields
            else "a limit of the LiteLLM proxy itself, no setting"
        )
        super().__init__(f"refused by rule {rule!r}: {message} ({where})", spec=spec)


Refuse = Callable[[str, str], PolicyError]


def _validated(raw: Any, where: str) -> Policy:
    try:
        return Policy.model_validate(raw or {})
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise MixtureError(f"{where} is invalid: {fields}") from None


def set_policy(policy: Policy | Mapping[str, Any] | str | os.PathLike[str] | None) -> None:
    """Check every ``mixture/`` name this process hands litellm against ``policy``, as the
    proxy checks a client's: for an application that passes user-chosen model names on.

    ``policy``: a :class:`Policy`, its settings as a mapping, or a YAML file of them; ``None``
    turns the check off again. Without this (or ``$LITELLM_MIXTURE_POLICY`` naming such a file),
    a model string is trusted like code: its members' ``params`` may carry ``api_base``.
    """
    if policy is None or isinstance(policy, Policy):
        STATE.policy_enforced = ("set_policy", policy)
    elif isinstance(policy, Mapping):
        STATE.policy_enforced = ("set_policy", _validated(policy, "set_policy()"))
    else:
        STATE.policy_enforced = ("set_policy", _from_file(Path(policy)))


def _from_file(path: Path) -> Policy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MixtureError(f"cannot read the mixture policy {path}: {e}") from None
    return _validated(raw, f"the mixture policy {path}")


def enforced() -> Policy | None:
    """The policy the application opted in to for in-process calls, or None (trusted)."""
    if STATE.policy_enforced is None:
        path = os.environ.get(ENV)
        STATE.policy_enforced = (ENV, _from_file(Path(path)) if path else None)
    return STATE.policy_enforced[1]


def current() -> Policy:
    """The policy in force: the application's (:func:`set_policy`, ``$LITELLM_MIXTURE_POLICY``),
    else the operator's ``litellm.mixture_policy`` (a mapping or a Policy), else defaults."""
    import litellm

    chosen = enforced()
    if chosen is not None:
        return chosen
    raw = getattr(litellm, SETTING, None)
    if isinstance(raw, Policy):
        return raw
    cached = STATE.policy_cache
    if cached is not None and cached[0] is raw:
        return cached[1]
    policy = _validated(raw, f"litellm_settings.{SETTING}")
    STATE.policy_cache = (raw, policy)
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


def _check_seconds(where: str, part: Pipeline | MemberStep, policy: Policy, refuse: Refuse) -> None:
    for name in ("timeout", "grace", "deadline"):
        value = getattr(part, name, None)  # (a step has no deadline)
        if value is not None and value > policy.max_seconds:
            raise refuse("max_seconds", f"{where}: {name}={value:g} > {policy.max_seconds:g}")


def _check_layer(
    index: int, step: MemberStep, uses: list[int], policy: Policy, refuse: Refuse
) -> None:
    """One step's calls and max_tokens."""
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


def _check_shape(pipeline: Pipeline, policy: Policy, refuse: Refuse) -> None:
    """Layers, durations, calls per layer, and max_tokens."""
    if len(pipeline.steps) > policy.max_layers:
        raise refuse("max_layers", f"{len(pipeline.steps)} layers > {policy.max_layers}")
    _check_seconds("the pipeline", pipeline, policy, refuse)
    layers = list(_layers(pipeline))
    for index, step, _ in layers:
        _check_seconds(f"layer {index + 1}", step, policy, refuse)
    for index, step, uses in layers:
        _check_layer(index, step, uses, policy, refuse)


def _layers(pipeline: Pipeline) -> Iterator[tuple[int, MemberStep, list[int]]]:
    """The steps that call models, with their place and ``bounds``."""
    for index, (step, uses) in enumerate(zip(pipeline.steps, pipeline.bounds(), strict=True)):
        match step:
            case MemberStep():
                yield index, step, uses
            case Transform():
                pass  # it calls no model
            case _:
                assert_never(step)


def _check_member(
    member: Member,
    plain: bool,
    policy: Policy,
    allowed: Callable[[str], bool],
    refuse: Refuse,
) -> None:
    """The member's own params, and (unless it is itself a mixture) its model."""
    extra = sorted(set(member.params) - set(policy.allow_params))
    if extra:
        raise refuse("allow_params", f"{member.model}: params {', '.join(extra)}")
    model = member.model
    if (
        plain
        and not (policy.allow_aliases and allowed(model))
        and not _matches(model, policy.allow_members)
    ):
        raise refuse(
            "allow_members", f"{model!r} is not one of the proxy's models or allowed patterns"
        )


def check(
    pipeline: Pipeline,
    policy: Policy,
    *,
    allowed: Callable[[str], bool],
    nested: Nested,
    attempts: Attempts = once,
    spec: str = "",
    depth: int = 0,
) -> int:
    """Refuses a client pipeline that breaks the policy; returns how many upstream requests it
    can make (see :func:`count_calls`).

    ``allowed(model)`` says whether the proxy offers ``model`` (an alias); ``nested(model)`` gives
    the pipeline a member runs when it is itself a mixture, and whether the operator wrote it;
    ``attempts`` how many requests one call to a plain member may take (see Attempts).
    """

    def refuse(rule: str, message: str) -> PolicyError:
        return PolicyError(rule, message, spec=spec)

    _check_shape(pipeline, policy, refuse)

    def visit(member: Member, plain: bool) -> None:
        _check_member(member, plain, policy, allowed, refuse)

    def inner(member: Member, inside: Pipeline, trusted: bool, depth: int) -> int:
        if depth > policy.max_nesting:
            raise refuse(
                "max_nesting",
                f"{member.model!r} nests mixtures {depth + 1} deep > {policy.max_nesting + 1}",
            )
        if trusted:
            return count_calls(inside, nested=nested, attempts=attempts, spec=spec, depth=depth)
        return check(
            inside,
            policy,
            allowed=allowed,
            nested=nested,
            attempts=attempts,
            spec=spec,
            depth=depth,
        )

    counted = member_calls(pipeline)
    calls = upstream(
        counted, nested=nested, attempts=attempts, inner=inner, depth=depth, visit=visit
    )
    if calls > policy.max_calls:
        raise refuse(
            "max_calls", f"up to {calls} upstream requests, retries included > {policy.max_calls}"
        )
    return calls


def _hint(model: str) -> str:
    """What to send instead: the one-line form, unless the name is one already."""
    if any(s in model for s in ("{", "[", ": ", "\n")):  # an inline document
        return "write the one-line form (a*2+b>c) or ask the operator for a preset"
    return "ask the operator for a preset, or an entry in the proxy's model_list"


def check_size(model: str, policy: Policy) -> None:
    """The name's length: checked before anything decodes it."""
    size = len(model.encode("utf-8", "replace"))
    if size > policy.max_name_bytes:
        raise PolicyError(
            "max_name_bytes",
            f"the name is {size} bytes > {policy.max_name_bytes}, too long for the proxy's "
            f"response headers; {_hint(model)}",
            spec=model[:200],
        )


def check_name(model: str, policy: Policy) -> None:
    """Names the proxy would mangle: split at commas, cut at newlines, echoed in headers."""
    check_size(model, policy)
    if "," in model:
        raise PolicyError(
            "name",
            f"a comma makes the proxy split the name into a batch call; {_hint(model)}",
            spec=model,
        )
    if any(c in model for c in "\r\n") or model != model.strip():
        raise PolicyError(
            "name",
            "a newline or leading/trailing space breaks the proxy's response headers; "
            + _hint(model),
            spec=model,
        )
