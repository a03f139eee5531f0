"""Waiting for a server process the tests started, and stopping it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path


def wait_until_serving(
    process: subprocess.Popen, url: str, log: Path, timeout: float, what: str
) -> None:
    """Polls ``url`` until it answers; fails with the log's tail if ``process`` exits first,
    or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start in {timeout} s") from None
            time.sleep(0.25)


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminates ``process``, killing it if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
