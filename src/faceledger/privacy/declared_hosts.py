"""The web hosts a URL list declares, and the one check every http(s) URL it names passes.

A URL list is a targeted source only while it fetches from the controller's own servers, so
the source declares them when it is added (``--host https://photos.example.org``) and every
URL, and every redirect, must name one of them exactly: same scheme, same host, same port.
A bare ``host[:port]`` declares HTTPS only; plain HTTP must be declared as ``http://``.

Hosts are compared as written, after one canonical spelling, never after DNS: a name is not
its address and an address is not a name. What a hostile list could use to reach another
server is refused outright, with the reason:

- user info (``http://declared.host@evil/`` goes to ``evil``), backslashes (which some
  parsers read as ``/``), whitespace and control characters;
- an IP address in any spelling but the canonical one (``127.1``, ``0x7f.0.0.1``,
  ``2130706433``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``), IPv6 zone ids;
- host names that are not plain ASCII letters, digits and hyphens (IDN must be written in
  its ``xn--`` form), and schemes other than http and https.

What an accepted name resolves to is checked by the fetcher
(:mod:`faceledger.pipeline.http_fetch`).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from ..errors import LawfulBasisError, PhotoRefusedError

SCHEMES = {"http": 80, "https": 443}
MAX_URL = 8192
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class DeclaredHost:
    scheme: str  # http | https
    host: str  # a lowercase name, or an IP address in its canonical form (IPv6 unbracketed)
    port: int

    @property
    def is_address(self) -> bool:
        """Declared as an IP address (then no DNS is asked, and any address may be named)."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def canonical_host(raw: str) -> str:
    """The one spelling of a URL's host, or ValueError naming why it is refused."""
    if not raw:
        raise ValueError("names no host")
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1]
        if "%" in inner:
            raise ValueError(f"host {raw} carries an IPv6 zone id; refused")
        try:
            addr = ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise ValueError(f"host {raw} is not an IPv6 address") from exc
        if addr.ipv4_mapped is not None:
            raise ValueError(
                f"host {raw} is an IPv4 address written as IPv6; write {addr.ipv4_mapped}"
            )
        return addr.compressed
    host = raw.lower()
    if host.endswith("."):
        host = host[:-1]  # the root label: the same name
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):  # parsed as an IPv4 address by browsers and libc
        try:
            addr4 = ipaddress.IPv4Address(host)
        except ValueError:
            addr4 = None
        if addr4 is None or str(addr4) != host:
            raise ValueError(
                f"host {raw} is an IP address in a non-canonical spelling (octal, hex, "
                "short or integer forms are refused); write it as a.b.c.d"
            )
        return host
    if not all(_LABEL.match(label) for label in labels) or len(host) > 253:
        raise ValueError(
            f"host {raw!r} is not a plain host name (ASCII letters, digits and hyphens; "
            "write an international name in its xn-- form)"
        )
    return host


def _split(url: str) -> urllib.parse.SplitResult:
    if len(url) > MAX_URL:
        raise ValueError(f"is longer than {MAX_URL} characters")
    if _FORBIDDEN.search(url):
        raise ValueError("holds whitespace, control characters or a backslash")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"scheme {parts.scheme or '(none)'!r} is not fetched; only http:// and https:// "
            "URLs on a declared host are read"
        )
    if "@" in parts.netloc:
        raise ValueError(
            "carries user info before '@' (a URL like http://declared.host@other/ goes to "
            "'other'); refused"
        )
    return parts


def _port(parts: urllib.parse.SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from exc
    return port if port is not None else SCHEMES[parts.scheme.lower()]


def parse_declared_host(text: str) -> DeclaredHost:
    """``https://host[:port]``, ``http://host[:port]`` or a bare ``host[:port]`` (HTTPS)."""
    raw = text.strip()
    spelled = raw if "://" in raw else f"https://{raw}"
    try:
        parts = _split(spelled)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("declares a path, query or fragment; declare only scheme://host:port")
        host = canonical_host(_bracketed(parts))
        port = _port(parts)
    except ValueError as exc:
        raise LawfulBasisError(f"declared host {text!r} refused: {exc}") from exc
    return DeclaredHost(parts.scheme.lower(), host, port)


def parse_declared_hosts(texts) -> tuple[DeclaredHost, ...]:
    out: dict[DeclaredHost, None] = {}
    for text in texts or ():
        out.setdefault(parse_declared_host(text), None)
    return tuple(out)


def _bracketed(parts: urllib.parse.SplitResult) -> str:
    """The host as written in the URL (IPv6 keeps its brackets, case kept)."""
    netloc = parts.netloc
    if netloc.startswith("["):
        end = netloc.find("]")
        return netloc[: end + 1] if end > 0 else netloc
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def is_web_url(text: str) -> bool:
    """Does this line of a URL list name an http(s) URL (to be checked as one)?"""
    return urllib.parse.urlsplit(text.strip()).scheme.lower() in SCHEMES


def check_url(url: str, hosts: tuple[DeclaredHost, ...], label: str | None = None,
              ) -> tuple[DeclaredHost, str]:
    """The declared host ``url`` goes to and the request target (path and query), or
    :class:`PhotoRefusedError` naming why it is refused."""
    label = label or url
    try:
        parts = _split(url)
        host = canonical_host(_bracketed(parts))
        port = _port(parts)
    except ValueError as exc:
        raise PhotoRefusedError(f"{label}: {exc}") from exc
    target = DeclaredHost(parts.scheme.lower(), host, port)
    if target not in hosts:
        declared = ", ".join(str(h) for h in hosts) or "none"
        raise PhotoRefusedError(
            f"{label}: {target} is not a host this source declares (declared: {declared}); "
            "only listed URLs on declared hosts are fetched"
        )
    path = parts.path or "/"
    return target, path + (f"?{parts.query}" if parts.query else "")
