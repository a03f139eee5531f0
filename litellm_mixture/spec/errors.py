"""A spec's errors: the exception to raise, and one line for a failed validation."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from ..errors import SpecError


def spec_error(message: str, *, spec: str = "", where: str = "") -> SpecError:
    """A :class:`~litellm_mixture.errors.SpecError`, for the caller to raise.

    SpecError is a ``litellm.BadRequestError``, and importing litellm takes seconds: reading
    presets and specs (``litellm-mixture presets``) imports it only once one is bad.
    """
    from ..errors import SpecError

    return SpecError(message, spec=spec, where=where)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'?"`` for a near miss of one of ``choices`` (case aside), else ``""``."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=2, cutoff=0.6)
    return f"did you mean {' or '.join(repr(by_lower[c]) for c in close)}?" if close else ""


# Where pydantic lists the values a field takes: a near miss of one gets a suggestion.
_CHOICES = {"literal_error": "expected", "union_tag_invalid": "expected_tags"}


def _suggestion(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    listed = ctx.get(_CHOICES.get(error["type"], ""))
    given = ctx.get("tag", error.get("input"))
    if not isinstance(listed, str) or not isinstance(given, str):
        return ""
    hint = did_you_mean(given, re.findall(r"'([^']*)'", listed))
    return f"; {hint}" if hint else ""


_SHOW_INPUT = ("literal_error", "union_tag_invalid", "extra_forbidden", "missing")


def describe(error: ValueError) -> str:
    """One line for a failed validation, worded like the rest of the spec errors: each field's
    path, what is wrong and the value given (not pydantic's multi-line text with a URL)."""
    if not isinstance(error, ValidationError):
        return str(error)
    errors = error.errors()
    parts = []
    for e in errors:
        if e["type"] == "too_short" and any(
            o["loc"][: len(e["loc"])] == e["loc"] and o["loc"] != e["loc"] for o in errors
        ):
            continue  # "at least 1 item" because an item inside failed: that item's error says it
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        msg = "unknown field" if e["type"] == "extra_forbidden" else msg[:1].lower() + msg[1:]
        value = e.get("input")
        if e["type"] in _SHOW_INPUT or isinstance(value, (str, int, float)):
            msg += f" (got {value!r:.80})"
        msg += _suggestion(e)
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
