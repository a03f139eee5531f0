"""When to retry a member call, and how long to wait first.

The same rule as LiteLLM's Router: a provider's ``Retry-After`` (up to a minute) is obeyed,
otherwise the wait doubles from half a second, with jitter. Only failures that another attempt
can cure are retried: rate limits, timeouts, server errors and dropped connections.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any

import litellm

RETRYABLE = (
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
    litellm.APIConnectionError,
)
FIRST_WAIT = 0.5
MAX_WAIT = 8.0
MAX_RETRY_AFTER = 60.0


def _headers(error: BaseException) -> Any:
    headers = getattr(error, "litellm_response_headers", None)
    if headers is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
    return headers


def retry_after(error: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` or ``retry-after``), if any."""
    headers = _headers(error)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


def delay(
    error: BaseException, attempt: int, retries: int, remaining: float | None
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when the call should fail now."""
    if attempt > retries or not isinstance(error, RETRYABLE):
        return None
    asked = retry_after(error)
    if asked is not None and 0 < asked <= MAX_RETRY_AFTER:
        wait = asked
    else:
        wait = min(MAX_WAIT, FIRST_WAIT * 2 ** (attempt - 1))
    wait += random.uniform(0, wait / 4)
    if remaining is not None and wait >= remaining:
        return None  # the deadline would pass while waiting
    return wait
