"""The hub's identity on disk: signing key, opening (decryption) key and hub node id.

Files live in ``<data_dir>/keys/`` (directory 0700, files 0600), written atomically.
Key material is raw bytes; nothing secret is ever logged or printed, only fingerprints.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sync_protocol import OpeningKey, SigningKey, new_uuid7

__all__ = ["HubIdentity", "KeystoreError", "create_identity", "load_identity"]

_SIGNING = "hub-signing.key"
_OPENING = "hub-opening.key"
_NODE_ID = "hub-node-id"


class KeystoreError(Exception):
    """The key directory is missing, incomplete or too permissive."""


@dataclass(frozen=True, slots=True)
class HubIdentity:
    node_id: uuid.UUID
    signing_key: SigningKey
    opening_key: OpeningKey

    def describe(self) -> dict[str, str]:
        """Public facts an operator may print and a node may pin."""
        return {
            "hub_node_id": str(self.node_id),
            "signing_key_fingerprint": self.signing_key.public.fingerprint,
            "sealing_key_fingerprint": self.opening_key.public.fingerprint,
        }


def _write_secret(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_secret(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeystoreError(f"{path} is missing; run `central-hub init` first") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeystoreError(f"{path} is readable by others; run `chmod 600 {path}`")
    return path.read_bytes()


def create_identity(data_dir: Path) -> HubIdentity:
    """Make fresh hub keys in ``data_dir``; refuses to overwrite existing ones."""
    keys = data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys, 0o700)
    if any((keys / name).exists() for name in (_SIGNING, _OPENING, _NODE_ID)):
        raise KeystoreError(f"{keys} already holds hub keys; refusing to overwrite them")
    identity = HubIdentity(
        node_id=new_uuid7(int(time.time() * 1000)),
        signing_key=SigningKey.generate(),
        opening_key=OpeningKey.generate(),
    )
    _write_secret(keys / _SIGNING, identity.signing_key.private_bytes())
    _write_secret(keys / _OPENING, identity.opening_key.private_bytes())
    _write_secret(keys / _NODE_ID, str(identity.node_id).encode("ascii"))
    return identity


def load_identity(data_dir: Path) -> HubIdentity:
    keys = data_dir / "keys"
    try:
        return HubIdentity(
            node_id=uuid.UUID(_read_secret(keys / _NODE_ID).decode("ascii")),
            signing_key=SigningKey.from_bytes(_read_secret(keys / _SIGNING)),
            opening_key=OpeningKey.from_bytes(_read_secret(keys / _OPENING)),
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise KeystoreError(
            f"hub key files in {keys} are damaged: {type(error).__name__}"
        ) from None
