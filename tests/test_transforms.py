"""Transform steps (shuffle, dropout, sample, take, filter): what the next step sees, seeded."""

import asyncio
import re

import litellm
import pytest

import litellm_mixture
from litellm_mixture import Aggregate, Dropout, Filter, Pipeline, Propose, Shuffle, Take, encode
from tests.helpers import complete

PROPOSERS = "[openai/p1, openai/p2, openai/p3, openai/p4, openai/p5]"


def seen(respx_upstream):
    """The proposers whose answers the aggregator saw, in the order it saw them."""
    (agg,) = respx_upstream.by_model("agg")
    system = agg["messages"][0]["content"].split("Responses from models:")[1]
    return re.findall(r"answer from (p\d)", system)


def spec(*transforms, seed=None):
    steps = ", ".join([f"{{propose: {PROPOSERS}}}", *transforms, "{aggregate: openai/agg}"])
    return "{" + (f"seed: {seed}, " if seed is not None else "") + f"steps: [{steps}]}}"


def test_shuffle_reorders_and_a_seed_repeats_the_order(respx_upstream):
    orders = []
    for _ in range(2):
        respx_upstream.requests.clear()
        complete(spec("shuffle", seed=5))
        orders.append(seen(respx_upstream))
    assert orders[0] == orders[1]
    assert sorted(orders[0]) == ["p1", "p2", "p3", "p4", "p5"]
    assert orders[0] != ["p1", "p2", "p3", "p4", "p5"]  # seed 5 does move them


def test_dropout_drops_reproducibly_and_keeps_at_least_one(respx_upstream):
    kept = []
    for _ in range(2):
        respx_upstream.requests.clear()
        complete(spec("{dropout: 0.5}", seed=1))
        kept.append(seen(respx_upstream))
    assert kept[0] == kept[1] and 0 < len(kept[0]) < 5
    respx_upstream.requests.clear()
    complete(spec("{dropout: 0.99}", seed=2))
    assert len(seen(respx_upstream)) == 1


def test_sample_and_take(respx_upstream):
    complete(spec("{sample: 2}", seed=3))
    assert len(seen(respx_upstream)) == 2
    respx_upstream.requests.clear()
    complete(spec("{take: 2}"))
    assert seen(respx_upstream) == ["p1", "p2"]


def test_filter_keeps_matching_answers_and_fails_clearly_when_none_is_left(respx_upstream):
    respx_upstream.overrides = {"p2": "I am sorry, I cannot help", "p4": "ok"}
    complete(spec("{filter: {min_length: 5, must_not_match: '(?i)sorry'}}"))
    assert seen(respx_upstream) == ["p1", "p3", "p5"]
    with pytest.raises(litellm_mixture.MembersFailedError, match="kept none of the answers"):
        complete(spec("{filter: {must_match: '^never$'}}"))


def test_the_python_api_builds_and_encodes_the_same_pipelines(respx_upstream):
    pipeline = Pipeline(
        [
            Propose([f"openai/p{i}" for i in range(1, 6)]),
            Shuffle(),
            Dropout(0.2),
            Take(3),
            Filter(min_length=1),
            Aggregate("openai/agg"),
        ],
        seed=11,
    )
    model = encode(pipeline)
    assert litellm_mixture.decode(model) == pipeline
    r = litellm.completion(model=model, messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content.startswith("answer from agg")
    assert len(seen(respx_upstream)) <= 3


def test_robust_moa_preset_shuffles_and_drops_before_aggregating():
    steps = litellm_mixture.decode("mixture/robust-moa").steps
    assert [s.kind for s in steps] == ["propose", "shuffle", "dropout", "aggregate"]
    assert steps[2].rate == 0.2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{steps: [shuffle, {aggregate: a/b}]}", "shuffle needs a previous step"),
        ("{steps: [{propose: [a/b]}, {take: 0}, {aggregate: c/d}]}", "greater than or equal to 1"),
        ("{steps: [{propose: [a/b]}, {filter: {must_match: '('}}, {aggregate: c/d}]}", "regular"),
        ("{steps: [{propose: [a/b]}, {shuffle: 3}, {aggregate: c/d}]}", "takes a mapping"),
        (
            "{steps: [{propose: [a/b]}, {filter: {must_match: '((x?){1000}(x?){1000})!'}}, "
            "{aggregate: c/d}]}",
            "pattern too complex",
        ),
    ],
)
def test_bad_transforms_are_spec_errors(text, needle):
    with pytest.raises(litellm_mixture.SpecError, match=needle):
        litellm_mixture.decode("mixture/" + text)


def test_run_returns_the_answer_usage_and_what_each_step_passed_on(respx_upstream):
    pipeline = Pipeline(
        [Propose(["openai/p1", "openai/p2", "openai/p3"]), Take(2), Aggregate("openai/agg")]
    )
    result = asyncio.run(litellm_mixture.run(pipeline, "What is 2+2?"))
    assert result.content.startswith("answer from agg") and result.finish_reason == "stop"
    assert [(h.step, h.kind, len(h.answers)) for h in result.history] == [
        (0, "propose", 3),
        (1, "take", 2),
    ]
    assert [model for model, _ in result.history[1].answers] == ["openai/p1", "openai/p2"]
    assert respx_upstream.by_model("p1")[0]["messages"] == [
        {"role": "user", "content": "What is 2+2?"}
    ]
    assert result.usage["total_tokens"] == sum(
        t["prompt_tokens"] + t["completion_tokens"] for t in result.trace
    )
    same = asyncio.run(litellm_mixture.run(encode(pipeline), [{"role": "user", "content": "hi"}]))
    assert len(same.history) == 2


def test_a_pattern_searches_an_answers_first_characters_only():
    from litellm_mixture.spec.transforms import MATCHED, search

    assert search("(end)", "x" * (MATCHED - 3) + "end") is not None
    assert search("(end)", "x" * MATCHED + "end") is None
