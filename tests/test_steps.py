"""The LLM steps beyond propose/synthesize/aggregate: refine, rank, vote, self-moa-seq; the
Python-only filter/map; the step prompt; the one-line transforms."""

import asyncio
import re
import textwrap

import httpx
import litellm
import pytest

import litellm_mixture
from litellm_mixture import (
    Aggregate,
    Filter,
    Map,
    Pipeline,
    Propose,
    Rank,
    Refine,
    SelfMoaSeq,
    Vote,
    decode,
    encode,
)
from litellm_mixture.common.prompts import DEFAULTS, TOGETHER_AGGREGATE, read_choice
from tests.helpers import complete

THREE = ["openai/p1", "openai/p2", "openai/p3"]
BOOM = httpx.Response(500, json={"error": {"message": "boom"}})


def system(request):
    return request["messages"][0]["content"]


def seen(request):
    """The proposers whose answers a request's system block carries, in order."""
    return re.findall(r"answer from (\w+) #", system(request).split("\n", 1)[-1])


def run(pipeline, question="What is 2+2?", **params):
    return asyncio.run(litellm_mixture.run(pipeline, question, **params))


def answers(result, step):
    return [text for _, text in result.history[step].answers]


# ---------------------------------------------------------------- refine


def test_refine_gives_each_answer_to_one_member_in_turn_with_the_refine_prompt(respx_upstream):
    pipeline = Pipeline(
        [Propose(THREE), Refine(["openai/r1", "openai/r2"]), Aggregate("openai/agg")]
    )
    result = run(pipeline)
    r1, r2 = respx_upstream.by_model("r1"), respx_upstream.by_model("r2")
    assert len(r1) == 2 and len(r2) == 1  # answers 1 and 3 to r1, answer 2 to r2
    proposals = answers(result, 0)
    for request, proposal in zip([r1[0], r2[0], r1[1]], proposals, strict=True):
        assert request["messages"] == [
            {"role": "system", "content": f"{DEFAULTS['refine']}\n1. {proposal}"},
            {"role": "user", "content": "What is 2+2?"},
        ]
    assert [model for model, _ in result.history[1].answers] == [
        "openai/r1",
        "openai/r2",
        "openai/r1",
    ]
    (agg,) = respx_upstream.by_model("agg")
    assert seen(agg) == ["r1", "r2", "r1"]


def test_a_failed_refinement_passes_its_answer_on_unrefined(respx_upstream):
    respx_upstream.overrides["r2"] = BOOM
    pipeline = Pipeline(
        [Propose(THREE), Refine(["openai/r1", "openai/r2"]), Aggregate("openai/agg")]
    )
    result = run(pipeline)
    assert seen(respx_upstream.by_model("agg")[0]) == ["r1", "p2", "r1"]
    (failed,) = [t for t in result.trace if t["error"]]
    assert failed["model"] == "openai/r2" and "InternalServerError" in failed["error"]

    respx_upstream.overrides["r1"] = BOOM  # every refinement fails: below the quorum of 1
    with pytest.raises(litellm_mixture.MembersFailedError, match="0 of 1 required"):
        run(pipeline)


# ---------------------------------------------------------------- rank


def test_rank_keeps_the_judges_top_n_best_first(respx_upstream):
    respx_upstream.overrides["judge"] = "Response 1 has an arithmetic slip.\nFinal ranking: 3, 1"
    pipeline = Pipeline([Propose(THREE), Rank("openai/judge", 2), Aggregate("openai/agg")])
    result = run(pipeline)
    proposals = answers(result, 0)
    (judge,) = respx_upstream.by_model("judge")
    assert system(judge) == DEFAULTS["rank"].replace("{n}", "2") + "".join(
        f"\n{i}. {p}" for i, p in enumerate(proposals, 1)
    )
    assert answers(result, 1) == [proposals[2], proposals[0]]
    assert seen(respx_upstream.by_model("agg")[0]) == ["p3", "p1"]
    assert all(t["note"] is None for t in result.trace)


def test_rank_numbers_the_options_in_mixtchas_layout_too(respx_upstream):
    respx_upstream.overrides["judge"] = "2"
    pipeline = Pipeline(
        [Propose(THREE), Rank("openai/judge", 1), Aggregate("openai/agg")], references="inline"
    )
    result = run(pipeline)
    user = respx_upstream.by_model("judge")[0]["messages"][-1]["content"]
    assert user.startswith(f"What is 2+2?\n\n<option>[1] {answers(result, 0)[0]}</option>")
    assert "<option>[3] " in user and "openai/p1" not in user
    assert answers(result, 1) == [answers(result, 0)[1]]


def test_a_judge_answering_nonsense_keeps_the_first_n_and_says_so(respx_upstream, caplog):
    respx_upstream.overrides["judge"] = "They are all lovely answers."
    pipeline = Pipeline([Propose(THREE), Rank("openai/judge", 2), Aggregate("openai/agg")])
    result = run(pipeline)
    assert answers(result, 1) == answers(result, 0)[:2]
    (entry,) = [t for t in result.trace if t["kind"] == "rank"]
    assert entry["error"] is None
    assert entry["note"].startswith(
        "named 0 of the 2 asked for (among 3 responses) in 'They are all lovely answers.'"
    )
    assert "the judge openai/judge named 0 of the 2 asked for (among 3" in caplog.text

    respx_upstream.overrides["judge"] = "9, 2"  # 9 is no response: the 2 is kept, the rest filled
    result = run(pipeline)
    assert answers(result, 1) == [answers(result, 0)[1], answers(result, 0)[0]]


def test_a_judge_answering_nonsense_fails_the_request_when_told_to(respx_upstream):
    respx_upstream.overrides["judge"] = "No idea."
    pipeline = Pipeline(
        [Propose(THREE), Rank("openai/judge", 2, on_unclear="fail"), Aggregate("openai/agg")]
    )
    with pytest.raises(litellm_mixture.MembersFailedError, match="unclear answer: no response"):
        run(pipeline)
    assert respx_upstream.by_model("agg") == []


def test_a_failing_judge_falls_back_then_fails_typed(respx_upstream):
    respx_upstream.overrides.update({"judge": BOOM, "judge2": "1"})
    rank = Rank("openai/judge", 1, fallbacks=["openai/judge2"])
    result = run(Pipeline([Propose(THREE), rank, Aggregate("openai/agg")]))
    assert answers(result, 1) == answers(result, 0)[:1]
    assert [(t["model"], t["error"] is None) for t in result.trace if t["kind"] == "rank"] == [
        ("openai/judge", False),
        ("openai/judge2", True),
    ]
    with pytest.raises(litellm_mixture.MembersFailedError, match="member openai/judge -> "):
        run(Pipeline([Propose(THREE), Rank("openai/judge", 1), Aggregate("openai/agg")]))


# ---------------------------------------------------------------- vote


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_final_vote_returns_the_chosen_answer_verbatim(respx_upstream, stream):
    respx_upstream.overrides["judge"] = "The consensus is response 2."
    r = complete(
        "{steps: [{propose: [openai/p1, openai/p2, openai/p3]}, {vote: openai/judge}]}",
        stream=stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    )
    if stream:
        chunks = list(r)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = next(c.usage for c in reversed(chunks) if getattr(c, "usage", None))
    else:
        text, usage = r.choices[0].message.content, r.usage
    assert len(respx_upstream.by_model("p2")) == 1
    assert re.fullmatch(r"answer from p2 #\d+", text)
    (judge,) = respx_upstream.by_model("judge")
    assert system(judge).startswith(DEFAULTS["vote"] + "\n1. answer from p1")
    assert usage.total_tokens > 0 and len(respx_upstream.requests) == 4


def test_a_final_vote_refuses_tools_instead_of_ignoring_them(respx_upstream):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(litellm.BadRequestError, match="returns one of the answers verbatim"):
        complete("{steps: [{propose: [openai/p1, openai/p2]}, {vote: openai/judge}]}", tools=tools)
    assert respx_upstream.requests == []


def test_a_vote_with_a_single_answer_left_calls_no_judge(respx_upstream):
    result = run(Pipeline([Propose(["openai/p1"]), Vote("openai/judge")]))
    assert result.content.startswith("answer from p1") and respx_upstream.by_model("judge") == []


# ---------------------------------------------------------------- self-moa-seq


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_self_moa_seq_carries_each_synthesis_into_the_next_window(respx_upstream, stream):
    counter = iter(range(1, 10))
    respx_upstream.overrides["agg"] = lambda body: f"synthesis {next(counter)}"
    members = ", ".join(f"openai/p{i}" for i in range(1, 7))
    doc = f"{{steps: [{{propose: [{members}]}}, {{self-moa-seq: openai/agg, window: 3}}]}}"
    r = complete(doc, stream=stream)
    text = (
        "".join(c.choices[0].delta.content or "" for c in r if c.choices)
        if stream
        else r.choices[0].message.content
    )
    windows = respx_upstream.by_model("agg")
    # 6 answers, 3 per call: p1-p3, then the synthesis + p4 p5, then the synthesis + p6.
    assert [seen(w) for w in windows] == [["p1", "p2", "p3"], ["p4", "p5"], ["p6"]]
    assert system(windows[1]).startswith(f"{TOGETHER_AGGREGATE}\n1. synthesis 1\n2. answer from")
    assert system(windows[2]).startswith(f"{TOGETHER_AGGREGATE}\n1. synthesis 2\n2. answer from")
    assert text == "synthesis 3"
    # The last window is the final call: the caller's stream and contract bind it alone.
    assert [w.get("stream", False) for w in windows] == [False, False, stream]


def test_self_moa_seq_with_few_answers_is_one_aggregate_call(respx_upstream):
    result = run(Pipeline([Propose(THREE), SelfMoaSeq("openai/agg", window=3)]))
    assert len(respx_upstream.by_model("agg")) == 1 and "aggregating 3 references" in result.content
    assert [t["kind"] for t in result.trace][-1] == "self-moa-seq"


def test_a_failed_window_fails_the_request_typed(respx_upstream):
    respx_upstream.overrides["agg"] = BOOM
    members = [f"openai/p{i}" for i in range(1, 6)]
    with pytest.raises(litellm_mixture.MembersFailedError, match="member openai/agg -> "):
        run(Pipeline([Propose(members), SelfMoaSeq("openai/agg", window=2)]))


# ---------------------------------------------------------------- prompts, python-only steps


def test_every_llm_step_takes_temperature_max_tokens_and_a_prompt(respx_upstream):
    respx_upstream.overrides["judge"] = "1"
    pipeline = Pipeline(
        [
            Propose(THREE[:2], temp=0.9, max_tokens=100, prompt="Answer in one line."),
            Rank("openai/judge", 1, temperature=0, prompt="Best {n}? Number only."),
            Aggregate("openai/agg", max_tokens=50, prompt="Combine:"),
        ]
    )
    run(pipeline)
    (p1,) = respx_upstream.by_model("p1")
    assert p1["messages"] == [{"role": "user", "content": "What is 2+2?\n\nAnswer in one line."}]
    assert (p1["temperature"], p1["max_tokens"]) == (0.9, 100)
    (judge,) = respx_upstream.by_model("judge")
    assert system(judge).startswith("Best 1? Number only.\n1. ") and judge["temperature"] == 0
    (agg,) = respx_upstream.by_model("agg")
    assert system(agg).startswith("Combine:\n1. ") and agg["max_tokens"] == 50


def test_python_filter_and_map_take_functions_but_have_no_model_string(respx_upstream):
    pipeline = Pipeline(
        [
            Propose(THREE),
            Filter(lambda text: "p2" not in text),
            Map(lambda text: text.upper()),
            Aggregate("openai/agg"),
        ]
    )
    result = run(pipeline)
    assert [t[:14] for t in answers(result, 2)] == ["ANSWER FROM P1", "ANSWER FROM P3"]
    assert "\n2. ANSWER FROM P3" in system(respx_upstream.by_model("agg")[0])
    with pytest.raises(litellm_mixture.SpecError, match="Python function"):
        encode(pipeline)
    with pytest.raises(litellm_mixture.SpecError, match="only in the Python API"):
        decode("mixture/{steps: [{propose: [a/b]}, map, {aggregate: a/c}]}")


# ---------------------------------------------------------------- the spec forms


def test_the_new_steps_round_trip_through_yaml_and_model_strings():
    text = """
    seed: 3
    steps:
      - propose: [openai/p1, openai/p2, openai/p3, openai/p4]
        temperature: 0.7
      - refine: [openai/r1]
      - rank: openai/judge
        n: 3
        on_unclear: fail
      - take: 2
      - self-moa-seq: openai/agg
        window: 2
        fallbacks: [openai/agg2]
    """
    pipeline = decode("mixture/" + textwrap.dedent(text))
    assert [s.kind for s in pipeline.steps] == ["propose", "refine", "rank", "take", "self-moa-seq"]
    assert pipeline.bounds() == [[1, 1, 1, 1], [4], [1], [], [1, 1]]
    assert decode(encode(pipeline)) == pipeline
    vote = decode("mixture/{steps: [{propose: openai/p1}, {vote: openai/j}]}")
    assert decode(encode(vote)) == vote


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "{steps: [{propose: [a/b]}, {refine: [{model: a/r, samples: 2}]}, {aggregate: a/c}]}",
            "samples must be 1",
        ),
        (
            "{steps: [{propose: [a/b]}, {rank: [a/j, a/k], n: 1}, {aggregate: a/c}]}",
            "exactly one member",
        ),
        ("{steps: [{propose: [a/b]}, {rank: a/j}, {aggregate: a/c}]}", "steps.1.rank.n"),
        ("{steps: [{propose: [a/b]}, {rank: a/j, n: 1}]}", "must end with"),
        (
            "{steps: [{propose: [a/b]}, {self-moa-seq: a/j, window: 1}]}",
            "greater than or equal to 2",
        ),
        ("{steps: [{self-moa-seq: a/j}]}", "self-moa-seq needs a previous step"),
        (
            "{steps: [{propose: [a/b]}, {vote: a/j, on_unclear: guess}, {aggregate: a/c}]}",
            "on_unclear",
        ),
    ],
)
def test_bad_steps_are_spec_errors(text, needle):
    with pytest.raises(litellm_mixture.SpecError, match=re.escape(needle)):
        decode("mixture/" + text)


def test_transforms_have_a_one_line_form():
    pipeline = decode("mixture/a/x*4+b/y>shuffle>dropout=0.2>take=2>c/z")
    assert [s.kind for s in pipeline.steps] == [
        "propose",
        "shuffle",
        "dropout",
        "take",
        "aggregate",
    ]
    assert encode(pipeline) == "mixture/a/x*4+b/y>shuffle>dropout=0.2>take=2>c/z"
    # A model literally named like a transform is escaped, and decodes as a model.
    odd = decode("mixture/a/b>%73huffle>c/d")
    assert odd.steps[1].kind == "synthesize" and encode(odd) == "mixture/a/b>%73huffle>c/d"
    with pytest.raises(litellm_mixture.SpecError, match="goes between two layers"):
        decode("mixture/a/b>c/d>take=1")
    with pytest.raises(litellm_mixture.SpecError, match="less than 1"):
        decode("mixture/a/b>dropout=1.5>c/d")


@pytest.mark.parametrize(
    ("answer", "picks"),
    [
        ("3, 1", [2, 0]),
        ("[3, 1]", [2, 0]),
        ("3 > 1 > 2", [2, 0, 1]),
        ("**3** and **1**", [2, 0]),
        ("1. Response 3\n2. Response 1", [2, 0]),
        ("Response 1 has an error. Response 3 is right.\nFinal ranking: 3, 1", [2, 0]),
        ("Response 2 is the best, then response 1.", [1, 0]),
        ("<think>1 2 3</think>2", [1]),
        ("The best is #3.", [2]),
        ("3, 3, 1", [2, 0]),
        ("9, 7", []),
        ("I cannot decide.", []),
        ("", []),
        (None, []),
    ],
)
def test_a_judges_answer_is_read_as_response_numbers(answer, picks):
    assert read_choice(answer, 3) == picks


def test_run_takes_a_list_of_steps_as_mixture_llm_does(respx_upstream):
    result = run([Propose(THREE, temp=0.7), Aggregate("openai/agg")])
    assert result.content.startswith("answer from agg")
    assert all(r["temperature"] == 0.7 for r in respx_upstream.requests[:3])
    with pytest.raises(litellm_mixture.SpecError, match="aggregate must be the last step"):
        run([Aggregate("openai/agg"), Propose(THREE)])
