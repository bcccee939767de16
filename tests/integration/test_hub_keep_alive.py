"""The hub keeps an idle keep-alive connection open for ``keep_alive_seconds``: a node
reuses its connections, and on a slow link its next request can sit for seconds behind
the other batch's bytes (uvicorn alone closes idle connections after 5 s)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest

from central_hub.settings import HubSettings


def _idle_then_ask(url: str, idle_s: float) -> int | None:
    """One answered request, ``idle_s`` of silence, a second request on the same
    connection: its status, or None when the hub has closed the connection meanwhile."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", "/livez")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(idle_s)
        try:
            connection.request("GET", "/livez")
            return connection.getresponse().status
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            return None
    finally:
        connection.close()


def test_the_default_outlasts_a_slow_link_buffer() -> None:
    assert HubSettings().keep_alive_seconds == 75


@pytest.mark.parametrize(("setting", "idle_s", "open_after"), [("4", 2.0, True), ("1", 2.0, False)])
def test_an_idle_connection_stays_open_for_the_setting_and_no_longer(
    hub_factory, setting: str, idle_s: float, open_after: bool
) -> None:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    hub.start(extra_env={"HUB_KEEP_ALIVE_SECONDS": setting})
    answer = _idle_then_ask(hub.url, idle_s)
    assert (answer == 200) is open_after
