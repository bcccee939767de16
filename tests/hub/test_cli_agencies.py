"""The ``central-hub`` commands for agencies, in-process through typer's runner on a real
SQLite hub: agency tokens bound to a catalog agency, the agencies list, and the approval
report (``approvals --json``) read from decisions made through the same code the API
calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from central_hub.agency import decide
from central_hub.auth import hash_secret
from central_hub.cli import app
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import NodeRow, SqlStore
from sync_protocol import GENESIS_HASH, HlcStamp, HybridClock, new_transaction_created, new_uuid7
from tests.hub.nodes import T0_MS

runner = CliRunner()
NODE = new_uuid7(T0_MS)


@pytest.fixture
def hub(tmp_path: Path) -> tuple[str, ...]:
    where = ("--data-dir", str(tmp_path / "hub"))
    assert runner.invoke(app, ["init", *where]).exit_code == 0
    return where


def test_an_agency_token_is_bound_to_a_catalog_agency(hub: tuple[str, ...]) -> None:
    create = ["token", "create", "--role", "agency", "--agency", "health", "--name", "dr-salma"]
    made = runner.invoke(app, [*create, *hub, "--json"])
    assert made.exit_code == 0, made.output
    facts = json.loads(made.stdout)
    assert (facts["role"], facts["agency"], facts["name"]) == ("agency", "health", "dr-salma")
    store = SqlStore(create_hub_engine(f"sqlite:///{hub[1]}/hub.db"))
    token = store.api_token(hash_secret(facts["token"]))
    assert token is not None and token.agency_code == "health"
    unknown = runner.invoke(
        app, ["token", "create", "--role", "agency", "--agency", "nowhere", "--name", "x", *hub]
    )
    assert unknown.exit_code == 3 and "catalog agencies" in unknown.output
    unscoped = runner.invoke(app, ["token", "create", "--role", "agency", "--name", "x", *hub])
    assert unscoped.exit_code == 2 and "--agency" in unscoped.output
    spaced = runner.invoke(
        app, ["token", "create", "--role", "agency", "--agency", "health", "--name", "Dr S", *hub]
    )
    assert spaced.exit_code == 3  # the name is the actor id of every decision: a slug
    again = runner.invoke(app, [*create, *hub])
    assert again.exit_code == 3 and "exists already" in again.output


def test_the_agencies_list_says_how_many_services_each_approves(hub: tuple[str, ...]) -> None:
    listed = json.loads(runner.invoke(app, ["catalog", "agencies", *hub, "--json"]).stdout)
    by_code = {row["code"]: row for row in listed}
    assert by_code["civil-defense"]["approves"] >= 3
    assert by_code["civil-defense"]["name_ar"]
    services = runner.invoke(app, ["catalog", "services", "--agency", "civil-defense", *hub])
    assert services.exit_code == 0 and "LIC-SHOP" in services.output
    assert "CIV-BIRTH" not in services.output
    every = json.loads(runner.invoke(app, ["catalog", "services", *hub, "--json"]).stdout)
    shop = next(row for row in every if row["code"] == "LIC-SHOP")
    assert shop["approvals"] == ["civil-defense", "health", "local-unit"]
    assert len(every) == by_code["civil-defense"]["approves"] + len(
        [row for row in every if "civil-defense" not in row["approvals"]]
    )


def test_the_report_gives_each_agencys_time_to_decision(hub: tuple[str, ...]) -> None:
    engine = create_hub_engine(f"sqlite:///{hub[1]}/hub.db")
    migrate.upgrade(engine)
    store = SqlStore(engine)
    store.create_center("aswan", "أسوان", T0_MS)
    store.create_enrollment_token("aswan", "h" * 64, T0_MS, T0_MS + 1000)
    node = NodeRow(NODE, "", b"k" * 32, b"s" * 1216, "active", 0, GENESIS_HASH)
    assert store.redeem_enrollment_token("h" * 64, node, "v1", T0_MS).outcome == "redeemed"
    opened = [
        new_transaction_created(
            event_id=new_uuid7(T0_MS + i),
            hlc=HlcStamp(T0_MS + i, 0, NODE),
            center_id="aswan",
            service_code="PAS-NEW",
            national_id="29001013400011",
            citizen_name="هدى سالم",
            fee_piasters=50_000,
            staff_id="clerk-1",
            recorded_at_ms=T0_MS,
            required_agencies=("national-security", "passports"),
        )
        for i in range(3)
    ]
    store.commit_batch(
        node_id=NODE,
        seq=1,
        batch_hash=b"\x01" * 32,
        envelope_bytes=1,
        records=opened,
        now_ms=T0_MS,
        make_receipt=lambda accepted, known: b"",
    )
    clock = HybridClock(NODE, lambda: T0_MS)
    for minutes, record in ((5, opened[0]), (15, opened[1])):
        decide(
            store,
            clock,
            agency_code="passports",
            actor_id="officer-1",
            transaction_id=record.transaction_id,
            decision="approved",
            reason_code="",
            note="",
            idempotency_key=f"report-{minutes}",
            now_ms=T0_MS + minutes * 60_000,
        )
    engine.dispose()
    shown = runner.invoke(app, ["approvals", *hub, "--days", "366", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {row["agency_code"]: row for row in json.loads(shown.stdout)["agencies"]}
    passports, security = rows["passports"], rows["national-security"]
    assert (passports["decided"], passports["waiting"]) == (2, 1)
    assert passports["median_decision_seconds"] == 300.0
    assert passports["p90_decision_seconds"] == 900.0
    assert (security["decided"], security["waiting"]) == (0, 3)
    assert security["centers"] == [
        {
            "center_id": "aswan",
            "waiting": 3,
            "info_requested": 0,
            "oldest_waiting_seconds": security["oldest_waiting_seconds"],
        }
    ]
    table = runner.invoke(app, ["approvals", *hub, "--days", "366"])
    assert table.exit_code == 0 and "passports" in table.output and "aswan" in table.output
    unknown = runner.invoke(app, ["approvals", "--agency", "nowhere", *hub])
    assert unknown.exit_code == 3
