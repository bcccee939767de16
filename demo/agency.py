"""One agency's back office at the hub: its officers work through the agency's queue and
decide their part of each transaction (approve, now and then reject, or ask the center
for information) through the hub's API, with a token bound to that agency. Runs as its
own process in the demo, one per agency::

    python -m demo.agency --hub URL --agency CODE --decisions FILE [--every S] ...

The token comes from ``AGENCY_TOKEN``. Each decision is appended to ``FILE`` as a JSON
line, so the demo can check later that it reached the center the transaction came from.
A decision is sent with an idempotency key and resent with the same key after a failed
attempt: the hub decides it once whatever happened to the first answer."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

__all__ = ["main"]

ATTEMPTS = 4
INFORMATION_NOTES = (
    "صورة عقد الإيجار موثقة من الشهر العقاري",
    "رسم هندسي معتمد لموقع النشاط",
    "شهادة صحية سارية للعاملين",
    "صورة بطاقة الرقم القومي سارية",
)


class Officer:
    """Decides one waiting transaction per tick for one agency."""

    def __init__(self, client: httpx.Client, args: argparse.Namespace) -> None:
        self.client = client
        self.agency = args.agency
        self.decisions = args.decisions
        self.ask_info = args.ask_info
        self.reject = args.reject
        self.rng = random.Random(args.seed)  # noqa: S311 (simulation, not secrets)

    def tick(self) -> None:
        page = self.client.get("/v1/agency/queue", params={"limit": 5})
        page.raise_for_status()
        waiting = page.json()["transactions"]
        if not waiting:
            return
        item = waiting[0]  # the oldest wait first, as the desk's rule says
        roll = self.rng.random()
        body: dict[str, str]
        if roll < self.ask_info:
            body = {
                "decision": "info_requested",
                "reason_code": "missing_document",
                "note": self.rng.choice(INFORMATION_NOTES),
            }
        elif roll < self.ask_info + self.reject:
            body = {"decision": "rejected", "reason_code": "not_eligible", "note": "غير مستوف"}
        else:
            body = {"decision": "approved", "note": ""}
        answer = self._send(item["transaction_id"], body)
        if answer is None:
            return
        line = {
            "transaction_id": item["transaction_id"],
            "center_id": item["center_id"],
            "agency_code": self.agency,
            "event_id": answer["event_id"],
            "decision": body["decision"],
        }
        with self.decisions.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def _send(self, transaction_id: str, body: dict[str, str]) -> dict[str, str] | None:
        """POST the decision, resending with the same key after a failed attempt."""
        key = str(uuid.uuid4())
        url = f"/v1/agency/transactions/{transaction_id}/decisions"
        for _ in range(ATTEMPTS):
            try:
                response = self.client.post(url, json=body, headers={"idempotency-key": key})
            except httpx.TransportError:
                continue
            if response.status_code == 409:
                return None  # decided meanwhile (closed, or another officer): nothing to do
            response.raise_for_status()
            answer: dict[str, str] = response.json()
            return answer
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.agency", description=__doc__)
    parser.add_argument("--hub", required=True, help="hub URL")
    parser.add_argument("--agency", required=True, help="the agency's catalog code")
    parser.add_argument("--token", default=os.environ.get("AGENCY_TOKEN"), help="agency token")
    parser.add_argument("--decisions", type=Path, required=True, help="JSON-lines output")
    parser.add_argument("--every", type=float, default=0.6, help="seconds between decisions")
    parser.add_argument("--ask-info", type=float, default=0.0, help="share asking for info")
    parser.add_argument("--reject", type=float, default=0.05, help="share rejected")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token or AGENCY_TOKEN is required")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with httpx.Client(
        base_url=args.hub, headers={"authorization": f"Bearer {args.token}"}, timeout=10
    ) as client:
        officer = Officer(client, args)
        while not stop.wait(args.every):
            try:
                officer.tick()
            except httpx.HTTPError as error:
                print(f"agency {args.agency}: {type(error).__name__}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
