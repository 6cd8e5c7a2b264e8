"""Webhooks for alerts: checked URLs, signed bodies, retries from the outbox.

**Which URLs.** Only ``http`` and ``https``; no user name or password in the URL, no
fragment, no control characters or spaces, at most 2,048 characters; and the host (with
its port, if the setting names one) must be one the operator allowed
(``FACELEDGER_WEBHOOK_ALLOWED_HOSTS``, comma-separated ``host`` or ``host:port``; empty:
no webhook is accepted). The URL is checked when a watch is registered and again before
every delivery (an operator may have withdrawn the host since). Redirects are followed
only to the same scheme, host and port (at most three), checked again; a redirect
anywhere else fails the attempt. So the server cannot be made to call an internal
service, a cloud metadata address or any host the operator did not name.

**Signature.** Each delivery is a JSON body with the headers ``X-Faceledger-Timestamp``
(Unix seconds), ``X-Faceledger-Signature: sha256=<hex>`` where the hex is
``HMAC-SHA256(watch secret, "<timestamp>." + body)``, and ``X-Faceledger-Alert`` (the
alert id, for deduplication). A receiver checks the signature over the raw body and
refuses timestamps older than a few minutes (:func:`verify_signature`), so a captured
delivery cannot be replayed later. The secret is random per watch, given once when the
watch is registered and kept encrypted with the store's key.

**Delivery.** Ingest only writes the alert and its outbox row (``webhook_outbox``, in the
same catalog transaction); :class:`WebhookDispatcher` delivers from the outbox in a
background thread. A failed attempt (refused URL, network error, a status other than 2xx)
is retried after ``base x 2^(attempt - 1)`` seconds (``FACELEDGER_WEBHOOK_RETRY_BASE_S``,
2 s by default, at most an hour), up to ``FACELEDGER_WEBHOOK_MAX_ATTEMPTS`` (6); then
the delivery is marked failed. Every attempt is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from ..errors import FaceLedgerError, InvalidRequestError
from ..store.catalog import utc_now
from ..store.subjects import Delivery, SubjectTables, watch_secret_aad
from .parts import SubjectParts

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("faceledger.webhooks")

MAX_URL = 2048
MAX_REDIRECTS = 3
TIMEOUT_S = 5.0
MAX_BACKOFF_S = 3600.0
SIGNATURE_HEADER = "X-Faceledger-Signature"
TIMESTAMP_HEADER = "X-Faceledger-Timestamp"
ALERT_HEADER = "X-Faceledger-Alert"
DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_hosts(settings: Settings) -> set[tuple[str, int | None]]:
    """The operator's allowed webhook hosts as (host, port or None for any port)."""
    out: set[tuple[str, int | None]] = set()
    for item in (settings.webhook_allowed_hosts or "").split(","):
        item = item.strip().lower()
        if not item:
            continue
        host, port = item, None
        if item.startswith("["):  # [::1]:8080
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        elif item.count(":") == 1:
            host, _, raw = item.partition(":")
            port = int(raw) if raw.isdigit() else None
        out.add((host, port))
    return out


def check_webhook_url(url: object, settings: Settings) -> str:
    """``url`` if a webhook may be sent there (see the module docstring); else
    :class:`InvalidRequestError` naming the reason."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequestError("the webhook URL is empty")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidRequestError(f"the webhook URL is longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F or ord(c) > 0x7E for c in url):
        raise InvalidRequestError("the webhook URL holds spaces, control or non-ASCII "
                                  "characters (percent-encode them)")
    if "\\" in url:
        raise InvalidRequestError("the webhook URL holds a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequestError(f"the webhook URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidRequestError(f"a webhook must be http or https, not {scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRequestError("a webhook URL may not hold a user name or password")
    if parts.fragment or "#" in url:
        raise InvalidRequestError("a webhook URL may not hold a fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidRequestError("the webhook URL names no host")
    allowed = allowed_hosts(settings)
    if not allowed:
        raise InvalidRequestError("no webhook host is allowed on this server (the operator "
                                  "sets FACELEDGER_WEBHOOK_ALLOWED_HOSTS)")
    effective = port if port is not None else DEFAULT_PORTS[scheme]
    if (host, None) not in allowed and (host, effective) not in allowed:
        raise InvalidRequestError(f"webhook host {host}:{effective} is not one the operator "
                                  "allowed (FACELEDGER_WEBHOOK_ALLOWED_HOSTS)")
    return url


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(int(timestamp)).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str,
                     now: float | None = None, tolerance_s: float = 300.0) -> bool:
    """What a receiver checks: the signature over the raw body and a fresh timestamp."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), str(signature))


def alert_body(d: Delivery) -> bytes:
    """What the receiver is told: which watch, which alert, how sure, where (source and
    ids only: no photo, no crop, no template)."""
    return json.dumps({
        "event": "faceledger.watch.alert", "alert_id": d.alert_id, "watch_id": d.watch_id,
        "label": d.label, "face_id": d.face_id, "photo_id": d.photo_id, "source": d.source,
        "similarity": round(d.similarity, 4), "decision": "match", "far": d.far,
        "created_at": d.created_at,
    }, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str | None


def post_signed(url: str, secret: bytes, body: bytes, alert_id: int, settings: Settings,
                client: httpx.Client, now: float | None = None) -> Attempt:
    """One delivery attempt: POST, following same-origin redirects only."""
    ts = int(time.time() if now is None else now)
    headers = {"content-type": "application/json", TIMESTAMP_HEADER: str(ts),
               SIGNATURE_HEADER: sign(secret, ts, body), ALERT_HEADER: str(alert_id),
               "user-agent": "faceledger-webhook/1"}
    target = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_webhook_url(target, settings)
        except InvalidRequestError as exc:
            return Attempt(False, None, exc.message)
        try:
            with client.stream("POST", target, content=body, headers=headers) as response:
                status = response.status_code
                location = response.headers.get("location")
                for _chunk in response.iter_bytes(4096):  # read at most a little of it
                    break
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {str(exc)[:200]}")
        if 200 <= status < 300:
            return Attempt(True, status, None)
        if status in (301, 302, 303, 307, 308) and location:
            nxt = urljoin(target, location)
            if _origin(nxt) != _origin(target):
                return Attempt(False, status, "redirect to another host refused")
            target = nxt
            continue
        return Attempt(False, status, f"HTTP {status}")
    return Attempt(False, None, "too many redirects")


def backoff(settings: Settings, attempts: int) -> float:
    return min(MAX_BACKOFF_S, settings.webhook_retry_base_s * 2 ** max(0, attempts - 1))


def deliver_due(store: SubjectParts, now: float | None = None, limit: int = 50,
                client: httpx.Client | None = None) -> dict[str, int]:
    """Attempt every delivery that is due; counts of delivered, retried and failed."""
    table = SubjectTables(store.catalog)
    now = time.time() if now is None else now
    due = table.due_deliveries(now, limit)
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    if not due:
        return counts
    own = client is None
    client = client or httpx.Client(follow_redirects=False, timeout=TIMEOUT_S, trust_env=False)
    try:
        for d in due:
            try:
                secret = store.cipher.decrypt_blob(d.secret_blob, watch_secret_aad(d.watch_id))
                attempt = post_signed(d.webhook_url, secret, alert_body(d), d.alert_id,
                                      store.settings, client)
            except FaceLedgerError as exc:
                attempt = Attempt(False, None, exc.message)
            tries = d.attempts + 1
            if attempt.ok:
                state, nxt, counts["delivered"] = "delivered", now, counts["delivered"] + 1
            elif tries >= store.settings.webhook_max_attempts:
                state, nxt, counts["failed"] = "failed", now, counts["failed"] + 1
            else:
                state, nxt = "pending", now + backoff(store.settings, tries)
                counts["retried"] += 1
            table.mark_delivery(d.alert_id, state, tries, nxt, attempt.error,
                                utc_now() if attempt.ok else None)
            store.record("webhook_delivery", "system", purpose="watch alert delivery",
                         inputs={"alert_id": d.alert_id, "watch_id": d.watch_id,
                                 "attempt": tries},
                         outputs={"state": state, "status": attempt.status,
                                  "error": attempt.error})
    finally:
        if own:
            client.close()
    return counts


class WebhookDispatcher:
    """Delivers from the outbox in a background thread until stopped; :meth:`wake` makes it
    look now (after an ingest batch raised alerts) instead of at its next poll."""

    def __init__(self, store: SubjectParts, poll_s: float = 1.0) -> None:
        self.store = store
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WebhookDispatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="faceledger-webhooks",
                                            daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(follow_redirects=False, timeout=TIMEOUT_S, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    deliver_due(self.store, client=client)
                except Exception:  # the thread must outlive one bad pass; it is logged
                    log.exception("webhook delivery pass failed")
                self._wake.wait(self.poll_s)
                self._wake.clear()
