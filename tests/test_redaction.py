"""Secrets struck by value from member errors, traces, intermediate responses, dumps and logs.

A key of a shape no pattern knows (``zz-…``) must be struck because the process knows it: it is
in the environment, or the proxy registered it (its master key, its model_list credentials and
the environment variables they name).
"""

import contextlib
import json
import logging

import httpx
import litellm

from litellm_mixture import MemberFailure
from litellm_mixture._litellm import patches as _patches
from litellm_mixture.common import redaction
from litellm_mixture.provider import proxy
from tests.helpers import complete

KEY = "zz-ab12cd34ef56gh78ij90"


def test_an_environment_key_of_any_shape_is_struck(monkeypatch):
    text = f"Incorrect API key provided: {KEY}."
    assert redaction.redact(text) == text  # not key-shaped: unknown, it stays
    monkeypatch.setenv("ACME_API_KEY", KEY)
    assert redaction.redact(text) == "Incorrect API key provided: [redacted]."
    # As JSON escapes it, too (a key with a quote or a backslash in it).
    monkeypatch.setenv("ACME_TOKEN", 'zz"q\\uote-1234')
    assert redaction.redact(json.dumps({"e": 'zz"q\\uote-1234'})) == '{"e": "[redacted]"}'


def test_registered_values_are_struck_and_short_values_left_alone(monkeypatch):
    redaction.register(["mk_0123456789abcdef", "short"])
    assert redaction.redact("master mk_0123456789abcdef, short") == "master [redacted], short"
    monkeypatch.setenv("TINY_KEY", "abc")
    assert redaction.redact("abc stays") == "abc stays"


def test_the_pattern_is_rebuilt_only_when_the_values_change(monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", KEY)
    first = redaction._known.pattern()
    assert redaction._known.pattern() is first
    monkeypatch.setenv("ACME_API_KEY", KEY + "x")
    assert redaction._known.pattern() is not first


def test_the_proxy_registers_its_master_key_its_keys_and_the_variables_they_name(monkeypatch):
    class Router:
        model_list = [
            {"model_name": "a", "litellm_params": {"model": "openai/a", "api_key": KEY}},
            {"model_name": "b", "litellm_params": {"model": "x/b", "api_key": "os.environ/B_VAR"}},
        ]
        model_names = ["a", "b"]

    class Server:
        llm_router = Router()
        master_key = "mk_0123456789abcdef"

    monkeypatch.setitem(__import__("sys").modules, "litellm.proxy.proxy_server", Server)
    monkeypatch.setenv("B_VAR", "q9.plain-value-0001")  # not named like a secret
    proxy.models()
    text = redaction.redact(f"{KEY} mk_0123456789abcdef q9.plain-value-0001")
    assert text == "[redacted] [redacted] [redacted]"


def test_member_errors_and_traces_lose_a_known_key(respx_upstream, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", KEY)
    echo = httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {KEY}"}})
    respx_upstream.overrides["p1"] = echo
    r = complete("openai/p1+openai/p2>openai/agg", intermediate_responses=True)
    (p1,) = [e for e in r._hidden_params["mixture"]["trace"] if e["model"] == "openai/p1"]
    assert p1["error"].startswith("AuthenticationError") and "[redacted]" in p1["error"]
    assert KEY not in json.dumps(r.intermediate_responses) and KEY not in p1["error"]
    failure = MemberFailure(
        0, "openai/p1", litellm.AuthenticationError(f"bad {KEY}", "openai", "p1")
    )
    assert KEY not in failure.reason


@contextlib.contextmanager
def lines_of(name, formatter=None):
    """What logger ``name`` writes, as a handler of it formats each record."""
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep()
    if formatter is not None:
        handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield logger, lines
    finally:
        logger.removeHandler(handler)


def test_log_records_lose_a_known_key_in_their_message_and_traceback(monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", KEY)
    _patches.guard_logs()
    with lines_of("LiteLLM Router") as (logger, records):
        logger.error("member failed: %s", f"Incorrect API key provided: {KEY}")
        try:
            raise ValueError(f"key {KEY} refused")
        except ValueError:
            logger.exception("with a traceback")
    assert records[0] == "member failed: Incorrect API key provided: [redacted]"
    assert "ValueError: key [redacted] refused" in records[1]
    assert all(KEY not in r for r in records)


def test_a_json_log_line_loses_a_known_key_in_its_traceback_and_extras(monkeypatch):
    from litellm._logging import JsonFormatter

    monkeypatch.setenv("ACME_API_KEY", KEY)
    _patches.guard_logs()
    with lines_of("LiteLLM Proxy", JsonFormatter()) as (logger, lines):
        try:
            raise ValueError(f"key {KEY} refused")
        except ValueError:
            logger.exception("request failed", extra={"upstream_text": f"echo {KEY}"})
    (line,) = lines
    record = json.loads(line)
    assert "ValueError: key [redacted] refused" in record["stacktrace"]
    assert record["upstream_text"] == "echo [redacted]" and KEY not in line
