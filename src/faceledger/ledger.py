"""The store: one catalog, one vector index, one audit log, one model pack, under a data dir.

This is the library's unit of work. Every public verb of faceledger is a method here or a
function that takes a ``Store``; the CLI and the HTTP API only call them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import Settings
from .errors import ConfigError, FaceLedgerError, LawfulBasisError, NoFaceError, NotFoundError
from .images import DecodedImage, ImageLimits
from .models.analyzer import FaceAnalyzer
from .models.compiled_cache import cache_for
from .models.fusion import FusedEmbedder, fusion_for
from .models.prominence import main_face
from .models.registry import PackSpec, get_pack, load_pack
from .privacy.audit import AuditEntry
from .privacy.declared_hosts import parse_declared_hosts
from .privacy.erasure import Tombstones
from .privacy.keys import open_audit_log, store_cipher
from .privacy.optout import PRIVACY_FILE, open_optout
from .privacy.s3_location import check_endpoint
from .privacy.sources import validate_source
from .search.decisions import OperatingPoint, operating_point
from .search.engine import load_probe, probe_faces, search_index
from .search.fused import fused_point
from .store.backends import (
    BACKENDS_FILE,
    CATALOG_FILE,
    is_server_db,
    open_catalog,
    open_locks,
    open_vectors,
    parse_backends,
    privacy_db,
    read_backends,
    write_backends,
)
from .store.files import private_dir, private_file, secure_tree
from .store.interfaces import VectorStore
from .store.locks import Locks
from .store.records import CheckReport, FaceRecord, PhotoRecord, RunRecord
from .store.templates import Cipher
from .types import (
    ActionContext,
    Box,
    DetectedFace,
    Landmarks,
    ProbeResult,
    SourceInfo,
    Verification,
)

log = logging.getLogger("faceledger.store")

AUDIT_FILE = "audit.db"




def init_store(settings: Settings, analyzer: FaceAnalyzer | None = None) -> Store:
    """Create a store in ``settings.data_dir`` (or open the one that is there); ``analyzer``
    as in :func:`open_store`."""
    data_dir = private_dir(settings.data_dir)
    backends = parse_backends(settings.catalog or None, settings.vectors or None)
    recorded = (data_dir / BACKENDS_FILE).exists() or (data_dir / CATALOG_FILE).exists()
    if recorded and read_backends(data_dir) != backends and (settings.catalog or settings.vectors):
        raise ConfigError(f"{data_dir} holds a store on {read_backends(data_dir)} already")
    if not recorded:
        write_backends(data_dir, backends)
    catalog = open_catalog(data_dir, read_backends(data_dir))
    try:
        if catalog.meta("store_id") is None:
            get_pack(settings.pack)  # refuse an unknown pack before writing anything
            catalog.set_meta("store_id", uuid.uuid4().hex)
            catalog.set_meta("pack", settings.pack)
            catalog.set_meta("index_kind", settings.index_kind)
    finally:
        catalog.close()
    return open_store(settings, analyzer)


def open_store(settings: Settings, analyzer: FaceAnalyzer | None = None) -> Store:
    """Open the store in ``settings.data_dir``. ``analyzer``: the models to use instead of
    the store's pack loaded from the models directory (a test's fake, or an analyzer a
    caller built already); it must give vectors of the pack's size."""
    data_dir = Path(settings.data_dir)
    if not (data_dir / CATALOG_FILE).exists() and not (data_dir / BACKENDS_FILE).exists():
        raise NotFoundError(
            f"no faceledger store in {settings.data_dir} (create one with 'faceledger init')"
        )
    return Store(settings, analyzer)


class Store:
    def __init__(self, settings: Settings, analyzer: FaceAnalyzer | None = None) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        secure_tree(self.data_dir)  # 0700 / 0600, also for stores made by older versions
        self.backends = read_backends(self.data_dir)
        self.catalog = open_catalog(self.data_dir, self.backends)
        # named locks: files in the data dir, or advisory locks every machine of a cluster
        # store shares (its data dir is per machine)
        self.locks: Locks = open_locks(self.data_dir, self.catalog)
        self.store_id = self.catalog.meta("store_id") or ""
        pack_name = self.catalog.meta("pack") or settings.pack
        self.pack: PackSpec = get_pack(pack_name)
        if analyzer is not None and analyzer.embedding_size != self.pack.embedding_size:
            self.catalog.close()
            raise ConfigError(
                f"the analyzer gives {analyzer.embedding_size}-d vectors; this store's pack "
                f"{self.pack.name} holds {self.pack.embedding_size}-d ones")
        self.cipher: Cipher = self._make_cipher()
        # anchored in the catalog: a wiped, truncated or rolled-back log refuses writes
        self.audit = open_audit_log(self.data_dir / AUDIT_FILE, self.cipher, self.catalog)
        # privacy.db in the data dir; a cluster store's catalog, shared by its machines
        if not is_server_db(self.catalog):
            private_file(self.data_dir / PRIVACY_FILE)
        self.optout: Any = open_optout(self)  # ``blocked_mask(vectors)``, used by ingest
        # erased photos' URIs as keyed hashes (the key is encrypted with the template key)
        self.tombstones = Tombstones(privacy_db(self.data_dir, self.catalog, PRIVACY_FILE),
                                     self.cipher)
        self.index_file: VectorStore = open_vectors(
            self.data_dir, self.backends, self.pack.name, self.pack.embedding_size,
            self.catalog.meta("index_kind") or settings.index_kind, self.catalog, self.cipher,
        )
        self.index_file.open()
        # the models, loaded from the pack on first use unless handed in
        self._analyzer: FaceAnalyzer | None = analyzer
        self.analyzer_injected = analyzer is not None
        self._analyzer_lock = threading.Lock()
        self._fused: FusedEmbedder | None = None
        self._fused_lock = threading.Lock()
        self.webhook_dispatcher: Any = None  # a server's WebhookDispatcher, woken by alerts
        self.template_cache: Any = None  # decrypted subject/watch templates (subjects.cache)
        self._recover()

    def _make_cipher(self) -> Cipher:
        return store_cipher(self.catalog, self.settings, self.store_id, self.data_dir / AUDIT_FILE)

    # -- recovery of actions whose process died ------------------------------------------
    def _recover(self) -> None:
        """Finish what a dead process left half done: ingest runs still "running" are
        marked crashed, erasures are completed, other intents are closed as interrupted.
        Each is audited. A live process holds the action's lock, and is left alone."""
        if self.audit.refusal is not None:
            return  # nothing can be recorded; `audit verify` says why
        from .pipeline.ingest import recover_crashed_runs
        from .privacy.erasure import ERASURE_LOCK, resume_erasure

        try:
            recover_crashed_runs(self, self._pending_intents("ingest_intent"))
            erasures = self._pending_intents("erase_intent")
            if erasures:
                lock = self.locks.lock(ERASURE_LOCK)
                if lock.acquire(0.0):
                    try:
                        for entry in self._pending_intents("erase_intent"):  # under the lock
                            resume_erasure(self, entry)
                    finally:
                        lock.release()
            for entry in self._pending_intents(None):
                self._close_interrupted(entry)
        except FaceLedgerError as exc:  # the intent stays open and `audit verify` lists it
            log.warning("could not finish an interrupted action: %s", exc.message)

    def _pending_intents(self, action: str | None) -> list[AuditEntry]:
        """Open intents of ``action`` (None: of any other action)."""
        found = []
        for pending in self.audit.pending():
            known = pending.action in ("ingest_intent", "erase_intent")
            if (action is None and not known) or pending.action == action:
                entry = self.audit.entry(pending.seq)
                if entry is not None:
                    found.append(entry)
        return found

    def _close_interrupted(self, entry: AuditEntry) -> None:
        lock_name = next((p.lock for p in self.audit.pending() if p.seq == entry.seq), None)
        lock = self.locks.lock(lock_name) if lock_name else None
        if lock is not None and not lock.acquire(0.0):
            return  # still running
        try:
            outputs: dict[str, Any] = {"status": "interrupted",
                                       "found_by": "store open (the process had died)"}
            if entry.action == "source_add_intent":
                name = entry.inputs.get("source")
                outputs["in_catalog"] = self.catalog.has_source(name)
            self.audit.complete(entry, entry.action.removesuffix("_intent"), entry.actor,
                                entry.purpose, entry.case, inputs={}, outputs=outputs)
        finally:
            if lock is not None:
                lock.release()

    def open_intents(self) -> list[tuple[AuditEntry, bool]]:
        """Actions begun but not finished, each with whether its process is alive."""
        out = []
        for pending in self.audit.pending():
            entry = self.audit.entry(pending.seq)
            if entry is None:
                continue
            live = False
            if pending.lock:
                lock = self.locks.lock(pending.lock)
                live = not lock.acquire(0.0, note_pid=False)
                lock.release()
            out.append((entry, live))
        return out

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        # the privacy state first: on a cluster store it is on the catalog's connections
        if self.optout is not None:
            self.optout.close()
        self.tombstones.close()
        self.catalog.close()
        self.audit.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def analyzer(self) -> FaceAnalyzer:
        """The pack's analyzer, its models loaded (on first use)."""
        analyzer = self.built_analyzer()
        analyzer.load()  # each model's load is locked: callers in other threads wait
        return analyzer

    def built_analyzer(self) -> FaceAnalyzer:
        """The pack's analyzer, built but perhaps not loaded: its models load on first use,
        or with ``load()`` or ``load_async()`` (an ingest detects while the recognizer
        loads)."""
        with self._analyzer_lock:
            if self._analyzer is None:
                # one inference thread per call: measured faster here than two, and the
                # server runs several calls side by side
                self._analyzer = load_pack(
                    self.pack.name, self.settings.models_dir,
                    self.settings.accept_research_licence, threads=1,
                    cache=cache_for(self.settings.compiled_cache),
                )
            return self._analyzer

    def fused_embedder(self) -> FusedEmbedder:
        """The pack fused with its second recognizer (accurate mode), loaded on first use;
        a ModelError if the pack has no calibrated fusion or its Python packages are missing."""
        spec = fusion_for(self.pack.name)
        analyzer = self.analyzer
        with self._fused_lock:
            if self._fused is None:
                self._fused = FusedEmbedder(spec, analyzer, self.settings.models_dir)
            return self._fused

    def use_accurate(self, accurate: bool | None) -> bool:
        """Whether a verb compares with the fused scorer: as asked, else the setting."""
        return self.settings.accurate if accurate is None else bool(accurate)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.settings.max_image_bytes, self.settings.max_image_pixels)

    def record(self, action: str, actor: str = "cli", purpose: str | None = None,
               case: str | None = None, inputs: dict | None = None,
               outputs: dict | None = None) -> None:
        self.audit.append(action, actor, purpose, case, inputs, outputs)

    # -- sources --------------------------------------------------------------------------
    def add_source(
        self, name: str, location: str | Path, controller: str, lawful_basis: str,
        purpose: str, retention_days: int, special_category_condition: str,
        minors_policy: str, kind: str = "folder", keep_photos_without_faces: bool = False,
        actor: str = "cli", root: str | Path | None = None,
        hosts: Sequence[str] | None = None, endpoint: str | None = None,
        profile: str | None = None,
    ) -> SourceInfo:
        """Register a source. A URL list (``kind="urls"``) declares a ``root`` directory
        (only ``file://`` URIs inside it are read) and/or the web ``hosts`` its http(s) URLs
        are fetched from (``https://host[:port]``, ``http://host:port``). An S3 source
        (``kind="s3"``, location ``s3://bucket/prefix``) may name an ``endpoint`` URL and a
        credentials ``profile``; the credentials themselves are never stored."""
        if kind in ("folder", "archive"):
            location = str(Path(location).resolve())
        info = SourceInfo(
            name=name, kind=kind, location=str(location), controller=controller,
            lawful_basis=lawful_basis, purpose=purpose, retention_days=retention_days,
            special_category_condition=special_category_condition, minors_policy=minors_policy,
            root=str(Path(root).resolve()) if root else "",
            hosts=tuple(hosts or ()), endpoint=(endpoint or "").strip(),
            profile=(profile or "").strip(),
        )
        validate_source(info)
        info = replace(
            info, hosts=tuple(str(h) for h in parse_declared_hosts(info.hosts)),
            endpoint=check_endpoint(info.endpoint) if info.endpoint else "",
        )
        details = {"controller": controller, "lawful_basis": lawful_basis,
                   "art9": special_category_condition, "retention_days": retention_days}
        if info.hosts:
            details["hosts"] = list(info.hosts)
        if info.endpoint:
            details["endpoint"] = info.endpoint
        with self.locks.lock("sources").require("another source change", 30.0) as lock:
            intent = self.audit.begin("source_add", actor, purpose=purpose,
                                      inputs={"source": name, **details}, lock=lock.name)
            try:
                self.catalog.add_source(info, keep_photos_without_faces)
            except FaceLedgerError as exc:
                self.audit.complete(intent, "source_add", actor, purpose, inputs={"source": name},
                                    outputs={"status": "refused", "error": exc.code})
                raise
            self.audit.complete(intent, "source_add", actor, purpose, inputs={"source": name},
                                outputs=details)
        return info

    def source(self, name: str) -> SourceInfo:
        return self.catalog.source(name).info

    def sources(self) -> list[SourceInfo]:
        return [s.info for s in self.catalog.sources()]

    # -- ingest ---------------------------------------------------------------------------
    def ingest(self, name: str, progress=None, stop_event: threading.Event | None = None,
               workers: int | None = None, actor: str = "cli", ray: str | None = None,
               processes: bool = False):
        """Ingest a source (see :mod:`faceledger.pipeline.ingest`). ``workers``: analysis
        lanes (None: the free cores), threads of this process sharing its models, or worker
        processes with ``processes=True``; ``ray``: ``"auto"`` or a Ray cluster's address
        to analyse on Ray actors instead (``pip install 'faceledger[ray]'``)."""
        from .pipeline.ingest import ingest_source

        return ingest_source(self, name, progress=progress, stop_event=stop_event,
                             workers=workers, actor=actor, ray=ray, processes=processes)

    def runs(self, limit: int = 50) -> list[RunRecord]:
        return self.catalog.runs(limit)

    # -- search and verify ----------------------------------------------------------------
    def operating_point(self, far: float | None = None, search: bool = False) -> OperatingPoint:
        """The thresholds for ``far``; by default the search (1:N) or verify (1:1) setting.

        A search compares a probe with every face in the gallery, so at a per-comparison
        false-accept rate ``far`` a stranger's probe meets about ``far x gallery size``
        false matches; searches therefore default to a stricter rate than verification."""
        if far is None:
            far = self.settings.search_far if search else self.settings.operating_far
        return operating_point(self.pack, far)

    def _require_context(self, context: ActionContext | None) -> ActionContext:
        self.audit.require_writable()  # nothing is searched that cannot be recorded
        context = context or ActionContext()
        if self.settings.require_purpose and not (context.purpose and context.case):
            raise LawfulBasisError(
                "a search or verification needs a purpose and a case reference "
                "(--purpose and --case); they are recorded in the audit log"
            )
        from .privacy.purposes import enforce_declared_purpose

        enforce_declared_purpose(self.settings, self.sources(), context.purpose)
        return context

    def search(
        self, image: bytes | str | Path | DecodedImage, k: int = 10, largest_only: bool = False,
        far: float | None = None, context: ActionContext | None = None,
    ) -> list[ProbeResult]:
        context = self._require_context(context)
        probe = load_probe(image, self.limits)
        point = self.operating_point(far, search=True)
        try:
            faces = probe_faces(self, probe, largest_only)
        except NoFaceError:
            self._record_search(context, probe, point, k, [])
            raise
        results = search_index(self, faces, k, point)
        self._record_search(context, probe, point, k, results)
        return results

    def _record_search(self, context: ActionContext, probe: DecodedImage,
                       point: OperatingPoint, k: int, results: list[ProbeResult]) -> None:
        self.record(
            "search", context.actor, context.purpose, context.case,
            inputs={"probe_sha256": probe.sha256, "k": k, "far": point.far},
            outputs={"faces": [
                [{"face_id": m.face_id, "similarity": m.similarity, "decision": m.decision.value}
                 for m in r.matches] for r in results
            ]},
        )

    def verify(
        self, a: bytes | str | Path, b: bytes | str | Path, far: float | None = None,
        context: ActionContext | None = None, accurate: bool | None = None,
    ) -> Verification:
        """Are the most prominent faces of two photos (size x score x centrality,
        :mod:`faceledger.models.prominence`) the same person? With ``accurate`` (default:
        the ``accurate`` setting) the pack's score is fused with a second recognizer's and
        decided at the fusion's own calibrated thresholds."""
        context = self._require_context(context)
        if self.use_accurate(accurate):
            return self._verify_fused(a, b, far, context)
        point = self.operating_point(far)
        images = [load_probe(x, self.limits) for x in (a, b)]
        faces = []
        for label, image in zip(("first", "second"), images):
            found = self.analyzer.analyze(image.bgr, largest_only=True)
            if not found:
                raise NoFaceError(f"no face was found in the {label} photo")
            faces.append(found[0])
        similarity = float(np.dot(faces[0].embedding, faces[1].embedding))
        result = Verification(
            similarity=round(similarity, 4), same_person=similarity >= point.match_threshold,
            threshold=point.match_threshold, far=point.far,
            face_a=faces[0].face, face_b=faces[1].face, scorer=self.pack.name,
        )
        self.record(
            "verify", context.actor, context.purpose, context.case,
            inputs={"a_sha256": images[0].sha256, "b_sha256": images[1].sha256, "far": point.far},
            outputs={"similarity": result.similarity, "same_person": result.same_person},
        )
        return result

    def _verify_fused(self, a: bytes | str | Path, b: bytes | str | Path, far: float | None,
                      context: ActionContext) -> Verification:
        fused = self.fused_embedder()
        point = fused_point(fused.spec, self.settings.operating_far if far is None else far)
        images = [load_probe(x, self.limits) for x in (a, b)]
        templates = []
        for label, image in zip(("first", "second"), images):
            found = self.analyzer.detect(image.bgr)
            if not found:
                raise NoFaceError(f"no face was found in the {label} photo")
            face = main_face(found, image.bgr.shape[1], image.bgr.shape[0])
            templates.append(fused.embed(image.bgr, [face])[0])
        score = fused.score(templates[0], templates[1])
        result = Verification(
            similarity=round(score.score, 4), same_person=score.score >= point.match_threshold,
            threshold=point.match_threshold, far=point.far,
            face_a=templates[0].face, face_b=templates[1].face, scorer=fused.spec.name,
            components={fused.spec.primary: round(score.primary, 4),
                        fused.spec.secondary: round(score.secondary, 4)},
        )
        self.record(
            "verify", context.actor, context.purpose, context.case,
            inputs={"a_sha256": images[0].sha256, "b_sha256": images[1].sha256, "far": point.far,
                    "scorer": fused.spec.name},
            outputs={"similarity": result.similarity, "same_person": result.same_person},
        )
        return result

    # -- records --------------------------------------------------------------------------
    def photo(self, photo_id: int) -> PhotoRecord:
        return self.catalog.photo(photo_id)

    def photo_faces(self, photo_id: int) -> list[FaceRecord]:
        """The faces held for one photo, by id."""
        faces = self.catalog.faces(sorted(self.catalog.face_ids_of_photos([int(photo_id)])))
        return [faces[f] for f in sorted(faces)]

    def face(self, face_id: int) -> FaceRecord:
        return self.catalog.face(face_id)

    def photo_faces_as_read(self, photo_id: int) -> tuple[DecodedImage, dict[int, DetectedFace]]:
        """A photo read again from its source (``pipeline.reader``'s checks) and its
        catalogued faces, boxes and landmarks in the pixels of the photo as read now."""
        from .pipeline.reader import stored_photo

        photo = stored_photo(self, photo_id)
        image = photo.image
        # boxes refer to the photo as it was decoded at ingest; rescale if that differs
        s = image.width / photo.record.width if photo.record.width else 1.0
        faces = {}
        for rec in self.photo_faces(photo_id):
            b = rec.box
            box = Box(b.x * s, b.y * s, b.width * s, b.height * s)
            points = tuple((float(x) * s, float(y) * s) for x, y in rec.landmarks)
            faces[rec.id] = DetectedFace(box, Landmarks(points), rec.detector_score)
        return image, faces

    def face_crop(self, face_id: int, margin: float = 0.3, max_side: int = 256) -> bytes:
        """A JPEG of the face, cut from the photo on demand (crops are never cached); the
        photo is read again through its source's checks (``pipeline.reader``)."""
        from .pipeline.reader import stored_photo

        face = self.face(face_id)
        photo = stored_photo(self, face.photo_id)
        image, stored_width = photo.image, photo.record.width
        # boxes refer to the photo as it was decoded at ingest; rescale if that differs
        s = image.width / stored_width if stored_width else 1.0
        b = face.box
        bx, by, bw, bh = b.x * s, b.y * s, b.width * s, b.height * s
        pad_x, pad_y = bw * margin, bh * margin
        x0, y0 = max(0, int(bx - pad_x)), max(0, int(by - pad_y))
        x1 = min(image.width, int(bx + bw + pad_x))
        y1 = min(image.height, int(by + bh + pad_y))
        if x1 <= x0 or y1 <= y0:
            raise NotFoundError(f"face {face_id} lies outside its photo as read now")
        crop = image.bgr[y0:y1, x0:x1]
        scale = min(1.0, max_side / max(crop.shape[:2]))
        if scale < 1.0:
            crop = cv2.resize(crop, (int(crop.shape[1] * scale), int(crop.shape[0] * scale)))
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise ConfigError("could not encode a JPEG crop")
        return buf.tobytes()

    # -- data-subject rights (faceledger.privacy) -------------------------------------------
    def erase_faces(self, face_ids: list[int], context: ActionContext | None = None):
        """Erase these faces everywhere (Art. 17); see ``faceledger.privacy.erasure``."""
        from .privacy.erasure import erase

        return erase(self, face_ids=face_ids, context=context)

    def opt_out(self, selfie: bytes | str | Path, context: ActionContext | None = None,
                erase_existing: bool = True):
        """Block this person from every later ingest (and erase what is held now)."""
        from .privacy.rights import opt_out_person

        return opt_out_person(self, [selfie], context=context, erase_existing=erase_existing)

    # -- named subjects, consented watches, alerts (faceledger.subjects) -------------------
    def enrol_subject(self, name: str, source: str, photos: list,
                      context: ActionContext | None = None, consent: str = ""):
        """Enrol a named person with example photos under ``source``'s lawful basis."""
        from .subjects.registry import enrol_subject

        return enrol_subject(self, name, source, photos, context or ActionContext(), consent)

    def subjects(self):
        from .subjects.registry import tables

        return tables(self).subjects()

    def subject(self, subject_id: object):
        from .subjects.registry import subject

        return subject(self, subject_id)

    def delete_subject(self, subject_id: object, context: ActionContext | None = None) -> dict:
        from .subjects.registry import delete_subject

        return delete_subject(self, subject_id, context or ActionContext())

    def recognize(self, image: bytes | str | Path | DecodedImage, far: float | None = None,
                  context: ActionContext | None = None):
        """Each face of the photo: its enrolled subject with a calibrated decision, or
        "unknown". Needs a purpose and a case, like a search; audited as one."""
        from .subjects.registry import recognize_probe

        context = self._require_context(context)
        probe = load_probe(image, self.limits)
        return recognize_probe(self, probe, self.operating_point(far, search=True), context)

    def add_watch(self, subject_id: object, webhook_url: str, days: object,
                  context: ActionContext | None = None):
        """A consented watch on an enrolled subject; its webhook secret is shown once."""
        from .subjects.watches import add_watch

        return add_watch(self, subject_id, webhook_url, days, context or ActionContext())

    def watches(self):
        from .store.subjects import SubjectTables

        return SubjectTables(self.catalog).watches()

    def withdraw_watch(self, watch_id: object, context: ActionContext | None = None):
        """End a watch: its template, secret and alerts are deleted."""
        from .subjects.watches import withdraw_watch

        return withdraw_watch(self, watch_id, context or ActionContext())

    def alerts(self, limit: int = 200):
        from .store.subjects import SubjectTables

        return SubjectTables(self.catalog).alerts(limit)

    def deliver_alerts(self) -> dict[str, int]:
        """Attempt every webhook delivery that is due now (a server does this by itself)."""
        from .subjects.webhooks import deliver_due

        return deliver_due(self)

    def purge_expired_watches(self, now=None, context: ActionContext | None = None) -> list[int]:
        """Delete the watches past their expiry (called by the retention run)."""
        from .subjects.watches import purge_expired

        return purge_expired(self, context or ActionContext(actor="retention"), now)

    def subject_records_of(self, vectors: np.ndarray) -> list[dict]:
        """For an access copy: this person's subject enrolments and watches."""
        from .subjects.forget import records_of_person

        return records_of_person(self, vectors)

    def forget_person_templates(self, vectors: np.ndarray,
                                context: ActionContext | None = None) -> dict:
        """Erasure of a person: their subject enrolments and watches go too."""
        from .subjects.forget import forget_person

        return forget_person(self, vectors, context or ActionContext())

    # -- persons (faceledger.people) --------------------------------------------------------
    def persons(self, include_hidden: bool = False, limit: int = 200, offset: int = 0,
                ids: list[int] | None = None):
        """Persons, largest first: id, name, face and photo counts, cover face, sources."""
        from .store.persons import Persons

        return Persons(self.catalog).list(include_hidden, limit, offset, ids)

    def person(self, person_id: int):
        """One person (hidden ones too) and the records of all its faces."""
        from .store.persons import Persons

        table = Persons(self.catalog)
        table.require(person_id)
        row = table.list(ids=[int(person_id)])[0]
        faces = self.catalog.faces(table.members(person_id))
        return row, [faces[f] for f in sorted(faces)]

    def persons_in_results(self, results: list[ProbeResult]) -> list[list[dict]]:
        """Beside a search's faces: the persons they belong to (best faces, counts, sources)."""
        from .people.service import persons_in_results

        return persons_in_results(self, results)

    def reach_by_person(self, queries, face_ids: list[int]) -> tuple[list[int], list[int]]:
        """(persons a rights request reaches, faces reached only through them: for review)."""
        from .people.service import reach_by_person

        return reach_by_person(self, queries, face_ids)

    def persons_of_faces(self, face_ids: list[int]) -> dict[int, int]:
        from .store.persons import Persons

        return Persons(self.catalog).person_of(face_ids)

    def _person_change(self, action: str, actor: str, inputs: dict, fn):
        self.audit.require_writable()
        result = fn()
        self.record(action, actor, inputs=inputs, outputs={"result": result})
        return result

    def recluster(self, actor: str = "cli") -> dict[str, int]:
        """Cluster every face into persons again, keeping every user correction."""
        from .people.service import recluster

        return self._person_change("people_recluster", actor, {}, lambda: recluster(self))

    def merge_persons(self, person_ids: list[int], actor: str = "cli") -> int:
        from .people.service import merge

        return self._person_change("people_merge", actor, {"persons": list(person_ids)},
                                   lambda: merge(self, person_ids))

    def split_person(self, face_ids: list[int], name: str | None = None,
                     actor: str = "cli") -> int:
        from .people.service import split

        return self._person_change("people_split", actor, {"faces": list(face_ids)},
                                   lambda: split(self, face_ids, name))

    def not_this_person(self, face_id: int, person_id: int, actor: str = "cli") -> int:
        from .people.service import not_this_person

        return self._person_change("people_reject", actor,
                                   {"face": int(face_id), "person": int(person_id)},
                                   lambda: not_this_person(self, face_id, person_id))

    def rename_person(self, person_id: int, name: str | None, actor: str = "cli") -> None:
        from .people.service import rename

        # the name itself is not logged: it may be personal data the log cannot erase
        return self._person_change("people_rename", actor, {"person": int(person_id)},
                                   lambda: rename(self, person_id, name))

    def hide_person(self, person_id: int, hidden: bool = True, actor: str = "cli") -> None:
        from .people.service import hide

        return self._person_change("people_hide", actor,
                                   {"person": int(person_id), "hidden": hidden},
                                   lambda: hide(self, person_id, hidden))

    def erase_person(self, person_id: int, context: ActionContext | None = None):
        """Erase every face of this person (Art. 17); the person goes with its last face."""
        from .privacy.rights import erase_person_id

        return erase_person_id(self, person_id, context)

    def opt_out_person_id(self, person_id: int, context: ActionContext | None = None,
                          reference: str | None = None):
        """Opt a whole person out (Art. 21): its template on the opt-out list, its faces
        erased."""
        from .privacy.rights import opt_out_person_id

        return opt_out_person_id(self, person_id, context, reference)

    def counts(self) -> dict[str, int]:
        counts = self.catalog.counts()
        counts["index_vectors"] = len(self.index_file)
        return counts

    # -- consistency ----------------------------------------------------------------------
    def check(self) -> CheckReport:
        return self.index_file.check()

    def rebuild_index(self, kind: str | None = None) -> CheckReport:
        """Rebuild (and retrain) the index from the catalog; with ``kind``, switch this
        store to that kind of index (flat, ivfpq, hnsw or auto) for good."""
        self.index_file.rebuild(kind)
        if kind is not None:
            self.index_file.requested_kind = kind
            self.catalog.set_meta("index_kind", kind)
        return self.check()


__all__ = ["ActionContext", "Store", "init_store", "open_store"]
