"""Fixtures of the edge tests: a real node file with the shipped catalog installed, and a
capture context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_node.capture import CaptureContext
from edge_node.catalog import install_catalog
from edge_node.pii import PiiCipher, generate_data_key
from edge_node.store import Store
from sync_protocol import Catalog
from tests.edge.support import NODE, shipped_catalog


@pytest.fixture
def catalog() -> Catalog:
    return shipped_catalog()


@pytest.fixture
def store(tmp_path: Path, catalog: Catalog) -> Iterator[Store]:
    store = Store(tmp_path / "edge.db")
    with store.write() as connection:
        install_catalog(connection, catalog)
    yield store
    store.close()


@pytest.fixture
def context() -> CaptureContext:
    return CaptureContext(NODE, "arish", PiiCipher(generate_data_key()))
