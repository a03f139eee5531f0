"""A fake OpenAI-compatible chat completions server, for end-to-end tests and benchmarks.

Run it as a process: ``python -m tests.fake_upstream [--latency MODEL=SECONDS ...]``. It prints
``PORT <n>`` once listening on 127.0.0.1. Every reply is derived from the request:

- content: ``answer from <model> #<n>``; ``<model>`` is the requested model name;
- a request whose first (system) message contains ``Responses from models:`` or whose last user
  message contains ``<option>`` is an aggregation; its answer lists how many references it saw;
- when the request carries ``tools``, the reply is a call to the first tool;
- usage: prompt tokens = characters of all message contents // 4 + 1, completion tokens =
  words of the reply. What it billed is recorded per call.
- a request with ``reasoning_effort`` also gets ``reasoning_content`` (``thought of <model>
  #<n>``, streamed ahead of the answer), as reasoning models answer through litellm.

``GET /_calls`` returns every recorded call: request body, billed usage, the bearer key,
``state`` (``running``, ``done``, or ``cancelled`` when the client went away first) and ``at``
(when it arrived, ``time.time()``). ``DELETE /_calls`` clears them. ``--gap MODEL=SECONDS``
spaces out a stream's chunks; a ``pace`` (per model, seconds per chunk) is a model's generation
speed, whether streamed or not: a stream's chunks are that far apart, and a whole answer comes
after all of them would have. ``PUT /_settings {"latency": {...}, "gap": {...}, "reply":
{MODEL: TEXT}, "fault": {...}, "fail_rate": 0.05, "seed": 1}`` replaces those settings while
running. A ``reply`` entry fixes what that model answers; a ``pick`` entry, ``MODEL: [[TEXT,
WEIGHT], ...]``, makes it answer one of the texts at random by weight (seeded), as a sampled
model that mostly agrees with itself; a model named in ``judge`` (a list) answers with the number
of the first of the numbered responses it was shown whose text most of them share, as a
self-consistency judge does. A ``right`` entry, ``MODEL: SHARE`` (a fraction), grades it on
items: asked about ``item <k>`` (in the last user message), it answers ``answer <k>`` on exactly
``floor(N * SHARE)`` of items 0..N-1 (when ``floor((k + 1) * SHARE) > floor(k * SHARE)``), else
``wrong <k> from <model>``; as an aggregator it answers ``answer <k>`` when one of the references
it was shown does, as an oracle would. A ``fault`` entry, ``MODEL: {"kind":
K, "times": N, "retry_after": S, "message": M}`` (``times`` omitted: every call; ``message``:
the error's text, where ``{key}`` stands for the key the call carried, as providers echo it),
makes it fail: an HTTP status such as ``500``, ``401``, ``403`` or ``429`` (with
``Retry-After: S``), ``hang``, ``malformed`` (truncated JSON), ``reset`` (the connection drops;
mid-stream after two chunks), ``empty`` (an empty message), ``reasoning`` (only ``<think>``
text), ``cut`` (a stream that ends without a finish reason, as llama.cpp's server ends one it
interrupts), ``overflow`` (llama-cpp-python's HTTP 400 for a prompt past the context window),
``thinking`` (an unclosed ``<think>`` cut by ``finish_reason: length``) or ``no_usage`` (a stream
that sends no usage, asked or not, as llama.cpp's server does). ``fail_rate`` answers that
share of all other calls with a 500 (seeded). With
``"require_key": true`` a call without a bearer key is answered 401, as providers do.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import random
import re
import struct
import time
from fractions import Fraction
from typing import Any

from aiohttp import web

_counter = itertools.count(1)


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _last_user(messages: list[dict[str, Any]], texts: list[str]) -> str:
    pairs = zip(reversed(messages), reversed(texts), strict=True)
    return next((t for m, t in pairs if m.get("role") == "user"), "")


def reply_for(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message and usage the server answers ``body`` with."""
    model = body["model"]
    messages = body.get("messages", [])
    texts = [_text_of(m.get("content")) for m in messages]
    # The first message: litellm sends o-series models their system message as a user message.
    system = texts[0] if messages and messages[0].get("role") in ("system", "user") else ""
    last_user = _last_user(messages, texts)
    if "Responses from models:" in system:
        refs = system.split("Responses from models:")[-1].count("\n")
    else:
        refs = last_user.count("<option>")
    n = next(_counter)
    if body.get("tools"):
        tool = body["tools"][0]["function"]["name"]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {"name": tool, "arguments": json.dumps({"refs": refs})},
                }
            ],
        }
        completion = 5
    else:
        text = f"answer from {model} #{n}" + (f" aggregating {refs} references" if refs else "")
        message = {"role": "assistant", "content": text}
        completion = len(text.split())
    if body.get("reasoning_effort"):
        message["reasoning_content"] = f"thought of {model} #{n}"
    prompt = sum(len(t) for t in texts) // 4 + 1
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return {"id": f"chatcmpl-{n}", "message": message, "usage": usage}


def _finish(reply: dict[str, Any]) -> str:
    if "finish_reason" in reply:
        return reply["finish_reason"]
    return "tool_calls" if reply["message"].get("tool_calls") else "stop"


def _open(chunk: dict[str, Any]) -> bool:
    return chunk["choices"][0]["finish_reason"] is None


# llama-cpp-python's server answers a prompt past its context window with this (HTTP 400).
_OVERFLOW = {
    "error": {
        "message": "This model's maximum context length is 2048 tokens. However, you requested "
        "2100 tokens (2036 in the messages, 64 in the completion). Please reduce the length of "
        "the messages or completion.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def completion(body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """The JSON body answering ``body`` with ``reply`` whole."""
    choice = {"index": 0, "message": reply["message"], "finish_reason": _finish(reply)}
    return {
        "id": reply["id"],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [choice],
        "usage": reply["usage"],
    }


def _tool_call_deltas(call: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool call in two pieces, its arguments split after four characters."""
    args = call["function"]["arguments"]
    function = {"name": call["function"]["name"], "arguments": args[:4]}
    first = {"index": 0, "id": call["id"], "type": "function", "function": function}
    rest = {"index": 0, "function": {"arguments": args[4:]}}
    return [{"role": "assistant", "tool_calls": [first]}, {"tool_calls": [rest]}]


def stream_chunks(body: dict[str, Any], reply: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks streaming ``reply``: its reasoning, then its tool call or its text a word per
    chunk, then the finish, then the usage when the request asked for it."""
    base = {"id": reply["id"], "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = body["model"]
    message = reply["message"]
    deltas = []
    if message.get("reasoning_content"):
        deltas.append({"role": "assistant", "reasoning_content": message["reasoning_content"]})
    if message.get("tool_calls"):
        deltas += _tool_call_deltas(message["tool_calls"][0])
    else:
        words = message["content"].split(" ")
        deltas += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": _finish(reply)}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": reply["usage"]})
    return chunks


class Upstream:
    def __init__(self, latencies: dict[str, float], gaps: dict[str, float] | None = None) -> None:
        self.latencies = latencies
        self.gaps = gaps or {}
        self.paces: dict[str, float] = {}
        self.replies: dict[str, str] = {}
        self.picks: dict[str, list[tuple[str, float]]] = {}
        self.judges: list[str] = []
        self.right: dict[str, Fraction] = {}
        self.faults: dict[str, dict[str, Any]] = {}
        self.fail_rate = 0.0
        self.require_key = False
        self.random = random.Random(0)
        self.calls: list[dict[str, Any]] = []

    def _fault(self, model: str, key: str) -> str | None:
        """The fault this call suffers, if any: no key, a per-model fault, or a random 500."""
        if self.require_key and not key:
            return "401"
        fault = self.faults.get(model) or self.faults.get("*")
        if fault is not None and fault.get("times", 1) > 0:
            if "times" in fault:
                fault["times"] -= 1
            return fault["kind"]
        if self.fail_rate and self.random.random() < self.fail_rate:
            return "500"
        return None

    def _scripted(self, body: dict[str, Any]) -> str | None:
        """The text a ``reply``, ``pick`` or ``judge`` setting gives this call, if any."""
        model = body["model"]
        if model in self.replies:
            return self.replies[model]
        if model in self.picks:
            texts, weights = zip(*self.picks[model], strict=True)
            return self.random.choices(texts, weights)[0]
        if model in self.right:
            return self._graded(body, self.right[model])
        if model in self.judges:
            system = _text_of(body["messages"][0].get("content"))
            listed = re.findall(r"^(\d+)\. (.*)$", system, flags=re.MULTILINE)
            texts = [text for _, text in listed]
            return max(listed, key=lambda item: texts.count(item[1]))[0] if listed else "1"
        return None

    def _graded(self, body: dict[str, Any], share: Fraction) -> str:
        """A ``right`` model's answer: right on a known share of items, or as an oracle."""
        texts = [_text_of(m.get("content")) for m in body["messages"]]
        last_user = _last_user(body["messages"], texts)
        found = re.search(r"item (\d+)", last_user)
        k = int(found.group(1)) if found else 0
        right, wrong = f"answer {k}", f"wrong {k} from {body['model']}"
        if "Responses from models:" in texts[0] or "<option>" in last_user:
            shown = (
                texts[0].split("Responses from models:")[-1]
                + "\n"
                + last_user.split("<option>", 1)[-1]
            )
            return right if re.search(rf"\b{right}\b", shown) else wrong
        return right if (k + 1) * share // 1 > k * share // 1 else wrong

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        reply = reply_for(body)
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        fault = self._fault(body["model"], key)
        text = {
            "empty": "",
            "reasoning": "<think>only thinking</think>",
            "thinking": "<think>thinking until the tokens run out",
        }.get(fault or "", self._scripted(body))
        if text is not None:
            reply["message"] = {"role": "assistant", "content": text}
            reply["usage"]["completion_tokens"] = len(text.split())
            reply["usage"]["total_tokens"] = sum(
                reply["usage"][k] for k in ("prompt_tokens", "completion_tokens")
            )
        call = {
            "request": body,
            "usage": reply["usage"],
            "key": key,
            "state": "running",
            "at": time.time(),
        }
        self.calls.append(call)
        try:
            if (
                (fault or "").isdigit()
                or fault in ("hang", "malformed", "overflow")
                or (fault == "reset" and not body.get("stream"))
            ):
                call["fault"] = fault
                response = await self._broken(request, fault, body["model"], key)
            else:
                call["fault"] = fault
                response = await self._answer(request, body, reply, fault)
        except (asyncio.CancelledError, ConnectionResetError):
            call["state"] = "cancelled"
            raise
        call["state"] = "done"
        return response

    async def _broken(
        self, request: web.Request, fault: str, model: str, key: str
    ) -> web.StreamResponse:
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault == "reset":
            request.transport.abort()
            raise ConnectionResetError("reset by the fake upstream")
        if fault == "overflow":
            return web.json_response(_OVERFLOW, status=400)
        if fault == "malformed":
            return web.Response(
                text='{"id": "chatcmpl-x", "choices": [', content_type="application/json"
            )
        # An error answer takes the model's latency too, as a real provider's does.
        await asyncio.sleep(self._setting(self.latencies, model))
        status = int(fault)
        headers = {}
        if status == 429:
            headers["retry-after"] = str(
                self.faults.get(model, self.faults.get("*", {})).get("retry_after", 1)
            )
        text = self.faults.get(model, self.faults.get("*", {})).get("message", f"fake {status}")
        text = text.replace("{key}", key)
        error = {"error": {"message": text, "type": "fake", "code": status}}
        return web.json_response(error, status=status, headers=headers)

    def _setting(self, table: dict[str, float], model: str) -> float:
        return table.get(model, table.get("*", 0.0))

    async def _answer(
        self, request: web.Request, body: dict[str, Any], reply: dict[str, Any], fault: str | None
    ) -> web.StreamResponse:
        delay = self._setting(self.latencies, body["model"])
        if delay:
            await asyncio.sleep(delay)
        pace = self._setting(self.paces, body["model"])
        if fault == "thinking":
            reply["finish_reason"] = "length"
        if not body.get("stream"):
            if pace:
                await asyncio.sleep(pace * len(stream_chunks(body, reply)))
            return web.json_response(completion(body, reply))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        gap = self._setting(self.gaps, body["model"]) or pace
        words, chunks = 0, stream_chunks(body, reply)
        if fault in ("cut", "no_usage"):  # no usage; a cut stream also has no finish reason
            chunks = [c for c in chunks if c["choices"] and (fault != "cut" or _open(c))]
        for chunk in chunks:
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if gap:
                await asyncio.sleep(gap)
            words += "content" in (chunk["choices"] or [{"delta": {}}])[0]["delta"]
            if fault == "reset" and words == 2:  # two chunks of the answer out, then it drops
                request.transport.abort()
                raise ConnectionResetError("reset by the fake upstream mid-stream")
        await response.write(b"data: [DONE]\n\n")
        return response

    async def settings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.latencies = body.get("latency", {})
        self.gaps = body.get("gap", {})
        self.paces = body.get("pace", {})
        self.replies = body.get("reply", {})
        self.picks = body.get("pick", {})
        self.judges = body.get("judge", [])
        self.right = {m: Fraction(str(v)) for m, v in body.get("right", {}).items()}
        self.faults = body.get("fault", {})
        self.fail_rate = body.get("fail_rate", 0.0)
        self.require_key = body.get("require_key", False)
        self.random = random.Random(body.get("seed", 0))
        return web.json_response(body)

    async def embeddings(self, request: web.Request) -> web.Response:
        """One vector per input, the same for the same text; billed one token per 4 characters."""
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        usage = {"prompt_tokens": sum(len(t) // 4 + 1 for t in texts), "completion_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"]
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append({"request": body, "usage": usage, "key": key, "state": "done"})
        vectors = [[float(b) for b in t.strip().lower().encode()[:8].ljust(8)] for t in texts]
        if body.get("encoding_format") == "base64":  # as the OpenAI SDK asks by default
            vectors = [base64.b64encode(struct.pack("<8f", *v)).decode() for v in vectors]
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return web.json_response(
            {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    async def get_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls)

    async def clear_calls(self, request: web.Request) -> web.Response:
        self.calls.clear()
        return web.json_response({"cleared": True})

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("", "/v1"):
            app.router.add_post(f"{prefix}/chat/completions", self.chat)
            app.router.add_post(f"{prefix}/embeddings", self.embeddings)
        app.router.add_get("/_calls", self.get_calls)
        app.router.add_delete("/_calls", self.clear_calls)
        app.router.add_put("/_settings", self.settings)
        return app


async def serve(latencies: dict[str, float], gaps: dict[str, float], port: int = 0) -> None:
    # handler_cancellation: a handler whose client hung up is cancelled, and recorded so.
    runner = web.AppRunner(
        Upstream(latencies, gaps).app(), access_log=None, handler_cancellation=True
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"PORT {site._server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--latency",
        action="append",
        default=[],
        help="MODEL=SECONDS (MODEL may be * for every model)",
    )
    parser.add_argument(
        "--gap", action="append", default=[], help="MODEL=SECONDS between streamed chunks"
    )
    args = parser.parse_args()

    def table(items: list[str]) -> dict[str, float]:
        return {k: float(v) for k, v in (item.split("=", 1) for item in items)}

    asyncio.run(serve(table(args.latency), table(args.gap), args.port))


if __name__ == "__main__":
    main()
