"""How mixtures meet LiteLLM's response cache (``litellm.cache``; a fleet of proxies shares it
in Redis).

LiteLLM keys a cached reply by the request: the model (its model group behind a Router), the
messages and the OpenAI params. Two things would go wrong with that key alone:

- a mixture collapses: the samples of ``a*3`` (and two members naming one model) send identical
  requests, so one cached answer would come back three times, and ``until_agree`` would agree
  on copies of it. :func:`member_cache` gives each member call a namespace of its own, by its
  place in the step (member, sample), on top of the operator's namespace: what was asked to be
  sampled stays sampled; temperature and seed are in litellm's key already.
- the mixture's own request params are not in litellm's key: an ``estimate_only`` reply (or
  one without ``intermediate_responses``, or one made under another ``max_cost``) would be
  served for a request that asked otherwise. :func:`keyed` (installed by ``_litellm.patches``) adds
  them to the key of a ``mixture/...`` request.

A repeated identical mixture request is still served whole from the cache, with no member call.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import litellm

from .. import _litellm
from ..spec import PREFIX

if TYPE_CHECKING:  # the engine imports this module: no import of it at run time
    from .records import TraceEntry


def member_cache(entry: TraceEntry, current: Any) -> dict[str, Any] | None:
    """The ``cache`` control of one member call (None: litellm's as it is), when a cache is on:
    a namespace per (member, sample) of its step, beside the operator's."""
    cache = litellm.cache
    if cache is None or not (entry.member or entry.sample):
        return None
    place = f"mixture-m{entry.member}-s{entry.sample}"
    control = dict(current) if isinstance(current, dict) else {}
    base = control.get("namespace") or getattr(cache, "namespace", None)
    control["namespace"] = f"{base}:{place}" if base else place
    return control


def keyed(original: Callable[..., str]) -> Callable[..., str]:
    """``Cache.get_cache_key`` that adds a ``mixture/...`` request's own params to its key."""

    from . import ESTIMATE_ONLY, INTERMEDIATE, MAX_COST, PANEL

    # The request params of a mixture that change its reply but that litellm does not key.
    own_params = (ESTIMATE_ONLY, INTERMEDIATE, MAX_COST, PANEL)

    @functools.wraps(original)
    def get_cache_key(self: Any, *args: Any, **kwargs: Any) -> str:
        key = original(self, *args, **kwargs)
        model = kwargs.get("model")
        own = {k: kwargs[k] for k in own_params if kwargs.get(k) is not None}
        if not own or not isinstance(model, str) or not model.startswith(PREFIX):
            return key
        text = json.dumps(own, sort_keys=True, default=str)
        suffix = ":mixture-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        if key.endswith(suffix):  # litellm's preset key, already ours
            return key
        key += suffix
        _litellm.keep_cache_key(kwargs, key)
        return key

    return get_cache_key
