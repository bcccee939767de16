"""The exceptions ``sync_protocol`` raises, one tree rooted at :class:`SyncError`.

::

    SyncError                       root of everything this package raises
    ├── ValidationError             a record or field breaks the schema (final)
    │   ├── TextError               text: invisible controls, bidi overrides, length
    │   ├── NationalIdError         an Egyptian national ID that cannot be real
    │   ├── CatalogError            a service catalog breaks the schema or goes backwards
    │   ├── RecordError             a record's shape: unknown type, missing field, bad id
    │   │   └── UpgradeRequired     a record type or change kind newer than this software
    │   └── WorkflowError           an event the one-stop workflow does not allow now
    ├── EnvelopeError               bytes that are not a well-formed v1 envelope (final)
    │   ├── TruncatedEnvelope       fewer bytes than the framing announces
    │   ├── UnsupportedVersion      magic ok, protocol version unknown
    │   └── LimitExceeded           a size or count bound was crossed
    ├── InvalidSeal                 signature or ciphertext did not verify; says nothing more
    ├── InvalidKey                  key bytes of the wrong length or not a valid point
    └── ClockError                  a clock reading or HLC stamp out of bounds

Every class carries a stable machine-readable ``code`` so HTTP problem bodies and CLI
output never depend on message text. All of these are final rejections of the input;
retryable conditions (network, overload) belong to the edge and hub packages.
"""

from __future__ import annotations

__all__ = [
    "WORKFLOW_CODES",
    "CatalogError",
    "ClockError",
    "EnvelopeError",
    "InvalidKey",
    "InvalidSeal",
    "LimitExceeded",
    "NationalIdError",
    "RecordError",
    "SyncError",
    "TextError",
    "TruncatedEnvelope",
    "UnsupportedVersion",
    "UpgradeRequired",
    "ValidationError",
    "WorkflowError",
]


class SyncError(Exception):
    """Root of every error raised by ``sync_protocol``."""

    code = "sync_error"


class ValidationError(SyncError):
    """A field or record breaks the schema. ``field`` names the offending field."""

    code = "invalid_record"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TextError(ValidationError):
    code = "invalid_text"


class NationalIdError(ValidationError):
    code = "invalid_national_id"


class CatalogError(ValidationError):
    """A catalog breaks the schema, or an edge would install the wrong version."""

    code = "invalid_catalog"


class RecordError(ValidationError):
    code = "invalid_record"


class UpgradeRequired(RecordError):
    """A record type or change kind this release does not know: a newer peer made it.
    Never dropped silently: the receiver refuses the whole batch or page and says so."""

    code = "upgrade_required"


class WorkflowError(ValidationError):
    """The event is well formed but the workflow does not allow it at this point (deliver
    before approval, decide after cancellation, an agency deciding another's part).

    ``code`` says which rule, one of :data:`WORKFLOW_CODES`; nothing was written."""

    code = "workflow_violation"

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        assert code in WORKFLOW_CODES, code
        self.code = code


# The rules of the one-stop workflow, one stable code each (docs/protocol.md, section 9).
WORKFLOW_CODES: frozenset[str] = frozenset(
    {
        "unknown_transaction",  # no such transaction here
        "not_approved",  # delivery before every required agency approved
        "transaction_closed",  # delivered, cancelled or rejected: nothing more to decide
        "wrong_agency",  # the agency is not one the transaction's service needs
        "already_decided",  # this agency approved or rejected already
        "awaiting_information",  # this agency asked the center for information
        "no_information_requested",  # an answer nobody asked for
        "decision_not_allowed",  # this maker may not make this kind of event
    }
)


class EnvelopeError(SyncError):
    """The bytes are not a well-formed envelope."""

    code = "malformed_envelope"


class TruncatedEnvelope(EnvelopeError):
    code = "truncated_envelope"


class UnsupportedVersion(EnvelopeError):
    code = "unsupported_version"


class LimitExceeded(EnvelopeError):
    code = "limit_exceeded"


class InvalidSeal(SyncError):
    """A signature or ciphertext failed to verify.

    Deliberately uninformative (like Fernet's ``InvalidToken``): wrong key, flipped byte and
    forged signature look the same to the sender. Callers log the context themselves.
    """

    code = "invalid_seal"

    def __init__(self) -> None:
        super().__init__("the envelope's signature or ciphertext did not verify")


class InvalidKey(SyncError):
    code = "invalid_key"


class ClockError(SyncError):
    code = "clock_out_of_bounds"
