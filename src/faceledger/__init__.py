"""faceledger: a face search engine that only holds what it may lawfully hold.

    from faceledger import Settings, init_store, ActionContext
    store = init_store(Settings.from_env(data_dir="data"))
    store.add_source("events", location="/photos/events", controller="Acme Photo Ltd",
                     lawful_basis="consent", special_category_condition="explicit-consent",
                     purpose="attendees find their own photos", retention_days=365,
                     minors_policy="none-expected")
    store.ingest("events")
    results = store.search("probe.jpg", context=ActionContext("me", "find my photos", "REQ-1"))
"""

from .config import Settings
from .errors import FaceLedgerError
from .ledger import Store, init_store, open_store
from .types import (
    ActionContext,
    Box,
    Decision,
    DetectedFace,
    Match,
    ProbeResult,
    SourceInfo,
    Verification,
)

__all__ = [
    "ActionContext",
    "Box",
    "Decision",
    "DetectedFace",
    "FaceLedgerError",
    "Match",
    "ProbeResult",
    "Settings",
    "SourceInfo",
    "Store",
    "Verification",
    "init_store",
    "open_store",
]
