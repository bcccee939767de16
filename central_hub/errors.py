"""Errors the hub raises, each mapped to one HTTP status and a stable problem ``code``.

::

    HubError                         root; carries status, code, optional hint and extras
    ├── Retryable                    the client should try again later (Retry-After)
    │   └── Overloaded               503: ingest concurrency is saturated
    └── Rejected                     final: resending the same request cannot succeed
        ├── BadRequest               400: malformed input (envelope, JSON, record)
        ├── PayloadTooLarge          413: body or payload beyond a hard bound
        ├── Unauthenticated          401: unknown node or token, bad signature, replay
        ├── Forbidden                403: revoked node, wrong center, wrong role
        ├── NotFound                 404
        ├── Conflict                 409: chain gap or fork, token already used, a
        │                                 decision the workflow does not allow now
        ├── Gone                     410: enrollment token expired, a retired route
        └── UpgradeRequired          426: the node's software cannot read what is next

Problem bodies (RFC 9457) never echo secrets or say which part of a seal failed.
"""

from __future__ import annotations

from sync_protocol import WorkflowError

__all__ = [
    "WORKFLOW_STATUS",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "HubError",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "Rejected",
    "Retryable",
    "Unauthenticated",
    "UpgradeRequired",
    "workflow_problem",
]


class HubError(Exception):
    status = 500

    def __init__(self, code: str, detail: str, *, hint: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.hint = hint
        self.extra = extra

    def problem(self) -> dict[str, object]:
        body: dict[str, object] = {
            "type": "about:blank",
            "title": self.code.replace("_", " "),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.hint:
            body["hint"] = self.hint
        return body | self.extra


class Retryable(HubError):
    status = 503
    retry_after_seconds = 2


class Overloaded(Retryable):
    status = 503


class Rejected(HubError):
    status = 400


class BadRequest(Rejected):
    status = 400


class PayloadTooLarge(Rejected):
    status = 413


class Unauthenticated(Rejected):
    status = 401


class Forbidden(Rejected):
    status = 403


class NotFound(Rejected):
    status = 404


class Conflict(Rejected):
    status = 409


class Gone(Rejected):
    status = 410


class UpgradeRequired(Rejected):
    status = 426


# The status of each workflow rule's code (``sync_protocol.errors.WORKFLOW_CODES``).
WORKFLOW_STATUS: dict[str, type[Rejected]] = {
    "unknown_transaction": NotFound,
    "wrong_agency": Forbidden,
    "decision_not_allowed": Forbidden,
    "not_approved": Conflict,
    "transaction_closed": Conflict,
    "already_decided": Conflict,
    "awaiting_information": Conflict,
    "no_information_requested": Conflict,
}


def workflow_problem(error: WorkflowError, where: str = "") -> Rejected:
    """The problem for a refused workflow event, under the rule's own code."""
    detail = f"{where}{error}"
    return WORKFLOW_STATUS[error.code](error.code, detail)
