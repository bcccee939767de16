"""Fixtures for end-to-end tests with real hub processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import HubProcess


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[HubProcess] = []

    def make(db_url: str | None = None, *, workers: int = 1) -> HubProcess:
        data_dir = tmp_path / f"hub{len(started)}"
        hub = HubProcess(data_dir, db_url or f"sqlite:///{data_dir / 'hub.db'}", workers=workers)
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()
