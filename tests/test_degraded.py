"""A mixture that lost members says so: in-process, through the proxy (header and body),
streamed and not, in the CLI; and ``degraded: error`` fails instead."""

import json
import logging

import httpx
import litellm
import openai
import pytest
from click.testing import CliRunner

import litellm_mixture
from litellm_mixture.cli.commands import main
from litellm_mixture.observe import report
from tests.proxy_process import litellm_proxy

ASK = [{"role": "user", "content": "Name a prime number."}]
SPEC = "mixture/openai/p1+openai/p2+openai/p3+openai/down>openai/agg"
SECRET = "sk-leaked-0123456789abcdef"
SAID = "step 1 propose: 1 of 4 calls failed (openai/down: AuthenticationError)"


@pytest.fixture
def one_down(respx_upstream):
    message = f"Incorrect API key provided: {SECRET}"
    respx_upstream.overrides["down"] = httpx.Response(401, json={"error": {"message": message}})
    return respx_upstream


def test_a_whole_run_says_nothing(respx_upstream):
    reply = litellm.completion(SPEC.replace("+openai/down", ""), messages=ASK)
    assert reply._hidden_params[report.DEGRADED] is None
    assert not hasattr(reply, report.DEGRADED)


def test_a_degraded_reply_says_what_it_lost_without_secrets_and_logs_once(one_down, caplog):
    with caplog.at_level(logging.WARNING, logger="litellm_mixture"):
        reply = litellm.completion(SPEC, messages=ASK)
    assert reply.choices[0].message.content
    assert reply._hidden_params[report.DEGRADED] == SAID
    assert getattr(reply, report.DEGRADED) == SAID
    warned = [r for r in caplog.records if "degraded" in r.getMessage()]
    assert len(warned) == 1 and SAID in warned[0].getMessage()
    assert SECRET not in caplog.text


def test_a_degraded_stream_says_it_on_its_last_chunk(one_down):
    chunks = list(litellm.completion(SPEC, messages=ASK, stream=True))
    said = [getattr(c, report.DEGRADED, None) for c in chunks]
    # The closing chunks litellm makes carry it too (with mixture_cost): the last one says it.
    assert said[-1] == SAID, said
    assert {s for s in said if s} == {SAID}


@pytest.mark.parametrize("where", ["request", "spec"])
def test_degraded_error_fails_the_run_with_a_typed_error(one_down, where):
    spec = SPEC if where == "request" else SPEC + "?degraded=error"
    extra = {"degraded": "error"} if where == "request" else {}
    with pytest.raises(litellm.AuthenticationError) as info:
        litellm.completion(spec, messages=ASK, **extra)
    assert "openai/down" in str(info.value) and SECRET not in str(info.value)
    assert not one_down.by_model("agg")  # it failed before the aggregator was paid


def test_degraded_error_takes_no_fallback(respx_upstream):
    respx_upstream.overrides["agg"] = httpx.Response(401, json={"error": {"message": "no"}})
    spec = (
        "mixture/{steps: [{propose: [openai/p1]}, {aggregate: openai/agg, fallbacks: "
        "[openai/spare]}], degraded: error}"
    )
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(spec, messages=ASK)
    assert not respx_upstream.by_model("spare")
    reply = litellm.completion(spec.replace(", degraded: error", ""), messages=ASK)
    assert reply._hidden_params[report.DEGRADED] == (
        "step 2 aggregate: 1 of 2 calls failed (openai/agg: AuthenticationError)"
    )


def test_a_partly_failed_step_is_priced_and_the_cli_summary_says_degraded(one_down):
    priced = "openai/gpt-4o-mini+openai/gpt-4o+openai/down>openai/gpt-4o-mini"
    said = "step 1 propose: 1 of 3 calls failed (openai/down: AuthenticationError)"
    result = CliRunner().invoke(main, ["run", priced, "hi"])
    assert result.exit_code == 0, result.output
    summary = result.stderr.splitlines()[-1]
    assert "unpriced" not in summary, summary
    assert f"DEGRADED: {said}" in summary
    doc = json.loads(CliRunner().invoke(main, ["run", priced, "hi", "--json"]).stdout)
    assert doc["degraded"] == said and doc["cost_complete"]
    assert all(step["cost"] is not None for step in doc["steps"])


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, shared_upstream_process):
    with litellm_proxy(tmp_path_factory.mktemp("proxy"), shared_upstream_process.base) as proxy:
        yield proxy


TEAM = "team-moa"  # gpt-4o-mini*2+deepseek-chat>gpt-4o, through the proxy's aliases
# The Router cools a failing alias down: after the first 401 it may refuse the call itself.
TEAM_SAID = "step 1 propose: 1 of 3 calls failed (deepseek-chat: "


def test_through_the_proxy_the_header_and_body_say_it(proxy, upstream_process):
    upstream_process.configure(fault={"deepseek-chat": {"kind": "401"}})
    body = {"model": TEAM, "messages": ASK}
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    r = httpx.post(proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers[report.DEGRADED_HEADER].startswith(TEAM_SAID)
    assert r.headers[report.DEGRADED_HEADER].endswith("AuthenticationError)")
    assert r.json()[report.DEGRADED] == r.headers[report.DEGRADED_HEADER]
    whole = httpx.post(
        proxy.base + "/v1/chat/completions", json={**body, "model": "gpt-4o"}, headers=headers
    )
    assert report.DEGRADED_HEADER not in whole.headers
    client = openai.OpenAI(base_url=proxy.base + "/v1", api_key=proxy.master_key, max_retries=0)
    chunks = list(client.chat.completions.create(model=TEAM, messages=ASK, stream=True))
    said = [c.to_dict().get(report.DEGRADED) or "" for c in chunks]
    assert said[-1].startswith(TEAM_SAID), said
    assert len({s for s in said if s}) == 1, said
    failed = httpx.post(
        proxy.base + "/v1/chat/completions",
        json={**body, "degraded": "error"},
        headers=headers,
        timeout=60,
    )
    assert failed.status_code in (401, 429) and "deepseek-chat" in failed.text


def test_degraded_is_read_off_the_trace_whatever_marked_an_entry_failed():
    from litellm_mixture.engine import RunRecord, TraceEntry, Usage
    from litellm_mixture.engine.early import COMPLETE
    from litellm_mixture.engine.records import CallState

    pipeline = litellm_mixture.decode("mixture/openai/a*3+openai/b>openai/c")
    entries = [TraceEntry(0, "propose", "openai/a", i) for i in range(3)]
    entries.append(TraceEntry(0, "propose", "openai/b", 0, 1))
    entries.append(TraceEntry(1, "aggregate", "openai/c", 0))
    entries[0].stop("cut: still running 1s after the quorum")
    entries[1].error = "not started: max_cost=$0.01 reached (...)"
    entries[2].error = "empty answer (no text after removing reasoning)"  # another helper's mark
    entries[3].stop(COMPLETE, CallState.UNNEEDED)  # not needed: the answer was complete
    record = RunRecord("id", pipeline, [], {}, {}, tuple(entries), Usage(), ())
    assert report.degraded(record) == (
        "step 1 propose: 3 of 4 calls failed (openai/a: cut, openai/a: over budget, "
        "openai/a: empty answer)"
    )
    entries[:3] = [TraceEntry(0, "propose", "openai/a", i) for i in range(3)]
    whole = RunRecord("id", pipeline, [], {}, {}, tuple(entries), Usage(), ())
    assert report.degraded(whole) is None
