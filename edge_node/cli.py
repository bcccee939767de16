"""The ``edge-node`` command line.

Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input (the input was rejected, nothing changed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys

import typer

from sync_protocol import PROTOCOL_VERSION, NationalIdError, parse_national_id

EXIT_INVALID_INPUT = 3

app = typer.Typer(
    help="Edge node of a one-stop service center: record transactions offline, sync to the hub.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the software and protocol versions."""
    from importlib.metadata import version as package_version

    typer.echo(f"edge-node {package_version('egypt-edge-sync')} (protocol v{PROTOCOL_VERSION})")


@app.command("check-id")
def check_id(
    national_id: str = typer.Argument(help="The 14-digit Egyptian national ID to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a national ID's structure and show birth date, governorate and gender."""
    try:
        parsed = parse_national_id(national_id, today=dt.datetime.now(dt.UTC).date())
    except NationalIdError as error:
        if as_json:
            typer.echo(json.dumps({"valid": False, "code": error.code, "error": str(error)}))
        else:
            typer.echo(f"invalid: {error}", err=True)
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    fields = dataclasses.asdict(parsed) | {"birth_date": parsed.birth_date.isoformat()}
    if as_json:
        typer.echo(json.dumps({"valid": True, **fields}, ensure_ascii=False))
        return
    for key, value in fields.items():
        typer.echo(f"{key:17} {value}")


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
