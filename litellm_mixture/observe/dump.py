"""Debug dumps: one JSON file per mixture request, with every secret taken out.

The operator turns them on with ``LITELLM_MIXTURE_DUMP_DIR`` (an environment variable, never a
spec setting: a client must not choose where the proxy writes). A file holds the spec, the
caller's request, each member call's request and reply, the trace, and the outcome or error.

Secrets are removed twice: by name (any field called like a key, token, secret, password,
credential, cookie, authorization or headers), then by value: every value removed by name and
every secret the process knows (see :mod:`redaction`) are struck from the whole text, so a key
that reached a message, a URL or an error message is gone too.

A dump is written on a thread of its own (:func:`submit`), never on the event loop. The
conversation is stored once, under ``request``: a member call's ``messages`` name the turns it
shares with it as ``{"conversation_turn": i}``. A text longer than :data:`MAX_TEXT` characters
is cut, with how much was left out.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..common import redaction
from ..engine import Outcome, RunRecord
from . import report

ENV = "LITELLM_MIXTURE_DUMP_DIR"

logger = logging.getLogger("litellm_mixture")
MAX_TEXT = 64 * 1024
# One writer: dumps queue up behind each other instead of taking the loop's time.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litellm-mixture-dump")


def directory() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def document(
    run: RunRecord,
    model: str,
    outcome: Outcome | None,
    error: BaseException | None,
    found: set[str],
) -> dict[str, Any]:
    """What a dump file holds, with secret-named fields already redacted."""
    turns = {id(m): i for i, m in enumerate(run.messages)}
    calls = [
        {**e.as_dict(), "request": _shared(e.request, turns), "reply": e.reply} for e in run.trace
    ]
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
    return _capped(redaction.fields(raw, found))


def _shared(request: dict[str, Any] | None, turns: dict[int, int]) -> dict[str, Any] | None:
    """A call's request, the conversation's turns in its messages named, not copied."""
    if not request or not isinstance(request.get("messages"), list):
        return request
    sent = [
        {"conversation_turn": turns[id(m)]} if id(m) in turns else m for m in request["messages"]
    ]
    return {**request, "messages": sent}


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{value[:MAX_TEXT]}... [{len(value) - MAX_TEXT} more characters]"
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v) for v in value]
    return value


def submit(
    folder: Path,
    run: RunRecord,
    model: str,
    outcome: Outcome | None = None,
    error: BaseException | None = None,
) -> None:
    """:func:`write`, on the dump thread: the caller's event loop does not wait for it."""
    _writer.submit(write, folder, run, model, outcome, error)


def flush() -> None:
    """Waits until every dump submitted so far is written (or skipped)."""
    _writer.submit(lambda: None).result()


def write(
    folder: Path,
    run: RunRecord,
    model: str,
    outcome: Outcome | None = None,
    error: BaseException | None = None,
) -> Path | None:
    """Writes the run's dump file (readable by its owner only); returns its path. A dump that
    cannot be written is logged and skipped: it must never fail the request."""
    found: set[str] = set()
    try:
        text = json.dumps(document(run, model, outcome, error, found), indent=2, default=repr)
        path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{run.id}.json"
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(redaction.redact(text, found))
    except Exception as e:  # a debug aid never fails the request it describes
        logger.warning("mixture %s: debug dump not written (%s)", run.id, type(e).__name__)
        return None
    return path
