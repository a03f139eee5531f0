"""YAML (and JSON) from untrusted text: bounded in size and nesting, without aliases."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .errors import spec_error

MAX_SPEC_BYTES = 64 * 1024
MAX_BRACKET_DEPTH = 32  # a spec needs ~6


class _NoAliasLoader(yaml.SafeLoader):
    """Rejects anchors and aliases: they are how YAML 'billion laughs' documents blow up."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not allowed in a mixture spec")
        return super().compose_node(parent, index)


def _bracket_depth(text: str) -> int:
    """How deep ``[``/``{`` nest, quotes ignored (an over-count at worst): PyYAML's scanner takes
    time quadratic in this depth (2 KB of ``[[[...]]]`` cost it half a second)."""
    depth = deepest = 0
    for c in text:
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: let YAML read them (as the strings they are there)


def load_yaml(text: str, *, spec: str = "", where: str = "") -> Any:
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise spec_error(
            f"the document is larger than {MAX_SPEC_BYTES} bytes", spec=spec, where=where
        )
    if _bracket_depth(text) > MAX_BRACKET_DEPTH:
        raise spec_error(
            f"the document is nested too deeply (brackets more than {MAX_BRACKET_DEPTH} deep)",
            spec=spec,
            where=where,
        )
    if text.lstrip().startswith(("{", "[")):
        # JSON is YAML, and the C json parser reads it ~50x faster than PyYAML.
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            pass  # YAML flow style ({steps: [...]}) or a JSON error: YAML says what is wrong
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as e:
        raise spec_error(
            f"not valid YAML/JSON: {' '.join(str(e).split())}", spec=spec, where=where
        ) from None
    except RecursionError:
        raise spec_error("the document is nested too deeply", spec=spec, where=where) from None
