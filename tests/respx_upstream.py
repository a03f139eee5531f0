"""The fake upstream in-process: a respx side effect answering like tests/fake_upstream.py."""

import json
from typing import Any

import httpx

from tests.fake_upstream import completion, reply_for, stream_chunks

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
        if body.get("stream"):
            chunks = "".join(f"data: {json.dumps(c)}\n\n" for c in stream_chunks(body, reply))
            events = (chunks + "data: [DONE]\n\n").encode()
            return httpx.Response(
                200, content=events, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=completion(body, reply))

    def by_model(self, model: str) -> list[dict]:
        return [r for r in self.requests if r["model"] == model]
