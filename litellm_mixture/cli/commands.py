"""The ``litellm-mixture`` command.

Importing litellm takes seconds, so each command imports what it uses: ``--help`` and
``presets`` never import it; ``explain`` and ``encode`` print their answer, then import it to
ask the trust policy (whose errors are litellm's) whether the proxy would take the spec. Every
error a user can cause (a bad spec, a failed member, a missing key) ends as one line on stderr
and exit status 1, with litellm's banners kept off.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..spec import (
    PREFIX,
    Pipeline,
    decode,
    encode,
    load_preset,
    pipeline_from_document,
    preset_names,
)
from ..spec.presets import PRESETS_ENV, preset_dirs
from ..spec.safe_yaml import load_yaml
from . import explain


def _litellm() -> None:
    """Load litellm, quiet, for a command that calls or looks models up."""
    from .live import quiet_litellm

    quiet_litellm()


def _expected(error: Exception) -> bool:
    if "litellm" not in sys.modules:
        return False  # then nothing raised here can be a litellm error or one of ours
    from .live import expected

    return expected(error)


def one_line(error: BaseException) -> str:
    from .live import error_line

    return error_line(error)


def _spec_error() -> type[Exception]:
    """SpecError, for an ``except`` clause: evaluated only once an exception is raised, so
    litellm, which SpecError imports, is loaded only when a spec is bad."""
    from ..errors import SpecError

    return SpecError


class _Main(click.Group):
    """Turns the errors a user can cause into click's one-line ``Error: ...`` and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:
            if not _expected(e):
                raise
            raise click.ClickException(one_line(e)) from None


def _version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version  # litellm's version, without importing litellm

    click.echo(f"litellm-mixture {version('litellm-mixture')} (litellm {version('litellm')})")
    ctx.exit()


@click.group(cls=_Main)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show this package's version and litellm's, and exit.",
)
def main() -> None:
    """Mixture-of-Agents pipelines as LiteLLM model names (mixture/...).

    \b
    Examples:
      litellm-mixture run demo "What is Mixture-of-Agents?"
      litellm-mixture validate 'openai/gpt-4o-mini*3>openai/gpt-4o'
      litellm-mixture explain robust-moa
      litellm-mixture estimate moa-lite "Explain MoA"
      litellm-mixture encode my-mixture.yaml
      litellm-mixture presets
    """
    # Offline by default: litellm fetches its cost map at import unless told to use its own copy
    # (warnings on every offline run). A user's setting, either way, stands.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _pipeline(spec: str) -> tuple[str, Pipeline]:
    """A spec (preset, one-line, inline document, mixture/... name) or a YAML file."""
    path = Path(spec)
    if not spec.startswith(PREFIX) and path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise click.BadParameter(f"no such file: {spec}", param_hint="SPEC")
        where = f"file {path}"
        doc = load_yaml(path.read_text(encoding="utf-8"), spec=spec, where=where)
        return str(path), pipeline_from_document(doc, spec=spec, where=where)
    name = spec if spec.startswith(PREFIX) else PREFIX + spec
    return name, decode(name)


@main.command(name="run")
@click.argument("spec")
@click.argument("prompt", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer and full trace as JSON.")
def run_command(spec: str, prompt: str | None, as_json: bool) -> None:
    """Run the mixture SPEC on PROMPT ("-" or nothing: read it from stdin).

    While it runs, each member call is shown pending, then done or failed with its latency,
    tokens and cost (on stderr); the answer streams to stdout; a summary follows: calls,
    tokens, cost, wall time and the critical path (the time the slowest calls alone take).

    \b
    --json prints, instead, the answer, the figures, what each step passed on, each member's
    answer (intermediate_responses) and the trace. With LITELLM_MIXTURE_DUMP_DIR set, a
    redacted JSON dump of the whole run is written there.

    \b
    Examples:
      litellm-mixture run demo "What is Mixture-of-Agents?"
      echo "Explain MoA" | litellm-mixture run 'openai/gpt-4o-mini*3>openai/gpt-4o'
      litellm-mixture run robust-moa "Is 1001 prime?" --json > trace.json
      LITELLM_MIXTURE_DUMP_DIR=dumps litellm-mixture run demo "Hi"   # a redacted dump file
    """
    _litellm()
    from ..engine import Run, check_prompt
    from ..observe import dump, report
    from . import live

    name, pipeline = _pipeline(spec)
    if prompt is None and sys.stdin.isatty():
        raise click.UsageError("give a PROMPT, or pipe one in and pass - ")
    messages = [{"role": "user", "content": _prompt(prompt)}]
    check_prompt(messages)
    width = live.label_width(pipeline)
    view = None if as_json else live.LiveView(sys.stderr, tty=sys.stderr.isatty(), width=width)
    folder = dump.directory()
    execution = Run(
        pipeline,
        messages,
        observer=view,
        keep_calls=as_json or folder is not None,
        panel=pipeline.panel == "reasoning",
    )
    started = time.perf_counter()
    content, finish = live.execute(execution, view, name, folder)
    record = execution.record()
    figures = report.summary(record, (time.perf_counter() - started) * 1000)
    if as_json:
        _echo_run_json(name, content, finish, figures, record)
        return
    click.echo()
    if view is not None:
        view.finish()
    click.echo(live.summary_line(figures), err=True)


def _echo_run_json(name: str, content: str, finish: Any, figures: dict, record: Any) -> None:
    """``run --json``: the answer, the run's figures, each step's history and answers, the trace."""
    from ..observe import report

    document = {"model": name, "content": content, "finish_reason": finish, **figures}
    document.update(
        history=report.history(record),
        intermediate_responses=report.intermediate_responses(record),
        trace=record.trace_dicts(),
    )
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _prompt(prompt: str | None) -> str:
    """PROMPT as given, or read from stdin for "-" or nothing."""
    return sys.stdin.read() if prompt is None or prompt == "-" else prompt


@main.command(name="estimate")
@click.argument("spec")
@click.argument("prompt", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option(
    "--expected-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="The likely case's answer length per call, in tokens [default: 300].",
)
def estimate_command(spec: str, prompt: str | None, as_json: bool, expected_tokens: int) -> None:
    """What SPEC (a spec or a YAML file) may cost on PROMPT ("-": read it from stdin; nothing:
    an empty prompt), before anything runs: per step and in total, the calls and the cost.

    \b
    The worst case: every call writes its max_tokens (else its model's output limit), every
    retry and fallback is taken, each answer passed on is as long as its writer may make it.
    The likely case: nothing fails, each answer is --expected-tokens long. Prices are
    litellm's; a model without one is named and left out (the totals are then "at least").

    \b
    Examples:
      litellm-mixture estimate moa-lite "Explain Mixture-of-Agents"
      litellm-mixture estimate 'openai/gpt-4o-mini*3>openai/gpt-4o' --json
      cat question.txt | litellm-mixture estimate robust-moa - --expected-tokens 800
    """
    _litellm()
    from ..pricing import estimates

    name, pipeline = _pipeline(spec)
    text = "" if prompt is None else _prompt(prompt)
    found = estimates.estimate(
        pipeline,
        [{"role": "user", "content": text}],
        model=name,
        expected_tokens=expected_tokens or estimates.EXPECTED_TOKENS,
    )
    click.echo(json.dumps(found.model_dump(), indent=2) if as_json else found.table())


@main.command()
@click.argument("spec")
@click.option(
    "--strict", is_flag=True, help="A member litellm cannot route is an error, not a warning."
)
def validate(spec: str, strict: bool) -> None:
    """Decode and check SPEC (a spec or a YAML file); print the canonical pipeline.

    Exits 1 with the exact error when the spec is invalid. Warns (on stderr) about each member
    litellm cannot route: fine only if the proxy that runs the mixture has it as an alias
    (--strict: exits 1 instead, for a spec that must run outside the proxy).

    \b
    Examples:
      litellm-mixture validate moa-lite
      litellm-mixture validate 'openai/gpt-4o-mini*3+deepseek/deepseek-chat>openai/gpt-4o'
      litellm-mixture validate my-mixture.yaml
    """
    _litellm()
    name, pipeline = _pipeline(spec)
    unroutable = explain.unroutable(pipeline)
    if strict and unroutable:
        models = ", ".join(f"{m!r} ({why})" for m, why in unroutable.items())
        raise click.ClickException(f"--strict: not a model litellm can route: {models}")
    click.echo(explain.canonical_yaml(pipeline), nl=False)
    for model, reason in unroutable.items():
        click.echo(
            f"warning: {model!r} is not a model litellm can route ({reason}); fine if it is a "
            "model alias of the LiteLLM proxy that runs this mixture (aliases cannot be "
            "checked offline)",
            err=True,
        )
    calls = sum(explain.most_calls(pipeline))
    click.echo(f"# valid: {name}, at most {calls} member call{'s' if calls != 1 else ''}")


@main.command(name="explain")
@click.argument("spec")
def explain_command(spec: str) -> None:
    """Show SPEC (a spec or a YAML file) as a tree: steps, members, prompts, failure policy,
    and the estimate's totals on an empty prompt (see the estimate command).

    \b
    Example:
      litellm-mixture explain rank-then-aggregate
    """
    _litellm()  # nested specs and the estimate ask litellm about models: its banners stay off
    name, pipeline = _pipeline(spec)
    click.echo(explain.tree(pipeline, name))
    # The verdict imports litellm (the policy's errors are litellm's): the tree comes first.
    click.echo(f"  through the proxy, as a client spec: {explain.client_verdict(pipeline)}")
    from ..pricing import estimates

    empty = [{"role": "user", "content": ""}]
    found = estimates.estimate(pipeline, empty, model=name)
    click.echo(f"  estimated cost on an empty prompt (litellm-mixture estimate): {found.summary()}")


@main.command(name="encode")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def encode_command(file: Path) -> None:
    """The model string for the pipeline in FILE: a preset name, the one-line form or inline.

    Warns (on stderr) when the LiteLLM proxy would refuse or mangle the string; save the
    file as a preset instead and use its name.

    \b
    Example:
      litellm-mixture encode my-mixture.yaml
    """
    _, pipeline = _pipeline(str(file))
    model = encode(pipeline)
    click.echo(model)
    # The check imports litellm (the policy's errors are litellm's): the string comes first.
    from ..trust.policy import Policy, PolicyError, check_name

    try:
        check_name(model, Policy())
    except PolicyError as e:
        why = one_line(e).split(": ", 2)[-1].split("; ", 1)[0]
        form = (
            "the one-line form (a*2+b>c) cannot write this pipeline"
            if model.startswith(PREFIX + "{")
            else "even the one-line form is too long"
        )
        click.echo(
            f"warning: this name works with litellm.completion, but the LiteLLM proxy refuses "
            f"it ({why}), and {form}. Through the proxy, use a preset: put {file.name} in the "
            f"proxy's ./mixtures (or a folder of ${PRESETS_ENV}) and send {PREFIX}{file.stem}, "
            "or have the operator name it in model_list (docs/proxy.md).",
            err=True,
        )


@main.command()
def presets() -> None:
    """The builtin and user presets: members, where each comes from, and its file.

    User presets live in ./mixtures and the folders in $LITELLM_MIXTURE_PRESETS; they shadow
    builtins of the same name. Use one as model="mixture/NAME", or reuse it with other
    members: mixture/NAME?proposers=a*2+b&aggregator=c (see README.md, "Presets").

    \b
    Examples:
      litellm-mixture presets
      LITELLM_MIXTURE_PRESETS=~/team-mixtures litellm-mixture presets
      litellm-mixture explain together-moa     # one preset in detail
    """
    user = [folder.resolve() for folder in preset_dirs()]
    for name in preset_names():
        try:
            pipeline = load_preset(name)
        except _spec_error() as e:
            click.echo(f"{PREFIX}{name}  (broken: {one_line(e)})")
            continue
        assert pipeline is not None
        path = next(
            (
                str(f / f"{name}{x}")
                for f in user
                for x in (".yaml", ".yml")
                if (f / f"{name}{x}").is_file()
            ),
            "builtin",
        )
        models = dict.fromkeys(m.model for step in pipeline.steps for m in step.members)
        click.echo(f"{PREFIX}{name}  [{path}]")
        shape = " → ".join(step.kind for step in pipeline.steps)
        click.echo(f"  {shape}: {', '.join(models)}")
        if pipeline.source:
            click.echo(f"  source: {' '.join(pipeline.source.split())}")


@main.command("aider-settings")
@click.argument("model")
@click.option(
    "--weak-model", help="aider's weak model (commit messages). Default: the cheapest member."
)
@click.option("--editor-model", help="The editor model when the mixture is aider's architect.")
@click.option("--edit-format", default="diff", show_default=True, help="aider's edit format.")
@click.option(
    "--write",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Merge the entries into .aider.model.settings.yml and .aider.model.metadata.json here.",
)
def aider_settings(
    model: str,
    weak_model: str | None,
    editor_model: str | None,
    edit_format: str,
    folder: Path | None,
) -> None:
    """aider's settings and metadata entries for MODEL (a preset, spec or mixture/... name).

    Without --write, prints both: the YAML goes in .aider.model.settings.yml, the JSON in
    .aider.model.metadata.json. The settings entry gives aider a cheap weak model for commit
    messages (by default the cheapest member), so they do not run the whole mixture.

    \b
    Examples:
      litellm-mixture aider-settings multiple-hats --write .
      litellm-mixture aider-settings 'openai/gpt-4o-mini*3>openai/gpt-4o' --write .
      litellm-mixture aider-settings moa-lite --weak-model deepseek/deepseek-chat
      litellm-mixture aider-settings moa-lite --editor-model openai/gpt-4o  # as architect
      aider --model mixture/multiple-hats   # then, in the folder written to
    """
    _litellm()
    from . import aider

    name = aider.normalize(model)
    settings = aider.settings_entry(
        name, weak_model=weak_model, editor_model=editor_model, edit_format=edit_format
    )
    metadata = aider.metadata_entry(name)
    if folder is None:
        click.echo(f"# {aider.SETTINGS_FILE}")
        click.echo(aider.dump_settings([settings]), nl=False)
        if metadata:
            click.echo(f"# {aider.METADATA_FILE}")
            click.echo(json.dumps(metadata, indent=2))
        else:
            click.echo(
                f"# no {aider.METADATA_FILE} entry needed: {name} is registered with LiteLLM"
            )
        return
    if not folder.is_dir():  # a typo must not leave settings where aider never looks
        raise click.ClickException(f"--write {folder}: no such folder; create it first")
    for path in aider.write(folder, settings, metadata):
        click.echo(f"wrote {path}")


# `litellm-mixture eval` (the [eval] extra): its module imports only click until it runs.
from ..evals.command import eval_command  # noqa: E402

main.add_command(eval_command)
