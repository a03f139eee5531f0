"""The run's budget (``max_cost``) while it runs: what it has spent, plus what every call in
flight may still cost, never exceeds it. A call that could break it is not started; its trace
entry says why, and the step goes on as after any failed call (its quorum, the aggregator's
fallbacks, ``best_proposal``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .records import TraceEntry

# The most one call may cost: its model, what it is sent, its max_tokens (None: its model's
# output limit). None when it cannot be bounded.
Pricer = Callable[[str, list[dict[str, Any]], int | None], float | None]


@dataclass
class Budget:
    """``limit`` in USD; ``pricer`` bounds one call (the host's model facts by default; the
    provider's knows the proxy's aliases and what a nested mixture may cost)."""

    limit: float
    pricer: Pricer
    held: dict[int, float] = field(default_factory=dict)  # by id(entry): calls in flight

    def admit(self, entry: TraceEntry, kwargs: dict[str, Any], spent: float) -> str | None:
        """Holds the call's worst case until it ends; or says why it may not start."""
        caps = (kwargs.get(k) for k in ("max_tokens", "max_completion_tokens"))
        max_tokens = next((c for c in caps if c is not None), None)  # 0: reads only (embeddings)
        worst = self.pricer(kwargs["model"], kwargs["messages"], max_tokens)
        if worst is None:
            return f"not started: its cost cannot be bounded under max_cost=${self.limit:g}"
        held = sum(self.held.values())
        if spent + held + worst > self.limit:
            return (
                f"not started: max_cost=${self.limit:g} reached (${spent:.6f} spent, "
                f"${held:.6f} held by calls in flight, this call up to ${worst:.6f})"
            )
        self.held[id(entry)] = worst
        return None

    def release(self, entry: TraceEntry) -> None:
        self.held.pop(id(entry), None)
