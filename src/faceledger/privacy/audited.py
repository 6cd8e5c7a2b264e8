"""One state change audited as an intent before and a completion after.

:func:`audited_change` is the shape that erasure, ingest and key rotation follow, for the
small changes that live in one file of their own (the opt-out list, API keys, subject
tokens): take a named lock (the store's :class:`~faceledger.store.locks.Locks`: files in
the data dir, or a cluster store's advisory locks), write ``<action>_intent``, make
the change, write ``<action>`` naming the intent. A process that dies in between leaves an
intent without its completion, which ``faceledger audit verify`` lists and the next open of
the store closes as "interrupted" (its lock is free by then). A change refused with a
:class:`FaceLedgerError` is completed as ``refused`` with the error's code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import FaceLedgerError
from ..store.locks import Locks

if TYPE_CHECKING:
    from .audit import AuditLog

LOCK_WAIT_S = 30.0


@dataclass
class Completion:
    """What the completion entry will say (its inputs start as the intent's); the ``with``
    body fills in the outputs."""

    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@contextmanager
def audited_change(
    audit: AuditLog,
    locks: Locks,
    action: str,
    actor: str,
    purpose: str | None = None,
    case: str | None = None,
    inputs: dict[str, Any] | None = None,
    *,
    lock: str,
    what: str,
) -> Iterator[Completion]:
    """``with audited_change(...) as done: <change>; done.outputs = {...}``.

    ``locks``: the store's (``store.locks``: on a cluster store, the locks every machine
    shares; a data dir's file locks would hold on one machine only); ``lock``: the
    lock held from before the intent until after the completion (one such change at a time
    per store); ``what``: how a busy lock is named to the user."""
    audit.require_writable()  # before the lock and the change: a log that cannot record it
    with locks.lock(lock).require(f"another {what}", LOCK_WAIT_S) as held:
        intent = audit.begin(action, actor, purpose, case, inputs, lock=held.name)
        done = Completion(inputs=dict(inputs or {}))
        try:
            yield done
        except FaceLedgerError as exc:
            audit.complete(intent, action, actor, purpose, case, inputs=done.inputs,
                           outputs={"status": "refused", "error": exc.code})
            raise
        except Exception as exc:
            audit.complete(intent, action, actor, purpose, case, inputs=done.inputs,
                           outputs={"status": "failed", "error": type(exc).__name__})
            raise
        audit.complete(intent, action, actor, purpose, case, inputs=done.inputs,
                       outputs=done.outputs)
