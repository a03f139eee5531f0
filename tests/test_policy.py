"""Trust policy, the Router seam and URL specs, in-process: a real litellm.Router stands in as
the proxy's, with HTTP mocked by respx."""

import asyncio
import hashlib
import sys
import types

import httpx
import litellm
import pytest
import yaml

import litellm_mixture
from litellm_mixture import Policy, PolicyError
from litellm_mixture.common.state import STATE
from litellm_mixture.provider import proxy as seam
from litellm_mixture.spec import decode
from litellm_mixture.trust import remote

ASK = [{"role": "user", "content": "Hi"}]
ROUTER_BASE = "http://router.test/v1"
ROUTER_URL = f"{ROUTER_BASE}/chat/completions"
MODEL_LIST = [
    {
        "model_name": "small",
        "litellm_params": {
            "model": "openai/small",
            "api_key": "sk-router",
            "api_base": ROUTER_BASE,
        },
    },
    {
        "model_name": "big",
        "litellm_params": {"model": "openai/big", "api_key": "sk-router", "api_base": ROUTER_BASE},
    },
    {"model_name": "team", "litellm_params": {"model": "mixture/small*2>big"}},
    {"model_name": "mixture/*", "litellm_params": {"model": "mixture/*"}},
]


@pytest.fixture
def respx_upstream(respx_upstream):
    """The respx fake upstream, answering the Router's aliases too."""
    respx_upstream.respx.post(ROUTER_URL).mock(side_effect=respx_upstream)
    return respx_upstream


@pytest.fixture
def proxy_router(monkeypatch, respx_upstream, litellm_restored):
    """Makes this process look like the proxy: a Router at proxy_server.llm_router."""
    router = litellm.Router(model_list=[dict(m) for m in MODEL_LIST])
    server = types.ModuleType("litellm.proxy.proxy_server")
    server.llm_router = router
    handler = litellm_mixture.register()
    monkeypatch.setattr(handler, "host", handler.host)  # put back after the test
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", server)
    # As when the proxy's config names the handler: registering moves it into the proxy.
    assert litellm_mixture.register().host is seam.HOST
    monkeypatch.setattr(litellm, "mixture_policy", None, raising=False)
    return router


def call(model, **kwargs):
    return litellm.completion(model=model, messages=ASK, num_retries=0, **kwargs)


def test_operator_entries_run_their_members_through_the_router(proxy_router, respx_upstream):
    r = asyncio.run(proxy_router.acompletion(model="team", messages=ASK))
    assert r.choices[0].message.content.endswith("aggregating 2 references")
    assert [q["model"] for q in respx_upstream.requests] == ["small", "small", "big"]
    assert r._hidden_params["response_cost"] == r.usage.cost


def test_a_client_spec_naming_aliases_runs(proxy_router, respx_upstream):
    r = call("mixture/small+big>big")
    assert r.choices[0].message.content.endswith("aggregating 2 references")
    # No member set max_tokens: a client run gets the policy's cap.
    assert {q["max_tokens"] for q in respx_upstream.requests} == {4096}


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("mixture/openai/gpt-4o*2>big", "allow_members"),
        ("mixture/small*9>big", "max_members_per_layer"),
        ("mixture/small>small>small>small>big", "max_layers"),
        ("mixture/small*8>small*8>big", "max_calls"),
        (
            'mixture/{"steps":[{"propose":["small"],"max_tokens":9999},{"aggregate":"big"}]}',
            "max_tokens",
        ),
        (
            'mixture/{"steps":[{"aggregate":{"model":"big","params":{"api_base":"http://x"}}}]}',
            "allow_params",
        ),
        (
            'mixture/{"steps":[{"aggregate":{"model":"big","params":{"api_key":"sk-x"}}}]}',
            "allow_params",
        ),
        ("mixture/mixture/mixture/small>big", "max_nesting"),
        ("mixture/https://example.com/spec.yaml", "url_hosts"),
        ('mixture/{"steps":[{"aggregate":"big"}],"deadline":86400}', "max_seconds"),
        (
            'mixture/{"steps":[{"propose":["small"],"timeout":301},{"aggregate":"big"}]}',
            "max_seconds",
        ),
        ('mixture/{"steps":[{"aggregate":"big"}],"grace":1000}', "max_seconds"),
        (  # an agreement's embedding model is called like a member
            'mixture/{"steps":[{"propose":[{"model":"small","samples":2}],"until_agree":2,'
            '"agree_by":{"embedding":"openai/text-embedding-3-small"}},{"vote":"big"}]}',
            "allow_members",
        ),
        (
            'mixture/{"steps":[{"propose":[{"model":"small","params":'
            '{"max_completion_tokens":99999}}]},{"aggregate":"big"}]}',
            "max_tokens",
        ),
    ],
)
def test_client_specs_breaking_a_rule_are_refused_before_any_call(
    proxy_router, respx_upstream, spec, rule
):
    with pytest.raises(PolicyError) as err:
        call(spec)
    assert err.value.rule == rule and err.value.status_code == 400
    assert f"rule {rule!r}" in err.value.message and "mixture_policy" in err.value.message
    assert respx_upstream.requests == []


def test_max_calls_counts_the_retries_each_call_may_get(proxy_router, monkeypatch):
    # The Router's default (2 retries) for an alias; the OpenAI SDK's 2 for any other model.
    # A spec's own retries (or timeout) turn both off: the mixture alone retries the call.
    assert (seam.attempts("small"), seam.attempts("openai/x")) == (3, 3)
    assert (seam.attempts("small", True), seam.attempts("openai/x", True)) == (1, 1)
    monkeypatch.setattr(proxy_router, "fallbacks", [{"small": ["big"]}])
    monkeypatch.setattr(proxy_router, "num_retries", 4)
    assert seam.attempts("small") == 10 and seam.attempts("big") == 5
    monkeypatch.setattr(litellm, "mixture_policy", {"max_calls": 14})
    with pytest.raises(PolicyError, match=r"up to 15 upstream requests, retries included > 14"):
        call("mixture/small>big")  # (5 + 5) + 5
    assert call("mixture/big>big").choices  # 5 + 5


def test_request_params_outside_the_allowed_set_are_refused(proxy_router, respx_upstream):
    with pytest.raises(PolicyError, match=r"allow_params.*webhook_url"):
        call("mixture/small>big", webhook_url="https://collector.test")
    with pytest.raises(PolicyError, match="max_tokens"):
        call("mixture/small>big", max_tokens=10_000)
    assert respx_upstream.requests == []


def test_only_the_operators_entry_is_trusted_not_a_copy_of_its_spec(proxy_router, respx_upstream):
    # "team" is mixture/small*2>big in the model list: called by its name it is trusted...
    asyncio.run(proxy_router.acompletion(model="team", messages=ASK, max_tokens=10_000))
    # (the caller's max_tokens bounds every answer; no policy cap reaches them)
    assert [q.get("max_tokens") for q in respx_upstream.requests] == [10_000] * 3
    # ...while the same text sent as a client spec, directly or through the wildcard route,
    # is the client's and is checked.
    with pytest.raises(PolicyError, match="max_tokens"):
        call("mixture/small*2>big", max_tokens=10_000)
    with pytest.raises(PolicyError, match="max_tokens"):
        asyncio.run(
            proxy_router.acompletion(model="mixture/small*2>big", messages=ASK, max_tokens=10_000)
        )
    assert len(respx_upstream.requests) == 3


def test_n_above_one_is_refused_for_everyone(proxy_router, respx_upstream):
    for n in (2, 5):
        with pytest.raises(litellm_mixture.SpecError, match="n must be 1"):
            call("mixture/small>big", n=n)
        with pytest.raises(litellm_mixture.SpecError, match="n must be 1"):
            asyncio.run(proxy_router.acompletion(model="team", messages=ASK, n=n))
    assert respx_upstream.requests == []


def test_the_operator_widens_the_policy(proxy_router, respx_upstream, monkeypatch):
    monkeypatch.setattr(
        litellm, "mixture_policy", {"allow_members": ["openai/*"], "max_nesting": 2}
    )
    call("mixture/openai/gpt-4o-mini>big")
    call("mixture/mixture/mixture/small>big")
    assert [q["model"] for q in respx_upstream.requests] == ["gpt-4o-mini", "big", "small", "big"]


def test_a_bad_policy_setting_is_named(proxy_router, monkeypatch):
    monkeypatch.setattr(litellm, "mixture_policy", {"max_layers": 0, "colour": "red"})
    with pytest.raises(
        litellm_mixture.MixtureError, match=r"max_layers.*colour|colour.*max_layers"
    ):
        litellm_mixture.trust.policy.current()


def test_an_operator_alias_to_a_mixture_is_trusted_inside_a_client_spec(
    proxy_router, respx_upstream
):
    r = call("mixture/team>big")
    assert r.choices[0].message.content.endswith("aggregating 1 references")
    assert [q["model"] for q in respx_upstream.requests] == ["small", "small", "big", "big"]


def test_outside_the_proxy_specs_are_the_callers_own(respx_upstream):
    call("mixture/openai/a*9>openai/b")
    assert len(respx_upstream.requests) == 10


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("mixture/small,big", "comma"),
        ("mixture/small>big\n", "newline"),
        ("mixture/small>big ", "trailing space"),
        ("mixture/" + "x" * 3000, "bytes"),
    ],
)
def test_names_the_proxy_would_mangle_are_refused(name, needle):
    with pytest.raises(PolicyError, match=needle.split()[0]):
        litellm_mixture.trust.policy.check_name(name, Policy())


def test_the_guard_passes_operator_entries_and_refuses_client_names(proxy_router, respx_upstream):
    guard = litellm_mixture.proxy_guard
    hook = guard.async_pre_call_hook
    # A mixture, named or sent, is never re-run whole by the Router; a plain alias is untouched.
    assert asyncio.run(hook(None, None, {"model": "team"}, "completion")) == {
        "model": "team",
        "num_retries": 0,
    }
    assert asyncio.run(hook(None, None, {"model": "small"}, "completion")) == {"model": "small"}
    asyncio.run(hook(None, None, {"model": "mixture/small>big"}, "completion"))
    block = "mixture/steps:\n  - propose: [small]\n  - aggregate: big"
    with pytest.raises(PolicyError, match="newline"):
        asyncio.run(hook(None, None, {"model": block}, "completion"))
    with pytest.raises(PolicyError, match="allow_members"):
        asyncio.run(hook(None, None, {"model": "mixture/openai/x+y>big"}, "completion"))
    with pytest.raises(litellm.BadRequestError, match="a comma does not separate members"):
        asyncio.run(hook(None, None, {"model": "mixture/openai/x,y>big"}, "completion"))
    assert respx_upstream.requests == []


# ---------------------------------------------------------------- URL specs

SPEC_URL = "https://specs.example.org/team.yaml"
DOC = b"""
steps:
  - propose: [openai/a, openai/b]
  - aggregate: {model: openai/c, params: {mock_response: from the URL spec}}
"""


@pytest.fixture
def urls(monkeypatch, respx_upstream):
    async def public(host):
        return ["93.184.215.14"]

    monkeypatch.setattr(remote, "_addresses", public)
    monkeypatch.setattr(litellm, "mixture_policy", {"url_hosts": ["*.example.org"]}, raising=False)
    return respx_upstream.respx


def test_an_allowed_url_spec_is_fetched_once_and_run(urls, respx_upstream):
    route = urls.get(SPEC_URL).mock(return_value=httpx.Response(200, content=DOC))
    for _ in range(2):
        assert call("mixture/" + SPEC_URL).choices[0].message.content == "from the URL spec"
    chunks = list(call("mixture/" + SPEC_URL, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from the URL spec"
    assert route.call_count == 1  # cached
    assert sorted(q["model"] for q in respx_upstream.requests) == ["a", "a", "a", "b", "b", "b"]


def test_a_pinned_url_spec_must_match_its_digest(urls, respx_upstream):
    urls.get(SPEC_URL).mock(return_value=httpx.Response(200, content=DOC))
    good = hashlib.sha256(DOC).hexdigest()
    call(f"mixture/{SPEC_URL}#sha256={good}")
    with pytest.raises(PolicyError, match="url_pins"):
        call(f"mixture/{SPEC_URL}#sha256={'0' * 64}")


def test_the_operators_pin_wins_over_the_urls(urls, respx_upstream, monkeypatch):
    route = urls.get(SPEC_URL).mock(return_value=httpx.Response(200, content=DOC))
    good = hashlib.sha256(DOC).hexdigest()
    rules = {"url_hosts": ["*.example.org"], "url_pins": {SPEC_URL: "f" * 64}}
    monkeypatch.setattr(litellm, "mixture_policy", rules, raising=False)
    with pytest.raises(PolicyError, match="differs from the pinned one"):
        call(f"mixture/{SPEC_URL}#sha256={good}")  # matches the document, not the operator
    with pytest.raises(PolicyError, match="does not match its sha256 pin"):
        call("mixture/" + SPEC_URL)
    assert route.call_count == 1 and respx_upstream.requests == []
    rules["url_pins"] = {SPEC_URL: good}
    monkeypatch.setattr(litellm, "mixture_policy", dict(rules), raising=False)
    assert call("mixture/" + SPEC_URL).choices[0].message.content == "from the URL spec"
    assert route.call_count == 1  # the body was cached; the pin is checked on every use


def test_a_cached_url_spec_expires_after_its_ttl_and_the_cache_is_bounded(urls, monkeypatch):
    route = urls.get(SPEC_URL).mock(return_value=httpx.Response(200, content=DOC))
    clock = [1000.0]
    monkeypatch.setattr(remote.time, "monotonic", lambda: clock[0])
    policy = Policy(url_hosts=("*.example.org",), url_ttl=60)
    asyncio.run(remote.fetch(SPEC_URL, policy))
    clock[0] += 59
    asyncio.run(remote.fetch(SPEC_URL, policy))
    assert route.call_count == 1
    clock[0] += 2
    asyncio.run(remote.fetch(SPEC_URL, policy))
    assert route.call_count == 2
    urls.get(url__regex=r"https://specs\.example\.org/n\d+").mock(
        return_value=httpx.Response(200, content=DOC)
    )
    for i in range(remote.CACHE_SIZE + 5):
        asyncio.run(remote.fetch(f"https://specs.example.org/n{i}", policy))
    assert len(STATE.fetched) == remote.CACHE_SIZE


@pytest.mark.parametrize(
    ("url", "response", "rule"),
    [
        ("http://specs.example.org/x.yaml", None, "url_hosts"),
        ("https://evil.test/x.yaml", None, "url_hosts"),
        (
            SPEC_URL,
            httpx.Response(302, headers={"location": "https://evil.test/x.yaml"}),
            "url_hosts",
        ),
        (SPEC_URL, httpx.Response(200, content=b"#" * 70_000), "url_max_bytes"),
        (SPEC_URL, httpx.Response(404), "url_hosts"),
        (SPEC_URL, httpx.ConnectTimeout("slow"), "url_timeout"),
    ],
)
def test_url_specs_outside_the_rules_are_refused(urls, respx_upstream, url, response, rule):
    route = urls.get(url)
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    elif response is not None:
        route.mock(return_value=response)
    with pytest.raises(PolicyError) as err:
        call("mixture/" + url)
    assert err.value.rule == rule
    assert respx_upstream.requests == []


def test_url_specs_resolving_to_private_addresses_are_refused(urls, monkeypatch):
    async def private(host):
        return ["10.0.0.7"]

    monkeypatch.setattr(remote, "_addresses", private)
    with pytest.raises(PolicyError, match="private address"):
        call("mixture/" + SPEC_URL)


def test_url_specs_are_off_by_default():
    with pytest.raises(PolicyError, match="URL specs are off"):
        asyncio.run(remote.fetch(SPEC_URL, Policy()))


def test_decode_never_fetches():
    with pytest.raises(litellm_mixture.SpecError, match="url_hosts"):
        decode("mixture/" + SPEC_URL)


def test_a_preset_that_names_itself_is_refused_with_the_depth_limit_as_reason(
    tmp_path, monkeypatch, respx_upstream
):
    (tmp_path / "loop.yaml").write_text(
        "steps:\n  - propose: [mixture/loop]\n  - aggregate: openai/x\n"
    )
    monkeypatch.setenv("LITELLM_MIXTURE_PRESETS", str(tmp_path))
    for stream in (False, True):
        with pytest.raises(litellm_mixture.SpecError) as err:
            call("mixture/loop", stream=stream)
        assert "mixtures nested more than 8 deep, down to member 'mixture/loop'" in (
            err.value.message
        )
        assert "name itself" in err.value.message and err.value.status_code == 400
    assert respx_upstream.requests == []


def test_the_shipped_config_lists_every_policy_setting_at_its_default():
    from tests.upstream_process import ROOT

    shipped = yaml.safe_load((ROOT / "proxy_config.yaml").read_text())
    settings = shipped["litellm_settings"]["mixture_policy"]
    assert set(settings) == set(Policy.model_fields)
    assert Policy.model_validate(settings) == Policy()
