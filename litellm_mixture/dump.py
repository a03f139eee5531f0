"""Debug dumps: one JSON file per mixture request, with every secret taken out.

The operator turns them on with ``LITELLM_MIXTURE_DUMP_DIR`` (an environment variable, never a
spec setting: a client must not choose where the proxy writes). A file holds the spec, the
caller's request, each member call's request and reply, the trace, and the outcome or error.

Secrets are removed twice: by name (any field called like a key, token, secret, password,
credential, cookie, authorization or headers), then by value: every value removed by name, the
secret-named environment variables and the proxy's own keys are struck from the whole text, so
a key that reached a message, a URL or an error message is gone too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import report
from .engine import Outcome, Run

ENV = "LITELLM_MIXTURE_DUMP_DIR"
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(key|secret|password|passwd|token|authorization|cookie|credentials?|headers)$", re.I
)
# Shorter values are struck by name only: scrubbing "1" or "abc" everywhere would ruin the dump.
_MIN_SECRET = 8

logger = logging.getLogger("litellm_mixture")


def directory() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def redact(value: Any, found: set[str]) -> Any:
    """``value`` as JSON data with secret-named fields replaced; their strings go in ``found``."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key)
            if _SECRET_NAME.search(name.replace("-", "_")) and item not in (None, "", {}, []):
                found.update(_strings(item))
                out[name] = REDACTED
            else:
                out[name] = redact(item, found)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, found) for item in value]
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


def environment_secrets() -> set[str]:
    return {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v}


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED).replace(json.dumps(secret)[1:-1], REDACTED)
    return text


def document(
    run: Run,
    model: str,
    outcome: Outcome | None,
    error: BaseException | None,
    found: set[str],
) -> dict[str, Any]:
    """What a dump file holds, with secret-named fields already redacted."""
    calls = [{**e.as_dict(), "request": e.request, "reply": e.reply} for e in run.trace]
    raw = {
        "mixture_id": run.id,
        "parent_request_id": run.metadata.get("mixture_parent_request_id"),
        "model": model,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "pipeline": run.pipeline.model_dump(exclude_defaults=True),
        "request": {"messages": run.messages, "params": run.params},
        "calls": calls,
        "history": report.history(run),
        "outcome": None if outcome is None else vars(outcome),
        "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
        "usage": run.usage.as_dict(),
        "cost": run.usage.cost,
        "cost_complete": run.usage.cost_known,
    }
    return redact(raw, found)


def write(
    folder: Path,
    run: Run,
    model: str,
    outcome: Outcome | None = None,
    error: BaseException | None = None,
    secrets: Iterable[str] = (),
) -> Path | None:
    """Writes the run's dump file (readable by its owner only); returns its path. A dump that
    cannot be written is logged and skipped: it must never fail the request."""
    found = set(secrets) | environment_secrets()
    try:
        text = json.dumps(document(run, model, outcome, error, found), indent=2, default=repr)
        path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{run.id}.json"
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(scrub(text, found))
    except Exception as e:  # a debug aid never fails the request it describes
        logger.warning("mixture %s: debug dump not written (%s)", run.id, type(e).__name__)
        return None
    return path
