"""Event batches: records sealed into a BATCH envelope, and opened back into records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sync_protocol.envelope import (
    DEFAULT_LIMITS,
    VERSION,
    EnvelopeKind,
    Limits,
    SealedEnvelope,
    open_envelope,
    seal_envelope,
)
from sync_protocol.errors import EnvelopeError
from sync_protocol.keys import OpeningKey, SealingKey, SigningKey, VerifyKey
from sync_protocol.payload import (
    decode_records,
    decode_wire_with_bodies,
    encode_records,
)
from sync_protocol.records import Record

__all__ = ["open_batch", "open_batch_wire", "seal_batch"]


def seal_batch(
    records: Sequence[Record],
    *,
    node_id: uuid.UUID,
    seq: int,
    prev_hash: bytes,
    created_at_ms: int,
    signing_key: SigningKey,
    hub_key: SealingKey,
    limits: Limits = DEFAULT_LIMITS,
    version: int = VERSION,
) -> bytes:
    """Seal ``records`` as batch ``seq`` of ``node_id``'s chain, to the hub, as envelope
    ``version``."""
    return seal_envelope(
        kind=EnvelopeKind.BATCH,
        node_id=node_id,
        seq=seq,
        prev_hash=prev_hash,
        record_count=len(records),
        created_at_ms=created_at_ms,
        payload=encode_records(records),
        signing_key=signing_key,
        recipient=hub_key,
        limits=limits,
        version=version,
    )


def open_batch(
    envelope: SealedEnvelope,
    *,
    node_key: VerifyKey,
    hub_key: OpeningKey,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Record]:
    """Verify, decrypt and validate a batch; every record is checked before any is returned."""
    payload = _open_payload(envelope, node_key=node_key, hub_key=hub_key, limits=limits)
    return decode_records(
        payload, expected_count=envelope.header.record_count, max_records=limits.max_records
    )


def open_batch_wire(
    envelope: SealedEnvelope,
    *,
    node_key: VerifyKey,
    hub_key: OpeningKey,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[dict[str, Any]], list[str]]:
    """As :func:`open_batch`, for a receiver that stores records rather than using them:
    each record in its validated wire form with its canonical JSON text (see
    :func:`~sync_protocol.payload.decode_wire_with_bodies`)."""
    payload = _open_payload(envelope, node_key=node_key, hub_key=hub_key, limits=limits)
    return decode_wire_with_bodies(
        payload, expected_count=envelope.header.record_count, max_records=limits.max_records
    )


def _open_payload(
    envelope: SealedEnvelope, *, node_key: VerifyKey, hub_key: OpeningKey, limits: Limits
) -> bytes:
    if envelope.header.kind is not EnvelopeKind.BATCH:
        raise EnvelopeError("envelope is not an event batch")
    return open_envelope(envelope, sender=node_key, recipient=hub_key, limits=limits)
