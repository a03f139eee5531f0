"""A mixture's summed cost, where litellm, its proxy and their clients look for a cost.

The provider puts the cost on its responses (``usage.cost``, ``_hidden_params``) and on each
request's logging object (:func:`carry`). :func:`exact` is ``litellm.completion_cost`` that
returns it for a mixture's reply, in this process or from a litellm proxy, instead of pricing
the reply by its model name (installed by ``_litellm.patches``).
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Callable
from typing import Any

import litellm

from .. import _litellm

# Where a response of this process keeps the run's summary: _hidden_params[HIDDEN_KEY].
HIDDEN_KEY = "mixture"
# The field a reply, and a stream's last chunk, carry the summed cost in. The proxy sends it on,
# and litellm's client keeps it where it drops usage.cost (1.81) or gets no usage (a stream
# that did not ask for it).
FIELD = "mixture_cost"


def carry(logging_obj: Any, cost: float, summary: dict[str, Any]) -> None:
    """Make everything that prices this request through its logging object see the mixture's
    summed cost: its success callbacks (the proxy's spend tracking among them) and the proxy's
    cost header for replies that cannot carry ``_hidden_params``.

    A stream's logged response is rebuilt from its chunks, and older litellm (1.81) prices it
    by looking the ``mixture/...`` name up in its cost map, which fails. The proxy's
    ``/v1/messages`` bridge returns a plain dict, which the proxy prices by the name the client
    sent (a preset's estimate, or nothing) unless the logging object holds a cost. The override
    is set on this request's own logging object only.
    """
    if logging_obj is None:
        return

    def calculate(*args: Any, **kwargs: Any) -> float:
        return cost

    _litellm.set_cost_calculator(logging_obj, calculate)
    details = _litellm.call_details(logging_obj)
    if not isinstance(details, _Carried):
        details = _Carried(details or {})
        _litellm.set_call_details(logging_obj, details)
    details["response_cost"] = cost
    details[HIDDEN_KEY] = summary


class _Carried(dict[str, Any]):
    """A request's ``model_call_details`` whose carried cost stays. For a stream, litellm 1.81
    runs its sync and async success handlers at once on this one dict, and each first resets
    ``response_cost`` to None: a callback could read None while the other was starting. A
    failure handler resets it to 0: the members a failed run called were billed all the same."""

    def __setitem__(self, key: str, value: Any) -> None:
        carried = self.get(key)
        if (
            key == "response_cost"
            and carried is not None
            and (value is None or (value == 0 and carried > 0))
        ):
            return
        super().__setitem__(key, value)


class HungUp(Exception):
    """What the failure logs of a run the client abandoned say (litellm logs no failure when
    the request is cancelled or its stream closed)."""


# Failure logs scheduled for abandoned runs: held until they are written.
_logging: set[asyncio.Task[Any]] = set()


def bill_failure(
    logging_obj: Any, usage: Any, summary: dict[str, Any], error: BaseException
) -> None:
    """Bills a run that failed, timed out or was abandoned for what its member calls cost:
    carried (:func:`carry`) with the partial usage where litellm's failure logging reads a
    stream's recovered spend (``combined_usage_object``), so failure callbacks, the proxy's
    spend tracking among them, see it. A failure that is an exception litellm logs itself; a
    hang-up (cancellation, a closed stream) is logged here."""
    if logging_obj is None:
        return
    carry(logging_obj, usage.cost, summary)
    _litellm.set_recovered_usage(logging_obj, litellm.Usage(**usage.as_dict()))
    if isinstance(error, Exception):
        return
    reason = HungUp(f"the client went away ({type(error).__name__}): the run was cancelled")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_litellm.log_failure(logging_obj, reason, traceback.format_exc()))
    _logging.add(task)
    task.add_done_callback(_logging.discard)


def of(response: Any) -> float | None:
    """The summed cost a mixture's reply carries; None for any other reply.

    A response of this process has it in ``_hidden_params``; a stream of this process, read to
    its end, on its logging object (set at the last chunk). A reply from a litellm proxy
    (``litellm_proxy/...``) has it in ``mixture_cost``: a response's own, a stream's on its
    last chunk.
    """
    hidden = _litellm.hidden(response)
    if hidden.get("cache_hit") and getattr(response, FIELD, None) is not None:
        return 0.0  # a mixture's reply from litellm's response cache: nothing was spent
    if HIDDEN_KEY in hidden and hidden.get("response_cost") is not None:
        return float(hidden["response_cost"])
    details = _litellm.call_details(_litellm.stream_logging(response))
    if isinstance(details, dict) and isinstance(details.get(HIDDEN_KEY), dict):
        return float(details[HIDDEN_KEY]["cost"])
    for item in (response, *reversed(_litellm.stream_chunks(response) or ())):
        value = getattr(item, FIELD, None)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def unspent(response: Any) -> None:
    """A mixture's reply served from litellm's response cache says it cost nothing: the
    cached copy still carries what the run that made it spent."""
    if not _litellm.hidden(response).get("cache_hit"):
        return
    if getattr(response, FIELD, None) is not None:
        setattr(response, FIELD, 0.0)
    used = getattr(response, "usage", None)
    if used is not None and getattr(used, "cost", None) is not None:
        used.cost = 0.0


def exact(original: Callable[..., float]) -> Callable[..., float]:
    """``litellm.completion_cost`` that returns a mixture reply's summed cost (:func:`of`).

    litellm before 1.109 prices a reply by looking its model name up, which for ``mixture/...``
    or a proxy's name for a mixture fails or (with estimated prices, as in aider's model
    metadata) only estimates. Tools such as aider call it on every reply. Other replies go to
    litellm's own function (``original``) unchanged.
    """

    @functools.wraps(original)
    def completion_cost(completion_response: Any = None, *args: Any, **kwargs: Any) -> float:
        cost = of(completion_response)
        if cost is not None:
            return cost
        return original(completion_response, *args, **kwargs)

    return completion_cost
