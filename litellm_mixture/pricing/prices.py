"""What litellm's model map says of a model: what one call costs, billed or at worst, its
context window, whether it takes a prefill. The in-process answers of the engine's model facts
(``engine.Facts``); the estimate and a budget bound calls with them too."""

from __future__ import annotations

import json
from typing import Any

import litellm

from .modelinfo import member_info

# Tokens are counted with litellm's OpenAI tokenizer for every model: for some families (llama,
# cohere) litellm's token_counter would download a tokenizer first, which offline retries for
# half a minute. Counts for other families are approximate; the worst case is dominated by
# max_tokens, not by the prompt.
TOKENIZER = "gpt-4o"


# Past this many characters a message is not tokenized but bounded: tokenizing a client's 1 MB
# conversation takes ~65 ms. Past TOKENIZED characters in one Counter, every further message is
# bounded too: a run's token counts cost the event loop at most a few milliseconds.
COUNTED = 64 * 1024
TOKENIZED = 256 * 1024
# The keys of a price in litellm's model map. The Router registers an entry for every deployment,
# with no price when litellm knows none: such an entry is no price, not $0. An explicit zero (a
# local model registered with input_cost_per_token: 0) is a price.
PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


class Counter:
    """Prompt tokens for the calls of one run or estimate, by :data:`TOKENIZER`. Each message is
    measured once: the conversation, in every call's prompt, is serialised and tokenized once.
    Images count litellm's fixed bound each, never fetched (litellm would download every
    ``detail: high`` image, synchronously). A message longer than :data:`COUNTED` characters, or
    one litellm cannot count, counts its UTF-8 bytes, which no byte-level tokenizer exceeds."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[Any, int]] = {}  # id(message) -> (message, tokens)
        self._tokenized = 0

    def __call__(self, messages: list[dict[str, Any]], tools: Any = None) -> int:
        total = sum(self._message(m) for m in messages)
        return total + (self._count([], tools) if tools else 0)

    def _message(self, message: Any) -> int:
        hit = self._known.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        tokens = self._count([message], None)
        self._known[id(message)] = (message, tokens)
        return tokens

    def _count(self, messages: list[Any], tools: Any) -> int:
        size = _size([messages, tools])
        if size > COUNTED or self._tokenized > TOKENIZED:
            return size
        self._tokenized += size
        try:
            return litellm.token_counter(
                model=TOKENIZER, messages=messages, tools=tools, use_default_image_token_count=True
            )
        except Exception:  # content litellm cannot count: the request's checks refuse bad shapes
            return size


def prompt_tokens(messages: list[dict[str, Any]], tools: Any = None) -> int:
    """The tokens ``messages`` (and ``tools``) make, by a :class:`Counter` of their own."""
    return Counter()(messages, tools)


def _entry_price(model: str) -> dict[str, Any] | None:
    """The price litellm's model map holds for exactly ``model``: {} for an entry with none (the
    Router's for a deployment litellm cannot price), None when there is no entry."""
    entry = litellm.model_cost.get(model)
    if not isinstance(entry, dict):
        return None
    return {k: entry[k] for k in PRICE_KEYS if entry.get(k) is not None}


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The call's cost at litellm's prices (``litellm.cost_per_token``); None when litellm has
    no price for ``model`` (an entry without one included)."""
    entry = _entry_price(model)
    if entry == {}:
        return None
    try:
        costs = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:
        if not entry:
            return None
        # A name only the map knows (a deployment's id, where the Router files explicit prices).
        costs = (
            float(entry.get(PRICE_KEYS[0], 0)) * prompt_tokens,
            float(entry.get(PRICE_KEYS[1], 0)) * completion_tokens,
        )
    return float(sum(costs))


def input_limit(model: str) -> int | None:
    """The most tokens ``model`` reads in one prompt (``max_input_tokens`` in litellm's price
    map: a dict look-up, cheap enough for every call); None if unknown."""
    limit = member_info(model).get("max_input_tokens")
    return limit if isinstance(limit, int) and limit > 0 else None


def past_window(model: str, messages: list[dict[str, Any]], tools: Any = None) -> str | None:
    """Why ``messages`` cannot fit ``model``'s context window, or None (also when its window is
    unknown). Tokenized only when its bytes, which no byte-level tokenizer exceeds, might not
    fit; counted by :data:`TOKENIZER`, which undercounts most local models' tokens: a prompt it
    finds too long is."""
    limit = input_limit(model)
    if limit is None or len(json.dumps([messages, tools], default=str).encode()) <= limit:
        return None
    tokens = litellm.token_counter(model=TOKENIZER, messages=messages, tools=tools)
    if tokens <= limit:
        return None
    return (
        f"{model}'s prompt is about {tokens} tokens, past its context window of {limit} "
        "(max_input_tokens in litellm's model info); found before the call"
    )


def output_limit(model: str) -> int | None:
    """The most tokens ``model`` writes in one answer, by litellm's model info; None if unknown."""
    try:
        # get_model_info knows the names the price map files under another key (dated models).
        info: Any = litellm.get_model_info(model)
    except Exception:  # a name only the map knows (a deployment's id), or none
        info = litellm.model_cost.get(model) or member_info(model)
    limit = info.get("max_output_tokens") or info.get("max_tokens")
    return limit if isinstance(limit, int) and limit > 0 else None


def worst_call_cost(model: str, prompt_tokens: int, max_tokens: int | None) -> float | None:
    """The most one call to ``model`` can cost: ``prompt_tokens`` read and ``max_tokens`` written
    (its model's output limit when None). None when it cannot be bounded: litellm knows no price
    for ``model``, or no limit on what it writes."""
    limit = max_tokens if max_tokens is not None else output_limit(model)
    return None if limit is None else cost(model, prompt_tokens, limit)


def worst_cost(model: str, messages: list[dict[str, Any]], max_tokens: int | None) -> float | None:
    """:func:`worst_call_cost` of a call sending ``messages`` (an ``engine.Pricer``)."""
    return worst_call_cost(model, prompt_tokens(messages), max_tokens)


def prefills(model: str) -> bool:
    """Whether litellm's model map says ``model`` continues a trailing assistant message."""
    try:
        return bool(litellm.get_model_info(model).get("supports_assistant_prefill"))
    except Exception:  # a model litellm does not know
        return False
