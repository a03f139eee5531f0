"""Local models as members: where the caller's api_base and api_key go, the one-line and preset
form for "these members live at this base", a registered zero price, lengths bounded by the
caller's max_tokens and a prompt past a context window caught before the call."""

import json

import litellm
import pytest

import litellm_mixture
from litellm_mixture.pricing import cost

ASK = [{"role": "user", "content": "Name a prime number."}]
KEY = "sk-local-caller-key-1234"


@pytest.fixture
def local(upstream_process):
    """The fake upstream as a local server that wants a key; litellm knows no base for it."""
    upstream_process.configure(require_key=True)
    return upstream_process


def at(local, model, **kwargs):
    """``model`` run with the caller's base and key pointing at ``local``."""
    return litellm.completion(
        model="mixture/" + model, messages=ASK, api_base=local.base, api_key=KEY, **kwargs
    )


def sent(upstream, model):
    return [c for c in upstream.calls() if c["request"]["model"] == model]


@pytest.fixture
def registered():
    """Zero-price entries for the local models, as docs/local-models.md registers them."""
    names = ["openai/smol", "openai/smol-agg"]
    litellm.register_model(
        {
            name: {
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "max_input_tokens": 2048,
                "max_output_tokens": 512,
                "litellm_provider": "openai",
                "mode": "chat",
            }
            for name in names
        }
    )
    yield names
    for name in names:
        litellm.model_cost.pop(name, None)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_the_callers_api_base_and_key_reach_every_member(local, stream):
    response = at(local, "openai/p1*2+openai/p2>openai/agg", stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in response if c.choices)
    else:
        text = response.choices[0].message.content
    assert text.endswith("aggregating 3 references")
    calls = local.calls()
    assert len(calls) == 4 and {c["key"] for c in calls} == {KEY}


def test_a_member_with_an_endpoint_of_its_own_keeps_it(local, respx_upstream):
    doc = {
        "steps": [
            {
                "propose": [
                    "openai/p1",
                    {"model": "openai/remote", "params": {"api_base": "https://api.openai.com/v1"}},
                ]
            },
            {"aggregate": "openai/agg"},
        ]
    }
    respx_upstream.respx.route(host="127.0.0.1").pass_through()
    r = at(local, json.dumps(doc))
    assert r.choices[0].message.content.endswith("aggregating 2 references")
    assert [b["model"] for b in respx_upstream.requests] == ["remote"]
    (remote,) = [c for c in respx_upstream.respx.calls if c.request.url.host == "api.openai.com"]
    assert KEY not in remote.request.headers.get("authorization", "")  # its base, not ours
    assert {c["request"]["model"] for c in local.calls()} == {"p1", "agg"}


def test_a_key_that_would_reach_no_member_is_refused_before_any_call(local):
    own = {"api_base": local.base, "api_key": "sk-its-own-key-5678"}
    doc = {"steps": [{"aggregate": {"model": "openai/a", "params": own}}]}
    with pytest.raises(litellm_mixture.ParamError) as err:
        litellm.completion(model="mixture/" + json.dumps(doc), messages=ASK, api_key=KEY)
    assert "api_key would reach no member" in err.value.message and KEY not in err.value.message
    assert local.calls() == []


def test_the_callers_key_is_in_no_trace_or_dump(local, tmp_path, monkeypatch):
    monkeypatch.setenv("LITELLM_MIXTURE_DUMP_DIR", str(tmp_path))
    r = at(local, "openai/p1>openai/agg", intermediate_responses=True)
    seen = json.dumps(r._hidden_params[cost.HIDDEN_KEY], default=str)
    seen += json.dumps(r.model_dump(), default=str)
    seen += "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert KEY not in seen


@pytest.mark.parametrize(
    "spec",
    [
        "openai/p1*2+openai/p2>openai/agg?api_base={base}",
        "self-moa?model=openai/p1&api_base={base}",
    ],
    ids=["one-line", "preset"],
)
def test_a_one_line_spec_or_a_preset_says_where_its_members_live(local, spec):
    model = "mixture/" + spec.format(base=local.base)
    assert not any(c in model for c in " ,\n")  # survives the proxy
    r = litellm.completion(model=model, messages=ASK, api_key=KEY)
    assert "aggregating" in r.choices[0].message.content
    assert {c["key"] for c in local.calls()} == {KEY}
    assert litellm_mixture.decode(litellm_mixture.encode(litellm_mixture.decode(model))) == (
        litellm_mixture.decode(model)
    )


def test_a_registered_zero_price_makes_max_cost_and_the_estimate_work(local, registered):
    model = f"mixture/openai/smol*2>openai/smol-agg?api_base={local.base}"
    r = litellm.completion(model=model, messages=ASK, api_key=KEY, max_cost=0.01)
    assert r.choices[0].message.content.endswith("aggregating 2 references")
    assert r._hidden_params["response_cost"] == 0.0
    assert r._hidden_params[cost.HIDDEN_KEY]["cost_complete"] is True
    found = litellm_mixture.estimate(model, "Hi")
    assert found.complete and found.worst == 0.0


def test_max_cost_on_an_unpriced_local_model_says_how_to_register_a_price(local):
    model = f"mixture/openai/unpriced*2>openai/unpriced?api_base={local.base}"
    with pytest.raises(litellm_mixture.BudgetError) as err:
        litellm.completion(model=model, messages=ASK, api_key=KEY, max_cost=0.01)
    assert "litellm.register_model({'openai/unpriced'" in err.value.message
    assert "'input_cost_per_token': 0" in err.value.message
    assert local.calls() == []


def test_the_callers_max_tokens_bounds_the_proposers_unless_the_spec_sets_theirs(local):
    doc = {
        "steps": [
            {"propose": ["openai/p1", {"model": "openai/p2", "max_tokens": 300}]},
            {"aggregate": "openai/agg"},
        ]
    }
    at(local, json.dumps(doc), max_tokens=64)
    assert sent(local, "p1")[0]["request"]["max_tokens"] == 64
    assert sent(local, "p2")[0]["request"]["max_tokens"] == 300
    assert sent(local, "agg")[0]["request"]["max_tokens"] == 64


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_references_past_the_aggregators_window_are_caught_before_the_call(
    local, registered, stream
):
    local.configure(require_key=True, reply={"smol": "word " * 2500})
    model = f"mixture/openai/smol*2>openai/smol-agg?api_base={local.base}"
    with pytest.raises(litellm.ContextWindowExceededError) as err:
        response = litellm.completion(model=model, messages=ASK, api_key=KEY, stream=stream)
        list(response) if stream else None
    assert isinstance(err.value, litellm_mixture.MembersContextWindowError)
    assert "past its context window of 2048" in err.value.message
    assert "the answers before step 1 are too long" in err.value.message
    assert sent(local, "smol-agg") == []  # refused before the call
