"""The package's mutable module state, in one place: what a process remembers between calls.

Every module that keeps something across calls keeps it on :data:`STATE` and nowhere else, so
what a process has accumulated can be read at a glance and put back as at start with
:func:`reset` (the tests do, before each test). A leaf: spec/ imports it without litellm.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .memo import ByteBoundCache

if TYPE_CHECKING:  # types only: importing these would make state.py no leaf
    from ..provider.host import Models
    from ..spec.schema import Pipeline
    from ..trust.policy import Policy

# Accepted pipelines of inline and one-line specs (spec.remember). A decoded pipeline takes ~100-200
# bytes per byte of its spec: bounded by bytes, so neither many specs nor a few large ones grow it.
ACCEPTED_BYTES = 8 * 1024 * 1024


@dataclass
class State:
    # policy.py: the application's opt-in, (what set it, the policy); None: not read yet.
    policy_enforced: tuple[str, Policy | None] | None = None
    # policy.py: the operator's litellm.mixture_policy and the Policy it validated to.
    policy_cache: tuple[Any, Policy] | None = None
    # proxy.py: the Router's models, keyed by what tells a reloaded model list.
    proxy_models: tuple[int, int, int, Models] | None = None
    # spec/__init__.py: the pipelines of specs a caller accepted, by their text.
    accepted: ByteBoundCache[Pipeline] = field(
        default_factory=lambda: ByteBoundCache(ACCEPTED_BYTES)
    )
    # redaction.py: secrets besides the environment's that redact() strikes.
    secrets: frozenset[str] = frozenset()
    # metrics.py: the client specs labelled by hash so far (at most metrics.MAX_HASHED).
    hashed: dict[str, None] = field(default_factory=dict)
    # remote.py: fetched spec URLs, (expiry on the monotonic clock, body), oldest first.
    fetched: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    # _sync.py: the background event loop sync callers run on. reset() keeps it: it lives for
    # the process (a new one per reset would leave a thread behind each time).
    loop: asyncio.AbstractEventLoop | None = None


STATE = State()
KEPT = frozenset({"loop"})


def reset() -> None:
    """Everything on :data:`STATE` as at import but the loop: no policy read, nothing cached
    or registered."""
    fresh = State()
    for name in State.__dataclass_fields__.keys() - KEPT:
        setattr(STATE, name, getattr(fresh, name))
