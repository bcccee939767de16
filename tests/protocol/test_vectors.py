"""Envelope versions 1 and 2 against their interop vectors (tests/vectors/envelope_v1.json,
envelope_v2.json), in-process; every check runs on both files.

Two levels: sync_protocol must reproduce every deterministic vector byte for byte and
open the sealed fixture envelope; and a few tests recompute the wire format from its
description in docs/protocol.md with bare primitives (hashlib, Ed25519, ML-KEM, X25519,
AES-GCM, zlib or Zstandard), so the spec and the implementation cannot drift apart silently.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import struct
import uuid
import zlib
from dataclasses import dataclass
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
from sync_protocol.compression import zstd

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"
FILES = ("envelope_v1.json", "envelope_v2.json")

SIGNATURE_BYTES = 64
HPKE_ENC_BYTES = 1120
MLKEM768_CIPHERTEXT_BYTES = 1088
VERSION_OFFSET = 4  # right after the magic


@dataclass(frozen=True)
class Vectors:
    """One vector file, with the values most tests need decoded."""

    data: dict[str, Any]
    version: int
    keys: dict[str, Any]
    header: dict[str, Any]
    constants: dict[str, Any]
    envelope: bytes
    header_bytes: bytes
    payload: bytes
    wire_records: list[dict[str, Any]]
    node_key: SigningKey
    hub_key: OpeningKey
    node_verify_key: VerifyKey

    @classmethod
    def load(cls, name: str) -> Vectors:
        data = json.loads((VECTOR_DIR / name).read_text("utf-8"))
        keys = data["keys"]
        return cls(
            data=data,
            version=data["protocol_version"],
            keys=keys,
            header=data["header"],
            constants=data["constants"],
            envelope=bytes.fromhex(data["envelope"]["hex"]),
            header_bytes=bytes.fromhex(data["header"]["bytes_hex"]),
            payload=data["payload"]["text"].encode("utf-8"),
            wire_records=[item["wire"] for item in data["records"]],
            node_key=SigningKey.from_bytes(bytes.fromhex(keys["node_signing_seed_hex"])),
            hub_key=OpeningKey.from_bytes(bytes.fromhex(keys["hub_opening_key_hex"])),
            node_verify_key=VerifyKey(bytes.fromhex(keys["node_verify_key_hex"])),
        )


LOADED = {name: Vectors.load(name) for name in FILES}


@pytest.fixture(params=FILES)
def vectors(request: pytest.FixtureRequest) -> Vectors:
    return LOADED[request.param]


def _each(section: str) -> list[Any]:
    """The items of one list section of every file, for per-item tests."""
    return [
        pytest.param(item, id=f"v{loaded.version}-{index}")
        for loaded in LOADED.values()
        for index, item in enumerate(loaded.data[section])
    ]


def _open_fixture(vectors: Vectors) -> bytes:
    return open_envelope(
        parse_envelope(vectors.envelope), sender=vectors.node_verify_key, recipient=vectors.hub_key
    )


def _reseal(vectors: Vectors) -> bytes:
    return seal_batch(
        [record_from_dict(wire) for wire in vectors.wire_records],
        node_id=uuid.UUID(vectors.header["node_id"]),
        seq=vectors.header["seq"],
        prev_hash=bytes.fromhex(vectors.header["prev_hash_hex"]),
        created_at_ms=vectors.header["created_at_ms"],
        signing_key=vectors.node_key,
        hub_key=vectors.hub_key.public,
        version=vectors.version,
    )


# --- the two files, and the generator --------------------------------------------------


def test_the_files_are_versions_1_and_2() -> None:
    assert [LOADED[name].version for name in FILES] == [1, 2]


@pytest.mark.parametrize(
    "section", ["constants", "keys", "hlc", "records", "payload"], ids=lambda section: section
)
def test_both_versions_share_the_section(section: str) -> None:
    v1, v2 = (LOADED[name].data[section] for name in FILES)
    assert v1 == v2


def test_the_headers_differ_only_in_the_version_byte() -> None:
    v1, v2 = (LOADED[name] for name in FILES)
    pairs = zip(v1.header_bytes, v2.header_bytes, strict=True)
    differing = [offset for offset, (a, b) in enumerate(pairs) if a != b]
    assert (differing, v1.header_bytes[VERSION_OFFSET], v2.header_bytes[VERSION_OFFSET]) == (
        [VERSION_OFFSET],
        1,
        2,
    )
    encoded = ("bytes_hex", "hpke_info_hex")
    fields = {key: value for key, value in v1.header.items() if key not in encoded}
    assert fields == {key: value for key, value in v2.header.items() if key not in encoded}


def test_generator_reproduces_every_deterministic_section(vectors: Vectors) -> None:
    """Everything but the sealed 'envelope' section, which HPKE randomizes."""
    spec = importlib.util.spec_from_file_location("make_vectors", VECTOR_DIR / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    built = json.loads(json.dumps(generator.build_vectors(vectors.version)))
    del built["envelope"]
    assert built == {key: value for key, value in vectors.data.items() if key != "envelope"}


# --- keys ------------------------------------------------------------------------------


def test_node_verify_key_derives_from_the_signing_seed(vectors: Vectors) -> None:
    assert vectors.node_key.public.to_bytes().hex() == vectors.keys["node_verify_key_hex"]


def test_node_key_id_recomputes(vectors: Vectors) -> None:
    assert vectors.node_key.public.key_id.hex() == vectors.keys["node_key_id_hex"]


def test_node_fingerprint_recomputes(vectors: Vectors) -> None:
    assert vectors.node_key.public.fingerprint == vectors.keys["node_fingerprint"]


def test_hub_sealing_key_derives_from_the_opening_key(vectors: Vectors) -> None:
    assert vectors.hub_key.public.to_bytes().hex() == vectors.keys["hub_sealing_key_hex"]


def test_hub_opening_key_round_trips(vectors: Vectors) -> None:
    assert vectors.hub_key.private_bytes().hex() == vectors.keys["hub_opening_key_hex"]


def test_hub_key_id_recomputes(vectors: Vectors) -> None:
    assert vectors.hub_key.public.key_id.hex() == vectors.keys["hub_key_id_hex"]


def test_hub_fingerprint_recomputes(vectors: Vectors) -> None:
    assert vectors.hub_key.public.fingerprint == vectors.keys["hub_fingerprint"]


# --- records, HLC, payload -------------------------------------------------------------


@pytest.mark.parametrize("vector", _each("hlc"))
def test_hlc_text_encoding(vector: dict[str, Any]) -> None:
    stamp = HlcStamp(vector["wall_ms"], vector["counter"], uuid.UUID(vector["node_id"]))
    assert stamp.encode() == vector["text"]


def test_hlc_text_sorts_like_the_stamps(vectors: Vectors) -> None:
    texts = [vector["text"] for vector in vectors.data["hlc"]]
    stamps = [HlcStamp.decode(text) for text in texts]
    assert sorted(texts) == [stamp.encode() for stamp in sorted(stamps)]


@pytest.mark.parametrize("vector", _each("records"))
def test_record_canonical_json_matches_byte_for_byte(vector: dict[str, Any]) -> None:
    record = record_from_dict(vector["wire"])
    assert encode_json(record_to_dict(record)) == vector["canonical_json"].encode("utf-8")


def test_payload_is_the_canonical_json_of_the_records(vectors: Vectors) -> None:
    records = [record_from_dict(wire) for wire in vectors.wire_records]
    assert encode_records(records) == vectors.payload


# --- header ----------------------------------------------------------------------------


def test_header_encodes_from_its_fields(vectors: Vectors) -> None:
    header = EnvelopeHeader(
        kind=EnvelopeKind(vectors.header["kind"]),
        node_id=uuid.UUID(vectors.header["node_id"]),
        sender_key_id=bytes.fromhex(vectors.header["sender_key_id_hex"]),
        recipient_key_id=bytes.fromhex(vectors.header["recipient_key_id_hex"]),
        seq=vectors.header["seq"],
        prev_hash=bytes.fromhex(vectors.header["prev_hash_hex"]),
        record_count=vectors.header["record_count"],
        payload_bytes=vectors.header["payload_bytes"],
        created_at_ms=vectors.header["created_at_ms"],
        version=vectors.version,
    )
    assert header.encode() == vectors.header_bytes


def test_header_bytes_are_the_envelope_prefix(vectors: Vectors) -> None:
    assert vectors.envelope[: len(vectors.header_bytes)] == vectors.header_bytes


def test_header_declares_the_payload_size(vectors: Vectors) -> None:
    assert vectors.header["payload_bytes"] == len(vectors.payload)


# --- the sealed fixture ----------------------------------------------------------------


def test_fixture_parses_to_the_vector_header(vectors: Vectors) -> None:
    header = parse_envelope(vectors.envelope).header
    assert (
        header.version,
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
        vectors.version,
        EnvelopeKind.BATCH,
        vectors.header["node_id"],
        vectors.keys["node_key_id_hex"],
        vectors.keys["hub_key_id_hex"],
        vectors.header["seq"],
        vectors.header["prev_hash_hex"],
        vectors.header["record_count"],
        vectors.header["payload_bytes"],
        vectors.header["created_at_ms"],
    )


def test_fixture_opens_to_the_expected_payload(vectors: Vectors) -> None:
    assert _open_fixture(vectors) == vectors.payload


def test_fixture_opens_to_the_expected_records(vectors: Vectors) -> None:
    records = open_batch(
        parse_envelope(vectors.envelope), node_key=vectors.node_verify_key, hub_key=vectors.hub_key
    )
    assert [record_to_dict(record) for record in records] == vectors.wire_records


def test_fixture_batch_hash_matches(vectors: Vectors) -> None:
    assert (
        parse_envelope(vectors.envelope).batch_hash.hex()
        == vectors.data["envelope"]["batch_hash_hex"]
    )


# --- resealing -------------------------------------------------------------------------


def test_reseal_opens_to_the_same_payload(vectors: Vectors) -> None:
    resealed = parse_envelope(_reseal(vectors))
    assert (
        open_envelope(resealed, sender=vectors.node_verify_key, recipient=vectors.hub_key)
        == vectors.payload
    )


def test_reseal_keeps_the_same_header_bytes(vectors: Vectors) -> None:
    assert _reseal(vectors)[: len(vectors.header_bytes)] == vectors.header_bytes


def test_reseal_produces_different_ciphertext(vectors: Vectors) -> None:
    assert (
        parse_envelope(_reseal(vectors)).ciphertext != parse_envelope(vectors.envelope).ciphertext
    )


# --- the documented wire format, recomputed from primitives ----------------------------


def test_header_matches_the_documented_struct_layout(vectors: Vectors) -> None:
    fields = struct.unpack(">4sBB16s16s16sQ32sIIQ", vectors.header_bytes)
    assert fields == (
        bytes.fromhex(vectors.constants["magic_hex"]),
        vectors.version,
        vectors.header["kind"],
        uuid.UUID(vectors.header["node_id"]).bytes,
        bytes.fromhex(vectors.header["sender_key_id_hex"]),
        bytes.fromhex(vectors.header["recipient_key_id_hex"]),
        vectors.header["seq"],
        bytes.fromhex(vectors.header["prev_hash_hex"]),
        vectors.header["record_count"],
        vectors.header["payload_bytes"],
        vectors.header["created_at_ms"],
    )


def test_envelope_length_follows_the_documented_framing(vectors: Vectors) -> None:
    (ct_len,) = struct.unpack_from(">I", vectors.envelope, len(vectors.header_bytes))
    assert len(vectors.envelope) == len(vectors.header_bytes) + 4 + ct_len + SIGNATURE_BYTES


@pytest.mark.parametrize(
    ("public_hex", "label_key", "key_id_key"),
    [
        ("node_verify_key_hex", "signing_key_label_hex", "node_key_id_hex"),
        ("hub_sealing_key_hex", "sealing_key_label_hex", "hub_key_id_hex"),
    ],
)
def test_key_id_is_the_documented_labelled_digest(
    vectors: Vectors, public_hex: str, label_key: str, key_id_key: str
) -> None:
    digest = hashlib.sha256(
        bytes.fromhex(vectors.constants[label_key]) + bytes.fromhex(vectors.keys[public_hex])
    ).digest()
    assert digest[:16].hex() == vectors.keys[key_id_key]


def test_hpke_info_is_the_context_then_the_header(vectors: Vectors) -> None:
    expected = bytes.fromhex(vectors.constants["hpke_info_context_hex"]) + vectors.header_bytes
    assert bytes.fromhex(vectors.header["hpke_info_hex"]) == expected


def test_batch_hash_is_sha256_of_everything_but_the_signature(vectors: Vectors) -> None:
    digest = hashlib.sha256(vectors.envelope[:-SIGNATURE_BYTES]).hexdigest()
    assert digest == vectors.data["envelope"]["batch_hash_hex"]


def test_signature_verifies_over_the_documented_message(vectors: Vectors) -> None:
    public = ed25519.Ed25519PublicKey.from_public_bytes(
        bytes.fromhex(vectors.keys["node_verify_key_hex"])
    )
    message = (
        bytes.fromhex(vectors.constants["signature_context_hex"])
        + vectors.envelope[:-SIGNATURE_BYTES]
    )
    public.verify(vectors.envelope[-SIGNATURE_BYTES:], message)  # raises InvalidSignature if not


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm, "sha256")


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, size: int) -> bytes:
    labeled = size.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, block, counter = b"", b"", 1
    while len(out) < size:
        block = hmac.digest(prk, block + labeled + bytes([counter]), "sha256")
        out, counter = out + block, counter + 1
    return out[:size]


def test_ciphertext_opens_with_the_documented_hpke_key_schedule(vectors: Vectors) -> None:
    """X-Wing decapsulation, then the RFC 9180 base-mode key schedule, then AES-256-GCM
    and the version's decompression, written out step by step as docs/protocol.md
    describes them."""
    opening = bytes.fromhex(vectors.keys["hub_opening_key_hex"])
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(opening[:64])
    dh = x25519.X25519PrivateKey.from_private_bytes(opening[64:])
    ciphertext = parse_envelope(vectors.envelope).ciphertext
    enc, sealed = ciphertext[:HPKE_ENC_BYTES], ciphertext[HPKE_ENC_BYTES:]
    ct_m, ct_x = enc[:MLKEM768_CIPHERTEXT_BYTES], enc[MLKEM768_CIPHERTEXT_BYTES:]
    ss_x = dh.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    pk_x = dh.public_key().public_bytes_raw()
    shared_secret = hashlib.sha3_256(
        kem.decapsulate(ct_m) + ss_x + ct_x + pk_x + b"\\.//^\\"
    ).digest()

    suite_id = b"HPKE" + struct.pack(
        ">HHH",
        vectors.constants["hpke_kem_id"],
        vectors.constants["hpke_kdf_id"],
        vectors.constants["hpke_aead_id"],
    )
    info = bytes.fromhex(vectors.header["hpke_info_hex"])
    context = (
        b"\x00"
        + _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
        + _labeled_extract(suite_id, b"", b"info_hash", info)
    )
    secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")
    key = _labeled_expand(suite_id, secret, b"key", context, 32)
    nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, 12)

    compressed = AESGCM(key).decrypt(nonce, sealed, None)
    assert _decompress(compressed, vectors.version) == vectors.payload


def _decompress(data: bytes, version: int) -> bytes:
    """Version 1: one zlib stream. Version 2: exactly one Zstandard frame (zstd.decompress
    alone would also accept several concatenated frames, which receivers refuse)."""
    if version == 1:
        inflater = zlib.decompressobj()
        out = inflater.decompress(data)
        assert inflater.eof and not inflater.unused_data
        return out
    assert zstd.get_frame_size(data) == len(data)
    return zstd.decompress(data)
