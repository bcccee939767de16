"""The hub's HTTP API in-process (TestClient) on SQLite and PostgreSQL: enrollment,
exactly-once ingest, chain verdicts, the change feed, agency decisions, heartbeats, and one
test per bad-input class, each leaving the hub's tables unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import select

from central_hub.api import create_app
from central_hub.keystore import HubIdentity
from central_hub.settings import HubSettings
from central_hub.storage import schema
from sync_protocol import OpeningKey, SigningKey, seal_batch
from sync_protocol.changes import CatalogChange, RevocationChange
from tests.hub.conftest import HOLD_MS
from tests.hub.inprocess import hub_store, provision_token
from tests.hub.nodes import T0_MS, FakeClock, ScriptedNode


def _digest(client: TestClient) -> str:
    """SHA-256 over every row of every hub table, in a stable order."""
    digest = hashlib.sha256()
    with hub_store(client).engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            if table.name == "request_nonces":
                continue  # a refused request may still consume a nonce: that is the point
            rows = connection.execute(select(table)).all()
            digest.update(table.name.encode())
            for row in sorted(repr(tuple(row)) for row in rows):
                digest.update(row.encode())
    return digest.hexdigest()


def _problem(response, status: int, code: str) -> dict:
    assert (response.status_code, response.json().get("code")) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# --- health and enrollment ---------------------------------------------------------------


def test_health_endpoints_and_hub_time_header(client: TestClient, clock: FakeClock) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json() == {"status": "ready"}
    assert ready.headers["x-egsync-time"] == str(clock.now_ms)


def test_openapi_and_docs_are_served_without_a_cdn(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/batches" in spec["paths"]
    page = client.get("/docs").text
    assert "cdn.jsdelivr" not in page and "unpkg" not in page


def test_enrollment_returns_what_the_node_needs(client: TestClient) -> None:
    scripted = ScriptedNode(client)
    body = scripted.enroll(provision_token(client)).json()
    assert body["center_id"] == "arish"
    assert body["center_name"] == "مركز خدمات مصر بالعريش"
    assert body["catalog_version"] >= 1
    assert body["hub_sealing_fingerprint"].startswith("SHA256:")


def test_a_token_works_once(client: TestClient) -> None:
    token = provision_token(client)
    assert ScriptedNode(client).enroll(token).status_code == 200
    _problem(ScriptedNode(client).enroll(token), 409, "token_used")


def test_an_expired_token_is_gone(client: TestClient, clock: FakeClock) -> None:
    token = provision_token(client)
    clock.now_ms += 73 * 3_600_000
    _problem(ScriptedNode(client).enroll(token), 410, "token_expired")


def test_an_unknown_token_is_refused(client: TestClient) -> None:
    _problem(ScriptedNode(client).enroll("ege_" + secrets.token_urlsafe(32)), 401, "unknown_token")


def test_enrollment_needs_proof_of_key_possession(client: TestClient) -> None:
    response = client.post(
        "/v1/enroll",
        json={
            "token": provision_token(client),
            "verify_key": base64.b64encode(SigningKey.generate().public.to_bytes()).decode(),
            "sealing_key": base64.b64encode(OpeningKey.generate().public.to_bytes()).decode(),
            "proof": base64.b64encode(b"\x00" * 64).decode(),
            "software_version": "x",
        },
    )
    _problem(response, 401, "invalid_proof")


# --- ingest: exactly once ----------------------------------------------------------------


def test_a_batch_is_stored_once_and_answered_with_a_signed_receipt(node: ScriptedNode) -> None:
    sealed = node.seal(node.records(3))
    response = node.push(sealed)
    receipt = node.check_receipt(sealed, response)
    assert (receipt.seq, receipt.records_accepted, receipt.records_known) == (1, 3, 0)


def test_one_chain_may_mix_envelope_versions(client: TestClient, node: ScriptedNode) -> None:
    """Batches a node sealed before an upgrade (version 1) and after it (version 2) form
    one chain: each is opened by its own version, and links by its batch hash."""
    for version in (1, 2, 1):
        sealed = node.seal(node.records(2), version=version)
        assert sealed[4] == version
        receipt = node.check_receipt(sealed, node.push(sealed))
        assert receipt.records_accepted == 2
    with hub_store(client).engine.connect() as connection:
        assert len(connection.execute(select(schema.events)).all()) == 6


def test_a_resent_batch_gets_the_byte_identical_receipt(
    client: TestClient, node: ScriptedNode, clock: FakeClock
) -> None:
    sealed = node.seal(node.records(3))
    first = node.push(sealed)
    before = _digest(client)
    clock.now_ms += 60_000
    again = node.push(sealed)
    assert (again.status_code, again.content) == (200, first.content)
    assert _digest(client) == before


def test_events_already_known_are_counted_not_duplicated(
    client: TestClient, node: ScriptedNode
) -> None:
    records = node.records(2)
    node.push(node.seal(records))
    sealed = node.seal(records + node.records(1))
    receipt = node.check_receipt(sealed, node.push(sealed))
    assert (receipt.records_accepted, receipt.records_known) == (1, 2)
    with hub_store(client).engine.connect() as connection:
        assert len(connection.execute(select(schema.events)).all()) == 3


def test_projection_and_chain_head_follow_ingest(client: TestClient, node: ScriptedNode) -> None:
    sealed = node.seal(node.records(2, fee_piasters=5000))
    node.push(sealed)
    response = node.signed("GET", "/v1/chain-head", time_ms=T0_MS)
    assert response.status_code == 200, response.text
    head = response.json()
    assert (head["seq"], head["batch_hash"]) == (1, node.head_hash.hex())
    with hub_store(client).engine.connect() as connection:
        fees = connection.execute(select(schema.transactions.c.fee_piasters)).scalars().all()
    assert fees == [5000, 5000]


# --- chain verdicts ------------------------------------------------------------------------


def test_a_gap_answers_409_with_the_expected_seq(client: TestClient, node: ScriptedNode) -> None:
    node.push(node.seal(node.records(1)))
    skipped = node.seal(node.records(1))
    before = _digest(client)
    started = time.monotonic()
    # Next but one: held for the predecessor (the node pipelines), which never comes.
    problem = _problem(node.push(node.seal(node.records(1))), 409, "chain_gap")
    assert time.monotonic() - started >= HOLD_MS / 1000
    assert problem["expected_seq"] == 2
    assert _digest(client) == before
    assert node.push(skipped).status_code == 200


def test_a_batch_beyond_the_pipeline_is_a_gap_at_once(
    client: TestClient, node: ScriptedNode
) -> None:
    node.push(node.seal(node.records(1)))
    node.seal(node.records(1))
    node.seal(node.records(1))
    started = time.monotonic()
    problem = _problem(node.push(node.seal(node.records(1))), 409, "chain_gap")  # seq 4
    assert time.monotonic() - started < HOLD_MS / 1000
    assert problem["expected_seq"] == 2


def test_a_batch_sent_before_its_predecessor_is_stored_waits_for_it(
    client: TestClient, node: ScriptedNode
) -> None:
    first = node.seal(node.records(2))
    second = node.seal(node.records(3))
    with ThreadPoolExecutor(max_workers=1) as other_connection:
        ahead = other_connection.submit(node.push, second)
        time.sleep(HOLD_MS / 4000)  # the second is held by now
        assert node.push(first).status_code == 200
        answered = ahead.result(timeout=30)
    assert answered.status_code == 200, answered.text
    assert node.check_receipt(second, answered).records_accepted == 3
    head = node.signed("GET", "/v1/chain-head", time_ms=T0_MS).json()
    assert (head["seq"], head["batch_hash"]) == (2, node.head_hash.hex())


def test_a_fork_is_quarantined_and_nothing_merged(client: TestClient, node: ScriptedNode) -> None:
    node.push(node.seal(node.records(1)))
    accepted_head = node.head_hash
    # Same seq 1, other content: a node restored from an old backup.
    forked = node.seal(node.records(1), seq=1, prev_hash=bytes(32))
    problem = _problem(node.push(forked), 409, "chain_fork")
    assert problem["expected_seq"] == 2
    with hub_store(client).engine.connect() as connection:
        assert len(connection.execute(select(schema.events)).all()) == 1
        assert len(connection.execute(select(schema.quarantine)).all()) == 1
        status = connection.execute(select(schema.nodes.c.status)).scalar_one()
    assert status == "forked"
    # Building on the fork is quarantined too: kept for central IT, never merged.
    _problem(node.push(node.seal(node.records(1), seq=2)), 409, "chain_fork")
    # Even a batch that extends the accepted chain waits until the fork is resolved.
    on_accepted = node.seal(node.records(1), seq=2, prev_hash=accepted_head)
    _problem(node.push(on_accepted), 409, "node_forked")


# --- bad input: one test per class, tables unchanged ----------------------------------------


def test_oversized_body_is_413_before_reading(client: TestClient, node: ScriptedNode) -> None:
    before = _digest(client)
    response = client.post(
        "/v1/batches",
        content=b"\x00" * 10,
        headers={"content-length": str(64 * 1024 * 1024)},
    )
    _problem(response, 413, "body_too_large")
    assert _digest(client) == before


def test_truncated_batch_is_400(client: TestClient, node: ScriptedNode) -> None:
    sealed = node.seal(node.records(1))
    before = _digest(client)
    _problem(node.push(sealed[:-10]), 400, "truncated_envelope")
    assert _digest(client) == before


def test_bad_signature_is_401(client: TestClient, node: ScriptedNode) -> None:
    sealed = bytearray(node.seal(node.records(1)))
    sealed[-1] ^= 1
    before = _digest(client)
    _problem(node.push(bytes(sealed)), 401, "invalid_signature")
    assert _digest(client) == before


def test_wrong_recipient_key_is_400(client: TestClient, node: ScriptedNode) -> None:
    assert node.node_id is not None
    sealed = seal_batch(
        node.records(1),
        node_id=node.node_id,
        seq=1,
        prev_hash=bytes(32),
        created_at_ms=T0_MS,
        signing_key=node.signing_key,
        hub_key=OpeningKey.generate().public,
    )
    before = _digest(client)
    _problem(node.push(sealed), 400, "wrong_recipient_key")
    assert _digest(client) == before


def test_unknown_node_is_401(client: TestClient, node: ScriptedNode) -> None:
    stranger = ScriptedNode(client)
    stranger.node_id, stranger.center_id = uuid.uuid4(), "arish"
    stranger.hub_sealing_key = node.hub_sealing_key
    sealed = stranger.seal(node.records(1))
    before = _digest(client)
    _problem(stranger.push(sealed), 401, "unknown_node")
    assert _digest(client) == before


def test_revoked_node_is_403_on_its_next_request(client: TestClient, node: ScriptedNode) -> None:
    assert node.node_id is not None
    hub_store(client).set_node_status(node.node_id, "revoked", T0_MS)
    before = _digest(client)
    _problem(node.push(node.seal(node.records(1))), 403, "node_revoked")
    _problem(node.signed("GET", "/v1/chain-head", time_ms=T0_MS), 403, "node_revoked")
    assert _digest(client) == before


def test_replayed_signed_request_is_401(client: TestClient, node: ScriptedNode) -> None:
    nonce = secrets.token_hex(16)
    assert node.signed("GET", "/v1/chain-head", time_ms=T0_MS, nonce=nonce).status_code == 200
    before = _digest(client)
    _problem(
        node.signed("GET", "/v1/chain-head", time_ms=T0_MS, nonce=nonce), 401, "replayed_request"
    )
    assert _digest(client) == before


def test_skewed_clock_is_401_with_hub_time_to_correct_from(
    client: TestClient, node: ScriptedNode
) -> None:
    response = node.signed("GET", "/v1/chain-head", time_ms=T0_MS - 3 * 3_600_000)
    problem = _problem(response, 401, "clock_skew")
    assert problem["hub_time_ms"] == T0_MS == int(response.headers["x-egsync-time"])


def test_duplicate_event_ids_inside_a_batch_are_400(client: TestClient, node: ScriptedNode) -> None:
    record = node.records(1)[0]
    sealed = node.seal([record, record])
    before = _digest(client)
    _problem(node.push(sealed), 400, "invalid_record")
    assert _digest(client) == before


def test_invalid_records_are_400(client: TestClient, node: ScriptedNode) -> None:
    # Well-formed records, but stamped by another node's clock: not this node's to send.
    stamped_elsewhere = ScriptedNode(client, node_id=uuid.uuid4(), center_id="arish")
    sealed = node.seal(stamped_elsewhere.records(1))
    before = _digest(client)
    _problem(node.push(sealed), 400, "invalid_record")
    assert _digest(client) == before


def test_records_for_another_center_are_403(client: TestClient, node: ScriptedNode) -> None:
    node.center_id = "aswan"
    sealed = node.seal(node.records(1))
    before = _digest(client)
    _problem(node.push(sealed), 403, "wrong_center")
    assert _digest(client) == before


def test_garbage_body_is_400_never_500(client: TestClient, node: ScriptedNode) -> None:
    before = _digest(client)
    _problem(node.push(b"GET / HTTP/1.1\r\n\r\n"), 400, "malformed_envelope")
    assert _digest(client) == before


# --- change feed, agency decisions, heartbeat -------------------------------------------------


def test_the_feed_starts_with_the_catalog(node: ScriptedNode) -> None:
    changes = node.pull(0, time_ms=T0_MS)
    assert isinstance(changes.changes[0], CatalogChange)
    assert len(changes.changes[0].catalog.services) >= 40
    assert node.pull(changes.cursor, time_ms=T0_MS).changes == ()


def test_revocations_reach_every_center(client: TestClient, node: ScriptedNode) -> None:
    from central_hub.feed import publish_revocations

    other = ScriptedNode(client)
    other.enroll(provision_token(client, "aswan"))
    assert other.node_id is not None
    hub_store(client).set_node_status(other.node_id, "revoked", T0_MS)
    publish_revocations(hub_store(client), T0_MS)
    revocations = [
        c for c in node.pull(0, time_ms=T0_MS).changes if isinstance(c, RevocationChange)
    ]
    assert revocations[-1].revoked_node_ids == (other.node_id,)


def test_heartbeat_is_stored(client: TestClient, node: ScriptedNode) -> None:
    report = {
        "pending_events": 12,
        "unsent_batches": 1,
        "oldest_pending_age_s": 3600,
        "unsynced_fee_piasters": 30000,
        "clock_offset_ms": -7_200_000,
        "software_version": "0.1.0",
        "disk_free_bytes": 10**10,
    }
    response = node.signed("POST", "/v1/heartbeat", json_body=report, time_ms=T0_MS)
    assert response.status_code == 200, response.text
    with hub_store(client).engine.connect() as connection:
        row = connection.execute(select(schema.heartbeats)).one()
    assert (row.pending_events, row.clock_offset_ms) == (12, -7_200_000)


def test_a_malformed_heartbeat_is_400(client: TestClient, node: ScriptedNode) -> None:
    response = node.signed("POST", "/v1/heartbeat", json_body={"pending_events": -1}, time_ms=T0_MS)
    _problem(response, 400, "invalid_request")
    assert json.dumps(response.json()).find("signature") == -1


def test_a_saturated_hub_sheds_load_with_503_and_retry_after(
    settings: HubSettings, identity: HubIdentity, clock: FakeClock
) -> None:
    app = create_app(
        replace(settings, ingest_concurrency=0, ingest_wait_ms=0), identity=identity, clock_ms=clock
    )
    with TestClient(app, raise_server_exceptions=False) as busy:
        node = ScriptedNode(busy)
        assert node.enroll(provision_token(busy)).status_code == 200
        response = node.push(node.seal(node.records(1)))
        _problem(response, 503, "overloaded")
        assert response.headers["retry-after"] == "2"
    app.state.engine.dispose()
