"""Issue 9 (a gap left): `faceledger keys rotate` did not re-encrypt the reference templates
of subject tokens still open (in keys.db), so once the old key was retired every open token
failed to decrypt its reference: a rotation after an erasure (crypto-shredding) broke every
pending rights request.

Now the CLI hands the key store's tokens to the rotation, which re-encrypts their
references with the rest. Real models, real LFW photos, the real CLI.
"""

from __future__ import annotations

import shutil

from faceledger import ActionContext, init_store, open_store
from faceledger.api.keys import KeyStore
from faceledger.api.subject_tokens import issue_subject_token, redeem_subject_token
from faceledger.privacy.crypto import blob_key_id

from ..conftest import lfw_image
from .audit_support import cli, settings_for, source_kwargs

PERSON = "Gerhard_Schroeder"


def test_a_token_issued_before_a_rotation_is_redeemed_after_it(tmp_path, lfw_dir, models_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(lfw_image(lfw_dir, PERSON, 1), photos)
    settings = settings_for(tmp_path, models_dir)
    with init_store(settings) as st, KeyStore.for_data_dir(st.data_dir) as keys:
        st.add_source("events", **source_kwargs(photos))
        st.ingest("events", workers=1)
        issued = issue_subject_token(st, keys.tokens, "REQ-1", "access",
                                     lfw_image(lfw_dir, PERSON, 2), "admin")
        old_key = st.cipher.key_id

    result = cli(tmp_path, "--models-dir", str(models_dir), "keys", "rotate", "--json")
    assert result.exit_code == 0, result.output
    assert '"subject_token_references": 1' in result.output

    with open_store(settings) as st, KeyStore.for_data_dir(st.data_dir) as keys:
        assert st.cipher.key_id != old_key and not st.cipher.old_keys  # old key retired
        (blob,) = keys.db.execute("SELECT template FROM subject_token_references").fetchone()
        assert blob_key_id(bytes(blob)) == st.cipher.key_id
        token, check = redeem_subject_token(
            st, keys.tokens, issued.secret, "access", lfw_image(lfw_dir, PERSON, 3),
            ActionContext("subject", "data-subject access request", "REQ-1"))
        assert check.verified and token.outcome == "verified"
        rotation = [e for e in st.audit.entries() if e.action == "key_rotate"][-1]
        assert rotation.outputs["subject_token_references"] == 1
        assert st.audit.verify().ok
