"""A mixture as aider sees it: its ``.aider.model.settings.yml`` and metadata entries.

aider guesses a model's edit format from substrings of its name and, unless told otherwise,
uses the main model for commit messages and summaries, which would run the whole mixture for
each. An exact-name settings entry fixes both. The metadata entry gives the context window and
prices of a name LiteLLM does not already know: every name but ``mixture/<preset>``, which the
provider registers with LiteLLM itself when litellm is imported (see ``modelinfo``), so a
metadata entry for it would only go stale with the next litellm price map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError
from ..pricing.modelinfo import member_info, model_info
from ..spec import PREFIX, Pipeline, decode, load_preset

SETTINGS_FILE = ".aider.model.settings.yml"
METADATA_FILE = ".aider.model.metadata.json"
PROXY_PREFIX = "litellm_proxy/"


def pipeline_of(model: str) -> Pipeline:
    """The pipeline behind an aider model name: ``mixture/...`` or ``litellm_proxy/mixture/...``."""
    return decode(model.removeprefix(PROXY_PREFIX))


def cheapest_member(pipeline: Pipeline) -> str:
    """The member with the lowest known price per token: aider's weak model by default."""
    models = list(dict.fromkeys(m.model for step in pipeline.steps for m in step.members))

    def price(model: str) -> float:
        info = member_info(model)
        prices = [info.get("input_cost_per_token"), info.get("output_cost_per_token")]
        known = [p for p in prices if p is not None]
        return sum(known) if len(known) == len(prices) else float("inf")

    return min(models, key=price)


def settings_entry(
    model: str,
    *,
    weak_model: str | None = None,
    editor_model: str | None = None,
    edit_format: str = "diff",
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": model,
        "edit_format": edit_format,
        "weak_model_name": weak_model or cheapest_member(pipeline_of(model)),
        "use_repo_map": True,
        "streaming": True,
    }
    if editor_model:
        entry["editor_model_name"] = editor_model
        entry["editor_edit_format"] = "editor-" + edit_format
    return entry


def registered(model: str) -> bool:
    """Whether LiteLLM knows ``model``'s info once the provider is registered: ``mixture/<preset>``.

    A preset with parameters (``mixture/4oso?proposers=...``), a one-line or inline spec, and
    any ``litellm_proxy/...`` name (aider's environment may not have this project installed)
    are not registered.
    """
    if not model.startswith(PREFIX):
        return False
    try:
        return load_preset(model.removeprefix(PREFIX)) is not None
    except SpecError:
        return False


def metadata_entry(model: str) -> dict[str, Any]:
    """The metadata entries aider needs for ``model``: none for a registered preset."""
    pipeline = pipeline_of(model)  # a bad spec raises here, preset or not
    return {} if registered(model) else {model: model_info(pipeline)}


def dump_settings(entries: list[dict[str, Any]]) -> str:
    # No line wrapping: a folded name is easy to break by hand, and names must match exactly.
    return yaml.safe_dump(entries, sort_keys=False, width=1 << 20)


def write(folder: Path, settings: dict[str, Any], metadata: dict[str, Any]) -> list[Path]:
    """Merge the entries into the two files in ``folder``, replacing entries of the same name.

    The metadata file is left alone (not even created) when there is no metadata entry, but a
    stale entry of the same name is dropped from it. Returns the files written.
    """
    settings_path, metadata_path = folder / SETTINGS_FILE, folder / METADATA_FILE
    entries = yaml.safe_load(settings_path.read_text()) if settings_path.exists() else None
    entries = [e for e in entries or [] if e.get("name") != settings["name"]] + [settings]
    settings_path.write_text(dump_settings(entries))
    written = [settings_path]
    known = json.loads(metadata_path.read_text()) if metadata_path.exists() else {}
    merged = {**known, **metadata}
    if not metadata:  # a registered preset: an old entry would shadow the registered info
        merged.pop(settings["name"], None)
    if merged != known:
        metadata_path.write_text(json.dumps(merged, indent=2) + "\n")
        written.append(metadata_path)
    return written


def normalize(model: str) -> str:
    """``multiple-hats`` -> ``mixture/multiple-hats``; prefixed names stay as they are."""
    return model if model.startswith((PREFIX, PROXY_PREFIX)) else PREFIX + model
