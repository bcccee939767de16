"""How the node reaches the hub. ``Transport`` is the seam (HTTP today; a USB file
transport can implement the same calls); ``HttpTransport`` speaks the hub's API with
signed requests and keeps the node's clock offset from the hub's ``X-EGSync-Time``.

A hub that answers ``upgrade_required`` (426: it holds something this release cannot
read, e.g. a change kind of a newer feed format) raises :class:`SoftwareOutdated`."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from edge_node.backoff import parse_retry_after
from edge_node.errors import HubBusy, HubRejected, HubUnreachable, SoftwareOutdated
from sync_protocol import FEED_VERSION, PROTOCOL_VERSION, SigningKey
from sync_protocol.request_auth import sign_request

__all__ = ["HttpTransport", "Transport", "wall_clock_ms"]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Transport(Protocol):
    """Calls a sync round needs. Implementations raise ``Retryable`` or ``Final`` errors
    from :mod:`edge_node.errors`, never transport-specific exceptions."""

    clock_offset_ms: int

    def push_batch(self, envelope: bytes) -> bytes: ...
    def chain_head(self) -> dict[str, Any]: ...
    def changes(self, after: int) -> bytes: ...
    def heartbeat(self, report: dict[str, Any]) -> None: ...


class HttpTransport:
    def __init__(
        self,
        hub_url: str,
        *,
        node_id: uuid.UUID,
        signing_key: SigningKey,
        clock_offset_ms: int = 0,
        timeout_seconds: float = 30.0,
        local_clock_ms: Callable[[], int] = wall_clock_ms,
        client: httpx.Client | None = None,
        feed_version: int | None = FEED_VERSION,
    ) -> None:
        self._node_id = node_id
        # The change feed format this node reads, sent as ``feed=``; None sends none, as
        # the previous release did (tests play that release with it).
        self.feed_version = feed_version
        self._signing_key = signing_key
        self._local_clock_ms = local_clock_ms
        self.clock_offset_ms = clock_offset_ms
        # One keep-alive connection reused for the whole round: cheap on slow links.
        self._client = client or httpx.Client(
            base_url=hub_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            headers={"user-agent": "egsync-edge/1"},
        )

    def close(self) -> None:
        self._client.close()

    def hub_now_ms(self) -> int:
        return self._local_clock_ms() + self.clock_offset_ms

    # --- the calls ----------------------------------------------------------------------

    def push_batch(self, envelope: bytes) -> bytes:
        response = self._send(
            "POST",
            "/v1/batches",
            content=envelope,
            headers={"content-type": "application/octet-stream"},
        )
        return response.content

    def chain_head(self) -> dict[str, Any]:
        result: dict[str, Any] = self._signed("GET", "/v1/chain-head").json()
        return result

    def changes(self, after: int) -> bytes:
        target = f"/v1/changes?after={after}&envelope={PROTOCOL_VERSION}"
        if self.feed_version is not None:
            target += f"&feed={self.feed_version}"
        return self._signed("GET", target).content

    def heartbeat(self, report: dict[str, Any]) -> None:
        self._signed("POST", "/v1/heartbeat", body=json.dumps(report).encode("utf-8"))

    def hub_keys(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send("GET", "/v1/hub-keys").json()
        return result

    def enroll(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._send("POST", "/v1/enroll", json=body).json()
        return result

    # --- plumbing -------------------------------------------------------------------------

    def _signed(self, method: str, target: str, body: bytes = b"") -> httpx.Response:
        for attempt in range(2):
            headers = sign_request(
                method,
                target,
                body,
                node_id=self._node_id,
                key=self._signing_key,
                time_ms=self.hub_now_ms(),
                nonce=secrets.token_hex(16),
            )
            if body:
                headers["content-type"] = "application/json"
            try:
                return self._send(method, target, content=body, headers=headers)
            except HubRejected as error:
                # The first answer taught us the hub's time: one retry with the fix.
                if error.code != "clock_skew" or attempt:
                    raise
        raise AssertionError("unreachable")

    def _send(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        sent_at = self._local_clock_ms()
        try:
            response = self._client.request(method, target, **kwargs)
        except httpx.TransportError as error:
            raise HubUnreachable(
                f"hub unreachable: {type(error).__name__}", hint="the node keeps recording"
            ) from None
        self._learn_offset(response, sent_at)
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"),
                now_utc=dt.datetime.now(dt.UTC),
            )
            raise HubBusy(f"hub busy ({response.status_code})", retry_after_seconds=retry_after)
        if response.status_code >= 500:
            raise HubUnreachable(f"hub error {response.status_code}")
        if response.status_code >= 400:
            raise _rejection(response)
        return response

    def _learn_offset(self, response: httpx.Response, sent_at_ms: int) -> None:
        hub_time = response.headers.get("x-egsync-time", "")
        if hub_time.isdigit():
            midpoint = (sent_at_ms + self._local_clock_ms()) // 2
            self.clock_offset_ms = int(hub_time) - midpoint


def _rejection(response: httpx.Response) -> HubRejected | SoftwareOutdated:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    extra = {k: v for k, v in problem.items() if k not in ("code", "detail", "status")}
    code = str(problem.get("code", "http_error"))
    detail = str(problem.get("detail", response.reason_phrase))[:500]
    if code == "upgrade_required" or response.status_code == 426:
        return SoftwareOutdated(detail)
    return HubRejected(response.status_code, code, detail, **extra)
