"""What every request handler reaches through ``request.app.state.ctx``: one object built
by :func:`faceledger.api.app.create_app`, never module-level state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from .keys import KeyStore
from .metrics import Metrics
from .ratelimit import AuthRateLimiter
from .refusals import RefusalAudit
from .runs import IngestRuns

log = logging.getLogger("faceledger.api")


@dataclass
class AppContext:
    settings: Settings
    store: Any  # faceledger.ledger.Store
    keys: KeyStore
    runs: IngestRuns
    metrics: Metrics = field(default_factory=Metrics)
    owns_store: bool = True
    limiter: AuthRateLimiter = field(default_factory=AuthRateLimiter)
    refusals: RefusalAudit = field(init=False)
    refusal_window_s: float = 60.0
    webhooks: Any = None  # faceledger.subjects.webhooks.WebhookDispatcher, while serving
    compactor: Any = None  # faceledger.store.compactor.BackgroundCompactor, while serving

    def __post_init__(self) -> None:
        self.refusals = RefusalAudit(self._append, window_s=self.refusal_window_s)

    # -- audit of key use ---------------------------------------------------------------

    def audit_use(self, principal: Any, method: str, path: str) -> None:
        inputs = {"method": method, "route": path, "role": principal.role.value}
        self._append("api_key_use", principal.actor, inputs, {"allowed": True})

    def audit_refusal(self, principal: Any, method: str, path: str, code: str,
                      client: str = "unknown") -> None:
        """A refusal without a valid credential is aggregated per client (see
        :mod:`faceledger.api.refusals`): that is what a flood of bogus keys looks like. A
        refusal of a valid key (a role or CSRF refusal) is written at once, like each of
        its allowed uses: it names a key that can be revoked."""
        if principal is None:
            self.refusals.record(client, "anonymous", method, path, code)
            return
        inputs = {"method": method, "route": path, "role": principal.role.value,
                  "client": client}
        self._append("api_key_refused", principal.actor, inputs, {"allowed": False, "code": code})

    def _append(self, action: str, actor: str, inputs: dict, outputs: dict) -> None:
        self.store.audit.append(action=action, actor=actor, inputs=inputs, outputs=outputs)

    def start_webhooks(self) -> None:
        from ..subjects.webhooks import WebhookDispatcher

        if self.webhooks is None:
            self.webhooks = WebhookDispatcher(self.store).start()
            self.store.webhook_dispatcher = self.webhooks

    def start_compactor(self, interval_s: float | None = None) -> None:
        from ..store.compactor import DEFAULT_INTERVAL_S, BackgroundCompactor

        if self.compactor is None:
            self.compactor = BackgroundCompactor(
                self.store.index_file, interval_s or DEFAULT_INTERVAL_S).start()

    def close(self) -> None:
        if self.compactor is not None:
            self.compactor.stop()
            self.compactor = None
        if self.webhooks is not None:
            self.webhooks.stop()
            self.store.webhook_dispatcher = None
            self.webhooks = None
        self.runs.shutdown()
        self.refusals.flush_all()
        self.keys.close()
        if self.owns_store:
            self.store.close()
