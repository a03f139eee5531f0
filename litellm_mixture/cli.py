"""The ``litellm-mixture`` command."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import click

from . import aider, dump, explain, live, report
from .config import Pipeline, pipeline_from_document
from .engine import Outcome, Run
from .errors import MixtureError, SpecError
from .names import PREFIX, decode, encode, load_preset, load_yaml, preset_dirs, preset_names
from .policy import Policy, PolicyError, check, check_name
from .proxy import DEFAULT_ATTEMPTS


@click.group()
def main() -> None:
    """Mixture-of-Agents pipelines as LiteLLM model names (mixture/...).

    \b
    Examples:
      litellm-mixture run demo "What is Mixture-of-Agents?"
      litellm-mixture validate 'openai/gpt-4o-mini*3>openai/gpt-4o'
      litellm-mixture explain robust-moa
      litellm-mixture encode my-mixture.yaml
      litellm-mixture presets
    """


def _pipeline(spec: str) -> tuple[str, Pipeline]:
    """A spec (preset, one-line, inline document, mixture/... name) or a YAML file."""
    path = Path(spec)
    try:
        if not spec.startswith(PREFIX) and path.suffix in (".yaml", ".yml", ".json"):
            if not path.is_file():
                raise click.BadParameter(f"no such file: {spec}", param_hint="SPEC")
            where = f"file {path}"
            doc = load_yaml(path.read_text(encoding="utf-8"), spec=spec, where=where)
            return str(path), pipeline_from_document(doc, spec=spec, where=where)
        name = spec if spec.startswith(PREFIX) else PREFIX + spec
        return name, decode(name)
    except SpecError as e:
        raise click.ClickException(e.message) from None


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
    name, pipeline = _pipeline(spec)
    if prompt is None or prompt == "-":
        if prompt is None and sys.stdin.isatty():
            raise click.UsageError("give a PROMPT, or pipe one in and pass - ")
        prompt = sys.stdin.read()
    messages = [{"role": "user", "content": prompt}]
    view = None if as_json else live.LiveView(sys.stderr, tty=sys.stderr.isatty())
    folder = dump.directory()
    execution = Run(pipeline, messages, observer=view, record=as_json or folder is not None)
    started = time.perf_counter()
    try:
        content, finish = asyncio.run(_stream(execution, view))
    except MixtureError as e:  # the typed member failures, deadlines and spec errors
        if folder is not None:
            dump.write(folder, execution, name, error=e)
        raise click.ClickException(getattr(e, "message", str(e))) from None
    if folder is not None:
        dump.write(folder, execution, name, Outcome(content, None, finish))
    figures = report.summary(execution, (time.perf_counter() - started) * 1000)
    if as_json:
        document = {"model": name, "content": content, "finish_reason": finish, **figures}
        document.update(
            history=report.history(execution),
            intermediate_responses=report.intermediate_responses(execution),
            trace=execution.trace_dicts(),
        )
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    click.echo()
    if view is not None:
        view.finish()
    click.echo(live.summary_line(figures), err=True)


async def _stream(execution: Run, view: live.LiveView | None) -> tuple[str, str]:
    parts, finish = [], "stop"
    async for event in execution.stream():
        if event.finish_reason is not None:
            finish = event.finish_reason
        if event.text:
            parts.append(event.text)
            if view is not None:
                view.freeze()
                click.echo(event.text, nl=False)
    return "".join(parts), finish


@main.command()
@click.argument("spec")
def validate(spec: str) -> None:
    """Decode and check SPEC (a spec or a YAML file); print the canonical pipeline.

    Exits 1 with the exact error when the spec is invalid.

    \b
    Examples:
      litellm-mixture validate moa-lite
      litellm-mixture validate 'openai/gpt-4o-mini*3+deepseek/deepseek-chat>openai/gpt-4o'
      litellm-mixture validate my-mixture.yaml
    """
    name, pipeline = _pipeline(spec)
    click.echo(explain.canonical_yaml(pipeline), nl=False)
    calls = pipeline.max_calls
    click.echo(f"# valid: {name}, at most {calls} member call{'s' if calls != 1 else ''}")


@main.command(name="explain")
@click.argument("spec")
def explain_command(spec: str) -> None:
    """Show SPEC (a spec or a YAML file) as a tree: steps, members, prompts, failure policy.

    \b
    Example:
      litellm-mixture explain rank-then-aggregate
    """
    name, pipeline = _pipeline(spec)
    click.echo(explain.tree(pipeline, name))
    click.echo(f"  through the proxy, as a client spec: {_client_verdict(pipeline)}")


def _client_verdict(pipeline: Pipeline) -> str:
    """How the proxy's default policy would take this pipeline sent by a client, assuming its
    members are the proxy's aliases (only the proxy knows its aliases)."""

    def nested(model: str) -> tuple[Pipeline, bool] | None:
        return (decode(model), False) if model.startswith(PREFIX) else None

    try:
        calls = check(
            pipeline,
            Policy(),
            allowed=lambda _: True,
            nested=nested,
            attempts=lambda _, retried: DEFAULT_ATTEMPTS,
        )
        check_name(encode(pipeline), Policy())
    except SpecError as e:
        return e.message.split("Invalid mixture spec: ", 1)[-1]
    return (
        f"allowed by the default policy if its members are aliases ({calls} upstream requests "
        "at most, the Router's default retries included)"
    )


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
    try:
        model = encode(pipeline)
    except SpecError as e:
        raise click.ClickException(e.message) from None
    click.echo(model)
    try:
        check_name(model, Policy())
    except PolicyError as e:
        click.echo(
            f"warning: this string works with litellm.completion but not through the proxy: "
            f"{e.message}. Put {file.name} in a preset folder (./mixtures) and use "
            f"{PREFIX}{file.stem}.",
            err=True,
        )


@main.command()
def presets() -> None:
    """The builtin and user presets: members, where each comes from, and its file.

    User presets live in ./mixtures and the folders in $LITELLM_MIXTURE_PRESETS; they shadow
    builtins of the same name.
    """
    user = [folder.resolve() for folder in preset_dirs()]
    for name in preset_names():
        try:
            pipeline = load_preset(name)
        except SpecError as e:
            click.echo(f"{PREFIX}{name}  (broken: {e.message})")
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
    .aider.model.metadata.json.
    """
    name = aider.normalize(model)
    try:
        settings = aider.settings_entry(
            name, weak_model=weak_model, editor_model=editor_model, edit_format=edit_format
        )
        metadata = aider.metadata_entry(name)
    except SpecError as e:
        raise click.ClickException(e.message) from None
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
    folder.mkdir(parents=True, exist_ok=True)
    for path in aider.write(folder, settings, metadata):
        click.echo(f"wrote {path}")
