"""Records `litellm-mixture run` on a real terminal (a pty) as an asciinema v2 cast, and prints
the screen as it looked at each redraw: the README's terminal recording comes from here.

    LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python docs/record_live_view.py demo "Hi"
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

WIDTH, HEIGHT = 110, 16
CAST = Path(__file__).with_name("live-view.cast")
_CONTROL = re.compile(r"\x1b\[(\d*)([FK])|\r?\n|[^\x1b\r\n]+")


def record(argv: list[str], timeout: float = 120.0) -> list[tuple[float, str]]:
    """Runs the command with stdout and stderr on one pty; returns (seconds, output) events."""
    leader, follower = pty.openpty()
    command = Path(sys.executable).parent / "litellm-mixture"
    env = {**os.environ, "COLUMNS": str(WIDTH), "LINES": str(HEIGHT)}
    process = subprocess.Popen(
        [str(command), "run", *argv], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    events, started = [], time.monotonic()
    while time.monotonic() - started < timeout:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the command ended and closed its side
                break
            if not data:
                break
            events.append((time.monotonic() - started, data.decode("utf-8", "replace")))
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(leader)
    return events


def screens(events: list[tuple[float, str]]) -> list[str]:
    """The screen after each event, for the few controls the live view uses."""
    lines, row, out = [""], 0, []
    for _, data in events:
        for match in _CONTROL.finditer(data):
            text, (count, code) = match.group(0), match.groups()
            if code == "F":
                row = max(0, row - int(count or 1))
            elif code == "K":
                lines[row] = ""
            elif text.endswith("\n"):
                row += 1
                lines += [""] * (row + 1 - len(lines))
            else:
                lines[row] += text
        out.append("\n".join(lines).rstrip("\n"))
    return out


def main() -> None:
    argv = sys.argv[1:] or ["demo", "What is Mixture-of-Agents?"]
    events = record(argv)
    header = {"version": 2, "width": WIDTH, "height": HEIGHT}
    header["title"] = "litellm-mixture run " + " ".join(argv)
    with CAST.open("w", encoding="utf-8") as cast:
        cast.write(json.dumps(header) + "\n")
        for at, data in events:
            cast.write(json.dumps([round(at, 3), "o", data]) + "\n")
    shown = ""
    for at, screen in zip((at for at, _ in events), screens(events), strict=True):
        if screen != shown:
            print(f"--- {at:.2f} s\n{screen}")
        shown = screen


if __name__ == "__main__":
    main()
