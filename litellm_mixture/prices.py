"""What one call costs at litellm's own prices, billed or at worst: what the engine bills a
member call with, and what the estimate and a budget bound one with."""

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


# Past this many characters a prompt is not tokenized but bounded: tokenizing a client's 1 MB
# conversation takes ~65 ms, once per call of the estimate, on the proxy's event loop.
COUNTED = 64 * 1024


def prompt_tokens(messages: list[dict[str, Any]], tools: Any = None) -> int:
    """The tokens ``messages`` (and ``tools``) make, by :data:`TOKENIZER`; for a prompt longer
    than :data:`COUNTED` characters, its UTF-8 bytes, which no byte-level tokenizer exceeds."""
    size = len(json.dumps([messages, tools], default=str).encode())
    if size > COUNTED:
        return size
    return litellm.token_counter(model=TOKENIZER, messages=messages, tools=tools)


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The call's cost at litellm's prices (``litellm.cost_per_token``); None when litellm has
    no price for ``model``."""
    try:
        costs = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:
        return None
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
    except Exception:
        info = member_info(model)
    limit = info.get("max_output_tokens") or info.get("max_tokens")
    return limit if isinstance(limit, int) and limit > 0 else None


def worst_call_cost(model: str, prompt_tokens: int, max_tokens: int | None) -> float | None:
    """The most one call to ``model`` can cost: ``prompt_tokens`` read and ``max_tokens`` written
    (its model's output limit when None). None when it cannot be bounded: litellm knows no price
    for ``model``, or no limit on what it writes."""
    limit = max_tokens if max_tokens is not None else output_limit(model)
    return None if limit is None else cost(model, prompt_tokens, limit)
