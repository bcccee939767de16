"""The fault proxy (demo.fault_proxy) over real sockets on 127.0.0.1, against tiny threaded
upstreams. Timing is asserted by lower bounds (which the proxy guarantees by construction)
and, where a property needs it, by an upper bound far from the expected value."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from demo.fault_proxy import FaultProxy, LinkProfile, ProxyThread

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 10.0
REPLY = b"reply:" + bytes(range(256)) * 8192  # ~2 MB, different from anything sent up


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.received: list[bytes] = []
        self.connections = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Echo(socketserver.BaseRequestHandler):
    server: _Upstream

    def handle(self) -> None:
        self.server.connections += 1
        with self.request as conn:
            while data := _recv(conn):
                conn.sendall(data)


class _RecordThenReply(socketserver.BaseRequestHandler):
    """Reads to end of stream, keeps what came, then answers with ``reply`` and closes."""

    server: _Upstream
    reply: ClassVar[bytes] = REPLY

    def handle(self) -> None:
        self.server.connections += 1
        with self.request as conn:
            chunks = []
            while data := _recv(conn):
                chunks.append(data)
            self.server.received.append(b"".join(chunks))
            conn.sendall(self.reply)


class _ShortReply(_RecordThenReply):
    reply = b"ok"


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except ConnectionResetError:
        return b""


def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[_Upstream]:
    server = _Upstream(handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT_S)


@pytest.fixture
def echo() -> Iterator[_Upstream]:
    yield from _serve(_Echo)


@pytest.fixture
def recorder() -> Iterator[_Upstream]:
    yield from _serve(_RecordThenReply)


@pytest.fixture
def short_recorder() -> Iterator[_Upstream]:
    yield from _serve(_ShortReply)


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    conn.settimeout(TIMEOUT_S)
    return conn


def _send_all_then_read_to_end(port: int, payload: bytes) -> bytes:
    with _connect(port) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def _round_trip(conn: socket.socket, message: bytes) -> bytes:
    conn.sendall(message)
    received = b""
    while len(received) < len(message):
        data = conn.recv(65536)
        assert data, "connection closed mid-reply"
        received += data
    return received


def _ended_by_reset(conn: socket.socket) -> bool:
    """True if the peer reset the connection, False if it closed it cleanly (EOF)."""
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        return True
    return False


def _new_connection_is_reset(port: int) -> bool:
    """True if a new connection is reset; on loopback the RST can beat connect() itself."""
    try:
        conn = _connect(port)
    except ConnectionResetError:
        return True
    with conn:
        return _ended_by_reset(conn)


def test_relays_two_megabytes_each_way_unchanged(recorder: _Upstream) -> None:
    payload = random.Random(7).randbytes(2 * 1024 * 1024)
    with ProxyThread("127.0.0.1", recorder.port) as proxy:
        reply = _send_all_then_read_to_end(proxy.port, payload)
        stats = proxy.stats()

    assert recorder.received == [payload]
    assert reply == REPLY
    assert (stats["bytes_up"], stats["bytes_down"], stats["connections_accepted"]) == (
        len(payload),
        len(REPLY),
        1,
    )


def test_latency_is_added_once_in_each_direction(echo: _Upstream) -> None:
    with (
        ProxyThread("127.0.0.1", echo.port, LinkProfile(latency_ms=150)) as proxy,
        _connect(proxy.port) as conn,
    ):
        started = time.monotonic()
        assert _round_trip(conn, b"ping") == b"ping"
        elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 0.3 + 2.0


def test_latency_does_not_cap_throughput(short_recorder: _Upstream) -> None:
    payload = bytes(2 * 1024 * 1024)
    profile = LinkProfile(latency_ms=200)
    with ProxyThread("127.0.0.1", short_recorder.port, profile) as proxy:
        started = time.monotonic()
        assert _send_all_then_read_to_end(proxy.port, payload) == b"ok"
        elapsed = time.monotonic() - started

    # Chunks are pipelined: ~0.4 s. Waiting out the latency per 64 KiB chunk would take
    # at least 32 x 0.2 s = 6.4 s.
    assert elapsed < 3.0
    assert short_recorder.received == [payload]


def test_rate_limit_paces_the_transfer(short_recorder: _Upstream) -> None:
    payload = bytes(200_000)
    profile = LinkProfile(rate_bytes_per_s=400_000)
    with ProxyThread("127.0.0.1", short_recorder.port, profile) as proxy:
        started = time.monotonic()
        assert _send_all_then_read_to_end(proxy.port, payload) == b"ok"
        elapsed = time.monotonic() - started

    assert elapsed >= 0.5  # 200 kB at 400 kB/s, with no burst allowance
    assert short_recorder.received == [payload]


def test_going_down_cuts_and_refuses_connections_and_coming_back_up_works(
    echo: _Upstream,
) -> None:
    with ProxyThread("127.0.0.1", echo.port) as proxy:
        with _connect(proxy.port) as open_before:
            assert _round_trip(open_before, b"before") == b"before"
            proxy.set_down(True)
            assert _ended_by_reset(open_before)

        assert _new_connection_is_reset(proxy.port)

        proxy.set_down(False)
        with _connect(proxy.port) as after:
            assert _round_trip(after, b"after") == b"after"
        stats = proxy.stats()

    assert (stats["connections_cut"], stats["connections_refused"]) == (1, 1)
    assert echo.connections == 2  # the refused connection never reached the upstream


def test_reset_probability_one_resets_every_new_connection(echo: _Upstream) -> None:
    with ProxyThread("127.0.0.1", echo.port, LinkProfile(reset_probability=1.0)) as proxy:
        for _ in range(3):
            assert _new_connection_is_reset(proxy.port)
        stats = proxy.stats()

    assert stats["resets_injected"] == 3
    assert echo.connections == 0


class _ScriptedDice(random.Random):
    def __init__(self, rolls: list[float]) -> None:
        super().__init__(0)
        self._rolls = rolls

    def random(self) -> float:
        return self._rolls.pop(0)


def test_a_reset_can_hit_an_open_connection_mid_transfer(echo: _Upstream) -> None:
    # The connection survives the roll when it opens, then its first chunk draws the reset.
    dice = _ScriptedDice([0.9, 0.1])
    profile = LinkProfile(reset_probability=0.5)
    with ProxyThread("127.0.0.1", echo.port, profile, rng=dice) as proxy:
        with _connect(proxy.port) as conn:
            conn.sendall(b"hello")
            assert _ended_by_reset(conn)
        stats = proxy.stats()

    assert (stats["resets_injected"], stats["bytes_up"]) == (1, 0)


def test_an_unreachable_upstream_resets_the_client() -> None:
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
        with ProxyThread("127.0.0.1", dead_port) as proxy:
            assert _new_connection_is_reset(proxy.port)


def test_stop_closes_connections_and_the_listener(echo: _Upstream) -> None:
    proxy = ProxyThread("127.0.0.1", echo.port)
    proxy.start()
    port = proxy.port
    with _connect(port) as conn:
        assert _round_trip(conn, b"x") == b"x"
        proxy.stop()
        assert _ended_by_reset(conn)

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S).close()


def test_fault_proxy_runs_on_the_callers_event_loop() -> None:
    async def scenario() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = FaultProxy(0, "127.0.0.1", upstream.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"salam")
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
        finally:
            await proxy.stop()
            upstream.close()
            await upstream.wait_closed()
        return reply

    assert asyncio.run(scenario()) == b"salam"


def test_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="start"):
        _ = FaultProxy(0, "127.0.0.1", 1).port


@pytest.mark.parametrize(
    "profile",
    [{"latency_ms": -1}, {"rate_bytes_per_s": -1}, {"reset_probability": 1.5}],
)
def test_impossible_profiles_are_rejected(profile: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LinkProfile(**profile)  # type: ignore[arg-type]


def test_command_line_relays_and_stops_cleanly_on_ctrl_c(echo: _Upstream) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo.fault_proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            f"127.0.0.1:{echo.port}",
            "--latency-ms",
            "5",
            "--rate-kbit",
            "256",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert "listening on 127.0.0.1:" in banner, banner
        port = int(banner.split("127.0.0.1:")[1].split()[0])
        with _connect(port) as conn:
            assert _round_trip(conn, b"marhaba") == b"marhaba"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    assert process.returncode == 0, stderr
    assert json.loads(stdout)["connections_accepted"] == 1


def test_command_line_refuses_to_listen_beyond_localhost() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo.fault_proxy", "--listen", "0.0.0.0:9000", "--upstream", "x:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 2
    assert "only listens on 127.0.0.1" in result.stderr
