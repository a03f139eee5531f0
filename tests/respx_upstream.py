"""The fake upstream in-process: a respx side effect answering like tests/fake_upstream.py."""

import json
from typing import Any

import httpx

from tests.fake_upstream import reply_for

URL = "https://api.openai.com/v1/chat/completions"


class RespxUpstream:
    """respx side effect: answers like tests/fake_upstream.py unless told otherwise per model."""

    def __init__(self) -> None:
        # Per model: an answer, a whole response, or a function of the request giving either.
        self.overrides: dict[str, Any] = {}
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        override = self.overrides.get(body["model"])
        if callable(override):
            override = override(body)
        if isinstance(override, httpx.Response):
            return override
        reply = reply_for(body)
        if isinstance(override, str):
            reply["message"] = {"role": "assistant", "content": override}
        finish = "tool_calls" if reply["message"].get("tool_calls") else "stop"
        if body.get("stream"):
            return _sse(body, reply, finish)
        return httpx.Response(
            200,
            json={
                "id": reply["id"],
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": reply["message"], "finish_reason": finish}],
                "usage": reply["usage"],
            },
        )

    def by_model(self, model: str) -> list[dict]:
        return [r for r in self.requests if r["model"] == model]


def _sse(body: dict, reply: dict, finish: str) -> httpx.Response:
    """A streamed answer: its text a word per chunk, then the finish, then the usage."""

    def chunk(choices: list, **extra: Any) -> str:
        data = {"id": reply["id"], "object": "chat.completion.chunk", "created": 1}
        data.update(model=body["model"], choices=choices, **extra)
        return f"data: {json.dumps(data)}\n\n"

    words = (reply["message"].get("content") or "").split(" ")
    events = [
        chunk([{"index": 0, "delta": {"content": w if i == 0 else " " + w}}])
        for i, w in enumerate(words)
    ]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(chunk([], usage=reply["usage"]))
    events.append("data: [DONE]\n\n")
    return httpx.Response(
        200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
    )
