"""Start and stop a real redis-server on a free 127.0.0.1 port (Debian's package; no fake)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")
# Why a test that needs Redis skips: the only reason it may.
MISSING = "redis-server is not installed (apt-get install -y redis-server; .ci/run installs it)"


@dataclass(frozen=True)
class RedisProcess:
    port: int
    host: str = "127.0.0.1"

    def command(self, *args: str) -> str:
        """One command through the RESP protocol (no client library): its reply's first line."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        with socket.create_connection((self.host, self.port), timeout=5) as s:
            s.sendall(payload.encode())
            return s.recv(65536).decode(errors="replace")

    def flush(self) -> None:
        self.command("FLUSHALL")

    def keys(self) -> int:
        """How many keys the server holds."""
        return int(self.command("DBSIZE").strip().lstrip(":"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(folder: Path, startup_timeout: float = 15.0) -> Iterator[RedisProcess]:
    """A redis-server with no persistence, bound to loopback, stopped on exit."""
    if REDIS_SERVER is None:
        raise RuntimeError(MISSING)
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(folder)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisProcess(port)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if "PONG" in server.command("PING"):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
