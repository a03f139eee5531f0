"""The proxy's other front doors, through the real proxy with the official SDKs: Anthropic
Messages (``/v1/messages``, what Claude Code speaks) and OpenAI Responses (``/v1/responses``,
what Codex speaks), streamed and not, with reasoning settings, tools and a tool-result turn.

Every test checks the answer, the usage, and that the cost header and the spend the proxy logs
are the sum of what the fake upstream billed.
"""

import json
import uuid

import anthropic
import httpx
import litellm
import openai
import pytest
import yaml

from litellm_mixture.provider import llm as provider
from tests.helpers import NEWER_LITELLM, billed, wait_for
from tests.proxy_process import litellm_proxy
from tests.upstream_process import ROOT

# A member alias litellm knows reasons (litellm.supports_reasoning), and an operator's entry
# that uses it: reasoning settings reach o4-mini and not gpt-4o-mini.
REASONER = {
    "model_name": "o4-mini",
    "litellm_params": {"model": "openai/o4-mini", "api_key": "os.environ/OPENAI_API_KEY"},
}
# A model litellm knows nothing of, which the operator says reasons (model_info). litellm 1.81
# does not list reasoning_effort for an unknown OpenAI model: allowed_openai_params lets it by.
LOCAL_REASONER = {
    "model_name": "local-r1",
    "litellm_params": {
        "model": "openai/local-r1",
        "api_key": "os.environ/OPENAI_API_KEY",
        "allowed_openai_params": ["reasoning_effort"],
    },
    "model_info": {"supports_reasoning": True},
}
NAMED = "reasoners"
ENTRY = {"model_name": NAMED, "litellm_params": {"model": "mixture/gpt-4o-mini*2+o4-mini>o4-mini"}}
CLIENT = "mixture/gpt-4o-mini*2>gpt-4o"  # a client's own spec, checked by the trust policy
# An operator's mixture with the live panel on: its proposers' answers stream as reasoning.
PANEL = "panel"
PANEL_ENTRY = {
    "model_name": PANEL,
    "litellm_params": {
        "model": "mixture/{panel: reasoning, steps: [{propose: [gpt-4o-mini, gpt-4o]},"
        " {aggregate: gpt-4o}]}"
    },
}
PROPOSERS = {NAMED: 3, CLIENT: 2}
THINKING = {"type": "enabled", "budget_tokens": 2048}
SAVE = {
    "name": "save",
    "description": "Saves the answer.",
    "input_schema": {"type": "object", "properties": {"refs": {"type": "integer"}}},
}
# What Claude Code sends (shape, not text): system blocks and tools marked for prompt caching,
# a user id in metadata, its beta headers, a long thinking budget within a large max_tokens.
CLAUDE_CODE_HEADERS = {
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "fine-grained-tool-streaming-2025-05-14",
    "x-app": "cli",
}
CLAUDE_CODE_TOOLS = [
    {
        "name": f"tool_{i}",
        "description": f"Tool number {i}. " * 20,
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
    for i in range(24)
]
CLAUDE_CODE_TOOLS[-1]["cache_control"] = {"type": "ephemeral"}
CODEX_TOOLS = [
    {
        "type": "function",
        "name": name,
        "description": f"The {name} tool.",
        "strict": False,
        "parameters": {"type": "object", "properties": {"arg": {"type": "string"}}},
    }
    for name in ("shell", "update_plan", "view_image")
]


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, shared_upstream_process):
    folder = tmp_path_factory.mktemp("proxy")
    models = [REASONER, LOCAL_REASONER, ENTRY, PANEL_ENTRY, EARLY_ENTRY]
    with litellm_proxy(folder, shared_upstream_process.base, models=models) as proxy:
        yield proxy


@pytest.fixture
def claude(proxy):
    return anthropic.Anthropic(
        base_url=proxy.base, api_key=proxy.master_key, max_retries=0, timeout=60
    )


@pytest.fixture
def codex(proxy):
    return openai.OpenAI(
        base_url=proxy.base + "/v1", api_key=proxy.master_key, max_retries=0, timeout=60
    )


# An operator's mixture whose aggregator starts on the partial proposals.
EARLY = "early"
EARLY_ENTRY = {
    "model_name": EARLY,
    "litellm_params": {
        "model": "mixture/{steps: [{propose: [gpt-4o-mini, gpt-4o]},"
        " {aggregate: gpt-4o, early: true}]}"
    },
}


def assert_billed(upstream_process, proxy, input_tokens, output_tokens, header=None):
    """Usage = the upstream's billed tokens; the cost header and the logged spend = its cost.
    The key is billed once, for the mixture; member calls are billed to no key."""
    calls = upstream_process.calls()
    prompt, completion, cost = billed(upstream_process)
    assert (input_tokens, output_tokens) == (prompt, completion)
    if header is not None:
        assert float(header) == pytest.approx(cost, rel=1e-6)
    spend = wait_for(lambda: (s := proxy.spend()) and len(s) >= len(calls) + 1 and s)
    outer = [s for s in spend if s["billed_to_key"]]
    assert len(outer) == 1 and len(spend) == len(calls) + 1, spend
    assert outer[0]["response_cost"] == pytest.approx(cost, rel=1e-6)


def messages_cost_header(raw):
    """A non-streamed Messages reply's cost header. litellm 1.81's proxy reads that header from
    litellm response objects only, and a Messages reply is a plain dict: it has none there."""
    header = raw.headers.get("x-litellm-response-cost")
    if not NEWER_LITELLM:
        assert header is None
    return header


def the_tool_call(content):
    """The one tool call of a Messages reply. litellm 1.81's stream bridge opens an empty text
    block before it; newer ones do not."""
    assert all(block.text == "" for block in content if block.type == "text"), content
    (call,) = [block for block in content if block.type == "tool_use"]
    return call


def assert_reasoning_reached_reasoners(upstream_process, model):
    """Reasoning settings reach the members litellm says reason, and no reasoning text
    becomes a reference."""
    calls = [c["request"] for c in upstream_process.calls()]
    assert len(calls) == PROPOSERS[model] + 1
    for call in calls:
        assert ("reasoning_effort" in call) == (call["model"] == "o4-mini"), call["model"]
    # The aggregator is called last, once every proposer has answered.
    assert "thought of" not in str(calls[-1]["messages"])


def tool_turn():
    """A conversation whose last turn returns a tool's result."""
    return [
        {"role": "user", "content": "Save a prime number."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "save", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "saved 7"}],
        },
    ]


# ------------------------------------------------------------------ Anthropic Messages


@pytest.mark.parametrize("model", [NAMED, CLIENT])
def test_messages_answer_with_the_summed_usage_and_cost(claude, upstream_process, proxy, model):
    raw = claude.messages.with_raw_response.create(
        model=model,
        max_tokens=4096,
        system="Answer in one line.",
        messages=[{"role": "user", "content": "Name a prime number."}],
        thinking=THINKING,
    )
    message = raw.parse()
    refs = PROPOSERS[model]
    assert message.content[0].text.endswith(f"aggregating {refs} references")
    assert message.stop_reason == "end_turn"
    usage = message.usage
    header = messages_cost_header(raw)
    assert_billed(upstream_process, proxy, usage.input_tokens, usage.output_tokens, header)
    assert_reasoning_reached_reasoners(upstream_process, model)


@pytest.mark.parametrize("model", [NAMED, CLIENT])
def test_messages_stream_a_tool_call_after_a_tool_result(claude, upstream_process, proxy, model):
    with claude.messages.stream(
        model=model,
        max_tokens=4096,
        system="Use the tools.",
        tools=[SAVE],
        messages=tool_turn(),
        thinking=THINKING,
    ) as stream:
        events = list(stream)
        message = stream.get_final_message()
    call = the_tool_call(message.content)
    assert call.name == "save"
    assert call.input == {"refs": PROPOSERS[model]}
    assert message.stop_reason == "tool_use"
    # litellm's bridge sends message_start before the mixture's first chunk, so it cannot
    # carry the usage; the final message_delta does (docs/proxy.md).
    assert events[0].type == "message_start" and events[0].message.usage.input_tokens == 0
    assert_billed(upstream_process, proxy, message.usage.input_tokens, message.usage.output_tokens)
    assert_reasoning_reached_reasoners(upstream_process, model)
    # Proposers get the tool turn as text, and no tools.
    proposer = upstream_process.calls()[0]["request"]
    assert "tools" not in proposer and "saved 7" in str(proposer["messages"])


def test_messages_tool_result_turn_not_streamed(claude, upstream_process, proxy):
    raw = claude.messages.with_raw_response.create(
        model=CLIENT, max_tokens=1024, tools=[SAVE], messages=tool_turn()
    )
    message = raw.parse()
    assert the_tool_call(message.content).input == {"refs": 2}
    header = messages_cost_header(raw)
    assert_billed(
        upstream_process, proxy, message.usage.input_tokens, message.usage.output_tokens, header
    )


def test_messages_text_streamed(claude, upstream_process, proxy):
    with claude.messages.stream(
        model=CLIENT,
        max_tokens=1024,
        system="Answer in one line.",
        messages=[{"role": "user", "content": "Name a prime number."}],
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == message.content[0].text and text.endswith("aggregating 2 references")
    assert_billed(upstream_process, proxy, message.usage.input_tokens, message.usage.output_tokens)


def test_the_demo_cost_header_is_the_summed_cost_not_the_presets_estimate(claude, proxy):
    raw = claude.messages.with_raw_response.create(
        model="demo", max_tokens=256, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().content[0].text.startswith("[canned aggregator]")
    spend = wait_for(lambda: [s for s in proxy.spend() if s["billed_to_key"]])
    header = messages_cost_header(raw)
    if header is not None:
        assert float(header) == pytest.approx(spend[0]["response_cost"], rel=1e-9)


def test_a_request_shaped_like_claude_codes(claude, upstream_process, proxy):
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {
            "type": "text",
            "text": "Follow the guidelines. " * 600,
            "cache_control": {"type": "ephemeral"},
        },
    ]
    user_id = f"user_{'ab' * 32}_account_{uuid.uuid4()}_session_{uuid.uuid4()}"
    prompt = [{"type": "text", "text": "Read hello.py", "cache_control": {"type": "ephemeral"}}]
    with claude.messages.stream(
        model=NAMED,
        max_tokens=32000,
        system=system,
        tools=CLAUDE_CODE_TOOLS,
        metadata={"user_id": user_id},
        thinking={"type": "enabled", "budget_tokens": 31999},
        messages=[{"role": "user", "content": prompt}],
        extra_headers=CLAUDE_CODE_HEADERS,
        extra_body={"temperature": 1},
    ) as stream:
        message = stream.get_final_message()
    call = the_tool_call(message.content)
    assert call.name == "tool_0" and call.input == {"refs": 3}
    assert_billed(upstream_process, proxy, message.usage.input_tokens, message.usage.output_tokens)
    assert_reasoning_reached_reasoners(upstream_process, NAMED)
    # Claude Code counts tokens before it sends: the proxy answers for a mixture's name too.
    counted = claude.messages.count_tokens(
        model=NAMED, system=system, messages=[{"role": "user", "content": prompt}]
    )
    # (litellm's local estimate; litellm 1.81's leaves the system blocks out of it)
    assert counted.input_tokens > 0


def test_claude_codes_max_tokens_is_over_the_client_spec_limit(claude, upstream_process):
    # Claude Code asks for 32000 output tokens; a client spec may ask for 4096 by default
    # (mixture_policy.max_tokens). integrations/claude-code/ says how to lower it.
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model=CLIENT, max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        )
    assert "rule 'max_tokens'" in str(err.value) and upstream_process.calls() == []


def test_a_client_cannot_claim_an_entrys_trust_through_metadata(proxy, upstream_process):
    """The Router names the entry it routed to in the request's metadata, on some routes under
    litellm_metadata: a client that writes the other one gets no operator's trust for its copy
    of the operator's spec (team-moa's, with a max_tokens only the entry may ask for)."""
    spec = "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o"
    claim = {"model_group": "team-moa"}
    ask = [{"role": "user", "content": "hi"}]
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    bodies = {
        "/v1/chat/completions": {"model": spec, "messages": ask, "litellm_metadata": claim},
        "/v1/messages": {"model": spec, "messages": ask, "metadata": claim},
    }
    for route, body in bodies.items():
        body = {**body, "max_tokens": 100_000}
        r = httpx.post(proxy.base + route, json=body, headers=headers, timeout=60)
        assert r.status_code == 400 and "rule 'max_tokens'" in r.text, (route, r.text)
    assert upstream_process.calls() == []


@pytest.mark.parametrize(
    ("metadata", "litellm_metadata", "routed"),
    [
        ({"model_group": "team-moa"}, None, "team-moa"),  # chat completions
        (None, {"model_group": "team-moa"}, "team-moa"),  # /v1/messages, /v1/responses
        ({"model_group": "team-moa"}, {"model_group": "team-moa"}, "team-moa"),
        ({"model_group": "team-moa"}, {"model_group": "mixture/*"}, None),  # contradicted
    ],
)
def test_the_routed_entry_counts_only_when_nothing_contradicts_it(
    metadata, litellm_metadata, routed
):
    params = {"metadata": metadata, "litellm_metadata": litellm_metadata}
    assert provider._routed_entry({"litellm_params": params}) == routed


# ------------------------------------------------------------------ OpenAI Responses

# litellm 1.81's /v1/responses fails for every custom provider before calling it: it looks the
# provider's name up in its enum of built-in providers (docs/limits.md).
responses_bridge = pytest.mark.skipif(
    not NEWER_LITELLM, reason="litellm 1.81's Responses bridge refuses custom providers"
)


@responses_bridge
@pytest.mark.parametrize("model", [NAMED, CLIENT])
def test_responses_answer_with_the_summed_usage_and_cost(codex, upstream_process, proxy, model):
    raw = codex.responses.with_raw_response.create(
        model=model,
        instructions="Answer in one line.",
        input="Name a prime number.",
        reasoning={"effort": "low"},
    )
    response = raw.parse()
    assert response.output_text.endswith(f"aggregating {PROPOSERS[model]} references")
    usage = response.usage
    header = raw.headers["x-litellm-response-cost"]
    assert_billed(upstream_process, proxy, usage.input_tokens, usage.output_tokens, header)
    assert_reasoning_reached_reasoners(upstream_process, model)


def assert_streamed_tool_call(events, upstream_process, proxy, model, tool):
    """A Responses stream that ends in one call of ``tool``, billed and reasoned as it should."""
    (done,) = [e for e in events if e.type == "response.completed"]
    (call,) = done.response.output
    assert call.type == "function_call" and call.name == tool
    assert call.arguments == f'{{"refs": {PROPOSERS[model]}}}'
    usage = done.response.usage
    assert_billed(upstream_process, proxy, usage.input_tokens, usage.output_tokens)
    assert_reasoning_reached_reasoners(upstream_process, model)


def codex_tool_turn():
    return [
        {"role": "user", "content": "Save a prime number."},
        {"type": "function_call", "call_id": "call_1", "name": "save", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "saved 7"},
    ]


RESPONSES_SAVE = {
    "type": "function",
    "name": "save",
    "description": "Saves the answer.",
    "parameters": SAVE["input_schema"],
}


@responses_bridge
@pytest.mark.parametrize("model", [NAMED, CLIENT])
def test_responses_stream_a_tool_call_after_a_tool_result(codex, upstream_process, proxy, model):
    events = list(
        codex.responses.create(
            model=model,
            instructions="Use the tools.",
            input=codex_tool_turn(),
            tools=[RESPONSES_SAVE],
            reasoning={"effort": "low"},
            stream=True,
        )
    )
    assert_streamed_tool_call(events, upstream_process, proxy, model, "save")
    proposer = upstream_process.calls()[0]["request"]
    assert "tools" not in proposer and "saved 7" in str(proposer["messages"])


@responses_bridge
def test_responses_tool_result_turn_not_streamed(codex, upstream_process, proxy):
    raw = codex.responses.with_raw_response.create(
        model=CLIENT, input=codex_tool_turn(), tools=[RESPONSES_SAVE]
    )
    response = raw.parse()
    assert response.output[0].type == "function_call" and response.output[0].name == "save"
    usage = response.usage
    header = raw.headers["x-litellm-response-cost"]
    assert_billed(upstream_process, proxy, usage.input_tokens, usage.output_tokens, header)


@responses_bridge
def test_responses_text_streamed(codex, upstream_process, proxy):
    events = list(codex.responses.create(model=CLIENT, input="Name a prime.", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    (done,) = [e for e in events if e.type == "response.completed"]
    assert text == done.response.output_text and text.endswith("aggregating 2 references")
    usage = done.response.usage
    assert_billed(upstream_process, proxy, usage.input_tokens, usage.output_tokens)


@responses_bridge
@pytest.mark.parametrize("model", [NAMED, CLIENT])
def test_a_request_shaped_like_codexs(codex, upstream_process, proxy, model):
    events = list(
        codex.responses.create(
            model=model,
            instructions="You are Codex, a coding agent. " * 200,
            input=[
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "<environment_context/>"}],
                },
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "List the files."}],
                },
            ],
            tools=CODEX_TOOLS,
            tool_choice="auto",
            parallel_tool_calls=False,
            reasoning={"effort": "medium", "summary": "auto"},
            store=False,
            include=["reasoning.encrypted_content"],
            prompt_cache_key=str(uuid.uuid4()),
            stream=True,
            extra_headers={"originator": "codex_cli_rs", "session_id": str(uuid.uuid4())},
        )
    )
    assert_streamed_tool_call(events, upstream_process, proxy, model, "shell")


def test_the_operator_says_which_alias_reasons(upstream_process, proxy):
    chat = openai.OpenAI(
        base_url=proxy.base + "/v1", api_key=proxy.master_key, max_retries=0, timeout=60
    )
    chat.chat.completions.create(
        model="mixture/local-r1+gpt-4o-mini>gpt-4o",
        messages=[{"role": "user", "content": "Name a prime number."}],
        reasoning_effort="high",
    )
    sent = {
        c["request"]["model"]: c["request"].get("reasoning_effort")
        for c in upstream_process.calls()
    }
    assert sent == {"local-r1": "high", "gpt-4o-mini": None, "gpt-4o": None}


# ------------------------------------------------------------------ litellm as the client


@pytest.mark.parametrize("stream", [False, True], ids=["response", "stream"])
@pytest.mark.parametrize("model", ["team-moa", CLIENT])
def test_completion_cost_of_a_reply_through_the_proxy_is_the_summed_cost(
    upstream_process, proxy, monkeypatch, model, stream
):
    """What aider prints for ``litellm_proxy/<name>``: litellm.completion_cost of the reply
    (of the stream object itself, read to its end, when streamed). The name has an estimated
    price, as aider's model metadata gives it; the cost is the summed one all the same."""
    name = "litellm_proxy/" + model
    price = {"input_cost_per_token": 1e-3, "output_cost_per_token": 1e-3, "mode": "chat"}
    monkeypatch.setitem(litellm.model_cost, name, {**price, "litellm_provider": "litellm_proxy"})
    ask = [{"role": "user", "content": "Name a prime number."}]
    reply = litellm.completion(
        model=name, api_base=proxy.base, api_key=proxy.master_key, messages=ask, stream=stream
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
    else:
        text = reply.choices[0].message.content
    assert text.endswith("references")
    assert litellm.completion_cost(completion_response=reply) == pytest.approx(
        billed(upstream_process)[2], rel=1e-9
    )


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
def test_a_streams_last_chunk_carries_the_summed_cost(upstream_process, codex, usage):
    """mixture_cost rides the last chunk, the one litellm makes up to close the stream (with
    the finish reason, or the usage when asked for)."""
    extra = {"stream_options": {"include_usage": True}} if usage else {}
    ask = [{"role": "user", "content": "Name a prime number."}]
    chunks = list(codex.chat.completions.create(model=CLIENT, messages=ask, stream=True, **extra))
    assert chunks[-1].usage or not usage
    cost = (chunks[-1].model_extra or {}).get("mixture_cost")
    assert cost == pytest.approx(billed(upstream_process)[2], rel=1e-9) and cost > 0


@pytest.mark.parametrize("stream", [False, True], ids=["response", "stream"])
def test_with_a_panel_only_the_panels_tokens_count_as_reasoning(upstream_process, codex, stream):
    ask = [{"role": "user", "content": "Name a prime number."}]
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    reply = codex.chat.completions.create(model=PANEL, messages=ask, stream=stream, **extra)
    usage = list(reply)[-1].usage if stream else reply.usage
    details = usage.completion_tokens_details
    reasoning = (details.reasoning_tokens or 0) if details is not None else 0
    assert usage.completion_tokens == billed(upstream_process)[1]
    assert reasoning < usage.completion_tokens, usage


# ------------------------------------------------------------------ the shipped settings


def test_the_shipped_claude_code_settings_work_against_the_proxy(upstream_process, proxy):
    """integrations/claude-code/settings.json as Claude Code reads it, against this proxy
    (whose port is a free one, not the documented 4000)."""
    env = json.loads((ROOT / "integrations" / "claude-code" / "settings.json").read_text())["env"]
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    # ANTHROPIC_AUTH_TOKEN is sent as a bearer token, as Claude Code sends it.
    claude = anthropic.Anthropic(
        base_url=proxy.base, auth_token=proxy.master_key, api_key=None, max_retries=0, timeout=60
    )
    ask = [{"role": "user", "content": "Name a prime number."}]
    message = claude.messages.create(model=env["ANTHROPIC_MODEL"], max_tokens=1024, messages=ask)
    assert message.content[0].text.endswith("aggregating 3 references")
    assert env["ANTHROPIC_CUSTOM_MODEL_OPTION"] == env["ANTHROPIC_MODEL"]
    # The background model is one model of the proxy, not a mixture. (litellm sends an OpenAI
    # model's Messages request to the upstream's /v1/responses, which the fake lacks: no call.)
    entries = yaml.safe_load((ROOT / "proxy_config.yaml").read_text())["model_list"]
    singles = {
        e["model_name"] for e in entries if not e["litellm_params"]["model"].startswith("mixture/")
    }
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == env["ANTHROPIC_SMALL_FAST_MODEL"]
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] in singles


@responses_bridge
def test_the_shipped_codex_config_and_profile_work_against_the_proxy(upstream_process, proxy):
    tomllib = pytest.importorskip("tomllib")
    folder = ROOT / "integrations"
    config = tomllib.loads((folder / "codex" / "config.toml").read_text())
    profile = tomllib.loads((folder / "codex" / "mixture.config.toml").read_text())
    provider = config["model_providers"][config["model_provider"]]
    assert profile["model_provider"] == config["model_provider"]
    assert provider["wire_api"] == "responses"
    assert provider["base_url"] == "http://127.0.0.1:4000/v1"
    codex = openai.OpenAI(
        base_url=proxy.base + "/v1", api_key=proxy.master_key, max_retries=0, timeout=60
    )
    for model in (config["model"], profile["model"]):
        effort = profile["model_reasoning_effort"]
        events = list(
            codex.responses.create(
                model=model, input="Name a prime.", reasoning={"effort": effort}, stream=True
            )
        )
        assert events[-1].type == "response.completed", events[-1]
        assert "aggregating 3 references" in events[-1].response.output_text


# ------------------------------------------------------------------ the live panel


def assert_panel(said: str, answer: str) -> None:
    """Both proposers' whole answers, each one labelled block; none of it in the answer."""
    blocks = sorted(said.split("\n\n"))
    assert [b.split("\n")[0] for b in blocks] == [
        "[step 1 propose · gpt-4o-mini]",
        "[step 1 propose · gpt-4o]",
    ]
    assert all("answer from" in b for b in blocks), blocks
    assert answer.endswith("aggregating 2 references") and "[step" not in answer


def test_the_panel_streams_as_reasoning_on_chat_completions(codex, upstream_process, proxy):
    chunks = list(
        codex.chat.completions.create(
            model=PANEL, messages=[{"role": "user", "content": "Name a prime."}], stream=True
        )
    )
    said = [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks if c.choices]
    text = [c.choices[0].delta.content for c in chunks if c.choices]
    first_text = next(i for i, t in enumerate(text) if t)
    assert any(said[:first_text]) and not any(said[first_text:])
    assert_panel("".join(s for s in said if s), "".join(t for t in text if t))


def test_the_panel_is_the_reasoning_of_a_whole_answer(codex, upstream_process, proxy):
    answer = codex.chat.completions.create(
        model=PANEL, messages=[{"role": "user", "content": "Name a prime."}]
    )
    message = answer.choices[0].message
    assert_panel(message.model_extra["reasoning_content"], message.content)


def test_the_panel_streams_as_thinking_on_messages(claude, upstream_process, proxy):
    with claude.messages.stream(
        model=PANEL, max_tokens=1024, messages=[{"role": "user", "content": "Name a prime."}]
    ) as stream:
        events = list(stream)
        message = stream.get_final_message()
    # litellm 1.81's bridge opens every stream with a text block, left empty here.
    blocks = [b for b in message.content if b.type != "text" or b.text]
    kinds = [b.type for b in blocks]
    assert kinds == ["thinking", "text"], kinds
    assert_panel(blocks[0].thinking, blocks[1].text)
    first_text = next(i for i, e in enumerate(events) if e.type == "text")
    assert any(e.type == "thinking" for e in events[:first_text])


@responses_bridge
def test_the_panel_streams_as_reasoning_on_responses(codex, upstream_process, proxy):
    events = list(codex.responses.create(model=PANEL, input="Name a prime.", stream=True))
    types = [e.type for e in events]
    first_text = types.index("response.output_text.delta")
    reasoning = [e for e in events[:first_text] if "reasoning" in e.type and "delta" in e.type]
    assert reasoning, sorted(set(types))
    (done,) = [e for e in events if e.type == "response.completed"]
    said = "".join(e.delta for e in reasoning)
    assert_panel(said, done.response.output_text)


# ------------------------------------------------------------------ early aggregation


@pytest.fixture
def paced(upstream_process):
    """Members that write a word every 50 ms: the proposals are still streaming when the
    aggregator starts."""
    upstream_process.configure(pace={"gpt-4o-mini": 0.05, "gpt-4o": 0.05})
    return upstream_process


def assert_early(upstream_process, answer: str) -> None:
    """One continuous answer, written by segments capped at chunk_tokens (the fake upstream
    ends its answer within the first)."""
    assert answer.startswith("answer from gpt-4o #") and "aggregating" in answer
    aggregations = [c["request"] for c in upstream_process.calls()]
    segments = [c for c in aggregations if "Responses from models" in str(c["messages"])]
    # (litellm 1.81 sends it to OpenAI as max_completion_tokens)
    cap = segments[0].get("max_tokens", segments[0].get("max_completion_tokens"))
    assert cap == 64, segments[0]


def test_early_aggregation_on_chat_completions(codex, paced, proxy):
    chunks = list(
        codex.chat.completions.create(
            model=EARLY, messages=[{"role": "user", "content": "Name a prime."}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop" or chunks[-2].choices
    assert_early(paced, text)


def test_early_aggregation_on_messages(claude, paced, proxy):
    with claude.messages.stream(
        model=EARLY, max_tokens=1024, messages=[{"role": "user", "content": "Name a prime."}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert message.stop_reason == "end_turn"
    assert_early(paced, text)


@responses_bridge
def test_early_aggregation_on_responses(codex, paced, proxy):
    events = list(codex.responses.create(model=EARLY, input="Name a prime.", stream=True))
    (done,) = [e for e in events if e.type == "response.completed"]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == done.response.output_text
    assert_early(paced, text)


def test_a_client_asks_for_the_panel_with_the_request_param(codex, upstream_process, proxy):
    chunks = list(
        codex.chat.completions.create(
            model=CLIENT,
            messages=[{"role": "user", "content": "Name a prime."}],
            stream=True,
            extra_body={"panel": "reasoning"},
        )
    )
    said = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert said.count("[step 1 propose · gpt-4o-mini") == 2
    assert all("panel" not in c["request"] for c in upstream_process.calls())
