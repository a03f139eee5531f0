"""The engine's rules against a fake caller, no sockets: the quorum and its grace, the first
answer from members in order, one final path whether the answer streams or not, and the frozen
record a run leaves."""

import asyncio

import litellm
import pytest

import litellm_mixture
from litellm_mixture import decode
from litellm_mixture.engine import Quorum, Run, RunRecord
from tests.fakes import ASK, Caller, Stream


def run(spec: str, caller: Caller, stream: bool = False, **kwargs):
    execution = Run(decode("mixture/" + spec), ASK, caller=caller, **kwargs)

    async def main():
        if not stream:
            return await execution.complete()
        return [event async for event in execution.stream()]

    return asyncio.run(main()), execution.record()


def server_error(model: str) -> litellm.InternalServerError:
    return litellm.InternalServerError("boom", "openai", model)


FAN = (
    "{steps: [{propose: [openai/p1, openai/p2, openai/p3], min_successful: 2, grace: %s},"
    " {aggregate: openai/agg}]}"
)


# ------------------------------------------------------------------ the quorum value


def test_the_quorum_is_met_hopeless_or_waiting():
    quorum = Quorum(need=2, grace=0.5)
    assert not quorum.met(1) and quorum.met(2)
    assert quorum.hopeless(ok=0, running=1) and not quorum.hopeless(ok=1, running=1)
    assert quorum.why_cut(2) == "cut: still running 0.5s after the quorum"
    assert quorum.why_cut(1) == "cancelled: the quorum could no longer be met"


def test_only_one_answer_with_no_grace_awaits_every_call():
    assert Quorum(1).awaits_all
    assert not Quorum(1, grace=0).awaits_all and not Quorum(2).awaits_all


# ------------------------------------------------------------------ fan-out


def test_a_straggler_past_the_grace_is_cut_and_the_step_goes_on():
    never = asyncio.Event()  # p3 never answers
    caller = Caller(p3=never)
    outcome, record = run(FAN % 0, caller)
    assert outcome.content == "answer of agg"
    proposals = [e for e in record.trace if e.step == 0]
    assert [(e.model, e.ok, e.cut) for e in proposals] == [
        ("openai/p1", True, False),
        ("openai/p2", True, False),
        ("openai/p3", False, True),
    ]
    assert proposals[2].error == "cut: still running 0s after the quorum"
    assert [m for m, _ in record.history[0].answers] == ["openai/p1", "openai/p2"]


def test_a_call_that_ends_within_the_grace_is_kept():
    class Late(Caller):
        async def __call__(self, model, messages, **kwargs):
            if model.endswith("p3"):
                while len(self.answered) < 2:  # answers once the quorum is met
                    await asyncio.sleep(0)
            return await super().__call__(model, messages, **kwargs)

    _, record = run(FAN % 30, Late())
    assert [m for m, _ in record.history[0].answers] == ["openai/p1", "openai/p2", "openai/p3"]
    assert all(e.ok for e in record.trace)


def test_a_quorum_out_of_reach_cancels_the_rest_at_once_and_names_every_failure():
    never = asyncio.Event()
    caller = Caller(p1=server_error("p1"), p2=server_error("p2"), p3=never)
    with pytest.raises(litellm_mixture.MembersFailedError) as err:
        run(FAN % "null", caller)
    assert "step 1" in err.value.message and "openai/p1" in err.value.message
    assert "agg" not in caller.calls
    (cut,) = [f for f in err.value.failures if f.cut]
    assert cut.model == "openai/p3"
    assert "cancelled: the quorum could no longer be met" in str(cut.error)


def test_results_keep_the_members_order_whatever_order_they_end_in():
    first = asyncio.Event()

    class Reversed(Caller):
        async def __call__(self, model, messages, **kwargs):
            if model.endswith("p1"):
                await first.wait()  # p1 ends last
            result = await super().__call__(model, messages, **kwargs)
            if model.endswith("p3"):
                first.set()
            return result

    _, record = run("openai/p1+openai/p2+openai/p3>openai/agg", Reversed())
    order = [m for m, _ in record.history[0].answers]
    assert order == ["openai/p1", "openai/p2", "openai/p3"]


# ------------------------------------------------------------------ first answer, in order


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_aggregator_falls_back_in_order_until_one_answers(stream):
    spec = (
        "{steps: [{propose: [openai/p1]},"
        " {aggregate: openai/a1, fallbacks: [openai/a2, openai/a3]}]}"
    )
    caller = Caller(a1=server_error("a1"), a2="")
    result, record = run(spec, caller, stream)
    text = result.content if not stream else "".join(e.text for e in result)
    assert text == "answer of a3"
    assert caller.calls == ["p1", "a1", "a2", "a3"]
    finals = [(e.model, e.member, e.sample, e.error) for e in record.trace if e.step == 1]
    assert finals[0][:3] == ("openai/a1", 0, 0) and finals[0][3].startswith("InternalServerError")
    assert finals[1] == ("openai/a2", 1, 1, "empty answer: the model sent no text")
    assert finals[2] == ("openai/a3", 2, 2, None)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_every_aggregator_failing_gives_the_best_proposal_only_when_allowed(stream):
    spec = "{steps: [{propose: [openai/p1]}, {aggregate: openai/a1, best_proposal: %s}]}"
    caller = Caller(a1=server_error("a1"))
    result, _ = run(spec % "true", caller, stream)
    text = result.content if not stream else "".join(e.text for e in result)
    assert text == "answer of p1"
    with pytest.raises(litellm_mixture.MembersFailedError, match="step 2 member openai/a1"):
        run(spec % "false", Caller(a1=server_error("a1")), stream)


def test_a_judge_falls_back_like_an_aggregator():
    spec = "{steps: [{propose: [openai/p1, openai/p2]}, {vote: openai/j1, fallbacks: [openai/j2]}]}"
    caller = Caller(j1=server_error("j1"), j2="2")
    outcome, _ = run(spec, caller)
    assert outcome.content == "answer of p2"
    assert caller.calls[-2:] == ["j1", "j2"]


# ------------------------------------------------------------------ one final path


def test_the_whole_answer_is_the_streamed_one_collected():
    parts = ["The ", "answer", "."]
    streamed, streamed_record = run("openai/p1>openai/agg", Caller(agg=Stream(parts)), True)
    whole, whole_record = run("openai/p1>openai/agg", Caller(agg="The answer."))
    assert "".join(e.text for e in streamed) == whole.content == "The answer."
    assert streamed[-1].finish_reason == whole.finish_reason == "stop"
    assert [e.model for e in streamed_record.trace] == [e.model for e in whole_record.trace]


def test_a_stream_that_fails_after_its_first_text_does_not_fall_back():
    spec = "{steps: [{propose: [openai/p1]}, {aggregate: openai/a1, fallbacks: [openai/a2]}]}"
    caller = Caller(a1=Stream(["half an "], fail=server_error("a1")))
    with pytest.raises(litellm_mixture.MembersFailedError, match="failed mid-stream"):
        run(spec, caller, True)
    assert "a2" not in caller.calls


def test_a_stream_that_fails_before_any_text_falls_back():
    spec = "{steps: [{propose: [openai/p1]}, {aggregate: openai/a1, fallbacks: [openai/a2]}]}"
    caller = Caller(a1=Stream([], fail=server_error("a1")))
    events, record = run(spec, caller, True)
    assert "".join(e.text for e in events) == "answer of a2"
    assert record.trace[1].error.startswith("InternalServerError")


# ------------------------------------------------------------------ the record


def test_the_record_is_frozen_and_sums_every_call():
    _, record = run("openai/p1*2>openai/agg", Caller())
    assert isinstance(record, RunRecord)
    assert record.usage.prompt_tokens == 3 * 3 and record.usage.completion_tokens == 2 * 3
    with pytest.raises(AttributeError):
        record.usage = None  # type: ignore[misc]
    assert isinstance(record.trace, tuple) and isinstance(record.history, tuple)
    assert [h.kind for h in record.history] == ["propose"]


def test_a_record_taken_mid_run_is_not_changed_by_what_follows():
    gate = asyncio.Event()
    execution = Run(decode("mixture/openai/p1>openai/agg"), ASK, caller=Caller(p1=gate))

    async def main():
        task = asyncio.ensure_future(execution.complete())
        while not execution.record().trace:
            await asyncio.sleep(0)
        early = execution.record()
        gate.set()
        await task
        return early

    early = asyncio.run(main())
    assert [e.latency_ms for e in early.trace] == [0.0] and early.usage.prompt_tokens == 0
    assert len(execution.record().trace) == 2
