"""Batch ingest: verify, classify against the chain, open, validate, store exactly once,
and answer with a receipt signed by the hub.

Order matters: every check that can reject runs before the one database transaction
that stores anything, so a rejected batch changes nothing (a fork is the exception by
design: its bytes are kept in quarantine for central IT).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from central_hub.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    PayloadTooLarge,
    Unauthenticated,
    workflow_problem,
)
from central_hub.keystore import HubIdentity
from central_hub.storage.batches import PreparedBatch
from central_hub.storage.rows import group_by_transaction
from central_hub.storage.store import ChainMoved, Store
from sync_protocol import (
    PIPELINE_DEPTH,
    ChainHead,
    ChainVerdict,
    EnvelopeError,
    EnvelopeKind,
    InvalidKey,
    InvalidSeal,
    LimitExceeded,
    Limits,
    SealedEnvelope,
    UpgradeRequired,
    ValidationError,
    VerifyKey,
    WorkflowError,
    check_center_event,
    classify_batch,
    fold_wire,
    open_batch_wire,
    parse_envelope,
    verify_envelope,
)
from sync_protocol.hlc import stamp_node_text
from sync_protocol.receipt import Receipt, sign_receipt
from sync_protocol.records import CREATED, DECISION
from sync_protocol.state import Summary

__all__ = ["Ingestor"]

log = logging.getLogger(__name__)

# Test hook for crash tests: when set to a path, the hub writes that file and then waits
# inside the ingest transaction (before commit) so a test can SIGKILL it there.
PAUSE_ENV = "EGSYNC_HUB_TEST_PAUSE_BEFORE_COMMIT"

# A held batch (its predecessor still in flight) looks at the chain again when this
# worker stores a batch, or after this long (the predecessor may reach another worker).
HOLD_POLL_SECONDS = 0.01


def _pause_before_commit() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    while True:  # until the test kills this process
        time.sleep(0.05)


class Ingestor:
    def __init__(
        self,
        store: Store,
        identity: HubIdentity,
        *,
        clock_ms: Callable[[], int],
        limits: Limits,
        hold_seconds: float,
    ) -> None:
        """``hold_seconds``: how long a batch may wait for a predecessor in flight (the
        ``ingest_hold_ms`` setting)."""
        self._hold_seconds = hold_seconds
        self._stored = threading.Condition()  # notified whenever this worker stores a batch
        self._stored_count = 0
        self._store = store
        self._identity = identity
        self._clock_ms = clock_ms
        self._limits = limits

    def ingest(self, body: bytes) -> bytes:
        """Store the batch in ``body`` once; return the receipt bytes (the same bytes for
        a resent batch). Raises a :class:`~central_hub.errors.HubError` otherwise."""
        envelope = self._parse(body)
        header = envelope.header
        node = self._store.get_node(header.node_id)
        if node is None:
            raise Unauthenticated("unknown_node", "no enrolled node has this id")
        if node.status == "revoked":
            raise Forbidden("node_revoked", "this node's enrollment has been revoked")
        try:
            node_key = VerifyKey(node.verify_key)
            verify_envelope(envelope, node_key)
        except (InvalidSeal, InvalidKey):
            # The id in the message itself: the hub installs no formatter that shows extras.
            log.warning("batch signature failed: node %s seq %d", header.node_id, header.seq)
            raise Unauthenticated("invalid_signature", "batch signature did not verify") from None
        return self._ingest_verified(envelope, node.center_id, node_key, node.status)

    def _parse(self, body: bytes) -> SealedEnvelope:
        try:
            envelope = parse_envelope(body, limits=self._limits)
        except LimitExceeded as error:
            raise PayloadTooLarge(error.code, str(error)) from None
        except EnvelopeError as error:
            raise BadRequest(error.code, str(error)) from None
        if envelope.header.kind is not EnvelopeKind.BATCH:
            raise BadRequest("wrong_envelope_kind", "POST /v1/batches takes BATCH envelopes")
        return envelope

    def _ingest_verified(
        self, envelope: SealedEnvelope, center_id: str, node_key: VerifyKey, status: str
    ) -> bytes:
        """Classify against the chain, then store; classify again whenever the chain
        moved under us (a concurrent copy was stored, or the held predecessor arrived)."""
        header = envelope.header
        opened: PreparedBatch | None = None
        hold_until = time.monotonic() + self._hold_seconds
        moved = 0
        while True:
            stored_before = self._stored_count
            snapshot = self._store.chain_snapshot(header.node_id, header.seq)
            verdict = classify_batch(
                ChainHead(snapshot.head_seq, snapshot.head_hash),
                seq=header.seq,
                prev_hash=header.prev_hash,
                batch_hash=envelope.batch_hash,
                accepted_hash_at_seq=snapshot.hash_at_seq,
            )
            if verdict.verdict is ChainVerdict.DUPLICATE:
                assert snapshot.receipt_at_seq is not None
                return snapshot.receipt_at_seq
            if verdict.verdict is ChainVerdict.FORK:
                self._quarantine(envelope, verdict.expected_seq)
            if status == "forked":
                raise Conflict(
                    "node_forked",
                    "this node's chain is forked and quarantined",
                    hint="central IT must resolve the fork before this node can sync",
                )
            if verdict.verdict is ChainVerdict.GAP:
                if not self._may_hold(header.seq, verdict.expected_seq, hold_until):
                    raise Conflict(
                        "chain_gap",
                        f"expected batch {verdict.expected_seq}, got {header.seq}",
                        hint="resend from the expected seq",
                        expected_seq=verdict.expected_seq,
                    )
                if opened is None:  # the work worth overlapping with the predecessor's commit
                    opened = self._prepare(envelope, center_id, node_key)
                else:
                    self._wait_for_a_store(stored_before)
                continue
            if opened is None:
                opened = self._prepare(envelope, center_id, node_key)
            receipt = self._commit(envelope, opened)
            if receipt is not None:
                return receipt
            moved += 1
            if moved >= 3:
                raise Conflict("chain_busy", "the node's chain kept moving; retry")

    def _may_hold(self, seq: int, expected_seq: int, hold_until: float) -> bool:
        """Hold a batch whose predecessors are in flight (the node pipelines its sends,
        ``PIPELINE_DEPTH``), for a bounded time; anything else is a gap at once."""
        return seq - expected_seq < PIPELINE_DEPTH and time.monotonic() < hold_until

    def _wait_for_a_store(self, stored_before: int) -> None:
        """Until this worker stores another batch, or ``HOLD_POLL_SECONDS`` pass."""
        with self._stored:
            self._stored.wait_for(lambda: self._stored_count != stored_before, HOLD_POLL_SECONDS)

    def _quarantine(self, envelope: SealedEnvelope, expected_seq: int) -> NoReturn:
        header = envelope.header
        self._store.quarantine_batch(
            node_id=header.node_id,
            seq=header.seq,
            batch_hash=envelope.batch_hash,
            envelope=envelope.raw,
            reason="fork",
            now_ms=self._clock_ms(),
        )
        log.error("fork quarantined: node %s seq %d", header.node_id, header.seq)
        raise Conflict(
            "chain_fork",
            f"batch {header.seq} contradicts this node's accepted history",
            hint="the node was restored from a backup or cloned; central IT must act",
            expected_seq=expected_seq,
        )

    def _prepare(
        self, envelope: SealedEnvelope, center_id: str, node_key: VerifyKey
    ) -> PreparedBatch:
        """Everything before the transaction: open and validate, then the rows."""
        wire, bodies = self._open(envelope, center_id, node_key)
        self._check_workflow(wire)
        header = envelope.header
        return self._store.prepare_batch(
            node_id=header.node_id,
            seq=header.seq,
            wire=wire,
            bodies=bodies,
            now_ms=self._clock_ms(),
        )

    def _commit(self, envelope: SealedEnvelope, prepared: PreparedBatch) -> bytes | None:
        """Store the batch; ``None`` if the chain moved first (classify again)."""
        header = envelope.header
        try:
            outcome = self._store.commit_batch(
                node_id=header.node_id,
                seq=header.seq,
                batch_hash=envelope.batch_hash,
                envelope_bytes=len(envelope.raw),
                prepared=prepared,
                now_ms=self._clock_ms(),
                make_receipt=lambda accepted, known: self._receipt(envelope, accepted, known),
                before_commit=_pause_before_commit,
            )
        except ChainMoved:
            return None
        with self._stored:
            self._stored_count += 1
            self._stored.notify_all()
        return outcome.receipt

    def _open(
        self, envelope: SealedEnvelope, center_id: str, node_key: VerifyKey
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The batch's validated records, in their wire form (the hub stores rows, so it
        builds no record objects), and each one's canonical JSON text (the stored body,
        taken from the payload rather than re-encoded)."""
        header = envelope.header
        if header.recipient_key_id != self._identity.opening_key.public.key_id:
            raise BadRequest(
                "wrong_recipient_key",
                "batch is sealed to a key this hub does not hold",
                hint="fetch the hub's current sealing key and re-seal unsent batches",
            )
        try:
            wire, bodies = open_batch_wire(
                envelope, node_key=node_key, hub_key=self._identity.opening_key, limits=self._limits
            )
        except InvalidSeal:
            raise BadRequest("invalid_seal", "batch ciphertext did not open") from None
        except LimitExceeded as error:
            raise PayloadTooLarge(error.code, str(error)) from None
        except UpgradeRequired as error:
            # A node newer than this hub: the hub is the one to upgrade (upgrade_required
            # itself means the node must, on the feed).
            raise BadRequest(
                "unknown_record_type",
                str(error),
                hint="this hub is older than the node's software: upgrade the hub first",
            ) from None
        except (EnvelopeError, ValidationError) as error:
            raise BadRequest(error.code, str(error)) from None
        node = str(header.node_id)
        for index, item in enumerate(wire):
            if item["center_id"] != center_id:
                raise Forbidden("wrong_center", f"record {index} is for center {item['center_id']}")
            if stamp_node_text(item["hlc"]) != node:
                raise BadRequest("invalid_record", f"record {index} was stamped by another node")
        return wire, bodies

    def _check_workflow(self, wire: list[dict[str, Any]]) -> None:
        """Judge each of the center's events by the workflow, as of its own stamp, on what
        the hub holds of its transaction plus the batch's earlier events: a center never
        decides an agency's part, delivers only an approved transaction, answers only an
        open information request. The previous release's status events on its own
        transactions (no agencies listed) are taken as before: that release does not know
        the rules. A refused event refuses the whole batch; nothing is stored."""
        touched = {
            txn: events
            for txn, events in group_by_transaction(wire).items()
            if any(event["type"] != CREATED for event in events)
        }
        if not touched:
            return
        held = self._store.transactions(list(touched))
        order = sorted(range(len(wire)), key=lambda i: (wire[i]["hlc"], wire[i]["event_id"]))
        summaries: dict[str, Summary] = {
            txn: held[txn].summary if txn in held else Summary() for txn in touched
        }
        for index in order:
            item = wire[index]
            txn = item["transaction_id"]
            if txn not in summaries:
                continue
            summary = summaries[txn]
            if item["type"] != CREATED and (
                item["type"] == DECISION or (summary.opened and summary.required is not None)
            ):
                # The owner decides only a previous-release transaction: asked only then.
                owner = (
                    self._store.owner_of(summary.service_code) if summary.required is None else None
                )
                try:
                    check_center_event(summary, item, owner, as_of=item["hlc"])
                except WorkflowError as error:
                    raise workflow_problem(error, f"record {index}: ") from None
            summaries[txn] = fold_wire(summary, item)

    def _receipt(self, envelope: SealedEnvelope, accepted: int, known: int) -> bytes:
        header = envelope.header
        receipt = Receipt(
            node_id=header.node_id,
            seq=header.seq,
            batch_hash=envelope.batch_hash,
            records_accepted=accepted,
            records_known=known,
            received_at_ms=self._clock_ms(),
            hub_key_id=self._identity.signing_key.public.key_id,
        )
        return sign_receipt(receipt, self._identity.signing_key)
