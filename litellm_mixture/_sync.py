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
    try:
        while True:
            future = asyncio.run_coroutine_threadsafe(agen.__anext__(), loop)
            try:
                yield future.result()
            except StopAsyncIteration:
                return
            except BaseException:
                future.cancel()
                raise
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            asyncio.run_coroutine_threadsafe(aclose(), loop).result()
