"""The small defects of issue 22, one test each: banners, counts, empty prompts, the demo, aider's
folder, the live view's labels, --version, the words of policy errors, the cost map, links."""

import os
import re
import subprocess
import sys
from pathlib import Path

import litellm
import pytest
from click.testing import CliRunner

from litellm_mixture import ParamError
from litellm_mixture.cli.commands import main
from litellm_mixture.cli.live import LiveView
from litellm_mixture.engine import TraceEntry
from litellm_mixture.engine.panel import Panel
from litellm_mixture.spec import decode
from litellm_mixture.trust.policy import Policy, PolicyError, check_name

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent / "litellm-mixture"


def command(*args: str, local_cost_map: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    if local_cost_map:
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow  # a fresh Python process importing litellm
def test_explain_of_a_nested_mixture_prints_no_litellm_banner():
    done = command("explain", "mixture/mixture/demo")
    assert done.returncode == 0, done.stderr
    assert "Provider List" not in done.stdout + done.stderr and "\x1b[" not in done.stdout


def test_validate_estimate_and_explain_count_a_nested_mixture_as_its_members():
    for spec in ("demo", "mixture/mixture/demo", "mixture/mixture/mixture/demo"):
        said = {
            "validate": CliRunner().invoke(main, ["validate", spec]).stdout,
            "estimate": CliRunner().invoke(main, ["estimate", spec]).stdout,
            "explain": CliRunner().invoke(main, ["explain", spec]).stdout,
        }
        assert "at most 4 member calls" in said["validate"], said
        assert "; 4 calls, up to 12 upstream requests" in said["estimate"], said
        assert "at most 4 member calls per request" in said["explain"], said


def test_an_empty_prompt_is_a_clear_400_before_any_call(respx_upstream):
    spec = "mixture/openai/p1+openai/p2>openai/agg"
    for messages in ([], [{"role": "user", "content": ""}], [{"role": "user", "content": " \n"}]):
        for stream in (False, True):
            with pytest.raises(ParamError, match="messages: nothing to answer") as info:
                litellm.completion(spec, messages=messages, stream=stream)
            assert isinstance(info.value, litellm.BadRequestError)
    assert respx_upstream.requests == []
    result = CliRunner().invoke(main, ["run", spec.removeprefix("mixture/"), ""])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: Invalid request params for a mixture: messages: nothing to answer (no message, "
        "or every message is empty)"
    ]
    assert respx_upstream.requests == []


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_demo_refuses_a_bad_spec_before_printing_its_header():
    done = subprocess.run(
        [sys.executable, "-m", "litellm_mixture.demo", "--model", "mixture/DEMO"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: Invalid mixture spec: 'DEMO'")
    assert "did you mean 'demo'?" in done.stderr


def test_aider_settings_refuses_to_write_into_a_missing_folder(tmp_path):
    missing = tmp_path / "no" / "such" / "folder"
    result = CliRunner().invoke(main, ["aider-settings", "demo", "--write", str(missing)])
    assert result.exit_code == 1 and not missing.exists() and not missing.parent.exists()
    assert "no such folder" in result.stderr
    ok = CliRunner().invoke(main, ["aider-settings", "demo", "--write", str(tmp_path)])
    assert ok.exit_code == 0 and (tmp_path / ".aider.model.settings.yml").is_file()


def _entry(model: str, sample: int, samples: int, step: int = 0) -> TraceEntry:
    entry = TraceEntry(step, "propose", model, sample)
    entry.samples = samples
    return entry


def test_the_live_view_numbers_samples_from_1_as_the_panel_does_and_aligns_long_names():
    from litellm_mixture.cli.live import label_width

    pipeline = decode("mixture/openai/p1*2+openai/a-rather-long-model-name-for-a-proposer>openai/c")
    out = __import__("io").StringIO()
    view = LiveView(out, width=label_width(pipeline))
    entries = [
        _entry("openai/p1", 0, 2),
        _entry("openai/p1", 1, 2),
        _entry("openai/a-rather-long-model-name-for-a-proposer", 0, 1),
    ]
    for entry in entries:
        view("start", entry)
    rows = out.getvalue().splitlines()
    assert [re.search(r"openai/\S+( #\d)?", r)[0] for r in rows] == [
        "openai/p1 #1",
        "openai/p1 #2",
        "openai/a-rather-long-model-name-for-a-proposer",
    ]
    assert len({r.index("running") for r in rows}) == 1, rows  # one column for the figures
    panel = Panel()
    panel.say(entries[1], "hi")
    said = panel._queue.get_nowait()
    assert said.startswith("[step 1 propose · openai/p1 #2]")  # the same label as the view's


def test_version_names_this_package_and_litellm():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"litellm-mixture \S+ \(litellm \S+\)\n", result.stdout)


def test_policy_words_point_at_what_exists():
    with pytest.raises(PolicyError) as comma:
        check_name("mixture/openai/a,openai/b>openai/c", Policy())
    assert "litellm_settings.mixture_policy" not in comma.value.message
    assert "a limit of the LiteLLM proxy itself" in comma.value.message
    long_one_line = "mixture/" + "+".join(f"openai/model-{i}" for i in range(40)) + ">openai/c"
    with pytest.raises(PolicyError) as size:
        check_name(long_one_line, Policy(max_name_bytes=200))
    assert "one-line form" not in size.value.message  # it is one already
    assert "ask the operator for a preset" in size.value.message
    assert "litellm_settings.mixture_policy" in size.value.message  # max_name_bytes is one


@pytest.mark.slow  # a fresh Python process importing litellm
def test_the_command_uses_the_local_cost_map_unless_told_otherwise():
    done = command("estimate", "openai/gpt-4o-mini*2>openai/gpt-4o", "hi", local_cost_map=False)
    assert done.returncode == 0, done.stderr
    assert "cost map" not in done.stderr.lower(), done.stderr


def test_every_relative_link_in_the_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"^[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.name}: {target}"
