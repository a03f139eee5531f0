"""Local models as first-class members, on a real llama.cpp server (SmolLM2-135M): where the
caller's api_base and key go, the one-line form, a zero price, lengths, honest answers (cut
streams, usage the server never sent) and errors a client does not retry in vain.

Real models answer differently from one another: these tests assert properties (answers,
token bounds, trace reasons, error types), never text.
"""

import litellm
import openai
import pytest

import litellm_mixture
from litellm_mixture.pricing.cost import HIDDEN_KEY
from tests.helpers import CUT_REASONS
from tests.llama_server import API_KEY, SMOLLM2, llama_server
from tests.proxy_process import litellm_proxy

pytestmark = pytest.mark.llama

ASK = [{"role": "user", "content": "Name three colours. Answer in one sentence."}]
SETTINGS = {"temperature": 0, "seed": 7}
# Past SmolLM2's 2048-token window under any tokenizer: 3000 words.
LONG = [{"role": "user", "content": "colour " * 3000 + "\nName three colours."}]


def trace_of(response):
    return response._hidden_params[HIDDEN_KEY]["trace"]


@pytest.fixture
def priced(llama_smollm2):
    """SmolLM2 registered as documented in docs/local-models.md: a zero price, its window."""
    name = llama_smollm2.model
    litellm.register_model(
        {
            name: {
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "max_input_tokens": 2048,
                "max_output_tokens": 2048,
                "litellm_provider": "openai",
                "mode": "chat",
            }
        }
    )
    yield name
    litellm.model_cost.pop(name, None)


def test_the_callers_api_base_and_key_reach_the_members_and_max_tokens_bounds_them(
    llama_smollm2,
):
    model = f"mixture/{llama_smollm2.model}*2>{llama_smollm2.model}"
    response = litellm.completion(
        model, ASK, api_base=llama_smollm2.base, api_key=API_KEY, max_tokens=20, **SETTINGS
    )
    assert response.choices[0].message.content.strip()
    trace = trace_of(response)
    assert len(trace) == 3 and all(e["error"] is None for e in trace), trace
    assert all(0 < e["completion_tokens"] <= 20 for e in trace)  # proposers bounded too
    assert not any(e["usage_estimated"] for e in trace)  # whole answers: the server's usage


def test_a_one_line_spec_names_the_base_and_streams(llama_smollm2):
    model = f"mixture/{llama_smollm2.model}*2>{llama_smollm2.model}?api_base={llama_smollm2.base}"
    chunks = list(
        litellm.completion(model, ASK, api_key=API_KEY, max_tokens=20, stream=True, **SETTINGS)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_a_zero_price_makes_max_cost_work_and_streamed_usage_is_marked_estimated(
    llama_smollm2, priced
):
    model = f"mixture/{priced}*2>{priced}?api_base={llama_smollm2.base}"
    response = litellm.completion(
        model, ASK, api_key=API_KEY, max_tokens=20, max_cost=0.001, panel="reasoning", **SETTINGS
    )
    assert response._hidden_params["response_cost"] == 0.0
    trace = trace_of(response)
    assert all(e["error"] is None for e in trace), trace
    # The panel streams the proposers: llama.cpp's stream sends no usage, litellm counted it.
    assert [e["usage_estimated"] for e in trace] == [True, True, False]


def test_unpriced_local_models_under_max_cost_are_told_how_to_register_a_price(llama_smollm2):
    # A name of its own: litellm remembers a registered model after its entry is removed.
    model = f"mixture/openai/unpriced-smol*2>openai/unpriced-smol?api_base={llama_smollm2.base}"
    with pytest.raises(litellm_mixture.BudgetError, match="register_model"):
        litellm.completion(model, ASK, api_key=API_KEY, max_cost=0.001)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_prompt_past_the_servers_context_window_is_a_context_window_error(llama_smollm2, stream):
    model = f"mixture/{llama_smollm2.model}*2>{llama_smollm2.model}"
    with pytest.raises(litellm.ContextWindowExceededError) as err:
        response = litellm.completion(
            model,
            LONG,
            api_base=llama_smollm2.base,
            api_key=API_KEY,
            stream=stream,
            max_tokens=16,
        )
        list(response) if stream else None
    assert isinstance(err.value, litellm_mixture.MembersContextWindowError)
    assert "context" in err.value.message


def test_a_registered_window_refuses_the_prompt_before_the_call(llama_smollm2, priced):
    model = f"mixture/{priced}*2>{priced}?api_base={llama_smollm2.base}"
    with pytest.raises(litellm.ContextWindowExceededError) as err:
        litellm.completion(model, LONG, api_key=API_KEY, max_tokens=16)
    assert "found before the call" in err.value.message


def test_streams_the_server_interrupts_are_cut_answers_not_references(tmp_path):
    # llama.cpp's default: a request that arrives ends the running stream with no finish reason.
    with llama_server(SMOLLM2, interrupt_requests=True, log_dir=tmp_path) as server:
        model = f"mixture/{server.model}*3>{server.model}?api_base={server.base}"
        try:
            response = litellm.completion(
                model, ASK, api_key=API_KEY, max_tokens=48, panel="reasoning", **SETTINGS
            )
        except litellm_mixture.MembersFailedError as e:  # every sample cut: a 5xx, retryable
            reasons = [f.reason for f in e.failures]
            cut_or_empty = (*CUT_REASONS, "empty answer")
            assert reasons and all(any(c in r for c in cut_or_empty) for r in reasons), reasons
            return
        proposals = [e for e in trace_of(response) if e["step"] == 0]
        cut = [e for e in proposals if e["error"]]
        # A stream cut before its first token may be read as an empty answer: a failure too.
        reasons = [e["error"] for e in cut]
        assert all(any(c in r for c in (*CUT_REASONS, "empty answer")) for r in reasons), reasons
        system = response._hidden_params[HIDDEN_KEY]
        assert len(proposals) - len(cut) >= 1 and system["trace"][-1]["error"] is None


def test_through_the_proxy_local_members_overflow_as_a_400_and_panel_usage_is_not_all_reasoning(
    llama_smollm2, tmp_path
):
    smol = {"model_name": "smol", "litellm_params": {"model": llama_smollm2.model}}
    smol["litellm_params"]["api_key"] = API_KEY
    # An operator's mixture of local models: its entry's api_base and key reach the members.
    spec = f"mixture/{llama_smollm2.model}*2>{llama_smollm2.model}"
    local = {"model_name": "local-mix", "litellm_params": {"model": spec, "api_key": API_KEY}}
    local["litellm_params"]["api_base"] = llama_smollm2.base
    with litellm_proxy(tmp_path, llama_smollm2.base, models=[smol, local]) as proxy:
        client = openai.OpenAI(base_url=proxy.base, api_key=proxy.master_key, max_retries=0)
        mixed = client.chat.completions.create(
            model="local-mix", messages=ASK, max_tokens=16, timeout=120, **SETTINGS
        )
        assert mixed.choices[0].message.content.strip()
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(
                model="mixture/smol*2>smol", messages=LONG, max_tokens=16, timeout=120
            )
        assert err.value.status_code == 400 and "context" in str(err.value).lower()
        reply = client.chat.completions.create(
            model="mixture/smol*2>smol",
            messages=ASK,
            max_tokens=16,
            timeout=120,
            extra_body={"panel": "reasoning"},
            **SETTINGS,
        )
        usage = reply.usage
        details = usage.completion_tokens_details
        reasoning = (details.reasoning_tokens or 0) if details is not None else 0
        assert reasoning < usage.completion_tokens, usage
