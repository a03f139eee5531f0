"""What an estimate says: per step and in total, the calls and the cost range (likely and
worst), the members with no price or no output limit; as a table and as one line."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, computed_field


class StepEstimate(BaseModel):
    """One step: its calls when nothing fails, the most upstream requests it may make, and
    the likely and worst cost in USD (the known part; see ``unpriced`` and ``unbounded``)."""

    model_config = ConfigDict(frozen=True)

    step: int
    kind: str
    calls: int
    requests: int
    likely: float
    worst: float
    unpriced: tuple[str, ...] = ()
    unbounded: tuple[str, ...] = ()


def names(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


class Estimate(BaseModel):
    """A pipeline's cost before it runs, per step and in total (see the module's docstring)."""

    model_config = ConfigDict(frozen=True)

    model: str
    prompt_tokens: int
    """The caller's conversation, in tokens."""
    expected_tokens: int
    """The likely case's answer length per call."""
    steps: tuple[StepEstimate, ...]

    # Each ignore[prop-decorator]: mypy rejects any decorator above @property, and this is
    # pydantic's documented form for a computed field.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def likely(self) -> float:
        return sum(s.likely for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def worst(self) -> float:
        return sum(s.worst for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unpriced(self) -> tuple[str, ...]:
        """Models litellm has no price for: left out of the sums."""
        return names(s.unpriced for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unbounded(self) -> tuple[str, ...]:
        """Models called with no max_tokens and no known output limit."""
        return names(s.unbounded for s in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def complete(self) -> bool:
        """Whether ``worst`` bounds the run: every model priced and every answer bounded."""
        return not self.unpriced and not self.unbounded

    def summary(self) -> str:
        """The totals, one line."""
        worst = ("" if self.complete else "at least ") + f"${self.worst:.6f}"
        likely = ("at least " if self.unpriced else "") + f"${self.likely:.6f}"
        return (
            f"worst {worst}, likely {likely}; {self.calls} calls, up to {self.requests} "
            "upstream requests with every retry and fallback"
        )

    def table(self) -> str:
        """Per step and in total, with the assumptions and what is missing from the sums."""
        lines = [
            f"{self.model}: cost estimate before the run (prompt {self.prompt_tokens} tokens; "
            f"likely case: nothing fails, each answer {self.expected_tokens} tokens)",
            f"{'step':<6}{'kind':<14}{'calls':>6}{'requests':>10}{'likely':>14}{'worst':>14}",
        ]
        for s in self.steps:
            lines.append(
                f"{s.step + 1:<6}{s.kind:<14}{s.calls:>6}{s.requests:>10}"
                f"{f'${s.likely:.6f}':>14}{f'${s.worst:.6f}':>14}"
            )
        lines.append(
            f"{'total':<20}{self.calls:>6}{self.requests:>10}"
            f"{f'${self.likely:.6f}':>14}{f'${self.worst:.6f}':>14}"
        )
        if self.unpriced:
            lines.append(f"no price in litellm's map, left out: {', '.join(self.unpriced)}")
        if self.unbounded:
            lines.append(
                f"no max_tokens and no known output limit, worst case unbounded: "
                f"{', '.join(self.unbounded)}"
            )
        lines.append(self.summary())
        return "\n".join(lines)
