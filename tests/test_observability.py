"""What a mixture shows of itself: member metadata for LiteLLM callbacks, opt-in intermediate
responses, and redacted debug dumps. Real litellm, HTTP mocked by respx."""

import io
import json
import logging
import os
import re
import time

import httpx
import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

from litellm_mixture.cli.live import LiveView, row
from litellm_mixture.common import redaction
from litellm_mixture.engine import TraceEntry
from litellm_mixture.observe import dump
from tests.helpers import complete

SPEC = "openai/a*2+openai/b>openai/c"


class MetadataSpy(CustomLogger):
    """Every call litellm logs, success or failure, with its id and mixture metadata."""

    def __init__(self):
        super().__init__()
        self.calls: list[dict] = []

    def _seen(self, kwargs, ok):
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        self.calls.append(
            {
                "model": kwargs.get("model"),
                "call_id": kwargs.get("litellm_call_id"),
                "ok": ok,
                **{k: metadata.get(k) for k in ("trace_id", "generation_name")},
                **{k: v for k, v in metadata.items() if k.startswith("mixture_")},
            }
        )

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs, True)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs, True)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs, False)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs, False)


@pytest.fixture
def spy(add_callback):
    logger = MetadataSpy()
    add_callback(logger)
    return logger


def logged(spy, count):
    """The calls litellm has logged so far, once there are ``count`` (its logging is async)."""
    deadline = time.monotonic() + 10
    while len(spy.calls) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # and no more than that
    return list(spy.calls)


def one_of(calls, model):
    return [c for c in calls if c["model"] == model]


@pytest.mark.parametrize("stream", [False, True])
def test_a_callback_sees_every_member_call_as_one_tree(respx_upstream, spy, stream):
    respx_upstream.overrides["b"] = httpx.Response(500, json={"error": {"message": "down"}})
    response = complete(SPEC, stream=stream)
    if stream:
        list(response)
    calls = logged(spy, 5)
    outer = next(c for c in calls if c["model"].startswith("openai/a*2"))
    members = [c for c in calls if c is not outer]
    assert sorted((c["model"], c["ok"]) for c in members) == [
        ("a", True),
        ("a", True),
        ("b", False),  # failed calls are in the tree too
        ("c", True),
    ]
    assert {c["mixture_parent_request_id"] for c in members} == {outer["call_id"]}
    assert len({c["mixture_id"] for c in members}) == 1
    # With no trace of the caller's, the mixture's request is the trace every member joins.
    assert {c["trace_id"] for c in members} == {outer["call_id"]}
    places = sorted(
        (c["mixture_step"], c["mixture_step_kind"], c["mixture_member"], c["mixture_sample"])
        for c in members
    )
    assert places == [
        (0, "propose", 0, 0),
        (0, "propose", 0, 1),
        (0, "propose", 1, 0),
        (1, "aggregate", 0, 0),
    ]
    assert one_of(members, "c")[0]["generation_name"] == "mixture step 2 aggregate openai/c"
    if not stream:
        assert response._hidden_params["mixture"]["mixture_id"] == members[0]["mixture_id"]


def test_members_join_the_callers_trace_and_nested_mixtures_hang_below(respx_upstream, spy):
    complete("openai/a+mixture/openai/x%3Eopenai/y>openai/c", metadata={"trace_id": "trace-7"})
    calls = logged(spy, 6)
    outer = next(c for c in calls if c["model"].startswith("openai/a+"))
    nested = next(c for c in calls if c["model"].startswith("openai/x>"))
    assert nested["mixture_parent_request_id"] == outer["call_id"]
    for model in ("x", "y"):
        assert one_of(calls, model)[0]["mixture_parent_request_id"] == nested["call_id"]
    for model in ("a", "c"):
        assert one_of(calls, model)[0]["mixture_parent_request_id"] == outer["call_id"]
    assert {c["trace_id"] for c in calls if c is not outer} == {"trace-7"}
    # The caller's own metadata (here a trace id) is all that follows: never the proxy's key.
    assert one_of(calls, "x")[0]["mixture_id"] != one_of(calls, "a")[0]["mixture_id"]


def test_intermediate_responses_are_off_by_default(respx_upstream):
    response = complete(SPEC)
    assert getattr(response, "intermediate_responses", None) is None
    assert "intermediate_responses" not in response.model_dump()


def test_intermediate_responses_show_each_member_when_asked(respx_upstream):
    respx_upstream.overrides["gpt-4o"] = httpx.Response(
        429, json={"error": {"message": "slow down"}}
    )
    response = complete(
        "openai/gpt-4o-mini*2+openai/gpt-4o>openai/gpt-4o-mini", intermediate_responses=True
    )
    steps = response.model_dump()["intermediate_responses"]
    assert [(s["step"], s["kind"]) for s in steps] == [(0, "propose"), (1, "aggregate")]
    a1, a2, b = steps[0]["responses"]
    assert (a1["model"], a1["member"], a1["sample"], a2["sample"]) == (
        "openai/gpt-4o-mini",
        0,
        0,
        1,
    )
    assert a1["text"].startswith("answer from gpt-4o-mini #") and a1["error"] is None
    usage = a1["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert a1["cost"] > 0 and a1["latency_ms"] > 0
    assert b["text"] is None and "RateLimitError" in b["error"] and b["member"] == 1
    final = steps[1]["responses"][0]
    assert final["text"] == response.choices[0].message.content
    costs = [r["cost"] for s in steps for r in s["responses"] if r["cost"] is not None]
    assert sum(costs) == pytest.approx(response._hidden_params["response_cost"])
    # The request param is the mixture's: no member is sent it.
    assert all("intermediate_responses" not in r for r in respx_upstream.requests)


def test_intermediate_responses_ride_on_the_last_chunk_of_a_stream(respx_upstream):
    chunks = list(complete(SPEC, stream=True, intermediate_responses=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    carried = [c.intermediate_responses for c in chunks if getattr(c, "intermediate_responses", 0)]
    assert len(carried) == 1
    final = carried[0][-1]["responses"][0]
    assert final["text"] == text and final["finish_reason"] == "stop"
    assert [len(s["responses"]) for s in carried[0]] == [3, 1]


SECRETS = {
    "inline": "sk-inline-0123456789abcdef",
    "header": "Bearer sk-header-0123456789",
    "env": "sk-env-fedcba9876543210",
}
KEYED = json.dumps(
    {
        "steps": [
            {
                "propose": [
                    {
                        "model": "openai/a",
                        "params": {
                            "api_key": SECRETS["inline"],
                            "extra_headers": {"Authorization": SECRETS["header"]},
                        },
                    },
                    "openai/b",
                ]
            },
            {"aggregate": "openai/c"},
        ]
    }
)


@pytest.fixture
def dumps(tmp_path, monkeypatch):
    monkeypatch.setenv(dump.ENV, str(tmp_path / "dumps"))
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS["env"])
    return tmp_path / "dumps"


def written(folder):
    dump.flush()
    return [json.loads(p.read_text()) for p in sorted(folder.iterdir())]


@pytest.mark.parametrize("stream", [False, True])
def test_a_dump_holds_the_spec_every_call_and_the_outcome_with_no_secret(
    respx_upstream,
    dumps,
    stream,
):
    # A key the user pasted into the conversation is struck too.
    ask = [{"role": "user", "content": f"is {SECRETS['env']} a valid key?"}]
    response = complete(KEYED, messages=ask, stream=stream)
    text = "".join(c.choices[0].delta.content or "" for c in response) if stream else None
    (doc,) = written(dumps)
    raw = next(dumps.iterdir()).read_text()
    for secret in SECRETS.values():
        assert secret not in raw
    assert "sk-inline" not in raw and "[redacted]" in raw
    assert oct(next(dumps.iterdir()).stat().st_mode & 0o777) == "0o600"
    assert doc["model"].startswith("mixture/{") and doc["error"] is None
    assert doc["pipeline"]["steps"][0]["members"][0]["params"]["api_key"] == "[redacted]"
    assert [c["model"] for c in doc["calls"]] == ["openai/a", "openai/b", "openai/c"]
    first = doc["calls"][0]
    assert first["request"]["api_key"] == first["request"]["extra_headers"] == "[redacted]"
    # The conversation is stored once: the call's messages name its turns.
    assert first["request"]["messages"] == [{"conversation_turn": 0}]
    assert doc["request"]["messages"][0]["content"] == "is [redacted] a valid key?"
    assert first["reply"]["content"].startswith("answer from a #")
    assert first["request"]["metadata"]["mixture_id"] == doc["mixture_id"]
    assert doc["calls"][-1]["request"]["messages"][0]["role"] == "system"
    final = text if stream else response.choices[0].message.content
    assert doc["outcome"]["content"] == doc["calls"][-1]["reply"]["content"] == final
    assert doc["usage"]["total_tokens"] == sum(
        c["prompt_tokens"] + c["completion_tokens"] for c in doc["calls"]
    )


def test_a_failed_request_is_dumped_with_its_error(respx_upstream, dumps):
    respx_upstream.overrides["c"] = httpx.Response(500, json={"error": {"message": "boom"}})
    with pytest.raises(litellm.exceptions.ServiceUnavailableError):
        complete(SPEC)
    (doc,) = written(dumps)
    assert doc["outcome"] is None and doc["error"]["type"] == "MembersFailedError"
    assert "openai/c" in doc["error"]["message"]
    assert doc["calls"][-1]["error"].startswith("InternalServerError")


def test_a_dump_that_cannot_be_written_never_fails_the_request(
    respx_upstream,
    tmp_path,
    monkeypatch,
    caplog,
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(dump.ENV, str(blocker))
    with caplog.at_level(logging.WARNING, logger="litellm_mixture"):
        assert complete(SPEC).choices[0].message.content.endswith("aggregating 3 references")
        dump.flush()
    assert "debug dump not written" in caplog.text


def test_without_dumps_or_intermediate_responses_no_call_is_kept(respx_upstream):
    response = complete(SPEC)
    assert dump.ENV not in os.environ
    assert all("request" not in e for e in response._hidden_params["mixture"]["trace"])


def test_redaction_by_name_and_by_value():
    found: set[str] = set()
    data = {
        "api_key": "sk-1234567890",
        "x-api-key": "abcdefghij",
        "aws_secret_access_key": "AKIA0123456789",
        "max_tokens": 10,
        "prompt_tokens": 3,
        "headers": {"Authorization": "Bearer zzzzzzzzzz"},
        "nested": [{"password": "hunter2hunter2"}, {"note": "keep me"}],
    }
    clean = redaction.fields(data, found)
    assert clean["max_tokens"] == 10 and clean["prompt_tokens"] == 3
    assert clean["nested"][1] == {"note": "keep me"}
    for key in ("api_key", "x-api-key", "aws_secret_access_key", "headers"):
        assert clean[key] == "[redacted]"
    text = redaction.redact("saw sk-1234567890 and hunter2hunter2 and short", found | {"short"})
    assert text == "saw [redacted] and [redacted] and short"


def test_the_live_view_redraws_in_place_on_a_terminal_until_frozen():
    out = io.StringIO()
    view = LiveView(out, tty=True)
    a, b = TraceEntry(0, "propose", "openai/a", 0), TraceEntry(0, "propose", "openai/b", 0)
    view("start", a)
    view("start", b)
    a.latency_ms, a.prompt_tokens, a.completion_tokens = 120.0, 10, 20
    view("end", a)
    # Each redraw moves the cursor up over the rows drawn before and rewrites them.
    frames = re.split(r"\x1b\[(\d+)F", out.getvalue())
    assert frames[1::2] == ["1", "2"]
    first, second, third = frames[0::2]
    assert first == "\x1b[2K" + row(a, False) + "\n"
    assert second == "".join("\x1b[2K" + row(e, False) + "\n" for e in (a, b))
    assert third == "\x1b[2K" + row(a, True) + "\n\x1b[2K" + row(b, False) + "\n"
    assert row(a, True).startswith("✓ 1. propose      openai/a") and "10+20 tok" in third
    view.freeze()
    before = out.getvalue()
    b.error = "Timeout: slow"
    view("end", b)  # the answer is streaming on this screen: nothing until it is written
    assert out.getvalue() == before
    view.finish()  # then one final line each, no cursor movement
    assert out.getvalue()[len(before) :] == row(b, True) + "\n"
    assert row(b, True).startswith("✗ 1. propose      openai/b")
