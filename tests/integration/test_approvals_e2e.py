"""One-stop approvals end to end with real processes: a hub (``central-hub serve``), an edge
node driven through its CLI behind a fault proxy that cuts its link, agencies deciding
through the HTTP API with their own scoped tokens, and an edge of the previous release."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from demo.fault_proxy import ProxyThread
from edge_node.capture import record_transaction
from edge_node.errors import SoftwareOutdated
from edge_node.node import EdgeNode
from edge_node.sync import sync_round
from edge_node.transport import HttpTransport
from tests.integration.edges import EdgeCli
from tests.integration.processes import HubProcess, run_cli

EXIT_INVALID_INPUT = 3
EXIT_NOT_DELIVERED = 5
LICENCE = ("civil-defense", "health", "local-unit")  # LIC-SHOP: three approvals
_keys = itertools.count(1)


@pytest.fixture
def hub(hub_factory) -> HubProcess:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    hub.start()
    return hub


def _agency_token(hub: HubProcess, agency: str) -> dict[str, str]:
    created = run_cli(
        "central_hub",
        "token",
        "create",
        "--role",
        "agency",
        "--agency",
        agency,
        "--name",
        f"{agency}-desk",
        "--data-dir",
        str(hub.data_dir),
        "--db",
        hub.db_url,
        "--json",
    )
    return {"authorization": f"Bearer {json.loads(created)['token']}"}


def _decide(hub: HubProcess, token: dict[str, str], txn: str, decision: str, **body: str) -> dict:  # type: ignore[type-arg]
    answer = httpx.post(
        f"{hub.url}/v1/agency/transactions/{txn}/decisions",
        json={"decision": decision, **body},
        headers=token | {"idempotency-key": f"e2e-decision-{next(_keys):04d}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _queue(hub: HubProcess, token: dict[str, str]) -> list[str]:
    page = httpx.get(f"{hub.url}/v1/agency/queue", headers=token, timeout=10).json()
    return [item["transaction_id"] for item in page["transactions"]]


def _enroll_behind(link: ProxyThread, hub: HubProcess, base: Path, center: str) -> EdgeCli:
    facts = hub.provision_facts(center, "مركز خدمات مصر")
    edge = EdgeCli(base / f"edge-{center}")
    edge.ok(
        "enroll",
        facts["token"],
        "--hub",
        f"http://127.0.0.1:{link.port}",
        "--hub-fingerprint",
        facts["hub_signing_fingerprint"],
        "--data-dir",
        str(edge.data_dir),
    )
    return edge


def _parts(shown: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {part["agency_code"]: part["state"] for part in shown["approvals"]}


def _hub_parts(hub: HubProcess, txn: str) -> tuple[str, dict[str, str]]:
    path = hub.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        (status,) = connection.execute(
            "SELECT status FROM transactions WHERE transaction_id = ?", (txn,)
        ).fetchone()
        lanes = connection.execute(
            "SELECT agency_code, state FROM approvals WHERE transaction_id = ? AND required",
            (txn,),
        ).fetchall()
    return status, dict(lanes)


def test_three_agencies_decide_in_parallel_while_the_center_is_offline(
    hub: HubProcess, tmp_path: Path
) -> None:
    with ProxyThread("127.0.0.1", hub.port) as link:
        edge = _enroll_behind(link, hub, tmp_path, "sharm-el-sheikh")
        link.set_down(True)  # the center's link is down: it records anyway
        txn = edge.record("29001013400011", "كريم عادل السيد", service="LIC-SHOP")
        assert edge.show(txn)["status"] == "in_review"
        assert _parts(edge.show(txn)) == dict.fromkeys(LICENCE, "pending")
        assert edge.run("sync", "--once").returncode == EXIT_NOT_DELIVERED

        link.set_down(False)
        edge.ok("sync", "--once")  # the application reaches the hub
        link.set_down(True)  # and the link drops again

        tokens = {agency: _agency_token(hub, agency) for agency in LICENCE}
        assert all(_queue(hub, tokens[agency]) == [txn] for agency in LICENCE)
        _decide(hub, tokens["civil-defense"], txn, "approved", note="المعاينة مطابقة")
        _decide(hub, tokens["health"], txn, "approved")
        asked = _decide(
            hub,
            tokens["local-unit"],
            txn,
            "info_requested",
            reason_code="missing_document",
            note="صورة عقد إيجار المحل موثقة",
        )
        assert asked["status"] == "in_review"
        assert edge.run("sync", "--once").returncode == EXIT_NOT_DELIVERED  # still offline
        assert _parts(edge.show(txn)) == dict.fromkeys(LICENCE, "pending")

        link.set_down(False)
        edge.ok("sync", "--once")
        shown = edge.show(txn)
        assert _parts(shown) == {
            "civil-defense": "approved",
            "health": "approved",
            "local-unit": "info_requested",
        }
        request = next(p for p in shown["approvals"] if p["agency_code"] == "local-unit")
        assert request["note"] == "صورة عقد إيجار المحل موثقة"
        assert request["reason_code"] == "missing_document"
        (open_request,) = json.loads(edge.ok("info-requests", "--json"))
        assert (open_request["transaction_id"], open_request["agency_code"]) == (txn, "local-unit")

        refused = edge.run("status-change", txn, "delivered")
        assert refused.returncode == EXIT_INVALID_INPUT
        assert "not_approved" in refused.stderr
        edge.ok("info-provided", txn, "--agency", "local-unit", "--note", "أرفق العقد الموثق")
        edge.ok("sync", "--once")
        assert _queue(hub, tokens["local-unit"]) == [txn]  # its review reopened
        _decide(hub, tokens["local-unit"], txn, "approved")

        edge.ok("sync", "--once")
        assert edge.show(txn)["status"] == "approved"
        edge.ok("status-change", txn, "delivered")
        edge.ok("sync", "--once")

    assert _hub_parts(hub, txn) == ("delivered", dict.fromkeys(LICENCE, "approved"))
    assert edge.show(txn)["status"] == "delivered"
    assert _parts(edge.show(txn)) == dict.fromkeys(LICENCE, "approved")


def test_an_edge_of_the_previous_release_meets_a_decision_and_says_upgrade(
    hub: HubProcess, tmp_path: Path
) -> None:
    link = ProxyThread("127.0.0.1", hub.port)
    link.start()
    edge = _enroll_behind(link, hub, tmp_path, "arish")
    # From here on the node asks for changes as the previous release did (no feed=2),
    # straight at the real hub process.
    node = EdgeNode.open(edge.data_dir)
    old = HttpTransport(
        hub.url,
        node_id=node.identity.node_id,
        signing_key=node.identity.keys.signing_key,
        feed_version=None,
    )
    try:
        created = record_transaction(
            node.store,
            node.capture_context,
            service_code="SOC-TAKAFUL",
            national_id="29001013400028",
            citizen_name="منى سالم عطية",
            staff_id="clerk-1",
            now_ms=node.now_ms(),
        )
        sync_round(node.store, node.identity, old, node.pii, data_dir=str(edge.data_dir))
        txn = str(created.transaction_id)
        _decide(hub, _agency_token(hub, "social-solidarity"), txn, "approved")
        cursor = node.store.get_state("changes_cursor")
        with pytest.raises(SoftwareOutdated) as refused:
            sync_round(node.store, node.identity, old, node.pii, data_dir=str(edge.data_dir))
        assert refused.value.code == "upgrade_required"
        assert node.store.get_state("changes_cursor") == cursor  # nothing skipped
    finally:
        old.close()
        node.close()
    status = edge.status()
    assert (status["unsent_batches"], status["pending_events"]) == (0, 0)  # records still flow
    assert status["last_error_code"] == "upgrade_required"
    assert edge.show(txn)["status"] == "in_review"
    try:
        edge.ok("sync", "--once")  # this release reads the decision
    finally:
        link.stop()
    assert edge.show(txn)["status"] == "approved"
