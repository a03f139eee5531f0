"""When two answers of a propose step with ``until_agree`` agree: by their normalised text, their
last line, a regular expression's capture, or (in the engine) their embeddings' similarity."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from .base import Frozen
from .transforms import pattern, search
from .typed_params import Finite

_SPACE = re.compile(r"\s+")
# Punctuation that ends a sentence or a list item: "42." and "42" are the same answer.
_TRAILING = ".!?;:,"


def normalised(text: str) -> str:
    """Whitespace collapsed, case folded, trailing punctuation removed."""
    return _SPACE.sub(" ", text).strip().rstrip(_TRAILING).rstrip().casefold()


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ByRegex(Frozen):
    """Answers agree when the pattern's first capture group (searched anywhere) is the same,
    normalised; an answer it does not match agrees with none."""

    regex: str

    @field_validator("regex")
    @classmethod
    def _one_group(cls, value: str) -> str:
        if pattern(value).groups < 1:
            raise ValueError(f"agree_by regex {value!r} needs a capture group: (...)")
        return value

    def key(self, text: str) -> str | None:
        found = search(self.regex, text)
        captured = None if found is None else found.group(1)
        return None if captured is None else normalised(captured)


class ByEmbedding(Frozen):
    """Answers agree when the cosine similarity of their embeddings (from ``embedding``, through
    the run's embedding seam: ``litellm.aembedding``, or the proxy's Router for an alias) is at
    least ``threshold``."""

    embedding: str = Field(min_length=1)
    threshold: Finite = Field(0.9, gt=0, le=1)


def _mode(value: Any) -> str | None:
    """Which form of agree_by ``value`` is, so that an error names what is wrong with that form
    (a regex without a group) rather than every form it is not."""
    if isinstance(value, (ByRegex, ByEmbedding)):
        return "embedding" if isinstance(value, ByEmbedding) else "regex"
    if isinstance(value, dict) and len(value.keys() & {"regex", "embedding"}) == 1:
        return "regex" if "regex" in value else "embedding"
    return "name" if isinstance(value, str) else None


AgreeBy = Annotated[
    Annotated[Literal["text", "last_line"], Tag("name")]
    | Annotated[ByRegex, Tag("regex")]
    | Annotated[ByEmbedding, Tag("embedding")],
    Discriminator(
        _mode,
        custom_error_type="agree_by",
        custom_error_message="agree_by is 'text', 'last_line', {regex: ...} or {embedding: ...}",
    ),
]


def text_key(agree_by: AgreeBy, text: str) -> str | None:
    """What two answers must share to agree, for the modes that read the text alone."""
    if isinstance(agree_by, ByRegex):
        return agree_by.key(text)
    key = normalised(last_line(text) if agree_by == "last_line" else text)
    return key or None
