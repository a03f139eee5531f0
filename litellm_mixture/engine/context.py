"""What every part of a run shares: the request, the member seam, the clock, the randomness and
the recorder. Immutable; only the recorder and the clock's start time change as the run goes."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

# The in-process seams (litellm's public calls, its model map through prices): the defaults a
# host replaces. Nothing else in the engine imports litellm or reads its model map.
import litellm

from ..errors import MemberFailure, deadline_error
from ..pricing import prices
from ..spec import Member, Pipeline, Step
from ..spec.steps import MemberStep, Single
from .budget import Pricer
from .panel import Panel
from .params import Lookup
from .records import CallState, Recorder, TraceEntry

Caller = Callable[..., Awaitable[Any]]
T = TypeVar("T")
# The request param that fails a run rather than let a step go on with fewer answers.
DEGRADED = "degraded"


async def litellm_caller(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return await litellm.acompletion(model=model, messages=messages, **kwargs)


async def litellm_embedder(model: str, input: list[str], **kwargs: Any) -> Any:
    return await litellm.aembedding(model=model, input=input, **kwargs)


@dataclass(frozen=True)
class Facts:
    """What the engine asks about a model, answered by its host: :data:`LITELLM_FACTS` (litellm's
    model map) in process, the proxy's aliases as the models they call inside it."""

    # A call's cost from its usage (model, prompt tokens, completion tokens); None: unpriced.
    cost: Callable[[str, int, int], float | None] = prices.cost
    # Why a prompt (model, messages, tools) cannot fit the model's context window, or None.
    past_window: Callable[[str, list[dict[str, Any]], Any], str | None] = prices.past_window
    # Whether the model continues a trailing assistant message (early aggregation's segments).
    prefills: Callable[[str], bool] = prices.prefills
    # The most one call may cost (a budget's default pricer).
    worst: Pricer = prices.worst_cost


LITELLM_FACTS = Facts()


if sys.version_info >= (3, 11):

    async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
        # One timer on the running task; before 3.12, wait_for made a task for every await.
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(awaitable, seconds)


@dataclass
class Clock:
    """The run's one time limit: the spec's ``deadline`` or the caller's ``timeout``, the sooner.

    litellm passes a timeout (600 s) on every call, so nearly every run has one. Every await of
    a run goes through :meth:`within`; past the limit, every member call still running is cut and
    the caller gets a Timeout naming them.
    """

    spec_deadline: float | None
    timeout: float | None
    trace: list[TraceEntry]
    models: str  # the pipeline's members, for the error's message
    expired: bool = False  # the limit passed: nothing may fall back or carry on after it
    _ends_at: float | None = field(default=None, init=False, repr=False)
    _started: float = field(default=0.0, init=False, repr=False)

    @property
    def seconds(self) -> float | None:
        limits = [x for x in (self.spec_deadline, self.timeout) if x is not None]
        return min(limits) if limits else None

    @property
    def bound(self) -> str:
        """What the limit is to the user: the spec's deadline or the caller's timeout."""
        return "deadline" if self.seconds == self.spec_deadline else "timeout"

    def start(self) -> None:
        seconds, self._started = self.seconds, time.monotonic()
        self._ends_at = None if seconds is None else self._started + seconds

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self._started) * 1000

    def remaining(self) -> float | None:
        return None if self._ends_at is None else max(0.0, self._ends_at - time.monotonic())

    async def within(self, awaitable: Awaitable[T], streaming: TraceEntry | None = None) -> T:
        """``awaitable``, bounded by the time left; ``streaming`` is a call being read outside
        the member seam, cut with the others."""
        remaining = self.remaining()
        if remaining is None:
            return await awaitable
        try:
            return await _bounded(awaitable, remaining)
        except asyncio.TimeoutError:
            self.expired = True
            if streaming is not None:
                streaming.cancel()
            cut = [e for e in self.trace if e.state is CallState.CANCELLED]
            seconds, bound = self.seconds or 0, self.bound
            for entry in cut:
                entry.stop(f"cut by the {seconds:g}s {bound}")
            running = [MemberFailure(e.step, e.model, TimeoutError(e.error), True) for e in cut]
            raise deadline_error(seconds, running, self.models, bound) from None


# A member's own params that say what the caller's api_base / api_key would.
_OWN = {"api_base": ("api_base", "base_url"), "api_key": ("api_key",)}


@dataclass(frozen=True)
class Endpoint:
    """The caller's ``api_base`` / ``api_key`` (those given). Each goes to every member that
    has none of its own in its params and is not one of ``elsewhere`` (the proxy's aliases,
    whose deployments say where they live and with which key); given with an ``api_base``, the
    key goes only where that base goes. Only trusted callers get here (a proxy client can send
    neither), so a key given alone may follow a base the spec names (``?api_base=``)."""

    settings: dict[str, str]
    elsewhere: frozenset[str] = frozenset()

    def for_member(self, member: Member) -> dict[str, str]:
        if member.model in self.elsewhere:
            return {}
        out = {
            k: v for k, v in self.settings.items() if not any(o in member.params for o in _OWN[k])
        }
        if "api_base" in self.settings and "api_base" not in out:
            out.pop("api_key", None)  # the key is for the caller's base, not the member's
        return out


NO_ENDPOINT = Endpoint({})


@dataclass(frozen=True)
class Context:
    """One run's inputs and shared state. ``max_tokens`` caps every call's (the policy's, for
    clients); ``takes`` says what a member's model takes (litellm's lists, or the proxy's);
    ``max_cost`` is the run's budget in USD (the request's, the spec's or the policy's, the
    lowest), None for none."""

    pipeline: Pipeline
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    caller: Caller
    clock: Clock
    recorder: Recorder
    metadata: dict[str, Any]
    takes: Lookup
    timeout: float | None
    max_tokens: int | None
    max_cost: float | None
    id: str
    # Seeded from the spec, a run's shuffles and drops repeat exactly; unseeded, they vary.
    rng: random.Random
    panel: Panel | None = None  # the live panel, when the caller asked for it
    embedder: Caller = litellm_embedder  # the seam of embedding calls (agree_by: embedding)
    facts: Facts = LITELLM_FACTS  # what a model costs, reads, takes (the host's answers)
    endpoint: Endpoint = NO_ENDPOINT  # the caller's api_base / api_key

    @property
    def last(self) -> Step:
        return self.pipeline.steps[-1]

    @property
    def last_index(self) -> int:
        return len(self.pipeline.steps) - 1

    @property
    def whole_only(self) -> bool:
        """Whether every call of every step must answer (``degraded: error``, the request's
        setting over the spec's)."""
        return (self.params.get(DEGRADED) or self.pipeline.degraded) == "error"

    def tried(self, step: Single) -> tuple[Member, ...]:
        """Who may make a one-member step's call, in order: its member, then its fallbacks
        (none when the run must stay whole)."""
        return (step.member,) if self.whole_only else (step.member, *step.fallbacks)

    def setting(self, step: MemberStep, name: str) -> Any:
        """A step's failure setting (retries, timeout, grace), or the pipeline's."""
        return self.pipeline.setting(step, name)
