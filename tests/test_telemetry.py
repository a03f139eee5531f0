"""A mixture seen from outside, through the real LiteLLM proxy: one OpenTelemetry trace per
request (LiteLLM's ``otel`` callback exporting OTLP/HTTP to a real receiver on loopback), and
Prometheus series on ``/metrics`` (LiteLLM's ``prometheus`` callback and
``mixture_hooks.mixture_metrics``).
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from litellm_mixture.observe import metrics
from tests.helpers import wait_for
from tests.otlp_receiver import otlp_receiver
from tests.proxy_process import litellm_proxy

pytest.importorskip("opentelemetry.sdk", reason="the test extra installs opentelemetry-sdk")
pytest.importorskip("opentelemetry.proto", reason="the test extra installs opentelemetry-proto")
pytest.importorskip("prometheus_client", reason="the test extra installs prometheus-client")

NESTED = {"model_name": "nested", "litellm_params": {"model": "mixture/team-moa+gpt-4o>gpt-4o"}}
AGREE = {
    "model_name": "agree",
    "litellm_params": {
        "model": "mixture/{steps: [{propose: [{model: gpt-4o-mini, samples: 5}], until_agree: 2}"
        ", {aggregate: gpt-4o}]}"
    },
}


REQUEST_SPAN = "Received Proxy Server Request"  # LiteLLM's span of a proxy request

# Answers once one proposer has, and cuts the other 0.2 s later.
STRAGGLE = {
    "model_name": "straggle",
    "litellm_params": {
        "model": "mixture/{steps: [{propose: [gpt-4o-mini, deepseek-chat], min_successful: 1"
        ", grace: 0.2}, {aggregate: gpt-4o}]}"
    },
}


def observed(doc: dict) -> None:
    doc["litellm_settings"]["callbacks"] += ["otel", "prometheus", "mixture_hooks.mixture_metrics"]


@pytest.fixture(scope="module")
def receiver():
    with otlp_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, receiver, shared_upstream_process):
    env = {
        "OTEL_EXPORTER": "otlp_http",
        "OTEL_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second
    }
    folder = tmp_path_factory.mktemp("observed")
    with litellm_proxy(
        folder,
        shared_upstream_process.base,
        extra_env=env,
        adjust=observed,
        models=[NESTED, AGREE, STRAGGLE],
    ) as proxy:
        yield proxy


def ask() -> list[dict]:
    return [{"role": "user", "content": f"Name a prime number ({uuid.uuid4().hex})."}]


def post(proxy, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    return httpx.post(proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def the_trace(receiver, mixture_id: str, members: int):
    """The request's ``mixture`` span and the spans of its trace, once ``members`` member
    spans have arrived."""

    def found():
        spans = [
            s for s in receiver.named("mixture") if s.attributes.get("mixture.id") == mixture_id
        ]
        if not spans:
            return None
        trace = [s for s in receiver.spans if s.trace_id == spans[0].trace_id]
        mine = [s for s in trace if s.name == "mixture member" and s.parent_id == spans[0].span_id]
        return (spans[0], trace) if len(mine) >= members else None

    got = wait_for(found, 20)
    assert got, [(s.name, s.attributes) for s in receiver.spans][-20:]
    return got


def members_of(span, trace):
    return [s for s in trace if s.name == "mixture member" and s.parent_id == span.span_id]


def test_a_mixture_is_one_trace_with_its_member_calls_under_the_request(proxy, receiver):
    r = post(proxy, {"model": "team-moa", "messages": ask()})
    assert r.status_code == 200, r.text
    span, trace = the_trace(receiver, _mixture_id(proxy), 4)
    assert span.attributes["mixture.spec"] == "team-moa"
    assert span.attributes["mixture.calls"] == 4 and span.attributes["mixture.cost"] > 0
    # It hangs under the span the proxy opened for the request.
    assert [s.name for s in trace if s.span_id == span.parent_id] == [REQUEST_SPAN]
    members = members_of(span, trace)
    assert sorted(m.attributes["mixture.model"] for m in members) == [
        "deepseek-chat",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini",
    ]
    for m in members:
        a = m.attributes
        assert {"mixture.step", "mixture.kind", "mixture.member", "mixture.sample"} <= set(a)
        assert a["mixture.outcome"] == "ok" and a["gen_ai.usage.output_tokens"] > 0
        assert a["mixture.cost"] > 0
    samples = sorted(
        m.attributes["mixture.sample"]
        for m in members
        if m.attributes["mixture.model"] == "gpt-4o-mini"
    )
    assert samples == [0, 1]
    # LiteLLM's own span of each member call (named by its generation_name) is under it too.
    theirs = [s for s in trace if s.name.startswith("mixture step")]
    assert len([s for s in theirs if s.parent_id == span.span_id]) == 4
    # (and the spans LiteLLM draws under those: the raw request of each)
    assert {s.parent_id for s in theirs} <= {span.span_id, *(s.span_id for s in theirs)}


def _mixture_id(proxy) -> str:
    """The mixture id of the last request the proxy's spend spy saw member calls of."""
    seen = {r.get("mixture_id") for r in proxy.spend()} - {None}
    ids = wait_for(
        lambda: (
            [r["mixture_id"] for r in proxy.spend() if r.get("mixture_id") not in seen | {None}]
            or None
        ),
        1,
    )
    return ids[-1] if ids else [r["mixture_id"] for r in proxy.spend() if r.get("mixture_id")][-1]


def _outcomes(span, trace) -> dict:
    """Each member span's outcome, by its model."""
    return {
        m.attributes["mixture.model"]: m.attributes["mixture.outcome"]
        for m in members_of(span, trace)
    }


def test_failed_and_saved_calls_are_spans_with_their_outcome(proxy, receiver, upstream_process):
    upstream_process.configure(fault={"deepseek-chat": {"kind": "500"}})
    r = post(proxy, {"model": "team-moa", "messages": ask()})
    assert r.status_code == 200, r.text
    span, trace = the_trace(receiver, _mixture_id(proxy), 4)
    outcomes = _outcomes(span, trace)
    assert outcomes["deepseek-chat"] == "failed"
    assert next(
        m for m in members_of(span, trace) if m.attributes["mixture.outcome"] == "failed"
    ).error

    upstream_process.configure(fault={"deepseek-chat": {"kind": "hang"}})
    r = post(proxy, {"model": "straggle", "messages": ask()})
    assert r.status_code == 200, r.text
    span, trace = the_trace(receiver, _mixture_id(proxy), 3)
    outcomes = _outcomes(span, trace)
    assert outcomes == {"gpt-4o-mini": "ok", "deepseek-chat": "cut", "gpt-4o": "ok"}

    upstream_process.configure(reply={"gpt-4o-mini": "42"})  # every sample agrees
    r = post(proxy, {"model": "agree", "messages": ask()})
    assert r.status_code == 200, r.text
    span, trace = the_trace(receiver, _mixture_id(proxy), 3 + 3)
    saved = [
        m
        for m in members_of(span, trace)
        if m.attributes["mixture.outcome"] == "saved_by_agreement"
    ]
    assert len(saved) == 3 and span.attributes["mixture.saved_calls"] == 3


def test_a_nested_mixture_nests_in_the_trace(proxy, receiver):
    r = post(proxy, {"model": "nested", "messages": ask()})
    assert r.status_code == 200, r.text
    outer = wait_for(
        lambda: [s for s in receiver.named("mixture") if s.attributes["mixture.spec"] == "nested"],
        20,
    )
    assert outer
    inner = wait_for(
        lambda: [s for s in receiver.named("mixture") if s.parent_id == outer[-1].span_id], 20
    )
    assert inner and inner[0].attributes["mixture.spec"] == "team-moa"
    assert inner[0].trace_id == outer[-1].trace_id
    assert len(members_of(inner[0], receiver.spans)) == 4


def test_no_span_holds_a_secret_or_a_client_spec(proxy, receiver, upstream_process):
    # A provider that echoes the key it was sent, as "Incorrect API key provided: ..." does.
    echo = {"kind": "500", "message": "Incorrect API key provided: {key}"}
    upstream_process.configure(fault={"deepseek-chat": echo})
    assert post(proxy, {"model": "team-moa", "messages": ask()}).status_code == 200
    span, trace = the_trace(receiver, _mixture_id(proxy), 4)
    failed = [m for m in members_of(span, trace) if m.error]
    assert failed and "Incorrect API key" in failed[0].status
    spec = "mixture/gpt-4o-mini>gpt-4o"
    body = {"model": spec, "messages": ask(), "metadata": {"spec": "client-label"}}
    assert post(proxy, body).status_code == 200
    wait_for(
        lambda: any(
            s.attributes.get("mixture.spec", "").startswith("spec-")
            for s in receiver.named("mixture")
        ),
        20,
    )
    secrets = [proxy.master_key, *proxy.keys.values()]
    for s in receiver.spans:
        for value in [*s.attributes.values(), s.status]:
            assert not any(k in str(value) for k in secrets), (s.name, value)
    labels = {s.attributes["mixture.spec"] for s in receiver.named("mixture")}
    assert spec not in labels and spec.removeprefix("mixture/") not in labels
    assert "client-label" not in labels


def scrape(proxy) -> str:
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    r = httpx.get(proxy.base + "/metrics", headers=headers, timeout=30, follow_redirects=True)
    assert r.status_code == 200, r.text[:300]
    return r.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_show_member_calls_per_model_and_the_mixture_series(proxy, upstream_process):
    before = scrape(proxy)
    post(proxy, {"model": "team-moa", "messages": ask()})
    with httpx.stream(
        "POST",
        proxy.base + "/v1/chat/completions",
        json={"model": "team-moa", "messages": ask(), "stream": True},
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        timeout=60,
    ) as r:
        assert r.status_code == 200
        r.read()
    upstream_process.configure(fault={"deepseek-chat": {"kind": "500"}})
    post(proxy, {"model": "team-moa", "messages": ask()})
    refused = post(proxy, {"model": "team-moa", "messages": ask(), "max_cost": 1e-9})
    assert refused.status_code == 400
    after = wait_for(
        lambda: (
            (t := scrape(proxy))
            and sample(t, "litellm_mixture_budget_refusals_total", spec="team-moa")
            and t
        ),
        10,
    )
    assert after, scrape(proxy)[-3000:]

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("litellm_mixture_requests_total", spec="team-moa", outcome="ok") == 3
    assert grew("litellm_mixture_member_calls_count", spec="team-moa") == 3
    assert grew("litellm_mixture_member_calls_sum", spec="team-moa") == 12
    assert grew("litellm_mixture_degraded_requests_total", spec="team-moa") == 1
    assert grew("litellm_mixture_budget_refusals_total", spec="team-moa") == 1
    assert grew("litellm_mixture_time_to_first_token_seconds_count", spec="team-moa") == 3
    assert grew("litellm_mixture_answer_seconds_count", spec="team-moa") == 3
    # LiteLLM's own series count the member calls per model, as for any call.
    assert any(
        'model="gpt-4o-mini"' in line for line in after.splitlines() if line.startswith("litellm_")
    )


def test_a_client_cannot_choose_a_metric_label(proxy):
    spec = "mixture/gpt-4o-mini>deepseek-chat"
    body = {
        "model": spec,
        "messages": ask(),
        "metadata": {"model_group": "evil-label", "spec": "evil"},
    }
    assert post(proxy, body).status_code == 200
    text = scrape(proxy)
    mine = [line for line in text.splitlines() if line.startswith("litellm_mixture_")]
    assert mine, text[-2000:]
    assert not any("evil" in line or spec in line for line in mine)
    # metrics.hashed, not label: this test process may have labelled its 64 specs already.
    assert any(metrics.hashed(spec) in line for line in mine)


def test_labels_stay_bounded_whatever_clients_send():
    labels = {metrics.label(f"mixture/client-{n}>x") for n in range(5 * metrics.MAX_HASHED)}
    assert len(labels) <= metrics.MAX_HASHED + 1 and "other" in labels
    assert metrics.label("mixture/moa-lite") == "moa-lite"
    assert metrics.label("mixture/anything", "team-moa") == "team-moa"
