"""What the opt-in modes show: explain names the panel, until_agree, early and cut_answers; run
prints the panel's text; a judge's unclear answer is counted against what it was shown."""

import asyncio

from click.testing import CliRunner

import litellm_mixture
from litellm_mixture import Pipeline, Propose, Vote
from litellm_mixture.cli.commands import main

FIVE = ["openai/p1", "openai/p2", "openai/p3", "openai/p4", "openai/p5"]


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_explain_shows_the_panel_until_agree_early_and_cut_answers():
    spec = (
        "{panel: reasoning, cut_answers: keep, steps: [{propose: [{model: openai/a, samples: 5}],"
        " until_agree: 3}, {vote: openai/j}]}"
    )
    lines = invoke("explain", spec).stdout.splitlines()
    assert "  cut_answers=keep" in lines
    assert "  panel: every member's answer streams to the caller as reasoning" in lines
    assert (
        "     └─ until_agree: calls in waves until 3 answers agree (by text), the rest not made"
    ) in lines
    early = invoke(
        "explain", "{steps: [{propose: [openai/a]}, {aggregate: openai/c, early: true}]}"
    )
    assert (
        "     ├─ early: writes the answer in up to 4 segments of at most 64 tokens while the "
        "proposals stream"
    ) in early.stdout.splitlines()


def test_run_with_a_panel_prints_the_panels_text(respx_upstream):
    spec = "{panel: reasoning, steps: [{propose: [openai/p1, openai/p2]}, {aggregate: openai/agg}]}"
    result = invoke("run", spec, "What is 2+2?")
    assert result.exit_code == 0, result.output
    # Each member's answer as a labelled block (the rows of the calls may fall between words).
    assert "[step 1 propose · openai/p1]\nanswer" in result.stderr
    assert "[step 1 propose · openai/p2]\nanswer" in result.stderr
    assert result.stdout.startswith("answer from agg #")  # the answer alone on stdout
    assert "answer from p1" not in result.stdout


def test_a_votes_unclear_answer_is_counted_against_the_responses_it_saw(respx_upstream):
    respx_upstream.overrides["judge"] = "They are all lovely answers."
    pipeline = Pipeline([Propose(FIVE), Vote("openai/judge")])
    result = asyncio.run(litellm_mixture.run(pipeline, "What is 2+2?"))
    (entry,) = [t for t in result.trace if t["kind"] == "vote"]
    assert entry["note"].startswith("named 0 of the 1 asked for (among 5 responses) in ")
