"""``litellm-mixture eval`` and ``mixture/`` inside Inspect AI, against the fake upstream process
grading a known share of items right per model (``right``), so every expected figure is exact."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import litellm
import pytest

pytest.importorskip("inspect_ai", reason="the [eval] extra (Inspect AI) is not installed")

from litellm_mixture.evals import page, report, run, systems, tasks
from litellm_mixture.spec import Member, decode

ROOT = Path(__file__).resolve().parent.parent
SPEC = "mixture/openai/gpt-4o-mini+openai/gpt-4.1-nano>openai/gpt-4o"
# gpt-4o-mini is right on odd items, gpt-4.1-nano on 3, 6, 9, 13, 16, 19 (of 0..19): the
# aggregator (gpt-4o, never right alone) answers right when a reference is.
SHARES = {"gpt-4o-mini": 0.5, "gpt-4.1-nano": 0.3, "gpt-4o": 0.0}
N = 20


def right(k: int, share: float) -> bool:
    """The fake upstream's rule, by hand: right on floor(N * share) of the first N items."""
    return math.floor(round((k + 1) * share, 9)) > math.floor(round(k * share, 9))


def _items(path: Path, n: int = N) -> Path:
    lines = [
        json.dumps({"id": k, "input": f"item {k}: what is it?", "target": f"answer {k}"})
        for k in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _billed(calls: list[dict]) -> float:
    """What the fake upstream billed, at litellm's prices for the models it was asked for."""
    total = 0.0
    for call in calls:
        usage = call["usage"]
        prompt, completion = litellm.cost_per_token(
            model=call["request"]["model"],
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
        )
        total += prompt + completion
    return total


@pytest.fixture(scope="module")
def upstream_env(shared_upstream_process):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_BASE", shared_upstream_process.base)
        mp.setenv("OPENAI_API_KEY", "sk-eval-test")
        yield shared_upstream_process


@pytest.fixture(scope="module")
def evaluated(upstream_env, tmp_path_factory):
    """The eval of SPEC on 20 items, once for the module: its report, logs and billed calls."""
    upstream_env.configure(right=SHARES)
    upstream_env.clear()
    where = tmp_path_factory.mktemp("eval")
    options = run.Options(
        SPEC,
        tasks.jsonl(_items(where / "items.jsonl"), "exact"),
        log_dir=where / "logs",
        display="none",
    )
    done = run.run(options, say=lambda line: None)
    calls = upstream_env.calls()
    return options, report.build("items", done), calls


def test_report_recovers_each_systems_score_exactly(evaluated):
    _, found, _ = evaluated
    mini = {k for k in range(N) if right(k, 0.5)}
    nano = {k for k in range(N) if right(k, 0.3)}
    assert len(mini) == 10 and len(nano) == 6
    scores = {r.label: r.score for r in found.systems}
    assert scores == {
        "mixture": len(mini | nano) / N,
        "openai/gpt-4o-mini": 0.5,
        "openai/gpt-4.1-nano": 0.3,
        "openai/gpt-4o": 0.0,
        "self-moa openai/gpt-4o-mini x2": 0.5,
    }
    assert found.best_member == "openai/gpt-4o-mini"
    assert found.oracle == len(mini | nano) / N
    assert all(r.samples == N and r.failed == 0 for r in found.systems)
    calls = {r.label: r.calls_per_sample for r in found.systems}
    assert (
        calls["mixture"] == 3
        and calls["openai/gpt-4o"] == 1
        and calls["self-moa openai/gpt-4o-mini x2"] == 3
    )


def test_paired_test_and_interval_match_a_hand_computation(evaluated):
    _, found, _ = evaluated
    mixture = found.systems[0]
    v = mixture.versus_best
    # The mixture is right where gpt-4o-mini is, and on items 6 and 16 besides.
    assert v.points == pytest.approx(100 * 2 / N)
    assert v.p_exact == pytest.approx(2 * 0.5**2)  # McNemar exact: 2 discordant, both one way
    d = [1.0, 1.0] + [0.0] * (N - 2)
    mean = sum(d) / N
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (N - 1))
    half = 2.093024054408263 * sd / math.sqrt(N)  # t(0.975, 19)
    assert (v.low, v.high) == pytest.approx((100 * (mean - half), 100 * (mean + half)))
    # Wilson's interval for 12 of 20.
    p, z = 12 / N, 1.959963984540054
    centre = (p + z * z / (2 * N)) / (1 + z * z / N)
    spread = z * math.sqrt(p * (1 - p) / N + z * z / (4 * N * N)) / (1 + z * z / N)
    assert (mixture.low, mixture.high) == pytest.approx((centre - spread, centre + spread))
    assert found.verdict.startswith(
        "no evidence the mixture beats openai/gpt-4o-mini (+10.0 points"
    )


def test_cost_per_sample_is_what_the_upstream_billed(evaluated):
    _, found, calls = evaluated
    assert len(calls) == N * (3 + 1 + 1 + 1 + 3)
    spent = sum(r.cost_per_sample * r.samples for r in found.systems)
    assert spent == pytest.approx(_billed(calls), rel=1e-9)
    never_right = next(r for r in found.systems if r.label == "openai/gpt-4o")
    assert never_right.cost_per_sample > 0 and never_right.cost_per_correct is None


def test_a_rerun_with_the_same_log_dir_makes_no_call_twice(evaluated, upstream_env):
    options, found, _ = evaluated
    upstream_env.clear()
    again = report.build("items", run.run(options, say=lambda line: None))
    assert upstream_env.calls() == []
    assert again.model_dump() == found.model_dump()


def test_another_against_runs_only_the_new_system(evaluated, upstream_env):
    options, found, _ = evaluated
    upstream_env.clear()
    wider = dataclasses.replace(options, against=("openai/gpt-4.1-nano*2>openai/gpt-4o",))
    again = report.build("items", run.run(wider, say=lambda line: None))
    assert len(upstream_env.calls()) == N * 3  # its two samples and aggregator, nothing else
    assert [r.label for r in again.systems][-2] == "against openai/gpt-4.1-nano*2>openai/gpt-4o"
    assert again.systems[0] == found.systems[0]


@pytest.mark.slow  # a whole eval of failing members: about 10 s here
def test_a_sample_whose_members_all_fail_counts_as_failed(upstream_env, tmp_path):
    upstream_env.configure(fault={"*": {"kind": "401"}})
    upstream_env.clear()
    options = run.Options(
        "mixture/openai/gpt-4o-mini+openai/gpt-4.1-nano>openai/gpt-4o",
        tasks.jsonl(_items(tmp_path / "items.jsonl", 3), "exact"),
        log_dir=tmp_path / "logs",
        display="none",
    )
    found = report.build("items", run.run(options, say=lambda line: None))
    mixture = found.systems[0]
    assert (mixture.samples, mixture.failed, mixture.score) == (3, 3, 0.0)
    upstream_env.configure()


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "litellm-mixture"), *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_self_moa_samples_as_often_as_the_proposers_not_the_judge():
    # A judge (rank) between the proposers and the aggregator proposes nothing; it once made
    # the baseline fail with an AttributeError (a rank step has no fan-out call count).
    pipeline = decode("mixture/rank-then-aggregate")
    assert systems.proposer_calls(pipeline) == 5
    best = systems.System("openai/gpt-4o-mini", "member", "", Member("openai/gpt-4o-mini"))
    baseline = systems.self_moa(pipeline, best)
    assert baseline is not None and baseline.label == "self-moa openai/gpt-4o-mini x5"


@pytest.fixture
def cli_env(upstream_env) -> dict[str, str]:
    upstream_env.configure(right=SHARES)
    upstream_env.clear()
    return {**os.environ, "OPENAI_API_BASE": upstream_env.base, "OPENAI_API_KEY": "sk-cli-eval"}


@pytest.mark.parametrize(
    ("spec", "task", "line", "says"),
    [
        ("openai/gpt-4o-mini>>", None, None, "Invalid mixture spec"),
        ("openai/gpt-4o-mini", "nope", None, "unknown task 'nope'"),
        ("openai/gpt-4o-mini", None, '{"input": "item 1"}', "items.jsonl:2: a sample is an object"),
        ("openai/gpt-4o-mini", None, "{not json", "items.jsonl:2: not JSON"),
        ("openai/gpt-4o-mini", None, "--scorer=judge:a>>", "Invalid mixture spec"),
        ("openai/gpt-4o-mini", None, "--scorer=regex:(", "--scorer regex: missing )"),
        ("openai/gpt-4o-mini", None, "--scorer=fuzzy", "unknown scorer 'fuzzy'"),
        ("openai/gpt-4o-mini", "smoke", "--scorer=exact", "--scorer applies to a .jsonl task"),
    ],
)
@pytest.mark.slow  # a fresh Python process importing litellm
def test_bad_input_is_one_clear_line_before_any_call(
    cli_env, upstream_env, tmp_path, spec, task, line, says
):
    items = _items(tmp_path / "items.jsonl", 1)
    option = () if line is None or not line.startswith("--") else (line,)
    if line is not None and not option:
        items.write_text(items.read_text() + line + "\n")
    done = _cli("eval", spec, "--task", task or str(items), *option, env=cli_env, cwd=tmp_path)
    assert done.returncode == 1
    errors = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: ") and says in errors[0], done.stderr
    assert upstream_env.calls() == []


@pytest.mark.slow  # a fresh Python process importing litellm
def test_max_cost_refuses_before_any_call(cli_env, upstream_env, tmp_path):
    items = _items(tmp_path / "items.jsonl", 4)
    args = ("eval", SPEC, "--task", str(items), "--max-cost", "0.0001", "--log-dir", "logs")
    done = _cli(*args, env=cli_env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith("estimate: 4 samples x 5 systems, 36 calls")
    assert "Error: --max-cost $0.0001: the eval may cost up to $" in done.stderr
    assert upstream_env.calls() == []
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow  # a fresh Python process importing litellm
def test_inspect_eval_with_a_mixture_model_logs_the_billed_cost(cli_env, upstream_env, tmp_path):
    (tmp_path / "task.py").write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import Sample\n"
        "from inspect_ai.scorer import exact\n"
        "@task\n"
        "def items():\n"
        "    samples = [Sample(input=f'item {k}: what is it?', target=f'answer {k}')\n"
        "               for k in range(4)]\n"
        "    return Task(dataset=samples, scorer=exact())\n"
    )
    inspect = Path(sys.executable).parent / "inspect"
    model = "mixture/openai/gpt-4o-mini*2>openai/gpt-4o-mini"
    args = [
        str(inspect),
        "eval",
        "task.py",
        "--model",
        model,
        "--log-dir",
        "logs",
        "--display",
        "none",
    ]
    done = subprocess.run(
        args, env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success" and log.results.scores[0].metrics["mean"].value == 0.5
    usage = log.stats.model_usage[model]
    assert usage.total_cost == pytest.approx(_billed(upstream_env.calls()), rel=1e-9)
    sample = log.samples[0]
    assert sample.metadata["mixture_runs"][0]["model"] == model
    assert [c["kind"] for c in sample.metadata["mixture_runs"][0]["trace"]] == ["propose"] * 2 + [
        "aggregate"
    ]


def test_importing_the_package_never_imports_inspect():
    code = "import sys, litellm_mixture, litellm_mixture.cli; print('inspect_ai' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_html_report_opens_in_headless_chromium_and_shows_the_plot(evaluated, tmp_path):
    from matplotlib import image

    _, found, _ = evaluated
    html = tmp_path / "report.html"
    html.write_text(page.render(found, report.table(found)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,900",
        html.as_uri(),
    ]
    subprocess.run(args, capture_output=True, timeout=120, check=True)
    pixels = image.imread(str(shot))
    # The plot's markers: matplotlib's red (the mixture) and blue (the members) are on the page.
    red = ((pixels[..., 0] > 0.8) & (pixels[..., 1] < 0.25) & (pixels[..., 2] < 0.25)).sum()
    blue = ((pixels[..., 2] > 0.6) & (pixels[..., 0] < 0.25)).sum()
    assert red > 20 and blue > 20


def _problem(task_id: str = "HumanEval/0") -> dict:
    sample = next(s for s in tasks.humaneval_task().dataset if s.id == task_id)
    return {**sample.metadata, "solution": sample.target}


def test_humaneval_runs_the_answers_code_in_a_child_process(monkeypatch):
    import asyncio

    from litellm_mixture.evals import humaneval

    p = _problem()
    whole = f"```python\n{p['prompt']}{p['solution']}```"
    body_only = p["solution"]
    wrong = f"```python\ndef {p['entry_point']}(numbers, threshold):\n    return False\n```"
    outcomes = [
        asyncio.run(
            humaneval.passes(humaneval.program(p["prompt"], a, p["test"], p["entry_point"]))
        )
        for a in (whole, body_only, wrong)
    ]
    assert [ok for ok, _ in outcomes] == [True, True, False]
    assert "AssertionError" in outcomes[2][1]
    # What the child may not do: outlive its timeout, or take the eval's files with it.
    monkeypatch.setattr(humaneval, "TIMEOUT", 1.0)
    assert asyncio.run(humaneval.passes("while True: pass\n")) == (False, "timed out")
    ok, why = asyncio.run(humaneval.passes("import os\nos.kill(os.getppid(), 9)\n"))
    assert not ok and "NoneType" in why


def test_a_degraded_run_is_noted_in_its_summary():
    from litellm_mixture.evals.model import _run_summary

    class Reply:
        _hidden_params = {
            "mixture": {"model": SPEC, "trace": [{"model": "a"}]},
            "response_cost": 0.25,
            "mixture_degraded": "1 of 2 proposers failed",
        }

    summary = _run_summary(Reply())
    assert summary["cost"] == 0.25 and summary["degraded"] == "1 of 2 proposers failed"
    assert summary["trace"] == [{"model": "a"}]


def test_the_model_api_forwards_tools_and_settings_and_reports_the_billed_cost(upstream_env):
    import asyncio

    from inspect_ai.model import GenerateConfig, get_model
    from inspect_ai.tool import ToolInfo, ToolParams

    upstream_env.configure()
    upstream_env.clear()
    model = get_model("mixture/openai/gpt-4o-mini*2>openai/gpt-4o", memoize=False)
    tool = ToolInfo(name="lookup", description="Look a word up.", parameters=ToolParams())
    config = GenerateConfig(temperature=0.3, max_tokens=50, seed=7)
    output = asyncio.run(model.generate("item 1: look it up", tools=[tool], config=config))
    assert output.message.tool_calls[0].function == "lookup"
    calls = upstream_env.calls()
    final = calls[-1]["request"]
    assert (final["model"], final["temperature"], final["max_tokens"]) == ("gpt-4o", 0.3, 50)
    assert final["tools"][0]["function"]["name"] == "lookup"
    assert output.usage.total_cost == pytest.approx(_billed(calls), rel=1e-9)
    assert output.time > 0 and len(output.metadata["mixture"]["trace"]) == 3
