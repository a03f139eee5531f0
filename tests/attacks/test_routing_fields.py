"""Item 3 of issue 12: no request field sends a mixture past its handler and its policy.

Before: ``{"model": "mixture/gpt-4o", "custom_llm_provider": "openai"}`` sent the client's
messages to OpenAI's default endpoint with the key in the proxy's environment, for the wildcard
route and for named entries alike. Now the guard answers any field that chooses where or how a
call is routed or authenticated with a 400 naming it, for every mixture; a plain alias is left
to litellm as before.
"""

from __future__ import annotations

import pytest

from tests.attacks.proxy_helpers import assert_no_secret, chat

MIXTURES = ["mixture/gpt-4o-mini>gpt-4o", "mixture/gpt-4o", "team-moa", "demo"]
FIELDS = {
    "custom_llm_provider": "openai",
    "api_base": "http://127.0.0.1:9/v1",
    "base_url": "http://127.0.0.1:9/v1",
    "api_key": "sk-client-chosen",
    "api_version": "2024-01-01",
    "organization": "org-elsewhere",
    "extra_headers": {"x-tenant": "other"},
    "headers": {"authorization": "Bearer other"},
    "model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x"}}],
    "user_config": {"model_list": []},
    "num_retries": 50,
    "fallbacks": ["gpt-4o"],
    "mock_response": "answer chosen by the client",
    "aws_role_name": "arn:aws:iam::1:role/x",
    "vertex_credentials": "{}",
    "azure_ad_token": "token",
    "input_cost_per_token": 0,
    "litellm_credential_name": "other-team",
}


# litellm >= 1.100 drops a client's top-level mock_response itself (then the mixture runs as
# if it were not sent); litellm 1.81 passes it on, and the guard refuses it.
DROPPED_BY_SOME_PROXIES = {"mock_response"}


@pytest.mark.parametrize("model", MIXTURES)
def test_every_routing_or_auth_field_is_refused_for_a_mixture(
    attack_http, attack_proxy, upstream_process, model
):
    answers = []
    for field, value in FIELDS.items():
        for body in ({field: value}, {"extra_body": {field: value}}):
            upstream_process.clear()
            answer = chat(attack_http, model, **body)
            answers.append(answer)
            if answer.status_code == 200 and field in DROPPED_BY_SOME_PROXIES and field in body:
                assert value not in answer.text  # dropped: the mixture itself answered
                continue
            message = answer.json()["error"]["message"]
            assert field in message, answer.text
            if "Rejected Request" in message:  # litellm's own check, before the guard's
                assert answer.status_code in (400, 401), answer.text
            else:
                assert answer.status_code == 400, answer.text
                assert "is not allowed for a mixture" in message, answer.text
            assert upstream_process.calls() == [], (field, body)
    assert_no_secret(attack_proxy, *(a.content for a in answers))


def test_router_settings_sent_with_a_mixture_cannot_add_retries_or_fallbacks(
    attack_http, attack_proxy, upstream_process
):
    for field, value in [("fallbacks", ["gpt-4o"]), ("num_retries", 9)]:
        answer = chat(attack_http, "team-moa", router_settings_override={field: value})
        assert answer.status_code == 400, answer.text
        assert f"'router_settings_override.{field}'" in answer.json()["error"]["message"]
    assert upstream_process.calls() == []


def test_a_mixture_without_such_fields_still_runs(attack_http, upstream_process):
    for model in MIXTURES[:3]:
        assert chat(attack_http, model, temperature=0.2, user="u-1").status_code == 200
    assert upstream_process.calls()


def test_a_plain_alias_is_left_to_litellm(attack_http, upstream_process):
    # Not a mixture: the guard does not look at it (litellm routes this to the alias's
    # deployment, which here is the recording upstream).
    answer = chat(attack_http, "gpt-4o-mini", custom_llm_provider="openai")
    assert answer.status_code == 200, answer.text
    assert [c["request"]["model"] for c in upstream_process.calls()] == ["gpt-4o-mini"]
