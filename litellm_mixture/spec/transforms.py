"""The steps that reshape the previous step's answers without calling a model, and the RE2
patterns a filter matches with."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field, StrictInt, field_validator

from .base import Frozen, Member
from .typed_params import Finite

# What one compiled pattern may take (RE2 refuses a bigger program; its matching falls back to a
# slower but still linear engine past it).
PATTERN_MEMORY = 1 << 20
# RE2 is linear in the text, but its cost per character grows with the compiled program: measured
# on 16 KB, a 367-instruction program matches in 0.5 ms at worst, 1207 in 240 ms, and the 35-byte
# ((x?){1000}(x?){1000}(x?){1000})! (12007) in 2.5 s. Patterns people write compile to < 50.
MAX_PROGRAM = 400
# A pattern searches an answer's first MATCHED characters only: with MAX_PROGRAM, ~2 ms at worst.
MATCHED = 64 * 1024


@functools.lru_cache(maxsize=256)  # compiled once per pattern, not once per answer
def pattern(text: str) -> Any:
    """A spec's regular expression, compiled by RE2.

    Patterns run on the event loop over member answers. RE2 matches in time linear in the text,
    so no pattern, a client's included, can backtrack for seconds (``(a+)+$`` on ``aaaa...b``).
    It has no backreferences or lookaround: a pattern using them is refused here, at decoding,
    as is one whose compiled program is bigger than :data:`MAX_PROGRAM` (its cost per character
    grows with it); ``Filter(fn)`` in Python takes any function. Search with :func:`search`.
    """
    import re2  # ~5 ms, paid only by specs with a pattern

    options = re2.Options()
    options.log_errors = False  # a bad pattern is a SpecError, not a line on stderr
    options.max_mem = PATTERN_MEMORY
    try:
        compiled = re2.compile(text, options)
    except re2.error as e:
        reason = e.args[0].decode(errors="replace") if e.args else "invalid"
        raise ValueError(
            f"not a regular expression RE2 accepts ({reason}); patterns match in linear time, "
            "so backreferences and lookaround are not supported"
        ) from None
    if compiled.programsize > MAX_PROGRAM:
        raise ValueError(
            f"pattern too complex: it compiles to {compiled.programsize} RE2 instructions > "
            f"{MAX_PROGRAM} (large counted repeats such as x{{1000}} cost time on every answer)"
        )
    return compiled


def search(regex: str, text: str) -> Any:
    """``regex`` searched in ``text``'s first :data:`MATCHED` characters (a match or None)."""
    return pattern(regex).search(text[:MATCHED])


class Transform(Frozen):
    """A step that reshapes the previous step's answers without calling a model."""

    members: ClassVar[tuple[Member, ...]] = ()
    portable: ClassVar[bool] = True  # can be written into a model string
    # The setting a bare value gives in the steps dialect: {dropout: 0.2} is {dropout: {rate: 0.2}}.
    shorthand: ClassVar[str | None] = None

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [], width


class Shuffle(Transform):
    """Puts the answers in random order (against position bias in the next step)."""

    kind: Literal["shuffle"] = "shuffle"


class Dropout(Transform):
    """Drops each answer with probability ``rate``; at least one always stays."""

    kind: Literal["dropout"] = "dropout"
    rate: Finite = Field(ge=0, lt=1)
    shorthand: ClassVar[str | None] = "rate"

    def __init__(self, rate: float | None = None, /, **data: Any) -> None:
        if rate is not None:
            data["rate"] = rate
        super().__init__(**data)


class _Count(Transform):
    n: StrictInt = Field(ge=1)
    shorthand: ClassVar[str | None] = "n"

    def __init__(self, n: int | None = None, /, **data: Any) -> None:
        if n is not None:
            data["n"] = n
        super().__init__(**data)

    def bounds(self, width: int) -> tuple[list[int], int]:
        return [], min(self.n, width)


class Sample(_Count):
    """Keeps ``n`` answers chosen at random (all of them if there are fewer)."""

    kind: Literal["sample"] = "sample"


class Take(_Count):
    """Keeps the first ``n`` answers."""

    kind: Literal["take"] = "take"


class Filter(Transform):
    """Keeps the answers within a length range that match ``must_match`` and do not match
    ``must_not_match`` (regular expressions, searched anywhere in the answer).

    From Python, ``Filter(fn)`` keeps the answers for which ``fn(text)`` is true; such a step
    runs with :func:`litellm_mixture.run` but has no model string.
    """

    kind: Literal["filter"] = "filter"
    fn: Callable[[str], bool] | None = Field(None, exclude=True)
    min_length: StrictInt | None = Field(None, ge=0)
    max_length: StrictInt | None = Field(None, ge=1)
    must_match: str | None = None
    must_not_match: str | None = None

    def __init__(self, fn: Callable[[str], bool] | None = None, /, **data: Any) -> None:
        if fn is not None:
            data["fn"] = fn
        super().__init__(**data)

    # A class-wide flag on the other transforms; a filter is portable unless it has a function.
    @property
    def portable(self) -> bool:  # type: ignore[override]
        return self.fn is None

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            pattern(value)
        return value

    def keeps(self, text: str) -> bool:
        return (
            (self.min_length is None or len(text) >= self.min_length)
            and (self.max_length is None or len(text) <= self.max_length)
            and (self.must_match is None or search(self.must_match, text) is not None)
            and (self.must_not_match is None or search(self.must_not_match, text) is None)
            and (self.fn is None or bool(self.fn(text)))
        )


class Map(Transform):
    """Python only: replaces each answer with ``fn(text)`` (an empty result drops it)."""

    kind: Literal["map"] = "map"
    fn: Callable[[str], str] = Field(exclude=True)
    portable: ClassVar[bool] = False

    def __init__(self, fn: Callable[[str], str] | None = None, /, **data: Any) -> None:
        if fn is not None:
            data["fn"] = fn
        super().__init__(**data)
