"""What every part of the schema shares: the frozen model, a member, the failure settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from .typed_params import Finite, problems

MAX_SAMPLES = 64
MAX_RETRIES = 10


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Member(Frozen):
    """One model in a step. A plain string is shorthand for ``Member(model=...)``."""

    model: str = Field(min_length=1)
    samples: StrictInt = Field(1, ge=1, le=MAX_SAMPLES)
    temperature: Finite | None = Field(None, ge=0, le=2)
    max_tokens: StrictInt | None = Field(None, ge=1)
    system_prompt: str | None = Field(None, alias="systemPrompt")
    prompt: str | None = None
    # Further litellm.completion kwargs for this member (top_p, seed, mock_response, ...).
    params: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, model: str | None = None, /, **data: Any) -> None:
        if model is not None:
            data["model"] = model
        super().__init__(**data)

    @field_validator("model")
    @classmethod
    def _no_star(cls, value: str) -> str:
        # "a*3" is three samples of a wherever a member is written: a '*' left in a name is a
        # sample count that is no whole number, never part of a model litellm would call. A
        # nested mixture's spec has its own (mixture/a*2>b), read when it runs.
        if "*" in value and not value.startswith("mixture/"):
            raise ValueError(
                f"{value!r}: '*N' after a model name means N samples, N a whole number "
                "(e.g. openai/gpt-4o-mini*3), or write samples: N"
            )
        return value

    @field_validator("params")
    @classmethod
    def _typed_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        wrong = problems(value)
        if wrong:
            raise ValueError("; ".join(wrong))
        return value

    @property
    def is_plain(self) -> bool:
        return self == Member(self.model, samples=self.samples)


def as_member(value: Any) -> Any:
    """A member as written (a model name, ``model*N`` or a mapping), for validation as a
    :class:`Member`."""
    if not isinstance(value, str):
        return value
    model, star, n = value.rpartition("*")
    if star and model and n.isdecimal() and len(n) <= 9:
        return {"model": model, "samples": int(n)}
    return {"model": value}


def as_members(value: Any) -> Any:
    """Members as written: one member, or a list of them."""
    if isinstance(value, (str, dict, Member)):
        value = [value]
    return [as_member(v) for v in value] if isinstance(value, (list, tuple)) else value


class Failure(Frozen):
    """How long member calls may take and how often they are retried. A step's settings win
    over the pipeline's."""

    timeout: Finite | None = Field(None, gt=0)
    """Seconds one member call may take."""
    retries: StrictInt | None = Field(None, ge=0, le=MAX_RETRIES)
    """Retries of a member call that was rate limited, timed out or hit a server error."""
    grace: Finite | None = Field(None, ge=0)
    """Once ``min_successful`` members have answered, seconds the rest get before they are cut."""
    cut_answers: Literal["fail", "keep"] | None = None
    """A streamed answer that ended without a finish reason (the server cut it): a failure
    (``fail``, the default), or a reference that counts toward the quorum (``keep``)."""
