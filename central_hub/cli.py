"""The ``central-hub`` command line.

Exit codes: 0 ok, 1 error, 2 usage.
"""

from __future__ import annotations

import sys

import typer

from sync_protocol import PROTOCOL_VERSION

app = typer.Typer(
    help="Central hub: enroll center nodes, ingest their batches, serve the change feed.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the software and protocol versions."""
    from importlib.metadata import version as package_version

    typer.echo(f"central-hub {package_version('egypt-edge-sync')} (protocol v{PROTOCOL_VERSION})")


@app.callback()
def _root() -> None:
    """Central hub: enroll center nodes, ingest their batches, serve the change feed."""


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
