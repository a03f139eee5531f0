"""The OpenAI params a mixture passes on, checked for type and range before any member call.

litellm hands a provider the params as the caller wrote them: ``temperature="hot"``,
``max_tokens="100000"``, NaN or ``max_tokens=True`` would otherwise reach the members, or fail
inside the run after some of them were called. The request's params and every member's
``params`` in a spec, trusted or not, are checked against :class:`Generation`. A param it does
not know is passed on unchecked (providers have their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

# A JSON number, not a bool or a numeric string, and neither NaN nor infinite.
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Count = Annotated[StrictInt, Field(ge=1)]

# The spellings of a boolean a spec or a preset parameter may use; any other word is refused
# (``early=nope`` must not turn a mode on, nor ``early=False`` off by accident of spelling).
TRUE = ("yes", "on", "true", "1")
FALSE = ("no", "off", "false", "0")


def flag(value: Any, name: str = "") -> Any:
    """A boolean as written (``no``, ``Off``, ``1``, ...), or a ValueError naming the spellings.
    A value that is no string or number is returned as it is, for its field to judge."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    from .errors import did_you_mean

    hint = did_you_mean(text, (*TRUE, *FALSE))
    raise ValueError(
        f"{name + '=' if name else ''}{value!r} is not a boolean: write one of "
        f"{'/'.join(TRUE)} or {'/'.join(FALSE)}" + (f"; {hint}" if hint else "")
    )


# A spec's boolean setting: the spellings of :func:`flag`.
Flag = Annotated[bool, BeforeValidator(flag)]


class Generation(BaseModel):
    """The OpenAI chat params whose type a mixture relies on, with the ranges OpenAI accepts."""

    model_config = ConfigDict(extra="allow", frozen=True)

    temperature: Finite | None = Field(None, ge=0, le=2)
    top_p: Finite | None = Field(None, ge=0, le=1)
    frequency_penalty: Finite | None = Field(None, ge=-2, le=2)
    presence_penalty: Finite | None = Field(None, ge=-2, le=2)
    max_tokens: Count | None = None
    max_completion_tokens: Count | None = None
    n: Count | None = None
    seed: StrictInt | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(None, ge=0, le=20)
    stop: StrictStr | list[StrictStr] | None = None
    parallel_tool_calls: StrictBool | None = None
    reasoning_effort: StrictStr | None = None
    user: StrictStr | None = None
    timeout: Finite | None = Field(None, gt=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    logit_bias: dict[str, Finite] | None = None
    intermediate_responses: StrictBool | None = None
    panel: Literal["reasoning"] | None = None
    # The mixture's own: the estimate instead of a run, and the run's budget in USD.
    estimate_only: StrictBool | None = None
    max_cost: Finite | None = Field(None, gt=0)
    # A step that went on with fewer answers than it asked for: say so (warn) or fail (error).
    degraded: Literal["warn", "error"] | None = None


def problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``values``, one line per param; empty when nothing is."""
    try:
        Generation.model_validate(values)
    except ValidationError as e:
        out: dict[str, str] = {}
        for error in e.errors():
            name = str(error["loc"][0])
            # A union reports each of its arms: the first says enough.
            out.setdefault(name, f"{name}={values.get(name)!r:.60}: {error['msg']}")
        return list(out.values())
    return []
