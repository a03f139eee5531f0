"""Start and stop the fake upstream as a real process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.processes import stop

ROOT = Path(__file__).resolve().parent.parent


class UpstreamProcess:
    def __init__(self, port: int, process: subprocess.Popen[str]) -> None:
        self.port = port
        self.process = process
        self.base = f"http://127.0.0.1:{port}/v1"

    def calls(self) -> list[dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_calls", timeout=5) as r:
            return json.load(r)

    def configure(
        self,
        latency: dict[str, float] | None = None,
        gap: dict[str, float] | None = None,
        reply: dict[str, str] | None = None,
        fault: dict[str, dict] | None = None,
        fail_rate: float = 0.0,
        require_key: bool = False,
        pace: dict[str, float] | None = None,
        pick: dict[str, list[tuple[str, float]]] | None = None,
        judge: list[str] | None = None,
        seed: int = 0,
        right: dict[str, float] | None = None,
    ) -> None:
        """Replace the running server's latencies, stream gaps, paces, picks, replies and faults."""
        settings = {
            "pick": pick or {},
            "judge": judge or [],
            "right": right or {},
            "seed": seed,
            "latency": latency or {},
            "gap": gap or {},
            "pace": pace or {},
            "reply": reply or {},
            "fault": fault or {},
            "fail_rate": fail_rate,
            "require_key": require_key,
        }
        body = json.dumps(settings).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_settings", data=body, method="PUT"
        )
        urllib.request.urlopen(req, timeout=5).close()

    def clear(self) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_calls", method="DELETE")
        urllib.request.urlopen(req, timeout=5).close()


@contextlib.contextmanager
def fake_upstream(
    *latencies: str, gaps: tuple[str, ...] = (), startup_timeout: float = 30.0
) -> Iterator[UpstreamProcess]:
    """``latencies``/``gaps``: ``MODEL=SECONDS`` before answering / between streamed chunks."""
    args = [sys.executable, "-m", "tests.fake_upstream"]
    for item in latencies:
        args += ["--latency", item]
    for item in gaps:
        args += ["--gap", item]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + startup_timeout
        line = ""
        while time.monotonic() < deadline and not line.startswith("PORT"):
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                raise RuntimeError("fake upstream exited before listening")
        if not line.startswith("PORT"):
            raise RuntimeError("fake upstream did not start in time")
        yield UpstreamProcess(int(line.split()[1]), process)
    finally:
        stop(process, timeout=10)
