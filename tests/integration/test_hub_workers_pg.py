"""The same batch posted 20 times at once to a hub with 4 worker processes on
PostgreSQL: stored once, every answer 200 with the byte-identical receipt."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from tests.hub.nodes import ScriptedNode


def test_concurrent_duplicates_across_workers_store_once(
    hub_factory, fresh_postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    hub = hub_factory(fresh_postgres_url, workers=4)
    hub.init()
    token = hub.provision("aswan", "مركز خدمات مصر بأسوان")
    # This test is about idempotency, not load shedding: let every request in.
    hub.start(extra_env={"HUB_INGEST_CONCURRENCY": "20"})

    with httpx.Client(base_url=hub.url, timeout=60) as http:
        node = ScriptedNode(http)
        assert node.enroll(token).status_code == 200
        sealed = node.seal(node.records(200))

    def push(_: int) -> httpx.Response:
        with httpx.Client(base_url=hub.url, timeout=60) as client:
            node_view = ScriptedNode(client)
            return node_view.push(sealed)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(push, range(20)))

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    with psycopg.connect(fresh_postgres_url) as db:
        assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (200,)
        assert db.execute("SELECT count(*) FROM transactions").fetchone() == (200,)
