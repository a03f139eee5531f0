"""The provider through real litellm.completion, with the HTTP layer mocked by respx."""

import asyncio
import json
from types import SimpleNamespace

import httpx
import litellm
import pytest

import litellm_mixture
from tests.fake_upstream import reply_for
from tests.helpers import ASK, TOOLS, complete


def test_proposers_get_the_whole_conversation_and_the_aggregator_the_references(respx_upstream):
    convo = [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "2+2?"},
    ]
    r = complete("openai/p1*2+openai/p2>openai/agg", convo)
    p1, p2, agg = (respx_upstream.by_model(m) for m in ("p1", "p2", "agg"))
    assert len(p1) == 2 and len(p2) == 1 and len(agg) == 1
    assert all(req["messages"] == convo for req in p1 + p2)
    answers = sorted(f"answer from {r['model']} #" for r in p1 + p2)
    system = agg[0]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Be exact.\n\nYou have been provided with a set")
    numbered = system["content"].split("Responses from models:")[1].split("\n")[1:]
    assert [line.split(". ", 1)[0] for line in numbered] == ["1", "2", "3"]
    assert sorted(line.split(". ", 1)[1].split("#")[0] + "#" for line in numbered) == answers
    assert agg[0]["messages"][1:] == convo[1:]
    assert r.choices[0].message.content.endswith("aggregating 3 references")
    assert r.model == "mixture/openai/p1*2+openai/p2>openai/agg"


def test_usage_and_cost_are_the_sums_over_every_member_call(respx_upstream):
    r = complete("openai/gpt-4o-mini*2>openai/gpt-4o")
    billed = [reply_for(req)["usage"] for req in respx_upstream.requests]  # deterministic per body
    assert r.usage.prompt_tokens == sum(u["prompt_tokens"] for u in billed)
    assert r.usage.completion_tokens == sum(u["completion_tokens"] for u in billed)
    expected = sum(
        sum(
            litellm.cost_per_token(
                model=req["model"],
                prompt_tokens=u["prompt_tokens"],
                completion_tokens=u["completion_tokens"],
            )
        )
        for req, u in zip(respx_upstream.requests, billed, strict=True)
    )
    assert r._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-9)
    assert r.usage.cost == pytest.approx(expected, rel=1e-9)
    trace = r._hidden_params["mixture"]["trace"]
    assert [(t["kind"], t["model"]) for t in trace] == [
        ("propose", "openai/gpt-4o-mini"),
        ("propose", "openai/gpt-4o-mini"),
        ("aggregate", "openai/gpt-4o"),
    ]
    assert all(t["error"] is None and t["cost"] > 0 for t in trace)


def test_the_callers_contract_binds_only_the_final_step(respx_upstream):
    fmt = {"type": "json_object"}
    complete(
        "openai/p*2>openai/agg",
        tools=TOOLS,
        tool_choice="auto",
        response_format=fmt,
        stop=["END"],
        max_tokens=50,
        temperature=0.00001,
        top_p=0.5,
    )
    for req in respx_upstream.by_model("p"):
        assert not {"tools", "tool_choice", "response_format", "stop"} & set(req)
        assert req["max_tokens"] == 50  # the caller's length bounds every answer
        assert req["temperature"] == 0 and req["top_p"] == 0.5
    agg = respx_upstream.by_model("agg")[0]
    assert agg["tools"][0]["function"]["name"] == "save" and agg["tool_choice"] == "auto"
    assert agg["response_format"] == fmt and agg["stop"] == ["END"] and agg["max_tokens"] == 50


def test_step_settings_win_over_the_callers_and_budgets_combine(respx_upstream):
    spec = (
        "{steps: [{propose: [openai/p, {model: openai/q, temperature: 0.2}], "
        "temperature: 0.7, max_tokens: 512}, {aggregate: openai/agg, max_tokens: 40}]}"
    )
    complete(spec, temperature=0, max_tokens=100)
    assert respx_upstream.by_model("p")[0]["temperature"] == 0.7
    assert respx_upstream.by_model("p")[0]["max_tokens"] == 512
    assert respx_upstream.by_model("q")[0]["temperature"] == 0.2
    agg = respx_upstream.by_model("agg")[0]
    assert agg["max_tokens"] == 40 and agg["temperature"] == 0


def test_aggregator_tool_calls_come_back_native(respx_upstream):
    r = complete("openai/p*2>openai/agg", tools=TOOLS)
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "save" and json.loads(call.function.arguments) == {"refs": 2}
    assert r.choices[0].finish_reason == "tool_calls"


def test_a_failed_member_never_becomes_a_reference(respx_upstream):
    respx_upstream.overrides["bad"] = httpx.Response(500, json={"error": {"message": "boom"}})
    respx_upstream.overrides["thinker"] = "<think>only reasoning</think>"
    respx_upstream.overrides["blank"] = "   "
    r = complete("openai/good+openai/bad+openai/thinker+openai/blank>openai/agg")
    system = respx_upstream.by_model("agg")[0]["messages"][0]["content"]
    refs = system.split("Responses from models:")[1]
    assert refs.count("\n") == 1 and "answer from good" in refs
    errors = {t["model"]: t["error"] for t in r._hidden_params["mixture"]["trace"]}
    assert errors["openai/good"] is None
    assert "InternalServerError" in errors["openai/bad"] or "APIError" in errors["openai/bad"]
    assert errors["openai/thinker"].startswith("reasoning only")
    assert errors["openai/blank"].startswith("empty answer")


def test_reasoning_blocks_are_stripped_from_references(respx_upstream):
    respx_upstream.overrides["p"] = "<think>private chain</think>Four."
    complete("openai/p>openai/agg")
    system = respx_upstream.by_model("agg")[0]["messages"][0]["content"]
    assert system.endswith("\n1. Four.") and "private chain" not in system


def test_all_rate_limited_raises_rate_limit_error_naming_each_member(respx_upstream):
    limited = httpx.Response(
        429, json={"error": {"message": "slow down"}}, headers={"retry-after": "1"}
    )
    respx_upstream.overrides.update({"p": limited, "q": limited})
    with pytest.raises(litellm.RateLimitError) as info:
        complete("openai/p+openai/q>openai/agg")
    assert isinstance(info.value, litellm_mixture.MembersRateLimitedError)
    message = str(info.value)
    # The same reason for both: said once, naming both.
    assert "members openai/p, openai/q -> RateLimitError" in message
    assert message.count("slow down") == 1
    assert "0 of 1 required" in message
    assert not respx_upstream.by_model("agg")


def test_mixed_failures_raise_service_unavailable(respx_upstream):
    respx_upstream.overrides["p"] = httpx.Response(429, json={"error": {"message": "slow"}})
    respx_upstream.overrides["q"] = httpx.Response(500, json={"error": {"message": "boom"}})
    with pytest.raises(litellm.ServiceUnavailableError) as info:
        complete("openai/p+openai/q>openai/agg")
    assert isinstance(info.value, litellm_mixture.MembersFailedError)
    assert [f.model for f in info.value.failures] == ["openai/p", "openai/q"]


def test_quorum_counts_successes(respx_upstream):
    respx_upstream.overrides["q"] = httpx.Response(500, json={"error": {"message": "boom"}})
    spec = "{steps: [{propose: [openai/p, openai/q], min_successful: 2}, {aggregate: openai/a}]}"
    with pytest.raises(litellm_mixture.MixtureError, match="1 of 2 required"):
        complete(spec)


def test_aggregator_failure_names_the_aggregator(respx_upstream):
    respx_upstream.overrides["agg"] = httpx.Response(400, json={"error": {"message": "bad input"}})
    with pytest.raises(litellm.BadRequestError, match="member openai/agg"):
        complete("openai/p>openai/agg")


def test_bad_spec_is_a_bad_request_through_litellm(respx_upstream):
    with pytest.raises(litellm.BadRequestError, match="did you mean 'moa-lite'"):
        complete("moa-lit")
    with pytest.raises(litellm.BadRequestError, match="Invalid mixture spec"):
        asyncio.run(litellm.acompletion(model="mixture/a/x+b/y", messages=ASK))
    assert respx_upstream.requests == []


def test_escaped_provider_words_reach_the_mixture_and_arrive_unescaped(respx_upstream):
    # litellm's main.py routes any model string containing "replicate" (and a few other
    # words) to that provider before custom providers; escapes keep the word out of it.
    spec = (
        "{steps: [{propose: [openai/p]}, {aggregate: openai/agg, "
        'prompt: "\\x72eplicate the best answer"}]}'
    )
    assert "replicate" not in spec
    r = complete(spec)
    assert r.model.startswith("mixture/")
    assert respx_upstream.by_model("agg")[0]["messages"][0]["content"].startswith(
        "replicate the best answer\n1. "
    )


def test_mixtcha_inline_layout_and_per_member_prompts(respx_upstream):
    spec = (
        "{layers: [{type: parallel, models: [openai/h1, openai/h2], systemPrompts: [Hat one,"
        " Hat two], prompts: [null, Be brief]}, {type: aggregator, model: openai/agg,"
        " prompt: Merge them, systemPrompt: You merge}], messageMode: inline}"
    )
    complete(spec)
    h1, h2 = respx_upstream.by_model("h1")[0], respx_upstream.by_model("h2")[0]
    assert h1["messages"] == [{"role": "system", "content": "Hat one"}, *ASK]
    assert h2["messages"] == [
        {"role": "system", "content": "Hat two"},
        {"role": "user", "content": "What is 2+2?\n\nBe brief"},
    ]
    agg = respx_upstream.by_model("agg")[0]["messages"]
    assert agg[0] == {"role": "system", "content": "You merge"}
    text = agg[1]["content"]
    assert text.startswith("What is 2+2?\n\n<option>[openai/h")
    assert text.count("<option>") == 2 and text.endswith("</option>\n\nMerge them")


def test_concat_without_aggregator_returns_labelled_options(respx_upstream):
    r = complete("{layers: [{type: parallel, models: [openai/a, openai/b]}], messageMode: concat}")
    content = r.choices[0].message.content
    assert content.startswith("<option>[openai/a] answer from a #")
    assert "</option>\n\n<option>[openai/b] answer from b #" in content
    assert len(respx_upstream.requests) == 2


def test_single_model_passthrough_gets_the_full_request(respx_upstream):
    r = complete("openai/solo", tools=TOOLS, max_tokens=7)
    (req,) = respx_upstream.requests
    assert req["messages"] == ASK and req["max_tokens"] == 7 and req["tools"]
    assert r.choices[0].message.tool_calls


def test_async_and_sync_inside_a_running_loop(respx_upstream):
    async def main():
        a = await litellm.acompletion(model="mixture/openai/p>openai/agg", messages=ASK)
        b = complete("openai/p>openai/agg")  # sync call while this loop runs
        return a, b

    a, b = asyncio.run(main())
    assert a.choices[0].message.content.endswith("aggregating 1 references")
    assert b.choices[0].message.content.endswith("aggregating 1 references")


def test_register_is_idempotent_and_replaceable():
    first = litellm_mixture.register()
    assert litellm_mixture.register() is first
    assert [e["provider"] for e in litellm.custom_provider_map].count("mixture") == 1
    other = litellm_mixture.MixtureLLM()
    assert litellm_mixture.register(other) is other
    assert [e["provider"] for e in litellm.custom_provider_map].count("mixture") == 1
    litellm_mixture.register(first)


def test_a_router_wildcard_route_runs_the_spec_the_caller_named(respx_upstream, litellm_restored):
    # litellm 1.110's Router fills mixture/*'s `*` twice: `openai/p1*2>openai/agg` would reach
    # the provider as `openai/popenai/p1*2>openai/agg2>openai/agg`.
    router = litellm.Router(
        model_list=[{"model_name": "mixture/*", "litellm_params": {"model": "mixture/*"}}],
        num_retries=0,
    )

    async def ask(stream):
        r = await router.acompletion(
            model="mixture/openai/p1*2+openai/p2>openai/agg", messages=ASK, stream=stream
        )
        if not stream:
            return r.choices[0].message.content
        return "".join([c.choices[0].delta.content or "" async for c in r if c.choices])

    for stream in (False, True):
        respx_upstream.requests.clear()
        text = asyncio.run(ask(stream))
        assert sorted(r["model"] for r in respx_upstream.requests) == ["agg", "p1", "p1", "p2"]
        assert text.endswith("aggregating 3 references")


def test_routing_metadata_from_the_caller_does_not_change_the_spec(
    respx_upstream, litellm_restored
):
    # The Router overwrites model_group and deployment_model_name with its own; a call made
    # without the Router runs its own model whatever its metadata says.
    forged = {"model_group": "mixture/openai/p1*2>openai/agg", "deployment_model_name": "mixture/*"}
    router = litellm.Router(
        model_list=[
            {"model_name": "moa", "litellm_params": {"model": "mixture/openai/p2>openai/agg"}}
        ]
    )
    router.completion(model="moa", messages=ASK, metadata=dict(forged), num_retries=0)
    assert sorted(r["model"] for r in respx_upstream.requests) == ["agg", "p2"]
    respx_upstream.requests.clear()
    complete("openai/p2*2>openai/agg", metadata=dict(forged))
    assert sorted(r["model"] for r in respx_upstream.requests) == ["agg", "p2", "p2"]


def test_a_proxy_wildcard_entry_is_filled_in_once_from_the_name_called(monkeypatch):
    from litellm_mixture.provider import proxy

    entry = {"model_name": "moa/*", "litellm_params": {"model": "mixture/*"}}
    monkeypatch.setattr(
        proxy, "router", lambda: SimpleNamespace(model_list=[{**entry, "model_info": {"id": "w"}}])
    )
    routed = {
        "deployment_model_name": "moa/*",
        "model_group": "moa/a*2>b",
        "model_info": {"id": "w"},
    }
    assert proxy.routed_model("mixture/aa*2>b2>b", routed) == "mixture/a*2>b"  # litellm 1.110
    assert proxy.routed_model("mixture/a*2>b", routed) == "mixture/a*2>b"  # before
    # Not what the Router makes of the name, or not one of its wildcard entries: left alone.
    assert proxy.routed_model("mixture/c*2>d", routed) == "mixture/c*2>d"
    elsewhere = {**routed, "model_info": {"id": "other"}}
    assert proxy.routed_model("mixture/aa*2>b2>b", elsewhere) == "mixture/aa*2>b2>b"
