"""A center's front desk: staff record citizen transactions at a varied pace, answer the
agencies' information requests and hand over what is ready, through the node's real write
path, whether or not the hub is reachable."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from pathlib import Path

from demo.people import CENTER_GOVERNORATES, random_citizen
from demo.scenario import SERVICE_MIX
from edge_node.capture import record_info_provided, record_status_change, record_transaction
from edge_node.catalog import current_catalog
from edge_node.errors import EdgeError
from edge_node.lookup import open_information_requests
from edge_node.node import EdgeNode

__all__ = ["FrontDesk"]

log = logging.getLogger(__name__)


class FrontDesk(threading.Thread):
    """Records a transaction every ``mean_gap_s`` seconds on average (exponential gaps,
    so there are bursts and lulls); now and then answers an agency's information request
    (the citizen came back with the document) or hands a ready transaction over."""

    def __init__(self, center_id: str, data_dir: Path, *, mean_gap_s: float, seed: int) -> None:
        super().__init__(name=f"desk-{center_id}", daemon=True)
        self.center_id = center_id
        self.data_dir = data_dir
        self.mean_gap_s = mean_gap_s
        self.rng = random.Random(seed)  # noqa: S311 (simulation, not secrets)
        self.recorded = 0
        self.answered = 0
        self.delivered = 0
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
            offered = {s.code for s in catalog.services if s.active}
            services = [code for code, _ in SERVICE_MIX if code in offered]
            weights = [weight for code, weight in SERVICE_MIX if code in offered]
            while not self._stop_event.wait(self.rng.expovariate(1 / self.mean_gap_s)):
                try:
                    self._serve_one(node, services, weights)
                except EdgeError as error:
                    self.errors += 1
                    log.warning("%s desk: %s", self.center_id, error)
        finally:
            node.close()

    def _serve_one(self, node: EdgeNode, services: list[str], weights: list[float]) -> None:
        roll = self.rng.random()
        if roll < 0.15 and self._answer_one(node):
            return
        if roll < 0.35 and self._deliver_one(node):
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
            service_code=service,
            national_id=citizen.national_id,
            citizen_name=citizen.name,
            staff_id=f"{self.center_id}-clerk-{self.rng.randint(1, 4)}",
            now_ms=node.now_ms(),
        )
        self.recorded += 1

    def _deliver_one(self, node: EdgeNode) -> bool:
        """Hand a ready document to its citizen: approved by every agency it needs, or a
        counter service that needs none."""
        row = node.store.connection.execute(
            "SELECT transaction_id FROM transactions WHERE status IN ('approved', 'created') "
            "ORDER BY recorded_at_ms LIMIT 1"
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
        self.delivered += 1
        return True

    def _answer_one(self, node: EdgeNode) -> bool:
        """The citizen came back with what an agency asked for: answer its request."""
        requests = open_information_requests(node.store, None, limit=1)
        if not requests:
            return False
        request = requests[0]
        record_info_provided(
            node.store,
            node.capture_context,
            transaction_id=uuid.UUID(request["transaction_id"]),
            agency_code=request["agency_code"],
            note="أحضر المواطن المستند المطلوب",
            staff_id=f"{self.center_id}-clerk-2",
            now_ms=node.now_ms(),
        )
        self.answered += 1
        return True
