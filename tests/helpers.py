"""Plain helpers the test modules share (fixtures live in conftest.py)."""

import json
import shlex
import time
from importlib.metadata import version

import litellm

from tests.upstream_process import ROOT

NEWER_LITELLM = tuple(map(int, version("litellm").split(".")[:2])) >= (1, 100)
# litellm 1.110 raises itself (MidStreamFallbackError) when a stream ends without a finish
# reason: the member fails with that error, not "cut answer", and cut_answers: keep cannot keep it.
RAISES_ON_CUT = tuple(map(int, version("litellm").split(".")[:2])) >= (1, 110)
CUT_REASONS = ("cut answer", "MidStreamFallbackError") if RAISES_ON_CUT else ("cut answer",)
ASK = [{"role": "user", "content": "What is 2+2?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "save",
            "parameters": {"type": "object", "properties": {"refs": {"type": "integer"}}},
        },
    }
]
# Upstream model names litellm prices under another name (the proxy's deepseek-chat alias).
PRICED_AS = {"deepseek-chat": "deepseek/deepseek-chat"}
AIDER_DIR = ROOT / "integrations" / "aider"
# The litellm aider 0.86.2 pins: the shipped metadata's numbers come from its price map.
AIDER_LITELLM = "1.81.10"


def three_proposers(**top) -> str:
    """Three proposers and an aggregator, no retries (each call the upstream sees is one the
    mixture made), with more top-level settings: inline JSON."""
    doc = {
        "retries": 0,
        "steps": [
            {"propose": ["openai/p1", "openai/p2", "openai/p3"]},
            {"aggregate": "openai/agg"},
        ],
        **top,
    }
    return json.dumps(doc)


def complete(model: str, messages=ASK, **kwargs):
    return litellm.completion(model="mixture/" + model, messages=messages, num_retries=0, **kwargs)


def wait_for(check, timeout=15.0):
    """``check()``'s first true value, or its last value once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def billed(upstream) -> tuple[int, int, float]:
    """The prompt tokens, completion tokens and cost a fake upstream process billed in all."""
    calls = upstream.calls()
    prompt = sum(c["usage"]["prompt_tokens"] for c in calls)
    completion = sum(c["usage"]["completion_tokens"] for c in calls)
    cost = sum(
        sum(
            litellm.cost_per_token(
                model=PRICED_AS.get(c["request"]["model"], c["request"]["model"]),
                prompt_tokens=c["usage"]["prompt_tokens"],
                completion_tokens=c["usage"]["completion_tokens"],
            )
        )
        for c in calls
    )
    return prompt, completion, cost


def readme_commands() -> list[list[str]]:
    """The ``litellm-mixture aider-settings ...`` lines that integrations/aider/README.md says
    wrote the files next to it, each as the CLI's arguments (from ``aider-settings`` on)."""
    text = (AIDER_DIR / "README.md").read_text()
    section = text.split("## The files here", 1)[1].split("\n## ", 1)[0]
    prefix = "litellm-mixture aider-settings "
    return [shlex.split(line)[1:] for line in section.splitlines() if line.startswith(prefix)]
