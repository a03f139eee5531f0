"""Run coroutines from synchronous code on one persistent background event loop.

litellm calls a provider's sync entry points in the caller's thread, which may already be
running an event loop (Jupyter, an async web app calling sync code); ``asyncio.run`` fails
there. A loop of our own on a daemon thread works from anywhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="litellm-mixture-loop", daemon=True
            ).start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
    try:
        return future.result()
    except BaseException:
        # KeyboardInterrupt or the like in the caller: stop the member calls too.
        future.cancel()
        raise


def iterate(agen: AsyncIterator[T]) -> Iterator[T]:
    loop = _background_loop()
    steps: list[asyncio.Task[Any]] = []

    async def step() -> T:
        steps[:] = [asyncio.current_task()]
        return await agen.__anext__()

    async def close() -> None:
        # A step the caller cut short (Ctrl-C) may still be unwinding on the loop, and aclose()
        # on a running generator raises instead of closing it: cancel the step, wait, then close.
        for task in steps:
            if not task.done():
                task.cancel()
                await asyncio.wait([task])
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()

    try:
        while True:
            future = asyncio.run_coroutine_threadsafe(step(), loop)
            try:
                yield future.result()
            except StopAsyncIteration:
                return
            except BaseException:
                future.cancel()
                raise
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result()
