"""A real ``central-hub serve`` killed with SIGKILL inside the ingest transaction: after a
restart the resent batch is stored exactly once with the same receipt content."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx

from central_hub.ingest import PAUSE_ENV
from tests.hub.nodes import ScriptedNode
from tests.integration.processes import wait_for


def test_sigkill_mid_ingest_then_resend_stores_once(hub_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    token = hub.provision("arish", "مركز خدمات مصر بالعريش")
    marker = tmp_path / "paused"
    hub.start(extra_env={PAUSE_ENV: str(marker)})

    with httpx.Client(base_url=hub.url, timeout=30) as http:
        node = ScriptedNode(http)
        assert node.enroll(token).status_code == 200
        sealed = node.seal(node.records(50, fee_piasters=4000))
        outcome: dict[str, object] = {}

        def push() -> None:
            try:
                outcome["response"] = node.push(sealed)
            except httpx.TransportError as error:
                outcome["error"] = error

        sender = threading.Thread(target=push)
        sender.start()
        wait_for(marker.exists, timeout_s=30, what="the hub to pause inside the transaction")
        hub.kill()
        sender.join(timeout=30)
        assert "error" in outcome, "the hub answered although it was killed before commit"

    database = hub.data_dir / "hub.db"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM batches").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)

    hub.start()
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        node.http = http
        first = node.push(sealed)
        again = node.push(sealed)
    assert first.status_code == 200, first.text
    receipt = node.check_receipt(sealed, first)
    assert (receipt.seq, receipt.records_accepted, receipt.records_known) == (1, 50, 0)
    assert again.content == first.content
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*), sum(fee_piasters) FROM transactions").fetchone() == (
            50,
            200_000,
        )
        assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,)
