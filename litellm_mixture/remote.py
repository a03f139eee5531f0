"""URL specs: ``mixture/https://host/path/spec.yaml``, off unless the operator allow-lists hosts.

https only; redirects only within the same host; no private, loopback or link-local addresses;
capped in size and time; cached for ``url_ttl`` seconds; optionally pinned to a sha256 digest
(``url_pins`` in the policy, or ``#sha256=<hex>`` at the end of the URL).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import httpx

from .policy import Policy, PolicyError, _matches

MAX_REDIRECTS = 3
CACHE_SIZE = 128
_cache: dict[str, tuple[float, bytes]] = {}


async def _addresses(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _allowed_host(url: str, policy: Policy, spec: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise PolicyError(
            "url_hosts", f"only https URLs are allowed, not {parts.scheme}:", spec=spec
        )
    host = (parts.hostname or "").lower()
    if not policy.url_hosts:
        raise PolicyError("url_hosts", "URL specs are off (no url_hosts allowed)", spec=spec)
    if not _matches(host, policy.url_hosts):
        raise PolicyError("url_hosts", f"host {host!r} is not allowed", spec=spec)
    return host


async def _check_host(url: str, policy: Policy, spec: str) -> str:
    host = _allowed_host(url, policy, spec)
    try:
        addresses = await _addresses(host)
    except OSError as e:
        raise PolicyError("url_hosts", f"cannot resolve {host!r}: {e}", spec=spec) from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise PolicyError("url_hosts", f"{host!r} resolves to a private address", spec=spec)
    return host


async def _download(url: str, policy: Policy, spec: str) -> bytes:
    host = await _check_host(url, policy, spec)
    async with httpx.AsyncClient(follow_redirects=False, timeout=policy.url_timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if (urlsplit(target).hostname or "").lower() != host:
                        raise PolicyError(
                            "url_hosts", "redirect to another host refused", spec=spec
                        )
                    url = target
                    await _check_host(url, policy, spec)
                    continue
                if response.status_code != 200:
                    raise PolicyError(
                        "url_hosts", f"fetching it returned HTTP {response.status_code}", spec=spec
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > policy.url_max_bytes:
                        raise PolicyError(
                            "url_max_bytes", f"larger than {policy.url_max_bytes} bytes", spec=spec
                        )
                return bytes(body)
    raise PolicyError("url_hosts", f"more than {MAX_REDIRECTS} redirects", spec=spec)


async def fetch(url: str, policy: Policy) -> str:
    """The document a URL spec names, fetched under ``policy`` (and cached)."""
    address, _, fragment = url.partition("#")
    pin = policy.url_pins.get(address)
    if fragment.startswith("sha256="):
        asked = fragment.removeprefix("sha256=").lower()
        if pin is not None and asked != pin.lower():  # the operator's pin wins
            raise PolicyError("url_pins", "the URL's sha256 differs from the pinned one", spec=url)
        pin = asked
    _allowed_host(address, policy, url)  # before the cache: the operator may have changed hosts
    hit = _cache.get(address)
    if hit is not None and hit[0] > time.monotonic():
        body = hit[1]
    else:
        body = await _fetch(address, policy, url)
        while len(_cache) >= CACHE_SIZE:  # the oldest entry goes first
            del _cache[next(iter(_cache))]
        _cache[address] = (time.monotonic() + policy.url_ttl, body)
    # Checked on every use, cached or not: another request may name the URL with another pin.
    if pin is not None and hashlib.sha256(body).hexdigest() != pin.lower():
        raise PolicyError("url_pins", "the document does not match its sha256 pin", spec=url)
    return body.decode("utf-8", "replace")


async def _fetch(address: str, policy: Policy, url: str) -> bytes:
    try:
        return await asyncio.wait_for(_download(address, policy, url), policy.url_timeout)
    except (asyncio.TimeoutError, httpx.TimeoutException):  # distinct classes before 3.11
        raise PolicyError(
            "url_timeout", f"not fetched within {policy.url_timeout}s", spec=url
        ) from None
    except httpx.HTTPError as e:
        raise PolicyError(
            "url_hosts", f"fetching it failed: {type(e).__name__}", spec=url
        ) from None
