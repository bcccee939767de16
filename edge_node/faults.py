"""Labelled crash points for fault-injection tests.

``EGSYNC_EDGE_CRASH_AT=<label>`` in a process's environment when it starts makes it
SIGKILL itself when it reaches that label: no cleanup, no flush, exactly like pulling
the power. Unset in production."""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "EGSYNC_EDGE_CRASH_AT"


# Read once at start: the tests set it in the environment of the process they launch, and
# the check sits on every capture's path.
_CRASH_AT = os.environ.get(CRASH_ENV)


def crash_point(label: str) -> None:
    if label == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
