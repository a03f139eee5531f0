"""What a mixture takes from litellm's caller, and which of it reaches each member."""

from types import SimpleNamespace

import litellm
import pytest

from litellm_mixture.engine import params
from litellm_mixture.provider import proxy
from litellm_mixture.trust import policy
from tests.helpers import TOOLS, complete


def notes(response) -> dict[str, str | None]:
    return {(t["model"], t["step"]): t["note"] for t in response._hidden_params["mixture"]["trace"]}


def test_litellm_lists_every_openai_param_for_a_mixture_and_only_for_it():
    listed = litellm.get_supported_openai_params(model="mixture/demo")
    assert {"reasoning_effort", "thinking", "verbosity", "temperature", "tools"} <= set(listed)
    assert listed == litellm.get_supported_openai_params(model="x", custom_llm_provider="mixture")
    assert "reasoning_effort" not in litellm.get_supported_openai_params(model="gpt-4o")


def test_reasoning_effort_reaches_the_members_that_reason_and_the_aggregator(respx_upstream):
    r = complete("openai/gpt-4o-mini+openai/o4-mini>openai/o4-mini", reasoning_effort="high")
    (mini,) = respx_upstream.by_model("gpt-4o-mini")
    proposer, aggregator = respx_upstream.by_model("o4-mini")
    assert "reasoning_effort" not in mini
    assert proposer["reasoning_effort"] == aggregator["reasoning_effort"] == "high"
    assert notes(r) == {
        ("openai/gpt-4o-mini", 0): "not sent: reasoning_effort (openai/gpt-4o-mini does not "
        "reason, says litellm.supports_reasoning)",
        ("openai/o4-mini", 0): None,
        ("openai/o4-mini", 1): None,
    }
    # The proposer's reasoning (reasoning_content) is not passed on; its answer is.
    assert "thought of o4-mini" not in str(aggregator["messages"])
    assert "answer from o4-mini" in str(aggregator["messages"])


def test_thinking_goes_as_reasoning_effort_to_a_model_that_takes_only_that(respx_upstream):
    r = complete(
        "openai/gpt-4o-mini>openai/o4-mini", thinking={"type": "enabled", "budget_tokens": 6000}
    )
    assert respx_upstream.by_model("o4-mini")[0]["reasoning_effort"] == "medium"
    assert "thinking" not in respx_upstream.by_model("o4-mini")[0]
    assert not {"thinking", "reasoning_effort"} & set(respx_upstream.by_model("gpt-4o-mini")[0])
    assert notes(r)[("openai/o4-mini", 1)] == "thinking sent as reasoning_effort=medium"


def test_a_setting_a_member_does_not_take_is_left_out_and_noted(respx_upstream):
    r = complete(
        "openai/gpt-4o-mini>openai/o4-mini", tools=TOOLS, parallel_tool_calls=False, top_p=0.5
    )
    aggregator = respx_upstream.by_model("o4-mini")[0]
    assert "parallel_tool_calls" not in aggregator and aggregator["tools"]
    # top_p reaches gpt-4o-mini; o4-mini does not take it, litellm says.
    assert respx_upstream.by_model("gpt-4o-mini")[0]["top_p"] == 0.5
    assert notes(r)[("openai/o4-mini", 1)] == (
        "not sent: top_p, parallel_tool_calls (not in litellm.get_supported_openai_params for "
        "openai/o4-mini)"
    )


def test_fit_keeps_what_litellm_lists_and_never_judges_an_unknown_model():
    anthropic = params.Takes(frozenset({"thinking", "reasoning_effort", "temperature"}), True)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    assert params.fit({"thinking": thinking}, "c", anthropic) == ({"thinking": thinking}, None)
    unknown = params.Takes(None, False)
    kept, note = params.fit({"verbosity": "low", "reasoning_effort": "low"}, "m", unknown)
    assert kept == {"verbosity": "low"} and "reasoning_effort" in note
    # Not OpenAI params, or passed to every provider unchecked: always kept.
    nothing = params.Takes(frozenset(), True)
    assert params.fit({"user": "u", "mock_response": "x"}, "m", nothing)[0] == {
        "user": "u",
        "mock_response": "x",
    }


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 5000}, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, "high"),
        ({"type": "disabled"}, None),
        ("enabled", None),
    ],
)
def test_thinking_budgets_as_efforts(thinking, effort):
    assert params.effort(thinking) == effort


def test_a_proxy_alias_is_judged_by_the_model_it_calls_or_its_model_info():
    router = SimpleNamespace(
        model_list=[
            {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini"}},
            {"model_name": "thinker", "litellm_params": {"model": "openai/o4-mini"}},
            {
                "model_name": "local-r1",
                "litellm_params": {"model": "hosted_vllm/r1"},
                "model_info": {"supports_reasoning": True},
            },
        ]
    )
    models = proxy.Models.of(router)
    assert not models.takes("fast").reasoning
    assert models.takes("thinker").reasoning
    assert "reasoning_effort" in (models.takes("thinker").params or ())
    # litellm does not know it; the operator does, and so it takes reasoning_effort.
    assert models.takes("local-r1").reasoning
    assert "reasoning_effort" in (models.takes("local-r1").params or {"reasoning_effort"})


def test_the_trust_policy_lets_clients_send_reasoning_settings_and_identifiers():
    sent = {
        "reasoning_effort": "high",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "prompt_cache_key": "conversation-1",
        "safety_identifier": "user-1",
        "user": "user-1",
    }
    policy.check_request(sent, policy.Policy(), "gpt-4o-mini>gpt-4o")
    with pytest.raises(policy.PolicyError, match="service_tier"):
        policy.check_request({"service_tier": "priority"}, policy.Policy(), "a>b")
