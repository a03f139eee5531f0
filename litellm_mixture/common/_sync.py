"""Between threads and event loops: run coroutines from synchronous code on one persistent
background event loop, and CPU-bound work off the caller's loop.

litellm calls a provider's sync entry points in the caller's thread, which may already be
running an event loop (Jupyter, an async web app calling sync code); ``asyncio.run`` fails
there. A loop of our own on a daemon thread works from anywhere.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .state import STATE

T = TypeVar("T")

_lock = threading.Lock()
# Decoding and checking a spec nobody trusts is pure-Python CPU work (YAML, validation): done
# here, the event loop keeps serving (the thread hands the GIL back every few milliseconds).
# One worker: a flood of specs queues up behind it instead of taking the loop's share of CPU.
_untrusted = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litellm-mixture-spec")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the one spec thread, awaited from the running loop."""
    return await asyncio.get_running_loop().run_in_executor(
        _untrusted, functools.partial(fn, *args)
    )


def _background_loop() -> asyncio.AbstractEventLoop:
    with _lock:
        if STATE.loop is None or STATE.loop.is_closed():
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_report)
            thread = threading.Thread(
                target=loop.run_forever, name="litellm-mixture-loop", daemon=True
            )
            thread.start()
            atexit.register(_stop, loop, thread)
            STATE.loop = loop
        return STATE.loop


def _report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's error reports, less one that is noise: litellm's logging worker (one per
    process) serves the loop it was last used on. Once litellm runs on another loop (the
    caller's asyncio.run), it moves there with its queue and leaves its idle worker task
    here, which Python reports as "Task was destroyed but it is pending!" when collected."""
    from .. import _litellm  # a task of litellm's: litellm is loaded by now

    pending = context.get("message") == "Task was destroyed but it is pending!"
    if pending and _litellm.is_logging_worker(context.get("task")):
        return
    loop.default_exception_handler(context)


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """At exit: cancel what still runs on the loop (litellm's logging worker then runs the
    callbacks it still holds), wait a little, and close the loop."""

    async def cancel_all() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if loop.is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=5)
    except Exception:
        pass  # exiting anyway: what is left is dropped, as it would be without this
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=1)
    if not loop.is_running():
        loop.close()


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
        task = asyncio.current_task()
        assert task is not None  # a coroutine the loop runs is always inside a task
        steps[:] = [task]
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
