"""End to end through the real LiteLLM proxy: openai SDK -> proxy -> mixture -> fake upstream.

One proxy process (started from the repository's proxy_config.yaml, with upstream addresses
pointed at a fake upstream process) serves the whole module.
"""

import json
import socket
import time

import httpx
import openai
import pytest

from tests.helpers import NEWER_LITELLM, billed, wait_for
from tests.proxy_process import litellm_proxy

ASK = [{"role": "user", "content": "Name a prime number."}]
ALIASES = {"gpt-4o-mini", "gpt-4o", "deepseek-chat"}
INLINE = "mixture/{steps: [{aggregate: gpt-4o-mini}]}"  # inline YAML, no comma
SPECS = {
    "team-moa": ["gpt-4o-mini", "gpt-4o-mini", "deepseek-chat", "gpt-4o"],
    # A one-line spec with samples through the mixture/* route (litellm 1.110's Router garbles
    # the `*` of such names on the way to the provider).
    "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o": [
        "gpt-4o-mini",
        "gpt-4o-mini",
        "deepseek-chat",
        "gpt-4o",
    ],
    INLINE: ["gpt-4o-mini"],
    # A builtin preset: its members are provider models, not aliases.
    "self-moa": ["gpt-4o"] * 7,
}


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    return tmp_path_factory.mktemp("dumps")


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, dumps, shared_upstream_process):
    env = {"LITELLM_MIXTURE_DUMP_DIR": str(dumps)}
    folder = tmp_path_factory.mktemp("proxy")
    with litellm_proxy(folder, shared_upstream_process.base, extra_env=env) as proxy:
        yield proxy


@pytest.fixture
def client(proxy):
    return openai.OpenAI(
        base_url=proxy.base + "/v1", api_key=proxy.master_key, max_retries=0, timeout=60
    )


def test_a_request_without_the_key_is_401(proxy, upstream_process):
    body = {"model": "mixture/gpt-4o-mini>gpt-4o", "messages": ASK}
    r = httpx.post(proxy.base + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 401
    assert upstream_process.calls() == []


def test_the_offline_demo_answers_with_no_api_keys(client, upstream_process):
    raw = client.chat.completions.with_raw_response.create(model="demo", messages=ASK)
    answer = raw.parse()
    assert answer.choices[0].message.content.startswith("[canned aggregator]")
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(answer.usage.cost)
    assert answer.usage.cost > 0 and upstream_process.calls() == []


@pytest.mark.parametrize("model", list(SPECS))
def test_mixtures_answer_with_the_summed_usage_and_cost(client, upstream_process, proxy, model):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=ASK)
    answer = raw.parse()
    calls = upstream_process.calls()
    assert sorted(c["request"]["model"] for c in calls) == sorted(SPECS[model])
    if len(calls) > 1:
        refs = len(calls) - 1
        assert answer.choices[0].message.content.endswith(f"aggregating {refs} references")
    # Members are proxy aliases: they reach the upstream with the keys from the config.
    for c in calls:
        env = "DEEPSEEK_API_KEY" if c["request"]["model"] == "deepseek-chat" else "OPENAI_API_KEY"
        assert c["key"] == proxy.keys[env]
    prompt, completion, cost = billed(upstream_process)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, completion)
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(cost, rel=1e-6)
    assert answer.usage.cost == pytest.approx(cost, rel=1e-6)
    assert_spend(proxy, cost, members=len(calls), routed=model != "self-moa")


def assert_spend(proxy, cost, members, routed=True):
    """The spend callback bills the mixture's summed cost to the key once; members to no key.
    Every member call's metadata names the mixture and the request that ran it: one tree."""
    spend = wait_for(lambda: (s := proxy.spend()) and len(s) >= members + 1 and s)
    billed_to_key = [s for s in spend if s["billed_to_key"]]
    assert len(billed_to_key) == 1, spend
    assert billed_to_key[0]["response_cost"] == pytest.approx(cost, rel=1e-6)
    assert len(spend) == members + 1
    outer = billed_to_key[0]
    inner = [s for s in spend if s is not outer]
    assert {s["mixture_parent_request_id"] for s in inner} == {outer["call_id"]}
    assert len({s["mixture_id"] for s in inner}) == 1
    assert len({(s["mixture_step"], s["mixture_member"], s["mixture_sample"]) for s in inner}) == (
        members
    )
    # Members named by alias go through the proxy's Router (which sets model_group); a preset's
    # provider models are called directly.
    groups = {s["model_group"] for s in inner}
    assert groups <= ALIASES if routed else groups == {None}, spend


@pytest.mark.parametrize("model", list(SPECS))
def test_mixtures_stream_with_a_final_usage_chunk(client, upstream_process, proxy, model):
    stream = client.chat.completions.create(
        model=model, messages=ASK, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = upstream_process.calls()
    streamed = [c["request"]["model"] for c in calls if c["request"].get("stream")]
    assert streamed == [SPECS[model][-1]]  # the aggregator alone streams
    assert text.startswith(f"answer from {SPECS[model][-1]} #")
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2
    usage = chunks[-1].usage
    prompt, completion, cost = billed(upstream_process)
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, completion)
    if NEWER_LITELLM:  # 1.81 drops usage.cost from stream chunks; its spend callback has it
        assert usage.cost == pytest.approx(cost, rel=1e-6)
    assert_spend(proxy, cost, members=len(calls), routed=model != "self-moa")


@pytest.mark.parametrize(
    ("model", "rule"),
    [
        ("mixture/openai/gpt-4o-mini*2>gpt-4o", "allow_members"),
        (
            'mixture/{"steps":[{"aggregate":{"model":"gpt-4o","params":'
            '{"api_base":"http://127.0.0.1:9/v1"}}}]}',
            "allow_params",
        ),
        (
            'mixture/{"steps":[{"aggregate":{"model":"gpt-4o","params":{"api_key":"sk-mine"}}}]}',
            "allow_params",
        ),
        ("mixture/gpt-4o-mini*9>gpt-4o", "max_members_per_layer"),
        ("mixture/mixture/mixture/gpt-4o-mini>gpt-4o", "max_nesting"),
        # Names the proxy would mangle: a batch call at the comma, a cut at the newline.
        (
            'mixture/{"steps":[{"propose":["gpt-4o-mini","deepseek-chat"]},{"aggregate":"gpt-4o"}]}',
            "name",
        ),
        ("mixture/steps:\n  - propose: [gpt-4o-mini]\n  - aggregate: gpt-4o", "name"),
    ],
)
def test_client_specs_breaking_the_policy_get_a_400_naming_the_rule(
    client, upstream_process, model, rule
):
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model=model, messages=ASK, stream=stream)
        assert err.value.status_code == 400
        assert f"rule '{rule}'" in err.value.message, err.value.message
        if rule == "name":
            assert "one-line form (a*2+b>c) or ask the operator for a preset" in err.value.message
    assert upstream_process.calls() == []


def test_a_client_copy_of_an_operator_spec_is_not_trusted(client, upstream_process):
    # team-moa is this spec in the config: by its name it is trusted, by its text it is not.
    too_many = {"model": "gpt-4o-mini*2+deepseek-chat>gpt-4o", "max_tokens": 100_000}
    client.chat.completions.create(model="team-moa", messages=ASK, max_tokens=100_000)
    assert len(upstream_process.calls()) == 4
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="mixture/" + too_many["model"], messages=ASK, max_tokens=too_many["max_tokens"]
        )
    assert "rule 'max_tokens'" in err.value.message
    assert len(upstream_process.calls()) == 4


def test_routing_metadata_a_client_sends_does_not_change_the_spec(client, upstream_process):
    # The spec of a wildcard route is read from the name the Router records (model_group),
    # because litellm 1.110's Router fills mixture/*'s `*` twice. A client's own metadata
    # naming another spec or entry is overwritten by the Router.
    forged = {"model_group": "mixture/gpt-4o*3>gpt-4o", "deployment_model_name": "mixture/*"}
    client.chat.completions.create(
        model="mixture/gpt-4o-mini*2>deepseek-chat", messages=ASK, metadata=forged
    )
    assert sorted(c["request"]["model"] for c in upstream_process.calls()) == [
        "deepseek-chat",
        "gpt-4o-mini",
        "gpt-4o-mini",
    ]
    upstream_process.clear()
    client.chat.completions.create(model="team-moa", messages=ASK, metadata=forged)
    assert sorted(c["request"]["model"] for c in upstream_process.calls()) == sorted(
        SPECS["team-moa"]
    )


def test_url_specs_are_refused_by_the_proxy_before_the_guard(client, upstream_process):
    # The proxy itself refuses URL-valued model names unless the host is in its own
    # provider_url_destination_allowed_hosts; then mixture_policy.url_hosts applies as well.
    for model in ("mixture/https://example.com/spec.yaml", "mixture/http://127.0.0.1:9/x"):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model=model, messages=ASK)
        assert err.value.status_code == 400 and "URL" in str(err.value.body)
    assert upstream_process.calls() == []


def test_a_client_that_hangs_up_mid_stream_leaves_no_member_call_running(upstream_process, proxy):
    upstream_process.configure(gap={"gpt-4o": 0.5})  # the aggregator streams slowly
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    body = {"model": "team-moa", "messages": ASK, "stream": True}
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", proxy.base + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:") and '"content"' in line:
                break  # the first aggregator token: hang up
    states = wait_for(
        lambda: (
            (s := {c["request"]["model"]: c["state"] for c in upstream_process.calls()})
            and "running" not in s.values()
            and s
        )
    )
    # litellm 1.81's proxy never notices the hang-up and reads the stream to its end (a limit
    # of that proxy, documented in the README); newer proxies close it and the call is cancelled.
    assert states["gpt-4o"] == ("cancelled" if NEWER_LITELLM else "done"), states


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_client_that_hangs_up_while_members_run_cancels_them(upstream_process, proxy, stream):
    upstream_process.configure(latency={"gpt-4o-mini": 3, "deepseek-chat": 3})
    body = json.dumps({"model": "team-moa", "messages": ASK, "stream": stream}).encode()
    host, port = proxy.base.removeprefix("http://").split(":")
    # A raw socket: the proxy sends no headers before the first token, so an HTTP client would
    # still be waiting for them when it is time to hang up.
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
            b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (host.encode(), proxy.master_key.encode(), len(body), body)
        )
        assert wait_for(lambda: len(upstream_process.calls()) == 3)
    calls = wait_for(
        lambda: (c := upstream_process.calls()) and all(x["state"] != "running" for x in c) and c
    )
    if NEWER_LITELLM:  # the shipped config sets cancel_on_disconnect
        assert [c["state"] for c in calls] == ["cancelled"] * 3, calls
        # No later call: the aggregator is never called.
        time.sleep(1)
        made = sorted(c["request"]["model"] for c in upstream_process.calls())
        assert made == ["deepseek-chat", "gpt-4o-mini", "gpt-4o-mini"]
    else:  # litellm 1.81's proxy does not cancel on a hang-up: the run completes
        assert wait_for(lambda: [c["state"] for c in upstream_process.calls()] == ["done"] * 4)


def test_no_secret_reaches_the_proxy_log_or_an_error(client, proxy):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model='mixture/{"steps":[{"aggregate":{"model":"gpt-4o","params":{"api_key":"sk-mine"}}}]}',
            messages=ASK,
        )
    log = proxy.log.read_text()
    for secret in [proxy.master_key, *proxy.keys.values()]:
        assert secret not in log and secret not in json.dumps(err.value.body)


def test_intermediate_responses_are_returned_when_asked(client, upstream_process):
    plain = client.chat.completions.create(model="team-moa", messages=ASK)
    assert "intermediate_responses" not in plain.model_dump()
    answer = client.chat.completions.create(
        model="team-moa", messages=ASK, extra_body={"intermediate_responses": True}
    )
    steps = answer.model_dump()["intermediate_responses"]
    assert [(s["step"], s["kind"], len(s["responses"])) for s in steps] == [
        (0, "propose", 3),
        (1, "aggregate", 1),
    ]
    for r in steps[0]["responses"]:
        # (litellm 1.81's proxy drops None values from responses: hence .get)
        assert r["text"].startswith(f"answer from {r['model']} #") and r.get("error") is None
        assert r["usage"]["total_tokens"] > 0 and r["cost"] > 0 and r["latency_ms"] > 0
    assert steps[1]["responses"][0]["text"] == answer.choices[0].message.content
    stream = client.chat.completions.create(
        model="team-moa", messages=ASK, stream=True, extra_body={"intermediate_responses": True}
    )
    # (the chunks closing the stream carry the cost alone)
    carried = [c.model_dump().get("intermediate_responses") for c in stream if c.model_extra]
    carried = [x for x in carried if x]
    assert len(carried) == 1 and [len(s["responses"]) for s in carried[0]] == [3, 1]


@pytest.mark.parametrize("model", ["team-moa", "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o"])
def test_estimate_only_returns_the_estimate_and_calls_no_member(client, upstream_process, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=ASK, extra_body={"estimate_only": True}
    )
    answer = raw.parse()
    estimate = answer.model_dump()["mixture_estimate"]
    assert answer.choices[0].message.content.splitlines()[-1].startswith("worst $")
    assert [(s["kind"], s["calls"]) for s in estimate["steps"]] == [
        ("propose", 3),
        ("aggregate", 1),
    ]
    # The aliases are priced as the models they call; a client spec's calls are capped at the
    # policy's max_tokens (4096), an operator's entry's by its models' own output limits.
    assert estimate["complete"] and 0 < estimate["likely"] < estimate["worst"]
    # (the proxy sends no cost header for a cost of 0)
    assert answer.usage.total_tokens == 0
    assert float(raw.headers.get("x-litellm-response-cost", 0)) == 0
    stream = client.chat.completions.create(
        model=model, messages=ASK, stream=True, extra_body={"estimate_only": True}
    )
    carried = [c.model_dump().get("mixture_estimate") for c in stream if c.model_extra]
    assert [x for x in carried if x] == [estimate]
    assert upstream_process.calls() == []


def test_a_request_over_its_max_cost_gets_a_400_with_the_estimate(client, upstream_process):
    model = "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o"
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(
                model=model, messages=ASK, stream=stream, extra_body={"max_cost": 0.0001}
            )
        assert err.value.status_code == 400
        assert "refused by max_cost=$0.0001, the request's max_cost" in err.value.message
        assert "; 4 calls, up to " in err.value.message
    with pytest.raises(openai.BadRequestError, match="max_cost"):
        client.chat.completions.create(model=model, messages=ASK, extra_body={"max_cost": "x"})
    assert upstream_process.calls() == []
    # A budget the worst case fits runs as usual.
    answer = client.chat.completions.create(model=model, messages=ASK, extra_body={"max_cost": 1.0})
    assert answer.choices[0].message.content.endswith("aggregating 3 references")
    assert all("max_cost" not in c["request"] for c in upstream_process.calls())


def test_the_debug_dump_holds_every_call_and_no_secret(client, upstream_process, proxy, dumps):
    before = set(dumps.iterdir())
    client.chat.completions.create(model="mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o", messages=ASK)
    upstream_process.configure(fault={"gpt-4o": {"kind": "500"}})
    with pytest.raises(openai.APIError):
        client.chat.completions.create(model="team-moa", messages=ASK, stream=True)
    new = wait_for(lambda: (n := sorted(set(dumps.iterdir()) - before)) and len(n) >= 2 and n)
    docs = [json.loads(p.read_text()) for p in new]
    ok = next(d for d in docs if d["error"] is None)
    failed = next(d for d in docs if d["error"] is not None)
    assert ok["model"] == "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o" and ok["error"] is None
    members = [c["model"] for c in ok["calls"]]
    assert members == ["gpt-4o-mini", "gpt-4o-mini", "deepseek-chat", "gpt-4o"]
    for call in ok["calls"]:
        assert call["request"]["messages"] and call["reply"]["content"].startswith("answer from")
        assert call["request"]["metadata"]["mixture_id"] == ok["mixture_id"]
    assert ok["outcome"]["content"] == ok["calls"][-1]["reply"]["content"]
    assert failed["error"]["type"].startswith("Members") and "gpt-4o" in failed["error"]["message"]
    # The proxy has a master key and the member aliases have keys: none is in any dump.
    for path in dumps.iterdir():
        text = path.read_text()
        for secret in [proxy.master_key, *proxy.keys.values()]:
            assert secret not in text, path
        assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.proxy
def test_the_shipped_config_serves_the_demo_with_no_api_keys(tmp_path):
    # Nothing but the shipped file and a master key: the aliases' os.environ/ keys are unset.
    with litellm_proxy(tmp_path, "http://127.0.0.1:9/v1", False, provider_keys=False) as proxy:
        client = openai.OpenAI(base_url=proxy.base + "/v1", api_key=proxy.master_key, timeout=60)
        answer = client.chat.completions.create(model="demo", messages=ASK)
        assert answer.choices[0].message.content.startswith("[canned aggregator]")
        chunks = list(client.chat.completions.create(model="demo", messages=ASK, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == answer.choices[0].message.content
