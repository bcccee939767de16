"""Envelopes: the sealed, signed unit that carries batches (node -> hub) and changes
(hub -> node), over HTTP or on a USB stick alike.

Layout (big-endian; ``docs/protocol.md`` has the byte table)::

    header (110 bytes) | ciphertext length u32 | ciphertext | Ed25519 signature (64)

The payload is compressed (zlib in version 1, Zstandard in version 2: the only difference
between the two versions), then sealed with single-shot HPKE (RFC 9180, base mode)
suite ML-KEM-768+X25519 / HKDF-SHA256 / AES-256-GCM to the recipient's key, with the
whole header bound in ``info``. The sender signs everything before the signature.
``batch_hash`` is SHA-256 over the same bytes; the next batch carries it as ``prev_hash``.

Opening runs cheapest-first: framing and bounds, then the signature, then decryption, then
bounded decompression; every cryptographic failure is one :class:`InvalidSeal`.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import uuid
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from sync_protocol.compression import compress, decompress
from sync_protocol.errors import (
    EnvelopeError,
    InvalidSeal,
    LimitExceeded,
    TruncatedEnvelope,
    UnsupportedVersion,
)
from sync_protocol.keys import KEY_ID_BYTES, OpeningKey, SealingKey, SigningKey, VerifyKey

__all__ = [
    "GENESIS_HASH",
    "HEADER_BYTES",
    "MAGIC",
    "SIGNATURE_BYTES",
    "VERSION",
    "VERSIONS",
    "EnvelopeHeader",
    "EnvelopeKind",
    "Limits",
    "SealedEnvelope",
    "open_envelope",
    "parse_envelope",
    "seal_envelope",
    "verify_envelope",
]

MAGIC: Final = b"EGSY"
VERSIONS: Final = (1, 2)  # what a receiver opens
VERSION: Final = 2  # what a sender seals unless told otherwise
GENESIS_HASH: Final = bytes(32)
SIGNATURE_BYTES: Final = 64
HASH_BYTES: Final = 32
_HEADER = struct.Struct(">4sBB16s16s16sQ32sIIQ")
HEADER_BYTES: Final = _HEADER.size
_CT_LEN = struct.Struct(">I")
_SUITE: Final = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HPKE_ENC_BYTES: Final = 1088 + 32  # ML-KEM-768 ciphertext + X25519 ephemeral key
_AEAD_TAG_BYTES: Final = 16
_MIN_CIPHERTEXT: Final = _HPKE_ENC_BYTES + _AEAD_TAG_BYTES
_SIGNATURE_CONTEXT: Final = b"egsync/v1/envelope-signature\x00"
_HPKE_INFO_CONTEXT: Final = b"egsync/v1/hpke-info\x00"
_MAX_TIME_MS: Final = 253_402_300_799_999


class EnvelopeKind(enum.IntEnum):
    BATCH = 1  # a node's events, sealed to the hub
    CHANGES = 2  # the hub's change feed, sealed to one node


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard bounds applied before any expensive work. Receivers may lower them."""

    max_envelope_bytes: int = 16 * 1024 * 1024
    max_payload_bytes: int = 32 * 1024 * 1024
    max_records: int = 10_000

    def __post_init__(self) -> None:
        # The header's counters are u32: a bound beyond that could never be reached.
        for name in ("max_envelope_bytes", "max_payload_bytes", "max_records"):
            if not 0 <= getattr(self, name) <= 0xFFFF_FFFF:
                raise ValueError(f"{name} must fit in 32 bits")


DEFAULT_LIMITS: Final = Limits()


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """The cleartext, signed and HPKE-bound header of an envelope."""

    kind: EnvelopeKind
    node_id: uuid.UUID
    sender_key_id: bytes
    recipient_key_id: bytes
    seq: int
    prev_hash: bytes
    record_count: int
    payload_bytes: int
    created_at_ms: int
    version: int = VERSION

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            self.version,
            self.kind,
            self.node_id.bytes,
            self.sender_key_id,
            self.recipient_key_id,
            self.seq,
            self.prev_hash,
            self.record_count,
            self.payload_bytes,
            self.created_at_ms,
        )


@dataclass(frozen=True, slots=True)
class SealedEnvelope:
    """A framed envelope whose bounds are checked; its seal is not verified yet."""

    header: EnvelopeHeader
    ciphertext: bytes
    signature: bytes
    raw: bytes

    @property
    def signed_bytes(self) -> bytes:
        return self.raw[:-SIGNATURE_BYTES]

    @property
    def batch_hash(self) -> bytes:
        """SHA-256 over header, ciphertext length and ciphertext (not the signature)."""
        return hashlib.sha256(self.signed_bytes).digest()


def seal_envelope(
    *,
    kind: EnvelopeKind,
    node_id: uuid.UUID,
    seq: int,
    prev_hash: bytes,
    record_count: int,
    created_at_ms: int,
    payload: bytes,
    signing_key: SigningKey,
    recipient: SealingKey,
    limits: Limits = DEFAULT_LIMITS,
    version: int = VERSION,
) -> bytes:
    """Compress, seal to ``recipient`` and sign ``payload`` as envelope ``version``;
    return the envelope bytes."""
    if len(payload) > limits.max_payload_bytes:
        raise LimitExceeded(f"payload exceeds {limits.max_payload_bytes} bytes")
    if record_count > limits.max_records:
        raise LimitExceeded(f"an envelope may hold at most {limits.max_records} records")
    header = EnvelopeHeader(
        kind=kind,
        node_id=node_id,
        sender_key_id=signing_key.public.key_id,
        recipient_key_id=recipient.key_id,
        seq=seq,
        prev_hash=prev_hash,
        record_count=record_count,
        payload_bytes=len(payload),
        created_at_ms=created_at_ms,
        version=version,
    )
    _check_header(header)
    header_bytes = header.encode()
    ciphertext = _SUITE.encrypt(
        compress(payload, version), recipient.hpke_key, info=_HPKE_INFO_CONTEXT + header_bytes
    )
    signed = header_bytes + _CT_LEN.pack(len(ciphertext)) + ciphertext
    if len(signed) + SIGNATURE_BYTES > limits.max_envelope_bytes:
        raise LimitExceeded(f"sealed envelope exceeds {limits.max_envelope_bytes} bytes")
    return signed + signing_key.sign(_SIGNATURE_CONTEXT + signed)


def _check_header(header: EnvelopeHeader) -> None:
    if header.version not in VERSIONS:
        raise UnsupportedVersion(f"envelope version {header.version} is not supported")
    if header.seq < 1:
        raise EnvelopeError("seq must be at least 1")
    if len(header.prev_hash) != HASH_BYTES:
        raise EnvelopeError(f"prev_hash must be {HASH_BYTES} bytes")
    if len(header.sender_key_id) != KEY_ID_BYTES or len(header.recipient_key_id) != KEY_ID_BYTES:
        raise EnvelopeError(f"key ids must be {KEY_ID_BYTES} bytes")
    if not 0 <= header.created_at_ms <= _MAX_TIME_MS:
        raise EnvelopeError("created_at_ms is out of range")


def parse_envelope(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> SealedEnvelope:
    """Check framing and bounds of ``data``; no cryptography yet. Never raises anything but
    an :class:`EnvelopeError` subclass for bad bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeError("an envelope is bytes")
    data = bytes(data)
    if len(data) > limits.max_envelope_bytes:
        raise LimitExceeded(f"envelope exceeds {limits.max_envelope_bytes} bytes")
    if len(data) < len(MAGIC) + 1:
        raise TruncatedEnvelope("envelope is shorter than its magic and version")
    if data[: len(MAGIC)] != MAGIC:
        raise EnvelopeError("not an envelope: bad magic")
    if data[len(MAGIC)] not in VERSIONS:
        raise UnsupportedVersion(f"envelope version {data[len(MAGIC)]} is not supported")
    fixed = HEADER_BYTES + _CT_LEN.size
    if len(data) < fixed + SIGNATURE_BYTES:
        raise TruncatedEnvelope("envelope is shorter than its header")
    fields = _HEADER.unpack_from(data)
    try:
        kind = EnvelopeKind(fields[2])
    except ValueError:
        raise EnvelopeError(f"unknown envelope kind {fields[2]}") from None
    header = EnvelopeHeader(
        kind=kind,
        node_id=uuid.UUID(bytes=fields[3]),
        sender_key_id=fields[4],
        recipient_key_id=fields[5],
        seq=fields[6],
        prev_hash=fields[7],
        record_count=fields[8],
        payload_bytes=fields[9],
        created_at_ms=fields[10],
        version=fields[1],
    )
    _check_header(header)
    if header.record_count > limits.max_records:
        raise LimitExceeded(f"an envelope may hold at most {limits.max_records} records")
    if header.payload_bytes > limits.max_payload_bytes:
        raise LimitExceeded(f"payload may be at most {limits.max_payload_bytes} bytes")
    (ct_len,) = _CT_LEN.unpack_from(data, HEADER_BYTES)
    if ct_len < _MIN_CIPHERTEXT:
        raise EnvelopeError("ciphertext is shorter than an HPKE encapsulation")
    expected_total = fixed + ct_len + SIGNATURE_BYTES
    if len(data) < expected_total:
        raise TruncatedEnvelope(f"envelope is {len(data)} bytes, framing says {expected_total}")
    if len(data) > expected_total:
        raise EnvelopeError("envelope has trailing bytes after its signature")
    return SealedEnvelope(
        header=header,
        ciphertext=data[fixed : fixed + ct_len],
        signature=data[-SIGNATURE_BYTES:],
        raw=data,
    )


def verify_envelope(envelope: SealedEnvelope, sender: VerifyKey) -> None:
    """Check the sender's signature; :class:`InvalidSeal` if it or the key id is wrong."""
    if envelope.header.sender_key_id != sender.key_id:
        raise InvalidSeal
    sender.verify(envelope.signature, _SIGNATURE_CONTEXT + envelope.signed_bytes)


def open_envelope(
    envelope: SealedEnvelope,
    *,
    sender: VerifyKey,
    recipient: OpeningKey,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Verify, decrypt and decompress ``envelope``; return the payload bytes."""
    verify_envelope(envelope, sender)
    header = envelope.header
    if header.recipient_key_id != recipient.public.key_id:
        raise InvalidSeal
    header_bytes = envelope.raw[:HEADER_BYTES]
    try:
        compressed = _SUITE.decrypt(
            envelope.ciphertext, recipient.hpke_key, info=_HPKE_INFO_CONTEXT + header_bytes
        )
    except (InvalidTag, ValueError):
        raise InvalidSeal from None
    if header.payload_bytes > limits.max_payload_bytes:  # parsed under looser limits?
        raise LimitExceeded(f"payload may be at most {limits.max_payload_bytes} bytes")
    return decompress(compressed, header.payload_bytes, header.version)
