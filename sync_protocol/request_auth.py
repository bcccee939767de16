"""Signed HTTP requests: how a node authenticates everything that is not a sealed batch.

Four headers travel with the request (names are case-insensitive on the wire)::

    X-EGSync-Node       the node id (UUID)
    X-EGSync-Time       the node's idea of hub time, Unix ms (its clock corrected by the
                        offset it learned from the hub's X-EGSync-Time response header)
    X-EGSync-Nonce      32 lowercase hex characters, fresh per request
    X-EGSync-Signature  base64 Ed25519 signature over the string to sign

String to sign: ``"egsync/v1/request\\0"`` then, joined by ``\\n``: the method in upper
case, the request target (path and query exactly as sent), the node id, the time, the
nonce, and the lowercase hex SHA-256 of the body. The hub accepts a time within
``window_ms`` of its own clock and each nonce once within that window (replay refusal).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sync_protocol.errors import ClockError, RecordError
from sync_protocol.keys import SigningKey, VerifyKey

__all__ = [
    "HEADER_NODE",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "RequestAuth",
    "enrollment_message",
    "parse_request_auth",
    "sign_request",
    "verify_request_auth",
]

HEADER_NODE: Final = "x-egsync-node"
HEADER_TIME: Final = "x-egsync-time"
HEADER_NONCE: Final = "x-egsync-nonce"
HEADER_SIGNATURE: Final = "x-egsync-signature"
DEFAULT_WINDOW_MS: Final = 5 * 60 * 1000
_CONTEXT: Final = b"egsync/v1/request\x00"
_NONCE: Final = re.compile(r"[0-9a-f]{32}")
_TIME: Final = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True, slots=True)
class RequestAuth:
    node_id: uuid.UUID
    time_ms: int
    nonce: str
    signature: bytes


def _string_to_sign(method: str, target: str, auth: RequestAuth, body: bytes) -> bytes:
    lines = (
        method.upper(),
        target,
        str(auth.node_id),
        str(auth.time_ms),
        auth.nonce,
        hashlib.sha256(body).hexdigest(),
    )
    return _CONTEXT + "\n".join(lines).encode("utf-8")


def sign_request(
    method: str,
    target: str,
    body: bytes,
    *,
    node_id: uuid.UUID,
    key: SigningKey,
    time_ms: int,
    nonce: str,
) -> dict[str, str]:
    """The four auth headers for a request. ``nonce`` is 16 random bytes as hex."""
    if _NONCE.fullmatch(nonce) is None:
        raise ValueError("nonce must be 32 lowercase hex characters")
    auth = RequestAuth(node_id=node_id, time_ms=time_ms, nonce=nonce, signature=b"")
    signature = key.sign(_string_to_sign(method, target, auth, body))
    return {
        HEADER_NODE: str(node_id),
        HEADER_TIME: str(time_ms),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
    }


def parse_request_auth(headers: Mapping[str, str]) -> RequestAuth:
    """Read the auth headers (``headers`` must look names up case-insensitively, as
    Starlette's and httpx's do). Missing or malformed headers raise :class:`RecordError`."""
    node, time_text = headers.get(HEADER_NODE), headers.get(HEADER_TIME)
    nonce, signature_text = headers.get(HEADER_NONCE), headers.get(HEADER_SIGNATURE)
    if node is None or time_text is None or nonce is None or signature_text is None:
        raise RecordError("request is missing the X-EGSync-* authentication headers")
    try:
        node_id = uuid.UUID(node)
    except ValueError:
        raise RecordError("X-EGSync-Node is not a UUID") from None
    if _TIME.fullmatch(time_text) is None:
        raise RecordError("X-EGSync-Time must be Unix milliseconds")
    if _NONCE.fullmatch(nonce) is None:
        raise RecordError("X-EGSync-Nonce must be 32 lowercase hex characters")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError("X-EGSync-Signature is not base64") from None
    return RequestAuth(node_id=node_id, time_ms=int(time_text), nonce=nonce, signature=signature)


def verify_request_auth(
    auth: RequestAuth,
    *,
    method: str,
    target: str,
    body: bytes,
    key: VerifyKey,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> None:
    """Check the signature (:class:`InvalidSeal`) and the time window (:class:`ClockError`).

    The signature is checked first so an unauthenticated caller learns nothing about the
    hub's clock from the error it gets.
    """
    key.verify(auth.signature, _string_to_sign(method, target, auth, body))
    if abs(auth.time_ms - now_ms) > window_ms:
        raise ClockError(
            f"request time is {auth.time_ms - now_ms} ms from hub time; "
            "correct the clock offset from the X-EGSync-Time response header"
        )


_ENROLL_CONTEXT: Final = b"egsync/v1/enroll\x00"


_ENROLLED_CONTEXT: Final = b"egsync/v1/enrolled\x00"


def enrollment_answer_message(
    node_id: uuid.UUID,
    center_id: str,
    node_verify_key: bytes,
    hub_verify_key: bytes,
    hub_sealing_key: bytes,
) -> bytes:
    """What the hub signs in its enrollment answer: the node id and center it assigned,
    the node key it enrolled, and the hub's own two public keys. A node that has checked
    the hub verify key's fingerprint can then trust the sealing key it seals batches to."""
    return (
        _ENROLLED_CONTEXT
        + node_id.bytes
        + hashlib.sha256(center_id.encode("utf-8")).digest()
        + node_verify_key
        + hub_verify_key
        + hub_sealing_key
    )


def enrollment_message(token: str, verify_key: bytes, sealing_key: bytes) -> bytes:
    """What a node signs with its new key to prove possession when it enrolls: binds the
    token (by hash, so the signature does not carry it) to both of the node's public keys."""
    return (
        _ENROLL_CONTEXT + hashlib.sha256(token.encode("utf-8")).digest() + verify_key + sealing_key
    )
