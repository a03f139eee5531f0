"""The `litellm-mixture` command: run, validate, explain, encode, presets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import litellm
import pytest
from click.testing import CliRunner

from litellm_mixture.cli.commands import main

BIN = Path(sys.executable).parent / "litellm-mixture"
TRIO = "openai/p1+openai/p2>openai/agg"


def invoke(*args, stdin=None):
    return CliRunner().invoke(main, list(args), input=stdin)


def test_run_streams_the_answer_and_shows_every_call_then_a_summary(respx_upstream):
    result = invoke("run", TRIO, "What is 2+2?")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.startswith("answer from agg #")
        and "aggregating 2 references" in result.stdout
    )
    rows = result.stderr.splitlines()
    for model in ("p1", "p2"):
        assert any(r.startswith(f"✓ 1. propose      openai/{model}") and " ms " in r for r in rows)
    assert any(r.startswith("✓ 2. aggregate    openai/agg") for r in rows)
    assert rows[-1].startswith("3 calls (0 failed) · ")
    assert "critical path" in rows[-1] and "$" in rows[-1]


def test_run_reads_the_prompt_from_stdin(respx_upstream):
    assert invoke("run", TRIO, "-", stdin="From stdin?").exit_code == 0
    assert respx_upstream.by_model("p1")[0]["messages"] == [
        {"role": "user", "content": "From stdin?"}
    ]


def test_run_json_prints_the_answer_usage_history_and_trace(respx_upstream):
    result = invoke("run", TRIO, "hi", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "model",
        "content",
        "finish_reason",
        "usage",
        "cost",
        "cost_complete",
        "wall_ms",
        "critical_path_ms",
        "calls",
        "failed_calls",
        "saved_calls",
        "steps",
        "degraded",
        "history",
        "intermediate_responses",
        "trace",
    }
    assert doc["model"] == "mixture/" + TRIO and doc["content"].startswith("answer from agg")
    assert [h["kind"] for h in doc["history"]] == ["propose"]
    assert [t["model"] for t in doc["trace"]][-1] == "openai/agg" and doc["calls"] == 3
    assert doc["degraded"] is None
    assert doc["usage"]["total_tokens"] == sum(
        t["prompt_tokens"] + t["completion_tokens"] for t in doc["trace"]
    )
    assert 0 < doc["critical_path_ms"] <= doc["wall_ms"] * 1.05
    assert [(s["kind"], s["calls"]) for s in doc["steps"]] == [("propose", 2), ("aggregate", 1)]
    # Its models (openai/p1, ...) have no price: a step's cost is None, not a guess.
    assert [s["cost"] for s in doc["steps"]] == [None, None] and not doc["cost_complete"]
    proposals = doc["intermediate_responses"][0]["responses"]
    assert [r["text"] for r in proposals] == [a["text"] for a in doc["history"][0]["answers"]]
    assert doc["intermediate_responses"][1]["responses"][0]["text"] == doc["content"]


def test_run_writes_a_debug_dump_when_asked(respx_upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("LITELLM_MIXTURE_DUMP_DIR", str(tmp_path))
    assert invoke("run", TRIO, "hi").exit_code == 0
    (path,) = tmp_path.iterdir()
    doc = json.loads(path.read_text())
    assert doc["model"] == "mixture/" + TRIO and [c["model"] for c in doc["calls"]][-1] == (
        "openai/agg"
    )
    assert doc["calls"][0]["reply"]["content"].startswith("answer from p1")


def test_run_fails_with_the_typed_message_and_exit_1(respx_upstream):
    respx_upstream.overrides.update(
        {m: httpx.Response(500, json={"error": {"message": "boom"}}) for m in ("p1", "p2")}
    )
    result = invoke("run", TRIO, "hi")
    assert result.exit_code == 1
    assert "members openai/p1, openai/p2 -> " in result.stderr
    assert "Traceback" not in result.output
    assert any(r.startswith("✗ 1. propose      openai/p1") for r in result.stderr.splitlines())


def test_validate_prints_the_canonical_pipeline_or_the_exact_error(tmp_path):
    result = invoke("validate", "moa-lite")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "# valid: mixture/moa-lite, at most 7 member calls"
    assert "- propose:" in result.stdout and "- aggregate:" in result.stdout
    bad = invoke("validate", "openai/a*2>take=0>openai/b")
    assert bad.exit_code == 1
    assert bad.stderr == (
        "Error: Invalid mixture spec: layer 2: 'take=0': n: input should be greater than or equal "
        "to 1 (got 0)\n"
    )
    file = tmp_path / "mine.yaml"
    file.write_text("steps:\n  - propose: [openai/a, openai/b]\n  - shuffle\n  - vote: openai/j\n")
    ok = invoke("validate", str(file))
    assert ok.exit_code == 0 and "- vote:" in ok.stdout and ok.stdout.endswith("3 member calls\n")
    assert invoke("validate", str(tmp_path / "missing.yaml")).exit_code == 2


def test_explain_shows_steps_members_prompts_and_policy():
    result = invoke("explain", "rank-then-aggregate")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "mixture/rank-then-aggregate"
    assert "  2. rank  n=3  temperature=0.0  (at most 1 call)" in lines
    assert "     ├─ openai/gpt-4o-mini" in lines
    assert any(line.startswith("     └─ prompt: the default rank prompt") for line in lines)
    assert lines[-3] == "  at most 7 member calls per request, retries aside"
    assert lines[-2] == (
        "  through the proxy, as a client spec: "
        "allowed by the default policy if its members are aliases (21 upstream requests at most, "
        "the Router's default retries included)"
    )
    # Two of its members have no price in litellm's map: the totals are lower bounds.
    assert lines[-1].startswith(
        "  estimated cost on an empty prompt (litellm-mixture estimate): worst at least $"
    )
    assert lines[-1].endswith("; 7 calls, up to 21 upstream requests with every retry and fallback")
    refused = invoke("explain", "openai/a*9>openai/b").stdout.splitlines()[-2]
    assert refused == (
        "  through the proxy, as a client spec: refused by rule "
        "'max_members_per_layer': layer 1 makes 9 calls > 8 "
        "(the proxy operator sets this in litellm_settings.mixture_policy)"
    )
    doc = "{steps: [{propose: [a/x], retries: 2, timeout: 5}, {aggregate: a/y}], deadline: 30}"
    shown = invoke("explain", doc).stdout
    assert "  deadline=30.0" in shown and "└─ timeout=5.0  retries=2" in shown


def test_encode_gives_the_shortest_string_and_warns_when_the_proxy_would_refuse_it(tmp_path):
    simple = tmp_path / "simple.yaml"
    simple.write_text("steps:\n  - propose: [openai/a, openai/b]\n  - aggregate: openai/c\n")
    result = invoke("encode", str(simple))
    assert result.exit_code == 0 and result.stdout == "mixture/openai/a+openai/b>openai/c\n"
    assert result.stderr == ""
    rich = tmp_path / "rich.yaml"
    rich.write_text(
        "steps:\n  - propose: [openai/a]\n  - rank: openai/j\n    n: 1\n  - aggregate: openai/c\n"
    )
    result = invoke("encode", str(rich))
    assert result.exit_code == 0 and result.stdout.startswith('mixture/{"steps":')
    assert result.stderr == (
        "warning: this name works with litellm.completion, but the LiteLLM proxy refuses it (a "
        "comma makes the proxy split the name into a batch call), and the one-line form "
        "(a*2+b>c) cannot write this pipeline. Through the proxy, use a preset: put rich.yaml in "
        "the proxy's ./mixtures (or a folder of $LITELLM_MIXTURE_PRESETS) and send mixture/rich, "
        "or have the operator name it in model_list (docs/proxy.md).\n"
    )


def test_presets_lists_builtin_and_user_presets(tmp_path, monkeypatch):
    (tmp_path / "team.yaml").write_text(
        "source: our team\nsteps:\n  - propose: [openai/a]\n  - aggregate: openai/b\n"
    )
    monkeypatch.setenv("LITELLM_MIXTURE_PRESETS", str(tmp_path))
    result = invoke("presets")
    assert result.exit_code == 0
    out = result.stdout
    for name in ("together-moa", "robust-moa", "rank-then-aggregate", "self-consistency", "team"):
        assert f"mixture/{name}  [" in out
    assert f"mixture/team  [{tmp_path.resolve() / 'team.yaml'}]" in out
    assert "  source: our team" in out and "mixture/robust-moa  [builtin]" in out


def command(*args, **env):
    """The installed console script, as a user runs it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    environment.update(LITELLM_LOCAL_MODEL_COST_MAP="True", **env)
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, env=environment, timeout=120
    )


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_installed_command_runs_the_offline_demo_and_a_real_upstream(upstream_process):
    demo = command("run", "demo", "What is MoA?")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("[canned aggregator]")
    assert "4 calls (0 failed)" in demo.stderr
    served = {"OPENAI_API_BASE": upstream_process.base, "OPENAI_API_KEY": "sk-cli-test"}
    done = command("run", TRIO, "hi", "--json", **served)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["content"].startswith("answer from agg") and doc["failed_calls"] == 0
    assert sorted(c["request"]["model"] for c in upstream_process.calls()) == ["agg", "p1", "p2"]
    assert "sk-cli-test" not in done.stdout + done.stderr
    bad = command("run", "openai/p1>", "hi", **served)
    assert bad.returncode == 1 and "empty layer" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("command", ["run", "validate", "explain", "encode", "presets"])
def test_every_command_has_help_with_examples(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.stdout
    if command != "presets":
        assert "Example" in result.stdout


def test_presets_and_aider_settings_help_show_examples():
    for name in ("presets", "aider-settings"):
        assert "Examples:" in invoke(name, "--help").stdout


# Each mistake a newcomer makes, through the installed command into a pipe, as a user sees it.
MISTAKES = {
    "bad preset": (("run", "moa-lit", "hi"), "did you mean 'moa-lite'?"),
    "bad YAML": (("validate", "{steps: [unclosed"), "not valid YAML/JSON"),
    "comma": (("validate", "openai/a,openai/b"), "join them with '+'"),
    "zero samples": (("validate", "openai/a*0>openai/b"), "samples: input should be"),
    "missing key": (("run", "openai/gpt-4o-mini>openai/gpt-4o", "hi"), "OPENAI_API_KEY"),
    "unroutable model": (("run", "nosuchprovider/x>openai/gpt-4o", "hi"), "nosuchprovider/x"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.slow  # a fresh Python process importing litellm
def test_every_mistake_exits_1_with_one_clear_line_no_traceback_no_banner(mistake):
    args, says = MISTAKES[mistake]
    done = command(*args)  # no OPENAI_* variables: no key
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "\x1b[" not in output
    assert "Provider List" not in output and "Give Feedback" not in output
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and says in errors[0], done.stderr
    # What comes before it is the run's own view: one line per member call started and ended.
    assert all(line[0] in "…✓✗✂" for line in done.stderr.splitlines()[:-1]), done.stderr


def _imports_litellm(*args: str) -> bool:
    code = (
        "import sys\n"
        "from litellm_mixture.cli.commands import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('litellm' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1] == "True"


@pytest.mark.slow  # a fresh Python process importing litellm
def test_help_and_presets_do_not_import_litellm():
    assert not _imports_litellm("--help")
    assert not _imports_litellm("run", "--help")
    assert not _imports_litellm("presets")
    assert _imports_litellm("validate", "demo")  # it asks litellm whether members route


def test_validate_warns_about_members_litellm_cannot_route():
    result = invoke("validate", "nosuchprovider/foo+openai/a>mixture/openai/b>openai/c")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: 'nosuchprovider/foo' is not a model litellm can route (LLM Provider NOT "
        "provided); fine if it is a model alias of the LiteLLM proxy that runs this mixture "
        "(aliases cannot be checked offline)\n"
    )
    nested = invoke("validate", "openai/a>mixture/openai/b+unknown/z>openai/c")
    assert "'unknown/z' is not a model litellm can route" in nested.stderr
    assert invoke("validate", "moa-lite").stderr == ""


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_demo_runs_the_mixture_once_and_tabulates_that_run(upstream_process):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    env.update(OPENAI_API_BASE=upstream_process.base, OPENAI_API_KEY="sk-demo-test")
    done = subprocess.run(
        [sys.executable, "-m", "litellm_mixture.demo", "hi", "--model", "mixture/" + TRIO],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(c["request"]["model"] for c in upstream_process.calls()) == ["agg", "p1", "p2"]
    out = done.stdout
    assert "answer from agg" in out and done.stderr == ""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert [(r[0], r[2]) for r in rows] == [
        ("1.", "openai/p1"),
        ("1.", "openai/p2"),
        ("2.", "openai/agg"),
    ]
    prompt, completion = (sum(int(r[i]) for r in rows) for i in (5, 7))
    total = out.splitlines()[-1]
    assert total.startswith(f"total: 3 calls, {prompt} prompt + {completion} completion tokens")


def test_the_offline_demo_in_process_tabulates_its_canned_run(capsys, monkeypatch):
    # The inner loop's demo (the tests above run it as a command): canned answers, no network.
    from litellm_mixture import demo

    monkeypatch.setattr(litellm, "suppress_debug_info", litellm.suppress_debug_info)
    assert demo.main(["hi"]) == 0
    out = capsys.readouterr().out
    assert "offline demo" in out and "member calls:" in out
    assert out.splitlines()[-1].startswith("total: ")


@pytest.mark.parametrize(
    ("model", "says"),
    [("mixture/moa-lit", "did you mean 'moa-lite'?"), ("mixture/openai/a>openai/b", "API_KEY")],
)
@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_demo_reports_a_failure_in_one_line(model, says):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    done = subprocess.run(
        [sys.executable, "-m", "litellm_mixture.demo", "hi", "--model", model],
        capture_output=True,
        text=True,
        env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        timeout=120,
    )
    assert done.returncode == 1
    if "did you mean" in says:  # a bad spec: refused before the demo says anything
        assert done.stdout == "" and done.stderr.count("\n") == 1 and says in done.stderr
    else:
        assert done.stderr.count("\n") == 2 and says in done.stderr  # a blank line, the error
    assert done.stderr.splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr and "\x1b[" not in done.stdout + done.stderr
