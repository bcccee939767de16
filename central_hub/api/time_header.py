"""ASGI middleware adding ``X-EGSync-Time`` (hub Unix ms) to every response, so a node
whose clock is off by hours can correct its offset from any answer, even an error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["HubTimeHeader"]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class HubTimeHeader:
    def __init__(self, app: Any, clock_ms: Callable[[], int]) -> None:
        self.app = app
        self.clock_ms = clock_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_time(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-egsync-time", str(self.clock_ms()).encode("ascii")))
                message = message | {"headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_time)
