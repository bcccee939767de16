"""A hub with 4 worker processes on PostgreSQL: the same batch posted 20 times at once is
stored once with one receipt; batches sent younger-first are held and stored in order."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from tests.hub.nodes import ScriptedNode
from tests.integration.processes import HubProcess


def _push_on_a_fresh_connection(url: str, sealed: bytes) -> httpx.Response:
    """One request on its own connection, so the listener hands it to any worker."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return ScriptedNode(client).push(sealed)


def _four_workers_and_batches(
    hub_factory, url: str, sizes: list[int], extra_env: dict[str, str] | None = None
) -> tuple[HubProcess, list[bytes]]:  # type: ignore[no-untyped-def]
    """A hub of 4 workers on ``url`` and one enrolled node's batches of ``sizes`` records,
    sealed in chain order, none sent yet."""
    hub = hub_factory(url, workers=4)
    hub.init()
    token = hub.provision("aswan", "مركز خدمات مصر بأسوان")
    hub.start(extra_env=extra_env)
    with httpx.Client(base_url=hub.url, timeout=60) as http:
        node = ScriptedNode(http)
        assert node.enroll(token).status_code == 200
        return hub, [node.seal(node.records(size)) for size in sizes]


def test_concurrent_duplicates_across_workers_store_once(
    hub_factory, fresh_postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    # This test is about idempotency, not load shedding: let every request in.
    hub, (sealed,) = _four_workers_and_batches(
        hub_factory, fresh_postgres_url, [200], {"HUB_INGEST_CONCURRENCY": "20"}
    )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(_push_on_a_fresh_connection, [hub.url] * 20, [sealed] * 20))

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    with psycopg.connect(fresh_postgres_url) as db:
        assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (200,)
        assert db.execute("SELECT count(*) FROM transactions").fetchone() == (200,)


def test_batches_sent_out_of_order_to_several_workers_are_held_and_stored_in_order(
    hub_factory, fresh_postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    # Each pair goes on two fresh connections, the younger batch first, so it is held
    # for its predecessor, often in another worker process (woken by polling there).
    hub, batches = _four_workers_and_batches(hub_factory, fresh_postgres_url, [50] * 10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for older, younger in zip(batches[::2], batches[1::2], strict=True):
            ahead = pool.submit(_push_on_a_fresh_connection, hub.url, younger)
            time.sleep(0.05)
            assert _push_on_a_fresh_connection(hub.url, older).status_code == 200
            answered = ahead.result(timeout=30)
            assert answered.status_code == 200, answered.text

    with psycopg.connect(fresh_postgres_url) as db:
        assert db.execute("SELECT max(head_seq) FROM nodes").fetchone() == (10,)
        assert db.execute("SELECT count(*) FROM batches").fetchone() == (10,)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (500,)
