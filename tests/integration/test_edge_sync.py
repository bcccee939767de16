"""The edge node against a real hub process: offline backlog, crashes, restore, agency
decisions, PII at rest, and the long-running service."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from edge_node.capture import record_transaction
from edge_node.node import EdgeNode
from edge_node.sealer import SealerConfig
from tests.integration.edges import EdgeCli, HubView, enrolled_edge, stop_process
from tests.integration.processes import HubProcess, run_cli, wait_for

EXIT_NOT_DELIVERED = 5
EXIT_HALTED = 6


_FIRST = ("أحمد", "محمد", "فاطمة", "مريم", "محمود", "هدى", "علي", "نور", "يوسف", "سارة")
_FAMILY = ("السيد", "عبد الله", "حسن", "إبراهيم", "مصطفى", "سليمان", "عثمان", "الشريف")


def citizen_name(i: int) -> str:
    """A distinct, digit-free Arabic name for citizen ``i`` (names may not hold digits)."""
    return " ".join(
        (_FIRST[i % 10], _FIRST[(i // 10) % 10], _FAMILY[(i // 100) % 8], _FAMILY[i // 800 % 8])
    )


def national_id(i: int) -> str:
    """Valid, distinct IDs: born 1990-01-01 in North Sinai (34), serial ``i``."""
    return f"290010134{i:04d}1"


OFFLINE_DAY = 2500  # records made offline: batches of 1,000, 1,000 and 500
SMALL_BATCHES = ("--batch-records", "1000")  # several batches from a backlog quick to make


def record_in_process(edge: EdgeCli, count: int) -> tuple[list[str], int]:
    """Record ``count`` transactions through the real capture path (in this process:
    thousands of CLI runs would take minutes); their transaction ids and fee total."""
    node = EdgeNode.open(edge.data_dir)
    recorded, fees = [], 0
    try:
        for i in range(count):
            created = record_transaction(
                node.store,
                node.capture_context,
                service_code=("CIV-BIRTH", "PAS-NEW", "SOC-TAKAFUL")[i % 3],
                national_id=national_id(i),
                citizen_name=citizen_name(i),
                staff_id="clerk-1",
                now_ms=node.now_ms(),
            )
            recorded.append(str(created.transaction_id))
            fees += created.fee_piasters
    finally:
        node.close()
    return recorded, fees


@pytest.fixture
def hub(hub_factory) -> HubProcess:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    hub.start()
    return hub


def test_thousands_of_offline_records_arrive_exactly_once_with_equal_fees(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "arish", "مركز خدمات مصر بالعريش")
    hub.stop()  # the link is down for the whole working day

    recorded, fees = record_in_process(edge, OFFLINE_DAY)

    offline = edge.run("sync", "--once", *SMALL_BATCHES)
    assert offline.returncode == EXIT_NOT_DELIVERED, offline.stderr
    assert "unreachable" in offline.stderr
    assert edge.status()["pending_events"] + edge.status()["unsent_batches"] > 0

    hub.start()
    edge.ok("sync", "--once", *SMALL_BATCHES)  # three batches, two in flight at a time

    at_hub = HubView(hub).created_transactions("arish")
    assert sorted(at_hub) == sorted(recorded)  # all of them, none twice
    assert HubView(hub).fee_total("arish") == fees
    assert HubView(hub).batch_count("arish") == 3
    status = edge.status()
    assert status["unsynced_fee_piasters"] == 0
    assert status["transactions_delivered"] == OFFLINE_DAY


@pytest.mark.parametrize(
    ("step", "crash_at"),
    [
        ("record", "record-before-commit"),
        ("record", "record-after-commit"),
        ("sync", "seal-before-commit"),
        ("sync", "seal-after-commit"),
        ("sync", "push-before-ack"),
    ],
)
def test_sigkill_at_each_crash_point_loses_and_duplicates_nothing(
    hub: HubProcess, tmp_path: Path, step: str, crash_at: str
) -> None:
    edge = enrolled_edge(hub, tmp_path, "tanta", "مركز خدمات مصر بطنطا")
    returned = [edge.record(national_id(i), citizen_name(i)) for i in range(3)]
    edge.ok("sync", "--once")
    returned += [edge.record(national_id(i), citizen_name(i)) for i in range(3, 6)]

    if step == "record":
        crashed = edge.run(
            "record",
            "--service",
            "CIV-BIRTH",
            "--national-id",
            national_id(7),
            "--name",
            "س",
            crash_at=crash_at,
        )
    else:
        crashed = edge.run("sync", "--once", crash_at=crash_at)
    assert crashed.returncode == -signal.SIGKILL
    assert edge.integrity() == "ok"

    edge.ok("sync", "--once")
    edge.ok("sync", "--once")  # a second round changes nothing
    at_hub = HubView(hub).created_transactions("tanta")
    assert len(at_hub) == len(set(at_hub)), "a transaction reached the hub twice"
    assert set(returned) <= set(at_hub)
    assert len(at_hub) == edge.status()["transactions_recorded"]
    assert edge.integrity() == "ok"


def test_sigkill_with_batches_in_flight_loses_and_duplicates_nothing(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "giza", "مركز خدمات مصر بالجيزة")
    recorded, fees = record_in_process(edge, 2100)  # three batches
    # Killed on the first receipt, with the next batch already sent (it may be stored
    # at the hub, unacknowledged here): the next round resends it and gets its receipt.
    crashed = edge.run("sync", "--once", *SMALL_BATCHES, crash_at="push-before-ack")
    assert crashed.returncode == -signal.SIGKILL
    assert edge.integrity() == "ok"
    edge.ok("sync", "--once", *SMALL_BATCHES)

    at_hub = HubView(hub).created_transactions("giza")
    assert sorted(at_hub) == sorted(recorded)
    assert HubView(hub).fee_total("giza") == fees
    assert HubView(hub).batch_count("giza") == 3
    assert edge.status()["unsent_batches"] == 0


def test_restore_from_an_old_backup_is_detected_and_nothing_merges_twice(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "aswan", "مركز خدمات مصر بأسوان")
    first = [edge.record(national_id(i), citizen_name(i)) for i in range(3)]
    edge.ok("sync", "--once")
    backup = tmp_path / "backup"
    shutil.copytree(edge.data_dir, backup)
    second = [edge.record(national_id(i), citizen_name(i)) for i in range(3, 6)]
    edge.ok("sync", "--once")

    shutil.rmtree(edge.data_dir)
    shutil.copytree(backup, edge.data_dir)  # the PC died; IT restored last week's copy
    after_restore = [edge.record(national_id(i), citizen_name(i)) for i in range(6, 8)]
    halted = edge.run("sync", "--once")

    assert halted.returncode == EXIT_HALTED, halted.stderr
    assert "old backup" in halted.stderr
    assert edge.status()["sealing_halted"]
    assert HubView(hub).node_status("aswan") == ["forked"]
    at_hub = HubView(hub).created_transactions("aswan")
    assert sorted(at_hub) == sorted(first + second)  # nothing twice, nothing lost
    assert not set(after_restore) & set(at_hub)  # kept locally until IT acts

    # Staff can keep working; the node keeps refusing to seal.
    edge.record(national_id(9), citizen_name(9))
    assert edge.run("sync", "--once").returncode == EXIT_HALTED
    assert sorted(HubView(hub).created_transactions("aswan")) == sorted(first + second)


def test_agency_decisions_at_the_hub_reach_the_center(hub: HubProcess, tmp_path: Path) -> None:
    edge = enrolled_edge(hub, tmp_path, "giza", "مركز خدمات مصر بالجيزة")
    # A first-time passport needs national security and passports.
    approved = edge.record(national_id(1), "أحمد", service="PAS-NEW")
    rejected = edge.record(national_id(2), "بسمة", service="PAS-NEW")
    edge.ok("sync", "--once")
    tokens = {}
    for agency in ("national-security", "passports"):
        created = run_cli(
            "central_hub",
            "token",
            "create",
            "--role",
            "agency",
            "--agency",
            agency,
            "--name",
            f"{agency}-officer-7",
            "--data-dir",
            str(hub.data_dir),
            "--db",
            hub.db_url,
            "--json",
        )
        tokens[agency] = {"authorization": f"Bearer {json.loads(created)['token']}"}
    decisions = (
        (approved, "national-security", {"decision": "approved"}),
        (approved, "passports", {"decision": "approved", "note": "checked"}),
        (rejected, "passports", {"decision": "rejected", "reason_code": "documents_invalid"}),
    )
    for index, (transaction, agency, body) in enumerate(decisions):
        answer = httpx.post(
            f"{hub.url}/v1/agency/transactions/{transaction}/decisions",
            json=body,
            headers=tokens[agency] | {"idempotency-key": f"giza-decision-{index}"},
        )
        assert answer.status_code == 200, answer.text

    report = json.loads(edge.ok("sync", "--once", "--json"))
    assert report["status_events_received"] == 3
    assert edge.show(approved)["status"] == "approved"
    assert edge.show(rejected)["status"] == "rejected"
    again = json.loads(edge.ok("sync", "--once", "--json"))
    assert again["status_events_received"] == 0  # applied once, cursor moved with it


def test_national_id_and_name_never_reach_the_disk_in_clear(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "sharm", "مركز خدمات مصر بشرم الشيخ")
    people = [(national_id(40 + i), "فاطمة عبد الرحمن " + citizen_name(i)) for i in range(5)]
    transactions = [edge.record(nid, name) for nid, name in people]
    edge.ok("sync", "--once")
    edge.ok("status-change", transactions[0], "delivered")

    db, wal = edge.data_dir / "edge.db", edge.data_dir / "edge.db-wal"
    before_checkpoint = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after_checkpoint = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    for blob in (before_checkpoint, after_checkpoint):
        for nid, name in people:
            assert nid.encode() not in blob
            assert name.encode("utf-8") not in blob
            assert name.split()[0].encode("utf-8") not in blob
    # ...yet staff can still find the citizen by national ID (blind index).
    found = json.loads(edge.ok("find", "--national-id", people[0][0], "--json"))
    assert [item["transaction_id"] for item in found] == [transactions[0]]
    assert found[0]["citizen_name"] == people[0][1]
    assert found[0]["status"] == "delivered"


def test_the_service_keeps_retrying_and_delivers_when_the_hub_returns(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "arish", "مركز خدمات مصر بالعريش")
    hub.stop()
    service = edge.spawn_run("--sync-interval", "0.5", "--seal-after", "0", "--backoff-cap", "1")
    try:
        recorded = [edge.record(national_id(i), citizen_name(i)) for i in range(4)]
        wait_for(
            lambda: edge.status()["last_error"] is not None, timeout_s=30, what="a failed round"
        )
        hub.start()
        wait_for(
            lambda: edge.status()["transactions_delivered"] == 4,
            timeout_s=60,
            what="the running service to deliver the backlog",
        )
        assert sorted(HubView(hub).created_transactions("arish")) == sorted(recorded)
    finally:
        assert stop_process(service) == 0  # SIGTERM ends it cleanly


def test_the_service_drains_full_batches_and_leaves_a_partial_one_to_its_timer(
    hub: HubProcess, tmp_path: Path
) -> None:
    edge = enrolled_edge(hub, tmp_path, "arish", "مركز خدمات مصر بالعريش")
    recorded, _ = record_in_process(edge, 2050)  # two full batches of 1,000 and 50 more
    service = edge.spawn_run(
        "--sync-interval", "0.5", "--seal-after", "3600", *SMALL_BATCHES
    )  # fmt: skip
    try:
        wait_for(
            lambda: edge.status()["transactions_delivered"] == 2000,
            timeout_s=60,
            what="the service to deliver the full batches",
        )
        time.sleep(2)  # several more rounds: the 50 wait for the seal timer, unsealed
        status = edge.status()
        assert (status["transactions_delivered"], status["pending_events"]) == (2000, 50)
        assert status["unsent_batches"] == 0
        at_hub = HubView(hub).created_transactions("arish")
        assert len(at_hub) == len(set(at_hub)) == 2000 and set(at_hub) <= set(recorded)
    finally:
        assert stop_process(service) == 0


def test_an_offline_service_seals_full_batches_only_and_the_rest_once_online(
    hub: HubProcess, tmp_path: Path
) -> None:
    """During an outage the seal timer leaves a partial batch pending (sealed, it would
    be one more request and envelope to send later); once a round reaches the hub, the
    timer seals it and everything arrives once, in three batches."""
    edge = enrolled_edge(hub, tmp_path, "arish", "مركز خدمات مصر بالعريش")
    hub.stop()
    recorded, _ = record_in_process(edge, 2050)
    service = edge.spawn_run(
        "--sync-interval", "0.5", "--seal-after", "0", "--backoff-cap", "1", *SMALL_BATCHES
    )  # fmt: skip
    try:
        wait_for(
            lambda: edge.status()["unsent_batches"] == 2, timeout_s=30, what="the full batches"
        )
        time.sleep(3)  # the seal job runs every 2 s: at least once more, offline
        status = edge.status()
        assert (status["unsent_batches"], status["pending_events"]) == (2, 50)
        assert status["last_error"] is not None
        hub.start()
        wait_for(
            lambda: edge.status()["transactions_delivered"] == 2050,
            timeout_s=60,
            what="the service to deliver the backlog",
        )
        at_hub = HubView(hub).created_transactions("arish")
        assert sorted(at_hub) == sorted(recorded)
        assert HubView(hub).batch_count("arish") == 3
    finally:
        assert stop_process(service) == 0


def test_offline_a_batch_full_by_bytes_is_sealed_under_the_record_count(
    hub: HubProcess, tmp_path: Path
) -> None:
    """The seal job judges "full" by both bounds of the budget, as the sealer does: 2 MiB
    of records seal as one batch offline although far fewer than --batch-records."""
    edge = enrolled_edge(hub, tmp_path, "arish", "مركز خدمات مصر بالعريش")
    hub.stop()
    record_in_process(edge, 8000)
    with sqlite3.connect(edge.data_dir / "edge.db") as db:
        (pending_bytes,) = db.execute("SELECT sum(length(body_ct)) FROM events").fetchone()
    assert pending_bytes > SealerConfig().max_record_bytes  # the byte bound is reached
    service = edge.spawn_run(
        "--sync-interval", "0.5", "--seal-after", "0", "--backoff-cap", "1",
        "--batch-records", "10000",
    )  # fmt: skip
    try:
        wait_for(lambda: edge.status()["unsent_batches"] == 1, timeout_s=30, what="a batch")
        time.sleep(3)  # the seal job runs every 2 s: at least once more, offline
        status = edge.status()
        assert status["unsent_batches"] == 1
        assert 0 < status["pending_events"] < 8000  # the partial rest waits
    finally:
        assert stop_process(service) == 0


def test_a_wrong_hub_fingerprint_stops_enrollment_before_the_token_is_sent(
    hub: HubProcess, tmp_path: Path
) -> None:
    facts = hub.provision_facts("tanta", "مركز خدمات مصر بطنطا")
    edge = EdgeCli(tmp_path / "edge-tanta")
    refused = edge.run(
        "enroll", facts["token"], "--hub", hub.url,
        "--hub-fingerprint", "SHA256:0000:0000:0000:0000:0000:0000:0000:0000",
        "--data-dir", str(edge.data_dir),
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert "does not match the fingerprint" in refused.stderr
    assert not (edge.data_dir / "node.json").exists()
    missing = edge.run("enroll", facts["token"], "--hub", hub.url, "--data-dir", str(edge.data_dir))
    assert missing.returncode == 2  # the fingerprint is required
    # The token never left the machine, so it still works with the right fingerprint.
    edge.ok(
        "enroll", facts["token"], "--hub", hub.url,
        "--hub-fingerprint", facts["hub_signing_fingerprint"],
        "--data-dir", str(edge.data_dir),
    )  # fmt: skip


def test_a_refused_request_among_two_in_flight_loses_and_duplicates_nothing(
    hub_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # One ingest slot and no waiting room: of the two batches the node sends at once,
    # one is turned away with 503 (or held, then told chain_gap). Rounds fail (exit 5)
    # until everything is through; nothing may arrive twice or go missing.
    hub = hub_factory()
    hub.init()
    hub.start(extra_env={"HUB_INGEST_CONCURRENCY": "1", "HUB_INGEST_WAIT_MS": "0"})
    edge = enrolled_edge(hub, tmp_path, "aswan", "مركز خدمات مصر بأسوان")
    recorded, fees = record_in_process(edge, 2100)  # three batches
    outcomes = []
    for _ in range(12):
        outcomes.append(edge.run("sync", "--once", *SMALL_BATCHES).returncode)
        if outcomes[-1] == 0:
            break
    assert outcomes[-1] == 0, outcomes
    assert set(outcomes) <= {0, EXIT_NOT_DELIVERED}, outcomes
    assert EXIT_NOT_DELIVERED in outcomes, "no request was refused: the test proves nothing"
    at_hub = HubView(hub).created_transactions("aswan")
    assert sorted(at_hub) == sorted(recorded)
    assert HubView(hub).fee_total("aswan") == fees
    assert edge.status()["unsent_batches"] == 0
