"""The CustomLLM adapter: ``mixture/<spec>`` in, one ordinary LiteLLM response out."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import litellm
from litellm import CustomLLM

from . import _sync, cost, dump, policy, proxy, remote, report
from . import params as member_params
from .engine import Caller, Outcome, Run
from .errors import ParamError, SpecError
from .spec import PREFIX, Pipeline, accepted, decode, decode_fetched, is_url, remember
from .typed_params import problems

# The request param that asks for every member's answer on the response (off by default).
INTERMEDIATE = "intermediate_responses"


def _tool_use(call: Any) -> dict[str, Any]:
    fn = call.function
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": fn.name, "arguments": fn.arguments or ""},
        "index": getattr(call, "index", 0) or 0,
    }


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
    found = {(litellm_params.get(k) or {}).get("model_group") for k in _METADATA} - {None}
    return found.pop() if len(found) == 1 else None


def _parent_metadata(call: dict[str, Any]) -> dict[str, Any]:
    """What each member call's metadata carries from the request that runs the mixture: its id,
    and the trace it belongs to, so tracing callbacks draw the member calls under it."""
    parent = getattr(call.get("logging_obj"), "litellm_call_id", None)
    litellm_params = call.get("litellm_params") or {}
    outer = _request_metadata(call)
    # Only these: the proxy's own metadata (the caller's key, its spend) must not follow.
    metadata = {k: outer[k] for k in ("session_id", "litellm_parent_otel_span") if k in outer}
    trace = outer.get("trace_id") or litellm_params.get("litellm_trace_id") or parent
    if trace is not None:
        metadata["trace_id"] = trace
    metadata["mixture_parent_request_id"] = parent
    return metadata


def _routed(model: str, call: dict[str, Any]) -> str:
    """The spec this call is for (see :func:`proxy.routed_model`)."""
    routed = proxy.routed_model(PREFIX + model, _request_metadata(call))
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


def _aliases() -> dict[str, str]:
    models = proxy.models()
    return models.targets if models is not None else {}


def _decode(spec: str, text: str | None) -> Pipeline:
    """The pipeline of a spec (the text after ``mixture/``), or of the document fetched for it."""
    return decode(PREFIX + spec, _aliases()) if text is None else decode_fetched(text, spec)


class MixtureLLM(CustomLLM):
    """Runs the pipeline named by the model string. Register it as provider ``mixture``."""

    def __init__(self, caller: Caller = proxy.call_member) -> None:
        super().__init__()
        self.caller = caller

    # ------------------------------------------------------------ spec -> checked Run

    async def load(self, spec: str, trusted: bool = True) -> Pipeline:
        """The pipeline a spec names, fetching URL specs the policy allows. A spec nobody
        trusts has its size checked first and is decoded off the event loop (unless a spec of
        the same text was accepted before)."""
        model = PREFIX + spec  # not decode(spec): a spec may itself start with mixture/
        if not trusted:
            policy.check_size(model, policy.current())
        text = await remote.fetch(spec, policy.current()) if is_url(spec) else None
        if trusted or (text is None and accepted(model) is not None):
            return _decode(spec, text)
        return await _sync.off_loop(_decode, spec, text)

    def _nested(self, found: list[tuple[str, Pipeline]] | None, spec: str) -> policy.Nested:
        """What a member runs when it is itself a mixture, and whether the operator wrote it.

        ``found`` (a spec nobody trusts) collects the nested specs decoded, and makes URL
        specs refused as members; without it, they are left to run (and be checked) later.
        """
        models = proxy.models()
        targets = _aliases()

        def nested(member: str) -> tuple[Pipeline, bool] | None:
            target = targets.get(member, member)
            if not target.startswith(PREFIX):
                return None
            if is_url(target.removeprefix(PREFIX)):
                if found is None:
                    return None
                raise policy.PolicyError(
                    "url_hosts", f"{member!r}: URL specs cannot nest", spec=spec
                )
            # Trusted when it names an operator entry; a spec written out is the client's own.
            trusted = models is not None and member != target and target in models.operator_specs
            pipeline = decode(target, targets)
            if found is not None and not trusted:
                found.append((target, pipeline))
            return pipeline, trusted

        return nested

    def check(self, spec: str, pipeline: Pipeline, depth: int = 0) -> None:
        """Refuses a client-sent pipeline the operator's policy does not allow; caches it, and
        the nested specs it names, once accepted."""
        found: list[tuple[str, Pipeline]] = [(PREFIX + spec, pipeline)]
        policy.check(
            pipeline,
            policy.current(),
            allowed=_aliases().__contains__,
            nested=self._nested(found, spec),
            attempts=proxy.attempts,
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
        if depth > policy.MAX_DEPTH:
            raise SpecError(f"mixtures nested more than {policy.MAX_DEPTH} deep", spec=model)
        models = proxy.models()
        # Inside the proxy the operator's own entries, and what they call, are trusted: the
        # Router names the entry it routed in model_group (overwriting any the client sent). A
        # client spec whose text merely equals an entry's came through the wildcard route and
        # is checked like any other.
        routed = _routed_entry(call)
        if models is not None and models.targets.get(routed) == PREFIX + model:
            return _Scope(depth, True)
        if parent is not None:
            return _Scope(depth, parent.trusted)
        # In-process: the caller's code, unless the application opted in to a policy.
        return _Scope(depth, models is None and policy.enforced() is None)

    def _prepare(
        self, model: str, pipeline: Pipeline, messages: list, call: dict[str, Any], scope: _Scope
    ) -> Run:
        params = dict(call.get("optional_params") or {})
        seconds = _checked_timeout(call, params, model)
        cap = None
        if not scope.trusted:
            rules = policy.current()
            policy.check_request(params, rules, model)
            self.check(model, pipeline, scope.depth)
            cap = rules.max_tokens
            # The request's timeout bounds the run, and no client may ask for more than this.
            seconds = min(seconds or rules.max_seconds, rules.max_seconds)
        else:
            if scope.depth == 0:
                # A preset that names itself: refused with the reason, before any call, rather
                # than as the failure of a member nested eight deep.
                policy.count_calls(pipeline, nested=self._nested(None, model), spec=model)
            remember(PREFIX + model, pipeline)
        caller = _scoped(self.caller, scope)
        record = bool(params.get(INTERMEDIATE)) or dump.directory() is not None
        metadata = _parent_metadata(call)
        models = proxy.models()
        return Run(
            pipeline,
            list(messages),
            params,
            caller,
            seconds,
            cap,
            metadata=metadata,
            takes=models.takes if models is not None else member_params.takes,
            record=record,
        )

    def _summary(self, model: str, run: Run) -> dict[str, Any]:
        return {
            "model": PREFIX + model,
            "mixture_id": run.id,
            "cost": run.usage.cost,
            "cost_complete": run.usage.cost_known,
            "trace": run.trace_dicts(),
        }

    @staticmethod
    def _dump(model: str, run: Run, outcome: Outcome | None, error: BaseException | None) -> None:
        folder = dump.directory()
        if folder is not None:
            dump.write(folder, run, PREFIX + model, outcome, error)

    async def _complete(self, model: str, run: Run) -> Outcome:
        try:
            outcome = await run.complete()
        except BaseException as e:
            self._dump(model, run, None, e)
            raise
        self._dump(model, run, outcome, None)
        return outcome

    def _usage(self, run: Run) -> litellm.Usage:
        usage = litellm.Usage(**run.usage.as_dict())
        # litellm >= 1.10x reads usage.cost (responses, stream chunks, completion_cost).
        usage.cost = run.usage.cost
        return usage

    def _fill(self, model: str, response: Any, outcome: Outcome, run: Run) -> Any:
        message = response.choices[0].message
        message.content = outcome.content
        if outcome.tool_calls:
            message.tool_calls = outcome.tool_calls
        response.choices[0].finish_reason = outcome.finish_reason
        response.model = PREFIX + model
        response.created = int(time.time())
        response.usage = self._usage(run)
        # What litellm 1.81's callbacks and the proxy's cost header read.
        response._hidden_params["response_cost"] = run.usage.cost
        response._hidden_params[cost.HIDDEN_KEY] = self._summary(model, run)
        # Sent on by the proxy, for its clients (cost.of).
        setattr(response, cost.FIELD, run.usage.cost)
        if run.params.get(INTERMEDIATE):
            response.intermediate_responses = report.intermediate_responses(run)
        return response

    # litellm calls every entry point with keyword arguments only (model_response,
    # optional_params, logging_obj, timeout, ...); these read just what they use.

    async def acompletion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        model = _routed(model, kwargs)
        scope = self._trust(model, kwargs)
        pipeline = await self.load(model, scope.trusted)
        run = self._prepare(model, pipeline, messages, kwargs, scope)
        outcome = await self._complete(model, run)
        cost.carry(kwargs.get("logging_obj"), run.usage.cost, self._summary(model, run))
        return self._fill(model, kwargs["model_response"], outcome, run)

    def completion(self, model: str, messages: list, **kwargs: Any) -> Any:  # type: ignore[override]
        return _sync.run(self.acompletion(model, messages, **kwargs))

    def astreaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        # Prepared now, not at the first chunk: a bad spec fails the call itself (an HTTP 400
        # through the proxy), and the run belongs to the caller's scope. A spec nobody trusts
        # was decoded by the proxy's guard (then it is cached), or is at most max_name_bytes.
        model = _routed(model, kwargs)
        scope = self._trust(model, kwargs)
        if is_url(model):
            return self._stream_url(model, messages, kwargs, scope)
        if not scope.trusted:
            policy.check_size(PREFIX + model, policy.current())
        run = self._prepare(model, _decode(model, None), messages, kwargs, scope)
        return self._stream(model, run, kwargs)

    async def _stream_url(
        self, model: str, messages: list, kwargs: dict[str, Any], scope: _Scope
    ) -> AsyncIterator[dict[str, Any]]:
        run = self._prepare(model, await self.load(model, scope.trusted), messages, kwargs, scope)
        async for chunk in self._stream(model, run, kwargs):
            yield chunk

    async def _stream(
        self, model: str, run: Run, kwargs: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        finish, text = "stop", []
        try:
            async for event in run.stream():
                if event.finish_reason is not None:
                    finish = event.finish_reason
                    continue
                text.append(event.text)
                yield {
                    "text": event.text,
                    "tool_use": _tool_use(event.tool_call) if event.tool_call is not None else None,
                    "is_finished": False,
                    "finish_reason": "",
                    "usage": None,
                    "index": 0,
                }
        except BaseException as e:  # failed, or the caller went away (GeneratorExit)
            self._dump(model, run, None, e)
            raise
        self._dump(model, run, Outcome("".join(text), None, finish), None)
        usage = self._usage(run).model_dump()
        cost.carry(kwargs.get("logging_obj"), run.usage.cost, self._summary(model, run))
        last: dict[str, Any] = {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": finish,
            "usage": usage,
            "index": 0,
        }
        # litellm lifts these onto the chunk (chunk.mixture_cost), and the proxy sends them on:
        # a stream's cost reaches proxy clients that read no usage (aider's litellm 1.81).
        fields: dict[str, Any] = {cost.FIELD: run.usage.cost}
        if run.params.get(INTERMEDIATE):
            fields[INTERMEDIATE] = report.intermediate_responses(run)
        last["provider_specific_fields"] = fields
        yield last

    def streaming(self, model: str, messages: list, **kwargs: Any) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        # Like a provider whose HTTP call precedes the stream, return once the answer has begun:
        # a failure of the members then raises from completion() as its own typed error, not
        # wrapped as a mid-stream failure by litellm's stream wrapper.
        chunks = _sync.iterate(self.astreaming(model, messages, **kwargs))
        return itertools.chain([next(chunks)], chunks)
