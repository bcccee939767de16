"""Build the envelope interoperability vectors, ``tests/vectors/envelope_v{1,2}.json``:
one file per envelope version, version 1 compressing the payload with zlib and version 2
with Zstandard. Everything else is the same in both files but the header's version byte.

Run from the repository root::

    .venv/bin/python tests/vectors/make_vectors.py --version 2          # refuses to overwrite
    .venv/bin/python tests/vectors/make_vectors.py --version 2 --force  # regenerate

``--version`` defaults to 2, the version senders seal.

Keys come from fixed seeds and the records from fixed values, so every deterministic
vector (keys, key ids, fingerprints, HLC text, canonical JSON, payload, header bytes) is
byte-identical on every run. HPKE encryption is randomized (a fresh encapsulation each
time), so the sealed envelope, its signature and its ``batch_hash`` change whenever the
file is regenerated: the envelope is a fixture that must open, not a reproducible output.
(So envelope_v1.json, which http_v1.json's receipt refers to, is best left alone.)
Before writing, the script opens what it sealed and checks it against the inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from pathlib import Path

from sync_protocol import (
    GENESIS_HASH,
    EnvelopeHeader,
    EnvelopeKind,
    HlcStamp,
    OpeningKey,
    Record,
    SigningKey,
    TransactionCreated,
    TransactionStatus,
    encode_json,
    encode_records,
    open_batch,
    open_envelope,
    parse_envelope,
    record_to_dict,
    seal_batch,
)
from sync_protocol.envelope import VERSION, VERSIONS

HERE = Path(__file__).resolve().parent

# Fixed key material. Test patterns, obviously never to be used for a real node or hub.
NODE_SIGNING_SEED = bytes(range(0x00, 0x20))  # Ed25519 seed, 32 bytes
HUB_OPENING_KEY = bytes(range(0x20, 0x80))  # ML-KEM-768 seed d||z (64) + X25519 key (32)

# Byte strings fixed by protocol v1 and kept by version 2, whose envelopes differ from
# version 1's by the version byte in the signed, HPKE-bound header (copied here so the
# vectors state them explicitly; the test suite checks them against the keys and envelope
# that sync_protocol produces).
SIGNING_KEY_LABEL = b"egsync/v1/ed25519\x00"
SEALING_KEY_LABEL = b"egsync/v1/mlkem768-x25519\x00"
SIGNATURE_CONTEXT = b"egsync/v1/envelope-signature\x00"
HPKE_INFO_CONTEXT = b"egsync/v1/hpke-info\x00"

NODE_ID = uuid.UUID("019b3b33-a900-7000-8000-000000000001")  # enrolled 2025-12-20
CENTER_ID = "arish"
T_OPEN_MS = 1_767_250_800_000  # 2026-01-01T07:00:00Z (09:00 Cairo)
T_APPROVE_MS = 1_767_254_400_000  # 2026-01-01T08:00:00Z
T_SEAL_MS = 1_767_254_460_000  # 2026-01-01T08:01:00Z
SEQ = 1

TRANSACTION_ID = uuid.UUID("019b785b-2d80-7c3a-9f1e-5b2d4a6c8e01")


def build_records() -> list[Record]:
    """Three events of one transaction: opened, taken into review (same millisecond, so
    the HLC counter moves), then approved an hour later."""
    created = TransactionCreated(
        event_id=TRANSACTION_ID,
        hlc=HlcStamp(T_OPEN_MS, 0, NODE_ID),
        center_id=CENTER_ID,
        transaction_id=TRANSACTION_ID,
        service_code="CIV-IDCARD",
        national_id="28503143401247",  # born 1985-03-14, North Sinai (34), female
        citizen_name="مريم أحمد عبد الرحمن",
        fee_piasters=12_500,
        staff_id="s-0042",
        recorded_at_ms=T_OPEN_MS,
    )
    in_review = TransactionStatus(
        event_id=uuid.UUID("019b785b-2d80-7d41-a2b3-c4d5e6f70812"),
        hlc=HlcStamp(T_OPEN_MS, 1, NODE_ID),
        center_id=CENTER_ID,
        transaction_id=TRANSACTION_ID,
        status="in_review",
        actor_id="s-0042",
        note="تم استلام المستندات",
        recorded_at_ms=T_OPEN_MS,
    )
    approved = TransactionStatus(
        event_id=uuid.UUID("019b7892-1c00-7e52-b3c4-d5e6f7081923"),
        hlc=HlcStamp(T_APPROVE_MS, 0, NODE_ID),
        center_id=CENTER_ID,
        transaction_id=TRANSACTION_ID,
        status="approved",
        actor_id="s-0007",
        note="",
        recorded_at_ms=T_APPROVE_MS,
    )
    return [created, in_review, approved]


def default_output(version: int) -> Path:
    return HERE / f"envelope_v{version}.json"


def _about(version: int) -> str:
    fixture = (
        "Every value is deterministic except the 'envelope' section, which is one sealed "
        "fixture: HPKE is randomized, so resealing gives different ciphertext, signature "
        "and batch_hash."
    )
    if version == 1:  # worded as before version 2 existed, so the file only changes by its seal
        return f"Protocol v1 interop vectors (docs/protocol.md, 'Test vectors'). {fixture}"
    return (
        f"Envelope version {version} interop vectors (docs/protocol.md, 'Test vectors'): "
        "the payload is compressed with Zstandard (one frame, level 1) instead of zlib. "
        "Keys, records, payload and labels are those of envelope_v1.json; the header "
        f"differs only in its version byte. {fixture}"
    )


def build_vectors(version: int = VERSION) -> dict[str, object]:
    node_key = SigningKey.from_bytes(NODE_SIGNING_SEED)
    hub_key = OpeningKey.from_bytes(HUB_OPENING_KEY)
    records = build_records()
    payload = encode_records(records)

    envelope = seal_batch(
        records,
        node_id=NODE_ID,
        seq=SEQ,
        prev_hash=GENESIS_HASH,
        created_at_ms=T_SEAL_MS,
        signing_key=node_key,
        hub_key=hub_key.public,
        version=version,
    )
    header = EnvelopeHeader(
        kind=EnvelopeKind.BATCH,
        node_id=NODE_ID,
        sender_key_id=node_key.public.key_id,
        recipient_key_id=hub_key.public.key_id,
        seq=SEQ,
        prev_hash=GENESIS_HASH,
        record_count=len(records),
        payload_bytes=len(payload),
        created_at_ms=T_SEAL_MS,
        version=version,
    )
    header_bytes = header.encode()
    _self_check(envelope, header_bytes, payload, records, node_key, hub_key)

    sealed = parse_envelope(envelope)
    return {
        "about": _about(version),
        "protocol_version": version,
        "generator": "tests/vectors/make_vectors.py",
        "constants": {
            "magic_hex": b"EGSY".hex(),
            "signing_key_label_hex": SIGNING_KEY_LABEL.hex(),
            "sealing_key_label_hex": SEALING_KEY_LABEL.hex(),
            "signature_context_hex": SIGNATURE_CONTEXT.hex(),
            "hpke_info_context_hex": HPKE_INFO_CONTEXT.hex(),
            "hpke_kem_id": 0x647A,
            "hpke_kdf_id": 0x0001,
            "hpke_aead_id": 0x0002,
        },
        "keys": {
            "node_signing_seed_hex": NODE_SIGNING_SEED.hex(),
            "node_verify_key_hex": node_key.public.to_bytes().hex(),
            "node_key_id_hex": node_key.public.key_id.hex(),
            "node_fingerprint": node_key.public.fingerprint,
            "hub_opening_key_hex": HUB_OPENING_KEY.hex(),
            "hub_sealing_key_hex": hub_key.public.to_bytes().hex(),
            "hub_key_id_hex": hub_key.public.key_id.hex(),
            "hub_fingerprint": hub_key.public.fingerprint,
        },
        "hlc": [
            {
                "wall_ms": record.hlc.wall_ms,
                "counter": record.hlc.counter,
                "node_id": str(record.hlc.node_id),
                "text": record.hlc.encode(),
            }
            for record in records
        ],
        "records": [
            {
                "wire": record_to_dict(record),
                "canonical_json": encode_json(record_to_dict(record)).decode("utf-8"),
            }
            for record in records
        ],
        "payload": {
            "text": payload.decode("utf-8"),
            "utf8_bytes": len(payload),
            "sha256_hex": hashlib.sha256(payload).hexdigest(),
        },
        "header": {
            "kind": int(header.kind),
            "node_id": str(header.node_id),
            "sender_key_id_hex": header.sender_key_id.hex(),
            "recipient_key_id_hex": header.recipient_key_id.hex(),
            "seq": header.seq,
            "prev_hash_hex": header.prev_hash.hex(),
            "record_count": header.record_count,
            "payload_bytes": header.payload_bytes,
            "created_at_ms": header.created_at_ms,
            "bytes_hex": header_bytes.hex(),
            "hpke_info_hex": (HPKE_INFO_CONTEXT + header_bytes).hex(),
        },
        "envelope": {
            "length": len(envelope),
            "ciphertext_length": len(sealed.ciphertext),
            "hex": envelope.hex(),
            "signature_hex": sealed.signature.hex(),
            "batch_hash_hex": sealed.batch_hash.hex(),
        },
    }


def _self_check(
    envelope: bytes,
    header_bytes: bytes,
    payload: bytes,
    records: list[Record],
    node_key: SigningKey,
    hub_key: OpeningKey,
) -> None:
    """Refuse to write vectors that do not open to what went in."""
    sealed = parse_envelope(envelope)
    opened = open_envelope(sealed, sender=node_key.public, recipient=hub_key)
    problems = []
    if not envelope.startswith(header_bytes):
        problems.append("the envelope does not start with the expected header")
    if opened != payload:
        problems.append("the envelope opens to a different payload")
    if open_batch(sealed, node_key=node_key.public, hub_key=hub_key) != records:
        problems.append("the envelope opens to different records")
    if node_key.public.key_id != _key_id(SIGNING_KEY_LABEL, node_key.public.to_bytes()):
        problems.append("the node key id does not follow the signing-key label")
    if hub_key.public.key_id != _key_id(SEALING_KEY_LABEL, hub_key.public.to_bytes()):
        problems.append("the hub key id does not follow the sealing-key label")
    if hub_key.private_bytes() != HUB_OPENING_KEY:
        problems.append("the hub opening key does not round-trip")
    if problems:
        raise SystemExit("make_vectors: " + "; ".join(problems))


def _key_id(label: bytes, public: bytes) -> bytes:
    return hashlib.sha256(label + public).digest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the envelope interop vectors of one envelope version "
        "(deterministic keys and records, one freshly sealed BATCH envelope)."
    )
    parser.add_argument(
        "--version",
        type=int,
        choices=VERSIONS,
        default=VERSION,
        help=f"the envelope version to seal: 1 (zlib) or 2 (Zstandard) (default: {VERSION})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the JSON (default: {HERE}/envelope_v<VERSION>.json)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite the output file if it exists (the sealed envelope will change)",
    )
    args = parser.parse_args(argv)
    output: Path = args.output or default_output(args.version)
    if output.exists() and not args.force:
        print(
            f"make_vectors: {output} exists; pass --force to overwrite it "
            "(the sealed envelope and its batch_hash will change)",
            file=sys.stderr,
        )
        return 1
    text = json.dumps(build_vectors(args.version), ensure_ascii=False, indent=2) + "\n"
    output.write_text(text, encoding="utf-8")
    print(f"make_vectors: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
