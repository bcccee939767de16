"""A TCP proxy on 127.0.0.1 that plays a remote center's bad link between an edge node and
the hub: added latency, a bandwidth cap, abrupt resets and outages, switchable at run time.

Standard library only, so it runs anywhere the demo or a benchmark does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, TypeVar

__all__ = ["LISTEN_HOST", "FaultProxy", "LinkProfile", "ProxyThread", "main"]

LISTEN_HOST: Final = "127.0.0.1"

_log = logging.getLogger(__name__)

_READ_BYTES: Final = 64 * 1024
# Bytes one direction of a connection may hold before the proxy stops reading from the
# sender, so a slow link pushes back (as a real one does) instead of swallowing the upload.
_MAX_QUEUED_BYTES: Final = 4 * 1024 * 1024
# A rate-limited link sends slices worth ~20 ms of its rate, so a 64 KiB read trickles out
# instead of leaving in one burst followed by a long silence.
_SLICES_PER_SECOND: Final = 50
_MIN_SLICE_BYTES: Final = 512
# SO_LINGER on with a zero timeout: close() sends RST and drops unsent data.
_LINGER_ZERO: Final = struct.pack("ii", 1, 0)

Direction = Literal["up", "down"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """How bad the link is; the default is a perfect link.

    ``latency_ms`` is added one way to each direction, so a round trip gains twice it.
    ``rate_bytes_per_s`` caps each direction, shared by all connections (0 = unlimited;
    256 kbit/s is 32000). ``reset_probability`` is the chance, rolled when a connection
    opens and again for every chunk (up to 64 KiB) read from either side, that the
    connection is reset, so long transfers are more exposed, as on a real flaky link.
    ``down`` refuses new connections and cuts the open ones.
    """

    latency_ms: float = 0.0
    rate_bytes_per_s: int = 0
    reset_probability: float = 0.0
    down: bool = False

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms}")
        if self.rate_bytes_per_s < 0:
            raise ValueError(f"rate_bytes_per_s must be >= 0, not {self.rate_bytes_per_s}")
        if not 0.0 <= self.reset_probability <= 1.0:
            raise ValueError(
                f"reset_probability must be between 0 and 1, not {self.reset_probability}"
            )


class _InjectedReset(Exception):
    """The dice said this connection dies now."""


class _Link:
    """One direction of the simulated link, shared by every connection: when bytes leave.

    Pacing against a virtual "link free at" clock is a token bucket one slice deep: an idle
    link earns no burst credit, so no transfer ever beats the configured rate.
    """

    def __init__(self) -> None:
        self._free_at = 0.0

    def arrival_time(self, size: int, now: float, profile: LinkProfile) -> float:
        """When ``size`` bytes handed to the link at ``now`` are fully at the far end."""
        sent = now
        if profile.rate_bytes_per_s:
            self._free_at = max(now, self._free_at) + size / profile.rate_bytes_per_s
            sent = self._free_at
        return sent + profile.latency_ms / 1000


class _Lane:
    """One direction of one connection.

    Each chunk waits in a FIFO stamped with its delivery time, so latency delays every
    chunk without holding back the reading of the next one: a long link still carries its
    full rate, and order is kept.
    """

    def __init__(
        self,
        proxy: FaultProxy,
        direction: Direction,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
    ) -> None:
        self._proxy = proxy
        self._direction = direction
        self._source = source
        self._sink = sink
        self._queue: deque[tuple[float, bytes]] = deque()  # b"" marks end of stream
        self._queued_bytes = 0
        self._filled = asyncio.Event()
        self._drained = asyncio.Event()

    async def receive(self) -> None:
        """Read from the source and schedule each chunk on the link, until end of stream."""
        loop = asyncio.get_running_loop()
        while True:
            chunk = await self._source.read(_READ_BYTES)
            profile = self._proxy.profile
            now = loop.time()
            if not chunk:
                self._push(now + profile.latency_ms / 1000, b"")
                return
            if self._proxy._roll_reset():
                raise _InjectedReset
            link = self._proxy._links[self._direction]
            step = len(chunk)
            if profile.rate_bytes_per_s:
                step = max(_MIN_SLICE_BYTES, profile.rate_bytes_per_s // _SLICES_PER_SECOND)
            for start in range(0, len(chunk), step):
                piece = chunk[start : start + step]
                self._push(link.arrival_time(len(piece), now, profile), piece)
            while self._queued_bytes >= _MAX_QUEUED_BYTES:
                self._drained.clear()
                await self._drained.wait()

    async def deliver(self) -> None:
        """Write each chunk to the sink once its delivery time has come, then end of stream."""
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._filled.clear()
                await self._filled.wait()
            deliver_at, piece = self._queue[0]
            # A loop, because the event loop may wake a timer a hair early.
            while (delay := deliver_at - loop.time()) > 0:
                await asyncio.sleep(delay)
            self._queue.popleft()
            if not piece:
                if self._sink.can_write_eof():
                    self._sink.write_eof()
                return
            self._sink.write(piece)
            await self._sink.drain()
            self._queued_bytes -= len(piece)
            self._proxy._count_bytes(self._direction, len(piece))
            self._drained.set()

    def _push(self, deliver_at: float, piece: bytes) -> None:
        self._queue.append((deliver_at, piece))
        self._queued_bytes += len(piece)
        self._filled.set()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a dropped link or a crashed middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    writer.transport.abort()


class _Connection:
    """A client connection and, once dialled, its upstream twin."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Future[Any]] = []
        self.is_reset = False

    def reset(self) -> None:
        """Abort both sides with RST and stop relaying; safe to call more than once."""
        self.is_reset = True
        for task in self.tasks:
            task.cancel()
        for writer in (self.client, self.upstream):
            if writer is not None and not writer.transport.is_closing():
                _abort(writer)

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.close()


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:listen_port`` (0 = a free port) to the upstream, with
    the faults of ``profile``. Run it on an asyncio loop with :meth:`start` and :meth:`stop`;
    from other threads use :class:`ProxyThread`.

    ``rng`` rolls the reset dice; pass a seeded one for a repeatable run.
    """

    def __init__(
        self,
        listen_port: int,
        upstream_host: str,
        upstream_port: int,
        profile: LinkProfile | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._listen_port = listen_port
        self._upstream = (upstream_host, upstream_port)
        self._profile = profile or LinkProfile()
        # Fault injection, not security: a predictable generator is what we want.
        self._rng = rng or random.Random()  # noqa: S311
        self._links: dict[Direction, _Link] = {"up": _Link(), "down": _Link()}
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._stats = dict.fromkeys(
            (
                "bytes_up",
                "bytes_down",
                "connections_accepted",
                "connections_refused",
                "connections_cut",
                "resets_injected",
            ),
            0,
        )

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        if self._server is None:
            raise RuntimeError("the fault proxy is not listening; call start() first")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def profile(self) -> LinkProfile:
        return self._profile

    async def start(self) -> None:
        """Start listening on 127.0.0.1; raises OSError if the port is taken."""
        if self._server is not None:
            raise RuntimeError("the fault proxy is already running")
        self._stopping = False
        self._server = await asyncio.start_server(self._serve, LISTEN_HOST, self._listen_port)

    async def stop(self) -> None:
        """Stop listening and reset every open connection."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for connection in list(self._connections):
            connection.reset()
        await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers)
        self._server = None

    def set_profile(self, profile: LinkProfile) -> None:
        """Change the link from now on; going down cuts every open connection."""
        self._profile = profile
        if profile.down:
            for connection in list(self._connections):
                self._stats["connections_cut"] += 1
                connection.reset()

    def stats(self) -> dict[str, int]:
        """A snapshot of the counters: bytes each way (as delivered), connections accepted,
        refused while down, cut by going down and currently open, and resets injected."""
        return {**self._stats, "connections_open": len(self._connections)}

    def _count_bytes(self, direction: Direction, size: int) -> None:
        self._stats[f"bytes_{direction}"] += size

    def _roll_reset(self) -> bool:
        probability = self._profile.reset_probability
        if probability and self._rng.random() < probability:
            self._stats["resets_injected"] += 1
            return True
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._stats["connections_accepted"] += 1
        connection = _Connection(writer)
        if self._stopping or self._profile.down:
            # Accept then abort: the client sees its connection reset, as through a dead link.
            self._stats["connections_refused"] += 1
            connection.reset()
            return
        if self._roll_reset():
            connection.reset()
            return
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        self._connections.add(connection)
        try:
            await self._relay(connection, reader)
        finally:
            self._connections.discard(connection)
            if handler is not None:
                self._handlers.discard(handler)

    async def _relay(self, connection: _Connection, client: asyncio.StreamReader) -> None:
        # Dial as a task so that reset() can cancel it without cancelling this handler.
        dial = asyncio.ensure_future(asyncio.open_connection(*self._upstream))
        connection.tasks.append(dial)
        await asyncio.wait([dial])
        if dial.cancelled() or dial.exception() is not None:
            connection.reset()
            return
        upstream, upstream_writer = dial.result()
        connection.upstream = upstream_writer
        if connection.is_reset:  # went down while dialling
            connection.reset()
            return

        up = _Lane(self, "up", client, upstream_writer)
        down = _Lane(self, "down", upstream, connection.client)
        lanes = [
            asyncio.ensure_future(step())
            for step in (up.receive, up.deliver, down.receive, down.deliver)
        ]
        connection.tasks.extend(lanes)
        await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
        if not connection.is_reset and not _failures(lanes):
            connection.close()  # both directions reached end of stream
            return
        # Cut from outside, or one side failed (reset by its peer, or the dice): reset both.
        connection.reset()
        await asyncio.wait(lanes)
        for error in _failures(lanes):
            if not isinstance(error, _InjectedReset | OSError):
                _log.error("fault proxy relay failed", exc_info=error)


def _failures(tasks: Sequence[asyncio.Future[Any]]) -> list[BaseException]:
    """Exceptions of the finished tasks (retrieving them, so asyncio does not log them)."""
    errors = [task.exception() for task in tasks if task.done() and not task.cancelled()]
    return [error for error in errors if error is not None]


class ProxyThread:
    """A :class:`FaultProxy` on its own event loop in a daemon thread, for synchronous code
    (tests, benchmarks, the demo). Every method may be called from any thread.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        profile: LinkProfile | None = None,
        *,
        listen_port: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self._proxy = FaultProxy(listen_port, upstream_host, upstream_port, profile, rng=rng)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def __enter__(self) -> ProxyThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def profile(self) -> LinkProfile:
        return self._proxy.profile

    def start(self, timeout_seconds: float = 10.0) -> None:
        """Start the thread; returns once the proxy is listening."""
        if self._thread is not None:
            raise RuntimeError("the fault proxy thread is already running")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_seconds):
            raise RuntimeError(f"the fault proxy did not start within {timeout_seconds} s")
        if self._startup_error is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
            raise self._startup_error

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Close every connection and the listener, and join the thread."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_requested.set)
        thread.join(timeout_seconds)
        if thread.is_alive():
            raise RuntimeError(f"the fault proxy did not stop within {timeout_seconds} s")
        self._thread = None

    def set_profile(self, profile: LinkProfile) -> None:
        """Change the link; returns once it applies (going down has cut open connections)."""
        self._on_loop(lambda: self._proxy.set_profile(profile))

    def set_down(self, down: bool) -> None:
        """Take the link down (refuse and cut connections) or bring it back up."""
        self._on_loop(lambda: self._proxy.set_profile(replace(self._proxy.profile, down=down)))

    def stats(self) -> dict[str, int]:
        """A consistent snapshot of the proxy's counters (see :meth:`FaultProxy.stats`)."""
        return self._on_loop(self._proxy.stats)

    def _on_loop(self, function: Callable[[], _T]) -> _T:
        loop = self._loop
        if self._thread is None or loop is None or threading.current_thread() is self._thread:
            return function()

        async def call() -> _T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            await self._proxy.start()
        except BaseException as error:
            self._startup_error = error
            self._loop = None
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self._proxy.stop()
            self._loop = None


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def _listen_address(text: str) -> tuple[str, int]:
    host, port = _address(text)
    if host != LISTEN_HOST:
        raise argparse.ArgumentTypeError(f"the proxy only listens on {LISTEN_HOST}, not {host}")
    return host, port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo.fault_proxy",
        description=(
            "Relay TCP from 127.0.0.1 to an upstream (the hub) through a bad link: added "
            "latency, a bandwidth cap and random resets. Ctrl-C stops it and prints the "
            "counters as JSON on stdout."
        ),
    )
    parser.add_argument(
        "--listen",
        type=_listen_address,
        default=f"{LISTEN_HOST}:0",
        metavar="127.0.0.1:PORT",
        help="where to listen (port 0 picks a free one, printed on stderr); default %(default)s",
    )
    parser.add_argument(
        "--upstream",
        type=_address,
        required=True,
        metavar="HOST:PORT",
        help="where to relay to, e.g. the hub at 127.0.0.1:8000",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="one-way delay added to each direction",
    )
    parser.add_argument(
        "--rate-kbit",
        type=float,
        default=0.0,
        metavar="KBIT",
        help="cap each direction at this many kilobits/s (256 = 32000 bytes/s); 0 = unlimited",
    )
    parser.add_argument(
        "--reset-probability",
        type=float,
        default=0.0,
        metavar="P",
        help="chance per new connection and per chunk relayed that the connection is reset",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed the reset dice for a repeatable run"
    )
    return parser


async def _run_until_signalled(proxy: FaultProxy, upstream: tuple[str, int]) -> int:
    try:
        await proxy.start()
    except OSError as error:
        print(f"fault proxy: cannot listen: {error}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(
        f"fault proxy listening on {LISTEN_HOST}:{proxy.port} -> {upstream[0]}:{upstream[1]} "
        f"with {proxy.profile}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await proxy.stop()
    print(json.dumps(proxy.stats()), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: ``python -m demo.fault_proxy --help``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        profile = LinkProfile(
            latency_ms=args.latency_ms,
            rate_bytes_per_s=round(args.rate_kbit * 1000 / 8),
            reset_probability=args.reset_probability,
        )
    except ValueError as error:
        parser.error(str(error))
    # Fault dice, not security: a seedable generator is the point.
    rng = random.Random(args.seed)  # noqa: S311
    upstream_host, upstream_port = args.upstream
    proxy = FaultProxy(args.listen[1], upstream_host, upstream_port, profile, rng=rng)
    try:
        return asyncio.run(_run_until_signalled(proxy, args.upstream))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        return 0


if __name__ == "__main__":
    sys.exit(main())
