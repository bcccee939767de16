"""Errors the edge node raises, rooted at :class:`EdgeError`.

::

    EdgeError                      root; ``hint`` says what an operator can do
    ├── NotEnrolled                no identity in the data dir yet
    ├── CaptureError               staff input rejected; nothing was written (``code``)
    ├── Retryable                  try again later; the scheduler backs off
    │   ├── HubUnreachable         connection refused, reset, timeout, DNS
    │   └── HubBusy                429/503 from the hub (carries Retry-After)
    └── Final                      retrying the same thing cannot succeed
        ├── HubRejected            a 4xx problem from the hub (carries its code)
        ├── SyncHalted             sealing stopped: fork or restore detected
        ├── SoftwareOutdated       the hub sends what only a newer release reads
        └── EnrollmentFailed       the hub refused enrollment or the keys did not match
"""

from __future__ import annotations

__all__ = [
    "CaptureError",
    "EdgeError",
    "EnrollmentFailed",
    "Final",
    "HubBusy",
    "HubRejected",
    "HubUnreachable",
    "NotEnrolled",
    "Retryable",
    "SoftwareOutdated",
    "SyncHalted",
]


class EdgeError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotEnrolled(EdgeError):
    pass


class CaptureError(EdgeError):
    """``code`` says which rule refused the input: a workflow code
    (``sync_protocol.errors.WORKFLOW_CODES``, e.g. ``not_approved``), a validation code
    (e.g. ``invalid_national_id``), or ``invalid_input``."""

    def __init__(
        self, message: str, *, hint: str | None = None, code: str = "invalid_input"
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class Retryable(EdgeError):
    retry_after_seconds: float | None = None


class HubUnreachable(Retryable):
    pass


class HubBusy(Retryable):
    def __init__(self, message: str, *, retry_after_seconds: float | None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Final(EdgeError):
    pass


class HubRejected(Final):
    def __init__(self, status: int, code: str, detail: str, **extra: object) -> None:
        super().__init__(f"hub refused ({status} {code}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


class SyncHalted(Final):
    pass


class SoftwareOutdated(Final):
    """The hub answered ``upgrade_required``, or a change set holds a change or record
    this release cannot read: nothing of it was applied. Only an upgrade helps."""

    code = "upgrade_required"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the hub needs a newer edge-node release (upgrade_required): {detail}",
            hint="upgrade this node's software (edge-node); records stay safe locally and "
            "sync resumes after the upgrade",
        )


class EnrollmentFailed(Final):
    pass
