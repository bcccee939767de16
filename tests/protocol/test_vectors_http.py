"""Receipts, signed requests, enrollment proofs and the change feed against their interop
vectors (tests/vectors/http_v1.json), in-process at the protocol level: sync_protocol only,
no hub, no database, no HTTP server.

Two levels, as in test_vectors.py: sync_protocol must reproduce every vector byte for byte
and accept it (and refuse it once altered); and a few tests recompute the signed messages
from their description in docs/protocol.md with bare Ed25519 and hashlib, so the spec and
the implementation cannot drift apart silently.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync_protocol import (
    GENESIS_HASH,
    ClockError,
    EnvelopeHeader,
    EnvelopeKind,
    InvalidSeal,
    OpeningKey,
    Receipt,
    SigningKey,
    TransactionStatus,
    VerifyKey,
    encode_catalog,
    encode_json,
    enrollment_message,
    open_changes,
    parse_catalog,
    parse_envelope,
    parse_request_auth,
    record_from_dict,
    seal_changes,
    sign_receipt,
    sign_request,
    verify_receipt,
    verify_request_auth,
)
from sync_protocol.changes import (
    CatalogChange,
    Change,
    RevocationChange,
    StatusChange,
    change_to_dict,
)
from sync_protocol.envelope import VERSIONS

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTOR_DIR / "http_v1.json").read_text("utf-8"))
ENVELOPE_VECTORS: dict[str, Any] = json.loads((VECTOR_DIR / "envelope_v1.json").read_text("utf-8"))
KEYS = VECTORS["keys"]
CONSTANTS = VECTORS["constants"]
RECEIPT = VECTORS["receipt"]
FIELDS = RECEIPT["fields"]
RECEIPT_BYTES = RECEIPT["bytes_text"].encode("utf-8")
REQUESTS = VECTORS["requests"]
HUB_NOW_MS: int = REQUESTS["hub_now_ms"]
WINDOW_MS: int = REQUESTS["window_ms"]
ENROLLMENT = VECTORS["enrollment"]
CHANGES = VECTORS["changes"]
CHANGES_VERSION = 1  # the feed's header is the answer to a pull without envelope=2

HUB_KEY = SigningKey.from_bytes(bytes.fromhex(KEYS["hub_signing_seed_hex"]))
NODE_KEY = SigningKey.from_bytes(bytes.fromhex(KEYS["node_signing_seed_hex"]))
NODE_OPENING_KEY = OpeningKey.from_bytes(bytes.fromhex(KEYS["node_opening_key_hex"]))
HUB_VERIFY_KEY = VerifyKey(bytes.fromhex(KEYS["hub_verify_key_hex"]))
NODE_VERIFY_KEY = VerifyKey(bytes.fromhex(KEYS["node_verify_key_hex"]))
NODE_ID = uuid.UUID(FIELDS["node_id"])


def _request_ids(item: dict[str, Any]) -> str:
    return f"{item['method']} {item['target']}"


def _receipt() -> Receipt:
    return Receipt(
        node_id=NODE_ID,
        seq=FIELDS["seq"],
        batch_hash=bytes.fromhex(FIELDS["batch_hash_hex"]),
        records_accepted=FIELDS["records_accepted"],
        records_known=FIELDS["records_known"],
        received_at_ms=FIELDS["received_at_ms"],
        hub_key_id=bytes.fromhex(FIELDS["hub_key_id_hex"]),
    )


def _verify_vector_receipt(data: bytes, **overrides: Any) -> Receipt:
    expected: dict[str, Any] = {
        "node_id": NODE_ID,
        "seq": FIELDS["seq"],
        "batch_hash": bytes.fromhex(FIELDS["batch_hash_hex"]),
    } | overrides
    return verify_receipt(data, HUB_VERIFY_KEY, **expected)


# --- the two vector files agree, and the generator reproduces this one -----------------


def test_receipt_is_for_the_fixture_batch_of_the_envelope_vectors() -> None:
    """If this fails, envelope_v1.json was regenerated without make_http_vectors.py."""
    envelope = parse_envelope(bytes.fromhex(ENVELOPE_VECTORS["envelope"]["hex"]))
    assert (str(envelope.header.node_id), envelope.header.seq, envelope.batch_hash.hex()) == (
        FIELDS["node_id"],
        FIELDS["seq"],
        FIELDS["batch_hash_hex"],
    )


def test_node_keys_are_those_of_the_envelope_vectors() -> None:
    assert (KEYS["node_signing_seed_hex"], KEYS["node_verify_key_hex"]) == (
        ENVELOPE_VECTORS["keys"]["node_signing_seed_hex"],
        ENVELOPE_VECTORS["keys"]["node_verify_key_hex"],
    )


def test_generator_reproduces_the_file_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_http_vectors", VECTOR_DIR / "make_http_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rendered = generator.render(generator.build_vectors(VECTOR_DIR / "envelope_v1.json"))
    assert rendered == (VECTOR_DIR / "http_v1.json").read_text("utf-8")


# --- keys ------------------------------------------------------------------------------


def test_hub_verify_key_derives_from_the_signing_seed() -> None:
    assert HUB_KEY.public.to_bytes().hex() == KEYS["hub_verify_key_hex"]


def test_hub_verify_key_id_and_fingerprint_recompute() -> None:
    assert (HUB_KEY.public.key_id.hex(), HUB_KEY.public.fingerprint) == (
        KEYS["hub_verify_key_id_hex"],
        KEYS["hub_signing_fingerprint"],
    )


def test_node_sealing_key_derives_from_the_opening_key() -> None:
    public = NODE_OPENING_KEY.public
    assert (public.to_bytes().hex(), public.key_id.hex(), public.fingerprint) == (
        KEYS["node_sealing_key_hex"],
        KEYS["node_sealing_key_id_hex"],
        KEYS["node_sealing_fingerprint"],
    )


# --- receipts --------------------------------------------------------------------------


def test_sign_receipt_reproduces_the_receipt_bytes() -> None:
    assert sign_receipt(_receipt(), HUB_KEY) == RECEIPT_BYTES


def test_receipt_length_matches() -> None:
    assert len(RECEIPT_BYTES) == RECEIPT["length"]


def test_verify_receipt_accepts_the_vector() -> None:
    assert _verify_vector_receipt(RECEIPT_BYTES) == _receipt()


@pytest.mark.parametrize(
    "overrides",
    [
        {"seq": FIELDS["seq"] + 1},
        {"batch_hash": bytes(32)},
        {"node_id": uuid.UUID("019b3b33-a900-7000-8000-000000000002")},
    ],
    ids=["another seq", "another batch_hash", "another node"],
)
def test_verify_receipt_rejects_it_for_another_batch(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidSeal):
        _verify_vector_receipt(RECEIPT_BYTES, **overrides)


def test_verify_receipt_rejects_another_hub_key() -> None:
    with pytest.raises(InvalidSeal):
        verify_receipt(
            RECEIPT_BYTES,
            NODE_VERIFY_KEY,
            node_id=NODE_ID,
            seq=FIELDS["seq"],
            batch_hash=bytes.fromhex(FIELDS["batch_hash_hex"]),
        )


def test_verify_receipt_rejects_a_changed_count() -> None:
    altered = RECEIPT_BYTES.replace(b'"records_known":0', b'"records_known":1')
    assert altered != RECEIPT_BYTES
    with pytest.raises(InvalidSeal):
        _verify_vector_receipt(altered)


def test_receipt_is_the_unsigned_json_plus_the_signature() -> None:
    unsigned = json.loads(RECEIPT["unsigned_json"])
    expected = encode_json(unsigned | {"signature": RECEIPT["signature_b64"]})
    assert expected == RECEIPT_BYTES


def test_receipt_unsigned_json_is_canonical_over_the_documented_fields() -> None:
    unsigned = {
        "v": 1,
        "node_id": FIELDS["node_id"],
        "seq": FIELDS["seq"],
        "batch_hash": FIELDS["batch_hash_hex"],
        "records_accepted": FIELDS["records_accepted"],
        "records_known": FIELDS["records_known"],
        "received_at_ms": FIELDS["received_at_ms"],
        "hub_key_id": FIELDS["hub_key_id_hex"],
    }
    assert encode_json(unsigned) == RECEIPT["unsigned_json"].encode("utf-8")


def test_receipt_signature_verifies_over_the_documented_message() -> None:
    message = bytes.fromhex(CONSTANTS["receipt_context_hex"]) + RECEIPT["unsigned_json"].encode()
    assert message.hex() == RECEIPT["signed_message_hex"]
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(KEYS["hub_verify_key_hex"]))
    public.verify(bytes.fromhex(RECEIPT["signature_hex"]), message)  # raises if not


def test_receipt_signature_is_standard_padded_base64() -> None:
    signature = base64.b64decode(RECEIPT["signature_b64"], validate=True)
    assert (signature.hex(), base64.b64encode(signature).decode()) == (
        RECEIPT["signature_hex"],
        RECEIPT["signature_b64"],
    )


# --- signed requests -------------------------------------------------------------------


def _sign(item: dict[str, Any]) -> dict[str, str]:
    return sign_request(
        item["method"],
        item["target"],
        item["body_text"].encode("utf-8"),
        node_id=uuid.UUID(item["node_id"]),
        key=NODE_KEY,
        time_ms=item["time_ms"],
        nonce=item["nonce"],
    )


def _verify(item: dict[str, Any], **overrides: Any) -> None:
    arguments: dict[str, Any] = {
        "method": item["method"],
        "target": item["target"],
        "body": item["body_text"].encode("utf-8"),
        "key": NODE_VERIFY_KEY,
        "now_ms": HUB_NOW_MS,
        "window_ms": WINDOW_MS,
    } | overrides
    verify_request_auth(parse_request_auth(item["headers"]), **arguments)


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_sign_request_reproduces_the_header_values(item: dict[str, Any]) -> None:
    assert _sign(item) == item["headers"]


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_parse_request_auth_reads_the_headers(item: dict[str, Any]) -> None:
    auth = parse_request_auth(item["headers"])
    assert (str(auth.node_id), auth.time_ms, auth.nonce, auth.signature.hex()) == (
        item["node_id"],
        item["time_ms"],
        item["nonce"],
        item["signature_hex"],
    )


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_header_names_are_case_insensitive(item: dict[str, Any]) -> None:
    spelled = httpx.Headers({name.upper(): value for name, value in item["headers"].items()})
    assert parse_request_auth(spelled) == parse_request_auth(item["headers"])


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_verify_request_auth_accepts_the_vector(item: dict[str, Any]) -> None:
    _verify(item)  # raises if not


@pytest.mark.parametrize("offset_ms", [-WINDOW_MS, WINDOW_MS], ids=["behind", "ahead"])
def test_the_window_includes_its_edges(offset_ms: int) -> None:
    item = REQUESTS["items"][0]
    _verify(item, now_ms=item["time_ms"] - offset_ms)


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_verify_request_auth_rejects_a_changed_body(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidSeal):
        _verify(item, body=item["body_text"].encode("utf-8") + b" ")


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_verify_request_auth_rejects_a_changed_target(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidSeal):
        _verify(item, target=item["target"] + "?after=1")


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_verify_request_auth_rejects_a_changed_method(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidSeal):
        _verify(item, method="PUT")


@pytest.mark.parametrize("offset_ms", [-WINDOW_MS - 1, WINDOW_MS + 1], ids=["behind", "ahead"])
def test_verify_request_auth_rejects_a_time_outside_the_window(offset_ms: int) -> None:
    item = REQUESTS["items"][0]
    with pytest.raises(ClockError):
        _verify(item, now_ms=item["time_ms"] - offset_ms)


def test_the_signature_is_checked_before_the_time() -> None:
    """A forged request far outside the window gets InvalidSeal, not the clock hint."""
    item = REQUESTS["items"][1]
    with pytest.raises(InvalidSeal):
        _verify(item, body=b"{}", now_ms=item["time_ms"] + 10 * WINDOW_MS)


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_string_to_sign_follows_the_documented_layout(item: dict[str, Any]) -> None:
    lines = [
        item["method"],
        item["target"],
        item["node_id"],
        str(item["time_ms"]),
        item["nonce"],
        hashlib.sha256(item["body_text"].encode("utf-8")).hexdigest(),
    ]
    message = bytes.fromhex(CONSTANTS["request_context_hex"]) + "\n".join(lines).encode()
    assert (lines, message.hex()) == (item["string_to_sign_lines"], item["string_to_sign_hex"])


@pytest.mark.parametrize("item", REQUESTS["items"], ids=_request_ids)
def test_request_signature_verifies_over_the_documented_message(item: dict[str, Any]) -> None:
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(KEYS["node_verify_key_hex"]))
    signature = base64.b64decode(item["headers"]["x-egsync-signature"], validate=True)
    assert signature.hex() == item["signature_hex"]
    public.verify(signature, bytes.fromhex(item["string_to_sign_hex"]))  # raises if not


# --- enrollment ------------------------------------------------------------------------


def test_enrollment_message_reproduces_the_vector() -> None:
    message = enrollment_message(
        ENROLLMENT["token"],
        bytes.fromhex(ENROLLMENT["verify_key_hex"]),
        bytes.fromhex(ENROLLMENT["sealing_key_hex"]),
    )
    assert (len(message), message.hex()) == (
        ENROLLMENT["message_length"],
        ENROLLMENT["message_hex"],
    )


def test_enrollment_message_follows_the_documented_layout() -> None:
    token_hash = hashlib.sha256(ENROLLMENT["token"].encode("utf-8")).digest()
    message = (
        bytes.fromhex(CONSTANTS["enroll_context_hex"])
        + token_hash
        + bytes.fromhex(ENROLLMENT["verify_key_hex"])
        + bytes.fromhex(ENROLLMENT["sealing_key_hex"])
    )
    assert (token_hash.hex(), message.hex()) == (
        ENROLLMENT["token_sha256_hex"],
        ENROLLMENT["message_hex"],
    )


def test_the_node_key_reproduces_the_proof() -> None:
    assert NODE_KEY.sign(bytes.fromhex(ENROLLMENT["message_hex"])).hex() == ENROLLMENT["proof_hex"]


def test_the_proof_binds_the_token() -> None:
    other = enrollment_message(
        ENROLLMENT["token"] + "x",
        bytes.fromhex(ENROLLMENT["verify_key_hex"]),
        bytes.fromhex(ENROLLMENT["sealing_key_hex"]),
    )
    with pytest.raises(InvalidSeal):
        NODE_VERIFY_KEY.verify(bytes.fromhex(ENROLLMENT["proof_hex"]), other)


def test_enrollment_body_carries_the_keys_and_proof_in_base64() -> None:
    body = ENROLLMENT["request_body"]
    decoded = [
        base64.b64decode(body[name], validate=True).hex()
        for name in ("verify_key", "sealing_key", "proof")
    ]
    assert (body["token"], decoded) == (
        ENROLLMENT["token"],
        [ENROLLMENT["verify_key_hex"], ENROLLMENT["sealing_key_hex"], ENROLLMENT["proof_hex"]],
    )


# --- the change feed -------------------------------------------------------------------

PAYLOAD = CHANGES["payload_text"].encode("utf-8")
CHANGES_HEADER = CHANGES["header"]


def _changes() -> list[Change]:
    """The vector's changes, rebuilt through the public parsers."""
    made: list[Change] = []
    for item in json.loads(PAYLOAD)["changes"]:
        if item["kind"] == "catalog":
            made.append(CatalogChange(item["cursor"], parse_catalog(item["catalog"])))
        elif item["kind"] == "status":
            record = record_from_dict(item["record"])
            assert isinstance(record, TransactionStatus)
            made.append(StatusChange(item["cursor"], record))
        else:
            ids = tuple(uuid.UUID(n) for n in item["revoked_node_ids"])
            made.append(RevocationChange(item["cursor"], ids))
    return made


def _seal(after: int = CHANGES["after"], version: int = CHANGES_VERSION) -> bytes:
    data = json.loads(PAYLOAD)
    return seal_changes(
        _changes(),
        after=after,
        cursor=data["cursor"],
        has_more=data["has_more"],
        node_id=NODE_ID,
        created_at_ms=CHANGES_HEADER["created_at_ms"],
        hub_key=HUB_KEY,
        node_key=NODE_OPENING_KEY.public,
        version=version,
    )


def test_changes_payload_is_canonical_json_of_the_changes() -> None:
    data = json.loads(PAYLOAD)
    rebuilt = {
        "cursor": data["cursor"],
        "has_more": data["has_more"],
        "changes": [change_to_dict(change) for change in _changes()],
    }
    assert encode_json(rebuilt) == PAYLOAD


def test_catalog_in_the_feed_is_the_canonical_catalog() -> None:
    (item,) = [c for c in json.loads(PAYLOAD)["changes"] if c["kind"] == "catalog"]
    assert encode_catalog(parse_catalog(item["catalog"])) == encode_json(item["catalog"])


def test_changes_header_encodes_from_its_fields() -> None:
    header = EnvelopeHeader(
        kind=EnvelopeKind(CHANGES_HEADER["kind"]),
        node_id=uuid.UUID(CHANGES_HEADER["node_id"]),
        sender_key_id=bytes.fromhex(CHANGES_HEADER["sender_key_id_hex"]),
        recipient_key_id=bytes.fromhex(CHANGES_HEADER["recipient_key_id_hex"]),
        seq=CHANGES_HEADER["seq"],
        prev_hash=bytes.fromhex(CHANGES_HEADER["prev_hash_hex"]),
        record_count=CHANGES_HEADER["record_count"],
        payload_bytes=CHANGES_HEADER["payload_bytes"],
        created_at_ms=CHANGES_HEADER["created_at_ms"],
        version=CHANGES_VERSION,
    )
    assert header.encode().hex() == CHANGES_HEADER["bytes_hex"]


def test_changes_header_follows_the_feed_rules() -> None:
    assert (
        bytes.fromhex(CHANGES_HEADER["bytes_hex"])[4],  # the version byte
        CHANGES_HEADER["kind"],
        CHANGES_HEADER["node_id"],
        CHANGES_HEADER["sender_key_id_hex"],
        CHANGES_HEADER["recipient_key_id_hex"],
        CHANGES_HEADER["seq"],
        bytes.fromhex(CHANGES_HEADER["prev_hash_hex"]),
        CHANGES_HEADER["record_count"],
        CHANGES_HEADER["payload_bytes"],
    ) == (
        CHANGES_VERSION,
        int(EnvelopeKind.CHANGES),
        FIELDS["node_id"],
        KEYS["hub_verify_key_id_hex"],
        KEYS["node_sealing_key_id_hex"],
        CHANGES["after"] + 1,
        GENESIS_HASH,
        len(json.loads(PAYLOAD)["changes"]),
        len(PAYLOAD),
    )


def test_seal_changes_gives_the_vector_header() -> None:
    assert _seal()[:110].hex() == CHANGES_HEADER["bytes_hex"]


@pytest.mark.parametrize("version", VERSIONS)
def test_open_changes_returns_the_vector_changes(version: int) -> None:
    opened = open_changes(
        parse_envelope(_seal(version=version)),
        after=CHANGES["after"],
        node_id=NODE_ID,
        hub_key=HUB_VERIFY_KEY,
        node_key=NODE_OPENING_KEY,
    )
    data = json.loads(PAYLOAD)
    assert (opened.cursor, opened.has_more, list(opened.changes)) == (
        data["cursor"],
        data["has_more"],
        _changes(),
    )


@pytest.mark.parametrize(
    "overrides",
    [{"after": CHANGES["after"] + 1}, {"node_id": uuid.UUID(int=NODE_ID.int + 1)}],
    ids=["another cursor", "another node"],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_open_changes_refuses_an_answer_to_another_request(
    overrides: dict[str, Any], version: int
) -> None:
    arguments: dict[str, Any] = {"after": CHANGES["after"], "node_id": NODE_ID} | overrides
    with pytest.raises(InvalidSeal):
        open_changes(
            parse_envelope(_seal(version=version)),
            hub_key=HUB_VERIFY_KEY,
            node_key=NODE_OPENING_KEY,
            **arguments,
        )
