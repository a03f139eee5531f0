"""Engine rules behind issue 12's items 7 and 8, with a fake caller: the caller's timeout bounds
the whole run, a spec's timeouts and retries are exact, and missing or refused credentials are
typed as such, never retried, and said once."""

import asyncio

import httpx
import litellm
import pytest
from litellm.exceptions import PermissionDeniedError

import litellm_mixture
from litellm_mixture import decode, errors
from litellm_mixture.engine import Run
from litellm_mixture.provider import proxy
from tests.fakes import ASK

ANSWER = litellm.ModelResponse(
    choices=[{"message": {"role": "assistant", "content": "an answer"}}],
    usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
)
TWICE, AGGREGATE = "{model: openai/p1, samples: 2}", "{aggregate: openai/agg}"
NO_KEY = "OpenAIException - Missing credentials. Please pass an `api_key`, or set OPENAI_API_KEY."


class Caller:
    """Answers every member, except those told to hang or to fail with an error."""

    def __init__(self, **fail):
        self.fail = fail
        self.calls: list[tuple[str, dict]] = []

    async def __call__(self, model, messages, **kwargs):
        self.calls.append((model, kwargs))
        what = self.fail.get(model.split("/")[-1])
        if what == "hang":
            await asyncio.sleep(3600)
        if isinstance(what, Exception):
            raise what
        return ANSWER


def run(spec, caller, **kwargs):
    return asyncio.run(Run(decode("mixture/" + spec), ASK, caller=caller, **kwargs).complete())


def forbidden(model):
    response = httpx.Response(403, request=httpx.Request("POST", "http://upstream.invalid"))
    return PermissionDeniedError("no access to this model", "openai", model, response)


def test_the_callers_timeout_bounds_the_whole_run_and_names_what_it_cut():
    caller = Caller(p2="hang")
    with pytest.raises(litellm_mixture.MembersTimedOutError) as err:
        run("openai/p1+openai/p2>openai/agg", caller, timeout=0.2)
    assert err.value.deadline
    assert err.value.message.endswith(
        "mixture timeout of 0.2s passed; member calls cut: step 1 member openai/p2"
    )
    assert [m for m, _ in caller.calls] == ["openai/p1", "openai/p2"]  # no aggregator


def test_the_sooner_of_the_spec_deadline_and_the_callers_timeout_wins():
    spec = "{deadline: 0.1, steps: [{propose: [openai/p1]}, {aggregate: openai/agg}]}"
    with pytest.raises(litellm_mixture.MembersTimedOutError, match=r"mixture deadline of 0\.1s"):
        run(spec, Caller(p1="hang"), timeout=600)
    assert Run(decode("mixture/openai/a"), ASK, timeout=600).context.clock.seconds == 600
    assert Run(decode("mixture/" + spec), ASK).context.clock.seconds == 0.1


def kwargs_of(spec, **run):
    caller = Caller()
    asyncio.run(Run(decode("mixture/" + spec), ASK, caller=caller, **run).complete())
    return [kwargs for _, kwargs in caller.calls]


def test_a_spec_timeout_or_retries_turn_the_member_sdks_retries_off():
    step = "{steps: [{propose: [openai/p1], timeout: 2}, {aggregate: openai/agg}]}"
    proposer, aggregator = kwargs_of(step, timeout=600)
    assert proposer["max_retries"] == 0 and proposer["timeout"] == 2
    assert "max_retries" not in aggregator and aggregator["timeout"] == 600
    assert all(
        k["max_retries"] == 0 for k in kwargs_of("{retries: 1, steps: [{aggregate: openai/a}]}")
    )
    # The caller's timeout alone bounds the run: the SDK's retries may go on inside it.
    assert all("max_retries" not in k for k in kwargs_of("openai/p1>openai/agg", timeout=3))
    own = "{timeout: 2, steps: [{aggregate: {model: openai/a, params: {max_retries: 1}}}]}"
    assert kwargs_of(own)[0]["max_retries"] == 1  # a trusted spec's explicit choice


def test_router_retries_are_off_for_exact_calls_and_mixture_aliases(monkeypatch):
    seen = []

    class Router:
        model_list = [
            {"model_name": "alias", "litellm_params": {"model": "openai/x"}},
            {"model_name": "team", "litellm_params": {"model": "mixture/alias>alias"}},
        ]
        model_names = ["alias", "team"]

        async def acompletion(self, **kwargs):
            seen.append(kwargs)
            return ANSWER

    monkeypatch.setattr(proxy, "router", Router)
    asyncio.run(proxy.call_member("alias", ASK, max_retries=0))  # the spec's exact retries
    asyncio.run(proxy.call_member("alias", ASK, timeout=3))  # the Router's own retries
    asyncio.run(proxy.call_member("team", ASK))  # a mixture: never re-run whole
    assert [k.get("num_retries") for k in seen] == [0, None, 0]


def test_a_missing_key_is_an_authentication_error_never_retried_and_said_once():
    missing = litellm.InternalServerError(NO_KEY, "openai", "p1")  # how litellm types it
    caller = Caller(p1=missing, p2=missing)
    with pytest.raises(litellm.AuthenticationError) as err:
        run(f"{{retries: 3, steps: [{{propose: [{TWICE}, openai/p2]}}, {AGGREGATE}]}}", caller)
    assert isinstance(err.value, litellm_mixture.MembersAuthError) and err.value.status_code == 401
    assert [m for m, _ in caller.calls] == ["openai/p1", "openai/p1", "openai/p2"]  # one each
    message = err.value.message
    assert "members openai/p1*2, openai/p2 -> AuthenticationError" in message
    assert message.count("Missing credentials") == 1


def test_permission_denied_everywhere_is_a_403_and_mixed_with_401_an_authentication_error():
    with pytest.raises(PermissionDeniedError) as err:
        run("openai/p1+openai/p2>openai/agg", Caller(p1=forbidden("p1"), p2=forbidden("p2")))
    assert isinstance(err.value, litellm_mixture.MembersPermissionError)
    assert err.value.status_code == 403
    unauthorized = litellm.AuthenticationError("invalid key", "openai", "p2")
    with pytest.raises(litellm_mixture.MembersAuthError):
        run("openai/p1+openai/p2>openai/agg", Caller(p1=forbidden("p1"), p2=unauthorized))
    server = litellm.InternalServerError("boom", "openai", "p2")
    with pytest.raises(litellm_mixture.MembersFailedError):
        run("openai/p1+openai/p2>openai/agg", Caller(p1=forbidden("p1"), p2=server))


AUTH, DENIED = litellm.AuthenticationError, PermissionDeniedError


@pytest.mark.parametrize(
    ("error", "typed_as"),
    [
        (litellm.InternalServerError(NO_KEY, "openai", "m"), AUTH),
        (
            litellm.APIConnectionError("Missing Gemini API key. Set GEMINI_API_KEY", "gemini", "m"),
            AUTH,
        ),
        (litellm.InternalServerError("The api_key client option must be set", "openai", "m"), AUTH),
        (litellm.APIError(401, "invalid key", "openai", "m"), AUTH),
        (litellm.APIError(403, "not allowed", "openai", "m"), DENIED),
        (litellm.InternalServerError("upstream overloaded", "openai", "m"), None),
        (litellm.RateLimitError("the key is rate limited", "openai", "m"), None),
        (litellm.APIError(409, "conflict", "openai", "m"), None),
    ],
)
def test_a_credentials_failure_is_recognised_whatever_litellm_typed_it_as(error, typed_as):
    typed = errors.as_auth(error)
    if typed_as is None:
        assert typed is error
    else:
        assert type(typed) is typed_as and typed.model == "m"


def test_max_calls_counts_a_timed_call_once_as_the_engine_makes_it():
    from litellm_mixture.trust.calls import count_calls

    def count(spec):
        return count_calls(
            decode("mixture/" + spec), nested=lambda m: None, attempts=proxy.attempts
        )

    assert count("openai/a>openai/b") == 6  # the OpenAI SDK's 2 retries each
    assert count("{timeout: 5, steps: [{propose: [openai/a]}, {aggregate: openai/b}]}") == 2
    assert count("{steps: [{propose: [openai/a], timeout: 5}, {aggregate: openai/b}]}") == 4
    assert count("{retries: 1, steps: [{propose: [openai/a]}, {aggregate: openai/b}]}") == 4
