"""Fault injection: members that fail in every way the fake upstream can fail, streamed and not.

Each case asserts its outcome: an answer built from the survivors (and a trace that says what
happened to the rest), or the right typed error naming each member.
"""

import asyncio
import email.utils
import json
import re
import signal
import threading
import time

import httpx
import litellm
import pytest

import litellm_mixture
from litellm_mixture.pricing import cost
from tests.helpers import NEWER_LITELLM, three_proposers, wait_for

ASK = [{"role": "user", "content": "Name a prime number."}]
# retries: 0 turns off the provider SDK's own retries, so every call the upstream sees is ours.
THREE = (
    "{retries: 0, steps: [{propose: [openai/p1, openai/p2, openai/p3]}, {aggregate: openai/agg}]}"
)


def spec(**top):
    """THREE with more top-level settings, as inline JSON."""
    return three_proposers(**top)


def ask(model, stream, **kwargs):
    """The answer text and the trace, streamed or not. A response carries the mixture's summary
    in its hidden params; a stream read to its end, on its logging object (as ``cost.of`` reads
    it)."""
    if not stream:
        r = litellm.completion(model="mixture/" + model, messages=ASK, **kwargs)
        return r.choices[0].message.content, r._hidden_params[cost.HIDDEN_KEY]["trace"]
    response = litellm.completion(model="mixture/" + model, messages=ASK, stream=True, **kwargs)
    text = "".join(c.choices[0].delta.content or "" for c in response if c.choices)
    return text, response.logging_obj.model_call_details[cost.HIDDEN_KEY]["trace"]


def names(message, model, why):
    """Whether ``message`` names ``model`` among the members that failed with ``why`` (a reason
    shared by several members is said once, after all their names)."""
    who = rf"members? (?:[^;>]*, )?{re.escape(model)}(?:\*\d+)?(?:, [^;>]*)?"
    return re.search(rf"{who} -> {re.escape(why)}", message) is not None


def states(upstream, model):
    return [c["state"] for c in upstream.calls() if c["request"]["model"] == model]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("500", "InternalServerError: litellm.InternalServerError"),
        ("malformed", "OpenAIException - Expecting value: line 1 column 34"),
        # openai 3.x says only "Connection error."; what happened is in the exception it chains.
        ("reset", "OpenAIException - Connection error. (cause: ReadError: Server disconnected)"),
        ("empty", "empty answer: the model sent no text"),
        ("reasoning", "reasoning only: no text after the model's reasoning"),
        # a stream llama.cpp's server interrupted; whole, the same reply is a complete answer
        ("thinking", "ran out of tokens inside its leading <think> block"),
    ],
)
def test_a_failing_proposer_is_left_out_and_the_survivors_answer(served, stream, kind, why):
    served.configure(fault={"p1": {"kind": kind}})
    text, trace = ask(THREE, stream)
    assert text.startswith("answer from agg #") and text.endswith("aggregating 2 references")
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
        assert names(err.value.message, model, "RateLimitError")
    assert err.value.message.count("fake 429") == 1  # said once
    assert served.calls() and all(c["request"]["model"] != "agg" for c in served.calls())


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_retries_wait_for_retry_after_then_succeed(served, stream):
    served.configure(fault={"p1": {"kind": "429", "times": 1, "retry_after": 0.3}})
    text, trace = ask(spec(retries=1), stream)
    assert text.endswith("aggregating 3 references")
    assert states(served, "p1") == ["done", "done"]
    # A lower bound (the retry may not come sooner than asked), not a speed assertion.
    first, second = (c["at"] for c in served.calls() if c["request"]["model"] == "p1")
    assert second - first >= 0.3
    (p1,) = [t for t in trace if t["model"] == "openai/p1"]
    assert p1["attempts"] == 2 and p1["error"] is None


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_hanging_member_times_out_and_its_connection_is_closed(served, stream):
    served.configure(fault={"p1": {"kind": "hang"}})
    text, trace = ask(spec(timeout=0.5), stream)
    assert text.endswith("aggregating 2 references")
    (p1,) = [t for t in trace if t["model"] == "openai/p1"]
    assert "Timeout" in p1["error"]
    assert wait_for(lambda: states(served, "p1") == ["cancelled"])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_stragglers_are_cut_after_the_grace_period(served, stream):
    served.configure(fault={"p1": {"kind": "hang"}})
    doc = spec()
    doc = doc.replace('{"propose"', '{"min_successful": 2, "grace": 0.2, "propose"')
    text, trace = ask(doc, stream)
    assert text.endswith("aggregating 2 references")
    (p1,) = [t for t in trace if t["model"] == "openai/p1"]
    assert p1["cut"] and p1["error"] == "cut: still running 0.2s after the quorum"
    assert wait_for(lambda: states(served, "p1") == ["cancelled"])


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
        assert wait_for(lambda: states(served, "agg") == ["done"])
    else:
        assert wait_for(lambda: states(served, "agg") == ["cancelled"])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_callers_timeout_bounds_the_whole_mixture(served, stream):
    # issue 12: timeout=3 with one hanging member took 10.7 s (the SDK retried it twice).
    ask(THREE, stream)  # warm: litellm's first call imports for seconds, holding the loop
    served.configure(fault={"p1": {"kind": "hang"}})
    served.clear()
    started = time.monotonic()
    with pytest.raises(litellm.Timeout) as err:
        ask(THREE, stream, timeout=1)
    took = time.monotonic() - started  # end to end: a generous bound, 1 s plus slack
    assert isinstance(err.value, litellm_mixture.MembersTimedOutError)
    assert "mixture timeout of 1s passed; member calls cut: step 1 member openai/p1" in str(
        err.value
    )
    assert 1 <= took <= 2.5
    assert all(c["request"]["model"] != "agg" for c in served.calls())
    assert wait_for(lambda: set(states(served, "p1")) == {"cancelled"})


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
            assert "Response payload is not completed" in mid_stream(e).message
        else:
            # Whatever the reader got before the drop (one chunk or two), never the whole answer.
            assert text in ("answer", "answer from")
        return
    with pytest.raises(litellm.ServiceUnavailableError) as err:
        ask(THREE, True)
    # Cut before or after the first token, depending on how litellm's stream reader buffers.
    error = mid_stream(err.value)
    assert isinstance(error, litellm_mixture.MembersFailedError)
    assert (
        "0 of 1 required member answers (1 failed): step 2 member openai/agg -> " in error.message
    )
    assert "APIConnectionError" in error.message
    assert "Response payload is not completed" in error.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_quorum_names_every_failed_member(served, stream):
    # p2 answers (empty) after 1 s: by then p3's request has surely reached the upstream, so its
    # cancellation shows there (p1 and p2 failing at once could cut p3 before it is sent).
    served.configure(
        fault={"p1": {"kind": "500"}, "p2": {"kind": "empty"}}, latency={"p2": 1, "p3": 5}
    )
    doc = spec().replace('{"propose"', '{"min_successful": 2, "propose"')
    with pytest.raises(litellm.ServiceUnavailableError) as err:
        ask(doc, stream)
    message = err.value.message
    assert "0 of 2 required member answers" in message
    assert "member openai/p1 -> InternalServerError" in message
    assert "member openai/p2 -> NoAnswer: empty answer" in message
    # Two failures out of three: p3 could no longer make the quorum, so it was not waited for.
    assert (
        "member openai/p3 -> TimeoutError: cancelled: the quorum could no longer be met" in message
    )
    assert wait_for(lambda: states(served, "p3") == ["cancelled"]), served.calls()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_aggregator_fallbacks_are_tried_in_order(served, stream):
    served.configure(fault={"agg": {"kind": "500"}, "agg2": {"kind": "empty"}})
    doc = spec().replace(
        '{"aggregate": "openai/agg"}',
        '{"aggregate": "openai/agg", "fallbacks": ["openai/agg2", "openai/agg3"]}',
    )
    text, trace = ask(doc, stream)
    assert text.startswith("answer from agg3 #") and text.endswith("aggregating 3 references")
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
    assert names(err.value.message, "openai/agg", "InternalServerError")
    assert names(err.value.message, "openai/agg2", "InternalServerError")


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
    assert wait_for(lambda: [c["state"] for c in served.calls()] == ["cancelled"] * 3), (
        served.calls()
    )


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_interrupting_a_sync_caller_cancels_every_member_call(served, stream):
    served.configure(fault={"*": {"kind": "hang"}})

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    def when_every_member_runs():
        # Once all three calls are in flight, not after a fixed time: a cold litellm can take
        # longer than that to make them.
        wait_for(lambda: len(served.calls()) == 3)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)

    previous = signal.signal(signal.SIGALRM, interrupt)
    watcher = threading.Thread(target=when_every_member_runs, daemon=True)
    watcher.start()
    try:
        # Ctrl-C before the first token: KeyboardInterrupt itself, not an error about closing
        # the stream while its first step was still being cancelled.
        with pytest.raises(KeyboardInterrupt):
            litellm.completion(model="mixture/" + THREE, messages=ASK, stream=stream)
    finally:
        watcher.join(timeout=15)
        signal.signal(signal.SIGALRM, previous)
    assert wait_for(lambda: [c["state"] for c in served.calls()] == ["cancelled"] * 3)


def with_aggregate(**step):
    """spec() with more settings on the aggregate step."""
    doc = json.loads(spec())
    doc["steps"][-1] = {"aggregate": "openai/agg", **step}
    return json.dumps(doc)


# What a failed aggregator is recorded as. A streamed request answered with (malformed) JSON
# yields no chunk from litellm's stream reader: an empty answer, like the others.
AGGREGATOR_FAULTS = [
    ("reasoning", False, "NoAnswer: reasoning only: no text after the model's reasoning"),
    ("reasoning", True, "NoAnswer: reasoning only: no text after the model's reasoning"),
    ("empty", False, "NoAnswer: empty answer: the model sent no text"),
    ("empty", True, "NoAnswer: empty answer: the model sent no text"),
    ("thinking", False, "NoAnswer: ran out of tokens inside its leading <think> block"),
    ("thinking", True, "NoAnswer: ran out of tokens inside its leading <think> block"),
    ("malformed", False, "InternalServerError: litellm.InternalServerError: InternalServerError: "),
    # litellm makes up a final chunk for a body it cannot read: not an empty answer.
    (
        "malformed",
        True,
        "ValueError: the stream ended with no answer and no finish reason "
        "(a malformed or cut-off response)",
    ),
]


@pytest.mark.parametrize(("kind", "stream", "why"), AGGREGATOR_FAULTS)
def test_an_aggregator_without_an_answer_falls_back(served, kind, stream, why):
    served.configure(fault={"agg": {"kind": kind}})
    text, trace = ask(with_aggregate(fallbacks=["openai/agg2"]), stream)
    assert text.startswith("answer from agg2 #") and text.endswith("aggregating 3 references")
    (agg,) = [t for t in trace if t["model"] == "openai/agg"]
    assert agg["error"].startswith(why.removeprefix("ValueError: ").removeprefix("NoAnswer: "))


@pytest.mark.parametrize(("kind", "stream", "why"), AGGREGATOR_FAULTS)
def test_an_aggregator_without_an_answer_and_no_fallback_is_a_typed_error(
    served, kind, stream, why
):
    served.configure(fault={"agg": {"kind": kind}})
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        ask(THREE, stream)
    assert f"0 of 1 required member answers (1 failed): step 2 member openai/agg -> {why}" in (
        err.value.message
    )
    # nothing of the reasoning reaches the caller
    assert "only thinking" not in err.value.message and "run out" not in err.value.message


@pytest.mark.parametrize(("kind", "stream", "why"), AGGREGATOR_FAULTS)
def test_an_aggregator_without_an_answer_gives_the_best_proposal_when_allowed(
    served, kind, stream, why
):
    served.configure(fault={"agg": {"kind": kind}})
    text, _ = ask(with_aggregate(best_proposal=True), stream)
    assert text.startswith("answer from p") and "aggregating" not in text


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_aggregators_leading_reasoning_is_not_part_of_the_answer(served, stream):
    served.configure(reply={"agg": "<think>weighing the answers</think>\n\nSeven is prime."})
    text, _ = ask(THREE, stream)
    # Streamed, the block and the blank line after it are held back; litellm moves the block
    # out of a whole reply itself and leaves the blank line.
    assert text.strip() == "Seven is prime." and (stream is False or text == "Seven is prime.")


@pytest.mark.parametrize(
    ("answer", "passed_on"),
    [
        ("<think>a</think>\n\nSeven.", "Seven."),
        ("  <thinking>a</thinking> <think>b</think>Seven.", "Seven."),
        ("<think>never closed", ""),
        ("<think>a</think>  ", ""),
        ("   ", ""),
        ("\nSeven <think>kept</think>", "\nSeven <think>kept</think>"),  # only a leading block
        ("<thinker>", "<thinker>"),
        ("<", "<"),
    ],
)
def test_a_leading_reasoning_block_is_held_back_however_the_stream_splits_it(answer, passed_on):
    for size in range(1, 8):
        think = litellm_mixture.common.prompts.LeadingThink()
        pieces = [think.feed(answer[i : i + size]) for i in range(0, len(answer), size)]
        assert "".join(pieces) + think.flush() == passed_on
        if passed_on.startswith("Seven"):
            assert all(p == "" for p in pieces[: answer.index("Seven") // size])  # nothing early


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_members_the_mixture_cancelled_do_not_decide_the_errors_type(served, stream):
    served.configure(
        fault={
            "p1": {"kind": "429", "retry_after": 4},
            "p2": {"kind": "429", "retry_after": 2},
            "p3": {"kind": "hang"},
        },
        # p2's 429 comes after 1 s: by then p3's request has surely reached the upstream, so its
        # cancellation shows there (two 429s at once could cut p3 before it was sent).
        latency={"p2": 1},
    )
    doc = spec().replace('{"propose"', '{"min_successful": 2, "propose"')
    with pytest.raises(litellm.RateLimitError) as err:
        ask(doc, stream)
    assert isinstance(err.value, litellm_mixture.MembersRateLimitedError)
    assert err.value.retry_after == 4 and err.value.message.endswith("; retry after 4s")
    assert names(err.value.message, "openai/p1", "RateLimitError")
    assert names(err.value.message, "openai/p2", "RateLimitError")
    assert (
        "member openai/p3 -> TimeoutError: cancelled: the quorum could no longer be met"
        in err.value.message
    )
    assert wait_for(lambda: states(served, "p3") == ["cancelled"])


@pytest.mark.parametrize("need", [1, 2])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_members_timing_out_on_their_own_is_a_timeout(served, stream, need):
    served.configure(fault={"*": {"kind": "hang"}})
    doc = spec(timeout=0.5).replace('{"propose"', f'{{"min_successful": {need}, "propose"')
    with pytest.raises(litellm.Timeout) as err:
        ask(doc, stream)
    assert isinstance(err.value, litellm_mixture.MembersTimedOutError) and not err.value.deadline
    assert f"0 of {need} required member answers" in err.value.message
    # Each timed out on its own, or (quorum of 2) was cancelled once two had: never answered.
    for model in ("openai/p1", "openai/p2", "openai/p3"):
        assert names(err.value.message, model, "Timeout: ") or (
            names(err.value.message, model, "TimeoutError: cancelled")
        )
    timed_out = [f for f in err.value.failures if isinstance(f.error, litellm.Timeout)]
    assert len(timed_out) >= need
    assert all(c["request"]["model"] != "agg" for c in served.calls())


KEY = "sk-proj-Zx81kq0PqLm3nB7vR2tY"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_key_a_provider_echoes_does_not_reach_the_client(served, stream):
    echo = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"
    served.configure(fault={m: {"kind": "500", "message": echo} for m in ("p1", "p2", "p3")})
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        ask(THREE, stream)
    assert names(err.value.message, "openai/p1", "InternalServerError")
    assert "Zx81kq0" not in err.value.message and "Zx81kq0" not in str(err.value)
    assert "Incorrect API key provided: sk-proj-[redacted]" in err.value.message
    served.configure(fault={"p1": {"kind": "500", "message": echo}})
    _, trace = ask(THREE, False)
    (p1,) = [t for t in trace if t["model"] == "openai/p1"]
    assert "Incorrect API key provided: sk-proj-[redacted]" in p1["error"]
    assert "Zx81kq0" not in p1["error"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"Incorrect API key provided: {KEY}.", "Incorrect API key provided: sk-proj-[redacted]."),
        ("key sk-ant-api03-abcdefghijkl0123", "key sk-ant-[redacted]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [redacted] [redacted]"),
        ("header: bearer 0123456789abcdef", "header: bearer [redacted]"),
        ("url?api_key=hunter2hunter2&x=1", "url?api_key=[redacted]&x=1"),
        ('{"token": "abcdef123456"}', '{"token": "[redacted]"}'),
        ("x-api-key: AIzaSyA1234567890abcdefgh", "x-api-key: [redacted]"),
        ("gsk_0123456789abcdef rejected", "gsk_[redacted] rejected"),
        # Ordinary error text stays as it was.
        ("maximum context length is 8192 tokens", "maximum context length is 8192 tokens"),
        ("the task-scheduler risk-assessment-model failed", None),
        ("max_tokens: 4096 is too large", None),
    ],
)
def test_key_like_strings_are_masked(text, masked):
    assert litellm_mixture.errors.redact(text) == (text if masked is None else masked)
    error = litellm.InternalServerError(message=text, model="x", llm_provider="openai")
    failure = litellm_mixture.MemberFailure(0, "openai/x", error)
    assert (text if masked is None else masked) in failure.reason


class Headers(Exception):
    def __init__(self, headers):
        super().__init__("rate limited")
        self.litellm_response_headers = headers


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the precise one wins
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_in_seconds_and_milliseconds(headers, seconds):
    assert litellm_mixture.common.retry.retry_after(Headers(headers)) == seconds


def test_retry_after_is_read_as_an_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= litellm_mixture.common.retry.retry_after(Headers({"retry-after": when})) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert litellm_mixture.common.retry.retry_after(Headers({"retry-after": past})) == 0.0


def test_retry_after_is_read_from_the_providers_response():
    error = litellm.RateLimitError(
        message="slow down",
        model="x",
        llm_provider="openai",
        response=httpx.Response(429, headers={"retry-after": "2"}),
    )
    assert litellm_mixture.common.retry.retry_after(error) == 2.0


def test_the_retry_waits_at_least_the_retry_after_and_within_the_deadline():
    error = litellm.RateLimitError(message="slow down", model="x", llm_provider="openai")
    error.litellm_response_headers = {"retry-after": "2"}
    for _ in range(20):  # the jitter is random: only ever added
        assert 2.0 <= litellm_mixture.common.retry.delay(error, 1, 1, None) <= 2.5
    assert litellm_mixture.common.retry.delay(error, 1, 1, 1.0) is None  # the deadline would pass
    assert litellm_mixture.common.retry.delay(error, 2, 1, None) is None  # no retries left
