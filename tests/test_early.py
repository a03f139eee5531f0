"""Early (staircase) aggregation against a fake caller: the segments see growing partial
proposals, the caller gets one continuous answer, and the quorum, fallbacks, tool calls, usage
and the trace keep working."""

import asyncio
from types import SimpleNamespace

import litellm
import pytest

import litellm_mixture
from litellm_mixture import decode
from litellm_mixture.engine import Run
from litellm_mixture.engine.early import CONTINUE
from litellm_mixture.observe import report
from tests.fakes import ASK, Stream, delta, reply

WORDS = 12


def spec(**aggregate) -> str:
    settings = "".join(f", {k}: {v}" for k, v in aggregate.items())
    return (
        "{steps: [{propose: [openai/p1, openai/p2, openai/p3]},"
        f" {{aggregate: openai/agg{settings}, early: {{chunk_tokens: 3, segments: 4}}}}]}}"
    )


class Paced(Stream):
    """A proposer writing one word every few milliseconds."""

    async def __aiter__(self):
        for part in self.parts:
            await asyncio.sleep(0.01)
            yield SimpleNamespace(choices=[delta(part)], usage=None)
        if self.fail is not None:
            raise self.fail
        usage = {"prompt_tokens": 3, "completion_tokens": len(self.parts)}
        yield SimpleNamespace(choices=[delta(None, "stop")], usage=usage)


class Segments(Stream):
    """An aggregator's segment: ``cap`` words then finish ``length``, or its answer whole."""

    def __init__(self, words: list[str], cap: int | None) -> None:
        super().__init__(words[:cap] if cap else words)
        self.finish = "length" if cap and len(words) > cap else "stop"

    async def __aiter__(self):
        for part in self.parts:
            await asyncio.sleep(0)
            yield SimpleNamespace(choices=[delta(part)], usage=None)
        usage = {"prompt_tokens": 10, "completion_tokens": len(self.parts)}
        yield SimpleNamespace(choices=[delta(None, self.finish)], usage=usage)


class Caller:
    def __init__(self, fail: dict | None = None, tool: bool = False) -> None:
        self.fail = fail or {}
        self.tool = tool
        self.aggregations: list[dict] = []  # each segment's messages and cap
        self.calls: list[str] = []

    async def __call__(self, model, messages, **kwargs):
        name = model.split("/")[-1]
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]
        if name.startswith("p"):
            return Paced([f"{name}w{i} " for i in range(WORDS)])
        self.aggregations.append({"messages": messages, "cap": kwargs.get("max_tokens")})
        if self.tool:
            return _ToolStream()
        written = len(self.aggregations) * 3
        words = [f"a{i}. " for i in range(written - 3, written + 3)]
        return Segments(words, kwargs.get("max_tokens"))


class _ToolStream(Stream):
    def __init__(self) -> None:
        super().__init__([])

    async def __aiter__(self):
        function = SimpleNamespace(name="save", arguments="{}")
        call = SimpleNamespace(id="c1", index=0, type="function", function=function)
        call.model_dump = lambda: {"id": "c1", "function": {"name": "save", "arguments": "{}"}}
        yield SimpleNamespace(choices=[delta(None, None, [call])], usage=None)
        yield SimpleNamespace(choices=[delta(None, "tool_calls")], usage=None)


def run(caller, stream=True, **aggregate):
    execution = Run(decode("mixture/" + spec(**aggregate)), ASK, caller=caller)

    async def main():
        if stream:
            return [e async for e in execution.stream()]
        return await execution.complete()

    return asyncio.run(main()), execution.record()


def reference_chars(messages) -> int:
    system = messages[0]["content"]
    return sum(len(line) for line in system.splitlines() if "w" in line and line[:1].isdigit())


def test_segments_see_growing_partial_proposals_and_the_last_sees_them_complete():
    caller = Caller()
    _, record = run(caller)
    seen = [reference_chars(a["messages"]) for a in caller.aggregations]
    assert len(seen) >= 2 and seen == sorted(seen) and seen[0] < seen[-1]
    assert [a["cap"] for a in caller.aggregations][:-1] == [3] * (len(seen) - 1)
    assert caller.aggregations[-1]["cap"] is None  # the last reads complete proposals
    complete = "".join(f"p1w{i} " for i in range(WORDS)).strip()
    assert complete in str(caller.aggregations[-1]["messages"])
    assert record.history[0].answers[0] == ("openai/p1", complete)


def test_the_caller_gets_one_continuous_answer():
    caller = Caller()
    events, _ = run(caller)
    text = "".join(e.text for e in events)
    segments = len(caller.aggregations)
    assert text == "".join(f"a{i}. " for i in range(segments * 3 + 3)[: (segments - 1) * 3 + 6])
    assert events[-1].finish_reason == "stop" and not any(e.reasoning for e in events)


def test_a_later_segment_continues_the_answer_so_far():
    caller = Caller()
    run(caller)
    second = caller.aggregations[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "a0. a1. a2."}
    assert second[-1] == {"role": "user", "content": CONTINUE}
    assert caller.aggregations[0]["messages"][-1]["role"] == "user"  # nothing written yet


def test_a_whole_answer_is_the_streamed_one_collected():
    streamed, _ = run(Caller())
    whole, _ = run(Caller(), stream=False)
    assert whole.content.split()[:3] == ["a0.", "a1.", "a2."]
    assert len(whole.content) > 0 and whole.finish_reason == "stop"
    assert "".join(e.text for e in streamed).split()[:3] == whole.content.split()[:3]


def test_each_segment_is_a_trace_entry_with_what_it_saw():
    caller = Caller()
    _, record = run(caller)
    segments = [e for e in record.trace if e.step == 1]
    assert len(segments) == len(caller.aggregations)
    assert [e.sample for e in segments] == list(range(len(segments)))
    assert segments[0].note.startswith("segment 1 at +") and "(complete)" in segments[-1].note
    assert record.usage.completion_tokens == 3 * WORDS + sum(e.completion_tokens for e in segments)


def test_a_failing_first_aggregator_falls_back_before_it_wrote_anything():
    error = litellm.InternalServerError("boom", "openai", "agg")

    class Fallback(Caller):
        async def __call__(self, model, messages, **kwargs):
            if model.endswith("agg") and not self.calls.count("agg"):
                self.calls.append("agg")
                raise error
            return await super().__call__(model.replace("agg2", "agg"), messages, **kwargs)

    events, record = run(Fallback(), fallbacks="[openai/agg2]")
    assert "".join(e.text for e in events).startswith("a0. a1. a2. ")
    first = next(e for e in record.trace if e.step == 1)
    assert first.model == "openai/agg" and first.error.startswith("InternalServerError")


def test_the_quorum_still_decides_what_the_last_segment_reads():
    error = litellm.InternalServerError("boom", "openai", "p2")
    caller = Caller(fail={"p2": error})
    _, record = run(caller)
    assert "p2w" not in str(caller.aggregations[-1]["messages"])
    assert [m for m, _ in record.history[0].answers] == ["openai/p1", "openai/p3"]


def test_a_quorum_out_of_reach_fails_the_answer():
    error = litellm.InternalServerError("boom", "openai", "p")
    caller = Caller(fail={"p1": error, "p2": error, "p3": error})
    with pytest.raises(litellm_mixture.MembersFailedError):
        run(caller)


def test_a_tool_call_mid_answer_ends_it_and_cuts_the_proposals_still_running():
    events, record = run(Caller(tool=True))
    assert [e.tool_call.function.name for e in events if e.tool_call] == ["save"]
    assert events[-1].finish_reason == "tool_calls"
    cut = [e for e in record.trace if e.step == 0 and e.cut]
    assert cut and all(e.error == "cut: the answer was complete before this proposal" for e in cut)


def test_early_needs_the_proposals_right_before_it():
    with pytest.raises(litellm_mixture.SpecError, match="propose or synthesize step right before"):
        decode(
            "mixture/{steps: [{propose: [openai/a]}, {shuffle: {}},"
            " {aggregate: openai/b, early: true}]}"
        )
    assert decode("mixture/moa-lite?early=1").steps[-1].early.chunk_tokens == 64


def test_the_call_bound_counts_every_segment():
    pipeline = decode("mixture/" + spec())
    assert pipeline.bounds()[-1] == [4] and pipeline.max_calls == 3 + 4
    assert reply("x").choices[0].message.content == "x"


def test_a_model_that_takes_a_prefill_continues_its_own_answer():
    caller = Caller()
    run_spec(spec().replace("openai/agg", "anthropic/claude-sonnet-4-20250514"), caller)
    second = caller.aggregations[1]["messages"]
    assert second[-1] == {"role": "assistant", "content": "a0. a1. a2. "}


class Hanging(Caller):
    """A caller whose p3 never answers."""

    async def __call__(self, model, messages, **kwargs):
        if model.endswith("p3"):
            self.calls.append("p3")
            await asyncio.sleep(3600)
        return await super().__call__(model, messages, **kwargs)


def run_spec(text, caller):
    execution = Run(decode("mixture/" + text), ASK, caller=caller)

    async def main():
        return [e async for e in execution.stream()]

    return asyncio.run(main()), execution.record()


def test_the_deadline_bounds_every_segment_and_names_what_it_cut():
    deadline = spec().replace("{steps:", "{deadline: 0.5, steps:")
    with pytest.raises(litellm_mixture.MembersTimedOutError, match="member openai/p3"):
        run_spec(deadline, Hanging())


def test_the_layers_grace_cuts_a_straggler_for_the_last_segment():
    graced = spec().replace("openai/p3]}", "openai/p3], min_successful: 2, grace: 0}")
    events, record = run_spec(graced, Hanging())
    assert "".join(e.text for e in events).startswith("a0. a1. a2. ")
    p3 = next(e for e in record.trace if e.model == "openai/p3")
    assert p3.cut and p3.error == "cut: still running 0s after the quorum"
    assert [m for m, _ in record.history[0].answers] == ["openai/p1", "openai/p2"]


def test_the_whole_answer_stays_within_the_callers_max_tokens():
    caller = Caller()
    execution = Run(decode("mixture/" + spec()), ASK, {"max_tokens": 7}, caller=caller)
    events = asyncio.run(_collected(execution))
    caps = [a["cap"] for a in caller.aggregations]
    assert caps[:2] == [3, 3] and sum(caps) == 7  # the last segment gets what is left
    assert len("".join(e.text for e in events).split()) == 7
    assert events[-1].finish_reason == "length"


async def _collected(execution):
    return [e async for e in execution.stream()]


def test_the_critical_path_counts_the_segments_alongside_the_proposers_they_overlap():
    _, record = run(Caller())
    proposers = [e.latency_ms for e in record.trace if e.step == 0]
    segments = [e.latency_ms for e in record.trace if e.step == 1]
    assert report.critical_path_ms(record) == max(max(proposers), sum(segments))
