"""The live panel (``panel: reasoning``): every member's answer, as it streams, sent to the caller
as reasoning while the steps before the final answer run.

Members stream at once, token by token; interleaved, they would be unreadable. The panel follows
one speaker live (the first to say anything) and keeps what the others say until it is done,
then gives the next one's words so far and follows it, and so on: the first token is shown as
soon as it arrives, and each member's answer reads as one labelled block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Generic, Protocol, TypeVar

from .records import StreamEvent, TraceEntry

T = TypeVar("T")


class Hearer(Protocol):
    """Who hears members' answers as they stream: the live panel, early aggregation."""

    def say(self, entry: TraceEntry, text: str) -> None: ...

    def done(self, entry: TraceEntry) -> None: ...


class Panel:
    """Where members' streamed text waits for the caller, in the order the panel gives it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._speaker: TraceEntry | None = None
        self._waiting: dict[int, tuple[TraceEntry, list[str]]] = {}  # by id(entry), in order
        self._done: set[int] = set()
        self.spoke = False

    def say(self, entry: TraceEntry, text: str) -> None:
        if self._speaker is None:
            self._give(entry, [text])
        elif entry is self._speaker:
            self._queue.put_nowait(text)
        else:
            self._waiting.setdefault(id(entry), (entry, []))[1].append(text)

    def done(self, entry: TraceEntry) -> None:
        """``entry``'s call ended (answered, failed or cut): the next speaker's turn."""
        self._done.add(id(entry))
        if entry is not self._speaker:
            return
        self._speaker = None
        while self._waiting:
            key = next(iter(self._waiting))
            waiting, said = self._waiting.pop(key)
            self._give(waiting, said)
            if key not in self._done:
                return
            self._speaker = None

    def _give(self, entry: TraceEntry, said: list[str]) -> None:
        label = f"[step {entry.step + 1} {entry.kind} · {entry.label}]\n"
        self._queue.put_nowait(("\n\n" if self.spoke else "") + label + "".join(said))
        self._speaker, self.spoke = entry, True

    async def during(self, work: Awaitable[T], result: Result[T]) -> AsyncIterator[StreamEvent]:
        """Runs ``work``, yielding what members say as it comes; its value goes in ``result``
        (its error is raised once everything said before it has been yielded)."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                heard = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({task, heard}, return_when=asyncio.FIRST_COMPLETED)
                if not heard.done():
                    heard.cancel()
                    break
                yield StreamEvent(reasoning=heard.result())
            while not self._queue.empty():
                yield StreamEvent(reasoning=self._queue.get_nowait())
            result.value = task.result()
        finally:
            if not task.done():  # the caller went away, or cancelled us
                task.cancel()
                await asyncio.wait({task})


class Result(Generic[T]):
    value: T
