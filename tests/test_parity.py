"""Parity with mixture-llm: every example pipeline in its README (shared/seeds/002_*.txt),
written in our Python API and in YAML, makes the same member calls in the same layer order.

Adapted for the conversation: members get the caller's messages rather than one query string.
Where that README's "paper-accurate" pipelines add a layer the papers do not have (Together MoA
and MoA-Lite each gain a Synthesize), ours follow the papers: Together MoA is 3 layers
(propose, synthesize, aggregate; "rounds" = 2) and MoA-Lite 2.
"""

import asyncio
import collections
import re

import litellm
import pytest

import litellm_mixture
from litellm_mixture import Aggregate, Dropout, Member, Pipeline, Propose, Shuffle, Synthesize
from tests.helpers import ASK

PAPER = [
    "wizardlm-2-8x22b",
    "qwen1.5-110b-chat",
    "qwen1.5-72b-chat",
    "llama-3-70b-instruct",
    "mixtral-8x22b-instruct",
    "dbrx-instruct",
]
OPENROUTER = [
    "qwen/qwen-2.5-72b-instruct",
    "meta-llama/llama-3.3-70b-instruct",
    "mistralai/mixtral-8x22b-instruct",
    "databricks/dbrx-instruct",
]
GROQ = [
    "llama-3.3-70b-versatile",
    "llama-3.1-8b-instant",
    "qwen/qwen3-32b",
    "meta-llama/llama-4-scout-17b-16e-instruct",
]
ROBUST = ["gpt-4o", "claude-sonnet", "llama-70b", "gemini-pro"]


def o(*models):
    """Every model through the OpenAI-compatible route the tests mock."""
    return [f"openai/{m}" for m in models]


def yaml_list(models):
    return "[" + ", ".join(o(*models)) + "]"


# name: (our Python pipeline, our YAML, the calls it makes: per layer, the models called, how
# many answers each call reads, and the temperature and max_tokens sent)
CASES = {
    "quick start": (
        Pipeline(
            [
                Propose(o("gpt-4o", "claude-sonnet-4-20250514", "llama-3.3-70b")),
                Aggregate("openai/gpt-4o"),
            ]
        ),
        f"""
        steps:
          - propose: {yaml_list(["gpt-4o", "claude-sonnet-4-20250514", "llama-3.3-70b"])}
          - aggregate: openai/gpt-4o
        """,
        [
            (["gpt-4o", "claude-sonnet-4-20250514", "llama-3.3-70b"], 0, None, None),
            (["gpt-4o"], 3, None, None),
        ],
    ),
    "together moa (paper: 3 layers)": (
        Pipeline(
            [
                Propose(o(*PAPER), temp=0.7, max_tokens=512),
                Synthesize(o(*PAPER), temp=0.7, max_tokens=512),
                Aggregate("openai/qwen1.5-110b-chat"),
            ]
        ),
        f"""
        steps:
          - propose: {yaml_list(PAPER)}
            temperature: 0.7
            max_tokens: 512
          - synthesize: {yaml_list(PAPER)}
            temperature: 0.7
            max_tokens: 512
          - aggregate: openai/qwen1.5-110b-chat
        """,
        [(PAPER, 0, 0.7, 512), (PAPER, 6, 0.7, 512), (["qwen1.5-110b-chat"], 6, None, None)],
    ),
    "moa-lite (paper: 2 layers)": (
        Pipeline(
            [Propose(o(*PAPER), temp=0.7, max_tokens=512), Aggregate("openai/qwen1.5-72b-chat")]
        ),
        f"""
        steps:
          - propose: {yaml_list(PAPER)}
            temp: 0.7
            max_tokens: 512
          - aggregate: openai/qwen1.5-72b-chat
        """,
        [(PAPER, 0, 0.7, 512), (["qwen1.5-72b-chat"], 6, None, None)],
    ),
    "self-moa": (
        Pipeline([Propose(o(*["gpt-4o"] * 6), temp=0.7), Aggregate("openai/gpt-4o")]),
        """
        steps:
          - propose: [{model: openai/gpt-4o, samples: 6}]
            temperature: 0.7
          - aggregate: openai/gpt-4o
        """,
        [(["gpt-4o"] * 6, 0, 0.7, None), (["gpt-4o"], 6, None, None)],
    ),
    "robust moa (seeded)": (
        Pipeline(
            [Propose(o(*ROBUST)), Shuffle(), Dropout(0.2), Aggregate("openai/gpt-4o")], seed=7
        ),
        f"""
        seed: 7
        steps:
          - propose: {yaml_list(ROBUST)}
          - shuffle
          - dropout: 0.2
          - aggregate: openai/gpt-4o
        """,
        [(ROBUST, 0, None, None), (["gpt-4o"], "1-4", None, None)],
    ),
    "multi provider": (
        Pipeline(
            [
                Propose(o("gpt-4o", "claude-sonnet-4-20250514", "gpt-4o-mini")),
                Aggregate("openai/claude-sonnet-4-20250514"),
            ]
        ),
        f"""
        steps:
          - propose: {yaml_list(["gpt-4o", "claude-sonnet-4-20250514", "gpt-4o-mini"])}
          - aggregate: openai/claude-sonnet-4-20250514
        """,
        [
            (["gpt-4o", "claude-sonnet-4-20250514", "gpt-4o-mini"], 0, None, None),
            (["claude-sonnet-4-20250514"], 3, None, None),
        ],
    ),
    "together moa via openrouter": (
        Pipeline(
            [
                Propose(o(*OPENROUTER), temp=0.7, max_tokens=512),
                Synthesize(o(*OPENROUTER), temp=0.7, max_tokens=512),
                Aggregate("openai/qwen/qwen-2.5-72b-instruct"),
            ]
        ),
        f"""
        steps:
          - propose: {yaml_list(OPENROUTER)}
            temperature: 0.7
            max_tokens: 512
          - synthesize: {yaml_list(OPENROUTER)}
            temperature: 0.7
            max_tokens: 512
          - aggregate: openai/qwen/qwen-2.5-72b-instruct
        """,
        [(OPENROUTER, 0, 0.7, 512), (OPENROUTER, 4, 0.7, 512), (OPENROUTER[:1], 4, None, None)],
    ),
    "groq free moa": (
        Pipeline(
            [
                Propose(o(*GROQ), temp=0.7, max_tokens=512),
                Aggregate("openai/llama-3.3-70b-versatile"),
            ]
        ),
        f"""
        steps:
          - propose: {yaml_list(GROQ)}
            temperature: 0.7
            max_tokens: 512
          - aggregate: openai/llama-3.3-70b-versatile
        """,
        [(GROQ, 0, 0.7, 512), (GROQ[:1], 4, None, None)],
    ),
    "groq free self-moa": (
        Pipeline(
            [
                Propose([Member("openai/llama-3.3-70b-versatile", samples=4)], temp=0.7),
                Aggregate("openai/llama-3.3-70b-versatile"),
            ]
        ),
        """
        steps:
          - propose: [{model: openai/llama-3.3-70b-versatile, samples: 4}]
            temperature: 0.7
          - aggregate: openai/llama-3.3-70b-versatile
        """,
        [(GROQ[:1] * 4, 0, 0.7, None), (GROQ[:1], 4, None, None)],
    ),
}


def references(request):
    system = request["messages"][0]
    if system["role"] != "system":
        return 0
    return len(re.findall(r"\n\d+\. answer from ", system["content"]))


def assert_layers(requests, layers):
    """The requests, in the order sent, are the layers in order, each call as described.
    Returns each layer's calls (in any order within the layer: they run at once)."""
    start, seen = 0, []
    for models, refs, temperature, max_tokens in layers:
        group = requests[start : start + len(models)]
        start += len(models)
        seen.append(sorted((r["model"], references(r)) for r in group))
        assert collections.Counter(r["model"] for r in group) == collections.Counter(models)
        for r in group:
            if refs == "1-4":  # shuffle + dropout(0.2) keep between one and all four
                assert 1 <= references(r) <= 4
            else:
                assert references(r) == refs
            assert r.get("temperature") == temperature and r.get("max_tokens") == max_tokens
            assert r["messages"][-1] == ASK[-1] or refs
    assert start == len(requests)
    return seen


@pytest.mark.parametrize("name", list(CASES))
def test_mixture_llm_readme_pipelines_make_the_same_calls(respx_upstream, name):
    pipeline, yaml_text, layers = CASES[name]
    from_yaml = litellm_mixture.decode("mixture/" + yaml_text.strip().replace("\n        ", "\n"))
    assert [s.kind for s in from_yaml.steps] == [s.kind for s in pipeline.steps]

    asyncio.run(litellm_mixture.run(pipeline, ASK))
    python_calls = assert_layers(respx_upstream.requests, layers)

    respx_upstream.requests.clear()
    model = litellm_mixture.encode(from_yaml)
    litellm.completion(model=model, messages=ASK, num_retries=0)
    # The same calls, layer by layer, whichever form the pipeline was written in.
    assert assert_layers(respx_upstream.requests, layers) == python_calls


def test_our_paper_presets_have_the_papers_layer_counts():
    # mixture-llm's README writes Together MoA with 4 layers and MoA-Lite with 3.
    assert [s.kind for s in litellm_mixture.decode("mixture/together-moa").steps] == [
        "propose",
        "synthesize",
        "aggregate",
    ]
    assert [s.kind for s in litellm_mixture.decode("mixture/moa-lite").steps] == [
        "propose",
        "aggregate",
    ]
    robust = litellm_mixture.decode("mixture/robust-moa")
    assert [s.kind for s in robust.steps] == ["propose", "shuffle", "dropout", "aggregate"]
    assert len(robust.steps[0].members) == 4 and robust.steps[2].rate == 0.2
