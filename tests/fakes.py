"""Fakes the unit tests share: a member's reply, its stream, and a fake caller (the engine's
member seam) that answers each model by a script. No sockets."""

import asyncio
import dataclasses
from types import SimpleNamespace

import litellm

from litellm_mixture.provider.host import IN_PROCESS, Host

ASK = [{"role": "user", "content": "q"}]


def reply(text: str | None) -> litellm.ModelResponse:
    return litellm.ModelResponse(
        choices=[{"message": {"role": "assistant", "content": text}}],
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )


class Stream:
    """A member's stream: text chunks, then a chunk with the finish reason and the usage; or a
    failure after the chunks."""

    def __init__(self, parts: list[str], fail: Exception | None = None) -> None:
        self.parts, self.fail = parts, fail
        self.received_finish_reason = None if fail else "stop"

    async def __aiter__(self):
        for part in self.parts:
            await asyncio.sleep(0)
            yield SimpleNamespace(choices=[delta(part, None)], usage=None)
        if self.fail is not None:
            raise self.fail
        usage = {"prompt_tokens": 3, "completion_tokens": len(self.parts)}
        yield SimpleNamespace(choices=[delta(None, "stop")], usage=usage)


def delta(text: str | None, finish: str | None = None, tool_calls=None) -> SimpleNamespace:
    """A stream chunk's choice: its text, finish reason and tool calls."""
    return SimpleNamespace(
        delta=SimpleNamespace(content=text, tool_calls=tool_calls), finish_reason=finish
    )


class Caller:
    """Answers each model by its script: a text, an exception, an Event to wait for before
    answering, or (streamed) a Stream. Records the order of the calls."""

    def __init__(self, **script) -> None:
        self.script = script
        self.calls: list[str] = []
        self.answered: list[str] = []

    async def __call__(self, model, messages, **kwargs):
        name = model.split("/")[-1]
        self.calls.append(name)
        what = self.script.get(name, f"answer of {name}")
        if isinstance(what, asyncio.Event):
            await what.wait()
            what = f"answer of {name}"
        if isinstance(what, Exception):
            raise what
        self.answered.append(name)
        if kwargs.get("stream"):
            return what if isinstance(what, Stream) else Stream([what])
        return reply(what)


def host(caller) -> Host:
    """The in-process host with ``caller`` as its member seam (``MixtureLLM(host=...)``)."""
    return dataclasses.replace(IN_PROCESS, caller=caller)
