"""The one-stop commands of ``edge-node`` (status-change, info-provided, show,
info-requests, status) through typer's runner on a real data dir: keys and node file as
enrollment leaves them, the shipped catalog installed, hub decisions applied as a sync
round applies them."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_node.catalog import install_catalog
from edge_node.cli import app
from edge_node.identity import load_or_create_keys, save_enrollment
from edge_node.inbox import apply_change_set
from edge_node.node import EdgeNode
from sync_protocol import Catalog, OpeningKey, SigningKey, new_uuid7
from tests.edge.support import NOW, agency_decision, hub_changes

RUNNER = CliRunner()
EXIT_INVALID_INPUT = 3


@pytest.fixture
def data_dir(tmp_path: Path, catalog: Catalog) -> Path:
    data_dir = tmp_path / "node"
    load_or_create_keys(data_dir)
    save_enrollment(
        data_dir,
        {
            "node_id": str(new_uuid7(NOW)),
            "center_id": "aswan",
            "center_name": "مركز خدمات مصر بأسوان",
            "hub_node_id": str(uuid.UUID(int=0)),
            "hub_verify_key": _b64(SigningKey.generate().public.to_bytes()),
            "hub_sealing_key": _b64(OpeningKey.generate().public.to_bytes()),
        },
        "http://127.0.0.1:9",  # nothing listens: these commands never need the hub
    )
    node = EdgeNode.open(data_dir)
    try:
        with node.store.write() as connection:
            install_catalog(connection, catalog)
    finally:
        node.close()
    return data_dir


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _cli(data_dir: Path, *args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, list(args), env={"EDGE_DATA_DIR": str(data_dir)})
    return result.exit_code, result.output


def _ok(data_dir: Path, *args: str) -> str:
    code, output = _cli(data_dir, *args)
    assert code == 0, output
    return output


def _decide(data_dir: Path, *decisions: object) -> None:
    node = EdgeNode.open(data_dir)
    try:
        changes = hub_changes(*decisions)  # type: ignore[arg-type]
        apply_change_set(
            node.store, node.pii, changes, now_ms=node.now_ms(), node_id=node.identity.node_id
        )
    finally:
        node.close()


def _record_shop(data_dir: Path) -> str:
    return _ok(
        data_dir,
        "record",
        "--service",
        "LIC-SHOP",
        "--national-id",
        "29001013400011",
        "--name",
        "أحمد محمد",
    ).strip()


def test_delivering_before_approval_exits_3_with_the_workflow_code(data_dir: Path) -> None:
    txn = _record_shop(data_dir)
    code, output = _cli(data_dir, "status-change", txn, "delivered")
    assert code == EXIT_INVALID_INPUT
    assert "[not_approved]" in output and "civil-defense, health, local-unit" in output
    code, output = _cli(data_dir, "status-change", txn, "approved")
    assert (code, "[decision_not_allowed]" in output) == (EXIT_INVALID_INPUT, True)
    assert json.loads(_ok(data_dir, "show", txn, "--json"))["status"] == "in_review"


def test_an_information_request_is_listed_answered_and_shown(data_dir: Path) -> None:
    txn = _record_shop(data_dir)
    now = EdgeNode.open(data_dir)
    at_ms = now.now_ms()
    now.close()
    _decide(
        data_dir,
        agency_decision(
            uuid.UUID(txn), "health", "info_requested", at_ms=at_ms, note="شهادة صحية للعاملين"
        ),
        agency_decision(
            uuid.UUID(txn), "civil-defense", "approved", at_ms=at_ms + 1, actor="inspector-4"
        ),
    )
    listed = json.loads(_ok(data_dir, "info-requests", "--json"))
    assert [(r["transaction_id"], r["agency_code"], r["note"]) for r in listed] == [
        (txn, "health", "شهادة صحية للعاملين")
    ]
    text = _ok(data_dir, "info-requests")
    assert txn in text and "شهادة صحية للعاملين" in text and "[missing_document]" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d EES?T", text)  # Cairo local time

    code, output = _cli(data_dir, "info-provided", txn, "--agency", "local-unit", "--note", "x")
    assert (code, "[no_information_requested]" in output) == (EXIT_INVALID_INPUT, True)
    assert "edge-node sync --once" in output  # the agency may have asked since
    event_id = _ok(
        data_dir, "info-provided", txn, "--agency", "health", "--note", "الشهادات مرفقة"
    ).strip()
    assert uuid.UUID(event_id).version == 7
    assert "no open information requests" in _ok(data_dir, "info-requests")

    shown = json.loads(_ok(data_dir, "show", txn, "--json"))
    approvals = {a["agency_code"]: a for a in shown["approvals"]}
    assert (approvals["health"]["state"], approvals["health"]["outcome"]) == (
        "pending",
        "info_provided",
    )
    assert approvals["health"]["note"] == "الشهادات مرفقة"
    assert (approvals["civil-defense"]["state"], approvals["civil-defense"]["actor_id"]) == (
        "approved",
        "inspector-4",
    )
    assert approvals["local-unit"]["state"] == "pending"
    text = _ok(data_dir, "show", txn)
    assert (
        "الإدارة العامة للحماية المدنية" in text and "approved" in text and "by inspector-4" in text
    )
    # What was asked stays in the history once answered.
    history = [(h["event"], h["agency_code"], h["note"]) for h in shown["history"]]
    assert history[0][0] == "opened"
    assert ("info_requested", "health", "شهادة صحية للعاملين") in history
    assert history[-1] == ("info_provided", "health", "الشهادات مرفقة")
    assert "info_requested health [missing_document]" in text

    status = json.loads(_ok(data_dir, "status", "--json", "--offline"))
    assert (
        status["awaiting_agencies"],
        status["awaiting_center_answer"],
        status["approved_not_delivered"],
    ) == (
        1,
        0,
        0,
    )


def test_a_service_without_approvals_shows_none_needed_and_delivers(data_dir: Path) -> None:
    txn = _ok(
        data_dir,
        "record",
        "--service",
        "CIV-BIRTH",
        "--national-id",
        "29001013400011",
        "--name",
        "منى علي",
    ).strip()
    assert "none needed" in _ok(data_dir, "show", txn)
    _ok(data_dir, "status-change", txn, "delivered")
    assert json.loads(_ok(data_dir, "show", txn, "--json"))["status"] == "delivered"


def test_the_services_say_what_each_needs_and_an_unknown_one_points_to_them(
    data_dir: Path,
) -> None:
    listed = json.loads(_ok(data_dir, "services", "--search", "licen", "--json"))
    shop = next(row for row in listed if row["code"] == "LIC-SHOP")
    assert shop["approvals"] == ["civil-defense", "health", "local-unit"]
    assert all("licen" in row["name_en"].casefold() for row in listed)
    arabic = _ok(data_dir, "services", "--search", "ميلاد")
    assert "CIV-BIRTH" in arabic and "approvals: none" in arabic
    code, output = _cli(
        data_dir,
        "record",
        "--service",
        "LIC-SHOPX",
        "--national-id",
        "29001013400011",
        "--name",
        "أحمد محمد",
    )
    assert code == EXIT_INVALID_INPUT and "edge-node services" in output
