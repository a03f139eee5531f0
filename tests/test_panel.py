"""The live panel (``panel: reasoning``) against a fake caller: members' answers reach the caller
as reasoning, labelled, before any of the answer and never inside it; a later step sees only the
finished, cleaned answers; it is off unless asked."""

import asyncio

import litellm
import pytest

import litellm_mixture
from litellm_mixture import decode
from litellm_mixture.engine import Run
from tests.fakes import ASK, Caller, Stream, host, reply

SPEC = "{panel: reasoning, steps: [{propose: [openai/p1, openai/p2]}, {aggregate: openai/agg}]}"


class Panelled(Caller):
    """Proposers stream their answer in three pieces, the first with a reasoning block the next
    step must not see; every call's messages are kept."""

    def __init__(self, **script) -> None:
        super().__init__(**script)
        self.sent: dict[str, list] = {}

    async def __call__(self, model, messages, **kwargs):
        name = model.split("/")[-1]
        self.sent[name] = messages
        if kwargs.get("stream") and name.startswith("p"):
            self.calls.append(name)
            return Stream(["<think>mulling</think>", f"answer of {name}", " in full"])
        return await super().__call__(model, messages, **kwargs)


def events_of(spec: str, caller: Caller, **kwargs):
    execution = Run(decode("mixture/" + spec), ASK, caller=caller, **kwargs)

    async def main():
        return [event async for event in execution.stream()]

    return asyncio.run(main()), execution.record()


def test_members_answers_reach_the_caller_as_reasoning_before_any_of_the_answer():
    events, _ = events_of(SPEC, Panelled(), panel=True)
    kinds = ["reasoning" if e.reasoning else "text" if e.text else "end" for e in events]
    first_text = kinds.index("text")
    assert set(kinds[:first_text]) == {"reasoning"} and "reasoning" not in kinds[first_text:]
    said = "".join(e.reasoning for e in events)
    # One speaker at a time, each answer one labelled block, whatever order they streamed in.
    blocks = said.split("\n\n")
    assert sorted(blocks) == [
        f"[step 1 propose · openai/{name}]\n<think>mulling</think>answer of {name} in full"
        for name in ("p1", "p2")
    ]
    answer = "".join(e.text for e in events)
    assert answer == "answer of agg" and "[step" not in answer


def test_a_later_step_sees_only_the_finished_cleaned_answers():
    caller = Panelled()
    events_of(SPEC, caller, panel=True)
    seen = str(caller.sent["agg"])
    assert "answer of p1 in full" in seen and "answer of p2 in full" in seen
    assert "mulling" not in seen and "[step" not in seen


def test_the_spec_key_alone_does_not_turn_the_engine_panel_on():
    # The provider decides (spec key or request param); a Run without panel streams nothing.
    events, record = events_of(SPEC, Panelled())
    assert not any(e.reasoning for e in events)
    assert all(e.ok for e in record.trace)


def test_a_whole_answer_carries_the_panel_as_its_reasoning():
    execution = Run(decode("mixture/" + SPEC), ASK, caller=Panelled(), panel=True)
    outcome = asyncio.run(execution.complete())
    assert outcome.content == "answer of agg"
    assert "[step 1 propose · openai/p1]\n" in outcome.reasoning


def test_a_streamed_members_usage_and_cost_are_counted():
    _, record = events_of(SPEC, Panelled(), panel=True)
    proposals = [e for e in record.trace if e.step == 0]
    assert [e.completion_tokens for e in proposals] == [3, 3]
    assert record.usage.completion_tokens == 3 + 3 + 1  # the aggregator streamed one piece


def test_a_member_failing_mid_stream_is_a_failure_of_its_own():
    class Failing(Panelled):
        async def __call__(self, model, messages, **kwargs):
            if kwargs.get("stream") and model.endswith("p2"):
                return Stream(["half"], fail=litellm.InternalServerError("cut", "openai", "p2"))
            return await super().__call__(model, messages, **kwargs)

    events, record = events_of(SPEC, Failing(), panel=True)
    assert "".join(e.text for e in events) == "answer of agg"
    p2 = next(e for e in record.trace if e.model == "openai/p2")
    assert p2.error.startswith("InternalServerError")


def test_panel_is_a_preset_parameter_and_a_spec_key():
    assert decode("mixture/moa-lite?panel=reasoning").panel == "reasoning"
    assert decode("mixture/" + SPEC).panel == "reasoning"
    with pytest.raises(litellm_mixture.SpecError, match="panel"):
        decode("mixture/{panel: loud, steps: [{propose: [openai/a]}, {aggregate: openai/b}]}")


def test_the_request_param_is_typed_before_any_call(monkeypatch):
    calls = []

    async def caller(**kwargs):
        calls.append(kwargs)
        return reply("x")

    monkeypatch.setattr(litellm_mixture.register(), "host", host(caller))
    with pytest.raises(litellm.BadRequestError, match="panel"):
        litellm.completion(model="mixture/openai/a>openai/b", messages=ASK, panel="yes")
    assert calls == []
