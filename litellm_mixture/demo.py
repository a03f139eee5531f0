"""Offline quick start: ``python -m litellm_mixture.demo [PROMPT] [--model mixture/...]``.

With the default ``mixture/demo`` every answer is canned (litellm's mock_response): no API key,
no network. Pass ``--model`` with any other spec to run real models.
"""

from __future__ import annotations

import argparse
import sys

import litellm

import litellm_mixture  # noqa: F401 - registers the provider even with the .pth hook off


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="What is Mixture-of-Agents?")
    parser.add_argument(
        "--model",
        default="mixture/demo",
        help="any mixture spec, e.g. mixture/openai/gpt-4o-mini*3>openai/gpt-4o",
    )
    args = parser.parse_args(argv)

    print(f"model: {args.model}")
    if args.model == "mixture/demo":
        print("(offline demo: every answer below is canned by litellm's mock_response)")
    print(f"prompt: {args.prompt}\n\nanswer (streamed):")
    try:
        stream = litellm.completion(
            model=args.model,
            messages=[{"role": "user", "content": args.prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = None
        for chunk in stream:
            usage = getattr(chunk, "usage", None) or usage
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        # The trace rides on the non-streamed response; run once more for the table.
        response = litellm.completion(
            model=args.model, messages=[{"role": "user", "content": args.prompt}]
        )
    except litellm.exceptions.APIError as e:  # every litellm typed error
        print(f"\nerror: {e}", file=sys.stderr)
        return 1

    summary = response._hidden_params["mixture"]
    print("\n\nmember calls:")
    for t in summary["trace"]:
        cost = f"${t['cost']:.6f}" if t["cost"] is not None else "unknown"
        status = "ok" if t["error"] is None else f"FAILED {t['error']}"
        print(
            f"  step {t['step']} {t['kind']:<10} {t['model']:<28} {t['latency_ms']:7.1f} ms  "
            f"{t['prompt_tokens']:>5} in {t['completion_tokens']:>5} out  {cost}  {status}"
        )
    u = response.usage
    print(
        f"total: {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens, "
        f"cost ${response._hidden_params['response_cost']:.6f}"
    )
    if usage is not None:
        print(f"(the streamed run reported {usage.total_tokens} tokens in its final chunk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
