"""The engine asks its host about models (``engine.Facts``): what a call costs, whether a prompt
fits, whether a model takes a prefill, what a call may cost at worst. A fake host answers here;
nothing patches litellm."""

from __future__ import annotations

import asyncio
import dataclasses

import litellm
import pytest

from litellm_mixture import decode
from litellm_mixture.engine import LITELLM_FACTS, Facts, Run
from litellm_mixture.engine.early import _continued
from litellm_mixture.errors import MembersContextWindowError
from litellm_mixture.provider.host import IN_PROCESS

ASK = [{"role": "user", "content": "q"}]
SPEC = "mixture/host/a*2>host/agg"


def _reply(text: str) -> litellm.ModelResponse:
    return litellm.ModelResponse(
        choices=[{"message": {"role": "assistant", "content": text}}],
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )


async def _caller(model, messages, **kwargs):
    await asyncio.sleep(0)  # in flight: the step's other calls start meanwhile
    return _reply(f"from {model}")


class FakeFacts:
    """A host's model facts, recording what the engine asked."""

    def __init__(self, *, window: str | None = None, worst: float = 0.0, price: float = 1) -> None:
        self.asked: list[tuple[str, str]] = []
        self.window, self.worst_cost, self.price = window, worst, price

    def facts(self) -> Facts:
        return Facts(
            cost=self.cost, past_window=self.past_window, prefills=self.prefills, worst=self.worst
        )

    def cost(self, model, prompt_tokens, completion_tokens):
        self.asked.append(("cost", model))
        return self.price * (0.5 * prompt_tokens + completion_tokens)

    def past_window(self, model, messages, tools=None):
        self.asked.append(("window", model))
        return self.window if model == "host/a" else None

    def prefills(self, model):
        self.asked.append(("prefills", model))
        return model == "host/agg"

    def worst(self, model, messages, max_tokens):
        self.asked.append(("worst", model))
        return self.worst_cost


def _run(facts: Facts, **kwargs) -> Run:
    execution = Run(decode(SPEC), ASK, caller=_caller, facts=facts, **kwargs)
    asyncio.run(execution.complete())
    return execution


def test_calls_are_billed_and_windowed_at_the_hosts_facts():
    fake = FakeFacts()
    record = _run(fake.facts()).record()
    assert record.usage.cost == 3 * (0.5 * 3 + 2)  # every call priced by the host, none by litellm
    assert {m for k, m in fake.asked if k == "window"} == {"host/a", "host/agg"}
    assert {m for k, m in fake.asked if k == "cost"} == {"host/a", "host/agg"}


def test_a_prompt_the_host_says_cannot_fit_is_refused_before_its_call():
    fake, called = FakeFacts(window="host/a's prompt is past its window"), []

    async def caller(model, messages, **kwargs):
        called.append(model)
        return _reply("never")

    execution = Run(decode(SPEC), ASK, caller=caller, facts=fake.facts())
    with pytest.raises(MembersContextWindowError, match="past its window"):
        asyncio.run(execution.complete())
    assert called == []


def test_the_budget_prices_calls_at_the_hosts_worst_case_when_no_pricer_is_given():
    fake = FakeFacts(worst=0.6, price=0)
    record = _run(fake.facts(), max_cost=1.0).record()
    assert {m for k, m in fake.asked if k == "worst"} == {"host/a", "host/agg"}
    # The two proposals start at once: the second could take the run past $1, the aggregator not.
    held_out = [e.model for e in record.trace if e.error and "max_cost" in e.error]
    assert held_out == ["host/a"]


def test_a_later_segment_continues_as_a_prefill_only_where_the_host_says_so():
    ctx = Run(decode(SPEC), ASK, caller=_caller, facts=FakeFacts().facts()).context
    as_prefill = _continued(ctx, ASK, "host/agg", "so far")
    assert as_prefill[-1] == {"role": "assistant", "content": "so far"}
    restated = _continued(ctx, ASK, "host/a", "so far")
    assert restated[-2]["role"] == "assistant" and restated[-1]["role"] == "user"


def test_the_in_process_host_answers_from_litellm_and_a_test_host_replaces_it():
    assert IN_PROCESS.facts is LITELLM_FACTS
    assert LITELLM_FACTS.prefills("deepseek/deepseek-chat")  # litellm: supports_assistant_prefill
    assert not LITELLM_FACTS.prefills("openai/gpt-4o-mini")
    fake = dataclasses.replace(IN_PROCESS, facts=FakeFacts().facts())
    assert fake.facts.prefills("host/agg") and fake.caller is IN_PROCESS.caller
