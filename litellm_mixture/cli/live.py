"""The terminal view of a run: each member call pending → done/failed, the answer as it
streams, then a summary line."""

from __future__ import annotations

import asyncio
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click
import openai

from .. import _litellm
from ..engine import Outcome, Run, TraceEntry
from ..errors import MixtureError
from ..observe import dump
from ..spec import Pipeline


def quiet_litellm() -> None:
    """litellm for a terminal command: without its debug banners ("Provider List: ...", "Give
    Feedback / Get Help"), printed on stdout even into a pipe, or pydantic's serializer
    warnings (litellm 1.81), and with the mixture provider registered even if the import hook
    is off. Only the command and the demo call this; the library leaves litellm's settings be."""
    import litellm_mixture

    _litellm.quiet_banners()
    warnings.filterwarnings("ignore", "Pydantic serializer warnings", UserWarning)
    litellm_mixture.register()


def expected(error: BaseException) -> bool:
    """An error a user can cause: litellm's typed errors (each of ours is one) and ours."""
    return isinstance(error, (openai.OpenAIError, MixtureError))


def error_line(error: BaseException) -> str:
    """An error's message on one line, without litellm's ``litellm.BadRequestError:`` prefix."""
    text = " ".join((getattr(error, "message", None) or str(error)).split())
    return re.sub(r"^litellm\.\w+: ", "", text)


def row(entry: TraceEntry, done: bool, width: int = 0) -> str:
    """One call: mark, step (from 1), kind, its label padded to ``width``, then its figures."""
    if not done:
        mark, numbers = "…", "running"
    else:
        mark = "✓" if entry.ok else ("✂" if entry.cut else "✗")
        numbers = f"{entry.latency_ms:7.0f} ms  {entry.prompt_tokens}+{entry.completion_tokens} tok"
        if entry.cost is not None:
            numbers += f"  ${entry.cost:.6f}"
        if entry.error:  # one line per call: the full messages follow in the error line
            numbers += f"  {' '.join(entry.error.split())[:160]}"
        if entry.note:
            numbers += f"  ({entry.note})"
    return f"{mark} {entry.step + 1}. {entry.kind:<12} {entry.label:<{width}}  {numbers}"


def label_width(pipeline: Pipeline) -> int:
    """The widest call label a run of ``pipeline`` shows, so its rows line up as they come."""
    members = pipeline.callees
    return max(
        (len(m.model) + (len(f" #{m.samples}") if m.samples > 1 else 0) for m in members), default=0
    )


@dataclass
class LiveView:
    """An observer for :class:`Run`. On a terminal, the table of calls is redrawn in place until
    the answer starts; elsewhere (pipes, CI logs) each start and end is one line."""

    out: TextIO
    tty: bool = False
    rows: list[tuple[TraceEntry, bool]] = field(default_factory=list)
    drawn: int = 0
    frozen: bool = False
    late: list[TraceEntry] = field(default_factory=list)
    width: int = 0  # of the label column: label_width(pipeline), else it grows as calls come

    def __call__(self, event: str, entry: TraceEntry) -> None:
        done = event == "end"
        self.width = max(self.width, len(entry.label))
        known = [i for i, (e, _) in enumerate(self.rows) if e is entry]
        if known:
            self.rows[known[0]] = (entry, done)
        else:
            self.rows.append((entry, done))
        if self.tty and not self.frozen:
            self.out.write(f"\x1b[{self.drawn}F" if self.drawn else "")
            for e, d in self.rows:
                self.out.write(f"\x1b[2K{row(e, d, self.width)}\n")
            self.drawn = len(self.rows)
        elif not self.tty:
            self.out.write(row(entry, done, self.width) + "\n")
        elif done:  # the answer is being written on this screen: after it, in finish()
            self.late.append(entry)
        self.out.flush()

    def freeze(self) -> None:
        """The answer is being written below: stop redrawing above it."""
        self.frozen = True

    def finish(self) -> None:
        """The answer is written: the calls that ended while it streamed."""
        for entry in self.late:
            self.out.write(row(entry, True, self.width) + "\n")
        self.late.clear()
        self.out.flush()


def summary_line(figures: dict[str, Any]) -> str:
    usage = figures["usage"]
    cost = f"${figures['cost']:.6f}" + ("" if figures["cost_complete"] else " (some unpriced)")
    per_step = ", ".join(
        f"{s['step'] + 1} {s['kind']} " + ("unpriced" if s["cost"] is None else f"${s['cost']:.6f}")
        for s in figures["steps"]
    )
    return (
        f"{figures['calls']} calls ({figures['failed_calls']} failed) · "
        f"{usage['total_tokens']} tokens ({usage['prompt_tokens']} in, "
        f"{usage['completion_tokens']} out) · {cost} ({per_step}) · "
        f"wall {figures['wall_ms'] / 1000:.2f} s, "
        f"critical path {figures['critical_path_ms'] / 1000:.2f} s"
        + (f" · {figures['saved_calls']} calls saved" if figures.get("saved_calls") else "")
        + (f" · DEGRADED: {figures['degraded']}" if figures.get("degraded") else "")
    )


def execute(
    execution: Run, view: LiveView | None, name: str, folder: Path | None
) -> tuple[str, str]:
    """Runs to the end, the answer streamed to stdout below the view (with no view, it is only
    returned); dumps the run into ``folder`` (LITELLM_MIXTURE_DUMP_DIR)."""
    try:
        content, finish = asyncio.run(_stream(execution, view))
    except Exception as e:
        if folder is not None and expected(e):
            dump.write(folder, execution.record(), name, error=e)
        raise
    if folder is not None:
        dump.write(folder, execution.record(), name, Outcome(content, None, finish))
    return content, finish


async def _stream(execution: Run, view: LiveView | None) -> tuple[str, str]:
    parts, finish = [], "stop"
    async for event in execution.stream():
        if event.finish_reason is not None:
            finish = event.finish_reason
        if event.reasoning and view is not None:  # the live panel: beside the calls, on stderr
            view.freeze()
            click.echo(event.reasoning, nl=False, err=True)
        if event.text:
            parts.append(event.text)
            if view is not None:
                view.freeze()
                click.echo(event.text, nl=False)
    return "".join(parts), finish
