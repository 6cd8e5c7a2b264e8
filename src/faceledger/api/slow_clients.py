"""Deadlines for slow clients: uvicorn reads a request's head and body for as long as the client
keeps sending, so a client that drips one byte every few seconds (slowloris) holds a connection,
and its file descriptor, forever. This HTTP/1.1 protocol gives every connection two clocks:

- the **head** (request line and headers) must arrive within ``head_timeout`` seconds of the
  connection opening, or of the previous response ending; a client that sent part of a head is
  answered 408 and closed, one that sent nothing is closed;
- the **body** must arrive within ``body_timeout`` seconds in all, with no gap longer than
  ``body_idle_timeout``; otherwise the connection is closed, which the app sees as the client
  leaving (a ``ClientDisconnect``, answered quietly by ``api/errors.py``).

While the app works on a request (the body is in), no clock runs: a long search is not cut.
Idle keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``.

    config = uvicorn.Config(app, http=guarded_protocol(), ...)
"""

from __future__ import annotations

from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0
BODY_TIMEOUT = 300.0  # a photo upload at the API's size limit over a slow link
BODY_IDLE_TIMEOUT = 20.0

_TIMEOUT_TEXT = b"the request took too long to send\n"
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                    % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT))


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head and one for the body."""

    head_timeout = HEAD_TIMEOUT
    body_timeout = BODY_TIMEOUT
    body_idle_timeout = BODY_IDLE_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None  # "head" | "body" | None (the app has the request)
        self._phase_deadline = 0.0
        self._last_data = 0.0
        self._timer: Any = None

    # -- uvicorn's hooks ------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # -- the clocks -----------------------------------------------------------------------
    def _follow(self) -> None:
        """Set the clock for what the connection waits for now."""
        if self.transport is None or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        phase = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if phase != self._phase:
            self._phase = phase
            now = self.loop.time()
            self._last_data = now
            self._phase_deadline = now + (self.head_timeout if phase == "head"
                                          else self.body_timeout)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        if self._phase is None:
            return
        due = self._phase_deadline
        if self._phase == "body":
            due = min(due, self._last_data + self.body_idle_timeout)
        self._timer = self.loop.call_at(due, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing() or self._phase is None:
            return
        now = self.loop.time()
        late = now >= self._phase_deadline or (
            self._phase == "body" and now >= self._last_data + self.body_idle_timeout)
        if self._phase == "body" and self.flow.read_paused:
            self._last_data = now  # the app has not read what came: the wait is ours
            late = now >= self._phase_deadline
        if not late:
            self._arm()
            return
        if self._phase == "head" and self.conn.trailing_data[0]:
            self.transport.write(_REQUEST_TIMEOUT)  # part of a head came: say why
        self.transport.close()


def guarded_protocol(head_timeout: float = HEAD_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
                     body_idle_timeout: float = BODY_IDLE_TIMEOUT) -> type[DeadlineH11Protocol]:
    """The protocol class with these deadlines (seconds), for ``uvicorn.Config(http=...)``."""
    if min(head_timeout, body_timeout, body_idle_timeout) <= 0:
        raise ValueError("the HTTP deadlines must be positive")
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {
        "head_timeout": float(head_timeout), "body_timeout": float(body_timeout),
        "body_idle_timeout": float(body_idle_timeout)})
