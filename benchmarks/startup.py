"""How long ``litellm-mixture`` takes to start: ``--help`` and ``presets`` vs ``python -c pass``.

    python benchmarks/startup.py [--runs 15] [--target 0.5]

Each command runs ``--runs`` times as a fresh process of the installed console script, the
three interleaved so that the machine's load falls on all of them alike. Reported: the median
and the spread (min, max) of each, and each command's median minus ``python -c pass``'s (the
interpreter's own start, site-packages and the ``.pth`` hook included).

Target: ``--help`` and ``presets`` start at most ``--target`` seconds (default 0.5) after a bare
interpreter; the exit status is 1 when one does not. Neither imports litellm (several seconds);
``validate``, ``run`` and ``aider-settings`` do, and are shown for reference with ``--all``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

BIN = Path(sys.executable).parent / "litellm-mixture"
BASELINE = ("python -c pass", [sys.executable, "-c", "pass"])
COMMANDS = [("--help", [str(BIN), "--help"]), ("presets", [str(BIN), "presets"])]
REFERENCE = [("validate demo", [str(BIN), "validate", "demo"])]


def wall(argv: list[str]) -> float:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd="/")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--all", action="store_true", help="also time validate (imports litellm)")
    args = parser.parse_args()
    cases = [BASELINE, *COMMANDS, *(REFERENCE if args.all else [])]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _, argv in cases:
        wall(argv)  # warm the file cache: the first start after an install reads from disk
    for _ in range(args.runs):
        for name, argv in cases:
            times[name].append(wall(argv))
    base = statistics.median(times[BASELINE[0]])
    print(
        f"python {sys.version.split()[0]}, litellm {version('litellm')}, "
        f"{args.runs} runs each, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    failed = False
    for name, samples in times.items():
        median = statistics.median(samples)
        line = (
            f"{name:<16} median {median:6.3f} s  (min {min(samples):.3f}, max {max(samples):.3f})"
        )
        if name != BASELINE[0]:
            over = median - base
            line += f"  +{over:.3f} s over python -c pass"
            if name in dict(COMMANDS):
                ok = over <= args.target
                failed |= not ok
                line += f"  {'ok' if ok else 'OVER'} (target +{args.target:g} s)"
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
