"""What the hub writes to its log, in-process on SQLite and PostgreSQL: enough for central
IT to act on (which node forked), and never a token, a key or a citizen's data, even with
SQL statement logging switched on."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from central_hub.enrollment import provision_center
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, ScriptedNode

NATIONAL_ID = "29001013412375"  # what ScriptedNode.records() puts in every record
CITIZEN = "محمد أحمد علي"


def _token(client: TestClient, center: str = "arish") -> str:
    return provision_center(hub_store(client), center, "مركز", now_ms=T0_MS, ttl_hours=72).token


def test_a_fork_is_logged_with_its_node_and_seq(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    node = ScriptedNode(client)
    assert node.enroll(_token(client)).status_code == 200
    node.push(node.seal(node.records(1)))
    forked = node.seal(node.records(1), seq=1, prev_hash=bytes(32))
    with caplog.at_level(logging.WARNING, logger="central_hub"):
        assert node.push(forked).status_code == 409
    assert f"fork quarantined: node {node.node_id} seq 1" in caplog.text


def test_no_token_key_or_citizen_data_reaches_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(client)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement logged
    node = ScriptedNode(client)
    assert node.enroll(token).status_code == 200
    assert ScriptedNode(client).enroll(token).status_code == 409  # token_used
    records = node.records(3)
    assert node.push(node.seal(records)).status_code == 200
    cancelled = node.status(records[0].transaction_id, "cancelled")
    assert node.push(node.seal([cancelled])).status_code == 200  # an existing row: upserted
    node.center_id = "aswan"
    assert node.push(node.seal(node.records(1))).status_code == 403  # wrong_center
    tampered = bytearray(node.seal(node.records(1)))
    tampered[-1] ^= 1
    assert node.push(bytes(tampered)).status_code == 401  # invalid_signature

    logged = caplog.text
    # The projection upsert of a transaction the hub holds runs on both backends
    # (PostgreSQL COPYs new rows through the driver, which SQLAlchemy does not log).
    assert "INSERT INTO transactions" in logged, "statement logging was off: this proves nothing"
    assert token not in logged
    assert NATIONAL_ID not in logged and CITIZEN not in logged
    assert node.signing_key.private_bytes().hex() not in logged
