"""Mixtures and LiteLLM's response cache, in-process (a local cache; tests/test_fleet.py does it
across proxies sharing Redis): a repeat is answered whole for nothing, samples stay samples,
and a mixture's own params are in its key."""

import litellm
import pytest
from litellm.caching.caching import Cache

from tests.helpers import complete

A3_B = "openai/gpt-4o-mini*3>openai/gpt-4o"
A3_C = "openai/gpt-4o-mini*3>openai/gpt-4.1"
A2_B = "openai/gpt-4o-mini*2>openai/gpt-4o"


@pytest.fixture
def cached(respx_upstream, monkeypatch, litellm_restored):
    monkeypatch.setattr(litellm, "cache", Cache(type="local"))
    return respx_upstream


def proposals(response) -> list[str]:
    return [r["text"] for r in response.intermediate_responses[0]["responses"]]


def test_a_repeated_mixture_is_answered_whole_from_the_cache_for_nothing(cached):
    first = complete(A3_B)
    assert len(cached.requests) == 4 and litellm.completion_cost(first) > 0
    again = complete(A3_B)
    assert len(cached.requests) == 4
    assert again.choices[0].message.content == first.choices[0].message.content
    assert again._hidden_params.get("cache_hit")
    assert litellm.completion_cost(again) == 0


def test_samples_are_their_own_cache_entries(cached):
    complete(A3_B)
    other = complete(A3_C, intermediate_responses=True)
    # The samples come from the cache (one call, the new aggregator's), three different answers.
    assert [r["model"] for r in cached.requests[4:]] == ["gpt-4.1"]
    assert len(set(proposals(other))) == 3
    # A member answered by the cache cost nothing in the run's sum.
    assert other.intermediate_responses[0]["responses"][0]["cost"] == 0


def test_the_mixture_params_are_in_the_key(cached):
    estimate = complete(A2_B, estimate_only=True)
    assert not cached.requests and "estimate" in estimate.choices[0].message.content
    answer = complete(A2_B)
    assert answer.choices[0].message.content.startswith("answer from gpt-4o")
    shown = complete(A2_B, intermediate_responses=True)
    assert len(proposals(shown)) == 2
    assert complete(A2_B, max_cost=1.0).id != answer.id
    assert complete(A2_B).id == answer.id


def test_without_a_cache_member_calls_carry_no_cache_control():
    from litellm_mixture.engine import TraceEntry
    from litellm_mixture.engine.cache_keys import member_cache

    assert member_cache(TraceEntry(0, "propose", "a", sample=2), None) is None
