"""Fetch one photo of a URL list from a host the source declares, and nothing else.

Only the URL written in the list is requested; the body is never parsed for links. Each
hop (the URL, then each redirect, at most ``max_redirects``) passes
:func:`~faceledger.privacy.declared_hosts.check_url` against the source's declared hosts,
so a redirect may not leave them, change scheme or port, or go to ``file://``.

Where the request goes:
- a host declared as an IP address is connected to as it is;
- a declared name is resolved once per hop, and every address it resolves to must be
  public (``is_global``): a name that leads to loopback, private, link-local (cloud
  metadata at 169.254.169.254), multicast or reserved addresses is refused, so a DNS record
  cannot turn a declared name into a way into the controller's own network. A server on
  such an address is declared by its address. The socket is opened to the address that was
  checked (no second lookup that DNS rebinding could answer differently); HTTPS verifies
  the certificate against the name.

Limits, all per photo (:class:`HttpLimits`): a connect timeout, a read timeout for each
wait on the socket, and a total deadline over every attempt, redirect and byte, enforced by a
watchdog that shuts the socket down (a server that drips a byte at a time, in the headers or
the body, is cut off there). The body is refused on its ``Content-Length`` before a byte of
it is read, and reading stops past the byte limit whatever the headers said (chunked or
endless bodies). The response must declare an image media type (or
``application/octet-stream``; the decoder decides the format from the bytes) and no content
encoding. 5xx answers and dropped or refused connections are retried with exponential backoff
and jitter inside the deadline; 4xx answers, refusals and a missed deadline are not.

Every failure is a :class:`~faceledger.errors.FaceLedgerError` naming the URL and the reason,
recorded as that photo's error; it never stops the run.
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from ..errors import (
    FaceLedgerError,
    ImageTooLargeError,
    PhotoFetchError,
    PhotoRefusedError,
)
from ..images.files import read_capped
from ..privacy.declared_hosts import DeclaredHost, check_url

CHUNK = 1 << 16
REDIRECTS = {301, 302, 303, 307, 308}
MEDIA_TYPES = {
    "image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/gif", "image/bmp",
    "image/x-ms-bmp", "image/tiff", "image/heic", "image/heif", "image/heic-sequence",
    "image/heif-sequence", "image/avif", "application/octet-stream",
}
USER_AGENT = "faceledger (targeted URL-list fetch; follows no links)"


@dataclass(frozen=True)
class HttpLimits:
    connect_seconds: float = 5.0
    read_seconds: float = 15.0  # one wait on the socket
    total_seconds: float = 60.0  # everything for one photo: attempts, redirects, bytes
    retries: int = 3  # further attempts after a transient failure
    backoff_seconds: float = 0.5  # doubled each retry, with jitter
    max_redirects: int = 5


class _Transient(Exception):
    """A failure worth another attempt (5xx, a dropped or refused connection, a timeout)."""


class _Watchdog:
    """Shuts a socket down when the photo's deadline passes, whatever it is waiting for."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()


def fetch_url(url: str, hosts: tuple[DeclaredHost, ...], max_bytes: int,
              limits: HttpLimits = HttpLimits()) -> bytes:
    """The body of ``url``, fetched under every rule above."""
    deadline = time.monotonic() + limits.total_seconds
    check_url(url, hosts)  # refused before anything is resolved or sent
    attempt = 0
    while True:
        try:
            return _follow(url, hosts, max_bytes, limits, deadline)
        except _Transient as exc:
            attempt += 1
            if attempt > limits.retries:
                raise PhotoFetchError(
                    f"{url}: {exc} (gave up after {attempt} attempts)"
                ) from None
            delay = limits.backoff_seconds * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if time.monotonic() + delay >= deadline:
                raise PhotoFetchError(
                    f"{url}: {exc}; no time left for another attempt within the "
                    f"{limits.total_seconds:g} s limit"
                ) from None
            time.sleep(delay)


def _follow(url: str, hosts: tuple[DeclaredHost, ...], max_bytes: int, limits: HttpLimits,
            deadline: float) -> bytes:
    current = url
    for _hop in range(limits.max_redirects + 1):
        target, path = check_url(current, hosts, label=_label(url, current))
        status, location, body = _request(url, target, path, max_bytes, limits, deadline)
        if status not in REDIRECTS:
            assert body is not None
            return body
        if not location:
            raise PhotoRefusedError(f"{_label(url, current)}: redirect {status} names no Location")
        nxt = urllib.parse.urljoin(current, location)
        try:
            check_url(nxt, hosts)
        except PhotoRefusedError as exc:
            raise PhotoRefusedError(
                f"{_label(url, current)}: redirects to {nxt[:200]!r}, which is refused: "
                f"{exc.message.removeprefix(nxt + ': ')}"
            ) from None
        current = nxt
    raise PhotoRefusedError(f"{url}: more than {limits.max_redirects} redirects; refused")


def _label(url: str, current: str) -> str:
    return url if current == url else f"{url} (redirected to {current[:200]})"


def resolve(target: DeclaredHost, label: str) -> list[str]:
    """The addresses to connect to for ``target``: its own if declared as an address, else
    what DNS answers, every one of which must be public."""
    if target.is_address:
        return [target.host]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _Transient(f"cannot resolve {target.host} ({exc.strerror or exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise PhotoRefusedError(
                f"{label}: the name {target.host} resolves to {address}, which is not a public "
                "address (loopback, private, link-local or reserved); a declared name may only "
                f"lead to public addresses; declare the server by its address to fetch from it"
            )
    if not addresses:
        raise _Transient(f"{target.host} resolves to no address")
    return addresses


def _connect(target: DeclaredHost, addresses: list[str], limits: HttpLimits, deadline: float,
             label: str) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            sock = socket.create_connection(
                (address, target.port), timeout=min(limits.connect_seconds, left)
            )
        except TimeoutError as exc:
            last = exc
            continue
        except OSError as exc:
            last = exc
            continue
        sock.settimeout(limits.read_seconds)
        if target.scheme != "https":
            return sock
        context = ssl.create_default_context()
        try:
            return context.wrap_socket(sock, server_hostname=target.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise PhotoRefusedError(
                f"{label}: the server's certificate does not verify for {target.host} "
                f"({exc.verify_message}); refused"
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            last = exc
    if isinstance(last, TimeoutError):
        raise _Transient(f"cannot connect to {target} within {limits.connect_seconds:g} s")
    raise _Transient(f"cannot connect to {target} ({last})")


def _request(url: str, target: DeclaredHost, path: str, max_bytes: int, limits: HttpLimits,
             deadline: float) -> tuple[int, str | None, bytes | None]:
    label = url
    if time.monotonic() >= deadline:
        raise PhotoFetchError(f"{label}: took longer than {limits.total_seconds:g} s; refused")
    sock = _connect(target, resolve(target, label), limits, deadline, label)
    dog = _Watchdog(sock, deadline - time.monotonic())
    https = target.scheme == "https"
    conn_cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
    conn = conn_cls(target.host, target.port, timeout=limits.read_seconds)
    conn.sock = sock  # the socket opened to the checked address
    try:
        conn.request("GET", path, headers={
            "User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity",
        })
        response = conn.getresponse()
        status = response.status
        if status in REDIRECTS:
            return status, response.getheader("Location"), None
        if status >= 500:
            raise _Transient(f"the server answered {status} {response.reason}")
        if status != 200:
            raise PhotoRefusedError(
                f"{label}: the server answered {status} {response.reason}; not retried"
            )
        length = _check_headers(response, max_bytes, label)
        body = _read_capped(response, max_bytes, label)
        if dog.fired:  # the socket was shut down under the read: whatever came is cut short
            raise PhotoFetchError(f"{label}: took longer than {limits.total_seconds:g} s; cut off")
        if length is not None and len(body) != length:
            raise _Transient(f"the connection closed after {len(body)} of {length} bytes")
        return status, None, body
    except FaceLedgerError:
        if dog.fired:
            raise PhotoFetchError(
                f"{label}: took longer than {limits.total_seconds:g} s; cut off"
            ) from None
        raise
    except _Transient:
        raise
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        if dog.fired:
            raise PhotoFetchError(
                f"{label}: took longer than {limits.total_seconds:g} s; cut off"
            ) from None
        if isinstance(exc, TimeoutError):
            raise _Transient(f"no data for {limits.read_seconds:g} s") from exc
        if isinstance(exc, http.client.IncompleteRead):
            raise _Transient("the connection closed before the body ended") from exc
        if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected)):
            raise _Transient(f"the connection was dropped ({type(exc).__name__})") from exc
        raise PhotoFetchError(
            f"{label}: the server's answer cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        dog.cancel()
        conn.close()


def _check_headers(response: http.client.HTTPResponse, max_bytes: int,
                   label: str) -> int | None:
    """Refuse the answer on its headers; the declared length, if any."""
    media = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise PhotoRefusedError(
            f"{label}: the server sent {media or 'no content type'!r}, not an image type; "
            "refused"
        )
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise PhotoRefusedError(
            f"{label}: the server sent the body with content encoding {encoding!r}; only "
            "unencoded bodies are read"
        )
    declared = response.getheader("Content-Length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise PhotoRefusedError(
                f"{label}: Content-Length {declared!r} is not a number"
            ) from None
        if length > max_bytes:
            raise ImageTooLargeError(
                f"{label}: the server declares {length} bytes, over the limit of {max_bytes} "
                "bytes; not downloaded"
            )
        return length
    return None


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, label: str) -> bytes:
    return read_capped(response.read, max_bytes,
                       f"{label}: the body runs past the limit of {max_bytes} bytes; cut off",
                       chunk=CHUNK)
