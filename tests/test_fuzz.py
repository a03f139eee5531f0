"""Property: any string after ``mixture/`` decodes to a Pipeline or raises SpecError (a
BadRequestError): never another exception, never a hang, never unbounded memory. A sample also
goes end to end through ``litellm.completion`` with mocked members.

CI runs a bounded budget; a longer run by hand:

    LITELLM_MIXTURE_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz.py
"""

import dataclasses
import json
import os
import threading
import tracemalloc

import litellm
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import litellm_mixture
from litellm_mixture import Pipeline, SpecError, decode

EXAMPLES = int(os.environ.get("LITELLM_MIXTURE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,  # ms per example: a spec that takes longer to decode is a bug
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
WORDS = [
    "steps", "propose", "synthesize", "aggregate", "layers", "type", "parallel", "aggregator",
    "models", "model", "samples", "temperature", "max_tokens", "min_successful", "members",
    "references", "delimiter", "messageMode", "prompt", "systemPrompt", "systemPrompts", "params",
    "timeout", "retries", "grace", "deadline", "fallbacks", "best_proposal", "kind", "inline",
    "concat", "system", "openai/gpt-4o", "mixture/demo", "demo", "a/b", "",
]  # fmt: skip


# A hang guard, not a speed bound: every case takes milliseconds, a hang would stall CI forever.
HANG_GUARD = 60.0
# Refused past 64 KB, a spec may cost a few copies of itself, never what an expanded alias bomb
# or unbounded recursion would (gigabytes).
FIXED_MEMORY, MEMORY_PER_INPUT_CHAR = 16e6, 4


def bounded(check, *args) -> float:
    """Runs ``check(*args)`` in a thread that may not outlive HANG_GUARD; returns its peak
    traced memory in bytes. A thread, not a signal: it works on any thread pytest runs in."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            check(*args)
        except BaseException as e:  # re-raised in the test's thread
            outcome.append(e)
        else:
            outcome.append(None)

    tracemalloc.start()
    try:
        thread = threading.Thread(target=run, daemon=True)  # daemon: a hang cannot block exit
        thread.start()
        thread.join(HANG_GUARD)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if thread.is_alive():
        pytest.fail(f"still running after {HANG_GUARD:g}s: {args!r:.200}")
    if outcome[0] is not None:
        raise outcome[0]
    return peak


def decodes_or_refuses(text: str) -> None:
    try:
        pipeline = decode("mixture/" + text)
    except SpecError as e:
        assert isinstance(e, litellm.BadRequestError) and e.status_code == 400
        assert e.message.startswith("litellm.BadRequestError: Invalid mixture spec")
        return
    assert isinstance(pipeline, Pipeline)


@FUZZ
@given(st.text())
def test_any_text(text):
    decodes_or_refuses(text)


@FUZZ
@given(st.text(alphabet="ab/.-_*+>%0123456789 \n\t,?=&{}[]:'\"!#\x00\u202e", max_size=80))
def test_one_line_like_text(text):
    decodes_or_refuses(text)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(WORDS), children, max_size=5)
    ),
    max_leaves=25,
)


@FUZZ
@given(values, st.booleans())
def test_documents_in_both_dialects(doc, as_json):
    try:
        text = json.dumps(doc) if as_json else yaml.safe_dump(doc, default_flow_style=True)
    except (ValueError, yaml.YAMLError):
        return
    decodes_or_refuses(text)


@pytest.mark.parametrize(
    "text",
    [
        # YAML alias bombs ("billion laughs")
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: [*b, *b, *b]",
        "{a: &a [1], b: *a}",
        "".join(  # nine levels of nine: 387,420,489 leaves if expanded
            f"{c}: &{c} [" + ", ".join([f"*{p}" if p else "lol"] * 9) + "]\n"
            for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
        ),
        # deep nesting, in flow and block style
        "[" * 100_000,
        "{a: " * 20_000,
        "steps:\n" + "".join("  " * i + "- \n" for i in range(3000)),
        # huge documents and names
        "steps: [" + ", ".join(["{propose: [a/b]}"] * 20_000) + "]",
        "x" * 1_000_000,
        "a/b*" + "9" * 10_000 + ">c/d",
        "a/b*1" + "0" * 400 + ">c/d",
        # odd Unicode and control characters
        "\x00",
        "a/b\x00>c/d",
        "\ud800>\udfff",
        "\u202ea/b>c/d",
        "%ff%fe>%00",
        "a%2>b",
        "\r\n\t",
        "!!python/object/apply:os.system ['echo pwned']",
        "{steps: [{propose: !!binary aGVsbG8=}]}",
        "steps: 2020-01-01",
        "{steps: [{propose: [{model: x, samples: 1e999}]}, {aggregate: y}]}",
        "{steps: [{propose: [{model: x, samples: .nan}]}, {aggregate: y}]}",
        "{steps: [{propose: [a/b], timeout: -1}, {aggregate: {model: y, max_tokens: 1e999}}]}",
        # specs that name mixtures inside themselves
        "mixture/mixture/mixture/demo",
        "mixture/" * 5000 + "demo",
        "demo?model=mixture/demo",
    ],
)
def test_hostile_specs(text):
    peak = bounded(decodes_or_refuses, text)
    assert peak < FIXED_MEMORY + MEMORY_PER_INPUT_CHAR * len(text)


async def _member(model, messages, **kwargs):
    # "1": a judge's answer names response 1; every other step takes it as text.
    return litellm.ModelResponse(
        model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": "1"}}],
        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    )


@pytest.fixture(scope="module")
def mocked_members():
    handler = litellm_mixture.handler
    previous = handler.host
    handler.host = dataclasses.replace(previous, caller=_member)
    yield
    handler.host = previous


def completes_or_refuses(text: str) -> None:
    try:
        response = litellm.completion(
            model="mixture/" + text, messages=[{"role": "user", "content": "hi"}]
        )
    except litellm.BadRequestError as e:
        assert e.status_code == 400
        return
    assert isinstance(response, litellm.ModelResponse)
    assert response.choices[0].message.content


# litellm routes a name containing these to their providers before it looks at the
# ``mixture/`` prefix (a documented limit); a URL spec would be fetched over the network.
ROUTED_ELSEWHERE = ("replicate", "clarifai", "togethercomputer", "://")


@settings(FUZZ, max_examples=min(EXAMPLES, 30), deadline=None)  # HANG_GUARD bounds each
@example("a/b+a/b*2>a/b")  # pipelines that run, besides the refusals fuzzing mostly finds
@example("mixture/a/b")
@example("{steps: [{propose: [a/b, a/b]}, {vote: a/b}]}")
@given(st.text(max_size=60) | st.text(alphabet="ab/.-_*+>%0123456789 \n,?=&{}[]:", max_size=60))
def test_any_text_end_to_end(mocked_members, text):
    if any(word in text.lower() for word in ROUTED_ELSEWHERE):
        return
    bounded(completes_or_refuses, text)
