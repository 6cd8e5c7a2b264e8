"""Cross-site request forgery: where a browser request comes from, and its CSRF token.

Browsers attach cookies to requests that other pages make. SameSite=Strict stops other
*sites*, but not other *origins of the same site*: a page on another port of the same host
is same-site, and its requests carry this server's cookies. So:

1. **Origin check** (:func:`check_origin`), on every state-changing request (anything but
   GET, HEAD, OPTIONS): a request that a browser marks as coming from another origin is
   refused, whatever credential it carries. The evidence, in order: ``Sec-Fetch-Site``
   (set by the browser, no page can forge it: only ``same-origin`` passes), then
   ``Origin`` (``null``, an opaque origin, does not pass), then ``Referer``. "Same origin"
   means same scheme, host *and port*. A request with none of these is a non-browser
   client; it passes here, unless ``require_browser_evidence`` (cookie sessions and the
   sign-in form, whose requests always come from a browser).
2. **CSRF token**: a request authenticated by the session cookie must carry the session's
   token (``X-CSRF-Token`` header, or the ``csrf_token`` field of a form); the sign-in form,
   which has no session yet, carries a one-off token that must equal its pre-session cookie.
   A page of another origin cannot read either.

Requests authenticated by ``Authorization`` or ``X-API-Key`` need no token: a browser never
adds those headers by itself, so another page cannot make it send them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from ..errors import ForbiddenError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CrossOriginError(ForbiddenError):
    code = "cross_origin"


class CsrfError(ForbiddenError):
    code = "csrf_failed"


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def own_origin(request: Request) -> tuple[str, str, int] | None:
    """This server's origin as the browser addressed it (scheme, Host header)."""
    host = request.headers.get("host", "")
    return _origin_of(f"{request.url.scheme}://{host}") if host else None


def check_origin(request: Request, require_browser_evidence: bool = False) -> None:
    """Refuse a state-changing request a browser sent from another origin."""
    if request.method in SAFE_METHODS:
        return
    mine = own_origin(request)
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if fetch_site:
        if fetch_site != "same-origin":
            raise CrossOriginError(
                f"refused: this request was sent by a page of another origin "
                f"(Sec-Fetch-Site: {fetch_site})")
        # our own form posts say Origin: null under Referrer-Policy no-referrer; a real
        # origin that differs still refuses
        if origin and origin != "null" and _origin_of(origin) != mine:
            raise CrossOriginError(f"refused: Origin {origin} is not this server's origin")
        return
    if origin is not None:
        if origin == "null" or mine is None or _origin_of(origin) != mine:
            raise CrossOriginError(f"refused: Origin {origin} is not this server's origin")
        return
    if referer:
        if mine is None or _origin_of(referer) != mine:
            raise CrossOriginError("refused: the Referer is not a page of this server")
        return
    if require_browser_evidence:
        raise CrossOriginError("refused: a browser request without Origin or Sec-Fetch-Site")


def check_resource_fetch(request: Request) -> None:
    """A cookie-authenticated read of the API (a crop, a photo, the audit log) only from
    this origin's own pages; top-level navigations (opening a link) are fine."""
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    mode = request.headers.get("sec-fetch-mode", "").strip().lower()
    if fetch_site in ("", "same-origin", "none") or mode == "navigate":
        return
    raise CrossOriginError(
        f"refused: a page of another origin (Sec-Fetch-Site: {fetch_site}) may not use "
        "this browser's session")


async def presented_token(request: Request) -> str:
    """The CSRF token from the header, or from a urlencoded form's ``csrf_token`` field."""
    token = request.headers.get(CSRF_HEADER, "")
    if token:
        return token.strip()
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value.strip() if isinstance(value, str) else ""
    return ""
