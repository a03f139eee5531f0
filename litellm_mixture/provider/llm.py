"""The CustomLLM adapter: ``mixture/<spec>`` in, one ordinary LiteLLM response out."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from litellm import CustomLLM

from .. import _litellm
from ..common import _sync
from ..engine import (
    ESTIMATE_ONLY,
    INTERMEDIATE,
    PANEL,
    Caller,
    Endpoint,
    Outcome,
    Run,
    RunRecord,
    check_prompt,
)
from ..errors import ParamError, SpecError
from ..observe import dump, telemetry
from ..observe.metrics import label as metric_label
from ..pricing import cost, estimates
from ..pricing.estimates import Estimate
from ..spec import PREFIX, Pipeline, accepted, decode, decode_fetched, is_url, remember
from ..spec.typed_params import problems
from ..trust import body, policy, remote
from ..trust.calls import MAX_DEPTH, Nested, count_calls
from . import response
from .host import IN_PROCESS, Host


@dataclass(frozen=True)
class _Scope:
    """The run a member call belongs to: nested mixtures inherit its depth and trust."""

    depth: int
    trusted: bool


_SCOPE: ContextVar[_Scope | None] = ContextVar("litellm_mixture_scope", default=None)


def _scoped(caller: Caller, scope: _Scope) -> Caller:
    async def call(*args: Any, **kwargs: Any) -> Any:
        token = _SCOPE.set(scope)
        try:
            return await caller(*args, **kwargs)
        finally:
            _SCOPE.reset(token)

    return call


# Where the request's metadata is: the proxy keeps its own under litellm_metadata on its
# /v1/messages and /v1/responses routes, and litellm 1.81's bridges pass it on there.
_METADATA = ("litellm_metadata", "metadata")


def _request_metadata(call: dict[str, Any]) -> dict[str, Any]:
    litellm_params = call.get("litellm_params") or {}
    return {k: v for key in _METADATA for k, v in (litellm_params.get(key) or {}).items()}


def _routed_entry(call: dict[str, Any]) -> str | None:
    """The proxy entry the Router routed this request to. The Router writes it into one of the
    request's metadata, by route; a client may write the other, so a name counts only when
    nothing contradicts it."""
    litellm_params = call.get("litellm_params") or {}
    found = {(litellm_params.get(k) or {}).get(_litellm.ROUTED_GROUP) for k in _METADATA}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def _parent_metadata(call: dict[str, Any]) -> dict[str, Any]:
    """What each member call's metadata carries from the request that runs the mixture: its id,
    and the trace it belongs to, so tracing callbacks draw the member calls under it."""
    parent = _litellm.call_id(call.get("logging_obj"))
    litellm_params = call.get("litellm_params") or {}
    outer = _request_metadata(call)
    # Only these: the proxy's own metadata (the caller's key, its spend) must not follow.
    metadata: dict[str, Any] = {
        k: outer[k] for k in ("session_id", "litellm_parent_otel_span") if k in outer
    }
    trace = outer.get("trace_id") or litellm_params.get("litellm_trace_id") or parent
    if trace is not None:
        metadata["trace_id"] = trace
    metadata["mixture_parent_request_id"] = parent
    return metadata


def _routed(host: Host, model: str, call: dict[str, Any]) -> str:
    """The spec this call is for (see :func:`host.routed_model`)."""
    routed = host.routed_model(PREFIX + model, _request_metadata(call))
    return routed.removeprefix(PREFIX) if routed.startswith(PREFIX) else model


def _checked_timeout(call: dict[str, Any], params: dict[str, Any], model: str) -> float | None:
    """The caller's timeout in seconds (None for an ``httpx.Timeout``), once the request's
    params and it have the types a run relies on."""
    timeout = call.get("timeout")
    seconds = timeout if isinstance(timeout, (int, float)) else None
    wrong = problems(params if seconds is None else {**params, "timeout": seconds})
    if wrong:
        raise ParamError(wrong, model=model)
    return seconds


def _nested(host: Host, found: list[tuple[str, Pipeline]] | None, spec: str) -> Nested:
    """What a member runs when it is itself a mixture, and whether the operator wrote it.

    ``found`` (a spec nobody trusts) collects the nested specs decoded, and makes URL
    specs refused as members; without it, they are left to run (and be checked) later.
    """
    models = host.models()
    targets = host.aliases()

    def nested(member: str) -> tuple[Pipeline, bool] | None:
        target = targets.get(member, member)
        if not target.startswith(PREFIX):
            return None
        if is_url(target.removeprefix(PREFIX)):
            if found is None:
                return None
            raise policy.PolicyError("url_hosts", f"{member!r}: URL specs cannot nest", spec=spec)
        # Trusted when it names an operator entry; a spec written out is the client's own.
        trusted = models is not None and member != target and target in models.operator_specs
        pipeline = decode(target, targets)
        if found is not None and not trusted:
            found.append((target, pipeline))
        return pipeline, trusted

    return nested


def _endpoint(host: Host, pipeline: Pipeline, call: dict[str, Any], model: str) -> Endpoint:
    """The caller's ``api_base`` / ``api_key``, for the members that name no endpoint of their
    own; refused when the pipeline has no such member (it would reach nowhere)."""
    given = {k: call[k] for k in ("api_base", "api_key") if isinstance(call.get(k), str)}
    endpoint = Endpoint(given, frozenset(host.aliases()))
    members = pipeline.callees
    reached = {k for m in members for k in endpoint.for_member(m)}
    if unused := [k for k in given if k not in reached]:
        raise ParamError(
            [
                f"{' and '.join(unused)} would reach no member: every member names its own "
                "(in its params, or as a proxy alias)"
            ],
            model=model,
        )
    return endpoint


def _where(host: Host, spec: str) -> estimates.Where:
    """Where the estimate of ``spec`` finds nested mixtures, retries and aliases' models."""
    return estimates.Where(_nested(host, None, spec), host.attempts, host.reach)


def _estimate_only(run: Run, estimate: Estimate | None, call: dict[str, Any]) -> Estimate | None:
    """The estimate, when the request asked for it instead of a run (what it carries to
    callbacks: a cost of 0)."""
    if estimate is None or not run.context.params.get(ESTIMATE_ONLY):
        return None
    cost.carry(call.get("logging_obj"), 0.0, response.estimate_summary(estimate))
    return estimate


@dataclass(frozen=True)
class _Limits:
    """What a request may do, once checked: its params and the bounds its run keeps."""

    params: dict[str, Any]
    seconds: float | None
    max_tokens: int | None = None  # the policy's, for a spec nobody trusts
    max_cost: float | None = None


def _run(
    host: Host,
    model: str,
    pipeline: Pipeline,
    messages: list,
    call: dict[str, Any],
    scope: _Scope,
    limits: _Limits,
) -> tuple[Run, Estimate | None]:
    """The run of a checked request on ``host``'s seams, its member calls in ``scope``; its
    estimate too when asked for or under a budget (checked)."""
    params = limits.params
    budget = estimates.budget(params, pipeline, limits.max_cost)
    where = _where(host, model)
    entry = _routed_entry(call)
    label = metric_label(model, entry if entry in host.aliases() else None)
    metadata, observer = telemetry.begin(label, _parent_metadata(call))
    run = Run(
        pipeline,
        list(messages),
        params,
        caller=_scoped(host.caller, scope),
        embedder=host.embedder,
        facts=host.facts,
        timeout=limits.seconds,
        max_tokens=limits.max_tokens,
        max_cost=budget[0] if budget else None,
        pricer=estimates.pricer(where),
        metadata=metadata,
        observer=observer,
        takes=host.takes,
        keep_calls=bool(params.get(INTERMEDIATE)) or dump.directory() is not None,
        panel=pipeline.panel == "reasoning" or params.get(PANEL) == "reasoning",
        endpoint=_endpoint(host, pipeline, call, model),
    )
    if budget is None and not params.get(ESTIMATE_ONLY):
        return run, None
    estimate = estimates.of_context(run.context, PREFIX + model, where)
    if budget is not None:
        estimates.check(estimate, budget)
    return run, estimate


class MixtureLLM(CustomLLM):
    """Runs the pipeline named by the model string. Register it as provider ``mixture``.

    ``host`` is where it runs (how members are called, which aliases exist; see
    :mod:`litellm_mixture.provider.host`): in-process by default, the proxy's ``proxy.HOST``
    inside it.
    """

    def __init__(self, host: Host = IN_PROCESS) -> None:
        super().__init__()
        self.host = host

    def _decode(self, spec: str, text: str | None) -> Pipeline:
        """The pipeline of a spec (after ``mixture/``), or of the document fetched for it."""
        if text is None:
            return decode(PREFIX + spec, self.host.aliases())
        return decode_fetched(text, spec)

    async def load(self, spec: str, trusted: bool = True) -> Pipeline:
        """The pipeline a spec names, fetching URL specs the policy allows. A spec nobody
        trusts has its size checked first and is decoded off the event loop (unless a spec of
        the same text was accepted before)."""
        model = PREFIX + spec  # not decode(spec): a spec may itself start with mixture/
        if not trusted:
            policy.check_size(model, policy.current())
        text = await remote.fetch(spec, policy.current()) if is_url(spec) else None
        if trusted or (text is None and accepted(model) is not None):
            return self._decode(spec, text)
        return await _sync.off_loop(self._decode, spec, text)

    def check(self, spec: str, pipeline: Pipeline, depth: int = 0) -> None:
        """Refuses a client-sent pipeline the operator's policy does not allow; caches it, and
        the nested specs it names, once accepted."""
        found: list[tuple[str, Pipeline]] = [(PREFIX + spec, pipeline)]
        policy.check(
            pipeline,
            policy.current(),
            allowed=self.host.aliases().__contains__,
            nested=_nested(self.host, found, spec),
            attempts=self.host.attempts,
            spec=spec,
            depth=depth,
        )
        for model, accepted_pipeline in found:
            remember(model, accepted_pipeline)

    async def check_client_spec(self, spec: str) -> None:
        """What the proxy guard runs on a client-sent name, before the proxy routes it."""
        pipeline = await self.load(spec, trusted=False)
        await _sync.off_loop(self.check, spec, pipeline)

    def _trust(self, model: str, call: dict[str, Any]) -> _Scope:
        """How deep this run nests, and whether its spec is trusted (decided before decoding)."""
        parent = _SCOPE.get()
        depth = 0 if parent is None else parent.depth + 1
        if depth > MAX_DEPTH:
            raise SpecError(f"mixtures nested more than {MAX_DEPTH} deep", spec=model)
        models = self.host.models()
        # Inside the proxy the operator's own entries, and what they call, are trusted: the
        # Router names the entry it routed in model_group (overwriting any the client sent). A
        # client spec whose text merely equals an entry's came through the wildcard route and
        # is checked like any other.
        routed = _routed_entry(call)
        if (
            models is not None
            and routed is not None
            and models.targets.get(routed) == PREFIX + model
        ):
            return _Scope(depth, True)
        if parent is not None:
            return _Scope(depth, parent.trusted)
        # In-process: the caller's code, unless the application opted in to a policy.
        return _Scope(depth, models is None and policy.enforced() is None)

    def _prepare(
        self, model: str, pipeline: Pipeline, messages: list, call: dict[str, Any], scope: _Scope
    ) -> tuple[Run, Estimate | None]:
        """The run, checked; its estimate too when asked for or under a budget (checked)."""
        limits = self._limits(model, pipeline, messages, call, scope)
        return _run(self.host, model, pipeline, messages, call, scope, limits)

    def _limits(
        self, model: str, pipeline: Pipeline, messages: list, call: dict[str, Any], scope: _Scope
    ) -> _Limits:
        """What this request may do: its messages and params checked, and a spec nobody trusts
        checked against the policy, whose caps then bind the run."""
        params = dict(call.get("optional_params") or {})
        body.check_messages(messages, model)
        seconds = _checked_timeout(call, params, model)
        if not params.get(ESTIMATE_ONLY):
            check_prompt(messages, PREFIX + model)
        if scope.trusted:
            if scope.depth == 0:
                # A preset that names itself: refused with the reason, before any call, rather
                # than as the failure of a member nested eight deep.
                count_calls(pipeline, nested=_nested(self.host, None, model), spec=model)
            remember(PREFIX + model, pipeline)
            return _Limits(params, seconds)
        rules = policy.current()
        policy.check_request(params, rules, model)
        self.check(model, pipeline, scope.depth)
        # The request's timeout bounds the run, and no client may ask for more than this.
        seconds = min(seconds or rules.max_seconds, rules.max_seconds)
        return _Limits(params, seconds, rules.max_tokens, rules.max_cost)

    @staticmethod
    def _dump(model: str, run: Run, outcome: Outcome | None, error: BaseException | None) -> None:
        telemetry.end(run, error)
        folder = dump.directory()
        if folder is not None:
            dump.submit(folder, run.record(), PREFIX + model, outcome, error)

    def _failed(self, model: str, run: Run, call: dict[str, Any], error: BaseException) -> None:
        """A run that failed or was abandoned: dumped, and what it spent billed."""
        self._dump(model, run, None, error)
        record = run.record()
        summary = response.summary(PREFIX + model, record)
        cost.bill_failure(call.get("logging_obj"), record.usage, summary, error)

    async def _complete(
        self, model: str, run: Run, call: dict[str, Any]
    ) -> tuple[Outcome, RunRecord]:
        try:
            outcome = await run.complete()
        except BaseException as e:
            self._failed(model, run, call, e)
            raise
        self._dump(model, run, outcome, None)
        return outcome, run.record()

    # litellm calls every entry point with keyword arguments only (model_response,
    # optional_params, logging_obj, timeout, ...); these read just what they use. Hence each
    # ignore[override]: CustomLLM's signatures name all of them, positionally.

    async def acompletion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        model = _routed(self.host, model, kwargs)
        name = PREFIX + model
        scope = self._trust(model, kwargs)
        pipeline = await self.load(model, scope.trusted)
        # Off the event loop: the estimate tokenizes the conversation.
        prepared = await _sync.off_loop(self._prepare, model, pipeline, messages, kwargs, scope)
        run, estimate = prepared
        if (only := _estimate_only(run, estimate, kwargs)) is not None:
            return response.estimated(kwargs["model_response"], only)
        outcome, record = await self._complete(model, run, kwargs)
        cost.carry(kwargs.get("logging_obj"), record.usage.cost, response.summary(name, record))
        return response.fill(name, kwargs["model_response"], outcome, record)

    def completion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        return _sync.run(self.acompletion(model, messages, **kwargs))

    def astreaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        # Prepared now, not at the first chunk: a bad spec fails the call itself (an HTTP 400
        # through the proxy), and the run belongs to the caller's scope. A spec nobody trusts
        # was decoded by the proxy's guard (then it is cached), or is at most max_name_bytes.
        model = _routed(self.host, model, kwargs)
        scope = self._trust(model, kwargs)
        if is_url(model):
            return self._stream_url(model, messages, kwargs, scope)
        if not scope.trusted:
            policy.check_size(PREFIX + model, policy.current())
        prepared = self._prepare(model, self._decode(model, None), messages, kwargs, scope)
        return self._stream(model, prepared, kwargs)

    async def _stream_url(
        self, model: str, messages: list, kwargs: dict[str, Any], scope: _Scope
    ) -> AsyncIterator[dict[str, Any]]:
        prepared = self._prepare(
            model, await self.load(model, scope.trusted), messages, kwargs, scope
        )
        async for chunk in self._stream(model, prepared, kwargs):
            yield chunk

    async def _stream(
        self, model: str, prepared: tuple[Run, Estimate | None], kwargs: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        run, estimate = prepared
        if (only := _estimate_only(run, estimate, kwargs)) is not None:
            for chunk in response.estimate_chunks(only):
                yield chunk
            return
        finish, text = "stop", []
        try:
            async for event in run.stream():
                if event.finish_reason is not None:
                    finish = event.finish_reason
                    continue
                text.append(event.text)
                yield response.chunk(event)
        except BaseException as e:  # failed, or the caller went away (GeneratorExit)
            self._failed(model, run, kwargs, e)
            raise
        self._dump(model, run, Outcome("".join(text), None, finish), None)
        record = run.record()
        summary = response.summary(PREFIX + model, record)
        cost.carry(kwargs.get("logging_obj"), record.usage.cost, summary)
        yield response.last_chunk(PREFIX + model, finish, record)

    def streaming(self, model: str, messages: list, **kwargs: Any) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        # Like a provider whose HTTP call precedes the stream, return once the answer has begun:
        # a failure of the members then raises from completion() as its own typed error, not
        # wrapped as a mid-stream failure by litellm's stream wrapper.
        chunks = _sync.iterate(self.astreaming(model, messages, **kwargs))
        return itertools.chain([next(chunks)], chunks)
