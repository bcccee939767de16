"""Key types of protocol v1: Ed25519 for signing, ML-KEM-768 + X25519 for sealing.

Every public key has a 16-byte ``key_id`` (carried in envelope headers) and a
human-checkable ``fingerprint`` (printed by provisioning and checked at enrollment). Both
are SHA-256 over a type label and the raw public bytes, so a signing key and a sealing key
can never share an id. Private keys never appear in ``repr``.
"""

from __future__ import annotations

import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from sync_protocol.errors import InvalidKey, InvalidSeal

__all__ = [
    "KEY_ID_BYTES",
    "OpeningKey",
    "SealingKey",
    "SigningKey",
    "VerifyKey",
]

KEY_ID_BYTES: Final = 16
_ED25519_BYTES: Final = 32
_X25519_BYTES: Final = 32
_MLKEM768_PUBLIC_BYTES: Final = 1184
_MLKEM_SEED_BYTES: Final = 64
_SIGN_LABEL: Final = b"egsync/v1/ed25519\x00"
_SEAL_LABEL: Final = b"egsync/v1/mlkem768-x25519\x00"


def _digest(label: bytes, public: bytes) -> bytes:
    return hashlib.sha256(label + public).digest()


def _fingerprint(digest: bytes) -> str:
    hexed = digest.hex()
    return "SHA256:" + ":".join(hexed[i : i + 4] for i in range(0, 32, 4))


class VerifyKey:
    """An Ed25519 public key: checks signatures from a node or the hub."""

    __slots__ = ("_key", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != _ED25519_BYTES:
            raise InvalidKey(f"an Ed25519 public key is {_ED25519_BYTES} bytes")
        try:
            self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise InvalidKey("not a valid Ed25519 public key") from None
        self._raw = bytes(raw)

    def to_bytes(self) -> bytes:
        return self._raw

    @property
    def key_id(self) -> bytes:
        return _digest(_SIGN_LABEL, self._raw)[:KEY_ID_BYTES]

    @property
    def fingerprint(self) -> str:
        return _fingerprint(_digest(_SIGN_LABEL, self._raw))

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is valid for ``message``; raise :class:`InvalidSeal` if not."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise InvalidSeal from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.fingerprint})"


class SigningKey:
    """An Ed25519 private key. Serialised as its 32-byte seed."""

    __slots__ = ("_key", "public")

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        self.public = VerifyKey(key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, seed: bytes) -> SigningKey:
        if len(seed) != _ED25519_BYTES:
            raise InvalidKey(f"an Ed25519 private key is {_ED25519_BYTES} bytes")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.fingerprint})"


class SealingKey:
    """A recipient's ML-KEM-768 + X25519 public key: envelopes are sealed to it.

    Wire form: the 1184-byte ML-KEM-768 encapsulation key, then the 32-byte X25519 key.
    """

    __slots__ = ("_key", "_raw")

    SIZE: Final = _MLKEM768_PUBLIC_BYTES + _X25519_BYTES

    def __init__(self, raw: bytes) -> None:
        if len(raw) != self.SIZE:
            raise InvalidKey(f"an ML-KEM-768 + X25519 public key is {self.SIZE} bytes")
        try:
            kem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_BYTES])
            dh = x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUBLIC_BYTES:])
        except ValueError:
            raise InvalidKey("not a valid ML-KEM-768 + X25519 public key") from None
        self._key = hpke.MLKEM768X25519PublicKey(kem, dh)
        self._raw = bytes(raw)

    @property
    def hpke_key(self) -> hpke.MLKEM768X25519PublicKey:
        return self._key

    def to_bytes(self) -> bytes:
        return self._raw

    @property
    def key_id(self) -> bytes:
        return _digest(_SEAL_LABEL, self._raw)[:KEY_ID_BYTES]

    @property
    def fingerprint(self) -> str:
        return _fingerprint(_digest(_SEAL_LABEL, self._raw))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealingKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"SealingKey({self.fingerprint})"


class OpeningKey:
    """The private half of a :class:`SealingKey`: opens envelopes sealed to it.

    Serialised as the 64-byte ML-KEM seed followed by the 32-byte X25519 private key.
    """

    __slots__ = ("_dh", "_kem", "_key", "public")

    SIZE: Final = _MLKEM_SEED_BYTES + _X25519_BYTES

    def __init__(self, kem: mlkem.MLKEM768PrivateKey, dh: x25519.X25519PrivateKey) -> None:
        self._kem, self._dh = kem, dh
        self._key = hpke.MLKEM768X25519PrivateKey(kem, dh)
        self.public = SealingKey(
            kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> OpeningKey:
        return cls(mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> OpeningKey:
        if len(raw) != cls.SIZE:
            raise InvalidKey(f"an ML-KEM-768 + X25519 private key is {cls.SIZE} bytes")
        return cls(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:_MLKEM_SEED_BYTES]),
            x25519.X25519PrivateKey.from_private_bytes(raw[_MLKEM_SEED_BYTES:]),
        )

    @property
    def hpke_key(self) -> hpke.MLKEM768X25519PrivateKey:
        return self._key

    def private_bytes(self) -> bytes:
        return self._kem.private_bytes_raw() + self._dh.private_bytes_raw()

    def __repr__(self) -> str:
        return f"OpeningKey(public={self.public.fingerprint})"
