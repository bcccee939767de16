"""A center's front desk: staff record citizen transactions at a varied pace, through the
node's real write path, whether or not the hub is reachable."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from pathlib import Path

from demo.people import CENTER_GOVERNORATES, random_citizen
from edge_node.capture import record_status_change, record_transaction
from edge_node.catalog import current_catalog
from edge_node.errors import EdgeError
from edge_node.node import EdgeNode

__all__ = ["FrontDesk"]

log = logging.getLogger(__name__)


class FrontDesk(threading.Thread):
    """Records a transaction every ``mean_gap_s`` seconds on average (exponential gaps,
    so there are bursts and lulls), and now and then hands a decided one to its citizen."""

    def __init__(self, center_id: str, data_dir: Path, *, mean_gap_s: float, seed: int) -> None:
        super().__init__(name=f"desk-{center_id}", daemon=True)
        self.center_id = center_id
        self.data_dir = data_dir
        self.mean_gap_s = mean_gap_s
        self.rng = random.Random(seed)  # noqa: S311 (simulation, not secrets)
        self.recorded = 0
        self.errors = 0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        node = EdgeNode.open(self.data_dir)
        try:
            catalog = current_catalog(node.store.connection)
            if catalog is None:
                raise RuntimeError(f"{self.center_id} has no catalog; did enrollment sync?")
            # Busy centers see a few services most of the time.
            services = [s for s in catalog.services if s.active]
            weights = [1.0 / (rank + 1) for rank in range(len(services))]
            while not self._stop_event.wait(self.rng.expovariate(1 / self.mean_gap_s)):
                try:
                    self._serve_one(node, services, weights)
                except EdgeError as error:
                    self.errors += 1
                    log.warning("%s desk: %s", self.center_id, error)
        finally:
            node.close()

    def _serve_one(self, node: EdgeNode, services: list, weights: list[float]) -> None:  # type: ignore[type-arg]
        if self.rng.random() < 0.1 and self._deliver_one(node):
            return
        service = self.rng.choices(services, weights)[0]
        citizen = random_citizen(
            self.rng,
            dt.date.today(),
            CENTER_GOVERNORATES.get(self.center_id),
        )
        record_transaction(
            node.store,
            node.capture_context,
            service_code=service.code,
            national_id=citizen.national_id,
            citizen_name=citizen.name,
            staff_id=f"{self.center_id}-clerk-{self.rng.randint(1, 4)}",
            now_ms=node.now_ms(),
        )
        self.recorded += 1

    def _deliver_one(self, node: EdgeNode) -> bool:
        """Hand an approved document to its citizen: a status event made at the center."""
        row = node.store.connection.execute(
            "SELECT transaction_id FROM transactions WHERE status = 'approved' LIMIT 1"
        ).fetchone()
        if row is None:
            return False
        record_status_change(
            node.store,
            node.capture_context,
            transaction_id=uuid.UUID(row[0]),
            status="delivered",
            staff_id=f"{self.center_id}-clerk-1",
            now_ms=node.now_ms(),
        )
        return True
