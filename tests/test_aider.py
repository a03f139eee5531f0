"""End to end with the released aider (0.86.2, which pins litellm 1.81.10), against the fake
upstream on 127.0.0.1.

aider is installed the way its own installer does it, as a uv tool, with this project built from
the working tree and added: ``uv tool install aider-chat==0.86.2 --with .``. The tool lives in
``.venv-aider`` (``$LITELLM_MIXTURE_AIDER_TOOLS`` overrides the place).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import litellm
import pytest

from tests.proxy_process import litellm_proxy
from tests.upstream_process import ROOT, fake_upstream

AIDER = "aider-chat==0.86.2"
TOOLS = Path(os.environ.get("LITELLM_MIXTURE_AIDER_TOOLS", ROOT / ".venv-aider"))
PRESET = """
steps:
  - propose: [openai/gpt-4o-mini, openai/gpt-4o-mini]
  - aggregate: openai/gpt-4o
"""
EDIT = """hello.py
```python
<<<<<<< SEARCH
    return "hi"
=======
    return "hello"
>>>>>>> REPLACE
```
"""
COMMIT_MESSAGE = "feat: greet with hello"


def _bin(name: str) -> Path:
    return TOOLS / "tools" / "aider-chat" / "bin" / name


@pytest.fixture(scope="module")
def aider_venv():
    env = {**os.environ, "UV_TOOL_DIR": str(TOOLS / "tools"), "UV_TOOL_BIN_DIR": str(TOOLS / "bin")}
    uv = Path(sys.executable).parent / "uv"
    # --reinstall-package: uv would otherwise reuse a wheel built from an older working tree.
    args = ["tool", "install", "--force", "--python", sys.executable, AIDER]
    args += ["--with", str(ROOT), "--reinstall-package", "litellm-mixture"]
    done = subprocess.run([str(uv), *args], env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr
    return TOOLS


@pytest.fixture(scope="module")
def upstream():
    with fake_upstream() as up:
        yield up


@pytest.fixture
def workspace(tmp_path, upstream):
    """A git repo with hello.py, a preset folder, a HOME, and the environment aider runs with."""
    repo, home, presets = tmp_path / "repo", tmp_path / "home", tmp_path / "presets"
    for folder in (repo, home, presets):
        folder.mkdir()
    (presets / "e2e-moa.yaml").write_text(PRESET)
    # aider fetches LiteLLM's price list at start; a non-empty cache keeps it offline.
    cache = home / ".aider" / "caches"
    cache.mkdir(parents=True)
    (cache / "model_prices_and_context_window.json").write_text('{"_": {}}')
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "OPENAI_API_BASE": upstream.base,
        "OPENAI_API_KEY": "sk-aider-e2e",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MIXTURE_PRESETS": str(presets),
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.org",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.org",
    }
    (repo / "hello.py").write_text('def greet():\n    return "hi"\n')
    for args in (["init", "-q"], ["add", "hello.py"], ["commit", "-qm", "start"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, timeout=30)
    upstream.clear()
    upstream.configure(reply={"gpt-4o": EDIT, "gpt-3.5-turbo": COMMIT_MESSAGE})
    return repo, env


def run_aider(repo, env, *extra, model="mixture/e2e-moa", weak="openai/gpt-3.5-turbo"):
    settings = repo.parent / "settings"
    write = ["aider-settings", model, "--weak-model", weak, "--write", str(settings)]
    subprocess.run(
        [str(_bin("litellm-mixture")), *write],
        env=env,
        check=True,
        timeout=120,
    )
    args = [str(_bin("aider")), "--model", model, "--message", "Greet with hello."]
    args += ["--model-settings-file", str(settings / ".aider.model.settings.yml")]
    args += ["--model-metadata-file", str(settings / ".aider.model.metadata.json")]
    args += ["--yes-always", "--no-check-update", "--no-show-release-notes", "--no-analytics"]
    args += ["--no-pretty", "--no-gitignore", *extra, "hello.py"]
    done = subprocess.run(
        args,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if os.environ.get("SHOW_AIDER"):
        print(done.stdout + done.stderr)
    return done.stdout + done.stderr


def format_cost(value):
    """aider's own formatting of the cost line (aider/coders/base_coder.py)."""
    if value == 0:
        return "0.00"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.{max(2, 2 - int(math.log10(abs(value))))}f}"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_aider_edits_through_a_mixture_and_commits_with_the_weak_model(
    aider_venv, workspace, upstream, stream
):
    repo, env = workspace
    output = run_aider(repo, env, *([] if stream else ["--no-stream"]))

    assert (repo / "hello.py").read_text() == 'def greet():\n    return "hello"\n'
    assert "Unknown context window" not in output and "Warning for mixture" not in output

    calls = upstream.calls()
    by_model = {
        m: [c for c in calls if c["request"]["model"] == m]
        for m in {c["request"]["model"] for c in calls}
    }
    proposers, aggregator = by_model["gpt-4o-mini"], by_model["gpt-4o"]
    assert len(proposers) == 2 and len(aggregator) == 1
    # Proposers get aider's own conversation (its system prompt, the file, the request).
    for call in proposers:
        messages = call["request"]["messages"]
        assert "SEARCH/REPLACE" in messages[0]["content"]
        assert "Greet with hello." in messages[-1]["content"]
        assert call["request"].get("stream") is not True
    # The aggregator gets them as Together MoA references, and streams when aider streams.
    system = aggregator[0]["request"]["messages"][0]["content"]
    assert "Responses from models:" in system and system.count("answer from gpt-4o-mini") == 2
    assert bool(aggregator[0]["request"].get("stream")) is stream

    # The commit message came from the weak model in the settings file, not the mixture.
    assert len(by_model["gpt-3.5-turbo"]) == 1
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert log.stdout.strip() == COMMIT_MESSAGE

    mixture_cost = sum(
        sum(
            litellm.cost_per_token(
                model=c["request"]["model"],
                prompt_tokens=c["usage"]["prompt_tokens"],
                completion_tokens=c["usage"]["completion_tokens"],
            )
        )
        for c in proposers + aggregator
    )
    cost_line = next(line for line in output.splitlines() if "Cost: $" in line)
    if not stream:
        assert f"Cost: ${format_cost(mixture_cost)} message" in cost_line, cost_line
    # Streamed, aider 0.86.2 prices the reply itself: its own token count times the per-token
    # prices of the model info, an estimate (see integrations/aider/README.md).


def test_the_hook_registers_when_aider_imports_litellm_in_a_background_thread(aider_venv):
    code = (
        "import threading\n"
        "t = threading.Thread(target=__import__, args=('litellm',)); t.start(); t.join()\n"
        "import litellm\n"
        "print([e['provider'] for e in litellm.custom_provider_map])\n"
        "print(litellm.get_model_info('mixture/multiple-hats')['max_input_tokens'])\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [str(_bin("python")), "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    providers, window = done.stdout.splitlines()
    assert json.loads(providers.replace("'", '"')) == ["mixture"]
    assert int(window) > 0


def test_aider_reaches_a_mixture_through_the_litellm_proxy(
    aider_venv, workspace, upstream, tmp_path
):
    repo, env = workspace
    (tmp_path / "proxy").mkdir()
    model = "litellm_proxy/mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o"
    with litellm_proxy(tmp_path / "proxy", upstream.base, spend_spy=False) as proxy:
        env = {
            **env,
            "LITELLM_PROXY_API_BASE": proxy.base,
            "LITELLM_PROXY_API_KEY": proxy.master_key,
        }
        output = run_aider(repo, env, model=model, weak="litellm_proxy/gpt-4o-mini")
    assert (repo / "hello.py").read_text() == 'def greet():\n    return "hello"\n'
    assert "Unknown context window" not in output
    models = sorted(c["request"]["model"] for c in upstream.calls())
    # Two proposers and the commit message (the weak model) on gpt-4o-mini; one aggregation.
    assert models == ["deepseek-chat", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini"]
