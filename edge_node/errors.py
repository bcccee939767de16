"""Errors the edge node raises, rooted at :class:`EdgeError`.

::

    EdgeError                      root; ``hint`` says what an operator can do
    ├── NotEnrolled                no identity in the data dir yet
    ├── CaptureError               staff input rejected; nothing was written
    ├── Retryable                  try again later; the scheduler backs off
    │   ├── HubUnreachable         connection refused, reset, timeout, DNS
    │   └── HubBusy                429/503 from the hub (carries Retry-After)
    └── Final                      retrying the same thing cannot succeed
        ├── HubRejected            a 4xx problem from the hub (carries its code)
        ├── SyncHalted             sealing stopped: fork or restore detected
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
    "SyncHalted",
]


class EdgeError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotEnrolled(EdgeError):
    pass


class CaptureError(EdgeError):
    pass


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


class EnrollmentFailed(Final):
    pass
