"""Start and stop the real LiteLLM proxy on 127.0.0.1 with a test variant of proxy_config.yaml.

The variant differs from the shipped file in upstream addresses only (every member alias points
at the fake upstream), plus one callback that records what the proxy's spend tracking sees.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.processes import stop, wait_until_serving
from tests.upstream_process import ROOT

SPEND_SPY = '''
"""Records the cost the proxy's callbacks see for each call, whose key it is billed to, and
the mixture metadata that ties member calls to the request that ran them."""
import json, os
from litellm.integrations.custom_logger import CustomLogger


class SpendSpy(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        params = kwargs.get("litellm_params") or {}
        # The proxy's /v1/messages and /v1/responses routes keep theirs in litellm_metadata.
        metadata = {**(params.get("litellm_metadata") or {}), **(params.get("metadata") or {})}
        record = {
            "model": kwargs.get("model"),
            "stream": bool(kwargs.get("stream")),
            "response_cost": kwargs.get("response_cost"),
            "billed_to_key": bool(metadata.get("user_api_key_hash")),
            "call_id": kwargs.get("litellm_call_id"),
            "model_group": metadata.get("model_group"),
            **{k: v for k, v in metadata.items() if k.startswith("mixture_")},
        }
        with open(os.environ["SPEND_SPY_FILE"], "a") as f:
            f.write(json.dumps(record) + "\\n")


spy = SpendSpy()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(
    folder: Path,
    upstream_base: str,
    spend_spy: bool = True,
    adjust: Callable[[dict], None] | None = None,
    models: list[dict] | None = None,
) -> Path:
    """The shipped config with ``models`` added first and every alias pointed at
    ``upstream_base``; ``adjust`` may change the document further (policy settings)."""
    doc = yaml.safe_load((ROOT / "proxy_config.yaml").read_text())
    doc["model_list"] = [*(models or []), *doc["model_list"]]
    for entry in doc["model_list"]:
        params = entry["litellm_params"]
        if not params["model"].startswith("mixture/"):
            params["api_base"] = upstream_base
    if adjust is not None:
        adjust(doc)
    if spend_spy:
        doc["litellm_settings"]["callbacks"].append("spend_spy.spy")
        (folder / "spend_spy.py").write_text(SPEND_SPY)
    shutil.copy(ROOT / "mixture_hooks.py", folder)
    path = folder / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class ProxyProcess:
    base: str
    master_key: str
    keys: dict[str, str]
    log: Path
    spend_file: Path
    pid: int = 0

    def spend(self) -> list[dict]:
        import json

        if not self.spend_file.exists():
            return []
        return [json.loads(line) for line in self.spend_file.read_text().splitlines()]


@contextlib.contextmanager
def litellm_proxy(
    folder: Path,
    upstream_base: str,
    spend_spy: bool = True,
    startup_timeout: float = 120.0,
    extra_env: dict[str, str] | None = None,
    provider_keys: bool = True,
    adjust: Callable[[dict], None] | None = None,
    models: list[dict] | None = None,
) -> Iterator[ProxyProcess]:
    config = write_config(folder, upstream_base, spend_spy, adjust, models)
    port = _free_port()
    keys = {
        "OPENAI_API_KEY": "sk-openai-" + secrets.token_hex(8),
        "DEEPSEEK_API_KEY": "sk-deepseek-" + secrets.token_hex(8),
    }
    proxy = ProxyProcess(
        base=f"http://127.0.0.1:{port}",
        master_key="sk-master-" + secrets.token_hex(12),
        keys=keys,
        log=folder / "proxy.log",
        spend_file=folder / "spend.jsonl",
    )
    inherited = {k: v for k, v in os.environ.items() if provider_keys or not k.endswith("_API_KEY")}
    env = {
        **inherited,
        **(keys if provider_keys else {}),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": proxy.master_key,
        "SPEND_SPY_FILE": str(proxy.spend_file),
        # Builtin presets call provider models directly; those go to the fake upstream too.
        "OPENAI_API_BASE": upstream_base,
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "litellm.proxy.proxy_cli", "--config", str(config)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    with proxy.log.open("w") as log:
        process = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    proxy.pid = process.pid
    try:
        url = f"{proxy.base}/health/liveliness"
        wait_until_serving(process, url, proxy.log, startup_timeout, "proxy")
        yield proxy
    finally:
        stop(process)
