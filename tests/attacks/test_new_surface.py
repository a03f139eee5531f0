"""Issue 21: the surface added since the last attack round (estimates, max_cost, until_agree,
panel) through a real proxy: no client freezes the proxy through an estimate or a pattern, a
budget bounds what Router fallbacks cost, the embedding agreement goes through the Router, every
paid call is billed to the key, and no key the proxy holds (env, literal, os.environ/...,
credential_list) reaches a client, the log or a dump.

The proxy here is this module's own: the shipped config plus what the attacks need (Router
fallbacks, an embedding alias, an alias on a credential_list key, an alias litellm cannot price
and one the operator priced at zero), with debug dumps on.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator

import httpx
import litellm
import pytest

from tests.attacks.proxy_helpers import ASK, assert_no_secret, chat, escaped, liveness_seconds
from tests.helpers import NEWER_LITELLM, wait_for
from tests.proxy_process import ProxyProcess, litellm_proxy

LIVENESS_SECONDS = 0.5  # a liveness bound on a real server, on a shared 2-core machine
CREDENTIAL_KEY = secrets.token_hex(16)  # 32 hex: no key shape the redactor would guess
LITERAL_KEY = "lit" + secrets.token_hex(12)
EMBED_KEY = "emb" + secrets.token_hex(12)
IMAGE = {"url": "http://127.0.0.1:9/never-fetched.png", "detail": "high"}


def _config(doc: dict) -> None:
    upstream = doc["model_list"][0]["litellm_params"]["api_base"]
    doc["model_list"] += [
        {
            "model_name": "cred-model",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "litellm_credential_name": "vault",
                "api_base": upstream,
            },
        },
        {
            "model_name": "literal-model",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": LITERAL_KEY,
                "api_base": upstream,
            },
        },
        {
            "model_name": "embed",
            "litellm_params": {
                "model": "openai/text-embedding-3-small",
                "api_key": EMBED_KEY,
                "api_base": upstream,
            },
        },
        {
            "model_name": "local",
            "litellm_params": {"model": "openai/unknown-local", "api_base": upstream},
        },
        {
            "model_name": "free",
            "litellm_params": {
                "model": "openai/free-local",
                "api_base": upstream,
                "input_cost_per_token": 0,
                "output_cost_per_token": 0,
            },
        },
    ]
    doc["credential_list"] = [
        {
            "credential_name": "vault",
            "credential_values": {"api_key": CREDENTIAL_KEY},
            "credential_info": {},
        }
    ]
    doc["router_settings"] = {"fallbacks": [{"gpt-4o-mini": ["gpt-4o"]}]}


@pytest.fixture(scope="module")
def surface(tmp_path_factory, shared_upstream_process) -> Iterable[ProxyProcess]:
    folder = tmp_path_factory.mktemp("surface-proxy")
    with litellm_proxy(
        folder,
        shared_upstream_process.base,
        extra_env={"LITELLM_MIXTURE_DUMP_DIR": str(folder / "dumps")},
        adjust=_config,
    ) as proxy:
        yield proxy


@pytest.fixture
def http(surface, upstream_process) -> Iterator[httpx.Client]:
    surface.spend_file.unlink(missing_ok=True)
    headers = {"Authorization": f"Bearer {surface.master_key}"}
    with httpx.Client(base_url=surface.base, headers=headers, timeout=60) as client:
        yield client


def _no_key_anywhere(proxy: ProxyProcess, *received: str | bytes) -> None:
    """No key of any shape the config holds in what a client or operator reads."""
    dumps = [p.read_text() for p in (proxy.log.parent / "dumps").glob("*.json")]
    assert_no_secret(proxy, *received, *dumps)
    texts = [r.decode() if isinstance(r, bytes) else r for r in (*received, *dumps)]
    texts.append(proxy.log.read_text(errors="replace"))
    for key in (CREDENTIAL_KEY, LITERAL_KEY, EMBED_KEY):
        assert not any(key in text for text in texts), key


def _while_live(proxy: ProxyProcess, attacks: list) -> tuple[list, list[float]]:
    """Runs ``attacks`` (callables) at once, probing liveness until they are done."""
    results: list = []
    threads = [threading.Thread(target=lambda a=a: results.append(a())) for a in attacks]
    for thread in threads:
        thread.start()
    probes = []
    while any(thread.is_alive() for thread in threads):
        probes.append(liveness_seconds(proxy))
    for thread in threads:
        thread.join()
    return results, probes


def _price(call: dict) -> float:
    usage, model = call["usage"], call["request"]["model"]
    return sum(
        litellm.cost_per_token(
            model=model,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
        )
    )


def _billed_upstream(upstream) -> float:
    """What the fake upstream billed: every call it answered in full (an error costs nothing)."""
    return sum(_price(c) for c in upstream.calls() if c["state"] == "done" and not c.get("fault"))


def _error(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert "Traceback" not in answer.text, message
    return message


# -- 1. an estimate does no I/O on the loop; bad content is a 400 -------------------------------


def test_an_estimate_never_fetches_images_and_the_loop_stays_live(http, surface, upstream_process):
    content = [{"type": "text", "text": "What is here?"}] + [
        {"type": "image_url", "image_url": IMAGE}
    ] * 3
    messages = [{"role": "user", "content": content}]
    body = {"model": "mixture/gpt-4o-mini*2>gpt-4o", "messages": messages, "estimate_only": True}
    warm_up = {**body, "messages": ASK}  # the tokenizer's first load is no attack
    assert http.post("/v1/chat/completions", json=warm_up).status_code == 200
    attacks = [lambda: http.post("/v1/chat/completions", json=body) for _ in range(6)]
    answers, probes = _while_live(surface, attacks)
    assert [a.status_code for a in answers] == [200] * 6, answers[0].text
    assert max(probes) < LIVENESS_SECONDS, probes
    print(f"\nimage estimates: liveness max {max(probes):.3f}s over {len(probes)} probes")
    assert upstream_process.calls() == []
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "high"}}]}]
    for messages in ("hi", [1, 2], bad, [{"role": "user", "content": 5}]):
        answer = http.post(
            "/v1/chat/completions",
            json={"model": "mixture/gpt-4o-mini>gpt-4o", "messages": messages, "max_cost": 1},
        )
        message = _error(answer)
        assert "messages" in message and "\n" not in message, message
    assert upstream_process.calls() == []
    _no_key_anywhere(surface, *(a.content for a in answers), answer.content)


# -- 2. a client's pattern cannot cost seconds ---------------------------------------------------

SLOW_PATTERN = "((x?){1000}(x?){1000}(x?){1000})!"


def test_a_pattern_with_a_huge_program_is_refused(http, surface, upstream_process):
    filtered = (
        "{steps: [{propose: [gpt-4o-mini]}, "
        f"{{filter: {{must_match: '{SLOW_PATTERN}'}}}}, {{aggregate: gpt-4o}}]}}"
    )
    agreeing = (
        "{steps: [{propose: [{model: gpt-4o-mini, samples: 4}], until_agree: 2, "
        f"agree_by: {{regex: '{SLOW_PATTERN}'}}}}, {{aggregate: gpt-4o}}]}}"
    )
    for inner in (filtered, agreeing):
        answer = chat(http, f"mixture/gpt-4o-mini>mixture/{escaped(inner)}")
        assert "pattern too complex" in _error(answer)
    no_group = (
        "{steps: [{propose: [{model: gpt-4o-mini, samples: 2}], until_agree: 2, "
        "agree_by: {regex: x}}, {aggregate: gpt-4o}]}"
    )
    message = _error(chat(http, f"mixture/gpt-4o-mini>mixture/{escaped(no_group)}"))
    assert "needs a capture group" in message and "last_line" not in message
    assert upstream_process.calls() == []


def test_patterns_on_long_answers_leave_the_loop_live(http, surface, upstream_process):
    """The largest program allowed, on 16 KB answers of the text it is slowest on."""
    pattern = "((x?){30}(x?){30}(x?){30})!"
    inner = (
        "{steps: [{propose: [{model: gpt-4o-mini, samples: 4}], until_agree: 4, "
        f"agree_by: {{regex: '{pattern}'}}}}, {{filter: {{must_match: '{pattern}'}}}}, "
        "{aggregate: gpt-4o}]}"
    )
    upstream_process.configure(reply={"gpt-4o-mini": "x" * 16384 + " !"})
    model = f"mixture/gpt-4o-mini>mixture/{escaped(inner)}"
    answers, probes = _while_live(surface, [lambda: chat(http, model) for _ in range(4)])
    assert [a.status_code for a in answers] == [200] * 4, answers[0].text
    assert max(probes) < LIVENESS_SECONDS, probes
    print(f"\npatterns on 16 KB answers: liveness max {max(probes):.3f}s over {len(probes)} probes")


# -- 3. the embedding agreement goes through the Router and the budget --------------------------


def test_the_embedding_agreement_calls_the_alias_through_the_router(
    http, surface, upstream_process
):
    inner = (
        "{steps: [{propose: [{model: gpt-4o-mini, samples: 3}], until_agree: 2, "
        "agree_by: {embedding: embed}}, {aggregate: gpt-4o}]}"
    )
    model = f"mixture/gpt-4o-mini>mixture/{escaped(inner)}"
    answer = chat(http, model)
    assert answer.status_code == 200, answer.text
    embeddings = [c for c in upstream_process.calls() if "input" in c["request"]]
    assert embeddings and {c["key"] for c in embeddings} == {EMBED_KEY}
    assert {c["request"]["model"] for c in embeddings} == {"text-embedding-3-small"}
    _no_key_anywhere(surface, answer.content)


def test_under_max_cost_the_embedding_alias_is_admitted_and_an_unpriced_one_refused(
    http, surface, upstream_process
):
    """The budget prices an agreement's embedding alias as the Router's deployment it reaches
    (proxy.HOST's seams, not litellm's globals): a priced alias runs, one litellm cannot price
    is refused before any call."""
    inner = (
        "{steps: [{propose: [{model: gpt-4o-mini, samples: 3}], until_agree: 2, "
        "agree_by: {embedding: %s}}, {aggregate: gpt-4o}]}"
    )
    answer = chat(
        http, f"mixture/gpt-4o-mini>mixture/{escaped(inner % 'embed')}", max_cost=5, max_tokens=100
    )
    assert answer.status_code == 200, answer.text
    embeddings = [c for c in upstream_process.calls() if "input" in c["request"]]
    assert embeddings and {c["key"] for c in embeddings} == {EMBED_KEY}
    upstream_process.clear()
    refused = chat(
        http, f"mixture/gpt-4o-mini>mixture/{escaped(inner % 'local')}", max_cost=5, max_tokens=100
    )
    assert "max_cost" in _error(refused) and "local" in _error(refused)
    assert upstream_process.calls() == []


# -- 4. a budget bounds fallbacks; an empty price entry is no price -----------------------------


def _estimate(http: httpx.Client, spec: str) -> dict:
    answer = chat(http, spec, estimate_only=True, max_tokens=1000)
    assert answer.status_code == 200, answer.text
    return answer.json()["mixture_estimate"]


def test_a_budget_prices_each_call_at_the_dearest_fallback(http, surface, upstream_process):
    found = _estimate(http, "mixture/gpt-4o-mini*4>gpt-4o-mini")
    # Every call may fall back to gpt-4o: each is priced at gpt-4o's 1000 output tokens at least.
    floor = litellm.cost_per_token(model="gpt-4o", prompt_tokens=0, completion_tokens=1000)[1]
    assert found["worst"] >= 5 * floor, found
    refused = chat(http, "mixture/gpt-4o-mini*4>gpt-4o-mini", max_cost=4 * floor, max_tokens=1000)
    assert "max_cost" in _error(refused)
    assert upstream_process.calls() == []


def test_an_alias_litellm_cannot_price_is_unpriced_and_a_zero_price_is_a_price(
    http, surface, upstream_process
):
    unpriced = _estimate(http, "mixture/local*2>gpt-4o")
    assert "local" in json.dumps(unpriced["steps"][0]["unpriced"]), unpriced
    assert "max_cost" in _error(chat(http, "mixture/local*2>gpt-4o", max_cost=5))
    free = _estimate(http, "mixture/free*2>free")
    assert free["worst"] == 0 and not free["steps"][0]["unpriced"], free
    assert chat(http, "mixture/free*2>free", max_cost=0.001).status_code == 200
    assert upstream_process.calls()


# -- 5. every paid call is billed to the key ---------------------------------------------------


def _failures(proxy: ProxyProcess) -> list[dict]:
    return [
        s
        for s in proxy.spend("failure")
        if s["billed_to_key"] and (s["model_group"] or "").startswith("mixture/")
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_a_failed_run_bills_its_members_to_the_key(http, surface, upstream_process, stream):
    upstream_process.configure(fault={"gpt-4o": {"kind": "500"}})
    answer = chat(http, "mixture/gpt-4o-mini*3>gpt-4o", stream=stream)
    assert answer.status_code >= 400 or "error" in answer.text, answer.text
    billed = _billed_upstream(upstream_process)
    assert billed > 0
    (failure,) = wait_for(lambda: _failures(surface))
    assert failure["response_cost"] == pytest.approx(billed, rel=1e-6)
    _no_key_anywhere(surface, answer.content)


@pytest.mark.skipif(
    not NEWER_LITELLM, reason="litellm 1.81's proxy never notices a hang-up (docs/proxy.md)"
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_hangs_up_before_the_aggregator_pays_for_the_proposals(
    http, surface, upstream_process, stream
):
    upstream_process.configure(fault={"gpt-4o": {"kind": "hang"}})
    body = {"model": "mixture/gpt-4o-mini*3>gpt-4o", "messages": ASK, "stream": stream}
    if stream:
        body["panel"] = "reasoning"  # the client reads every proposal, then hangs up
    with (
        pytest.raises(httpx.ReadTimeout),
        http.stream("POST", "/v1/chat/completions", json=body, timeout=3) as response,
    ):
        for _ in response.iter_bytes():
            pass
    wait_for(lambda: any(c["state"] == "cancelled" for c in upstream_process.calls()))
    billed = _billed_upstream(upstream_process)
    (failure,) = wait_for(lambda: _failures(surface))
    assert billed > 0 and failure["response_cost"] == pytest.approx(billed, rel=1e-6)


# -- 6. every key the proxy holds is redacted ---------------------------------------------------


def test_a_credential_list_key_echoed_by_a_provider_reaches_nobody(http, surface, upstream_process):
    echo = {"kind": "401", "message": "Incorrect API key provided: {key}"}
    upstream_process.configure(fault={"gpt-4o-mini": echo})
    answers = [chat(http, f"mixture/{m}*2>gpt-4o") for m in ("cred-model", "literal-model")]
    answers.append(chat(http, "mixture/cred-model*2>gpt-4o", stream=True))
    keys = {c["key"] for c in upstream_process.calls()}
    assert {CREDENTIAL_KEY, LITERAL_KEY} <= keys  # the keys were really used and echoed
    time.sleep(1)  # dumps are written off the loop
    _no_key_anywhere(surface, *(a.content for a in answers))


# -- 7. the smaller items ----------------------------------------------------------------------


def test_a_nesting_estimate_past_the_limit_is_refused(http, surface, upstream_process):
    deep = "mixture/" * 10 + "gpt-4o-mini"
    answer = chat(http, deep, estimate_only=True)
    assert "nest" in _error(answer)
    assert upstream_process.calls() == []


def test_a_top_level_mock_response_never_answers_a_mixture(http, surface, upstream_process):
    """Refused by the guard; litellm >= 1.108 strips a client's mock_response itself first
    (unless the key may send one), and the mixture runs as if it was not sent."""
    answer = chat(http, "mixture/gpt-4o-mini>gpt-4o", mock_response="free answer")
    if answer.status_code == 400:
        assert "mock_response" in _error(answer)
        assert upstream_process.calls() == []
    else:
        assert "free answer" not in answer.text and upstream_process.calls()
