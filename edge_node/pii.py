"""Citizen PII (national ID, name) encrypted at rest in the edge node's SQLite file.

Threat model, briefly:

- A stolen disk, or a copied database file without the node's 0600 data-key file, reveals
  no PII: each value is sealed with AES-256-GCM under a key derived from that data key.
- An attacker who can write to the database cannot move a ciphertext to another row,
  column or table (e.g. swap two citizens' names): the format version, table, column and
  row id are bound into the AEAD as associated data, so a moved value fails to decrypt.
- The blind index (HMAC-SHA256 of the national ID) lets staff find a citizen by national
  ID without storing it in clear. Being deterministic, it leaks only which rows share a
  national ID; it cannot be reversed or brute-forced without the data key.

Not in scope: an attacker who holds the data key, or who controls the running process.

Every decryption failure raises the same ``PiiDecryptError`` with a fixed message (as
Fernet's ``InvalidToken`` does); the reason goes to the debug log, never to the caller.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["DATA_KEY_BYTES", "PiiCipher", "PiiDecryptError", "generate_data_key"]

_log = logging.getLogger(__name__)

DATA_KEY_BYTES: Final = 32
_VERSION: Final = 0x01
_VERSION_BYTE: Final = bytes((_VERSION,))
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_HEADER_BYTES: Final = 1 + _NONCE_BYTES
_MIN_BLOB_BYTES: Final = _HEADER_BYTES + _TAG_BYTES

# Distinct HKDF labels make the two subkeys independent: knowing one says nothing of the other.
_AEAD_INFO: Final = b"egsync/edge/pii-aead/v1"
_INDEX_INFO: Final = b"egsync/edge/pii-index/v1"
# Prefix of the associated data, so it can never collide with another use of the key.
_AAD_LABEL: Final = b"egsync/edge/pii/v1"


class PiiDecryptError(Exception):
    """A stored PII value could not be decrypted: wrong key, wrong place, or damaged.

    Deliberately carries no detail, so that it cannot serve as an oracle.
    """

    def __init__(self) -> None:
        super().__init__("PII value could not be decrypted")


def generate_data_key() -> bytes:
    """Return a fresh random 32-byte data key for ``PiiCipher``."""
    return os.urandom(DATA_KEY_BYTES)


def _derive(data_key: bytes, info: bytes) -> bytes:
    # The data key is already uniformly random, so HKDF's salt adds nothing; None = zeros.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)


def _context_part(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text") from None
    # Each part is length-prefixed, so ("ab", "c") and ("a", "bc") give different bytes.
    return struct.pack(">I", len(encoded)) + encoded


def _associated_data(version: int, table: str, column: str, row_id: str) -> bytes:
    return _aad_prefix(version, table, column) + _context_part(row_id, "row_id")


@functools.lru_cache(maxsize=64)
def _aad_prefix(version: int, table: str, column: str) -> bytes:
    # A handful of (table, column) pairs ever: built once each, not per value (sealing a
    # batch decrypts a thousand stored bodies).
    return b"".join(
        (
            _AAD_LABEL,
            bytes((version,)),
            _context_part(table, "table"),
            _context_part(column, "column"),
        )
    )


class PiiCipher:
    """Encrypts PII values bound to their (table, column, row id), and blind-indexes IDs.

    Ciphertext layout: version byte ``0x01`` || 12-byte random nonce || AES-256-GCM
    ciphertext and 16-byte tag.
    """

    __slots__ = ("_aead", "_index_key")

    def __init__(self, data_key: bytes) -> None:
        if not isinstance(data_key, bytes | bytearray):
            raise TypeError("data_key must be bytes")
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"data_key must be exactly {DATA_KEY_BYTES} bytes")
        key = bytes(data_key)
        self._aead = AESGCM(_derive(key, _AEAD_INFO))
        self._index_key = _derive(key, _INDEX_INFO)

    def __repr__(self) -> str:
        return "PiiCipher(<keys hidden>)"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would copy the keys into whatever stores the pickle (a cache, a log).
        raise TypeError("PiiCipher holds secret keys and cannot be pickled")

    def encrypt(self, plaintext: str, *, table: str, column: str, row_id: str) -> bytes:
        """Seal ``plaintext`` so that it only decrypts at this table, column and row id."""
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be a str, not {type(plaintext).__name__}")
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("plaintext is not valid Unicode text") from None
        aad = _associated_data(_VERSION, table, column, row_id)
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION_BYTE + nonce + self._aead.encrypt(nonce, data, aad)

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        """Open a value made by ``encrypt`` for the same table, column and row id.

        Raises ``PiiDecryptError`` for any failure of the stored bytes. A malformed
        table, column or row id is a caller bug and raises ``ValueError``/``TypeError``.
        """
        aad = _associated_data(_VERSION, table, column, row_id)
        if not isinstance(blob, bytes | bytearray | memoryview):
            _log.debug("PII decrypt failed: blob is %s, not bytes", type(blob).__name__)
            raise PiiDecryptError
        data = bytes(blob)
        if len(data) < _MIN_BLOB_BYTES:
            _log.debug("PII decrypt failed: blob truncated (%d bytes)", len(data))
            raise PiiDecryptError
        if data[0] != _VERSION:
            _log.debug("PII decrypt failed: unknown version byte 0x%02x", data[0])
            raise PiiDecryptError
        nonce = data[1:_HEADER_BYTES]
        try:
            plain = self._aead.decrypt(nonce, data[_HEADER_BYTES:], aad)
        except InvalidTag:
            _log.debug("PII decrypt failed: authentication failed (key, place or bytes)")
            raise PiiDecryptError from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            # Only reachable if something sealed non-UTF-8 bytes under our key.
            _log.debug("PII decrypt failed: plaintext is not UTF-8")
            raise PiiDecryptError from None

    def blind_index(self, national_id: str) -> str:
        """Return the 64-hex-char HMAC-SHA256 of ``national_id`` under the index key.

        Deterministic, so equal IDs give equal indexes: pass the canonical form (14 ASCII
        digits, as validated by ``sync_protocol.parse_national_id``) both when storing and
        when looking up.
        """
        if not isinstance(national_id, str):
            raise TypeError(f"national_id must be a str, not {type(national_id).__name__}")
        try:
            data = national_id.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("national_id is not valid Unicode text") from None
        return hmac.digest(self._index_key, data, "sha256").hex()  # one call into OpenSSL
