"""The ``litellm-mixture`` command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import aider
from .errors import SpecError


@click.group()
def main() -> None:
    """Mixture-of-Agents pipelines as LiteLLM model names (mixture/...)."""


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
        click.echo(f"# {aider.METADATA_FILE}")
        click.echo(json.dumps(metadata, indent=2))
        return
    folder.mkdir(parents=True, exist_ok=True)
    for path in aider.write(folder, settings, metadata):
        click.echo(f"wrote {path}")
