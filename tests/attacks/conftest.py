"""The proxy under attack: the shipped proxy_config.yaml, its aliases pointed at a recording fake
upstream, started once for the attack tests that use it.

What differs from the shipped file (besides upstream addresses) is what an attack needs to
reach: URL specs allowed from one host with one pinned document, and an operator entry
``loop`` whose preset names itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import pytest

from tests.attacks.proxy_helpers import ALLOWED_HOST, LOOP_PRESET, PINNED_DIGEST, PINNED_URL
from tests.proxy_process import ProxyProcess, litellm_proxy
from tests.upstream_process import UpstreamProcess, fake_upstream


def _attack_config(doc: dict) -> None:
    doc["model_list"].append({"model_name": "loop", "litellm_params": {"model": "mixture/loop"}})
    settings = doc["litellm_settings"]
    settings["mixture_policy"]["url_hosts"] = [ALLOWED_HOST]
    settings["mixture_policy"]["url_pins"] = {PINNED_URL: PINNED_DIGEST}
    # litellm >= 1.100 refuses URL-valued model names itself unless their host is listed here;
    # the port is listed too, so that the guard's own port rule is what refuses it.
    settings["provider_url_destination_allowed_hosts"] = [ALLOWED_HOST, f"{ALLOWED_HOST}:8443"]


@pytest.fixture(scope="package")
def shared_upstream_process() -> Iterable[UpstreamProcess]:
    """One fake upstream process for every proxy of the attack tests."""
    with fake_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="package")
def attack_proxy(tmp_path_factory, shared_upstream_process) -> Iterable[ProxyProcess]:
    presets = tmp_path_factory.mktemp("attack-presets")
    (presets / "loop.yaml").write_text(LOOP_PRESET)
    with litellm_proxy(
        tmp_path_factory.mktemp("attack-proxy"),
        shared_upstream_process.base,
        extra_env={"LITELLM_MIXTURE_PRESETS": str(presets)},
        adjust=_attack_config,
    ) as proxy:
        yield proxy


@pytest.fixture
def attack_http(attack_proxy) -> Iterable[httpx.Client]:
    """Raw HTTP to the attack proxy with the master key: attacks send bodies an SDK would not."""
    headers = {"Authorization": f"Bearer {attack_proxy.master_key}"}
    with httpx.Client(base_url=attack_proxy.base, headers=headers, timeout=60) as client:
        yield client
