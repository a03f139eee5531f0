"""Members' answers taken at their word: a cut stream, an empty or reasoning-only answer, a
prompt past the context window and an answer emptied by the caller's own ``stop`` are each
recorded for what they are, and each failure the caller cannot fix by retrying is a 4xx."""

import json

import litellm
import pytest

import litellm_mixture
from litellm_mixture.pricing import cost
from tests.helpers import CUT_REASONS, RAISES_ON_CUT, three_proposers

ASK = [{"role": "user", "content": "Name a prime number."}]


def spec(**top):
    return "mixture/" + three_proposers(**top)


def ask(model, stream, **kwargs):
    """The answer text and the run's summary, streamed or not."""
    if not stream:
        r = litellm.completion(model=model, messages=ASK, **kwargs)
        return r.choices[0].message.content, r._hidden_params[cost.HIDDEN_KEY]
    response = litellm.completion(model=model, messages=ASK, stream=True, **kwargs)
    text = "".join(c.choices[0].delta.content or "" for c in response if c.choices)
    return text, response.logging_obj.model_call_details[cost.HIDDEN_KEY]


def entry(summary, model):
    (found,) = [t for t in summary["trace"] if t["model"] == model]
    return found


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_cut_proposer_stream_is_a_failure_not_a_reference(served, stream):
    served.configure(fault={"p1": {"kind": "cut"}})
    text, summary = ask(spec(), stream, panel="reasoning")
    assert text.endswith("aggregating 2 references")
    p1 = entry(summary, "openai/p1")
    assert any(reason in p1["error"] for reason in CUT_REASONS), p1["error"]


KEEP_NEEDS = pytest.mark.skipif(RAISES_ON_CUT, reason="litellm 1.110 raises on a cut stream")


@KEEP_NEEDS
def test_a_cut_answer_is_a_reference_where_the_spec_keeps_cut_answers(served):
    served.configure(fault={"p1": {"kind": "cut"}})
    text, summary = ask(spec(cut_answers="keep"), False, panel="reasoning")
    assert text.endswith("aggregating 3 references")
    p1 = entry(summary, "openai/p1")
    assert p1["error"] is None and "kept as a reference (cut_answers: keep)" in p1["note"]


@KEEP_NEEDS
def test_a_step_may_keep_cut_answers_for_itself(served):
    served.configure(fault={"p1": {"kind": "cut"}})
    doc = json.loads(spec().removeprefix("mixture/"))
    doc["steps"][0]["cut_answers"] = "keep"
    text, _ = ask("mixture/" + json.dumps(doc), True, panel="reasoning")
    assert text.endswith("aggregating 3 references")


def test_every_proposer_cut_is_a_server_error_naming_the_cut(served):
    # Not streamed: a streamed panel has sent the proposals already (a mid-stream failure).
    served.configure(fault={"*": {"kind": "cut"}})
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        ask(spec(), False, panel="reasoning")
    assert any(reason in err.value.message for reason in CUT_REASONS), err.value.message
    assert err.value.status_code >= 500  # another try may not be cut


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_usage_the_server_did_not_send_is_marked_estimated(served, stream):
    served.configure(fault={"p1": {"kind": "no_usage"}, "agg": {"kind": "no_usage"}})
    _, summary = ask(spec(), stream, panel="reasoning")
    assert entry(summary, "openai/p1")["usage_estimated"] is True
    assert entry(summary, "openai/p2")["usage_estimated"] is False
    assert entry(summary, "openai/agg")["usage_estimated"] is stream  # whole: the server's
    assert entry(summary, "openai/p1")["completion_tokens"] > 0  # litellm's count, still billed


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_prompt_past_the_context_window_is_a_context_window_error(served, stream):
    served.configure(fault={"agg": {"kind": "overflow"}})
    with pytest.raises(litellm.ContextWindowExceededError) as err:
        ask(spec(), stream)
    assert isinstance(err.value, litellm_mixture.MembersContextWindowError)
    assert "maximum context length is 2048 tokens" in err.value.message
    assert len([c for c in served.calls() if c["request"]["model"] == "agg"]) == 1  # no retry


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_proposers_past_their_context_window_are_a_context_window_error(served, stream):
    served.configure(fault={"*": {"kind": "overflow"}})
    with pytest.raises(litellm.ContextWindowExceededError):
        ask(spec(), stream)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_answer_emptied_by_the_callers_stop_is_a_400(served, stream):
    served.configure(fault={"agg": {"kind": "empty"}})
    with pytest.raises(litellm.BadRequestError) as err:
        ask(spec(), stream, stop=["Seven"])
    assert err.value.status_code == 400
    assert "stop=['Seven'] ended it before any text" in err.value.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_an_empty_answer_without_a_stop_may_pass_on_retry(served, stream):
    served.configure(fault={"agg": {"kind": "empty"}})
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        ask(spec(), stream)
    assert "empty answer: the model sent no text" in err.value.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_think_tag_inside_an_answer_is_part_of_it(served, stream):
    said = "Use <think> tags for hidden thoughts in <think> tags before answering."
    served.configure(reply={"p1": said, "agg": said})
    text, _ = ask(spec(), stream, panel="reasoning")
    assert text == said
    (agg,) = [c["request"] for c in served.calls() if c["request"]["model"] == "agg"]
    assert said in json.dumps(agg["messages"])  # p1's answer passed on whole
