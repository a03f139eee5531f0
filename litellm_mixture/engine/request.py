"""What one member call sends: the messages (the conversation, references, prompts) and the
settings (the caller's contract, the step's and the member's own, the caps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..common import prompts
from ..errors import ParamError, SpecError
from ..spec import Aggregate, Member, Pipeline, Rank, Vote
from ..spec.schema import Calling
from ..spec.steps import MemberStep
from . import cache_keys
from .context import DEGRADED, Endpoint
from .params import Lookup, fit
from .records import TraceEntry

Refs = list[tuple[str, str]]


class Inputs(Protocol):
    """What building a member call reads: a run's inputs, none of its state. A run's
    :class:`Context` is one; the estimate makes its own, for a run it never makes."""

    @property
    def pipeline(self) -> Pipeline: ...
    @property
    def messages(self) -> list[dict[str, Any]]: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def takes(self) -> Lookup: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def id(self) -> str: ...
    @property
    def endpoint(self) -> Endpoint: ...
    def setting(self, step: MemberStep, name: str) -> Any: ...


# The request param that asks for every member's answer on the response (off by default).
INTERMEDIATE = "intermediate_responses"
# The request param that turns the live panel on (``panel: reasoning``).
PANEL = "panel"
# The request params that ask for the estimate instead of a run, and cap what the run may cost.
ESTIMATE_ONLY = "estimate_only"
MAX_COST = "max_cost"
# Caller params that bind only the final step: proposers get plain-text requests.
FINAL_ONLY = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "logprobs",
        "top_logprobs",
        "stream_options",
    }
)
# The shape of the final answer: never left out, so a model that cannot give it fails loudly.
ANSWER_SHAPE = frozenset({"tools", "tool_choice", "functions", "function_call", "response_format"})
# Settings of the outer call that must not reach members as-is: transport, what the mixture
# itself reports, how it shows its work, and its budget.
DROP = frozenset(
    {
        "stream",
        "max_retries",
        "stream_options",
        INTERMEDIATE,
        PANEL,
        ESTIMATE_ONLY,
        MAX_COST,
        DEGRADED,
    }
)
_ZERO_TEMPERATURE = 1e-4


@dataclass(frozen=True)
class Ask:
    """One member call: its trace entry, its step and member, what it is sent, and whether it
    writes the answer the caller gets (then the caller's whole contract binds it)."""

    entry: TraceEntry
    step: Calling
    member: Member
    messages: list[dict[str, Any]]
    final: bool = False
    cap: int | None = None  # a max_tokens this call may not exceed (an early segment's)


def messages(
    ctx: Inputs, step: Calling, member: Member, refs: Refs, *, final: bool = False
) -> list[dict[str, Any]]:
    """The conversation a member sees: text only unless it writes the final answer, with the
    references and the step's and member's prompts."""
    msgs = ctx.messages if final else prompts.text_only(ctx.messages)
    if refs:
        p = ctx.pipeline
        prompt = step.prompt if step.prompt is not None else prompts.DEFAULTS.get(step.kind)
        if isinstance(step, Rank) and prompt is not None:  # rank has a default: never None
            prompt = prompt.replace("{n}", str(min(step.n, len(refs))))
        msgs = prompts.inject(msgs, refs, p.references, prompt, p.delimiter)
    elif step.prompt:  # a propose step's (or a passthrough's) instruction
        msgs = prompts.with_user_text(msgs, step.prompt)
    if member.prompt:
        msgs = prompts.with_user_text(msgs, member.prompt)
    if member.system_prompt:
        msgs = prompts.with_system_prompt(msgs, member.system_prompt)
    return msgs


def _own(*layers: Any) -> dict[str, Any]:
    """temperature and max_tokens from the most specific layer that sets them."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key in ("temperature", "max_tokens"):
            value = getattr(layer, key)
            if value is not None:
                out[key] = value
    return out


def _callers(ctx: Inputs, ask: Ask) -> dict[str, Any]:
    """The caller's params for this call. The contract binds the final answer only; a param
    the member's model does not take is left out (noted on the trace entry), except the
    answer's shape, which fails loudly on a model that cannot give it."""
    excluded = DROP if ask.final else DROP | FINAL_ONLY
    sent = {k: v for k, v in ctx.params.items() if k not in excluded}
    shape = {k: v for k, v in sent.items() if k in ANSWER_SHAPE}
    settings = {k: v for k, v in sent.items() if k not in ANSWER_SHAPE}
    if settings:
        model = ask.member.model
        settings, note = fit(settings, model, ctx.takes(model))
        ask.entry.add_note(note)
    return {**settings, **shape}


def _capped(kwargs: dict[str, Any], cap: int) -> None:
    kwargs["max_tokens"] = min(kwargs.get("max_tokens", cap), cap)
    if "max_completion_tokens" in kwargs:
        kwargs["max_completion_tokens"] = min(kwargs["max_completion_tokens"], cap)


def _callers_length(ctx: Inputs) -> int | None:
    """The caller's bound on an answer's length: max_tokens, else max_completion_tokens."""
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(ctx.params.get(key), int):
            return ctx.params[key]
    return None


def settings(ctx: Inputs, ask: Ask) -> dict[str, Any]:
    kwargs = _callers(ctx, ask)
    own = _own(ask.step, ask.member)
    if ask.final and "max_tokens" in own and "max_tokens" in kwargs:
        # Both the caller's contract and the step's budget bind the final answer.
        own["max_tokens"] = min(own["max_tokens"], kwargs["max_tokens"])
    length = _callers_length(ctx)
    if not ask.final and length is not None and "max_tokens" not in own:
        # Every answer before the final one is as long as the caller lets the final one be,
        # unless the spec says otherwise: what it passes on stays within the aggregator's reach.
        own["max_tokens"] = length
    kwargs.update(own)
    kwargs.update(ask.member.params)
    kwargs.update(ctx.endpoint.for_member(ask.member))
    for cap in (ctx.max_tokens, ask.cap):
        if cap is not None:
            _capped(kwargs, cap)
    if kwargs.get("temperature") is not None and kwargs["temperature"] <= _ZERO_TEMPERATURE:
        kwargs["temperature"] = 0
    step_timeout = ctx.setting(ask.step, "timeout")
    if ctx.setting(ask.step, "retries") is not None or step_timeout:
        # The spec's retries and timeouts are exact: the mixture retries this call itself
        # (honouring Retry-After), and the provider SDK's own retries (the OpenAI SDK's
        # default 2, each given the whole timeout again) would multiply them.
        kwargs.setdefault("max_retries", 0)
    # Static limits only: the deadline is enforced around the calls (Clock.within). A timeout
    # that shrank with the time left would differ on every call, and litellm caches its HTTP
    # clients by timeout: each call would open a new client and new connections.
    limits = [kwargs.get("timeout"), step_timeout, ctx.timeout]
    limits = [x for x in limits if isinstance(x, (int, float))]
    if limits:
        kwargs["timeout"] = min(limits)
    kwargs["metadata"] = call_metadata(ctx, ask.entry, kwargs.get("metadata"))
    if (cache := cache_keys.member_cache(ask.entry, kwargs.get("cache"))) is not None:
        kwargs["cache"] = cache
    return kwargs


def call_metadata(ctx: Inputs, entry: TraceEntry, own: Any) -> dict[str, Any]:
    """LiteLLM metadata for one member call: callbacks (Langfuse, OpenTelemetry, custom
    loggers) see which mixture, step and member it belongs to."""
    return {
        **(own if isinstance(own, dict) else {}),
        **ctx.metadata,
        "mixture_id": ctx.id,
        "mixture_step": entry.step,
        "mixture_step_kind": entry.kind,
        "mixture_member": entry.member,
        "mixture_sample": entry.sample,
        "generation_name": f"mixture step {entry.step + 1} {entry.kind} {entry.model}",
    }


def _said(message: Any) -> bool:
    if not isinstance(message, dict):
        return True  # not ours to judge: litellm validates the shape
    content = message.get("content")
    text = content.strip() if isinstance(content, str) else content
    return bool(text or message.get("tool_calls") or message.get("function_call"))


def check_prompt(messages: list[Any], model: str = "") -> None:
    """Refuses a conversation with nothing in it (no message, or only empty ones): every member
    would be paid to answer nothing."""
    if not any(_said(m) for m in messages):
        raise ParamError(
            ["messages: nothing to answer (no message, or every message is empty)"], model=model
        )


def check_contract(pipeline: Pipeline, params: dict[str, Any]) -> None:
    """Refuses params this pipeline cannot honour, before any call."""
    if (params.get("n") or 1) != 1:
        # The aggregator would be paid for n answers and only the first returned.
        raise SpecError(f"n={params['n']}: a mixture returns one answer, so n must be 1")
    last = pipeline.steps[-1]
    asked = sorted(k for k in ("tools", "functions", "response_format") if params.get(k))
    if asked and not isinstance(last, Aggregate):
        what = "one of the answers verbatim" if isinstance(last, Vote) else "the answers"
        raise SpecError(
            f"this pipeline returns {what}, so no model sees {', '.join(asked)}: "
            "end it with an aggregate step to use them"
        )
