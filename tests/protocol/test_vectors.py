"""Protocol v1 against its interop vectors (tests/vectors/envelope_v1.json), in-process.

Two levels: sync_protocol must reproduce every deterministic vector byte for byte and
open the sealed fixture envelope; and a few tests recompute the wire format from its
description in docs/protocol.md with bare primitives (hashlib, Ed25519, ML-KEM, X25519,
AES-GCM), so the spec and the implementation cannot drift apart silently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sync_protocol import (
    EnvelopeHeader,
    EnvelopeKind,
    HlcStamp,
    OpeningKey,
    SigningKey,
    VerifyKey,
    encode_json,
    encode_records,
    open_batch,
    open_envelope,
    parse_envelope,
    record_from_dict,
    record_to_dict,
    seal_batch,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "envelope_v1.json").read_text("utf-8")
)
KEYS = VECTORS["keys"]
HEADER = VECTORS["header"]
CONSTANTS = VECTORS["constants"]
ENVELOPE = bytes.fromhex(VECTORS["envelope"]["hex"])
HEADER_BYTES = bytes.fromhex(HEADER["bytes_hex"])
PAYLOAD = VECTORS["payload"]["text"].encode("utf-8")
WIRE_RECORDS = [item["wire"] for item in VECTORS["records"]]

NODE_KEY = SigningKey.from_bytes(bytes.fromhex(KEYS["node_signing_seed_hex"]))
HUB_KEY = OpeningKey.from_bytes(bytes.fromhex(KEYS["hub_opening_key_hex"]))
NODE_VERIFY_KEY = VerifyKey(bytes.fromhex(KEYS["node_verify_key_hex"]))

SIGNATURE_BYTES = 64
HPKE_ENC_BYTES = 1120
MLKEM768_CIPHERTEXT_BYTES = 1088


def _open_fixture() -> bytes:
    return open_envelope(parse_envelope(ENVELOPE), sender=NODE_VERIFY_KEY, recipient=HUB_KEY)


def _reseal() -> bytes:
    return seal_batch(
        [record_from_dict(wire) for wire in WIRE_RECORDS],
        node_id=uuid.UUID(HEADER["node_id"]),
        seq=HEADER["seq"],
        prev_hash=bytes.fromhex(HEADER["prev_hash_hex"]),
        created_at_ms=HEADER["created_at_ms"],
        signing_key=NODE_KEY,
        hub_key=HUB_KEY.public,
    )


# --- keys ------------------------------------------------------------------------------


def test_node_verify_key_derives_from_the_signing_seed() -> None:
    assert NODE_KEY.public.to_bytes().hex() == KEYS["node_verify_key_hex"]


def test_node_key_id_recomputes() -> None:
    assert NODE_KEY.public.key_id.hex() == KEYS["node_key_id_hex"]


def test_node_fingerprint_recomputes() -> None:
    assert NODE_KEY.public.fingerprint == KEYS["node_fingerprint"]


def test_hub_sealing_key_derives_from_the_opening_key() -> None:
    assert HUB_KEY.public.to_bytes().hex() == KEYS["hub_sealing_key_hex"]


def test_hub_opening_key_round_trips() -> None:
    assert HUB_KEY.private_bytes().hex() == KEYS["hub_opening_key_hex"]


def test_hub_key_id_recomputes() -> None:
    assert HUB_KEY.public.key_id.hex() == KEYS["hub_key_id_hex"]


def test_hub_fingerprint_recomputes() -> None:
    assert HUB_KEY.public.fingerprint == KEYS["hub_fingerprint"]


# --- records, HLC, payload -------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["hlc"], ids=lambda v: v["text"][:24])
def test_hlc_text_encoding(vector: dict[str, Any]) -> None:
    stamp = HlcStamp(vector["wall_ms"], vector["counter"], uuid.UUID(vector["node_id"]))
    assert stamp.encode() == vector["text"]


def test_hlc_text_sorts_like_the_stamps() -> None:
    texts = [vector["text"] for vector in VECTORS["hlc"]]
    stamps = [HlcStamp.decode(text) for text in texts]
    assert sorted(texts) == [stamp.encode() for stamp in sorted(stamps)]


@pytest.mark.parametrize("index", range(len(WIRE_RECORDS)))
def test_record_canonical_json_matches_byte_for_byte(index: int) -> None:
    vector = VECTORS["records"][index]
    record = record_from_dict(vector["wire"])
    assert encode_json(record_to_dict(record)) == vector["canonical_json"].encode("utf-8")


def test_payload_is_the_canonical_json_of_the_records() -> None:
    records = [record_from_dict(wire) for wire in WIRE_RECORDS]
    assert encode_records(records) == PAYLOAD


# --- header ----------------------------------------------------------------------------


def test_header_encodes_from_its_fields() -> None:
    header = EnvelopeHeader(
        kind=EnvelopeKind(HEADER["kind"]),
        node_id=uuid.UUID(HEADER["node_id"]),
        sender_key_id=bytes.fromhex(HEADER["sender_key_id_hex"]),
        recipient_key_id=bytes.fromhex(HEADER["recipient_key_id_hex"]),
        seq=HEADER["seq"],
        prev_hash=bytes.fromhex(HEADER["prev_hash_hex"]),
        record_count=HEADER["record_count"],
        payload_bytes=HEADER["payload_bytes"],
        created_at_ms=HEADER["created_at_ms"],
    )
    assert header.encode() == HEADER_BYTES


def test_header_bytes_are_the_envelope_prefix() -> None:
    assert ENVELOPE[: len(HEADER_BYTES)] == HEADER_BYTES


def test_header_declares_the_payload_size() -> None:
    assert HEADER["payload_bytes"] == len(PAYLOAD)


# --- the sealed fixture ----------------------------------------------------------------


def test_fixture_parses_to_the_vector_header() -> None:
    header = parse_envelope(ENVELOPE).header
    assert (
        header.kind,
        str(header.node_id),
        header.sender_key_id.hex(),
        header.recipient_key_id.hex(),
        header.seq,
        header.prev_hash.hex(),
        header.record_count,
        header.payload_bytes,
        header.created_at_ms,
    ) == (
        EnvelopeKind.BATCH,
        HEADER["node_id"],
        KEYS["node_key_id_hex"],
        KEYS["hub_key_id_hex"],
        HEADER["seq"],
        HEADER["prev_hash_hex"],
        HEADER["record_count"],
        HEADER["payload_bytes"],
        HEADER["created_at_ms"],
    )


def test_fixture_opens_to_the_expected_payload() -> None:
    assert _open_fixture() == PAYLOAD


def test_fixture_opens_to_the_expected_records() -> None:
    records = open_batch(parse_envelope(ENVELOPE), node_key=NODE_VERIFY_KEY, hub_key=HUB_KEY)
    assert [record_to_dict(record) for record in records] == WIRE_RECORDS


def test_fixture_batch_hash_matches() -> None:
    assert parse_envelope(ENVELOPE).batch_hash.hex() == VECTORS["envelope"]["batch_hash_hex"]


# --- resealing -------------------------------------------------------------------------


def test_reseal_opens_to_the_same_payload() -> None:
    resealed = parse_envelope(_reseal())
    assert open_envelope(resealed, sender=NODE_VERIFY_KEY, recipient=HUB_KEY) == PAYLOAD


def test_reseal_keeps_the_same_header_bytes() -> None:
    assert _reseal()[: len(HEADER_BYTES)] == HEADER_BYTES


def test_reseal_produces_different_ciphertext() -> None:
    assert parse_envelope(_reseal()).ciphertext != parse_envelope(ENVELOPE).ciphertext


# --- the documented wire format, recomputed from primitives ----------------------------


def test_header_matches_the_documented_struct_layout() -> None:
    fields = struct.unpack(">4sBB16s16s16sQ32sIIQ", HEADER_BYTES)
    assert fields == (
        bytes.fromhex(CONSTANTS["magic_hex"]),
        VECTORS["protocol_version"],
        HEADER["kind"],
        uuid.UUID(HEADER["node_id"]).bytes,
        bytes.fromhex(HEADER["sender_key_id_hex"]),
        bytes.fromhex(HEADER["recipient_key_id_hex"]),
        HEADER["seq"],
        bytes.fromhex(HEADER["prev_hash_hex"]),
        HEADER["record_count"],
        HEADER["payload_bytes"],
        HEADER["created_at_ms"],
    )


def test_envelope_length_follows_the_documented_framing() -> None:
    (ct_len,) = struct.unpack_from(">I", ENVELOPE, len(HEADER_BYTES))
    assert len(ENVELOPE) == len(HEADER_BYTES) + 4 + ct_len + SIGNATURE_BYTES


@pytest.mark.parametrize(
    ("public_hex", "label_key", "key_id_key"),
    [
        ("node_verify_key_hex", "signing_key_label_hex", "node_key_id_hex"),
        ("hub_sealing_key_hex", "sealing_key_label_hex", "hub_key_id_hex"),
    ],
)
def test_key_id_is_the_documented_labelled_digest(
    public_hex: str, label_key: str, key_id_key: str
) -> None:
    digest = hashlib.sha256(
        bytes.fromhex(CONSTANTS[label_key]) + bytes.fromhex(KEYS[public_hex])
    ).digest()
    assert digest[:16].hex() == KEYS[key_id_key]


def test_hpke_info_is_the_context_then_the_header() -> None:
    expected = bytes.fromhex(CONSTANTS["hpke_info_context_hex"]) + HEADER_BYTES
    assert bytes.fromhex(HEADER["hpke_info_hex"]) == expected


def test_batch_hash_is_sha256_of_everything_but_the_signature() -> None:
    digest = hashlib.sha256(ENVELOPE[:-SIGNATURE_BYTES]).hexdigest()
    assert digest == VECTORS["envelope"]["batch_hash_hex"]


def test_signature_verifies_over_the_documented_message() -> None:
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(KEYS["node_verify_key_hex"]))
    message = bytes.fromhex(CONSTANTS["signature_context_hex"]) + ENVELOPE[:-SIGNATURE_BYTES]
    public.verify(ENVELOPE[-SIGNATURE_BYTES:], message)  # raises InvalidSignature if not


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm, "sha256")


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, size: int) -> bytes:
    labeled = size.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, block, counter = b"", b"", 1
    while len(out) < size:
        block = hmac.digest(prk, block + labeled + bytes([counter]), "sha256")
        out, counter = out + block, counter + 1
    return out[:size]


def test_ciphertext_opens_with_the_documented_hpke_key_schedule() -> None:
    """X-Wing decapsulation, then the RFC 9180 base-mode key schedule, then AES-256-GCM
    and zlib, written out step by step as docs/protocol.md describes them."""
    opening = bytes.fromhex(KEYS["hub_opening_key_hex"])
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(opening[:64])
    dh = x25519.X25519PrivateKey.from_private_bytes(opening[64:])
    ciphertext = parse_envelope(ENVELOPE).ciphertext
    enc, sealed = ciphertext[:HPKE_ENC_BYTES], ciphertext[HPKE_ENC_BYTES:]
    ct_m, ct_x = enc[:MLKEM768_CIPHERTEXT_BYTES], enc[MLKEM768_CIPHERTEXT_BYTES:]
    ss_x = dh.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    pk_x = dh.public_key().public_bytes_raw()
    shared_secret = hashlib.sha3_256(
        kem.decapsulate(ct_m) + ss_x + ct_x + pk_x + b"\\.//^\\"
    ).digest()

    suite_id = b"HPKE" + struct.pack(
        ">HHH", CONSTANTS["hpke_kem_id"], CONSTANTS["hpke_kdf_id"], CONSTANTS["hpke_aead_id"]
    )
    info = bytes.fromhex(HEADER["hpke_info_hex"])
    context = (
        b"\x00"
        + _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
        + _labeled_extract(suite_id, b"", b"info_hash", info)
    )
    secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")
    key = _labeled_expand(suite_id, secret, b"key", context, 32)
    nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, 12)

    compressed = AESGCM(key).decrypt(nonce, sealed, None)
    assert zlib.decompress(compressed) == PAYLOAD
