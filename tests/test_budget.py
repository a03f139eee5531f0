"""max_cost while the run goes, against the fake upstream process (what it billed, at litellm's
prices, is the ground truth): no call starts that could take the run past its budget; the run
finishes with what it has, or fails with a typed error that says the budget was reached."""

import asyncio

import litellm
import pytest

import litellm_mixture
from litellm_mixture import decode
from litellm_mixture.engine import Run
from litellm_mixture.pricing.prices import worst_cost
from tests.helpers import billed

ASK = [{"role": "user", "content": "Name a prime number."}]
MINI, BIG = "openai/gpt-4o-mini", "openai/gpt-4o"


def spec(best_proposal: bool) -> str:
    return (
        f"{{steps: [{{propose: [{MINI}, {MINI}, {MINI}], max_tokens: 100}},"
        f" {{aggregate: {BIG}, max_tokens: 100, best_proposal: {str(best_proposal).lower()}}}]}}"
    )


def proposer_worst() -> float:
    return worst_cost(MINI, ASK, 100)


def run(text: str, max_cost: float):
    execution = Run(decode("mixture/" + text), ASK, max_cost=max_cost)
    try:
        return asyncio.run(execution.complete()), execution.record()
    except litellm_mixture.MixtureError as e:
        e.record = execution.record()
        raise


def test_calls_that_could_pass_the_budget_are_not_started_and_the_run_ends_with_what_it_has(
    served,
):
    budget = 2.5 * proposer_worst()  # room for two proposers in flight, never three
    outcome, record = run(spec(best_proposal=True), budget)
    started = [e for e in record.trace if not (e.error or "").startswith("not started")]
    skipped = [e for e in record.trace if (e.error or "").startswith("not started")]
    assert [e.model for e in started] == [MINI, MINI]
    assert [(e.step, e.model) for e in skipped] == [(0, MINI), (1, BIG)]
    assert "max_cost=$" in skipped[0].error and "held by calls in flight" in skipped[0].error
    assert outcome.content.startswith("answer from gpt-4o-mini")  # the best proposal
    _, _, spent = billed(served)
    assert len(served.calls()) == 2 and 0 < spent <= budget
    assert record.usage.cost == pytest.approx(spent, rel=1e-6)


def test_a_step_short_of_its_members_for_the_budget_fails_saying_so(served):
    budget = 2.5 * proposer_worst()
    with pytest.raises(litellm_mixture.MembersOverBudgetError, match="not started: max_cost") as e:
        run(spec(best_proposal=False), budget)
    assert e.value.status_code == 400
    _, _, spent = billed(served)
    assert spent <= budget


def test_a_budget_with_room_for_everything_changes_nothing(served):
    outcome, record = run(spec(best_proposal=False), 1.0)
    assert outcome.content.startswith("answer from gpt-4o ")
    assert len(record.trace) == 4 and all(e.ok for e in record.trace)


def test_no_call_starts_that_cannot_be_bounded(served):
    unpriced = "{steps: [{propose: [openai/not-a-priced-model]}, {aggregate: openai/gpt-4o}]}"
    with pytest.raises(litellm_mixture.MembersOverBudgetError, match="cannot be bounded"):
        run(unpriced, 1.0)
    assert served.calls() == []


def test_an_empty_price_entry_is_no_price_and_an_explicit_zero_is_a_price(monkeypatch):
    from litellm_mixture.pricing import prices

    # The Router registers an entry like the first for every deployment litellm cannot price.
    entries = {
        "openai/unpriced-local": {"litellm_provider": "openai"},
        "openai/free-local": {"input_cost_per_token": 0, "output_cost_per_token": 0},
    }
    monkeypatch.setattr(litellm, "model_cost", {**litellm.model_cost, **entries})
    assert prices.cost("openai/unpriced-local", 10, 10) is None
    assert prices.worst_call_cost("openai/unpriced-local", 10, 100) is None
    assert prices.cost("openai/free-local", 10, 10) == 0.0


def test_images_are_counted_at_a_fixed_bound_never_fetched(monkeypatch):
    from litellm.litellm_core_utils import token_counter

    from litellm_mixture.pricing import prices

    fetched = []
    monkeypatch.setattr(
        token_counter, "get_image_dimensions", lambda data: fetched.append(data) or (512, 512)
    )
    image = {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.png", "detail": "high"},
    }
    counted = prices.prompt_tokens([{"role": "user", "content": [image] * 3}])
    assert counted >= 3 * 85 and fetched == []  # litellm's default count for an image


def test_a_nested_mixtures_running_price_is_capped_by_the_calls_max_tokens():
    from litellm_mixture.pricing import estimates

    pricer = estimates.in_process_pricer()
    nested = f"mixture/{MINI}>{MINI}"
    capped, whole = pricer(nested, ASK, 10), pricer(nested, ASK, None)
    assert capped is not None and whole is not None and capped < whole
