"""Attacks on the real proxy (items 4, 5 and 7 of issue 12): a key of no known shape echoed by
an upstream, mistyped params, and timeouts and deadlines that must be the bounds a user reads.

Every test asserts the status, what the upstream was asked (nothing, when the request is
refused), and that no key reaches any byte the client gets, the proxy's log or its dumps. The
time bounds are generous (the bound plus 1.5 s of slack on a shared machine): end to end only.
"""

import json
import time

import pytest

from tests.attacks.engine_stack import (
    MAX_SECONDS,
    assert_nothing_leaked,
    calls_to,
    engine_proxy,
    post,
)
from tests.attacks.proxy_helpers import ASK
from tests.helpers import wait_for

SLACK = 1.5  # seconds: process scheduling on a busy 2-core machine, never the bound itself
ECHO = "Incorrect API key provided: {key}. You can find your API key at https://example.invalid."


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, shared_upstream_process):
    with engine_proxy(tmp_path_factory.mktemp("proxy"), shared_upstream_process.base) as proxy:
        yield proxy


# ------------------------------------------------------------------ item 4: keys by value


def test_a_key_of_no_known_shape_echoed_by_a_401_is_in_no_answer(upstream_process, proxy):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "401", "message": ECHO}})
    r = post(proxy, {"model": "team-moa", "messages": ASK, "intermediate_responses": True})
    assert r.status_code == 200, r.text
    proposals = r.json()["intermediate_responses"][0]["responses"]
    failed = [p for p in proposals if p["model"] == "gpt-4o-mini"]
    assert len(failed) == 2
    for p in failed:
        assert p["error"].startswith("AuthenticationError: ")
        assert "Incorrect API key provided: [redacted]" in p["error"]
    # The upstream did see the key the answer no longer shows, once per sample: no retry.
    assert [c["key"] for c in calls_to(upstream_process, "gpt-4o-mini")] == [
        proxy.keys["OPENAI_API_KEY"]
    ] * 2
    assert_nothing_leaked(proxy, r.content)


def test_a_key_echoed_into_a_stream_and_an_error_is_in_neither(upstream_process, proxy):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "401", "message": ECHO}})
    body = {"model": "team-moa", "messages": ASK, "stream": True, "intermediate_responses": True}
    streamed = post(proxy, body)
    assert streamed.status_code == 200 and b"[redacted]" in streamed.content, streamed.text[-1500:]
    upstream_process.configure(fault={"*": {"kind": "401", "message": ECHO}})
    upstream_process.clear()
    failed = post(proxy, {"model": "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o", "messages": ASK})
    assert failed.status_code == 401, failed.text
    message = failed.json()["error"]["message"]
    assert "members gpt-4o-mini*2 -> AuthenticationError" in message
    assert message.count("Incorrect API key provided: [redacted]") == 2  # one per distinct key
    assert calls_to(upstream_process, "gpt-4o") == []
    # Both keys reached the upstream, and nothing the client or an operator reads holds them.
    assert {c["key"] for c in upstream_process.calls()} == set(proxy.keys.values())
    assert wait_for(lambda: list((proxy.log.parent / "dumps").glob("*.json")))
    assert_nothing_leaked(proxy, streamed.content, failed.content)


# ------------------------------------------------------------------ item 5: mistyped params

BAD_PARAMS = [
    ("temperature", '"hot"'),
    ("max_tokens", '"100000"'),
    ("max_tokens", "true"),
    ("max_tokens", "-5"),
    ("top_p", "[1]"),
    ("temperature", "NaN"),
    ("temperature", "1e999"),
    ("seed", '"x"'),
    ("stop", "5"),
]


@pytest.mark.parametrize("model", ["team-moa", "mixture/gpt-4o-mini>gpt-4o"])
@pytest.mark.parametrize(("name", "value"), BAD_PARAMS)
def test_a_mistyped_request_param_is_a_400_naming_it_before_any_call(
    upstream_process, proxy, model, name, value
):
    raw = f'{{"model": {json.dumps(model)}, "messages": {json.dumps(ASK)}, "{name}": {value}}}'
    r = post(proxy, raw)
    assert r.status_code == 400, r.text
    assert name in r.json()["error"]["message"]
    assert upstream_process.calls() == []


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("mistyped-params", "max_tokens"),  # an operator's entry: trusted, still typed
        (
            'mixture/{"steps":[{"aggregate":{"model":"gpt-4o-mini","params":{"temperature":"hot"}}}]}',
            "temperature",
        ),
        (
            'mixture/{"steps":[{"aggregate":{"model":"gpt-4o-mini","temperature":".nan"}}]}',
            "temperature",
        ),
        (
            'mixture/{"steps":[{"aggregate":{"model":"gpt-4o-mini","max_tokens":true}}]}',
            "max_tokens",
        ),
        ("mixture/moa-lite?temperature=nan", "temperature"),
    ],
)
def test_a_mistyped_spec_param_is_a_400_naming_it_before_any_call(
    upstream_process, proxy, model, name
):
    r = post(proxy, {"model": model, "messages": ASK})
    assert r.status_code == 400, r.text
    assert name in r.json()["error"]["message"]
    assert upstream_process.calls() == []


# ------------------------------------------------------------------ item 7: time bounds


def timed(proxy, body):
    started = time.monotonic()
    r = post(proxy, body)
    return r, time.monotonic() - started


def test_an_operator_deadline_of_3s_answers_within_it(upstream_process, proxy):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "hang"}})
    r, took = timed(proxy, {"model": "deadline-3", "messages": ASK})
    assert r.status_code == 408, r.text
    assert "mixture deadline of 3s passed" in r.json()["error"]["message"]
    assert 3 <= took <= 3 + SLACK
    assert (
        len(calls_to(upstream_process, "gpt-4o-mini")) == 1
        and calls_to(upstream_process, "gpt-4o") == []
    )
    assert wait_for(
        lambda: [c["state"] for c in calls_to(upstream_process, "gpt-4o-mini")] == ["cancelled"]
    )


def test_a_step_timeout_of_2s_is_one_call_of_2s(upstream_process, proxy):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "hang"}})
    r, took = timed(
        proxy, {"model": "step-timeout-2", "messages": ASK, "intermediate_responses": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"].endswith("aggregating 1 references")
    # Neither the OpenAI SDK (2 retries) nor the Router gave the call its 2 s again.
    assert len(calls_to(upstream_process, "gpt-4o-mini")) == 1
    assert 2 <= took <= 2 + SLACK


def test_a_nested_mixtures_timeout_of_2s_bounds_the_request(upstream_process, proxy):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "hang"}})
    r, took = timed(proxy, {"model": "nested-timeout-2", "messages": ASK})
    assert r.status_code == 408, r.text
    assert "inner-timeout-2" in r.json()["error"]["message"]
    assert (
        len(calls_to(upstream_process, "gpt-4o-mini")) == 1
        and calls_to(upstream_process, "gpt-4o") == []
    )
    assert 2 <= took <= 2 + SLACK


@pytest.mark.parametrize(("asked", "bound"), [(2, 2), (100, MAX_SECONDS)])
def test_a_client_timeout_bounds_its_mixture_capped_by_max_seconds(
    upstream_process, proxy, asked, bound
):
    upstream_process.configure(fault={"gpt-4o-mini": {"kind": "hang"}})
    body = {"model": "mixture/gpt-4o-mini+deepseek-chat>gpt-4o", "messages": ASK, "timeout": asked}
    r, took = timed(proxy, body)
    assert r.status_code == 408, r.text
    assert f"mixture timeout of {bound:g}s passed" in r.json()["error"]["message"]
    assert bound <= took <= bound + SLACK
    # The member call's own limit is the same timeout: should it fire first, the SDK's retry
    # starts only to be cut by the bound at once. Nothing reaches the aggregator.
    assert (
        1 <= len(calls_to(upstream_process, "gpt-4o-mini")) <= 2
        and calls_to(upstream_process, "gpt-4o") == []
    )


def test_nothing_above_leaked_into_the_log(proxy):
    # Last in the module: the log now holds every request above, failed ones included.
    assert_nothing_leaked(proxy)
