"""Provisioning centers and enrolling their nodes with one-time, expiring tokens."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from central_hub.auth import hash_secret
from central_hub.errors import BadRequest, Conflict, Gone, Unauthenticated
from central_hub.keystore import HubIdentity
from central_hub.storage.store import NodeRow, Store
from sync_protocol import (
    GENESIS_HASH,
    InvalidKey,
    InvalidSeal,
    SealingKey,
    TextError,
    VerifyKey,
    clean_text,
    new_uuid7,
)
from sync_protocol.request_auth import enrollment_answer_message, enrollment_message
from sync_protocol.text import require_slug

__all__ = ["EnrollmentRequest", "Provisioned", "enroll_node", "provision_center"]

_TOKEN_PREFIX = "ege_"  # noqa: S105  (a public prefix, not a secret)


@dataclass(frozen=True, slots=True)
class Provisioned:
    center_id: str
    token: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class EnrollmentRequest:
    token: str
    verify_key_b64: str
    sealing_key_b64: str
    proof_b64: str
    software_version: str


def provision_center(
    store: Store, center_id: str, name: str, *, now_ms: int, ttl_hours: int
) -> Provisioned:
    """Create (or rename) a center and issue a fresh single-use enrollment token."""
    center_id = require_slug(center_id, field="center")
    name = clean_text(name, field="name", max_chars=200)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at_ms = now_ms + ttl_hours * 3_600_000
    store.create_center(center_id, name, now_ms)
    store.create_enrollment_token(center_id, hash_secret(token), now_ms, expires_at_ms)
    return Provisioned(center_id=center_id, token=token, expires_at_ms=expires_at_ms)


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("invalid_request", f"{field} is not base64") from None


def enroll_node(
    store: Store,
    identity: HubIdentity,
    request: EnrollmentRequest,
    *,
    now_ms: int,
    catalog_version: int,
) -> dict[str, object]:
    """Redeem the token for a new node; exactly one of concurrent redemptions wins."""
    try:
        verify_key = VerifyKey(_b64(request.verify_key_b64, "verify_key"))
        sealing_key = SealingKey(_b64(request.sealing_key_b64, "sealing_key"))
    except InvalidKey as error:
        raise BadRequest("invalid_key", str(error)) from None
    try:
        verify_key.verify(
            _b64(request.proof_b64, "proof"),
            enrollment_message(request.token, verify_key.to_bytes(), sealing_key.to_bytes()),
        )
    except InvalidSeal:
        raise Unauthenticated("invalid_proof", "proof of key possession did not verify") from None
    try:
        version = clean_text(request.software_version, field="software_version", max_chars=64)
    except TextError as error:
        raise BadRequest("invalid_request", str(error)) from None
    node = NodeRow(
        node_id=new_uuid7(now_ms),
        center_id="",
        verify_key=verify_key.to_bytes(),
        sealing_key=sealing_key.to_bytes(),
        status="active",
        head_seq=0,
        head_hash=GENESIS_HASH,
    )
    redemption = store.redeem_enrollment_token(hash_secret(request.token), node, version, now_ms)
    if redemption.outcome == "unknown":
        raise Unauthenticated("unknown_token", "enrollment token is not valid")
    if redemption.outcome == "used":
        raise Conflict("token_used", "enrollment token was already used", hint="provision again")
    if redemption.outcome == "expired":
        raise Gone("token_expired", "enrollment token has expired", hint="provision again")
    assert redemption.center_id is not None  # set whenever the outcome is "redeemed"
    hub_sealing = identity.opening_key.public
    signed = enrollment_answer_message(
        node.node_id,
        redemption.center_id,
        node.verify_key,
        identity.signing_key.public.to_bytes(),
        hub_sealing.to_bytes(),
    )
    return {
        "node_id": str(node.node_id),
        "center_id": redemption.center_id,
        "center_name": redemption.center_name,
        "hub_node_id": str(identity.node_id),
        "hub_verify_key": base64.b64encode(identity.signing_key.public.to_bytes()).decode(),
        "hub_sealing_key": base64.b64encode(hub_sealing.to_bytes()).decode(),
        "hub_signing_fingerprint": identity.signing_key.public.fingerprint,
        "hub_sealing_fingerprint": hub_sealing.fingerprint,
        "catalog_version": catalog_version,
        "hub_signature": base64.b64encode(identity.signing_key.sign(signed)).decode(),
    }
