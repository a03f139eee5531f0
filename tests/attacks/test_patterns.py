"""Item 2 of issue 12: a client's regular expression cannot block the proxy's event loop.

Before: a ``filter`` with ``must_not_match: '(a+)+$'``, reachable under the default policy
through a nested spec, froze the proxy for seconds on a short answer (catastrophic
backtracking in Python's ``re``). Spec patterns now run on RE2, in linear time; a pattern RE2
cannot run (backreferences, lookaround) is refused before any member call.
"""

from __future__ import annotations

import threading

from tests.attacks.proxy_helpers import (
    assert_no_secret,
    chat,
    escaped,
    liveness_seconds,
    rss_mib,
)

# Python's re takes ~2^40 steps for (a+)+$ on this: hours.
PATHOLOGICAL_ANSWER = "a" * 40 + "!"
LIVENESS_SECONDS = 0.5  # generous, on a shared 2-core machine; idle it answers in milliseconds
RSS_GROWTH_MIB = 40


def filtered(pattern: str) -> str:
    """A client spec whose aggregator is a nested inline spec filtering with ``pattern``."""
    inner = (
        "{steps: [{propose: [gpt-4o-mini]}, "
        f"{{filter: {{must_not_match: '{pattern}'}}}}, {{aggregate: gpt-4o}}]}}"
    )
    return f"mixture/gpt-4o-mini>mixture/{escaped(inner)}"


def test_a_catastrophic_pattern_runs_in_linear_time_while_the_proxy_stays_live(
    attack_http, attack_proxy, upstream_process
):
    assert chat(attack_http, filtered("(a+)+$")).status_code == 200  # warm-up: first imports
    upstream_process.configure(reply={"gpt-4o-mini": PATHOLOGICAL_ANSWER})
    upstream_process.clear()
    before = rss_mib(attack_proxy.pid)
    answers, latencies = [], []
    requests = [
        threading.Thread(target=lambda: answers.append(chat(attack_http, filtered("(a+)+$"))))
        for _ in range(5)
    ]
    for thread in requests:
        thread.start()
    while any(thread.is_alive() for thread in requests):
        latencies.append(liveness_seconds(attack_proxy))
    for thread in requests:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert max(latencies) < LIVENESS_SECONDS, latencies
    assert rss_mib(attack_proxy.pid) - before < RSS_GROWTH_MIB
    # Each run: the outer proposer, the nested proposer (kept by the filter), the aggregator.
    models = sorted(c["request"]["model"] for c in upstream_process.calls())
    assert models == ["gpt-4o"] * 5 + ["gpt-4o-mini"] * 10
    assert_no_secret(attack_proxy, *(a.content for a in answers))
    print(f"\nliveness max {max(latencies):.3f}s over {len(latencies)} probes")


def test_a_pattern_re2_cannot_run_is_refused_before_any_call(
    attack_http, attack_proxy, upstream_process
):
    for pattern in (r"(a)\1", "(?=a)b", "a{2000}"):
        answer = chat(attack_http, filtered(pattern))
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert "not a regular expression RE2 accepts" in message, message
    assert upstream_process.calls() == []
    assert_no_secret(attack_proxy, answer.content)
