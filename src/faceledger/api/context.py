"""What every request handler reaches through ``request.app.state.ctx``: one object built
by :func:`faceledger.api.app.create_app`, never module-level state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from .keys import KeyStore
from .metrics import Metrics
from .runs import IngestRuns

log = logging.getLogger("faceledger.api")


@dataclass
class AppContext:
    settings: Settings
    store: Any  # faceledger.store.store.Store
    keys: KeyStore
    runs: IngestRuns
    metrics: Metrics = field(default_factory=Metrics)
    owns_store: bool = True

    # -- audit of key use ---------------------------------------------------------------

    def audit_use(self, principal: Any, method: str, path: str) -> None:
        inputs = {"method": method, "route": path, "role": principal.role.value}
        self._append("api_key_use", principal.actor, inputs, {"allowed": True})

    def audit_refusal(self, principal: Any, method: str, path: str, code: str) -> None:
        actor = principal.actor if principal is not None else "anonymous"
        inputs = {"method": method, "route": path}
        if principal is not None:
            inputs["role"] = principal.role.value
        self._append("api_key_refused", actor, inputs, {"allowed": False, "code": code})

    def _append(self, action: str, actor: str, inputs: dict, outputs: dict) -> None:
        self.store.audit.append(action=action, actor=actor, inputs=inputs, outputs=outputs)

    def close(self) -> None:
        self.runs.shutdown()
        self.keys.close()
        if self.owns_store:
            self.store.close()
