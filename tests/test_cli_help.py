"""Every command of both CLIs explains itself, and both run as ``python -m``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("command", ["sync", "run"])
@pytest.mark.parametrize("records", ["0", "10001"])
def test_a_batch_size_outside_the_protocol_bounds_is_refused_before_anything_runs(
    command: str, records: str, tmp_path: Path
) -> None:
    result = RUNNER.invoke(
        edge_app, [command, "--data-dir", str(tmp_path), "--batch-records", records]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--batch-records'" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []  # nothing opened or created
