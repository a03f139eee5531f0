"""End to end with the released aider (0.86.2, which pins litellm 1.81.10), against the fake
upstream on 127.0.0.1.

aider is installed the way its own installer does it, as a uv tool, with this project built from
the working tree and added: ``uv tool install aider-chat==0.86.2 --with .``. The tool lives in
``.venv-aider`` (``$LITELLM_MIXTURE_AIDER_TOOLS`` overrides the place).

The preset runs pass no metadata file, so aider's model-info check sees what the provider
registered with LiteLLM. One run pre-writes ``~/.aider/installs.json`` so that aider, as on any
run after its first, imports litellm in a background thread.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from litellm_mixture.cli.aider import METADATA_FILE, SETTINGS_FILE
from tests.helpers import AIDER_DIR, AIDER_LITELLM, readme_commands
from tests.proxy_process import litellm_proxy
from tests.upstream_process import ROOT

pytestmark = pytest.mark.aider
AIDER_VERSION = "0.86.2"
AIDER = f"aider-chat=={AIDER_VERSION}"
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
REQUEST = "Greet with hello."


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
    version = "import importlib.metadata as m; print(m.version('litellm'))"
    done = tool_python(version)
    assert done.stdout.strip() == AIDER_LITELLM, "aider's pin changed: " + done.stdout
    return TOOLS


def tool_python(code: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` with the aider tool environment's python (its litellm, this project)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("LITELLM_MIXTURE_PRESETS", None)
    done = subprocess.run(
        [str(_bin("python")), "-c", code],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done


def aider_python() -> str:
    """The interpreter aider runs under, as its ``sys.executable`` (the script's shebang)."""
    first = _bin("aider").read_text().splitlines()[0]
    assert first.startswith("#!/") and " " not in first, first  # not a /bin/sh trampoline
    return first[2:]


def mark_installed(home: Path) -> Path:
    """Write ``~/.aider/installs.json`` as aider 0.86.2 does after its first run of this version
    and interpreter (aider/main.py, ``is_first_run_of_new_version``): the key is
    ``str((__version__, sys.executable))``. aider then imports litellm in a background thread
    (``check_and_load_imports``) instead of before it goes on."""
    installs = home / ".aider" / "installs.json"
    installs.parent.mkdir(parents=True, exist_ok=True)
    installs.write_text(json.dumps({str((AIDER_VERSION, aider_python())): True}, indent=4))
    return installs


@pytest.fixture
def workspace(tmp_path, upstream_process):
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
        "OPENAI_API_BASE": upstream_process.base,
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
    upstream_process.configure(reply={"gpt-4o": EDIT, "gpt-3.5-turbo": COMMIT_MESSAGE})
    return repo, env


def run_aider(repo, env, *extra, model="mixture/e2e-moa", weak="openai/gpt-3.5-turbo"):
    """aider with the settings (and, if ``aider-settings`` writes one, the metadata) entry for
    ``model``. A preset gets no metadata entry: aider must learn its info from LiteLLM."""
    settings = repo.parent / "settings"
    settings.mkdir(exist_ok=True)  # aider-settings --write refuses a folder that is not there
    write = ["aider-settings", model, "--weak-model", weak, "--write", str(settings)]
    subprocess.run(
        [str(_bin("litellm-mixture")), *write],
        env=env,
        check=True,
        timeout=120,
    )
    args = [str(_bin("aider")), "--model", model, "--message", REQUEST]
    args += ["--model-settings-file", str(settings / SETTINGS_FILE)]
    metadata = settings / METADATA_FILE
    if model.startswith("mixture/"):  # here always a preset: registered, so no entry written
        assert not metadata.exists()
    else:
        assert model in json.loads(metadata.read_text())
        args += ["--model-metadata-file", str(metadata)]
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


def aider_prices(models):
    """Input and output price per token of each model, from the litellm aider runs with."""
    code = (
        "import json, sys, litellm\n"
        "print(json.dumps({m: [litellm.model_cost[m]['input_cost_per_token'],"
        " litellm.model_cost[m]['output_cost_per_token']] for m in json.load(sys.stdin)}))\n"
    )
    return json.loads(tool_python(code, stdin=json.dumps(sorted(models))).stdout)


def assert_cost_line(output, calls):
    """aider's cost line shows the summed cost of ``calls``, to every digit it prints."""
    prices = aider_prices({c["request"]["model"] for c in calls})
    expected = sum(
        c["usage"]["prompt_tokens"] * prices[c["request"]["model"]][0]
        + c["usage"]["completion_tokens"] * prices[c["request"]["model"]][1]
        for c in calls
    )
    lines = re.findall(r"Cost: \$([0-9.]+) message, \$([0-9.]+) session\.", output)
    assert len(lines) == 1, output  # one reply priced (the commit message is not)
    message, session = lines[0]
    # Printed with format_cost's digits: exact up to the rounding of the last one.
    assert len(message.split(".")[1]) == len(format_cost(expected).split(".")[1]), message
    step = 10.0 ** -len(message.split(".")[1])
    assert abs(float(message) - expected) <= step / 2 * (1 + 1e-9), (message, expected)
    assert session == message


@pytest.mark.parametrize(
    "stream, first_run",
    [(True, True), (True, False), (False, True)],
    ids=["stream-first-run", "stream-later-run-imports-litellm-in-a-thread", "no-stream-first-run"],
)
def test_aider_edits_through_a_mixture_and_commits_with_the_weak_model(
    aider_venv, workspace, upstream_process, stream, first_run
):
    repo, env = workspace
    installs = None if first_run else mark_installed(Path(env["HOME"]))
    before = installs.read_text() if installs else None
    output = run_aider(repo, env, *([] if stream else ["--no-stream"]))
    if installs:  # aider found its key, so it did not rewrite the file: not a first run
        assert installs.read_text() == before
    else:  # aider recorded its first run under the key mark_installed writes
        assert json.loads((Path(env["HOME"]) / ".aider" / "installs.json").read_text()) == {
            str((AIDER_VERSION, aider_python())): True
        }

    assert (repo / "hello.py").read_text() == 'def greet():\n    return "hello"\n'
    # No metadata file was given: the preset's window and prices came from LiteLLM itself.
    for warning in ("Unknown context window", "Warning for", "Did you mean one of these"):
        assert warning not in output, output

    calls = upstream_process.calls()
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
        assert REQUEST in messages[-1]["content"]
        assert call["request"].get("stream") is not True
    # The aggregator gets them as Together MoA references, with the conversation (the user's
    # request included), and streams when aider streams.
    messages = aggregator[0]["request"]["messages"]
    system = messages[0]["content"]
    assert "Responses from models:" in system and system.count("answer from gpt-4o-mini") == 2
    assert messages[-1]["role"] == "user" and REQUEST in messages[-1]["content"]
    assert bool(aggregator[0]["request"].get("stream")) is stream

    # The commit message came from the weak model in the settings file, not the mixture.
    assert len(by_model["gpt-3.5-turbo"]) == 1
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert log.stdout.strip() == COMMIT_MESSAGE

    # Streamed or not, the cost aider prints is the mixture's summed cost.
    assert_cost_line(output, proposers + aggregator)


def test_the_shipped_files_are_what_aider_settings_writes_with_aiders_litellm(aider_venv, tmp_path):
    """integrations/aider's files, byte for byte, from the README's commands run in aider's
    environment (litellm 1.81.10: the price map behind the metadata's numbers)."""
    code = (
        "import json, sys\n"
        "from litellm_mixture.cli.commands import main\n"
        "for args in json.load(sys.stdin):\n"
        "    main(args, standalone_mode=False)\n"
    )
    commands = [[*args[:-1], str(tmp_path)] for args in readme_commands()]
    tool_python(code, stdin=json.dumps(commands))
    for name in (SETTINGS_FILE, METADATA_FILE):
        assert (tmp_path / name).read_text() == (AIDER_DIR / name).read_text(), name


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


@pytest.mark.proxy
def test_aider_reaches_a_mixture_through_the_litellm_proxy(
    aider_venv, workspace, upstream_process, tmp_path
):
    repo, env = workspace
    (tmp_path / "proxy").mkdir()
    model = "litellm_proxy/mixture/gpt-4o-mini*2+deepseek-chat>gpt-4o"
    with litellm_proxy(tmp_path / "proxy", upstream_process.base, spend_spy=False) as proxy:
        env = {
            **env,
            "LITELLM_PROXY_API_BASE": proxy.base,
            "LITELLM_PROXY_API_KEY": proxy.master_key,
        }
        output = run_aider(repo, env, model=model, weak="litellm_proxy/gpt-4o-mini")
    assert (repo / "hello.py").read_text() == 'def greet():\n    return "hello"\n'
    assert "Unknown context window" not in output
    calls = sorted(upstream_process.calls(), key=lambda c: c["at"])
    models = sorted(c["request"]["model"] for c in calls)
    # Two proposers and the commit message (the weak model) on gpt-4o-mini; one aggregation.
    assert models == ["deepseek-chat", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini"]
    # The cost aider prints is the mixture's summed cost (the commit message comes last), each
    # member priced as the proxy prices it: by the model its alias calls.
    priced = {"deepseek-chat": "deepseek/deepseek-chat"}
    mixture = [
        {**c, "request": {"model": priced.get(c["request"]["model"], c["request"]["model"])}}
        for c in calls[:-1]
    ]
    assert_cost_line(output, mixture)
