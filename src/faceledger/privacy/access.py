"""Right of access (GDPR Art. 15): find a person's faces and write their copy.

:func:`find_person` searches with one or more selfies (the most prominent face of each,
refused when too poor: :mod:`.selfie`) at a high-recall operating point (:data:`ACCESS_FAR`,
1e-3 per comparison) and keeps every face above that threshold, labelled "match" or
"possible". :func:`export_access` writes the person's copy into a folder: ``access.json``
(machine-readable), ``index.html`` (the same, readable) and ``crops/face_<id>.jpg``.

The copy gives what Art. 15(1) asks for: for each face, the photo, the source, its
controller, lawful basis (Art. 6 and Art. 9(2)), purpose, retention and the dates it was
collected and will be erased; and for the processing as a whole (``processing``) the
purposes, the categories of data, the recipients (the roles that can see the faces), the
sources and the retention periods. It says how many logged searches returned each face,
never the purposes or case references those searches were made under: those are other
people's investigations, not the person's data (Art. 15(4)).

High recall means some "possible" faces may be someone else's: the operator reviews them
before handing the copy over (Art. 15(4): the copy must not adversely affect others). The
copy also lists, as "cluster", the faces reached only through the persons of the matches
(:func:`with_persons`: the person's other photos that no selfie matched directly), for the
same review.

The selfies are only held in memory: they are decoded, embedded and dropped; the audit log
keeps their sha256.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import FaceLedgerError, NoFaceError
from ..images import DecodedImage
from ..parts import HasAudit, HasKeys, HasSources, HasVectors
from ..search.decisions import operating_point
from ..search.engine import load_probe
from .accurate import AccurateParts, fused_selfies, rescore_person, shortlist_threshold
from .selfie import selfie_face
from .sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES

if TYPE_CHECKING:
    from ..models.fusion import FusedTemplate
    from ..types import ActionContext

ACCESS_FAR = 1e-3

Selfie = bytes | str | Path | DecodedImage


@runtime_checkable
class FindPersonParts(AccurateParts, HasKeys, HasVectors, Protocol):
    """Finding a person's faces: the models (to embed the selfies; both packs in accurate
    mode), the vector index, the catalog and the cipher (the faces reached through their
    persons are compared with the selfies), and the root's persons verbs
    (:mod:`faceledger.people`)."""

    def use_accurate(self, accurate: bool | None) -> bool: ...

    def reach_by_person(self, queries: np.ndarray, face_ids: list[int]
                        ) -> tuple[list[int], list[int]]: ...

    def persons_of_faces(self, face_ids: list[int]) -> dict[int, int]: ...


@runtime_checkable
class AccessParts(FindPersonParts, HasAudit, HasSources, Protocol):
    """A person's copy: what finding them takes, the audit log (logged searches that
    returned a face; the copy's own entry), the sources (lawful bases), and the root's
    verbs for the faces' crops and the person's named-subject records
    (:mod:`faceledger.subjects`)."""

    def face_crop(self, face_id: int, margin: float = 0.3, max_side: int = 256) -> bytes: ...

    def subject_records_of(self, vectors: np.ndarray) -> list[dict]: ...


@dataclass(frozen=True)
class PersonMatch:
    face_id: int
    similarity: float
    decision: str  # "match" (at the store's operating point), "possible", or "cluster"
    person_id: int | None = None  # for "cluster": the person it was reached through


@dataclass(frozen=True)
class PersonSearch:
    selfies_sha256: list[str]
    far: float
    threshold: float
    match_threshold: float
    matches: list[PersonMatch] = field(default_factory=list)
    queries: np.ndarray | None = field(default=None, repr=False, compare=False)
    scorer: str = ""  # the pack, or the fusion that re-scored the shortlist (accurate mode)
    #: faces reached only through the persons of the matches (:func:`with_persons`), never
    #: matched directly: listed for review, erased only when a reviewer confirms them
    cluster: list[PersonMatch] = field(default_factory=list)
    persons: list[int] = field(default_factory=list)

    @property
    def face_ids(self) -> list[int]:
        """The faces matched directly."""
        return [m.face_id for m in self.matches]

    @property
    def cluster_face_ids(self) -> list[int]:
        return [m.face_id for m in self.cluster]


@dataclass(frozen=True)
class AccessReport:
    out_dir: Path
    json_path: Path
    html_path: Path
    faces: int
    audit_seq: int


def selfie_embeddings(store: FindPersonParts, selfies: list[Selfie]
                      ) -> tuple[np.ndarray, list[str]]:
    """The face of each selfie (its most prominent, of a quality good enough to act on:
    :func:`~faceledger.privacy.selfie.selfie_face`), embedded; and the selfies' sha256 (for
    the log)."""
    if not selfies:
        raise NoFaceError("give at least one selfie")
    vectors, hashes = [], []
    for i, selfie in enumerate(selfies, 1):
        image = load_probe(selfie, store.limits)
        hashes.append(image.sha256)
        face = selfie_face(store, image.bgr, f"selfie {i}")
        vectors.append(np.asarray(face.embedding, dtype=np.float32))
        del image
    return np.stack(vectors), hashes


def find_person(
    store: FindPersonParts, selfies: list[Selfie], far: float | None = None, limit: int = 100_000,
    accurate: bool | None = None,
) -> PersonSearch:
    """Every face in the store at or above the ``far`` threshold for any of the selfies
    (with ``accurate``, decided on the fused score: :mod:`faceledger.privacy.accurate`)."""
    queries, hashes = selfie_embeddings(store, selfies)
    fused = fused_selfies(store, selfies, queries) if store.use_accurate(accurate) else None
    return person_from_vectors(store, queries, hashes, far, limit, fused=fused)


def person_from_vectors(
    store: FindPersonParts, queries: np.ndarray, hashes: list[str], far: float | None = None,
    limit: int = 100_000, fused: list[FusedTemplate] | None = None,
) -> PersonSearch:
    """:func:`find_person` for selfies already embedded (e.g. by an identity check); with
    ``fused`` (the selfies embedded by both packs) the shortlist is re-scored."""
    point = operating_point(store.pack, ACCESS_FAR if far is None else far)
    far, threshold = point.far, point.match_threshold
    strict = store.operating_point(None).match_threshold
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if fused:
        best = _range_search(store, queries, shortlist_threshold(store, far), limit)
        again = rescore_person(store, fused, best, far)
        return PersonSearch(hashes, far, again.threshold, again.match_threshold,
                            [PersonMatch(*m) for m in again.matches], queries, again.scorer)
    best = _range_search(store, queries, threshold, limit)
    matches = [
        PersonMatch(fid, round(sim, 4), "match" if sim >= strict else "possible")
        for fid, sim in sorted(best.items(), key=lambda kv: -kv[1])
    ]
    # drop ids the catalog no longer holds (erased since the index was read)
    held = store.catalog.faces([m.face_id for m in matches])
    matches = [m for m in matches if m.face_id in held]
    return PersonSearch(hashes, far, threshold, strict, matches, queries, store.pack.name)


def with_persons(store: FindPersonParts, person: PersonSearch) -> PersonSearch:
    """``person`` with the faces its request reaches through persons: of the persons
    holding its matches, those a selfie is on average alike at the rights threshold
    (:func:`faceledger.people.service.reach_by_person`), and their faces that no selfie
    matched directly, each with its similarity to the closest selfie and its person."""
    if person.queries is None or not person.matches:
        return person
    pids, via = store.reach_by_person(person.queries, person.face_ids)
    if not via:
        return replace(person, persons=list(pids))
    owner = store.persons_of_faces(via)
    rows = store.catalog.embeddings(via, store.pack.name)
    sims = {fid: float(np.max(person.queries @ store.cipher.decrypt_vector(blob)))
            for fid, blob in rows}
    cluster = [PersonMatch(fid, round(sim, 4), "cluster", owner.get(fid))
               for fid, sim in sorted(sims.items(), key=lambda kv: -kv[1])]
    return replace(person, cluster=cluster, persons=list(pids))


def _range_search(
    store: FindPersonParts, queries: np.ndarray, threshold: float, limit: int
) -> dict[int, float]:
    index = store.index_file  # searches replay the catalog's log first: erasures elsewhere count
    total = len(index)
    best: dict[int, float] = {}
    if total == 0:
        return best
    k = min(256, total)
    while True:
        sims, ids = index.search(queries, k)
        for row_sims, row_ids in zip(sims, ids, strict=True):
            for sim, fid in zip(row_sims, row_ids, strict=True):
                if fid >= 0 and sim >= threshold:
                    best[int(fid)] = max(best.get(int(fid), -1.0), float(sim))
        full = sims.shape[1] == k and bool((sims[:, -1] >= threshold).any())
        if not full or k >= min(total, limit):
            return best
        k = min(k * 4, total, limit)


def _lookup(table: dict[str, str], code: str) -> dict[str, str]:
    return {"code": code, "text": table.get(code, code)}


def _erase_by(ingested_at: str, days: int) -> str:
    try:
        start = datetime.fromisoformat(ingested_at)
    except ValueError:
        return ""
    return (start + timedelta(days=days)).isoformat(timespec="seconds")


def _quality_text(face: dict) -> str:
    pose = ("" if face.get("yaw") is None
            else f"; head turned {face['yaw']:.0f} degrees, tilted {face['pitch']:.0f}")
    return f"quality {face['quality']:.2f} (0 to 1){pose}"


CATEGORIES_OF_DATA = (
    "photos in which your face appears (kept at their source; the store holds each photo's "
    "location, SHA-256, size and ingest date)",
    "the position of your face in each photo (a box, five landmarks, a detector score)",
    "estimates made from it: the head's pose (yaw and pitch, in degrees) and the face's "
    "image quality (from its size, sharpness, pose and the detector score)",
    "a biometric template of your face (a face embedding, GDPR Art. 9 special-category "
    "data), encrypted at rest",
    "the audit log's record of searches that returned your face (date and similarity)",
)

RECIPIENTS: tuple[dict[str, str], ...] = (
    {"role": "investigator",
     "receives": "search and verification results: your face's crop, its photo, its source "
                 "and the similarity"},
    {"role": "auditor",
     "receives": "the audit log: face ids and similarities of search results, never a photo "
                 "or a template"},
)
"""Who can see a face, by role. The HTTP API passes its own list, read from its access
policy, so this stays true when the policy changes."""


def _times_returned(store: AccessParts, face_ids: set[int]) -> dict[int, int]:
    """How many logged searches returned each face. Only the count: the purposes and case
    references of those searches belong to other people's investigations."""
    seen: dict[int, int] = {}
    for entry in store.audit.entries():
        if entry.action != "search":
            continue
        for probe_face in entry.outputs.get("faces", []):
            for m in probe_face:
                fid = int(m.get("face_id", -1))
                if fid in face_ids:
                    seen[fid] = seen.get(fid, 0) + 1
    return seen


def _processing(sources: list, recipients: list[dict[str, str]]) -> dict[str, Any]:
    """Art. 15(1)(a)-(d), (g): purposes, categories, recipients, retention, sources."""
    return {
        "purposes": [
            {"source": s.name, "controller": s.controller, "purpose": s.purpose,
             "lawful_basis": _lookup(LAWFUL_BASES, s.lawful_basis),
             "special_category_condition": _lookup(ART9_CONDITIONS,
                                                   s.special_category_condition)}
            for s in sources
        ],
        "categories_of_data": list(CATEGORIES_OF_DATA),
        "recipients": [dict(r) for r in recipients],
        "sources": [{"name": s.name, "kind": s.kind, "controller": s.controller}
                    for s in sources],
        "retention": [{"source": s.name, "retention_days": s.retention_days} for s in sources],
        "automated_decisions": "none: a match is a lead for a person to review, never a "
                               "decision about you",
    }


def build_access_data(
    store: AccessParts, person: PersonSearch, recipients: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    records = store.catalog.faces(person.face_ids + person.cluster_face_ids)
    sources = {s.name: s for s in store.sources()}
    returned = _times_returned(store, set(records))
    faces = []
    for m in [*person.matches, *person.cluster]:
        rec = records.get(m.face_id)
        if rec is None:
            continue
        photo = store.catalog.photo(rec.photo_id)
        src = sources[rec.source]
        faces.append({
            "face_id": rec.id,
            "similarity": m.similarity,
            "decision": m.decision,
            "crop": None,
            "box": rec.box.as_list(),
            "quality": round(rec.quality, 3),
            "yaw": None if rec.yaw is None else round(rec.yaw, 1),
            "pitch": None if rec.pitch is None else round(rec.pitch, 1),
            "photo_id": rec.photo_id,
            "photo_uri": rec.photo_uri,
            "source": rec.source,
            "controller": src.controller,
            "lawful_basis": _lookup(LAWFUL_BASES, src.lawful_basis),
            "special_category_condition": _lookup(ART9_CONDITIONS, src.special_category_condition),
            "purpose": src.purpose,
            "retention_days": src.retention_days,
            "minors_policy": _lookup(MINORS_POLICIES, src.minors_policy),
            "collected_at": photo.ingested_at,
            "face_recorded_at": rec.created_at,
            "erase_by": _erase_by(photo.ingested_at, src.retention_days),
            "returned_by_searches": returned.get(rec.id, 0),
            **({"reached_through_person": m.person_id} if m.decision == "cluster" else {}),
        })
    held = sorted({f["source"] for f in faces})
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "request": {
            "selfies_sha256": person.selfies_sha256,
            "far": person.far,
            "threshold": person.threshold,
            "match_threshold": person.match_threshold,
            "scorer": person.scorer,
        },
        "faces": faces,
        # named-subject enrolments and watches of this person (faceledger.subjects)
        "named_subjects": ([] if person.queries is None
                           else store.subject_records_of(person.queries)),
        "processing": _processing([sources[n] for n in held],
                                  list(RECIPIENTS if recipients is None else recipients)),
        "your_rights": RIGHTS_TEXT,
    }


RIGHTS_TEXT = (
    "You may ask for these faces to be erased (GDPR Art. 17), object to further processing "
    "and be put on an opt-out list so that no later collection keeps your face (Art. 21), "
    "and lodge a complaint with a supervisory authority (Art. 77), in France the CNIL. "
    "'possible' entries were found at a high-recall setting, and 'cluster' entries were "
    "reached through the group of photos the system formed of the same person; they may "
    "show someone else and were reviewed before this copy was handed over."
)


def export_access(
    store: AccessParts,
    selfies: list[Selfie],
    out_dir: Path,
    context: ActionContext | None = None,
    far: float | None = None,
    accurate: bool | None = None,
) -> AccessReport:
    """Write the person's copy (JSON, HTML, crops) into ``out_dir``; log it.

    Nothing is searched when the log cannot record it, and the copy is logged before a
    byte of it is written: a copy on disk is always a copy in the log."""
    from ..types import ActionContext

    store.audit.require_writable()
    context = context or ActionContext(purpose="data-subject access request")
    person = with_persons(store, find_person(store, selfies, far, accurate=accurate))
    data = build_access_data(store, person)
    crops: dict[str, bytes] = {}
    for face in data["faces"]:
        try:
            jpeg = store.face_crop(face["face_id"])
        except FaceLedgerError as exc:  # the photo file may be gone at the source
            face["crop_error"] = exc.message
            continue
        face["crop"] = f"crops/face_{face['face_id']}.jpg"
        crops[face["crop"]] = jpeg
    entry = store.audit.append(
        "rights_access",
        context.actor,
        context.purpose or "data-subject access request",
        context.case,
        inputs={"selfies_sha256": person.selfies_sha256, "far": person.far,
                "scorer": person.scorer},
        outputs={"face_ids": [f["face_id"] for f in data["faces"]]},
    )
    out_dir = Path(out_dir)
    (out_dir / "crops").mkdir(parents=True, exist_ok=True)
    for name, jpeg in crops.items():
        (out_dir / name).write_bytes(jpeg)
    json_path = out_dir / "access.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    html_path = out_dir / "index.html"
    html_path.write_text(render_html(data))
    return AccessReport(out_dir, json_path, html_path, len(data["faces"]), entry.seq)


def render_html(data: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for f in data["faces"]:
        img = f'<img src="{e(f["crop"])}" alt="face {f["face_id"]}">' if f["crop"] else "(no crop)"
        rows.append(
            f"""<section class="face {e(f['decision'])}">
  {img}
  <dl>
    <dt>Face</dt><dd>#{f['face_id']} ({e(f['decision'])}, similarity {f['similarity']:.3f})</dd>
    <dt>Photo</dt><dd>{e(f['photo_uri'])}</dd>
    <dt>Quality and pose</dt><dd>{e(_quality_text(f))}</dd>
    <dt>Source</dt><dd>{e(f['source'])}</dd>
    <dt>Controller</dt><dd>{e(f['controller'])}</dd>
    <dt>Lawful basis</dt><dd>{e(f['lawful_basis']['text'])}</dd>
    <dt>Art. 9(2) condition</dt><dd>{e(f['special_category_condition']['text'])}</dd>
    <dt>Purpose</dt><dd>{e(f['purpose'])}</dd>
    <dt>Retention</dt><dd>{f['retention_days']} days; erased by {e(f['erase_by'])}</dd>
    <dt>Minors policy</dt><dd>{e(f['minors_policy']['text'])}</dd>
    <dt>Collected</dt><dd>{e(f['collected_at'])}</dd>
    <dt>Searches that returned it</dt><dd>{f['returned_by_searches']}</dd>
  </dl>
</section>"""
        )
    body = "\n".join(rows) or "<p>No face of yours was found.</p>"
    req = data["request"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Your data: right of access (GDPR Art. 15)</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; }}
section.face {{ display: flex; gap: 1rem; border-top: 1px solid #ccc; padding: 1rem 0; }}
section.possible {{ background: #fff8e1; }}
img {{ width: 128px; height: auto; }}
dt {{ font-weight: bold; }}
</style></head><body>
<h1>Your data: right of access (GDPR Art. 15)</h1>
<p>Generated {e(data['generated_at'])}. {len(data['faces'])} face(s) found with
{len(req['selfies_sha256'])} selfie(s) at similarity &ge; {req['threshold']:.3f}
("match" from {req['match_threshold']:.3f}). Your selfies were not stored.</p>
{body}
{_render_processing(data.get("processing") or {})}
<h2>Your rights</h2><p>{e(data['your_rights'])}</p>
</body></html>
"""


def _render_processing(p: dict[str, Any]) -> str:
    if not p:
        return ""
    e = html.escape
    purposes = "".join(
        f"<li>{e(x['purpose'])} ({e(x['source'])}, controller {e(x['controller'])}; "
        f"{e(x['lawful_basis']['text'])}; {e(x['special_category_condition']['text'])})</li>"
        for x in p["purposes"]
    ) or "<li>none: no face of yours is held</li>"
    categories = "".join(f"<li>{e(c)}</li>" for c in p["categories_of_data"])
    recipients = "".join(f"<li>{e(r['role'])}: {e(r['receives'])}</li>" for r in p["recipients"])
    retention = "".join(f"<li>{e(r['source'])}: {r['retention_days']} days</li>"
                        for r in p["retention"]) or "<li>none</li>"
    return f"""<h2>How your data is processed (GDPR Art. 15(1))</h2>
<dl>
  <dt>Purposes</dt><dd><ul>{purposes}</ul></dd>
  <dt>Categories of data</dt><dd><ul>{categories}</ul></dd>
  <dt>Recipients</dt><dd><ul>{recipients}</ul></dd>
  <dt>Retention</dt><dd><ul>{retention}</ul></dd>
  <dt>Automated decisions</dt><dd>{e(p["automated_decisions"])}</dd>
</dl>"""


