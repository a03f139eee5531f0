"""A mixture of real models: SmolLM2-135M members on llama.cpp's server (tests/llama_server.py),
through ``litellm.completion`` (streamed and not) and through the real LiteLLM proxy.

Real models answer differently from one another, so these tests assert properties (an answer,
every member called and none failed, the caller's ``max_tokens`` honoured), never text.
"""

import litellm
import openai
import pytest

from litellm_mixture import Aggregate, Member, Pipeline, Propose, encode
from litellm_mixture.pricing.cost import HIDDEN_KEY
from tests.llama_server import API_KEY
from tests.proxy_process import litellm_proxy

pytestmark = pytest.mark.llama

ASK = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
SETTINGS = {"temperature": 0, "seed": 7, "max_tokens": 24}


def mixture(server) -> str:
    """Two samples propose (24 tokens each), one aggregates: three calls to one server."""
    propose = Propose([Member(**server.member(samples=2))], max_tokens=24)
    return encode(Pipeline([propose, Aggregate(Member(**server.member()))]))


def test_mixture_of_smollm2_answers(llama_smollm2):
    response = litellm.completion(mixture(llama_smollm2), ASK, **SETTINGS)
    assert response.choices[0].message.content.strip()
    assert response.choices[0].finish_reason in ("stop", "length")
    trace = response._hidden_params[HIDDEN_KEY]["trace"]
    assert len(trace) == 3 and all(entry["error"] is None for entry in trace), trace
    # llama.cpp's non-streamed usage is exact: the three calls' tokens, the last one capped.
    assert 0 < trace[-1]["completion_tokens"] <= 24
    assert response.usage.completion_tokens == sum(e["completion_tokens"] for e in trace)


def test_mixture_of_smollm2_streams(llama_smollm2):
    chunks = list(litellm.completion(mixture(llama_smollm2), ASK, stream=True, **SETTINGS))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_mixture_of_smollm2_through_the_proxy(llama_smollm2, tmp_path):
    def small_members(doc: dict) -> None:  # the policy's default max_tokens for members
        doc["litellm_settings"]["mixture_policy"]["max_tokens"] = 24

    smol = {"model_name": "smol", "litellm_params": {"model": llama_smollm2.model}}
    smol["litellm_params"]["api_key"] = API_KEY
    with litellm_proxy(tmp_path, llama_smollm2.base, adjust=small_members, models=[smol]) as proxy:
        client = openai.OpenAI(base_url=proxy.base, api_key=proxy.master_key, max_retries=0)
        reply = client.chat.completions.create(
            model="mixture/smol*2>smol", messages=ASK, timeout=120, **SETTINGS
        )
        assert reply.choices[0].message.content.strip()
        assert 0 < reply.usage.completion_tokens <= 3 * 24
        stream = client.chat.completions.create(
            model="mixture/smol*2>smol", messages=ASK, stream=True, timeout=120, **SETTINGS
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip()
