"""One exception hierarchy for faceledger.

Every error the library raises derives from :class:`FaceLedgerError`, carries a stable
``code`` (used by the CLI and the HTTP API) and an ``http_status`` that the API's single
error handler renders. Lower-layer errors (sqlite3, PIL, OpenCV, OpenVINO) are translated
at the boundary where they occur, so callers only ever catch these.

    FaceLedgerError
    ├── ConfigError              a setting is missing or wrong
    │   └── UncalibratedFarError a false-accept rate the model pack was not calibrated at
    ├── ImageError               a photo cannot be used
    │   ├── ImageDecodeError     unreadable or unsupported bytes
    │   ├── ImageTooLargeError   over the byte or pixel limit (decompression bombs too)
    │   ├── PhotoRefusedError    not a regular file inside its source (links out, FIFOs, ...)
    │   └── PhotoFetchError      a remote photo (http(s), S3) could not be fetched (after retries)
    ├── SourceError              a source cannot be read as it was declared
    ├── ModelError               a model pack cannot be used
    │   ├── ModelFileError       a file is missing or its sha256 does not match
    │   └── LicenceNotAcknowledged   a research pack was asked for without acknowledging its licence
    ├── StoreError               the catalog or index cannot be used
    │   ├── NotFoundError        a named thing does not exist
    │   ├── AlreadyExistsError   a named thing exists already
    │   ├── ConflictError        a write breaks a constraint of the database
    │   ├── BusyError            another process or thread is doing this right now
    │   └── IndexMismatchError   catalog and vector index disagree
    ├── LawfulBasisError         a source lacks what the law requires, or an action its purpose
    │   └── PurposeNotDeclaredError   a search's purpose is no source's declared purpose
    ├── RightsRequestError       a rights request cannot move that way (state, deadline)
    ├── NoFaceError              a probe holds no face
    │   └── PoorPhotoError       a selfie's face is too small, blurred or turned to be relied on
    ├── InvalidRequestError      a malformed request (a multipart body, a form field)
    ├── AuthError                missing, wrong or insufficient credentials (API)
    │   ├── ForbiddenError       the credential may not do this (and CSRF / origin refusals)
    │   │   └── IdentityNotVerifiedError   a selfie does not match a token's reference photo
    │   └── RateLimitedError     too many refused credentials from one client (429)
    └── IntegrityError           the audit chain or an encrypted template fails verification
        └── ReceiptError         an erasure receipt is malformed, forged or contradicted
"""

from __future__ import annotations


class FaceLedgerError(Exception):
    code = "faceledger_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FaceLedgerError):
    code = "config_error"
    http_status = 500


class ImageError(FaceLedgerError):
    code = "image_error"
    http_status = 422


class ImageDecodeError(ImageError):
    code = "image_decode_error"


class ImageTooLargeError(ImageError):
    code = "image_too_large"
    http_status = 413


class PhotoRefusedError(ImageError):
    code = "photo_refused"


class PhotoFetchError(ImageError):
    code = "photo_fetch_failed"
    http_status = 502


class SourceError(FaceLedgerError):
    code = "source_error"
    http_status = 422


class ModelError(FaceLedgerError):
    code = "model_error"
    http_status = 500


class ModelFileError(ModelError):
    code = "model_file_error"


class LicenceNotAcknowledged(ModelError):
    code = "licence_not_acknowledged"
    http_status = 403


class StoreError(FaceLedgerError):
    code = "store_error"
    http_status = 500


class NotFoundError(StoreError):
    code = "not_found"
    http_status = 404


class AlreadyExistsError(StoreError):
    code = "already_exists"
    http_status = 409


class ConflictError(StoreError):
    code = "conflict"
    http_status = 409


class BusyError(StoreError):
    code = "busy"
    http_status = 409


class IndexMismatchError(StoreError):
    code = "index_mismatch"


class LawfulBasisError(FaceLedgerError):
    code = "lawful_basis_required"
    http_status = 422


class NoFaceError(FaceLedgerError):
    code = "no_face"
    http_status = 422


class PoorPhotoError(NoFaceError):
    """A selfie holds a face, but one too poor to act on (the rights flows ask for another)."""

    code = "poor_photo"


class AuthError(FaceLedgerError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(AuthError):
    code = "forbidden"
    http_status = 403


class IntegrityError(FaceLedgerError):
    code = "integrity_error"
    http_status = 500


class UncalibratedFarError(ConfigError, ValueError):
    """A false-accept rate that is not one of the pack's calibrated operating points."""

    code = "uncalibrated_far"
    http_status = 422

    def __init__(self, message: str, allowed: tuple[float, ...] = ()) -> None:
        super().__init__(message)
        self.allowed = allowed


class InvalidRequestError(FaceLedgerError):
    code = "invalid_request"
    http_status = 422


class IdentityNotVerifiedError(ForbiddenError):
    code = "identity_not_verified"
    http_status = 403


class RateLimitedError(AuthError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class PurposeNotDeclaredError(LawfulBasisError):
    code = "purpose_not_declared"
    http_status = 422


class RightsRequestError(FaceLedgerError):
    code = "rights_request_invalid"
    http_status = 409


class ReceiptError(IntegrityError):
    code = "receipt_invalid"
    http_status = 422
