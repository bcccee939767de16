"""Build the protocol v1 vectors for receipts, signed requests, enrollment and the change
feed, ``tests/vectors/http_v1.json``.

Run from the repository root, after ``make_vectors.py --version 1`` if that ran::

    .venv/bin/python tests/vectors/make_http_vectors.py          # refuses to overwrite
    .venv/bin/python tests/vectors/make_http_vectors.py --force  # regenerate

Everything here is deterministic: Ed25519 signatures are deterministic (RFC 8032), and
nothing in this file is HPKE-sealed (the change-feed section gives the payload and the
header, not a sealed envelope; that header is envelope version 1, the answer to a pull
without ``envelope=2``). The receipt is for the fixture batch of
``envelope_v1.json``, so it reads that file for the batch's ``batch_hash``: regenerate this
file whenever that one is regenerated (the test suite checks they agree). Otherwise
regenerating gives a byte-identical file; any diff means the wire format changed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from sync_protocol import (
    GENESIS_HASH,
    Catalog,
    EnvelopeHeader,
    EnvelopeKind,
    HlcStamp,
    OpeningKey,
    Receipt,
    RequiredDocument,
    Service,
    SigningKey,
    SyncError,
    TransactionStatus,
    encode_json,
    enrollment_message,
    parse_request_auth,
    sign_receipt,
    sign_request,
    verify_receipt,
    verify_request_auth,
)
from sync_protocol.changes import CatalogChange, RevocationChange, StatusChange, change_to_dict

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "http_v1.json"
ENVELOPE_VECTORS = HERE / "envelope_v1.json"

# Fixed key material, test patterns continuing those of make_vectors.py (node signing seed
# 00..1f, hub opening key 20..7f). Never use them for a real node or hub.
HUB_SIGNING_SEED = bytes(range(0x80, 0xA0))  # Ed25519 seed, 32 bytes
NODE_OPENING_KEY = bytes(range(0xA0, 0x100))  # ML-KEM-768 seed d||z (64) + X25519 key (32)

# Byte strings fixed by protocol v1, stated here so the vectors carry them explicitly.
RECEIPT_CONTEXT = b"egsync/v1/receipt\x00"
REQUEST_CONTEXT = b"egsync/v1/request\x00"
ENROLL_CONTEXT = b"egsync/v1/enroll\x00"
REQUEST_WINDOW_MS = 5 * 60 * 1000

HUB_NODE_ID = uuid.UUID("019b3b30-0000-7000-8000-000000000000")
RECEIVED_AT_MS = 1_767_254_462_500  # 2026-01-01T08:01:02.500Z, 2.5 s after the batch was sealed
REQUEST_TIME_MS = 1_767_254_470_000  # 2026-01-01T08:01:10Z
HUB_NOW_MS = REQUEST_TIME_MS + 1_234  # the hub's clock when the requests arrive
CHANGES_AT_MS = 1_767_258_060_000  # 2026-01-01T09:01:00Z
DECISION_AT_MS = 1_767_258_000_000  # 2026-01-01T09:00:00Z
REVOKED_NODE_ID = uuid.UUID("019b3b33-a900-7000-8000-000000000002")

# 32 bytes 0xc0..0xdf as unpadded base64url: the shape of a real token
# ("ege_" + secrets.token_urlsafe(32)), made of a test pattern.
ENROLLMENT_TOKEN = "ege_" + base64.urlsafe_b64encode(bytes(range(0xC0, 0xE0))).decode().rstrip("=")
SOFTWARE_VERSION = "0.1.0"

HEARTBEAT_BODY: dict[str, object] = {
    "pending_events": 12,
    "unsent_batches": 1,
    "oldest_pending_age_s": 540,
    "unsynced_fee_piasters": 150_000,
    "clock_offset_ms": 1_530,
    "software_version": SOFTWARE_VERSION,
    "disk_free_bytes": 52_000_000_000,
}


def _load_envelope_vectors(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def build_catalog() -> Catalog:
    """A one-service catalog (taken from the shipped one, shortened)."""
    return Catalog(
        version=1,
        services=(
            Service(
                code="CIV-IDCARD",
                name_ar="إصدار بطاقة الرقم القومي لأول مرة",
                name_en="First-time national ID card issuance",
                category="civil_status",
                agency_code="civil-status",
                agency_ar="مصلحة الأحوال المدنية",
                agency_en="Civil Status Organization",
                fee_piasters=12_500,
                required_documents=(
                    RequiredDocument(
                        "أصل شهادة الميلاد المميكنة", "Original computerized birth certificate"
                    ),
                    RequiredDocument(
                        "إيصال مرافق حديث لإثبات محل الإقامة",
                        "Recent utility bill as proof of address",
                    ),
                ),
                active=True,
            ),
        ),
    )


def build_changes(node_id: uuid.UUID, transaction_id: uuid.UUID) -> list[Any]:
    """One change of each kind, as a hub would send them to the fixture node (after 0)."""
    decision = TransactionStatus(
        event_id=uuid.UUID("019b78c9-0a80-7a1b-8c2d-3e4f50617283"),
        hlc=HlcStamp(DECISION_AT_MS, 0, HUB_NODE_ID),
        center_id="arish",
        transaction_id=transaction_id,
        status="approved",
        actor_id="agency-civil-status",
        note="تمت الموافقة",
        recorded_at_ms=DECISION_AT_MS,
    )
    return [
        CatalogChange(1, build_catalog()),
        StatusChange(4, decision),
        RevocationChange(7, (REVOKED_NODE_ID,)),
    ]


def _request_vector(
    method: str, target: str, body: bytes, *, node_id: uuid.UUID, key: SigningKey, nonce: str
) -> dict[str, object]:
    headers = sign_request(
        method, target, body, node_id=node_id, key=key, time_ms=REQUEST_TIME_MS, nonce=nonce
    )
    lines = [
        method.upper(),
        target,
        str(node_id),
        str(REQUEST_TIME_MS),
        nonce,
        hashlib.sha256(body).hexdigest(),
    ]
    to_sign = REQUEST_CONTEXT + "\n".join(lines).encode("utf-8")
    return {
        "method": method,
        "target": target,
        "body_text": body.decode("utf-8"),
        "body_sha256_hex": hashlib.sha256(body).hexdigest(),
        "node_id": str(node_id),
        "time_ms": REQUEST_TIME_MS,
        "nonce": nonce,
        "string_to_sign_lines": lines,
        "string_to_sign_hex": to_sign.hex(),
        "signature_hex": base64.b64decode(headers["x-egsync-signature"]).hex(),
        "headers": headers,
    }


def build_vectors(envelope_vectors: Path = ENVELOPE_VECTORS) -> dict[str, object]:
    base = _load_envelope_vectors(envelope_vectors)
    node_id = uuid.UUID(base["header"]["node_id"])
    node_key = SigningKey.from_bytes(bytes.fromhex(base["keys"]["node_signing_seed_hex"]))
    node_opening = OpeningKey.from_bytes(NODE_OPENING_KEY)
    hub_key = SigningKey.from_bytes(HUB_SIGNING_SEED)
    batch_hash = bytes.fromhex(base["envelope"]["batch_hash_hex"])
    transaction_id = uuid.UUID(base["records"][0]["wire"]["transaction_id"])

    receipt = Receipt(
        node_id=node_id,
        seq=base["header"]["seq"],
        batch_hash=batch_hash,
        records_accepted=base["header"]["record_count"],
        records_known=0,
        received_at_ms=RECEIVED_AT_MS,
        hub_key_id=hub_key.public.key_id,
    )
    receipt_bytes = sign_receipt(receipt, hub_key)
    unsigned = json.loads(receipt_bytes)
    signature_b64 = unsigned.pop("signature")
    unsigned_json = encode_json(unsigned)

    requests = [
        _request_vector(
            "GET",
            "/v1/changes?after=0",
            b"",
            node_id=node_id,
            key=node_key,
            nonce=bytes(range(0x00, 0x10)).hex(),
        ),
        _request_vector(
            "POST",
            "/v1/heartbeat",
            encode_json(HEARTBEAT_BODY),
            node_id=node_id,
            key=node_key,
            nonce=bytes(range(0x10, 0x20)).hex(),
        ),
    ]

    verify_bytes = node_key.public.to_bytes()
    sealing_bytes = node_opening.public.to_bytes()
    message = enrollment_message(ENROLLMENT_TOKEN, verify_bytes, sealing_bytes)
    proof = node_key.sign(message)

    changes = build_changes(node_id, transaction_id)
    payload = encode_json(
        {
            "cursor": changes[-1].cursor,
            "has_more": False,
            "changes": [change_to_dict(c) for c in changes],
        }
    )
    changes_header = EnvelopeHeader(
        kind=EnvelopeKind.CHANGES,
        node_id=node_id,
        sender_key_id=hub_key.public.key_id,
        recipient_key_id=node_opening.public.key_id,
        seq=1,
        prev_hash=GENESIS_HASH,
        record_count=len(changes),
        payload_bytes=len(payload),
        created_at_ms=CHANGES_AT_MS,
        version=1,  # a pull without envelope=2 is answered in version 1
    )

    vectors: dict[str, object] = {
        "about": (
            "Protocol v1 vectors for receipts, signed requests, enrollment and the change feed "
            "(docs/protocol.md, 'Test vectors'). Every value is deterministic. The receipt is "
            "for the fixture batch of envelope_v1.json (same node, seq and batch_hash)."
        ),
        "protocol_version": 1,
        "generator": "tests/vectors/make_http_vectors.py",
        "constants": {
            "receipt_context_hex": RECEIPT_CONTEXT.hex(),
            "request_context_hex": REQUEST_CONTEXT.hex(),
            "enroll_context_hex": ENROLL_CONTEXT.hex(),
            "request_window_ms": REQUEST_WINDOW_MS,
        },
        "keys": {
            "hub_signing_seed_hex": HUB_SIGNING_SEED.hex(),
            "hub_verify_key_hex": hub_key.public.to_bytes().hex(),
            "hub_verify_key_id_hex": hub_key.public.key_id.hex(),
            "hub_signing_fingerprint": hub_key.public.fingerprint,
            "node_signing_seed_hex": base["keys"]["node_signing_seed_hex"],
            "node_verify_key_hex": verify_bytes.hex(),
            "node_opening_key_hex": NODE_OPENING_KEY.hex(),
            "node_sealing_key_hex": sealing_bytes.hex(),
            "node_sealing_key_id_hex": node_opening.public.key_id.hex(),
            "node_sealing_fingerprint": node_opening.public.fingerprint,
        },
        "receipt": {
            "fields": {
                "node_id": str(receipt.node_id),
                "seq": receipt.seq,
                "batch_hash_hex": receipt.batch_hash.hex(),
                "records_accepted": receipt.records_accepted,
                "records_known": receipt.records_known,
                "received_at_ms": receipt.received_at_ms,
                "hub_key_id_hex": receipt.hub_key_id.hex(),
            },
            "unsigned_json": unsigned_json.decode("utf-8"),
            "signed_message_hex": (RECEIPT_CONTEXT + unsigned_json).hex(),
            "signature_hex": base64.b64decode(signature_b64).hex(),
            "signature_b64": signature_b64,
            "bytes_text": receipt_bytes.decode("utf-8"),
            "length": len(receipt_bytes),
        },
        "requests": {
            "hub_now_ms": HUB_NOW_MS,
            "window_ms": REQUEST_WINDOW_MS,
            "items": requests,
        },
        "enrollment": {
            "token": ENROLLMENT_TOKEN,
            "token_sha256_hex": hashlib.sha256(ENROLLMENT_TOKEN.encode("utf-8")).hexdigest(),
            "verify_key_hex": verify_bytes.hex(),
            "sealing_key_hex": sealing_bytes.hex(),
            "message_length": len(message),
            "message_hex": message.hex(),
            "proof_hex": proof.hex(),
            "request_body": {
                "token": ENROLLMENT_TOKEN,
                "verify_key": base64.b64encode(verify_bytes).decode("ascii"),
                "sealing_key": base64.b64encode(sealing_bytes).decode("ascii"),
                "proof": base64.b64encode(proof).decode("ascii"),
                "software_version": SOFTWARE_VERSION,
            },
        },
        "changes": {
            "after": 0,
            "payload_text": payload.decode("utf-8"),
            "payload_utf8_bytes": len(payload),
            "header": {
                "kind": int(changes_header.kind),
                "node_id": str(changes_header.node_id),
                "sender_key_id_hex": changes_header.sender_key_id.hex(),
                "recipient_key_id_hex": changes_header.recipient_key_id.hex(),
                "seq": changes_header.seq,
                "prev_hash_hex": changes_header.prev_hash.hex(),
                "record_count": changes_header.record_count,
                "payload_bytes": changes_header.payload_bytes,
                "created_at_ms": changes_header.created_at_ms,
                "bytes_hex": changes_header.encode().hex(),
            },
        },
    }
    _self_check(vectors, receipt_bytes, hub_key, node_key)
    return vectors


def _self_check(
    vectors: dict[str, Any], receipt_bytes: bytes, hub_key: SigningKey, node_key: SigningKey
) -> None:
    """Refuse to write vectors the reference implementation does not accept."""
    problems = []
    fields = vectors["receipt"]["fields"]
    try:
        verify_receipt(
            receipt_bytes,
            hub_key.public,
            node_id=uuid.UUID(fields["node_id"]),
            seq=fields["seq"],
            batch_hash=bytes.fromhex(fields["batch_hash_hex"]),
        )
    except SyncError as error:
        problems.append(f"the receipt does not verify: {error!r}")
    for item in vectors["requests"]["items"]:
        try:
            verify_request_auth(
                parse_request_auth(item["headers"]),
                method=item["method"],
                target=item["target"],
                body=item["body_text"].encode("utf-8"),
                key=node_key.public,
                now_ms=HUB_NOW_MS,
            )
        except SyncError as error:
            problems.append(f"request {item['target']} does not verify: {error!r}")
    enrollment = vectors["enrollment"]
    try:
        node_key.public.verify(
            bytes.fromhex(enrollment["proof_hex"]), bytes.fromhex(enrollment["message_hex"])
        )
    except SyncError as error:
        problems.append(f"the enrollment proof does not verify: {error!r}")
    if problems:
        raise SystemExit("make_http_vectors: " + "; ".join(problems))


def render(vectors: dict[str, object]) -> str:
    return json.dumps(vectors, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the protocol v1 vectors for receipts, signed requests, enrollment "
        "and the change feed (all deterministic; the receipt follows envelope_v1.json)."
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the JSON (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--envelope-vectors",
        type=Path,
        default=ENVELOPE_VECTORS,
        help=f"the envelope vectors whose fixture batch gets the receipt "
        f"(default: {ENVELOPE_VECTORS})",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite the output file if it exists"
    )
    args = parser.parse_args(argv)
    output: Path = args.output
    if output.exists() and not args.force:
        print(f"make_http_vectors: {output} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    output.write_text(render(build_vectors(args.envelope_vectors)), encoding="utf-8")
    print(f"make_http_vectors: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
