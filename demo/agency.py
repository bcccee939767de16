"""An agency back office: reviews transactions that reached the hub and approves or
rejects some of them through the hub's API. Runs as its own process in the demo::

    python -m demo.agency --hub URL --token TOKEN --decisions FILE

Each decision is appended to ``FILE`` as a JSON line, so the demo can check later that
it reached the center the transaction came from."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

__all__ = ["main"]


def _decide(client: httpx.Client, rng: random.Random, decisions: Path, seen: set[str]) -> None:
    answer = client.get("/v1/transactions", params={"status": "created", "limit": 50})
    answer.raise_for_status()
    for item in answer.json()["transactions"]:
        transaction_id = item["transaction_id"]
        if transaction_id in seen:
            continue
        seen.add(transaction_id)
        roll = rng.random()
        if roll > 0.6:
            continue  # not this agency's, or still under review
        status = "approved" if roll < 0.45 else "rejected"
        decided = client.post(
            f"/v1/transactions/{transaction_id}/status",
            json={"status": status, "actor_id": "officer-12", "note": "reviewed"},
        )
        decided.raise_for_status()
        line = {
            "transaction_id": transaction_id,
            "center_id": item["center_id"],
            "event_id": decided.json()["event_id"],
            "status": status,
        }
        with decisions.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return  # one decision per tick: officers take their time


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.agency", description=__doc__)
    parser.add_argument("--hub", required=True, help="hub URL")
    parser.add_argument("--token", default=os.environ.get("AGENCY_TOKEN"), help="agency token")
    parser.add_argument("--decisions", type=Path, required=True, help="JSON-lines output")
    parser.add_argument("--every", type=float, default=0.4, help="seconds between decisions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token or AGENCY_TOKEN is required")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rng = random.Random(args.seed)  # noqa: S311 (simulation, not secrets)
    seen: set[str] = set()
    with httpx.Client(
        base_url=args.hub, headers={"authorization": f"Bearer {args.token}"}, timeout=10
    ) as client:
        while not stop.wait(args.every):
            try:
                _decide(client, rng, args.decisions, seen)
            except httpx.HTTPError as error:
                print(f"agency: {type(error).__name__}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
