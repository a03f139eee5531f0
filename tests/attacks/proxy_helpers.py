"""What the attack tests on the proxy share: the request they send, and how they look at the
proxy from outside (its log, its memory, its liveness probe)."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from pathlib import Path

import httpx

from tests.proxy_process import ProxyProcess

ASK = [{"role": "user", "content": "Name a prime number."}]
ALLOWED_HOST = "allowed.example"
PINNED_URL = f"https://{ALLOWED_HOST}/spec.yaml"
PINNED_DIGEST = hashlib.sha256(b"steps: [{aggregate: gpt-4o}]").hexdigest()
LOOP_PRESET = "steps:\n  - propose: [mixture/loop]\n  - aggregate: gpt-4o\n"


def escaped(spec: str) -> str:
    """``spec`` as a member of a one-line spec: members are %-unescaped, so the name itself
    carries no comma or space (which the proxy would refuse) even when ``spec`` is inline YAML."""
    return "".join(f"%{ord(c):02X}" if c in "%,+*>? " else c for c in spec)  # ?: parameters


def chat(http: httpx.Client, model: str, **body) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": model, "messages": ASK, **body})


def assert_no_secret(proxy: ProxyProcess, *received: str | bytes) -> None:
    """No master or provider key in what the client received, nor anywhere in the proxy's log."""
    texts = [r.decode(errors="replace") if isinstance(r, bytes) else r for r in received]
    texts.append(Path(proxy.log).read_text(errors="replace"))
    for secret in (proxy.master_key, *proxy.keys.values()):
        for text in texts:
            assert secret not in text


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def liveness_seconds(proxy: ProxyProcess) -> float:
    started = time.perf_counter()
    urllib.request.urlopen(f"{proxy.base}/health/liveliness", timeout=30).close()
    return time.perf_counter() - started
