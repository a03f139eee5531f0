"""A spec's errors: the exception to raise, and one line for a failed validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
