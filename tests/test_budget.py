"""max_cost while the run goes, against the fake upstream process (what it billed, at litellm's
prices, is the ground truth): no call starts that could take the run past its budget; the run
finishes with what it has, or fails with a typed error that says the budget was reached."""

import asyncio

import pytest

import litellm_mixture
from litellm_mixture import decode
from litellm_mixture.engine import Run
from litellm_mixture.engine.budget import litellm_prices
from tests.helpers import billed

ASK = [{"role": "user", "content": "Name a prime number."}]
MINI, BIG = "openai/gpt-4o-mini", "openai/gpt-4o"


def spec(best_proposal: bool) -> str:
    return (
        f"{{steps: [{{propose: [{MINI}, {MINI}, {MINI}], max_tokens: 100}},"
        f" {{aggregate: {BIG}, max_tokens: 100, best_proposal: {str(best_proposal).lower()}}}]}}"
    )


def proposer_worst() -> float:
    return litellm_prices(MINI, ASK, 100)


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
