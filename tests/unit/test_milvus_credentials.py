"""The Milvus client's credentials come from the environment only."""

from __future__ import annotations

import pytest

from faceledger.errors import ConfigError

milvus_vectors = pytest.importorskip("faceledger.store.milvus_vectors")


def test_credentials_come_from_the_environment():
    env = {"FACELEDGER_MILVUS_USER": "root", "FACELEDGER_MILVUS_PASSWORD": "s3cret"}
    assert milvus_vectors.credentials(env) == {"user": "root", "password": "s3cret"}
    assert milvus_vectors.credentials({}) == {}


def test_half_a_credential_is_refused():
    with pytest.raises(ConfigError, match="both"):
        milvus_vectors.credentials({"FACELEDGER_MILVUS_USER": "root"})


def test_a_password_in_the_url_is_refused():
    with pytest.raises(ConfigError, match="password"):
        milvus_vectors.MilvusURL.parse("milvus://root:pw@127.0.0.1:19530/c")
