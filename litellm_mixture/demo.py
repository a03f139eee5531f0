"""Offline quick start: ``python -m litellm_mixture.demo [PROMPT] [--model mixture/...]``.

With the default ``mixture/demo`` every answer is canned (litellm's mock_response): no API key,
no network. Pass ``--model`` with any other spec to run real models.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

# An entry point: offline by default, as the command's (litellm reads this when imported).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from .cli.live import error_line, expected, quiet_litellm
from .errors import SpecError
from .spec import PREFIX, decode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="What is Mixture-of-Agents?")
    parser.add_argument(
        "--model",
        default="mixture/demo",
        help="any mixture spec, e.g. mixture/openai/gpt-4o-mini*3>openai/gpt-4o",
    )
    args = parser.parse_args(argv)
    quiet_litellm()
    try:  # a bad spec is refused before anything is printed as if it would run
        if args.model.startswith(PREFIX):
            decode(args.model)
    except SpecError as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 1

    print(f"model: {args.model}")
    if args.model == "mixture/demo":
        print("(offline demo: every answer below is canned by litellm's mock_response)")
    print(f"prompt: {args.prompt}\n\nanswer (streamed):")
    try:
        steps, usage = stream(args.model, args.prompt)
    except Exception as e:
        if not expected(e):
            raise
        print(f"\nerror: {error_line(e)}", file=sys.stderr)
        return 1
    print_calls(steps, usage)
    return 0


def stream(model: str, prompt: str) -> tuple[list[dict[str, Any]], Any]:
    """Streams the answer to stdout. Returns every member call (the mixture's
    ``intermediate_responses``, on the chunk after the answer) and the summed usage."""
    chunks = litellm.completion(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
        intermediate_responses=True,
    )
    steps: list[dict[str, Any]] = []
    usage = None
    for chunk in chunks:
        steps = getattr(chunk, "intermediate_responses", None) or steps
        usage = getattr(chunk, "usage", None) or usage
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
    return steps, usage


def print_calls(steps: list[dict[str, Any]], usage: Any) -> None:
    """The table of member calls, and the totals of this same run."""
    print("\n\nmember calls:")
    costs = []
    for step in steps:
        for r in step["responses"]:
            # A failed call that billed nothing cost nothing: it is not unpriced.
            unpriced = r["cost"] is None and r["error"] is None
            costs.append(None if unpriced else r["cost"] or 0.0)
            cost = "unpriced" if unpriced else f"${r['cost'] or 0.0:.6f}"
            status = "ok" if r["error"] is None else f"FAILED {' '.join(r['error'].split())}"
            print(
                f"  {step['step'] + 1}. {step['kind']:<10} {r['model']:<28} "
                f"{r['latency_ms']:7.1f} ms {r['usage']['prompt_tokens']:>6} in "
                f"{r['usage']['completion_tokens']:>5} out  {cost}  {status}"
            )
    priced = sum(c for c in costs if c is not None)
    print(
        f"total: {len(costs)} calls, {usage.prompt_tokens} prompt + {usage.completion_tokens} "
        f"completion tokens, cost ${priced:.6f}" + (" (some unpriced)" if None in costs else "")
    )


if __name__ == "__main__":
    sys.exit(main())
