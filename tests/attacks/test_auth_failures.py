"""Attacks on the real proxy (item 8 of issue 12): a proxy whose provider keys are missing, and
upstreams that refuse a key or a permission. The answer is a 401 (403 when permission is
denied) at once, naming the members and saying each reason once; no member call is retried.

The time bound is generous (1.5 s on a shared machine, where the failures themselves take
milliseconds): end to end only. This proxy's Router does not retry member aliases
(``num_retries: 0``): litellm reports the OpenAI SDK's missing key as a 500, which the Router
retries (about 5 s) before the mixture sees it, as it does for a plain call of the alias.
"""

import time

import pytest

from tests.attacks.engine_stack import assert_nothing_leaked, calls_to, engine_proxy, post
from tests.attacks.proxy_helpers import ASK

SLACK = 1.5


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, shared_upstream_process):
    """The proxy with no provider key, whose Router does not retry."""
    folder = tmp_path_factory.mktemp("proxy")
    base = shared_upstream_process.base
    with engine_proxy(folder, base, provider_keys=False, router_retries=False) as proxy:
        # Warm: a fresh proxy's first request imports for about a second.
        assert post(proxy, {"model": "demo", "messages": ASK}).status_code == 200
        yield proxy


@pytest.fixture
def upstream_process(upstream_process):
    upstream_process.configure(require_key=True)  # as providers do: no key, a 401
    return upstream_process


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_missing_keys_are_a_401_at_once_said_once(upstream_process, proxy, stream):
    started = time.monotonic()
    r = post(proxy, {"model": "team-moa", "messages": ASK, "stream": stream})
    took = time.monotonic() - started
    assert r.status_code == 401, r.text
    message = r.json()["error"]["message"]
    # gpt-4o-mini has no key in this process: its SDK refuses before sending anything.
    assert "members gpt-4o-mini*2 -> AuthenticationError" in message
    assert message.count("Missing credentials") == 1, message
    # deepseek-chat went out without one, and its upstream said 401, once: no retry.
    assert "member deepseek-chat -> AuthenticationError" in message
    assert [c["key"] for c in upstream_process.calls()] == [""]
    assert calls_to(upstream_process, "gpt-4o") == []
    assert took <= SLACK


def test_a_client_spec_of_one_keyless_model_names_it_once(upstream_process, proxy):
    r = post(proxy, {"model": "mixture/gpt-4o-mini*3>gpt-4o", "messages": ASK})
    assert r.status_code == 401, r.text
    message = r.json()["error"]["message"]
    assert "0 of 1 required member answers (3 failed): step 1 members gpt-4o-mini*3 -> " in message
    assert message.count("Missing credentials") == 1 and len(message) < 700
    assert upstream_process.calls() == []
    assert_nothing_leaked(proxy, r.content)


def test_permission_denied_everywhere_is_a_403_with_no_retry(upstream_process, proxy):
    # litellm types an upstream 403 as a bare APIError, which the Router would retry.
    upstream_process.configure(fault={"deepseek-chat": {"kind": "403", "message": "not allowed"}})
    r = post(proxy, {"model": "mixture/deepseek-chat*2>gpt-4o", "messages": ASK})
    assert r.status_code == 403, r.text
    message = r.json()["error"]["message"]
    assert "members deepseek-chat*2 -> PermissionDeniedError" in message
    assert (
        len(calls_to(upstream_process, "deepseek-chat")) == 2
        and calls_to(upstream_process, "gpt-4o") == []
    )
