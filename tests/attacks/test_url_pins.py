"""Item 9 of issue 12: URL pins and allowed hosts compare canonical URLs.

Before: with ``https://allowed.example/spec.yaml`` pinned, ``https://ALLOWED.example/spec.yaml``,
``...:443/spec.yaml`` and ``...spec.yaml?`` were fetched unpinned, and any port of an allowed
host was accepted. Now scheme and host case, the default port, an empty query, dot segments and
needless %-escapes do not make another URL, and only port 443 is allowed unless ``url_hosts``
names another (``host:8443``).
"""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
import respx

from litellm_mixture import Policy, PolicyError
from litellm_mixture.trust import remote
from tests.attacks.proxy_helpers import (
    ALLOWED_HOST,
    PINNED_DIGEST,
    PINNED_URL,
    assert_no_secret,
    chat,
)

SPELLINGS = [
    f"https://{ALLOWED_HOST.upper()}/spec.yaml",
    f"https://{ALLOWED_HOST}:443/spec.yaml",
    f"https://{ALLOWED_HOST}/spec.yaml?",
    f"HTTPS://{ALLOWED_HOST}./a/../spec.yaml",
    f"https://{ALLOWED_HOST}/%73pec.yaml",
]
OTHER_DIGEST = "0" * 64


@pytest.mark.parametrize("url", SPELLINGS)
def test_the_operators_pin_holds_however_the_client_spells_the_url(
    attack_http, attack_proxy, upstream_process, url
):
    # The client names another digest: refused as soon as the URL is read, before any fetch.
    answer = chat(attack_http, f"mixture/{url}#sha256={OTHER_DIGEST}")
    assert answer.status_code == 400, answer.text
    assert "differs from the pinned one" in answer.json()["error"]["message"], answer.text
    assert upstream_process.calls() == []
    assert_no_secret(attack_proxy, answer.content)


def test_another_port_of_an_allowed_host_is_refused(attack_http, attack_proxy, upstream_process):
    # The proxy's own allow-list names the port (see conftest): the guard's rule refuses it.
    answer = chat(attack_http, f"mixture/https://{ALLOWED_HOST}:8443/spec.yaml")
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert f"rule 'url_hosts': host '{ALLOWED_HOST}:8443' is not allowed" in message, message
    assert upstream_process.calls() == []


def test_user_info_in_a_url_is_refused(attack_http, upstream_process):
    # litellm >= 1.100 refuses it itself, before the guard, whose rule refuses it on 1.81.
    answer = chat(attack_http, f"mixture/https://user@{ALLOWED_HOST}/spec.yaml")
    assert answer.status_code == 400, answer.text
    assert upstream_process.calls() == []


# ---------------------------------------------------------------- the fetch itself, in-process

DOC = b"steps: [{aggregate: openai/x}]"


@pytest.fixture
def served(monkeypatch):
    """allowed.example resolves to a public address and serves DOC, on 443 and on 8443."""

    async def public(host):
        return ["93.184.215.14"]

    monkeypatch.setattr(remote, "_addresses", public)
    with respx.mock(assert_all_called=False) as mock:
        yield {
            443: mock.get(PINNED_URL).mock(return_value=httpx.Response(200, content=DOC)),
            8443: mock.get(f"https://{ALLOWED_HOST}:8443/spec.yaml").mock(
                return_value=httpx.Response(200, content=DOC)
            ),
        }


def test_every_spelling_is_fetched_once_and_checked_against_the_pin(served):
    rules = Policy(url_hosts=(ALLOWED_HOST,), url_pins={PINNED_URL: PINNED_DIGEST})
    for url in SPELLINGS:
        with pytest.raises(PolicyError, match="does not match its sha256 pin"):
            asyncio.run(remote.fetch(url, rules))
    assert served[443].call_count == 1  # one canonical URL: one fetch, cached
    # The operator may spell the pin any way too.
    pinned = Policy(
        url_hosts=(ALLOWED_HOST,), url_pins={SPELLINGS[1]: hashlib.sha256(DOC).hexdigest()}
    )
    assert asyncio.run(remote.fetch(SPELLINGS[0], pinned)) == DOC.decode()


def test_a_port_is_allowed_only_when_the_operator_names_it(served):
    url = f"https://{ALLOWED_HOST}:8443/spec.yaml"
    for hosts in [(ALLOWED_HOST,), ("*.example",), ("*",)]:
        with pytest.raises(PolicyError, match="8443' is not allowed"):
            asyncio.run(remote.fetch(url, Policy(url_hosts=hosts)))
    assert served[8443].call_count == 0
    assert (
        asyncio.run(remote.fetch(url, Policy(url_hosts=(f"{ALLOWED_HOST}:8443",)))) == DOC.decode()
    )
    # Naming a port does not open the default one.
    with pytest.raises(PolicyError, match="is not allowed"):
        asyncio.run(remote.fetch(PINNED_URL, Policy(url_hosts=(f"{ALLOWED_HOST}:8443",))))


def test_a_redirect_to_another_port_of_the_same_host_is_refused(served, monkeypatch):
    served[443].mock(
        return_value=httpx.Response(302, headers={"location": f"https://{ALLOWED_HOST}:8443/x"})
    )
    rules = Policy(url_hosts=(ALLOWED_HOST, f"{ALLOWED_HOST}:8443"))
    with pytest.raises(PolicyError, match="another host or port"):
        asyncio.run(remote.fetch(PINNED_URL, rules))
