"""End to end: real litellm, a real fake-upstream process on 127.0.0.1, fresh interpreters."""

import asyncio
import json
import os
import subprocess
import sys
import time

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

from tests.helpers import NEWER_LITELLM, TOOLS, billed
from tests.upstream_process import ROOT

SPEC = "mixture/openai/gpt-4o-mini*2+openai/gpt-4o>openai/gpt-4o"
ASK = [{"role": "user", "content": "Name a prime number."}]


def assert_sums(usage, cost, upstream, calls=4):
    assert len(upstream.calls()) == calls
    prompt, completion, expected = billed(upstream)
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, completion)
    assert usage.total_tokens == prompt + completion
    assert cost == pytest.approx(expected, rel=1e-9)


def test_sync_completion(served):
    r = litellm.completion(model=SPEC, messages=ASK)
    assert r.choices[0].message.content.endswith("aggregating 3 references")
    assert r.model == SPEC
    assert_sums(r.usage, r._hidden_params["response_cost"], served)


def test_async_completion(served):
    r = asyncio.run(litellm.acompletion(model=SPEC, messages=ASK))
    assert_sums(r.usage, r._hidden_params["response_cost"], served)


def _collect_stream(chunks):
    text, usage = "", None
    for c in chunks:
        usage = getattr(c, "usage", None) or usage
        if c.choices and c.choices[0].delta.content:
            text += c.choices[0].delta.content
    return text, usage


def test_sync_streaming_yields_the_aggregator_tokens_and_the_summed_usage(served):
    chunks = list(
        litellm.completion(
            model=SPEC, messages=ASK, stream=True, stream_options={"include_usage": True}
        )
    )
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(text_chunks) > 3  # token by token, not one blob
    text, usage = _collect_stream(chunks)
    assert text.startswith("answer from gpt-4o #") and text.endswith("aggregating 3 references")
    assert (usage.prompt_tokens, usage.completion_tokens) == billed(served)[:2]
    if NEWER_LITELLM:
        assert usage.cost == pytest.approx(billed(served)[2], rel=1e-9)
    else:  # documented: litellm 1.81 drops usage.cost from stream chunks (callbacks still see it)
        assert getattr(usage, "cost", None) is None


def test_async_streaming(served):
    async def main():
        stream = await litellm.acompletion(
            model=SPEC, messages=ASK, stream=True, stream_options={"include_usage": True}
        )
        return [c async for c in stream]

    text, usage = _collect_stream(asyncio.run(main()))
    assert text.endswith("aggregating 3 references")
    assert (usage.prompt_tokens, usage.completion_tokens) == billed(served)[:2]


def test_sync_calls_inside_a_running_event_loop(served):
    async def main():
        plain = litellm.completion(model=SPEC, messages=ASK)
        streamed = list(litellm.completion(model=SPEC, messages=ASK, stream=True))
        return plain, streamed

    plain, streamed = asyncio.run(main())
    assert plain.choices[0].message.content.endswith("aggregating 3 references")
    assert _collect_stream(streamed)[0].endswith("aggregating 3 references")
    assert len(served.calls()) == 8


def test_streamed_tool_calls_at_the_aggregator(served):
    chunks = list(litellm.completion(model=SPEC, messages=ASK, tools=TOOLS, stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 2  # the upstream sent the arguments in two pieces
    built = litellm.stream_chunk_builder(chunks, messages=ASK)
    call = built.choices[0].message.tool_calls[0]
    assert call.function.name == "save" and json.loads(call.function.arguments) == {"refs": 3}
    assert built.choices[0].finish_reason == "tool_calls"
    assert [bool(c["request"].get("tools")) for c in served.calls()] == [False] * 3 + [True]


class CostSpy(CustomLogger):
    def __init__(self):
        super().__init__()
        self.costs: list = []

    def _seen(self, kwargs):
        if str(kwargs.get("model", "")).startswith("openai/gpt-4o-mini*2"):
            self.costs.append(kwargs.get("response_cost"))

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._seen(kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_callbacks_see_the_summed_cost(served, stream, add_callback):
    spy = CostSpy()
    add_callback(spy)
    result = litellm.completion(model=SPEC, messages=ASK, stream=stream)
    if stream:
        list(result)
    deadline = time.monotonic() + 10
    while not spy.costs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spy.costs
    cost = billed(served)[2]
    assert all(c == pytest.approx(cost, rel=1e-9) for c in spy.costs), (spy.costs, cost)


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd="/",
    )


@pytest.mark.slow  # a fresh Python process importing litellm
def test_installing_is_enough_no_import_of_ours(upstream_process):
    code = (
        "import litellm\n"
        f"r = litellm.completion(model={SPEC!r}, messages={ASK!r})\n"
        "print(r.choices[0].message.content)\n"
    )
    done = _fresh_python(code, OPENAI_API_BASE=upstream_process.base, OPENAI_API_KEY="sk-test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("aggregating 3 references")


def test_the_hook_never_imports_litellm_at_startup():
    done = _fresh_python(
        "import sys; print('litellm' in sys.modules, '_litellm_mixture_hook' in sys.modules)"
    )
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_hook_can_be_switched_off():
    done = _fresh_python(
        "import litellm\n"
        "print(any(e['provider'] == 'mixture' for e in litellm.custom_provider_map))",
        LITELLM_MIXTURE_NO_HOOK="1",
    )
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("first", ["litellm_mixture", "litellm"])
@pytest.mark.slow  # a fresh Python process importing litellm
def test_import_order_does_not_matter(first):
    second = "litellm" if first == "litellm_mixture" else "litellm_mixture"
    done = _fresh_python(
        f"import {first}, {second}, litellm\n"
        "print([e['provider'] for e in litellm.custom_provider_map])"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['mixture']"


@pytest.mark.parametrize("hook", ["on", "off"])
@pytest.mark.slow  # a fresh Python process importing litellm
def test_importing_the_package_registers_without_importing_litellm(hook):
    code = (
        "import sys, litellm_mixture\n"
        "print('litellm' in sys.modules)\n"
        "import litellm\n"
        "print([e['provider'] for e in litellm.custom_provider_map])\n"
    )
    env = {"LITELLM_MIXTURE_NO_HOOK": "1"} if hook == "off" else {}
    done = _fresh_python(code, **env)
    assert done.stdout.split("\n")[:2] == ["False", "['mixture']"], done.stderr


@pytest.mark.slow  # a fresh Python process importing litellm
def test_every_public_name_loads_and_a_module_that_imports_litellm_registers():
    # api imports engine, which imports litellm: the hook must wait until that import is done.
    code = (
        "import litellm_mixture\n"
        "from litellm_mixture import run\n"
        "import litellm\n"
        "print([e['provider'] for e in litellm.custom_provider_map])\n"
        "print([n for n in litellm_mixture.__all__ if getattr(litellm_mixture, n, None) is None])\n"
        "print(litellm_mixture.handler is litellm.custom_provider_map[0]['custom_handler'])\n"
    )
    for env in ({}, {"LITELLM_MIXTURE_NO_HOOK": "1"}):
        done = _fresh_python(code, **env)
        assert done.stdout.split() == ["['mixture']", "[]", "True"], done.stderr


@pytest.mark.slow  # a fresh Python process importing litellm
def test_no_task_destroyed_message_after_a_sync_call_then_another_loop():
    # litellm's logging worker moves to the loop it was last used on (here asyncio.run's),
    # leaving its idle task on the loop that runs sync mixture calls.
    code = (
        "import asyncio, gc, litellm\n"
        "ask = [{'role': 'user', 'content': 'hi'}]\n"
        "litellm.completion(model='mixture/demo', messages=ask)\n"
        "asyncio.run(litellm.acompletion(model='gpt-4o-mini', messages=ask, mock_response='ok'))\n"
        "gc.collect()\n"
        "print('done')\n"
    )
    done = _fresh_python(code)
    assert done.stdout.splitlines()[-1] == "done", done.stderr
    assert "Task was destroyed" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_hook_registers_when_litellm_is_imported_in_a_thread(upstream_process):
    code = (
        "import threading\n"
        "def load():\n"
        "    import litellm\n"
        "t = threading.Thread(target=load); t.start(); t.join()\n"
        "import litellm\n"
        f"r = litellm.completion(model={SPEC!r}, messages={ASK!r})\n"
        "print(r.model)\n"
    )
    done = _fresh_python(code, OPENAI_API_BASE=upstream_process.base, OPENAI_API_KEY="sk-test")
    assert done.stdout.strip() == SPEC, done.stderr


@pytest.mark.slow  # a fresh Python process importing litellm
def test_readme_quick_start_runs_offline():
    done = subprocess.run(
        [sys.executable, "-m", "litellm_mixture.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert done.returncode == 0, done.stderr
    assert "[canned aggregator]" in done.stdout and "cost" in done.stdout
