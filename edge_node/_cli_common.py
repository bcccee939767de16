"""What the ``edge-node`` command modules share: options, exit codes, error output,
opening the node, and how amounts and times are shown."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn

import typer

from edge_node.errors import (
    CaptureError,
    EdgeError,
    NotEnrolled,
    Retryable,
    SoftwareOutdated,
    SyncHalted,
)

EXIT_ERROR: Final = 1
EXIT_INVALID_INPUT: Final = 3
EXIT_NOT_ENROLLED: Final = 4
EXIT_NOT_DELIVERED: Final = 5
EXIT_HALTED: Final = 6
EXIT_UPGRADE_REQUIRED: Final = 7

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="EDGE_DATA_DIR",
        help="The node's data directory (keys, edge.db). Env: EDGE_DATA_DIR.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
StaffId = Annotated[
    str,
    typer.Option("--staff", envvar="EDGE_STAFF_ID", help="Who records this. Env: EDGE_STAFF_ID."),
]


def fail(error: EdgeError | str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error`` (with its rule's code, if input was refused, and its hint) to
    stderr and exit with ``code``."""
    message = str(error)
    if isinstance(error, CaptureError) and error.code != "invalid_input":
        message = f"{message} [{error.code}]"
    hint = error.hint if isinstance(error, EdgeError) else None
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


def exit_code(error: EdgeError) -> int:
    if isinstance(error, NotEnrolled):
        return EXIT_NOT_ENROLLED
    if isinstance(error, CaptureError):
        return EXIT_INVALID_INPUT
    if isinstance(error, Retryable):
        return EXIT_NOT_DELIVERED
    if isinstance(error, SyncHalted):
        return EXIT_HALTED
    if isinstance(error, SoftwareOutdated):
        return EXIT_UPGRADE_REQUIRED
    return EXIT_ERROR


def open_node(data_dir: Path) -> Any:
    from edge_node.node import EdgeNode

    try:
        return EdgeNode.open(data_dir)
    except EdgeError as error:
        fail(error, exit_code(error))


def parse_transaction_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        fail(f"{text!r} is not a transaction id", EXIT_INVALID_INPUT)


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def egp(piasters: int) -> str:
    return f"{piasters / 100:,.2f} EGP"


def _cairo() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo("Africa/Cairo")
    except zoneinfo.ZoneInfoNotFoundError:  # no tz database on this PC: say UTC, not guess
        return dt.UTC


def cairo_time(ms: int | None) -> str:
    """``ms`` (Unix milliseconds, UTC) as Cairo local time, e.g. 2026-03-01 14:05 EET."""
    if ms is None:
        return "-"
    moment = dt.datetime.fromtimestamp(ms / 1000, _cairo())
    return moment.strftime("%Y-%m-%d %H:%M %Z")
