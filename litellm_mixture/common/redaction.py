"""Secrets out of everything a client, a log or a dump can see.

:func:`redact` casts two nets over a text:

- by value: every secret this process knows is struck wherever it appears, whatever its shape.
  It knows the values of the environment variables named like secrets (``OPENAI_API_KEY``,
  ``LITELLM_MASTER_KEY``, ...) and whatever :func:`register` was given: the proxy registers its
  master key and its ``model_list`` credentials, with the environment variables they name;
- by shape: key-like text (``sk-…``, ``Bearer …``, ``api_key=…``), for keys this process never
  held, such as a client's own key echoed by a provider.

The known values are matched by one compiled alternation, rebuilt only when they change: member
errors, trace entries, intermediate responses, dumps and log records all go through it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .state import STATE

REDACTED = "[redacted]"
SECRET_NAME = re.compile(
    r"(key|secret|password|passwd|token|authorization|cookie|credentials?|headers)$", re.I
)
# Shorter values are struck by name only: scrubbing "1" or "true" everywhere would ruin the text.
MIN_SECRET = 8
# What litellm's own loggers and ours write: each gets the same filter.
LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm_mixture")

# A key keeps its vendor prefix (which key was wrong) and loses the rest.
_SHAPES = (
    (
        re.compile(r"\b(sk-(?:ant-|proj-)?|gsk_|xai-|hf_|pplx-|AIza|AKIA)[\w\-]{8,}"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(Bearer|Basic)\s+[\w\-.~+/=]{8,}", re.IGNORECASE), r"\1 " + REDACTED),
    (
        re.compile(
            r"\b((?:api[_-]?)?key|token|secret|password|authorization)(\"?\s*[=:]\s*[\"']?)"
            r"(?!\[redacted\])[^\s\"'&,;}]{4,}",
            re.IGNORECASE,
        ),
        r"\1\2" + REDACTED,
    ),
)


class _Known:
    """The one pattern that finds the secret values this process knows: the environment's and
    those registered (``STATE.secrets``)."""

    def __init__(self) -> None:
        self._known: tuple[tuple[tuple[str, str], ...], frozenset[str]] | None = None
        self._pattern: re.Pattern[str] | None = None

    def pattern(self) -> re.Pattern[str] | None:
        # The environment is read again on every use: a program may set a key after import
        # (dotenv). Comparing it costs microseconds, and only failures and dumps are redacted.
        known = (tuple(os.environ.items()), STATE.secrets)
        if known != self._known:
            values = {v for k, v in known[0] if SECRET_NAME.search(k)}
            self._pattern = compile_values(values | STATE.secrets)
            self._known = known
        return self._pattern


_known = _Known()


def compile_values(values: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of ``values`` (as written and JSON-escaped), longest first."""
    forms: set[str] = set()
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET:
            forms.update((value, json.dumps(value)[1:-1]))
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def register(values: Iterable[str]) -> None:
    """Secrets besides the environment's that :func:`redact` strikes (replaces the last set)."""
    STATE.secrets = frozenset(values)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every known secret, each of ``extra`` and anything key-like replaced."""
    for pattern in (_known.pattern(), compile_values(extra) if extra else None):
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    return text


def fields(value: Any, found: set[str]) -> Any:
    """``value`` as JSON data with secret-named fields replaced; their strings go in ``found``."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key)
            if SECRET_NAME.search(name.replace("-", "_")) and item not in (None, "", {}, []):
                found.update(_strings(item))
                out[name] = REDACTED
            else:
                out[name] = fields(item, found)
        return out
    if isinstance(value, (list, tuple)):
        return [fields(item, found) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)  # callables of Filter/Map, tracing spans: named, never serialised


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


# The attributes every record has; the others came with ``extra=`` (litellm's JSON logs show them).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class LogScrubber(logging.Filter):
    """Redacts a log record's message, traceback and extra text before any handler formats them.

    A member's error text reaches litellm's logs (the Router logs each failed call, the proxy
    each failed request with its traceback), so the same secrets are struck there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it as it always does
            return True
        clean: str | None = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(record.exc_text) if record.exc_text else None
        if clean != record.exc_text:
            # The exception objects hold the raw text, and some formatters render exc_info
            # themselves (litellm's JSON logs): only the scrubbed rendering goes on, as the text
            # formatters append (exc_text) and as an extra field the JSON ones show.
            record.exc_info, record.exc_text = None, clean
            record.stacktrace = clean
        for name, value in vars(record).items():
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


# The one filter ``_litellm.patches`` puts on each of LOGGERS.
SCRUBBER = LogScrubber()
