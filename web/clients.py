"""Who is on the other end: the client's address and whether it reached us over https.

Behind a reverse proxy every connection comes from the proxy, so its `X-Forwarded-For`
names the client; but any client can send that header, so it is believed only when the
connection comes from an address in `NEXTUP_TRUSTED_PROXIES`. The chain is read from the
right, skipping trusted proxies: the first address that is not one is the client.
"""

from __future__ import annotations

import ipaddress

from sanic import Request

from core.settings import IPNetwork
from web.deps import container_of


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def _proxies(request: Request) -> tuple[IPNetwork, ...]:
    return container_of(request).settings.trusted_proxy_networks


def peer_is_trusted_proxy(request: Request) -> bool:
    return _trusted(request.ip, _proxies(request))


def client_address(request: Request) -> str:
    """The client's IP address, as every limit and log keyed by address must use it."""
    proxies = _proxies(request)
    if not _trusted(request.ip, proxies):
        return request.ip
    forwarded = [
        a.strip() for a in request.headers.getall("x-forwarded-for", []) for a in a.split(",")
    ]
    for address in reversed([a for a in forwarded if a]):
        if not _trusted(address, proxies):
            return str(address[:64])  # what the nearest trusted proxy saw; kept to a sane size
    return request.ip


def over_https(request: Request) -> bool:
    """The client's connection is https: ours, or the trusted proxy's (`X-Forwarded-Proto`)."""
    if request.scheme in ("https", "wss"):
        return True
    if not peer_is_trusted_proxy(request):
        return False
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https"


def secure_cookies(request: Request) -> bool:
    """Cookies are set `Secure` when the server is published over https; a plain-http
    intranet address needs them without (browsers drop Secure cookies over http)."""
    return container_of(request).settings.base_url.startswith("https://")
