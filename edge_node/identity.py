"""The node's identity on disk: its private keys (made here, never sent anywhere), the PII
data key, and what enrollment told it about its center and the hub.

Layout of the data dir::

    keys/            0700
      node-signing.key   32-byte Ed25519 seed            0600
      node-opening.key   96-byte ML-KEM-768+X25519 key   0600
      pii-data.key       32-byte PII data key            0600
    node.json        public facts from enrollment        0600
    edge.db          the SQLite store (WAL)
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from edge_node.errors import NotEnrolled
from sync_protocol import OpeningKey, SealingKey, SigningKey, VerifyKey

__all__ = ["NodeIdentity", "NodeKeys", "load_identity", "load_or_create_keys", "save_enrollment"]

_SIGNING = "node-signing.key"
_OPENING = "node-opening.key"
_DATA_KEY = "pii-data.key"
_NODE_FILE = "node.json"


@dataclass(frozen=True, slots=True)
class NodeKeys:
    signing_key: SigningKey
    opening_key: OpeningKey
    data_key: bytes

    def __repr__(self) -> str:
        return f"NodeKeys(signing={self.signing_key.public.fingerprint})"


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    node_id: uuid.UUID
    center_id: str
    center_name: str
    hub_url: str
    hub_node_id: uuid.UUID
    hub_verify_key: VerifyKey
    hub_sealing_key: SealingKey
    keys: NodeKeys


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_private(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotEnrolled(f"{path} is readable by other users", hint=f"run `chmod 600 {path}`")
    return path.read_bytes()


def load_or_create_keys(data_dir: Path) -> NodeKeys:
    """The node's keys, generated on first use. Private keys never leave this directory."""
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)
    os.chmod(keys_dir, 0o700)
    paths = [keys_dir / name for name in (_SIGNING, _OPENING, _DATA_KEY)]
    if not all(path.exists() for path in paths):
        _write_private(paths[0], SigningKey.generate().private_bytes())
        _write_private(paths[1], OpeningKey.generate().private_bytes())
        _write_private(paths[2], os.urandom(32))
    return NodeKeys(
        signing_key=SigningKey.from_bytes(_read_private(paths[0])),
        opening_key=OpeningKey.from_bytes(_read_private(paths[1])),
        data_key=_read_private(paths[2]),
    )


def save_enrollment(data_dir: Path, enrollment: dict[str, object], hub_url: str) -> None:
    """Persist what the hub answered at enrollment (public facts only)."""
    facts = {
        "node_id": enrollment["node_id"],
        "center_id": enrollment["center_id"],
        "center_name": enrollment["center_name"],
        "hub_url": hub_url,
        "hub_node_id": enrollment["hub_node_id"],
        "hub_verify_key": enrollment["hub_verify_key"],
        "hub_sealing_key": enrollment["hub_sealing_key"],
    }
    _write_private(data_dir / _NODE_FILE, json.dumps(facts, ensure_ascii=False, indent=2).encode())


def load_identity(data_dir: Path) -> NodeIdentity:
    node_file = data_dir / _NODE_FILE
    if not node_file.exists():
        raise NotEnrolled(
            f"no enrolled node in {data_dir}",
            hint="run `edge-node enroll TOKEN --hub URL --data-dir DIR` first",
        )
    facts = json.loads(node_file.read_text(encoding="utf-8"))
    return NodeIdentity(
        node_id=uuid.UUID(facts["node_id"]),
        center_id=facts["center_id"],
        center_name=facts["center_name"],
        hub_url=facts["hub_url"],
        hub_node_id=uuid.UUID(facts["hub_node_id"]),
        hub_verify_key=VerifyKey(base64.b64decode(facts["hub_verify_key"])),
        hub_sealing_key=SealingKey(base64.b64decode(facts["hub_sealing_key"])),
        keys=load_or_create_keys(data_dir),
    )
