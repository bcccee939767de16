"""Plumbing shared by the end-to-end benchmarks: a real hub process, enrolled edges, an
offline backlog, scratch PostgreSQL schemas, and the memory and percentile figures."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend

from central_hub.enrollment import provision_center
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import SqlStore
from demo.cluster import child_hub_ready, free_port, hub_cli, wait_until
from edge_node.capture import store_local_event
from edge_node.node import EdgeNode, enroll_node
from edge_node.store import Store
from sync_protocol import Record
from sync_protocol.compression import zstd

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "HubUnderTest",
    "fill_backlog",
    "machine",
    "percentile",
    "postgres_reachable",
    "postgres_schema",
    "process_group_peak_rss_mb",
    "run_edge_sync",
    "scratch_dir",
    "seal_offline",
]

DEFAULT_POSTGRES_URL: Final = os.environ.get(
    "EGSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKLOG_CHUNK: Final = 5_000  # records per setup transaction when filling a backlog


def machine() -> dict[str, Any]:
    """The facts a figure is meaningless without: CPU, Python, crypto and compression builds."""
    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass  # not Linux: platform.processor() is the best there is
    memory_mb = 0
    with (
        contextlib.suppress(OSError, ValueError, IndexError),
        open("/proc/meminfo", encoding="utf-8") as meminfo,
    ):
        memory_mb = int(meminfo.readline().split()[1]) // 1024
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model or "unknown",
        "memory_mb": memory_mb,
        "cryptography": cryptography.__version__,
        "openssl": openssl_backend.openssl_version_text(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "zstd": zstd.zstd_version,
    }


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.5 = median); 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory on the same disk as /tmp (fsync costs are real there)."""
    path = Path(tempfile.mkdtemp(prefix=f"egsync-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------


def postgres_reachable(url: str = DEFAULT_POSTGRES_URL) -> str | None:
    """None when PostgreSQL answers at ``url``; otherwise why not (one line)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


@contextlib.contextmanager
def postgres_schema(base_url: str = DEFAULT_POSTGRES_URL) -> Iterator[str]:
    """A URL whose connections live in a new, empty schema, dropped afterwards."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


# --- processes and memory --------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass  # gone already
    return 0


def process_group_peak_rss_mb(leader: int) -> float:
    """Peak resident memory (VmHWM) summed over the live processes of ``leader``'s
    process group: a hub with ``--workers N`` is a supervisor plus N workers."""
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # field 5 of stat, the process group id
            total_kb += _status_kb(int(entry), "VmHWM")
    return total_kb / 1024


class HubUnderTest:
    """``central-hub serve`` in a child process on a free port of 127.0.0.1, initialised
    in a fresh data dir; provisioning goes straight to its database."""

    def __init__(self, data_dir: Path, db_url: str = "", *, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "hub.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        hub_cli(data_dir, "init", *self._db())
        self.database_url = db_url or f"sqlite:///{(data_dir / 'hub.db').resolve()}"
        self._store = SqlStore(create_hub_engine(self.database_url, pool_size=2))

    def _db(self) -> tuple[str, ...]:
        return ("--db", self.db_url) if self.db_url else ()

    def provision(self, center_id: str) -> str:
        """A one-time enrollment token for a new node of ``center_id``."""
        issued = provision_center(
            self._store, center_id, f"bench {center_id}", now_ms=_now_ms(), ttl_hours=1
        )
        return issued.token

    def start(self, *, env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, "-m", "central_hub", "serve", "--data-dir", str(self.data_dir)]
        argv += [*self._db(), "--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        wait_until(self._ready, timeout_s=60, what=f"the hub on port {self.port}")

    def _ready(self) -> bool:
        assert self.process is not None
        return child_hub_ready(self.process, self.url, self.log_path)

    def peak_rss_mb(self) -> float:
        return process_group_peak_rss_mb(self.process.pid) if self.process else 0.0

    def count_events(self) -> int:
        from sqlalchemy import func, select

        from central_hub.storage import schema

        with self._store.engine.connect() as connection:
            counted = connection.execute(select(func.count()).select_from(schema.events))
            return int(counted.scalar_one())

    def stop(self) -> None:
        import signal

        self._store.engine.dispose()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def fresh_hub_database(url: str) -> None:
    """Apply the hub's migrations to an empty database (for the bulk-insert limit)."""
    engine = create_hub_engine(url, pool_size=1)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


# --- edges -----------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def enrolled_edge(data_dir: Path, hub: HubUnderTest, center_id: str, hub_url: str) -> EdgeNode:
    """A node enrolled with ``hub`` (reached at ``hub_url``, e.g. through a proxy)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    enroll_node(data_dir, hub.provision(center_id), hub_url, hub_fingerprint=None)
    return EdgeNode.open(data_dir)


def fill_backlog(node: EdgeNode, records: Sequence[Record]) -> None:
    """Store ``records`` as if staff had recorded them offline: the capture path's own
    ``store_local_event`` (encrypted event, outbox entry, projection), then the HLC, in
    big transactions so the setup of a 100k backlog takes seconds. Timed figures never
    include this."""
    store: Store = node.store
    for start in range(0, len(records), BACKLOG_CHUNK):
        chunk = records[start : start + BACKLOG_CHUNK]
        with store.write() as connection:
            for record in chunk:
                store_local_event(connection, node.pii, record, record.recorded_at_ms)
            Store.set_state(connection, "hlc", chunk[-1].hlc.encode())


def seal_offline(node: EdgeNode) -> int:
    """Seal the backlog as ``edge-node run``'s seal job does while the hub is unreachable:
    full batches only, a partial one left pending. Returns the records sealed."""
    node.seal(full_only=True)
    sealed = node.store.connection.execute(
        "SELECT coalesce(sum(record_count), 0) FROM batches WHERE acked_at_ms IS NULL"
    ).fetchone()[0]
    return int(sealed)


def backlog_start_ms(count: int) -> int:
    """A start time that puts ``count`` records (~30 s apart) in the recent past."""
    return _now_ms() - count * 31_000 - 86_400_000


def run_edge_sync(data_dir: Path, *, timeout_s: float = 1_800) -> dict[str, Any]:
    """One sync round in a fresh edge process (``python -m bench._edge_sync``): its
    timing of the round, its report, and its peak RSS as the kernel accounted it."""
    argv = [sys.executable, "-m", "bench._edge_sync", str(data_dir)]
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"edge sync failed ({process.returncode}): {err.decode()[-2000:]}")
    answer: dict[str, Any] = json.loads(out)
    answer["process_seconds"] = wall
    return answer
