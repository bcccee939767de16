"""Hub fixtures: a database per test on each backend, hub keys, and an in-process app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central_hub.api import create_app
from central_hub.keystore import HubIdentity, create_identity
from central_hub.settings import HubSettings
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import SqlStore
from tests.hub.inprocess import provision_token
from tests.hub.nodes import FakeClock, ScriptedNode

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend (PostgreSQL: a throwaway schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    engine = create_hub_engine(db_url, pool_size=4)
    migrate.upgrade(engine)
    yield SqlStore(engine)
    engine.dispose()


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    return tmp_path / "hub"


@pytest.fixture
def identity(hub_dir: Path) -> HubIdentity:
    return create_identity(hub_dir)


HOLD_MS = 400


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(hub_dir: Path, db_url: str) -> HubSettings:
    # A short hold: tests that leave a batch waiting for a predecessor that never comes
    # need not wait the production default.
    return HubSettings(data_dir=hub_dir, db_url=db_url, ingest_hold_ms=HOLD_MS)


@pytest.fixture
def client(settings: HubSettings, identity: HubIdentity, clock: FakeClock) -> Iterator[TestClient]:
    app = create_app(settings, identity=identity, clock_ms=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def node(client: TestClient) -> ScriptedNode:
    """A node enrolled for center ``arish`` of the in-process app."""
    scripted = ScriptedNode(client)
    assert scripted.enroll(provision_token(client)).status_code == 200
    return scripted
