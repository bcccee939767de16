"""``edge-node run``: the long-running scheduler (APScheduler 3) that seals and syncs.

Two jobs, each ``max_instances=1`` and ``coalesce=True`` so a slow round never piles up:
seal (often, cheap, works offline) and sync (gated by exponential backoff with full
jitter; ``Retry-After`` honoured as a floor). It never gives up, and one failed round
never stalls the next: every exception is caught, recorded and backed off.

While the hub is unreachable the seal job seals full batches only: a partial batch sealed
on the timer during an outage would become one more request and one more envelope
(1.3 kB of fixed overhead) to send later, so a quiet center offline for a week would
queue a batch for every few events. Once a round succeeds, the timer seals partial
batches again, so events reach the hub within ``seal_after`` seconds."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import signal
import threading
import time
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler

from edge_node.backoff import Backoff, BackoffPolicy
from edge_node.errors import Retryable
from edge_node.node import EdgeNode
from edge_node.sealer import SealerConfig, full_batch_pending, halt_reason
from edge_node.sync import describe_error, sync_round

__all__ = ["SyncLoop", "run_forever"]

log = logging.getLogger(__name__)


class SyncLoop:
    """The state a running node keeps between rounds (backoff, last outcome)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        policy: BackoffPolicy,
        sealer: SealerConfig,
        seal_after_seconds: float,
        rng: random.Random | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.sealer = sealer
        self.seal_after_ms = int(seal_after_seconds * 1000)
        self.backoff = Backoff(policy, now=time.monotonic, rng=rng or random.Random())  # noqa: S311 (jitter, not secrets)
        # Did the last round reach the hub? Not at start: the first round runs at once.
        self.online = False
        self._lock = threading.Lock()  # seal and sync never overlap on one file

    def seal_job(self) -> None:
        """Seal when a full batch is waiting or the oldest event waited long enough;
        while offline, full batches only."""
        with self._lock:
            node = EdgeNode.open(self.data_dir)
            try:
                if halt_reason(node.store):
                    return
                count, oldest = node.store.connection.execute(
                    "SELECT count(*), min(enqueued_at_ms) FROM outbox"
                ).fetchone()
                # Full means either bound of the budget, as the sealer itself judges it.
                if count and (
                    (self.online and node.now_ms() - oldest >= self.seal_after_ms)
                    or full_batch_pending(node.store.connection, self.sealer)
                ):
                    node.seal(self.sealer, full_only=not self.online)
            except Exception:
                log.exception("seal job failed")
            finally:
                node.close()

    def sync_job(self) -> None:
        if not self.backoff.ready():
            return
        with self._lock:
            node = EdgeNode.open(self.data_dir)
            transport = node.transport()
            try:
                sync_round(
                    node.store,
                    node.identity,
                    transport,
                    node.pii,
                    data_dir=str(self.data_dir),
                    sealer=self.sealer,
                    seal_partial=False,  # full batches only; the seal job times the rest
                )
            except Exception as error:
                self.online = False
                delay = self.backoff.record_failure(
                    error.retry_after_seconds if isinstance(error, Retryable) else None
                )
                log.warning("sync failed (%s); next try in %.1fs", describe_error(error), delay)
            else:
                self.online = True
                self.backoff.record_success()
            finally:
                transport.close()
                node.close()


def run_forever(
    data_dir: Path,
    *,
    sync_interval_seconds: float = 5.0,
    seal_interval_seconds: float = 2.0,
    seal_after_seconds: float = 10.0,
    policy: BackoffPolicy = BackoffPolicy(),
    sealer: SealerConfig = SealerConfig(),
) -> None:
    """Block, running the seal and sync jobs until interrupted (Ctrl-C / SIGTERM)."""
    loop = SyncLoop(data_dir, policy=policy, sealer=sealer, seal_after_seconds=seal_after_seconds)
    scheduler = BlockingScheduler(job_defaults={"max_instances": 1, "coalesce": True})
    scheduler.add_job(loop.seal_job, "interval", seconds=seal_interval_seconds, id="seal")
    scheduler.add_job(
        loop.sync_job,
        "interval",
        seconds=sync_interval_seconds,
        jitter=max(1, int(sync_interval_seconds / 2)),
        id="sync",
        next_run_time=dt.datetime.now(),  # first round at once, not after a period
    )
    # SIGTERM (systemd stop) ends the loop between jobs like Ctrl-C does; a kill in the
    # middle of a job is safe too, since every write is one durable transaction.
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
