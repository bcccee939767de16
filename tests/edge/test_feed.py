"""The change feed as this node asks for and reads it: the feed format it announces, and
a hub that holds what only a newer release can read (``upgrade_required``), both as a
426 answer and as a change kind in a sealed page. In-process: a small stand-in hub
behind httpx's ``MockTransport`` answers the node's real ``HttpTransport``."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from edge_node.errors import SoftwareOutdated
from edge_node.identity import NodeIdentity, NodeKeys
from edge_node.inbox import current_cursor
from edge_node.node import EdgeNode
from edge_node.pii import PiiCipher, generate_data_key
from edge_node.status import node_status
from edge_node.store import Store
from edge_node.sync import sync_round
from edge_node.transport import HttpTransport
from sync_protocol import (
    FEED_VERSION,
    GENESIS_HASH,
    EnvelopeKind,
    OpeningKey,
    SigningKey,
    encode_json,
    seal_envelope,
)
from tests.edge.support import NOW

NODE_ID = uuid.UUID("01900000-0000-7000-8000-000000000042")
Handler = Callable[[httpx.Request], httpx.Response]


class StandInHub:
    """Answers chain-head, heartbeat and changes; ``changes`` says how."""

    def __init__(self, changes: Handler) -> None:
        self.signing = SigningKey.generate()
        self.opening = OpeningKey.generate()
        self.changes = changes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/chain-head":
            return httpx.Response(200, json={"seq": 0, "batch_hash": "00" * 32})
        if request.url.path == "/v1/heartbeat":
            return httpx.Response(204)
        if request.url.path == "/v1/changes":
            return self.changes(request)
        return httpx.Response(404, json={"code": "not_found", "detail": request.url.path})

    def transport(self, **options: object) -> HttpTransport:
        return HttpTransport(
            "http://hub.test",
            node_id=NODE_ID,
            signing_key=SigningKey.generate(),
            client=httpx.Client(base_url="http://hub.test", transport=httpx.MockTransport(self)),
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[EdgeNode, OpeningKey]]:
    opening = OpeningKey.generate()
    data_key = generate_data_key()
    node = EdgeNode(
        data_dir=tmp_path,
        identity=NodeIdentity(
            node_id=NODE_ID,
            center_id="arish",
            center_name="مركز خدمات مصر بالعريش",
            hub_url="http://hub.test",
            hub_node_id=uuid.UUID(int=0),
            hub_verify_key=SigningKey.generate().public,  # replaced per test
            hub_sealing_key=OpeningKey.generate().public,
            keys=NodeKeys(SigningKey.generate(), opening, data_key),
        ),
        store=Store(tmp_path / "edge.db"),
        pii=PiiCipher(data_key),
    )
    yield node, opening
    node.close()


def _problem(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "code": code, "detail": detail})


@pytest.mark.parametrize(("feed_version", "sent"), [(FEED_VERSION, "2"), (None, None)])
def test_the_node_announces_the_feed_format_it_reads(
    feed_version: int | None, sent: str | None
) -> None:
    hub = StandInHub(lambda request: httpx.Response(200, content=b"sealed"))
    transport = hub.transport(feed_version=feed_version)
    assert transport.changes(7) == b"sealed"
    query = hub.requests[-1].url.params
    assert (query.get("after"), query.get("feed")) == ("7", sent)


def test_a_426_upgrade_required_answer_is_software_outdated_with_a_hint() -> None:
    hub = StandInHub(lambda request: _problem(426, "upgrade_required", "feed 2 needed"))
    with pytest.raises(SoftwareOutdated) as raised:
        hub.transport(feed_version=None).changes(0)
    assert "upgrade_required" in str(raised.value) and "feed 2 needed" in str(raised.value)
    assert raised.value.hint is not None and "upgrade this node's software" in raised.value.hint


def _sealed_page(hub: StandInHub, node_key: OpeningKey, after: int, changes: list[object]) -> bytes:
    payload = encode_json({"cursor": after + len(changes), "has_more": False, "changes": changes})
    return seal_envelope(
        kind=EnvelopeKind.CHANGES,
        node_id=NODE_ID,
        seq=after + 1,
        prev_hash=GENESIS_HASH,
        record_count=len(changes),
        created_at_ms=NOW,
        payload=payload,
        signing_key=hub.signing,
        recipient=node_key.public,
    )


@pytest.mark.parametrize("how", ["426 answer", "newer change kind in the page"])
def test_status_shows_that_the_hub_needs_a_newer_release_and_nothing_applies(
    node: tuple[EdgeNode, OpeningKey], how: str
) -> None:
    edge, opening = node

    def changes(request: httpx.Request) -> httpx.Response:
        if how == "426 answer":
            return _problem(426, "upgrade_required", "this node reads feed 1 only")
        after = int(request.url.params["after"])
        newer = {"cursor": after + 1, "kind": "appointment", "slot": "2026-03-01T10:00"}
        return httpx.Response(200, content=_sealed_page(hub, opening, after, [newer]))

    hub = StandInHub(changes)
    edge.identity = _with_hub_key(edge.identity, hub)
    transport = hub.transport()
    with pytest.raises(SoftwareOutdated):
        sync_round(edge.store, edge.identity, transport, edge.pii, data_dir=str(edge.data_dir))
    assert current_cursor(edge.store) == 0  # nothing of the page applied
    report = node_status(edge, probe_hub=False)
    assert report["last_error_code"] == "upgrade_required"
    assert "upgrade this node's software" in report["last_error"]
    assert any(r.url.path == "/v1/heartbeat" for r in hub.requests)  # still reported


def _with_hub_key(identity: NodeIdentity, hub: StandInHub) -> NodeIdentity:
    return dataclasses.replace(identity, hub_verify_key=hub.signing.public)


def test_a_successful_round_clears_the_upgrade_notice(node: tuple[EdgeNode, OpeningKey]) -> None:
    edge, opening = node
    answers = iter(["426", "page"])

    def changes(request: httpx.Request) -> httpx.Response:
        if next(answers) == "426":
            return _problem(426, "upgrade_required", "old node")
        return httpx.Response(200, content=_sealed_page(hub, opening, 0, []))

    hub = StandInHub(changes)
    edge.identity = _with_hub_key(edge.identity, hub)
    with pytest.raises(SoftwareOutdated):
        sync_round(
            edge.store, edge.identity, hub.transport(), edge.pii, data_dir=str(edge.data_dir)
        )
    sync_round(edge.store, edge.identity, hub.transport(), edge.pii, data_dir=str(edge.data_dir))
    report = node_status(edge, probe_hub=False)
    assert (report["last_error"], report["last_error_code"]) == (None, None)
    assert json.loads(json.dumps(report))  # JSON-ready, as `status --json` prints it
