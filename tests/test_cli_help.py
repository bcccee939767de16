"""Every command of both CLIs explains itself, and both run as ``python -m``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from central_hub.cli import app as hub_app
from edge_node.cli import app as edge_app
from sync_protocol import PROTOCOL_VERSION

RUNNER = CliRunner()


def _commands(app: typer.Typer) -> list[str]:
    return [command.name or command.callback.__name__ for command in app.registered_commands]


@pytest.mark.parametrize(
    ("app", "command"),
    [(edge_app, name) for name in _commands(edge_app)]
    + [(hub_app, name) for name in _commands(hub_app)],
)
def test_every_command_has_help_text(app: typer.Typer, command: str) -> None:
    result = RUNNER.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert len(result.output.split("Usage:")[1].strip()) > 40


@pytest.mark.parametrize("module", ["edge_node", "central_hub"])
def test_runs_as_a_module(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"protocol v{PROTOCOL_VERSION}" in result.stdout


def test_check_id_prints_derived_fields_as_json() -> None:
    result = RUNNER.invoke(edge_app, ["check-id", "29001013412375", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["governorate_en"] == "North Sinai"


def test_check_id_rejects_arabic_indic_digits_with_exit_code_3() -> None:
    result = RUNNER.invoke(edge_app, ["check-id", "٢٩٠٠١٠١٣٤١٢٣٧٥"])
    assert result.exit_code == 3
    assert "ASCII digits 0-9" in result.output
