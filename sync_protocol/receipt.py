"""Ingest receipts: the hub's signed statement that a batch is durably stored.

Wire form: a canonical JSON object (see :func:`sync_protocol.payload.encode_json`) whose
``signature`` is Ed25519 by the hub over ``"egsync/v1/receipt\\0"`` followed by the
canonical JSON of every other field. The hub stores the exact bytes and answers a resent
batch with them, so a receipt is byte-identical however often it is asked for.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Final

from sync_protocol.errors import InvalidSeal, RecordError
from sync_protocol.ids import parse_uuid
from sync_protocol.keys import SigningKey, VerifyKey
from sync_protocol.payload import decode_json, encode_json

__all__ = ["MAX_RECEIPT_BYTES", "Receipt", "sign_receipt", "verify_receipt"]

MAX_RECEIPT_BYTES: Final = 4096
_CONTEXT: Final = b"egsync/v1/receipt\x00"
_FIELDS: Final = frozenset(
    {
        "v",
        "node_id",
        "seq",
        "batch_hash",
        "records_accepted",
        "records_known",
        "received_at_ms",
        "hub_key_id",
        "signature",
    }
)


@dataclass(frozen=True, slots=True)
class Receipt:
    node_id: uuid.UUID
    seq: int
    batch_hash: bytes
    records_accepted: int
    records_known: int
    received_at_ms: int
    hub_key_id: bytes

    def _unsigned(self) -> dict[str, object]:
        return {
            "v": 1,
            "node_id": str(self.node_id),
            "seq": self.seq,
            "batch_hash": self.batch_hash.hex(),
            "records_accepted": self.records_accepted,
            "records_known": self.records_known,
            "received_at_ms": self.received_at_ms,
            "hub_key_id": self.hub_key_id.hex(),
        }


def sign_receipt(receipt: Receipt, hub_key: SigningKey) -> bytes:
    """The receipt's wire bytes, signed by the hub."""
    unsigned = receipt._unsigned()
    signature = hub_key.sign(_CONTEXT + encode_json(unsigned))
    return encode_json(unsigned | {"signature": base64.b64encode(signature).decode("ascii")})


def _int(data: dict[str, object], field: str) -> int:
    value = data[field]
    if type(value) is not int or value < 0:
        raise RecordError(f"receipt {field} must be a non-negative integer", field=field)
    return value


def _hex(data: dict[str, object], field: str, size: int) -> bytes:
    value = data[field]
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size or raw.hex() != value:
        raise RecordError(f"receipt {field} must be {size} bytes of lowercase hex", field=field)
    return raw


def verify_receipt(
    data: bytes,
    hub_key: VerifyKey,
    *,
    node_id: uuid.UUID,
    seq: int,
    batch_hash: bytes,
) -> Receipt:
    """Check the hub's signature and that the receipt is for exactly this batch.

    A receipt for another batch, or signed by another key, raises :class:`InvalidSeal`.
    """
    if len(data) > MAX_RECEIPT_BYTES:
        raise RecordError("receipt is too large")
    parsed = decode_json(data)
    if not isinstance(parsed, dict) or set(parsed) != _FIELDS or parsed.get("v") != 1:
        raise RecordError("receipt does not have the v1 receipt fields")
    signature_text = parsed.pop("signature")
    try:
        signature = base64.b64decode(str(signature_text), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSeal from None
    hub_key.verify(signature, _CONTEXT + encode_json(parsed))
    receipt = Receipt(
        node_id=parse_uuid(parsed["node_id"], field="node_id", version=None),
        seq=_int(parsed, "seq"),
        batch_hash=_hex(parsed, "batch_hash", 32),
        records_accepted=_int(parsed, "records_accepted"),
        records_known=_int(parsed, "records_known"),
        received_at_ms=_int(parsed, "received_at_ms"),
        hub_key_id=_hex(parsed, "hub_key_id", 16),
    )
    if (receipt.node_id, receipt.seq, receipt.batch_hash) != (node_id, seq, batch_hash):
        raise InvalidSeal
    if receipt.hub_key_id != hub_key.key_id:
        raise InvalidSeal
    return receipt
