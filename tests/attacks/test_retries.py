"""Item 6 of issue 12: retries do not multiply, and max_calls bounds them.

Before: the proxy's Router retried a failed mixture as a whole, on top of every member call's own
retries: a spec of one proposer and an aggregator against an upstream answering 500 made 9
upstream calls where the plain alias makes 3. Now the guard makes the Router run a mixture
once (``num_retries: 0`` on the request), member alias calls keep their own retries, and
``max_calls`` counts upstream requests with those retries included.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.attacks.proxy_helpers import assert_no_secret, chat, escaped

ALWAYS_500 = {"*": {"kind": "500"}}


def failing_calls(http, upstream, cases: dict[str, tuple[str, dict]]) -> dict[str, int]:
    """Sends every case at once against an upstream answering 500 to everything; how many
    upstream calls each made (each asks its own question, which every member call carries)."""
    upstream.configure(fault=ALWAYS_500)
    upstream.clear()

    def send(label: str) -> httpx.Response:
        model, body = cases[label]
        ask = [{"role": "user", "content": f"question {label}"}]
        return http.post("/v1/chat/completions", json={"model": model, "messages": ask, **body})

    with ThreadPoolExecutor(len(cases)) as pool:
        answers = dict(zip(cases, pool.map(send, cases), strict=True))
    for label, answer in answers.items():
        assert answer.status_code >= 500, (label, answer.text)
    asked = [json.dumps(c["request"]["messages"]) for c in upstream.calls()]
    return {label: sum(f"question {label}" in a for a in asked) for label in cases}


def test_a_mixture_makes_no_more_calls_than_its_members_retries(
    attack_http, attack_proxy, upstream_process
):
    spec = "mixture/gpt-4o-mini>gpt-4o"
    calls = failing_calls(
        attack_http,
        upstream_process,
        {
            "alias": ("gpt-4o-mini", {}),
            "spec": (spec, {}),
            "streamed": (spec, {"stream": True}),
            "team-moa": ("team-moa", {}),
        },
    )
    # The Router's default for the alias: one call, two retries. The spec's one proposer fails
    # its three tries, the quorum is lost, and nothing runs again, streamed or not. team-moa:
    # three proposers, three tries each, no aggregator.
    assert calls == {"alias": 3, "spec": 3, "streamed": 3, "team-moa": 9}, calls
    print(f"\nupstream calls against an upstream failing every call: {calls}")


def test_max_calls_counts_each_member_calls_retries(attack_http, attack_proxy, upstream_process):
    # 17 member calls x 3 tries = 51 > 48: refused before any call.
    over = chat(attack_http, "mixture/gpt-4o-mini*8>deepseek-chat*8>gpt-4o")
    assert over.status_code == 400
    message = over.json()["error"]["message"]
    assert "rule 'max_calls'" in message and "up to 51 upstream requests" in message, message
    assert upstream_process.calls() == []
    # 16 member calls x 3 = 48: allowed, and when every call fails the upstream sees no more.
    at_bound = "mixture/gpt-4o-mini*8>deepseek-chat*7>gpt-4o"
    calls = failing_calls(attack_http, upstream_process, {"at-bound": (at_bound, {})})
    assert calls["at-bound"] <= 48
    print(f"\nupstream calls of a spec counted at 48 when every call fails: {calls}")
    assert_no_secret(attack_proxy, over.content)


def test_a_specs_own_retries_count_too(attack_http, attack_proxy, upstream_process):
    # A nested spec that retries its calls itself, 4 times (its calls get no Router or SDK
    # retries then): 8 samples x 5 + its aggregator 5 = 45, + the outer aggregator's 3.
    proposer = "{model: gpt-4o-mini, samples: 8}"
    inner = f"{{steps: [{{propose: [{proposer}]}}, {{aggregate: gpt-4o}}], retries: 4}}"
    at_bound = f"mixture/mixture/{escaped(inner)}>gpt-4o"
    answer = chat(attack_http, at_bound)
    assert answer.status_code == 200, answer.text
    assert len(upstream_process.calls()) == 10  # no failure: no retry ran
    # One more alias proposer beside it: 48 + 3 = 51 > 48.
    over = chat(attack_http, f"mixture/mixture/{escaped(inner)}+deepseek-chat>gpt-4o")
    assert over.status_code == 400
    assert "up to 51 upstream requests" in over.json()["error"]["message"], over.text
    assert len(upstream_process.calls()) == 10
    assert_no_secret(attack_proxy, answer.content, over.content)
