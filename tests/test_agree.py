"""A propose step with ``until_agree``: waves of calls until K answers agree, against a fake
caller (no sockets), and the self-consistency preset against the fake upstream process."""

import asyncio
import json
from types import SimpleNamespace

import litellm
import pytest

from litellm_mixture import SpecError, decode
from litellm_mixture.engine import Run
from litellm_mixture.observe import report
from tests.fakes import ASK, reply


class Script:
    """Answers the proposer's calls in turn from ``answers``; the judge ("j") names response 1."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.proposed = 0

    async def __call__(self, model, messages, **kwargs):
        await asyncio.sleep(0)
        if model.endswith("/j"):
            return reply("1")
        self.proposed += 1
        return reply(self.answers.pop(0))


def spec(k: int, samples: int = 8, **step) -> str:
    propose = {"propose": [{"model": "openai/x", "samples": samples}], "until_agree": k, **step}
    return "mixture/" + json.dumps({"steps": [propose, {"vote": "openai/j"}]})


def run(name: str, caller: Script, **seams):
    execution = Run(decode(name), ASK, caller=caller, keep_calls=True, **seams)
    content = asyncio.run(execution.complete()).content
    return content, execution.record()


def test_stops_once_k_answers_agree_and_makes_no_further_call():
    caller = Script("A", "A", "A", "never asked")
    content, record = run(spec(3), caller)
    assert caller.proposed == 3 and content == "A"
    proposals = [e for e in record.trace if e.kind == "propose"]
    assert [e.ok for e in proposals] == [True] * 3
    assert proposals[-1].note == "agreement reached: 3 answers agree; 5 of 8 calls not made"
    # The vote after an agreement is not called either: the first agreeing answer is its pick.
    assert [e.kind for e in record.trace] == ["propose"] * 3
    assert record.history[1].answers == (("openai/x", "A"),)
    assert report.summary(record, 0)["saved_calls"] == 5 + 1
    assert report.intermediate_responses(record)[0]["saved"] == 5


def test_waves_ask_for_what_agreement_still_lacks_and_pass_the_consensus_on_first():
    # A, B, "a." (A normalised): two agree, so one more call; its A makes three.
    caller = Script("A", "B", " a. ", "a", "never asked")
    _, record = run(spec(3), caller)
    assert caller.proposed == 4
    assert [t for _, t in record.history[0].answers] == ["A", "a.", "a", "B"]
    assert report.summary(record, 0)["saved_calls"] == 4 + 1  # and the vote


def test_without_agreement_every_call_runs_and_everything_passes_on_in_order():
    answers = [f"answer {i}" for i in range(6)]
    caller = Script(*answers)
    _, record = run(spec(2, samples=6), caller)
    assert caller.proposed == 6
    assert [e.kind for e in record.trace][-1] == "vote"  # no agreement: the vote is called
    assert [t for _, t in record.history[0].answers] == answers
    assert all(e.note is None for e in record.trace)
    assert report.summary(record, 0)["saved_calls"] == 0


def test_a_failed_call_is_replaced_by_the_next_wave():
    class Failing(Script):
        async def __call__(self, model, messages, **kwargs):
            if not model.endswith("/j") and self.proposed == 0:
                self.proposed += 1
                raise litellm.BadRequestError("no", model, "openai")
            return await super().__call__(model, messages, **kwargs)

    caller = Failing("A", "A", "A")
    _, record = run(spec(2, samples=4), caller)
    assert caller.proposed == 3
    assert [t for _, t in record.history[0].answers] == ["A", "A"]


def test_last_line_agreement_reads_the_final_line():
    caller = Script("Let me think.\nAnswer: 4", "Another way...\n\nanswer: 4.", "never asked")
    _, record = run(spec(2, samples=5, agree_by="last_line"), caller)
    assert caller.proposed == 2
    assert report.summary(record, 0)["saved_calls"] == 3 + 1  # and the vote


def test_regex_agreement_compares_the_capture_and_an_unmatched_answer_agrees_with_none():
    caller = Script("so the answer is 12", "no idea", "no idea", "The answer is 12.")
    _, record = run(spec(2, samples=5, agree_by={"regex": r"answer is (\d+)"}), caller)
    assert caller.proposed == 4  # the two "no idea"s do not agree: the pattern misses them
    assert [t for _, t in record.history[0].answers][:2] == [
        "so the answer is 12",
        "The answer is 12.",
    ]


VECTORS = {"a cat": [1.0, 0.0], "a kitten": [0.95, 0.05], "a dog": [0.0, 1.0]}


def test_embedding_agreement_calls_the_embedder_and_bills_it():
    asked = []

    async def embedder(model, input, **kwargs):
        asked.append((model, input))
        return SimpleNamespace(
            data=[{"embedding": VECTORS[input[0]]}],
            usage={"prompt_tokens": 2, "completion_tokens": 0},
            _hidden_params={"response_cost": 0.25},
        )

    caller = Script("a cat", "a dog", "a kitten", "never asked")
    by = {"embedding": "openai/text-embedding-3-small", "threshold": 0.9}
    _, record = run(spec(2, samples=4, agree_by=by), caller, embedder=embedder)
    assert caller.proposed == 3
    assert [i for _, i in asked] == [["a cat"], ["a dog"], ["a kitten"]]
    embeddings = [e for e in record.trace if e.kind == "embedding"]
    assert [e.model for e in embeddings] == ["openai/text-embedding-3-small"] * 3
    assert record.usage.cost == pytest.approx(0.75)
    assert [t for _, t in record.history[0].answers] == ["a cat", "a kitten", "a dog"]
    assert report.summary(record, 0)["saved_calls"] == 1 + 1  # and the vote


def test_a_failing_embedding_is_noted_and_its_answer_agrees_with_none():
    async def embedder(model, input, **kwargs):
        raise litellm.AuthenticationError("bad key", model, "openai")

    caller = Script("same", "same", "same")
    by = {"embedding": "openai/e"}
    _, record = run(spec(2, samples=3, agree_by=by), caller, embedder=embedder)
    assert caller.proposed == 3
    assert all("AuthenticationError" in e.error for e in record.trace if e.kind == "embedding")
    assert "its embedding failed" in record.trace[0].note


@pytest.mark.parametrize(
    "step, needle",
    [
        ({"until_agree": 9}, "until_agree=9 exceeds the step's 8 calls"),
        ({"until_agree": 0}, "greater than or equal to 1"),
        ({"until_agree": 2, "min_successful": 3}, "min_successful=3 exceeds until_agree=2"),
        ({"agree_by": "last_line"}, "it needs until_agree"),
        ({"until_agree": 2, "agree_by": {"regex": "answer"}}, "needs a capture group"),
        ({"until_agree": 2, "agree_by": {"regex": "(a)\\1"}}, "RE2"),
        ({"until_agree": 2, "agree_by": "majority"}, "agree_by"),
        ({"until_agree": 2, "agree_by": {"embedding": "e", "threshold": 0}}, "threshold"),
    ],
)
def test_bad_agreement_settings_are_typed_400s_before_any_call(served, step, needle):
    propose = {"propose": [{"model": "openai/x", "samples": 8}], **step}
    name = "mixture/" + json.dumps({"steps": [propose, {"vote": "openai/j"}]})
    with pytest.raises(SpecError) as err:
        asyncio.run(litellm.acompletion(model=name, messages=ASK))
    assert err.value.status_code == 400 and needle in err.value.message
    assert served.calls() == []


def test_preset_parameters_fit_its_agreement_to_fewer_samples():
    (step, _) = decode("mixture/self-consistency?proposers=openai/a*2").steps
    assert (step.until_agree, step.calls) == (2, 2)
    (step, _) = decode("mixture/self-consistency?model=openai/b").steps
    assert (step.until_agree, step.calls) == (3, 5)


def test_self_consistency_preset_stops_at_three_agreeing_samples(served):
    served.configure(pick={"sc": [["42", 0.5], ["forty-two", 0.5]]}, judge=["judge"], seed=3)
    name = "mixture/self-consistency?proposers=openai/sc*5&judge=openai/judge"
    response = litellm.completion(model=name, messages=ASK, intermediate_responses=True)
    calls = [c["request"]["model"] for c in served.calls()]
    # Five answers of two kinds: three always agree, and then the vote is not called.
    assert calls.count("judge") == 0 and 3 <= calls.count("sc") <= 5
    propose, vote = response.intermediate_responses
    assert propose["saved"] == 5 - calls.count("sc") and vote["saved"] == 1
    answers = [r["text"] for r in propose["responses"]]
    consensus = max(set(answers), key=answers.count)
    assert response.choices[0].message.content == consensus


def test_embeddings_go_through_the_runs_embedder_and_its_budget():
    """The seam, not litellm.aembedding: inside the proxy it is the Router's. Under max_cost each
    embedding is admitted like a call that reads the answer and writes nothing."""
    asked, priced = [], []

    async def embedder(model, input, **kwargs):
        asked.append(input[0])
        return SimpleNamespace(data=[{"embedding": VECTORS[input[0]]}], usage=None)

    def pricer(model, messages, max_tokens):
        priced.append((model, max_tokens))
        return 0.6 if model == "e" else 0.0  # an embedding at a time fits a budget of 1

    name = spec(2, samples=3, agree_by={"embedding": "e"})
    caller = Script("a cat", "a dog", "a kitten")
    execution = Run(
        decode(name), ASK, caller=caller, embedder=embedder, max_cost=1.0, pricer=pricer
    )
    asyncio.run(execution.complete())
    record = execution.record()
    assert ("e", 0) in priced
    embeddings = [e for e in record.trace if e.kind == "embedding"]
    assert len(asked) == 3 and len(embeddings) == 3  # each held until its call ends
    caller = Script("a cat", "a dog", "a kitten")
    expensive = Run(
        decode(name), ASK, caller=caller, embedder=embedder, max_cost=0.5, pricer=pricer
    )
    asyncio.run(expensive.complete())
    refused = [e for e in expensive.record().trace if e.kind == "embedding"]
    assert refused and all("not started" in e.error for e in refused)
    assert len(asked) == 3  # none was made
