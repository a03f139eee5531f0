"""Mixtures across a fleet: two real LiteLLM proxies sharing one real redis-server (LiteLLM's own
settings: the response cache and the Router's usage counters), in front of the fake upstream.

What one instance answered is a cache hit on the other; caching never turns the samples of a
mixture into copies of one answer; a member alias's rpm limit holds for the whole fleet; and
one instance dying mid-load fails only its own clients.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid

import httpx
import pytest

from tests.fleet import fleet
from tests.helpers import wait_for
from tests.redis_process import MISSING, REDIS_SERVER, redis_server

pytestmark = [pytest.mark.skipif(REDIS_SERVER is None, reason=MISSING), pytest.mark.proxy]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def instances(tmp_path_factory, redis, shared_upstream_process):
    with fleet(tmp_path_factory.mktemp("fleet"), shared_upstream_process.base, redis) as both:
        yield both


def ask() -> list[dict]:
    """A question no earlier test asked: nothing of it is in the cache yet."""
    return [{"role": "user", "content": f"Name a prime number ({uuid.uuid4().hex})."}]


def post(proxy, body: dict, timeout: float = 60) -> httpx.Response:
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    return httpx.post(
        proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=timeout
    )


def streamed(proxy, body: dict) -> tuple[str, list[dict]]:
    """A streamed request's text and its chunks."""
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    chunks = []
    body = {**body, "stream": True}
    with httpx.stream(
        "POST", proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=60
    ) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line.removeprefix("data: ")))
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    return text, chunks


def models_called(upstream) -> list[str]:
    return sorted(c["request"]["model"] for c in upstream.calls())


def test_a_mixture_one_instance_answered_is_a_cache_hit_on_the_other(instances, upstream_process):
    first, second = instances
    body = {"model": "mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o", "messages": ask()}
    made = post(first, body)
    assert made.status_code == 200, made.text
    assert len(upstream_process.calls()) == 4
    assert made.json()["mixture_cost"] > 0
    hit = post(second, body)
    assert hit.status_code == 200, hit.text
    assert len(upstream_process.calls()) == 4  # no member call
    answer = hit.json()
    content = answer["choices"][0]["message"]["content"]
    assert content == made.json()["choices"][0]["message"]["content"]
    # Nothing was spent for it: the cached copy must not say what the first run cost.
    assert answer["mixture_cost"] == 0
    assert answer["usage"].get("cost", 0) == 0
    assert float(hit.headers.get("x-litellm-response-cost") or 0) == 0


def test_a_streamed_mixture_is_a_cache_hit_on_the_other_instance(instances, upstream_process):
    first, second = instances
    body = {"model": "mixture/gpt-4o-mini*2>gpt-4o", "messages": ask()}
    text, chunks = streamed(first, body)
    assert len(upstream_process.calls()) == 3
    assert any(c.get("mixture_cost") for c in chunks)
    again, hit_chunks = streamed(second, body)
    assert again == text and text.startswith("answer from gpt-4o")
    assert len(upstream_process.calls()) == 3
    assert not any(c.get("mixture_cost") for c in hit_chunks)  # nothing spent, none claimed


def test_samples_stay_samples_whatever_the_cache_holds(instances, upstream_process):
    first, second = instances
    question = ask()
    made = post(first, {"model": "mixture/gpt-4o-mini*3>gpt-4o", "messages": question})
    assert made.status_code == 200, made.text
    assert models_called(upstream_process) == ["gpt-4o", *["gpt-4o-mini"] * 3]
    # Another mixture with the same samples, on the other instance: each sample is its own
    # cache entry, so it is served three different answers, not one answer three times.
    body = {
        "model": "mixture/gpt-4o-mini*3>deepseek-chat",
        "messages": question,
        "intermediate_responses": True,
    }
    other = post(second, body)
    assert other.status_code == 200, other.text
    assert models_called(upstream_process) == ["deepseek-chat", "gpt-4o", *["gpt-4o-mini"] * 3]
    proposals = [r["text"] for r in other.json()["intermediate_responses"][0]["responses"]]
    assert len(set(proposals)) == 3, proposals


def test_until_agree_never_agrees_on_copies_of_one_cached_answer(instances, upstream_process):
    first, second = instances
    question = ask()
    body = {"messages": question, "intermediate_responses": True}
    made = post(first, {**body, "model": "agree-gpt-4o"})
    assert made.status_code == 200, made.text
    # Every answer of the fake upstream differs: no two agree, all four samples are called.
    assert models_called(upstream_process).count("gpt-4o-mini") == 4
    again = post(second, {**body, "model": "agree-deepseek-chat"})
    assert again.status_code == 200, again.text
    assert models_called(upstream_process).count("gpt-4o-mini") == 4  # samples from the cache
    step = again.json()["intermediate_responses"][0]
    texts = [r["text"] for r in step["responses"]]
    assert len(texts) == 4 and len(set(texts)) == 4, texts
    assert not step.get("saved")  # no agreement was found among copies


def test_the_cache_key_covers_what_decides_the_answer(instances, upstream_process):
    first, second = instances
    question = ask()
    body = {"model": "mixture/gpt-4o-mini*2>gpt-4o", "messages": question}
    estimate = post(first, {**body, "estimate_only": True})
    assert estimate.status_code == 200 and not upstream_process.calls()
    # The estimate is not served as the answer of a request that did not ask for it.
    answer = post(second, body)
    assert answer.json()["choices"][0]["message"]["content"].startswith("answer from gpt-4o")
    assert len(upstream_process.calls()) == 3
    # Nor the answer to one that asks for the members' answers (they are not in that entry).
    shown = post(first, {**body, "intermediate_responses": True})
    assert shown.json()["intermediate_responses"], shown.json()
    # A cache hit is the cached reply itself, id and all.
    assert post(second, body).json()["id"] == answer.json()["id"]
    # Another caller (litellm keys `user`), another spec, other messages: each its own entry.
    # (Members the same request would send are still served from theirs.)
    for other in (
        {**body, "user": "someone-else"},
        {**body, "model": "mixture/gpt-4o-mini*2>deepseek-chat"},
        {**body, "messages": ask()},
    ):
        reply = post(second, other)
        assert reply.status_code == 200, reply.text
        assert reply.json()["id"] != answer.json()["id"], other


def test_a_member_alias_rpm_limit_holds_across_instances(instances, upstream_process):
    # `limited` allows 3 requests a minute; the Router counts them per minute in the shared
    # Redis. Start well inside a minute so that the window does not roll over mid-test.
    if time.time() % 60 > 25:  # the test takes up to ~30 s
        time.sleep(61 - time.time() % 60)
    results = []
    for n in range(5):  # one after the other, alternating instances
        body = {"model": "mixture/limited>gpt-4o", "messages": ask()}
        try:
            results.append(post(instances[n % 2], body, timeout=10).status_code)
        except httpx.TimeoutException:
            results.append("held")  # the Router holds it for the next minute; we hang up
    # Three got through, whichever instance they reached. (LiteLLM syncs its counters with
    # Redis in batches: a burst of simultaneous requests can overshoot; see docs/deploy.md.)
    assert results.count(200) == 3 and results.count("held") == 2, results
    assert models_called(upstream_process).count("limited") == 3


def _stream_into(proxy, body: dict, out: list, index: int) -> None:
    try:
        out[index] = ("ok", *streamed(proxy, body))
    except (httpx.TransportError, AssertionError) as e:
        out[index] = ("error", type(e).__name__, str(e))


def test_killing_one_instance_mid_load_fails_only_its_clients(tmp_path, redis, upstream_process):
    # Instances of their own: this test kills one.
    upstream_process.configure(gap={"gpt-4o": 0.3})  # the aggregator streams slowly
    with fleet(tmp_path, upstream_process.base, redis) as (doomed, survivor):
        per_instance = 4
        results: list = [None] * (2 * per_instance)
        threads = []
        for n in range(2 * per_instance):
            target = doomed if n < per_instance else survivor
            body = {"model": "mixture/gpt-4o-mini*2>gpt-4o", "messages": ask()}
            thread = threading.Thread(target=_stream_into, args=(target, body, results, n))
            thread.start()
            threads.append(thread)
        # Every aggregator is streaming: kill one instance outright.
        assert wait_for(lambda: models_called(upstream_process).count("gpt-4o") == 8, 60)
        os.kill(doomed.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        lost, kept = results[:per_instance], results[per_instance:]
        # Its clients get a connection error, not a hang, a truncated "success" or a 5xx body.
        assert all(r[0] == "error" for r in lost), lost
        # The other answered every request in full.
        assert all(r[0] == "ok" and r[1].startswith("answer from gpt-4o") for r in kept), kept
        # The finish: the last chunk, or the one before a usage chunk (docs/limits.md).
        finishes = [
            [c["choices"][0].get("finish_reason") for c in r[2] if c["choices"]] for r in kept
        ]
        assert all("stop" in f[-2:] for f in finishes), finishes
        # No member call keeps running for a client that is gone.
        calls = wait_for(
            lambda: (c := upstream_process.calls()) and all(x["state"] != "running" for x in c)
        )
        assert calls, upstream_process.calls()
        assert post(survivor, {"model": "mixture/gpt-4o-mini>gpt-4o", "messages": ask()}).is_success


def test_the_fleet_shares_one_redis(redis, instances):
    # The response cache and the Router's counters live in the one server the tests started.
    assert redis.keys() > 0
