"""The one Origin check: a browser sends its page's origin with a form post and with a
websocket handshake, so a page of another site that makes a visitor's browser post to a
patient's ticket, join a queue or open a staff feed with the staff member's cookies gives
itself away here."""

from __future__ import annotations

from urllib.parse import urlsplit

from sanic import Request

from web.deps import container_of


def foreign_origin(request: Request) -> bool:
    """The request comes from a page of another site.

    Without an Origin header it is not a browser acting for another site (programs, and the
    pages' own same-origin requests in some browsers, send none). Otherwise the origin must
    be exactly `scheme://host[:port]` of this server, as the browser reached it or as
    published: `null` (a sandboxed or privacy-stripped page), a value without a scheme and
    one with anything after the host are all foreign."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    scheme, separator, host = origin.partition("://")
    own = {request.host, urlsplit(container_of(request).settings.base_url).netloc}
    return not (scheme and separator and host in own)
