"""One sync round: check the chain against the hub, seal, push, pull, heartbeat.

Every step is resumable: batches are sealed before they are sent and acknowledged only
with a verified hub receipt; the change cursor moves in the same transaction that applies
the changes. A round that fails part-way leaves nothing half-done; the next one resumes.
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version

from edge_node.errors import EdgeError, Final, HubRejected, SoftwareOutdated, SyncHalted
from edge_node.faults import crash_point
from edge_node.identity import NodeIdentity
from edge_node.inbox import apply_change_set, current_cursor
from edge_node.pii import PiiCipher
from edge_node.sealer import HALT_KEY, SealerConfig, seal_pending
from edge_node.store import Store
from edge_node.transport import Transport, wall_clock_ms
from sync_protocol import PIPELINE_DEPTH, UpgradeRequired, open_changes, parse_envelope
from sync_protocol.receipt import verify_receipt

__all__ = ["SyncReport", "check_chain", "sync_round"]

log = logging.getLogger(__name__)
MAX_CHANGE_PAGES = 1000


@dataclass(slots=True)
class SyncReport:
    sealed: list[int] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    records_accepted: int = 0
    records_known: int = 0
    changes_applied: int = 0
    status_events_received: int = 0  # agency decisions and status events new here
    cursor: int = 0


def _halt(store: Store, reason: str) -> None:
    with store.write() as connection:
        Store.set_state(connection, HALT_KEY, reason)
    log.error("sealing halted: %s", reason)


def check_chain(store: Store, transport: Transport) -> None:
    """Compare the hub's chain head with ours. A hub ahead of us means this node was
    restored from an old backup (or its disk cloned): halt sealing and say so."""
    if store.get_state(HALT_KEY):
        return
    head = transport.chain_head()
    hub_seq, hub_hash = int(head["seq"]), bytes.fromhex(head["batch_hash"])
    if head.get("status") == "forked":
        _halt(store, "the hub has quarantined this node's chain as forked")
        return
    ours = store.connection.execute(
        "SELECT batch_hash FROM batches WHERE seq = ?", (hub_seq,)
    ).fetchone()
    local_seq = store.connection.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()[0]
    if hub_seq > local_seq:
        _halt(
            store,
            f"the hub holds batch {hub_seq} but this node only {local_seq}: "
            "it was restored from an old backup",
        )
    elif hub_seq > 0 and (ours is None or bytes(ours[0]) != hub_hash):
        _halt(store, f"the hub's batch {hub_seq} differs from this node's: forked history")


def _first_unacked(store: Store, after: int) -> int | None:
    row = store.connection.execute(
        "SELECT min(seq) FROM batches WHERE seq > ? AND acked_at_ms IS NULL", (after,)
    ).fetchone()
    return None if row[0] is None else int(row[0])


def _push(
    store: Store,
    identity: NodeIdentity,
    transport: Transport,
    report: SyncReport,
    seal_next: Callable[[], bool] | None = None,
) -> None:
    """Send the unacknowledged batches in seq order, up to ``PIPELINE_DEPTH`` requests at
    once: the hub opens batch n+1 while n commits and holds it until n is stored. With
    ``seal_next`` (seal one more batch; False when nothing is pending), the next batch is
    sealed while requests are in flight, so a long backlog drains at the hub's pace rather
    than at the sum of sealing, ingest and the round trips."""
    window: deque[_InFlight] = deque()
    next_seq = _first_unacked(store, after=0)
    with ThreadPoolExecutor(max_workers=PIPELINE_DEPTH, thread_name_prefix="egsync-push") as sender:
        try:
            while True:
                while next_seq is not None and len(window) < PIPELINE_DEPTH:
                    window.append(_send(store, transport, sender, next_seq))
                    next_seq = _first_unacked(store, after=next_seq)
                if next_seq is None and seal_next is not None and seal_next():
                    # Sealed while the window's requests are in flight (this thread
                    # alone uses the store); sent as soon as the window has room.
                    next_seq = _first_unacked(store, after=window[-1].seq if window else 0)
                    continue
                if not window:
                    return
                oldest = window.popleft()
                try:
                    _acknowledge(store, identity, report, oldest)
                except HubRejected as error:
                    _settle(store, identity, report, window)
                    next_seq = _resume_after_rejection(store, error, oldest.seq)
        finally:
            _settle(store, identity, report, window)


@dataclass(slots=True)
class _InFlight:
    seq: int
    batch_hash: bytes
    answer: Future[bytes]


def _send(store: Store, transport: Transport, sender: ThreadPoolExecutor, seq: int) -> _InFlight:
    envelope, batch_hash = store.connection.execute(
        "SELECT envelope, batch_hash FROM batches WHERE seq = ?", (seq,)
    ).fetchone()
    return _InFlight(seq, bytes(batch_hash), sender.submit(transport.push_batch, bytes(envelope)))


def _acknowledge(store: Store, identity: NodeIdentity, report: SyncReport, sent: _InFlight) -> None:
    """Wait for ``sent``'s answer; keep its verified receipt as the batch's ack."""
    receipt_bytes = sent.answer.result()
    crash_point("push-before-ack")
    receipt = verify_receipt(
        receipt_bytes,
        identity.hub_verify_key,
        node_id=identity.node_id,
        seq=sent.seq,
        batch_hash=sent.batch_hash,
    )
    with store.write() as connection:
        connection.execute(
            "UPDATE batches SET acked_at_ms = coalesce(acked_at_ms, ?), receipt = ? WHERE seq = ?",
            (receipt.received_at_ms, receipt_bytes, sent.seq),
        )
    report.acknowledged.append(sent.seq)
    report.records_accepted += receipt.records_accepted
    report.records_known += receipt.records_known


def _settle(
    store: Store, identity: NodeIdentity, report: SyncReport, window: deque[_InFlight]
) -> None:
    """After a failure: wait for the requests still in flight and keep the acks among
    them (a receipt is valid on its own); their errors add nothing to the first one."""
    while window:
        try:
            _acknowledge(store, identity, report, window.popleft())
        except Exception as error:  # reported by the caller's failure already
            log.debug("pipelined batch not acknowledged: %s", describe_error(error))


def _resume_after_rejection(store: Store, error: HubRejected, seq: int) -> int:
    """Where to resume after the hub refused batch ``seq``, or raise."""
    expected = error.extra.get("expected_seq")
    if error.code == "chain_gap" and isinstance(expected, int) and expected < seq:
        # The hub lost batches we thought acked (resend them), or held this one longer
        # than its predecessor took to arrive (that one answers as a duplicate).
        return expected
    if error.code in ("chain_fork", "node_forked"):
        _halt(store, f"the hub refused batch {seq} as a fork ({error.code})")
        raise SyncHalted(str(error), hint="central IT must resolve the fork") from None
    raise error


def _pull(
    store: Store, identity: NodeIdentity, transport: Transport, pii: PiiCipher, report: SyncReport
) -> None:
    after = current_cursor(store)
    for _ in range(MAX_CHANGE_PAGES):
        try:
            change_set = open_changes(
                parse_envelope(transport.changes(after)),
                after=after,
                node_id=identity.node_id,
                hub_key=identity.hub_verify_key,
                node_key=identity.keys.opening_key,
            )
        except UpgradeRequired as error:
            # A change or record of a newer release: the page is refused whole (nothing
            # of it applied, the cursor stays) until this node is upgraded.
            raise SoftwareOutdated(f"change set after cursor {after}: {error}") from None
        report.status_events_received += apply_change_set(
            store, pii, change_set, now_ms=transport_now(transport), node_id=identity.node_id
        )
        report.changes_applied += len(change_set.changes)
        after = report.cursor = change_set.cursor
        if not change_set.has_more:
            return


def transport_now(transport: Transport) -> int:
    """Hub time as this node best knows it (local clock corrected by the learned offset)."""
    return wall_clock_ms() + transport.clock_offset_ms


def heartbeat_report(
    store: Store, *, now_ms: int, clock_offset_ms: int, data_dir: str
) -> dict[str, object]:
    """The backlog figures central IT monitors (also what ``edge-node status`` shows)."""
    connection = store.connection
    pending_events, oldest = connection.execute(
        "SELECT count(*), min(enqueued_at_ms) FROM outbox"
    ).fetchone()
    unsent_batches, oldest_batch = connection.execute(
        "SELECT count(*), min(sealed_at_ms) FROM batches WHERE acked_at_ms IS NULL"
    ).fetchone()
    unsynced_fees = connection.execute(
        "SELECT coalesce(sum(fee_piasters), 0) FROM events e WHERE origin = 'local' AND "
        "(batch_seq IS NULL OR batch_seq IN (SELECT seq FROM batches WHERE acked_at_ms IS NULL))"
    ).fetchone()[0]
    oldest_ms = min(x for x in (oldest, oldest_batch, now_ms) if x is not None)
    halted = store.get_state(HALT_KEY)
    return {
        "pending_events": pending_events,
        "unsent_batches": unsent_batches,
        "oldest_pending_age_s": max(0, (now_ms - oldest_ms) // 1000),
        "unsynced_fee_piasters": unsynced_fees,
        "clock_offset_ms": clock_offset_ms,
        "software_version": version("egypt-edge-sync"),
        "disk_free_bytes": shutil.disk_usage(data_dir).free,
        "chain_state": "ok" if not halted else ("restored" if "backup" in halted else "forked"),
    }


def sync_round(
    store: Store,
    identity: NodeIdentity,
    transport: Transport,
    pii: PiiCipher,
    *,
    data_dir: str,
    sealer: SealerConfig = SealerConfig(),
    seal: bool = True,
    seal_partial: bool = True,
) -> SyncReport:
    """Run one full round. Raises Retryable/Final errors from :mod:`edge_node.errors`;
    whatever completed before the error stays done.

    With ``seal``, pending events are sealed while batches are in flight; without
    ``seal_partial``, only full batches (``sealer.max_records``): the ``run`` service
    leaves a partial one to its seal job's timer, so a quiet center does not send a
    batch per event, while a backlog still drains with sealing and pushing overlapped."""
    report = SyncReport()
    try:
        check_chain(store, transport)
        halted = store.get_state(HALT_KEY)

        def seal_next() -> bool:
            sealed = seal_pending(
                store,
                node_id=identity.node_id,
                signing_key=identity.keys.signing_key,
                hub_key=identity.hub_sealing_key,
                pii=pii,
                now_ms=transport_now(transport),
                config=sealer,
                max_batches=1,
                full_only=not seal_partial,
            )
            report.sealed.extend(sealed)
            return bool(sealed)

        if not halted:
            # Sealing interleaves with pushing: batch n+1 is sealed while n is in flight.
            _push(store, identity, transport, report, seal_next if seal else None)
        _pull(store, identity, transport, pii, report)
        if store.get_state(HALT_KEY):
            raise SyncHalted(
                f"sealing is halted: {store.get_state(HALT_KEY)}",
                hint="records stay safe locally; central IT must resolve the chain",
            )
    except Exception as error:
        _remember_error(store, error)
        raise
    finally:
        _record_outcome(store, transport, data_dir)
    with store.write() as connection:
        Store.set_state(connection, "last_sync_ok_ms", str(transport_now(transport)))
        Store.clear_state(connection, "last_error")
        Store.clear_state(connection, "last_error_code")
    return report


def describe_error(error: BaseException) -> str:
    """What an operator sees of a failed round (our errors say what happened, and a final
    one what to do about it; anything else only its type, so no unexpected text reaches
    the state table or logs)."""
    if not isinstance(error, EdgeError):
        return type(error).__name__
    if isinstance(error, Final) and error.hint:
        return f"{error} (hint: {error.hint})"
    return str(error)


def _remember_error(store: Store, error: BaseException) -> None:
    """Keep the round's error, and its code if it has one (e.g. ``upgrade_required``),
    for ``edge-node status`` and the next heartbeat reader."""
    code = getattr(error, "code", None) if isinstance(error, EdgeError) else None
    try:
        with store.write() as connection:
            Store.set_state(connection, "last_error", describe_error(error)[:500])
            if isinstance(code, str):
                Store.set_state(connection, "last_error_code", code)
            else:
                Store.clear_state(connection, "last_error_code")
    except Exception:
        log.exception("could not record the last error")


def _record_outcome(store: Store, transport: Transport, data_dir: str) -> None:
    """Heartbeat after each round, even a failed one, if the hub is reachable at all."""
    with store.write() as connection:
        Store.set_state(connection, "clock_offset_ms", str(transport.clock_offset_ms))
    try:
        transport.heartbeat(
            heartbeat_report(
                store,
                now_ms=transport_now(transport),
                clock_offset_ms=transport.clock_offset_ms,
                data_dir=data_dir,
            )
        )
    except Exception as error:  # the heartbeat is best effort; the round's error matters
        log.info("heartbeat not sent: %s", type(error).__name__)
