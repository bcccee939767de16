"""Labelled crash points for fault-injection tests.

``EGSYNC_EDGE_CRASH_AT=<label>`` makes the process SIGKILL itself when it reaches that
label: no cleanup, no flush, exactly like pulling the power. Unset in production."""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "EGSYNC_EDGE_CRASH_AT"


def crash_point(label: str) -> None:
    if os.environ.get(CRASH_ENV) == label:
        os.kill(os.getpid(), signal.SIGKILL)
