"""The estimate before a run, estimate_only, and max_cost refused before any call.

Ground truth is what the fake upstream billed, at litellm's prices (openai/gpt-4o-mini and
openai/gpt-4o are in its local price map). The fake here answers like a provider that honours
max_tokens: each answer is a random number of words up to the request's max_tokens, each word
" tok" (one token, four characters: the fake counts a prompt as characters // 4 + 1, so a
reference read back costs what it cost to write).
"""

import asyncio
import json
import random

import httpx
import litellm
import pytest

import litellm_mixture
from litellm_mixture import BudgetError, MixtureError, ParamError, Policy, set_policy
from litellm_mixture.common import retry
from litellm_mixture.pricing import estimates
from litellm_mixture.spec import decode, encode, pipeline_from_document
from tests.fake_upstream import completion, reply_for
from tests.helpers import ASK

MINI, BIG = "openai/gpt-4o-mini", "openai/gpt-4o"
QUESTION = [{"role": "user", "content": "Explain in detail why the sky is blue at noon."}]


class Provider:
    """A respx_upstream override: answers of seeded random length up to max_tokens, a share of
    calls failing with a 500; records what each successful call billed."""

    def __init__(self, seed: int, fail_rate: float = 0.0, words: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.fail_rate, self.words = fail_rate, words
        self.billed: list[tuple[str, int, int]] = []

    def __call__(self, body: dict) -> httpx.Response:
        if self.rng.random() < self.fail_rate:
            return httpx.Response(500, json={"error": {"message": "fake 500", "type": "fake"}})
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or 4096
        words = min(self.words, cap) if self.words is not None else self.rng.randint(1, cap)
        reply = reply_for(body)
        reply["message"] = {"role": "assistant", "content": "tok" + " tok" * (words - 1)}
        usage = reply["usage"]
        usage["completion_tokens"] = words
        usage["total_tokens"] = usage["prompt_tokens"] + words
        self.billed.append((body["model"], usage["prompt_tokens"], words))
        return httpx.Response(200, json=completion(body, reply))

    def spend(self) -> float:
        return sum(
            sum(litellm.cost_per_token(model=m, prompt_tokens=p, completion_tokens=c))
            for m, p, c in self.billed
        )


def serve(respx_upstream, provider: Provider) -> None:
    for model in ("gpt-4o-mini", "gpt-4o"):
        respx_upstream.overrides[model] = provider


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Retries at once: the spend, not the time, is under test."""
    monkeypatch.setattr(retry, "FIRST_WAIT", 0.0)


# Retries, fallbacks, a judge, a refine and a windowed aggregator: every kind of call.
PIPELINES = {
    "propose>aggregate, fallback": {
        "retries": 2,
        "steps": [
            {"propose": [{"model": MINI, "samples": 3}, BIG], "max_tokens": 60},
            {"aggregate": BIG, "fallbacks": [MINI], "max_tokens": 80},
        ],
    },
    "propose>rank>refine>aggregate": {
        "retries": 1,
        "steps": [
            {"propose": [{"model": MINI, "samples": 4}], "max_tokens": 50},
            {"rank": BIG, "n": 2, "fallbacks": [MINI], "max_tokens": 10},
            {"refine": [MINI], "max_tokens": 70},
            {"aggregate": BIG, "max_tokens": 90},
        ],
    },
    "propose>self-moa-seq": {
        "retries": 2,
        "steps": [
            {"propose": [{"model": MINI, "samples": 5}], "max_tokens": 40},
            {"self-moa-seq": BIG, "window": 3, "fallbacks": [MINI], "max_tokens": 60},
        ],
    },
}
RUNS = [(seed, rate) for seed in range(4) for rate in (0.0, 0.3, 0.6)]


def _run(pipeline, provider: Provider) -> None:
    try:
        asyncio.run(litellm_mixture.run(pipeline, QUESTION))
    except MixtureError:
        pass  # a run whose members all failed still billed what they answered


def test_the_worst_case_bounds_the_billed_spend_and_the_likely_case_is_near_it(
    respx_upstream, capsys
):
    rows = []
    for name, doc in PIPELINES.items():
        pipeline = pipeline_from_document(doc)
        found = litellm_mixture.estimate(pipeline, QUESTION, expected_tokens=30)
        assert found.complete and found.unpriced == () and found.unbounded == ()
        spends = []
        for seed, rate in RUNS:
            provider = Provider(seed, rate)
            serve(respx_upstream, provider)
            _run(pipeline, provider)
            spends.append(provider.spend())
        assert max(spends) <= found.worst, (name, spends, found.worst)
        rows.append((name, found.worst, found.likely, min(spends), max(spends)))
    with capsys.disabled():
        print("\nestimate vs billed spend, 12 runs each (fail rate 0, 0.3, 0.6; random lengths)")
        print(f"{'pipeline':<32}{'worst':>12}{'likely@30':>12}{'min':>12}{'max':>12}")
        for name, worst, likely, low, high in rows:
            print(f"{name:<32}{worst:>12.6f}{likely:>12.6f}{low:>12.6f}{high:>12.6f}")


LIKELY_TOLERANCE = 0.15


@pytest.mark.parametrize("name", list(PIPELINES))
def test_the_likely_case_matches_a_run_whose_answers_have_the_expected_length(
    respx_upstream, name, capsys
):
    """Nothing fails and every answer is 25 tokens (or its max_tokens): the likely case at
    expected_tokens=25 is within 15% of the billed spend (the fake counts prompts by
    characters, litellm by tokens)."""
    pipeline = pipeline_from_document(PIPELINES[name])
    provider = Provider(0, words=25)
    serve(respx_upstream, provider)
    asyncio.run(litellm_mixture.run(pipeline, QUESTION))
    found = litellm_mixture.estimate(pipeline, QUESTION, expected_tokens=25)
    actual = provider.spend()
    with capsys.disabled():
        print(f"\n{name}: likely {found.likely:.6f}, billed {actual:.6f}")
    assert found.likely == pytest.approx(actual, rel=LIKELY_TOLERANCE)
    assert found.calls == len(provider.billed)


def test_calls_and_requests_count_samples_retries_fallbacks_and_nested_mixtures():
    doc = {
        "retries": 1,
        "steps": [
            {
                "propose": [
                    {"model": MINI, "samples": 3},
                    "mixture/openai/gpt-4o-mini*2>openai/gpt-4o",
                ]
            },
            {"aggregate": BIG, "fallbacks": [MINI], "max_tokens": 100},
        ],
    }
    found = litellm_mixture.estimate(pipeline_from_document(doc), "Hi")
    propose, aggregate = found.steps
    # Spec retries are exact (no SDK retries): 2 requests a call. The nested mixture, called
    # twice (retried), makes its own 3 calls, each with the SDK's 3 attempts. Its calls count
    # as its own 3 member calls, as validate and explain count them.
    assert (propose.calls, propose.requests) == (3 + 3, 3 * 2 + 2 * 9)
    assert (aggregate.calls, aggregate.requests) == (1, 2 + 2)
    assert found.calls == 7 and found.requests == 28
    # The final step writes 100 tokens at most; each of its 4 requests reads 4 references as
    # long as their writers' models allow (gpt-4o-mini and, for the nested mixture's answer,
    # gpt-4o: 16384 tokens each).
    refs = 4 * 16384
    assert aggregate.worst == pytest.approx(
        2 * estimates.prices.worst_call_cost(BIG, refs, 100)
        + 2 * estimates.prices.worst_call_cost(MINI, refs, 100),
        rel=0.01,  # the prompt's own tokens
    )


def test_unknown_prices_and_unbounded_answers_are_named_not_guessed():
    found = litellm_mixture.estimate(
        "mixture/openai/not-a-model*2+openai/gpt-4o-mini>openai/gpt-4o"
    )
    assert found.unpriced == ("openai/not-a-model",)
    assert found.unbounded == ("openai/not-a-model",)
    assert not found.complete
    assert found.worst > 0 and "worst at least $" in found.summary()
    assert "no price in litellm's map, left out: openai/not-a-model" in found.table()


def test_max_cost_of_the_request_refuses_before_any_call(respx_upstream):
    with pytest.raises(BudgetError) as refused:
        litellm.completion(model=f"mixture/{MINI}*3>{BIG}", messages=ASK, max_cost=0.01)
    assert respx_upstream.requests == []
    error = refused.value
    assert isinstance(error, litellm.BadRequestError) and error.status_code == 400
    assert error.max_cost == 0.01 and error.source == "the request's max_cost"
    assert "the worst case $" in error.message and "exceeds it" in error.message
    assert f"worst ${error.estimate.worst:.6f}, likely ${error.estimate.likely:.6f}; 4 calls" in (
        error.message
    )


def test_max_cost_of_the_spec_refuses_and_the_lowest_budget_wins(respx_upstream):
    spec = encode(pipeline_from_document({"steps": [{"aggregate": BIG}], "max_cost": 0.001}))
    assert spec.startswith("mixture/{")  # no one-line form: the key is kept
    assert decode(spec).max_cost == 0.001
    with pytest.raises(BudgetError, match="the spec's max_cost"):
        litellm.completion(model=spec, messages=ASK, max_cost=5.0)
    assert respx_upstream.requests == []


def test_a_budget_that_holds_runs_and_reaches_the_run_never_the_members(
    respx_upstream, monkeypatch
):
    from litellm_mixture.provider import llm as provider

    seen = []

    class Spy(provider.Run):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(self.context.max_cost)

    monkeypatch.setattr(provider, "Run", Spy)
    answer = litellm.completion(
        model=f"mixture/{MINI}*2>{MINI}", messages=ASK, max_cost=5.0, max_tokens=50
    )
    assert answer.choices[0].message.content and seen == [5.0]
    assert len(respx_upstream.requests) == 3
    for body in respx_upstream.requests:
        assert "max_cost" not in body and "estimate_only" not in body


def test_the_policy_rule_refuses_a_client_spec_over_budget(respx_upstream):
    set_policy(Policy(allow_members=("openai/*",), max_cost=0.05))
    with pytest.raises(BudgetError) as refused:
        litellm.completion(model=f"mixture/{MINI}*2>{BIG}", messages=ASK, max_cost=10.0)
    assert "the policy's rule max_cost" in refused.value.message
    # Under the policy's max_tokens (4096) the same spec fits a budget of $1.
    set_policy(Policy(allow_members=("openai/*",), max_cost=1.0))
    litellm.completion(model=f"mixture/{MINI}*2>{BIG}", messages=ASK)
    assert len(respx_upstream.requests) == 3


def test_a_model_without_a_price_cannot_be_run_under_a_budget(respx_upstream):
    with pytest.raises(BudgetError, match=r"cannot be bounded .*openai/not-a-model"):
        litellm.completion(
            model="mixture/openai/not-a-model>openai/gpt-4o", messages=ASK, max_cost=9.0
        )
    assert respx_upstream.requests == []


@pytest.mark.parametrize(
    "params",
    [{"max_cost": -1}, {"max_cost": "1"}, {"max_cost": float("nan")}, {"estimate_only": "yes"}],
)
def test_the_budget_params_are_typed(respx_upstream, params):
    with pytest.raises(ParamError):
        litellm.completion(model=f"mixture/{MINI}>{BIG}", messages=ASK, **params)
    assert respx_upstream.requests == []


def test_estimate_only_answers_with_the_estimate_and_calls_nobody(respx_upstream):
    model = f"mixture/{MINI}*3>{BIG}"
    answer = litellm.completion(model=model, messages=ASK, estimate_only=True)
    expected = litellm_mixture.estimate(model, ASK)
    assert answer.mixture_estimate == expected.model_dump()
    assert answer.choices[0].message.content == expected.table()
    assert answer.usage.total_tokens == 0 and litellm.completion_cost(answer) == 0.0
    stream = litellm.completion(model=model, messages=ASK, estimate_only=True, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.table()
    carried = [c.mixture_estimate for c in chunks if getattr(c, "mixture_estimate", None)]
    assert carried == [expected.model_dump()]
    assert respx_upstream.requests == []


def test_the_estimate_is_json_with_its_totals():
    found = litellm_mixture.estimate(f"mixture/{MINI}*2>{BIG}", "Hi", max_tokens=100)
    dumped = json.loads(found.model_dump_json())
    assert dumped["calls"] == 3 and dumped["requests"] == 9 and dumped["complete"] is True
    assert dumped["worst"] == pytest.approx(sum(s["worst"] for s in dumped["steps"]))
    assert [s["kind"] for s in dumped["steps"]] == ["propose", "aggregate"]


def test_the_summary_has_the_cost_of_each_step(respx_upstream):
    from litellm_mixture import Run
    from litellm_mixture.observe import report

    execution = Run(decode(f"mixture/{MINI}*2>{BIG}"), ASK)
    asyncio.run(execution.complete())
    record = execution.record()
    steps = report.summary(record, 1.0)["steps"]
    assert [(s["kind"], s["calls"]) for s in steps] == [("propose", 2), ("aggregate", 1)]
    assert sum(s["cost"] for s in steps) == pytest.approx(record.usage.cost)
    assert steps[1]["cost"] == pytest.approx(record.trace[-1].cost)


def test_a_huge_prompt_is_bounded_by_its_bytes_not_tokenized(monkeypatch):
    from litellm_mixture.pricing import prices

    counted = []
    monkeypatch.setattr(litellm, "token_counter", lambda **kwargs: counted.append(kwargs) or 0)
    huge = [{"role": "user", "content": "word " * 20_000}]  # 100 KB
    assert prices.prompt_tokens(huge) >= 100_000 and counted == []
    prices.prompt_tokens([{"role": "user", "content": "hi"}])
    assert len(counted) == 1


def test_an_estimate_past_the_nesting_limit_is_refused_as_a_run_would_be():
    deep = decode("mixture/" + "mixture/" * 9 + "openai/gpt-4o-mini")
    with pytest.raises(litellm_mixture.SpecError, match="nested more than 8 deep"):
        estimates.estimate(deep, [{"role": "user", "content": "hi"}])
