"""Debug dumps: one JSON file per mixture request, with every secret taken out.

The operator turns them on with ``LITELLM_MIXTURE_DUMP_DIR`` (an environment variable, never a
spec setting: a client must not choose where the proxy writes). A file holds the spec, the
caller's request, each member call's request and reply, the trace, and the outcome or error.

Secrets are removed twice: by name (any field called like a key, token, secret, password,
credential, cookie, authorization or headers), then by value: every value removed by name and
every secret the process knows (see :mod:`redaction`) are struck from the whole text, so a key
that reached a message, a URL or an error message is gone too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from . import redaction, report
from .engine import Outcome, RunRecord

ENV = "LITELLM_MIXTURE_DUMP_DIR"

logger = logging.getLogger("litellm_mixture")


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
    return redaction.fields(raw, found)


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
