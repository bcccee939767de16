"""Change-feed pages are bounded by count and by bytes, so a page's sealed envelope always
fits the bounds a node opens with, and a node that follows ``has_more`` gets every change
for its center exactly once, in order. In-process on SQLite and PostgreSQL, plus the
feed's page builder under tiny envelope limits."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import or_, select

from central_hub.api import create_app
from central_hub.catalog import publish_catalog, shipped_catalog
from central_hub.enrollment import provision_center
from central_hub.errors import UpgradeRequired
from central_hub.feed import build_changes, max_page_payload_bytes
from central_hub.keystore import HubIdentity
from central_hub.settings import HubSettings
from central_hub.storage import schema
from central_hub.storage.store import NodeRow, SqlStore
from sync_protocol import (
    GENESIS_HASH,
    PROTOCOL_VERSIONS,
    EnvelopeKind,
    HybridClock,
    Limits,
    OpeningKey,
    SigningKey,
    encode_json,
    new_transaction_decision,
    new_uuid7,
    open_changes,
    parse_envelope,
    record_to_dict,
)
from sync_protocol.changes import ChangeSet, RevocationChange
from sync_protocol.envelope import DEFAULT_LIMITS, seal_envelope
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, FakeClock, ScriptedNode

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def _catalog(version: int, services: int, pad: int) -> bytes:
    """A valid successor of the shipped catalog: its services, then ``services`` more of
    roughly ``pad * 20`` bytes each."""

    def text(index: int, word: str) -> str:
        spelled = "".join(LETTERS[int(d)] for d in str(index))  # names may hold no digits
        return f"{word} {spelled} " + LETTERS[index % len(LETTERS)] * pad

    shipped = json.loads(shipped_catalog())
    agencies = [*shipped["agencies"], {"code": "agency-x", "name_ar": "جهة", "name_en": "Agency"}]
    return json.dumps(
        {
            "version": version,
            "agencies": sorted(agencies, key=lambda agency: agency["code"]),
            "services": shipped["services"]
            + [
                {
                    "code": f"GEN-S{i:05d}",
                    "name_ar": text(i, "خدمة"),
                    "name_en": f"Service {i}",
                    "category": "other",
                    "agency_code": "agency-x",
                    "agency_ar": "جهة",
                    "agency_en": "Agency",
                    "fee_piasters": 100 * i,
                    "required_documents": [
                        {"name_ar": text(j, "مستند"), "name_en": f"Document {j}"} for j in range(4)
                    ],
                    "active": True,
                    "approvals": [],
                }
                for i in range(services)
            ],
        },
        ensure_ascii=False,
    ).encode("utf-8")


def _status_events(store: SqlStore, clock: HybridClock, center: str, count: int) -> None:
    """``count`` agency decisions of about 1 kB each on the feed of ``center``."""
    for index in range(count):
        record = new_transaction_decision(
            event_id=new_uuid7(T0_MS),
            hlc=clock.tick(),
            center_id=center,
            transaction_id=new_uuid7(T0_MS + index),
            agency_code="passports",
            decision="info_requested",
            reason_code="missing_document",
            note="ملاحظة " + LETTERS[index % len(LETTERS)] * 400,
            actor_id="officer-12",
            recorded_at_ms=T0_MS,
        )
        body = encode_json(record_to_dict(record)).decode("utf-8")
        store.append_change(center, "decision", body, T0_MS)


def _revocations(store: SqlStore, count: int) -> int:
    """A revocation change as large as ``count`` revoked nodes (stored as the hub does)."""
    digits = os.urandom(16 * count).hex()
    ids = sorted(
        f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        for h in (digits[i : i + 32] for i in range(0, len(digits), 32))
    )
    return store.append_change(None, "revocations", json.dumps(ids), T0_MS)


def _expected_cursors(store: SqlStore, center: str) -> list[int]:
    changes = schema.changes
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                select(changes.c.cursor)
                .where(or_(changes.c.center_id.is_(None), changes.c.center_id == center))
                .order_by(changes.c.cursor)
            ).scalars()
        )


def _pull_everything(
    node: ScriptedNode, *, max_pages: int, page_size: int, page_bytes: int
) -> list[ChangeSet]:
    """Follow ``has_more`` from cursor 0 as a node does; check every page on the way."""
    assert node.node_id is not None and node.hub_verify_key is not None
    pages: list[ChangeSet] = []
    after = 0
    for _ in range(max_pages):
        response = node.signed("GET", f"/v1/changes?after={after}&feed=2", time_ms=T0_MS)
        assert response.status_code == 200, response.text
        envelope = parse_envelope(response.content)  # default limits, as the edge does
        header = envelope.header
        assert len(response.content) <= DEFAULT_LIMITS.max_envelope_bytes
        assert header.record_count <= page_size
        assert header.record_count == 1 or header.payload_bytes <= page_bytes, header
        page = open_changes(
            envelope,
            after=after,
            node_id=node.node_id,
            hub_key=node.hub_verify_key,
            node_key=node.opening_key,
        )
        pages.append(page)
        if not page.has_more:
            return pages
        assert page.changes, "a page that says more follow must make progress"
        after = page.cursor
    raise AssertionError(f"still has_more after {max_pages} pages")


def test_large_catalogs_and_many_events_arrive_once_in_byte_bounded_pages(
    settings: HubSettings, identity: HubIdentity, clock: FakeClock
) -> None:
    page_bytes, page_size = 64 * 1024, 50
    app = create_app(
        replace(settings, changes_page_bytes=page_bytes, changes_page_size=page_size),
        identity=identity,
        clock_ms=clock,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        store = hub_store(client)
        node = ScriptedNode(client)
        token = provision_center(store, "arish", "العريش", now_ms=T0_MS, ttl_hours=1).token
        assert node.enroll(token).status_code == 200
        provision_center(store, "aswan", "أسوان", now_ms=T0_MS, ttl_hours=1)
        hub_clock = HybridClock(identity.node_id, clock)
        for version in range(3, 7):
            publish_catalog(store, _catalog(version, services=60, pad=40), T0_MS)
            _status_events(store, hub_clock, "arish", 40)
            _status_events(store, hub_clock, "aswan", 10)  # never in arish's pages
            _revocations(store, 2000)  # ~80 KB: more than a page's budget on its own

        pages = _pull_everything(node, max_pages=200, page_size=page_size, page_bytes=page_bytes)
        received = [change.cursor for page in pages for change in page.changes]
        assert received == _expected_cursors(store, "arish")
        assert len(pages) > 10  # the byte budget, not the count, cut most pages
        assert node.pull(pages[-1].cursor, time_ms=T0_MS).changes == ()
    app.state.engine.dispose()


def test_revocation_lists_beyond_the_payload_bound_page_one_by_one(
    hub_dir: Path, tmp_path: Path, identity: HubIdentity, clock: FakeClock
) -> None:
    # Nine ~3.9 MB changes (35 MB) used to go in one page, past the 32 MiB payload bound:
    # every request for that cursor failed with 500 and nodes behind it were stuck. Default
    # settings; SQLite only, since paging is the feed's job, not the database's (the
    # parametrized tests above cover both backends), and 35 MB of UUIDs take a while.
    settings = HubSettings(data_dir=hub_dir, db_url=f"sqlite:///{tmp_path / 'big.db'}")
    app = create_app(settings, identity=identity, clock_ms=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        store = hub_store(client)
        node = ScriptedNode(client)
        token = provision_center(store, "arish", "العريش", now_ms=T0_MS, ttl_hours=1).token
        assert node.enroll(token).status_code == 200
        for _ in range(9):
            _revocations(store, 100_000)

        pages = _pull_everything(
            node, max_pages=20, page_size=200, page_bytes=settings.changes_page_bytes
        )
        received = [change.cursor for page in pages for change in page.changes]
        assert received == _expected_cursors(store, "arish")
        revocations = [c for page in pages for c in page.changes if isinstance(c, RevocationChange)]
        assert [len(c.revoked_node_ids) for c in revocations] == [100_000] * 9
    app.state.engine.dispose()


# --- the page builder under tiny envelope limits -----------------------------------------------


def _node_row(store: SqlStore, opening_key: OpeningKey) -> NodeRow:
    store.create_center("arish", "العريش", T0_MS)
    store.create_enrollment_token("arish", "h" * 64, T0_MS, T0_MS + 1000)
    node = NodeRow(
        node_id=new_uuid7(T0_MS),
        center_id="",
        verify_key=SigningKey.generate().public.to_bytes(),
        sealing_key=opening_key.public.to_bytes(),
        status="active",
        head_seq=0,
        head_hash=GENESIS_HASH,
    )
    assert store.redeem_enrollment_token("h" * 64, node, "test", T0_MS).outcome == "redeemed"
    found = store.get_node(node.node_id)
    assert found is not None
    return found


def test_every_page_fits_the_envelope_limits_it_is_built_for(
    store: SqlStore, identity: HubIdentity
) -> None:
    limits = Limits(max_envelope_bytes=24 * 1024, max_payload_bytes=1024 * 1024)
    opening_key = OpeningKey.generate()
    node = _node_row(store, opening_key)
    _status_events(store, HybridClock(identity.node_id, lambda: T0_MS), "arish", 150)

    after, received, pages = 0, [], 0
    while True:
        sealed = build_changes(
            store,
            identity,
            node,
            after=after,
            now_ms=T0_MS,
            page_size=200,
            page_bytes=10**9,  # only the envelope limits bound these pages
            limits=limits,
            feed=2,
        )
        assert len(sealed) <= limits.max_envelope_bytes
        page = open_changes(
            parse_envelope(sealed, limits=limits),
            after=after,
            node_id=node.node_id,
            hub_key=identity.signing_key.public,
            node_key=opening_key,
            limits=limits,
        )
        pages += 1
        received += [change.cursor for change in page.changes]
        if not page.has_more:
            break
        after = page.cursor
    assert received == _expected_cursors(store, "arish")
    assert pages >= 150 * 450 // (24 * 1024)  # each page near the bound, none over it


@pytest.mark.parametrize("version", PROTOCOL_VERSIONS)
@pytest.mark.parametrize("max_envelope_bytes", [4096, 64 * 1024, DEFAULT_LIMITS.max_envelope_bytes])
def test_the_page_payload_bound_holds_even_for_incompressible_bytes(
    max_envelope_bytes: int, version: int
) -> None:
    limits = Limits(max_envelope_bytes=max_envelope_bytes)
    payload = os.urandom(max_page_payload_bytes(limits))  # compression can only grow this
    sealed = seal_envelope(
        kind=EnvelopeKind.CHANGES,
        node_id=uuid.uuid4(),
        seq=1,
        prev_hash=GENESIS_HASH,
        record_count=1,
        created_at_ms=T0_MS,
        payload=payload,
        signing_key=SigningKey.generate(),
        recipient=OpeningKey.generate().public,
        limits=limits,
        version=version,
    )
    assert len(sealed) <= max_envelope_bytes


@pytest.mark.parametrize(("asked", "sealed_as"), [("", 1), ("&envelope=1", 1), ("&envelope=2", 2)])
def test_the_feed_is_sealed_in_the_envelope_version_the_node_asks_for(
    node: ScriptedNode, asked: str, sealed_as: int
) -> None:
    """Without ``envelope`` the answer is version 1: what a node from before version 2
    opens. A node that asks gets its version."""
    response = node.signed("GET", f"/v1/changes?after=0{asked}&feed=2", time_ms=T0_MS)
    assert response.status_code == 200, response.text
    envelope = parse_envelope(response.content)
    assert envelope.header.version == sealed_as
    assert node.node_id is not None and node.hub_verify_key is not None
    page = open_changes(
        envelope,
        after=0,
        node_id=node.node_id,
        hub_key=node.hub_verify_key,
        node_key=node.opening_key,
    )
    assert page.changes  # the catalog, at least


@pytest.mark.parametrize("asked", ["0", "3", "two"])
def test_an_envelope_version_the_hub_cannot_seal_is_a_bad_request(
    node: ScriptedNode, asked: str
) -> None:
    response = node.signed("GET", f"/v1/changes?after=0&envelope={asked}", time_ms=T0_MS)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"


# --- a node of the previous release --------------------------------------------------------


def test_a_previous_release_node_gets_what_it_reads_then_upgrade_required(
    store: SqlStore, identity: HubIdentity
) -> None:
    """A node that does not ask for feed 2 gets the changes it can open, a page that ends
    before the first one it cannot, then ``426 upgrade_required``: never a skipped
    change, never one it would fail to parse."""
    opening_key = OpeningKey.generate()
    node = _node_row(store, opening_key)
    old_catalog = json.loads(shipped_catalog())
    old_catalog = {
        "version": 1,
        "services": [
            {k: v for k, v in s.items() if k != "approvals"} for s in old_catalog["services"]
        ],
    }
    store.publish_catalog(1, json.dumps(old_catalog, ensure_ascii=False), T0_MS)
    revoked = _revocations(store, 1)
    _status_events(store, HybridClock(identity.node_id, lambda: T0_MS), "arish", 1)

    def ask(after: int, feed: int) -> bytes:
        return build_changes(
            store,
            identity,
            node,
            after=after,
            now_ms=T0_MS,
            page_size=200,
            page_bytes=10**9,
            feed=feed,
        )

    page = open_changes(
        parse_envelope(ask(0, 1)),
        after=0,
        node_id=node.node_id,
        hub_key=identity.signing_key.public,
        node_key=opening_key,
    )
    assert ([c.cursor for c in page.changes][-1], page.has_more) == (revoked, True)
    with pytest.raises(UpgradeRequired) as refused:
        ask(page.cursor, 1)
    assert refused.value.code == "upgrade_required" and refused.value.status == 426
    newer = open_changes(
        parse_envelope(ask(page.cursor, 2)),
        after=page.cursor,
        node_id=node.node_id,
        hub_key=identity.signing_key.public,
        node_key=opening_key,
    )
    assert [type(change).__name__ for change in newer.changes] == ["DecisionChange"]
