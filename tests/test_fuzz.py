"""Property: any string after ``mixture/`` decodes to a Pipeline or raises SpecError (a
BadRequestError): never another exception, never a hang, never unbounded memory.

CI runs a bounded budget; a longer run by hand:

    LITELLM_MIXTURE_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz.py
"""

import json
import os

import litellm
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    decodes_or_refuses(text)
