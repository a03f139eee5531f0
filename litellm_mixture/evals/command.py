"""``litellm-mixture eval``: the click command. Inspect is imported when the command runs, so
``litellm-mixture --help`` stays fast and works without the ``[eval]`` extra."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from inspect_ai.util import DisplayType

DISPLAYS = ("full", "rich", "plain", "log", "none")


def _needs_extra() -> None:
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "litellm-mixture eval needs Inspect AI: pip install 'litellm-mixture[eval]'"
        ) from None


@click.command(name="eval")
@click.argument("spec")
@click.option(
    "--task", required=True, help="smoke, humaneval, a .jsonl file or an Inspect .py file."
)
@click.option(
    "--scorer",
    help="For a .jsonl task: exact (default), includes, last_number, choice, regex:PATTERN, "
    "judge:SPEC.",
)
@click.option("--limit", type=click.IntRange(min=1), help="The first N samples only.")
@click.option("--against", multiple=True, help="Another spec to compare (repeatable).")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="Refuse, before any call, an eval whose worst case costs more (USD).",
)
@click.option(
    "--log-dir",
    type=click.Path(path_type=Path),
    default=Path("mixture-eval-logs"),
    show_default=True,
    help="Inspect's logs; run again with the same directory to resume.",
)
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), help="Write the report as JSON."
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    help="Write the report as one HTML page with its plot.",
)
@click.option("--display", type=click.Choice(DISPLAYS), help="Inspect's progress display.")
def eval_command(
    spec: str,
    task: str,
    scorer: str | None,
    limit: int | None,
    against: tuple[str, ...],
    max_cost: float | None,
    log_dir: Path,
    json_path: Path | None,
    html_path: Path | None,
    display: DisplayType | None,  # one of DISPLAYS: click.Choice admits no other
) -> None:
    """Does the mixture SPEC beat its best member on TASK? Runs, on the same samples, the
    mixture, each distinct member alone, Self-MoA (the best member sampled as often as the
    mixture calls its proposers, aggregated by the mixture's aggregator) and each --against
    spec, with Inspect AI; then reports each one's score with its 95% interval, the paired
    difference against the best member, cost, latency and a verdict.

    \b
    The estimate of the whole eval is printed before anything runs; past --max-cost nothing
    runs. The logs stay in --log-dir (read them with `inspect view`).

    \b
    Examples:
      litellm-mixture eval demo --task smoke
      litellm-mixture eval 'openai/gpt-4o-mini*3>openai/gpt-4o' --task humaneval --limit 20 \\
          --max-cost 2 --html report.html
      litellm-mixture eval moa-lite --task qa.jsonl --scorer judge:openai/gpt-4o-mini
    """
    _needs_extra()
    from ..cli.live import quiet_litellm
    from . import page, report, run, tasks

    quiet_litellm()
    found = tasks.resolve(task, scorer)
    judge = scorer.partition(":")[2] if scorer and scorer.startswith("judge:") else None
    options = run.Options(spec, found, limit, against, max_cost, log_dir, judge, display)
    done = run.run(options, say=lambda line: click.echo(line, err=True))
    result = report.build(found.name, done)
    text = report.table(result)
    click.echo(text)
    if json_path is not None:
        json_path.write_text(json.dumps(result.model_dump(), indent=2) + "\n", encoding="utf-8")
    if html_path is not None:
        html_path.write_text(page.render(result, text), encoding="utf-8")
