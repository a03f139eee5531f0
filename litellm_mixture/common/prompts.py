"""Published prompts and how previous answers are laid into a member's messages.

The Together MoA layout is reproduced byte for byte from the reference implementation
(arXiv 2406.04692): the references go into the system message, numbered from 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# Prompts are data: the defaults live in prompts.yaml, keyed by step kind.
DEFAULTS: dict[str, str] = yaml.safe_load(
    (Path(__file__).parent / "prompts.yaml").read_text(encoding="utf-8")
)
TOGETHER_AGGREGATE = DEFAULTS["aggregate"]
MIXTCHA_4OSO = DEFAULTS["mixtcha-4oso"]

Message = dict[str, Any]


def clean_answer(text: str | None) -> str:
    """A member's answer as a reference: its leading reasoning blocks removed, whitespace
    stripped. A ``<think>`` later in the answer is part of it (an answer may be about tags)."""
    return without_leading_think(text).strip() if text else ""


def unanswered(text: str | None) -> str | None:
    """Why ``text`` holds no answer once its leading reasoning is removed: ``empty``,
    ``reasoning`` (closed blocks only) or ``unclosed`` (a block that never ended); None when
    it holds one."""
    think = LeadingThink()
    if (think.feed(text or "") + think.flush()).strip():
        return None
    if think.unclosed:
        return "unclosed"
    return "reasoning" if think.seen else "empty"


_OPEN_TAGS = ("<think>", "<thinking>")
_CLOSE = re.compile(r"</think(?:ing)?>")


class LeadingThink:
    """Removes the reasoning blocks an answer opens with, as the answer streams in.

    ``feed`` returns what can be passed on now: nothing while the text so far may still be, or
    is, a leading ``<think>`` block; once it is not, everything after the blocks (their trailing
    whitespace dropped). An answer that is reasoning alone passes on nothing.
    """

    def __init__(self) -> None:
        self._held = ""
        self._seen = False  # a block was removed: the whitespace after it goes too
        self._open = False
        self._done = False

    def feed(self, text: str) -> str:
        if self._done:
            return text
        self._held += text
        while True:
            if not self._open:
                head = self._held.lstrip()
                tag = next((t for t in _OPEN_TAGS if head.startswith(t)), None)
                if tag is None:
                    if not head or any(t.startswith(head) for t in _OPEN_TAGS):
                        return ""  # whitespace, or a tag still arriving
                    self._done = True
                    out, self._held = (head if self._seen else self._held), ""
                    return out
                self._held, self._open = head[len(tag) :], True
            end = _CLOSE.search(self._held)
            if end is None:
                # Only what may start a closing tag is kept: reasoning can be long.
                self._held = self._held[-len("</thinking>") :]
                return ""
            self._held, self._seen, self._open = self._held[end.end() :], True, False

    @property
    def seen(self) -> bool:
        """A leading reasoning block was removed."""
        return self._seen

    @property
    def unclosed(self) -> bool:
        """The answer so far ends inside a leading reasoning block."""
        return self._open

    def flush(self) -> str:
        """At the end of the answer: what was held back that is not reasoning."""
        held, self._held = self._held, ""
        if self._done or self._open or not held.strip():
            return ""
        return held.lstrip() if self._seen else held


def without_leading_think(text: str) -> str:
    """A whole answer as :class:`LeadingThink` streams it: "" when it is reasoning alone."""
    think = LeadingThink()
    return think.feed(text) + think.flush()


def _append_text(message: Message, text: str) -> Message:
    content = message.get("content")
    if isinstance(content, list):
        new: Any = [*content, {"type": "text", "text": text}]
    elif content:
        new = f"{content}\n\n{text}"
    else:
        new = text
    return {**message, "content": new}


def with_system_block(messages: list[Message], block: str) -> list[Message]:
    """Together MoA: append the block to a leading system message, or prepend a new one."""
    if messages and messages[0].get("role") == "system":
        return [_append_text(messages[0], block), *messages[1:]]
    return [{"role": "system", "content": block}, *messages]


def with_system_prompt(messages: list[Message], prompt: str) -> list[Message]:
    """A member's own system prompt goes first, ahead of the caller's system text."""
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        content = first.get("content")
        if isinstance(content, str) and content:
            return [{**first, "content": f"{prompt}\n\n{content}"}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def with_user_text(messages: list[Message], text: str) -> list[Message]:
    """Add text to the last user turn (a new user turn if the conversation has none)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return [*messages[:i], _append_text(messages[i], text), *messages[i + 1 :]]
    return [*messages, {"role": "user", "content": text}]


def numbered_block(prompt: str, references: list[str]) -> str:
    return prompt + "".join(f"\n{i}. {ref}" for i, ref in enumerate(references, 1))


def options_block(
    references: list[tuple[str, str]], delimiter: tuple[str, str], prompt: str | None
) -> str:
    """mixtcha's layout: each answer between the delimiters, labelled with its model."""
    opening, closing = delimiter
    text = "\n\n".join(f"{opening}[{model}] {ref}{closing}" for model, ref in references)
    return f"{text}\n\n{prompt}" if prompt else text


def inject(
    messages: list[Message],
    references: list[tuple[str, str]],
    mode: str,
    prompt: str | None,
    delimiter: tuple[str, str],
) -> list[Message]:
    """The messages a synthesizer or aggregator sees, given the previous step's answers.

    ``references`` pairs each answer with the model that wrote it.
    ``system`` (Together MoA): the prompt and numbered answers join the system message.
    ``inline`` (mixtcha): the labelled options and the prompt are added to the last user turn.
    ``concat`` (mixtcha): the same text arrives as a separate user turn after the conversation.
    """
    if mode == "system":
        block = numbered_block(
            TOGETHER_AGGREGATE if prompt is None else prompt, [ref for _, ref in references]
        )
        return with_system_block(messages, block)
    text = options_block(references, delimiter, prompt)
    if mode == "inline":
        return with_user_text(messages, text)
    return [*messages, {"role": "user", "content": text}]


def text_only(messages: list[Message]) -> list[Message]:
    """The conversation as plain text turns, for members that get no tools.

    Providers reject tool-call history without tool definitions, so proposers see earlier tool
    calls and results written out as text instead.
    """
    if not any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        return messages
    out: list[Message] = []
    for m in messages:
        role = m.get("role")
        if role == "tool":
            out.append(
                {
                    "role": "user",
                    "content": f"[tool result {m.get('tool_call_id', '')}]\n"
                    f"{m.get('content') or ''}",
                }
            )
        elif m.get("tool_calls"):
            calls = "\n".join(
                f"[tool call {c['function']['name']}({c['function'].get('arguments', '')})]"
                for c in m["tool_calls"]
            )
            text = f"{m['content']}\n{calls}" if m.get("content") else calls
            out.append({"role": "assistant", "content": text})
        else:
            out.append(m)
    return out


# A judge's answer: numbers only ("3, 1", "[3, 1]", "3 > 1"), or prose around them.
_BARE = re.compile(r"[\d\s,;.&>#()\[\]]*")
_LISTED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_LABELLED = re.compile(r"(?:response|option|answer|candidate|#|\[)\s*#?\s*(\d+)", re.IGNORECASE)


def _numbers(text: str, count: int) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text) if 1 <= int(x) <= count]


def _labelled(text: str, count: int) -> list[int]:
    return [int(x) for x in _LABELLED.findall(text) if 1 <= int(x) <= count]


def read_choice(answer: str | None, count: int) -> list[int]:
    """The responses (0-based, in the judge's order) a judge's answer names by number.

    Read in this order: an answer of numbers only, all of them; a numbered list whose every
    entry names a response ("1. Response 3"), those; otherwise the last line naming any (after
    its last colon, when that part names one, so "Final ranking: 3, 1" reads 3, 1), preferring
    numbers labelled "response N", "#N" or "[N]". Numbers out of range are ignored; an empty
    list means the answer is unclear.
    """
    text = clean_answer(answer).replace("*", "")
    lines = text.splitlines()
    listed = [m[1] for line in lines if (m := _LISTED.match(line))]
    if _BARE.fullmatch(re.sub(r"\band\b", " ", text, flags=re.IGNORECASE)):
        found = _numbers(text, count)
    elif listed and all(_labelled(entry, count) for entry in listed):
        found = [_labelled(entry, count)[0] for entry in listed]
    else:
        naming = [line for line in lines if _numbers(line, count)]
        last = naming[-1] if naming else ""
        tail = last.rpartition(":")[2]
        segment = tail if _numbers(tail, count) else last
        found = _labelled(segment, count) or _numbers(segment, count)
    return [n - 1 for n in dict.fromkeys(found)]
