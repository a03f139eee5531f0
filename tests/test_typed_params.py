"""Mistyped params are a BadRequestError naming the param before any member call, for the
request's params (what litellm hands the provider) and for a spec's, trusted or not."""

import math

import litellm
import pytest

import litellm_mixture
from litellm_mixture.spec.typed_params import problems
from tests.helpers import complete

BAD = [
    ("temperature", "hot"),
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", [1]),
    ("temperature", True),
    ("temperature", 2.5),
    ("top_p", -0.1),
    ("max_tokens", "100000"),
    ("max_tokens", -5),
    ("max_tokens", 0),
    ("max_tokens", True),
    ("max_tokens", 10.5),
    ("max_completion_tokens", "9"),
    ("n", "2"),
    ("seed", "x"),
    ("stop", 5),
    ("stop", ["a", 1]),
    ("logprobs", "yes"),
    ("frequency_penalty", 3),
    ("presence_penalty", math.nan),
]
RENAMED = {"max_completion_tokens": "max_tokens"}


@pytest.mark.parametrize(("name", "value"), BAD)
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_mistyped_request_param_fails_before_any_call(respx_upstream, name, value, stream):
    with pytest.raises(litellm.BadRequestError) as err:
        complete("openai/p1+openai/p2>openai/agg", stream=stream, **{name: value})
    assert isinstance(err.value, litellm_mixture.ParamError)
    # litellm hands a custom provider max_completion_tokens renamed to max_tokens.
    assert f"{RENAMED.get(name, name)}=" in err.value.message
    assert respx_upstream.requests == []


# (0 too on litellm >= 1.10x; 1.81 reads a timeout of 0 as none given, i.e. 600 s)
@pytest.mark.parametrize("timeout", [-1, math.nan, math.inf])
def test_a_timeout_that_bounds_nothing_is_refused(respx_upstream, timeout):
    with pytest.raises(litellm_mixture.ParamError, match="timeout="):
        complete("openai/p1>openai/agg", timeout=timeout)
    assert respx_upstream.requests == []


def test_well_typed_params_pass_and_unknown_ones_are_left_to_the_provider():
    good = {
        "temperature": 1,
        "top_p": 0.5,
        "max_tokens": 100,
        "stop": ["\n"],
        "seed": 7,
        "logprobs": False,
        "tools": [],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "mock_response": ["anything"],
    }
    assert problems(good) == []


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("{steps: [{aggregate: {model: openai/a, params: {temperature: hot}}}]}", "temperature"),
        ("{steps: [{aggregate: {model: openai/a, params: {max_tokens: '100'}}}]}", "max_tokens"),
        ("{steps: [{aggregate: {model: openai/a, params: {top_p: .nan}}}]}", "top_p"),
        ("{steps: [{aggregate: {model: openai/a, temperature: .inf}}]}", "temperature"),
        ("{steps: [{aggregate: {model: openai/a, max_tokens: true}}]}", "max_tokens"),
        ("{steps: [{propose: [openai/a], max_tokens: '5'}, {aggregate: openai/b}]}", "max_tokens"),
        ("{steps: [{propose: [openai/a], timeout: -1}, {aggregate: openai/b}]}", "timeout"),
        ("{deadline: .nan, steps: [{aggregate: openai/a}]}", "deadline"),
        ("{steps: [{propose: [openai/a], grace: .inf}, {aggregate: openai/b}]}", "grace"),
        ("{steps: [{propose: {model: openai/a, samples: '3'}}, {aggregate: openai/b}]}", "samples"),
        ("moa-lite?temperature=nan", "temperature"),
        ("moa-lite?max_tokens=0", "max_tokens"),
    ],
)
def test_a_mistyped_spec_setting_is_a_spec_error_naming_it(respx_upstream, spec, name):
    with pytest.raises(litellm_mixture.SpecError) as err:
        complete(spec)
    assert name in err.value.message
    assert "Tuple should have at least 1 item" not in err.value.message  # only the real fault
    assert respx_upstream.requests == []
