"""URL specs: ``mixture/https://host/path/spec.yaml``, off unless the operator allow-lists hosts.

https only; port 443 unless ``url_hosts`` names another (``host:8443``); redirects only within
the same host and port; no private, loopback or link-local addresses; capped in size and time;
cached for ``url_ttl`` seconds; optionally pinned to a sha256 digest (``url_pins`` in the policy,
or ``#sha256=<hex>`` at the end of the URL). URLs are compared in canonical form, so
``https://HOST:443/a/../spec.yaml?`` is the pinned ``https://host/spec.yaml``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import posixpath
import re
import socket
import time
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from ..common.state import STATE
from .policy import Policy, PolicyError, _matches

MAX_REDIRECTS = 3
CACHE_SIZE = 128
DEFAULT_PORT = 443
# %XX escapes of characters that need none (RFC 3986 section 2.3): decoded in canonical form.
_UNRESERVED = re.compile(r"%(2[DdEe]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|5[Ff]|7[Ee])")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_PORTED = re.compile(r":(\d+|\*)$")


def _path(path: str) -> str:
    """The path with dot segments resolved and escapes normalized (case, needless ones)."""
    path = _UNRESERVED.sub(lambda m: chr(int(m[1], 16)), path)
    path = _ESCAPE.sub(lambda m: m[0].upper(), path)
    resolved = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
    resolved = "/" + resolved.lstrip("/")  # normpath keeps a leading '//'
    return resolved + ("/" if path.endswith("/") and resolved != "/" else "")


def canonical(url: str, spec: str = "") -> tuple[str, str, int]:
    """``url`` as (canonical URL, host, port): scheme and host lowercased, the default port,
    an empty query and the fragment dropped, dot segments resolved. User info is refused."""
    try:
        parts = urlsplit(url.strip())
        port = DEFAULT_PORT if parts.port is None else parts.port
    except ValueError as e:
        raise PolicyError("url_hosts", f"not a valid URL: {e}", spec=spec) from None
    if parts.scheme != "https":
        raise PolicyError(
            "url_hosts", f"only https URLs are allowed, not {parts.scheme}:", spec=spec
        )
    if parts.username is not None or parts.password is not None:
        raise PolicyError("url_hosts", "URLs with user info (user@host) are refused", spec=spec)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise PolicyError("url_hosts", "the URL names no host", spec=spec)
    netloc = f"[{host}]" if ":" in host else host
    netloc += "" if port == DEFAULT_PORT else f":{port}"
    return urlunsplit(SplitResult("https", netloc, _path(parts.path), parts.query, "")), host, port


def _host_allowed(host: str, port: int, patterns: tuple[str, ...]) -> bool:
    """A pattern without a port allows the default port only; ``host:8443`` names another."""
    if port == DEFAULT_PORT:
        plain = tuple(p for p in patterns if not _PORTED.search(p))
        return _matches(host, plain) or _matches(f"{host}:{port}", patterns)
    return _matches(f"{host}:{port}", tuple(p for p in patterns if _PORTED.search(p)))


async def _addresses(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    # An IPv4 or IPv6 address is a string (typeshed's sockaddr also admits other families' ints).
    return [str(info[4][0]) for info in infos]


def _allowed_host(url: str, policy: Policy, spec: str) -> tuple[str, int]:
    _, host, port = canonical(url, spec)
    if not policy.url_hosts:
        raise PolicyError("url_hosts", "URL specs are off (no url_hosts allowed)", spec=spec)
    if not _host_allowed(host, port, policy.url_hosts):
        where = host if port == DEFAULT_PORT else f"{host}:{port}"
        raise PolicyError("url_hosts", f"host {where!r} is not allowed", spec=spec)
    return host, port


async def _check_host(url: str, policy: Policy, spec: str) -> tuple[str, int]:
    host, port = _allowed_host(url, policy, spec)
    try:
        addresses = await _addresses(host)
    except OSError as e:
        raise PolicyError("url_hosts", f"cannot resolve {host!r}: {e}", spec=spec) from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise PolicyError("url_hosts", f"{host!r} resolves to a private address", spec=spec)
    return host, port


async def _download(url: str, policy: Policy, spec: str) -> bytes:
    origin = await _check_host(url, policy, spec)
    async with httpx.AsyncClient(follow_redirects=False, timeout=policy.url_timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if canonical(target, spec)[1:] != origin:
                        raise PolicyError(
                            "url_hosts", "redirect to another host or port refused", spec=spec
                        )
                    url = canonical(target, spec)[0]
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


def _pin(address: str, policy: Policy) -> str | None:
    """The operator's pin for ``address`` (canonical), however the operator spelled the URL."""
    for pinned, digest in policy.url_pins.items():
        try:
            if canonical(pinned)[0] == address:
                return digest
        except PolicyError:
            continue  # an http:// or malformed pin matches no fetchable URL
    return None


async def fetch(url: str, policy: Policy) -> str:
    """The document a URL spec names, fetched under ``policy`` (and cached)."""
    address, _, fragment = url.partition("#")
    # Before the cache: the operator may have changed hosts.
    _allowed_host(address, policy, url)
    address = canonical(address, url)[0]
    pin = _pin(address, policy)
    if fragment.startswith("sha256="):
        asked = fragment.removeprefix("sha256=").lower()
        if pin is not None and asked != pin.lower():  # the operator's pin wins
            raise PolicyError("url_pins", "the URL's sha256 differs from the pinned one", spec=url)
        pin = asked
    hit = STATE.fetched.get(address)
    if hit is not None and hit[0] > time.monotonic():
        body = hit[1]
    else:
        body = await _fetch(address, policy, url)
        while len(STATE.fetched) >= CACHE_SIZE:  # the oldest entry goes first
            del STATE.fetched[next(iter(STATE.fetched))]
        STATE.fetched[address] = (time.monotonic() + policy.url_ttl, body)
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
