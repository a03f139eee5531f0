"""Fault injection: members that fail in every way the fake upstream can fail, streamed and not.

Each case asserts its outcome: an answer built from the survivors (and a trace that says what
happened to the rest), or the right typed error naming each member.
"""

import asyncio
import json
import signal

import litellm
import pytest

import litellm_mixture
from tests.test_e2e import NEWER_LITELLM
from tests.upstream_process import fake_upstream

ASK = [{"role": "user", "content": "Name a prime number."}]
# retries: 0 turns off the provider SDK's own retries, so every call the upstream sees is ours.
THREE = (
    "{retries: 0, steps: [{propose: [openai/p1, openai/p2, openai/p3]}, {aggregate: openai/agg}]}"
)


@pytest.fixture(scope="module")
def upstream():
    with fake_upstream() as up:
        yield up


@pytest.fixture
def served(upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", upstream.base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-faults")
    litellm.disable_aiohttp_transport = False  # real sockets: resets and hangs are real
    upstream.configure()
    upstream.clear()
    yield upstream
    upstream.configure()
    litellm.disable_aiohttp_transport = True


def spec(**top):
    """THREE with more top-level settings, as inline JSON."""
    doc = {
        "retries": 0,
        "steps": [
            {"propose": ["openai/p1", "openai/p2", "openai/p3"]},
            {"aggregate": "openai/agg"},
        ],
        **top,
    }
    return json.dumps(doc)


def ask(model, stream, **kwargs):
    """The answer text and the trace, streamed or not."""
    if not stream:
        r = litellm.completion(model="mixture/" + model, messages=ASK, **kwargs)
        return r.choices[0].message.content, r._hidden_params["mixture"]["trace"]
    chunks = list(litellm.completion(model="mixture/" + model, messages=ASK, stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, None


def states(upstream, model):
    return [c["state"] for c in upstream.calls() if c["request"]["model"] == model]


def wait_until(check, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("500", "InternalServerError"),
        ("malformed", "Error"),
        ("reset", "Error"),
        ("empty", "empty answer"),
        ("reasoning", "empty answer"),
    ],
)
def test_a_failing_proposer_is_left_out_and_the_survivors_answer(served, stream, kind, why):
    served.configure(fault={"p1": {"kind": kind}})
    text, trace = ask(THREE, stream)
    assert text.startswith("answer from agg #") and text.endswith("aggregating 2 references")
    if trace is not None:
        (p1,) = [t for t in trace if t["model"] == "openai/p1"]
        assert why in p1["error"] and p1["attempts"] == 1
    assert len(states(served, "p1")) == 1  # no retry, no SDK retry


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_every_member_rate_limited_is_a_rate_limit_error_with_the_longest_retry_after(
    served, stream
):
    served.configure(
        fault={
            "p1": {"kind": "429", "retry_after": 1},
            "p2": {"kind": "429", "retry_after": 7},
            "p3": {"kind": "429", "retry_after": 3},
        }
    )
    with pytest.raises(litellm.RateLimitError) as err:
        ask(THREE, stream)
    assert isinstance(err.value, litellm_mixture.MembersRateLimitedError)
    assert err.value.retry_after == 7 and "retry after 7s" in err.value.message
    for model in ("openai/p1", "openai/p2", "openai/p3"):
        assert f"member {model} -> RateLimitError" in err.value.message
    assert served.calls() and all(c["request"]["model"] != "agg" for c in served.calls())


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_retries_wait_for_retry_after_then_succeed(served, stream):
    served.configure(fault={"p1": {"kind": "429", "times": 1, "retry_after": 0.2}})
    text, trace = ask(spec(retries=1), stream)
    assert text.endswith("aggregating 3 references")
    assert states(served, "p1") == ["done", "done"]
    if trace is not None:
        (p1,) = [t for t in trace if t["model"] == "openai/p1"]
        assert p1["attempts"] == 2 and p1["error"] is None


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_hanging_member_times_out_and_its_connection_is_closed(served, stream):
    served.configure(fault={"p1": {"kind": "hang"}})
    text, trace = ask(spec(timeout=0.5), stream)
    assert text.endswith("aggregating 2 references")
    if trace is not None:
        (p1,) = [t for t in trace if t["model"] == "openai/p1"]
        assert "Timeout" in p1["error"]
    assert wait_until(lambda: states(served, "p1") == ["cancelled"])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_stragglers_are_cut_after_the_grace_period(served, stream):
    served.configure(fault={"p1": {"kind": "hang"}})
    doc = spec()
    doc = doc.replace('{"propose"', '{"min_successful": 2, "grace": 0.2, "propose"')
    text, trace = ask(doc, stream)
    assert text.endswith("aggregating 2 references")
    if trace is not None:
        (p1,) = [t for t in trace if t["model"] == "openai/p1"]
        assert p1["cut"] and p1["error"] == "cut: still running 0.2s after the quorum"
    assert wait_until(lambda: states(served, "p1") == ["cancelled"])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_deadline_cuts_a_slow_aggregator_with_a_timeout_naming_it(served, stream):
    if stream:
        served.configure(gap={"agg": 0.5})  # a slow stream: 0.5 s between chunks
    else:
        served.configure(latency={"agg": 5})
    with pytest.raises(litellm.Timeout) as err:
        ask(spec(deadline=1.0), stream)
    assert isinstance(err.value, litellm_mixture.MembersTimedOutError)
    assert "deadline of 1s passed" in err.value.message and "openai/agg" in err.value.message
    if stream and not NEWER_LITELLM:
        # litellm 1.81's aiohttp transport keeps a closed stream's connection until the
        # upstream finishes writing; nothing reads it any more.
        assert wait_until(lambda: states(served, "agg") == ["done"])
    else:
        assert wait_until(lambda: states(served, "agg") == ["cancelled"])


def mid_stream(error):
    """litellm >= 1.100 wraps an error raised after the first chunk (as every provider's)."""
    return getattr(error, "original_exception", None) or error


def test_a_stream_reset_mid_answer_is_a_typed_error(served):
    served.configure(fault={"agg": {"kind": "reset"}})
    if not NEWER_LITELLM:
        # litellm 1.81's async stream reader may end a dropped stream quietly, with a made-up
        # finish_reason: the answer is then cut short with no error any provider could see.
        try:
            text, _ = ask(THREE, True)
        except litellm.ServiceUnavailableError as e:
            assert "member openai/agg -> " in mid_stream(e).message
        else:
            # Whatever the reader got before the drop (one chunk or two), never the whole answer.
            assert text in ("answer", "answer from")
        return
    with pytest.raises(litellm.ServiceUnavailableError) as err:
        ask(THREE, True)
    # Cut before or after the first token, depending on how litellm's stream reader buffers.
    error = mid_stream(err.value)
    assert isinstance(error, litellm_mixture.MembersFailedError)
    assert "member openai/agg -> " in error.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_quorum_names_every_failed_member(served, stream):
    served.configure(fault={"p1": {"kind": "500"}, "p2": {"kind": "empty"}}, latency={"p3": 0.5})
    doc = spec().replace('{"propose"', '{"min_successful": 2, "propose"')
    with pytest.raises(litellm.ServiceUnavailableError) as err:
        ask(doc, stream)
    message = err.value.message
    assert "0 of 2 required member answers" in message
    assert "member openai/p1 -> InternalServerError" in message
    assert "member openai/p2 -> ValueError: empty answer" in message
    # Two failures out of three: p3 could no longer make the quorum, so it was not waited for.
    assert (
        "member openai/p3 -> TimeoutError: cancelled: the quorum could no longer be met" in message
    )
    assert wait_until(lambda: states(served, "p3") == ["cancelled"])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_aggregator_fallbacks_are_tried_in_order(served, stream):
    served.configure(fault={"agg": {"kind": "500"}, "agg2": {"kind": "empty"}})
    doc = spec().replace(
        '{"aggregate": "openai/agg"}',
        '{"aggregate": "openai/agg", "fallbacks": ["openai/agg2", "openai/agg3"]}',
    )
    text, trace = ask(doc, stream)
    assert text.startswith("answer from agg3 #") and text.endswith("aggregating 3 references")
    if trace is not None:
        finals = [(t["model"], t["error"] is None) for t in trace if t["kind"] == "aggregate"]
        assert finals == [("openai/agg", False), ("openai/agg2", False), ("openai/agg3", True)]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_best_proposal_when_every_aggregator_fails(served, stream):
    served.configure(fault={"agg": {"kind": "500"}, "agg2": {"kind": "500"}})
    doc = spec().replace(
        '{"aggregate": "openai/agg"}',
        '{"aggregate": "openai/agg", "fallbacks": ["openai/agg2"], "best_proposal": true}',
    )
    text, _ = ask(doc, stream)
    assert text.startswith("answer from p1 #")


def test_without_best_proposal_every_aggregator_failing_names_them(served):
    served.configure(fault={"agg": {"kind": "500"}, "agg2": {"kind": "500"}})
    doc = spec().replace(
        '{"aggregate": "openai/agg"}', '{"aggregate": "openai/agg", "fallbacks": ["openai/agg2"]}'
    )
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        ask(doc, False)
    assert "member openai/agg -> " in err.value.message
    assert "member openai/agg2 -> " in err.value.message


def test_cancelling_the_caller_cancels_every_member_call(served):
    served.configure(fault={"*": {"kind": "hang"}})

    async def main():
        task = asyncio.create_task(litellm.acompletion(model="mixture/" + THREE, messages=ASK))
        for _ in range(200):
            if len(served.calls()) == 3:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert wait_until(lambda: [c["state"] for c in served.calls()] == ["cancelled"] * 3), (
        served.calls()
    )


def test_interrupting_a_sync_caller_cancels_every_member_call(served):
    served.configure(fault={"*": {"kind": "hang"}})

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            litellm.completion(model="mixture/" + THREE, messages=ASK)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert wait_until(lambda: [c["state"] for c in served.calls()] == ["cancelled"] * 3)
