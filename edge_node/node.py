"""An enrolled node opened from its data dir: identity, store, PII cipher, hub clock."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from edge_node.capture import CaptureContext
from edge_node.errors import EnrollmentFailed
from edge_node.identity import (
    NodeIdentity,
    load_identity,
    load_or_create_keys,
    save_enrollment,
)
from edge_node.pii import PiiCipher
from edge_node.sealer import SealerConfig, seal_pending
from edge_node.store import Store
from edge_node.transport import HttpTransport, wall_clock_ms
from sync_protocol import SyncError, VerifyKey
from sync_protocol.request_auth import enrollment_answer_message, enrollment_message

__all__ = ["DB_FILE", "EdgeNode", "enroll_node"]

DB_FILE = "edge.db"


@dataclass(slots=True)
class EdgeNode:
    data_dir: Path
    identity: NodeIdentity
    store: Store
    pii: PiiCipher

    @classmethod
    def open(cls, data_dir: Path) -> EdgeNode:
        identity = load_identity(data_dir)
        return cls(
            data_dir=data_dir,
            identity=identity,
            store=Store(data_dir / DB_FILE),
            pii=PiiCipher(identity.keys.data_key),
        )

    def close(self) -> None:
        self.store.close()

    @property
    def capture_context(self) -> CaptureContext:
        return CaptureContext(self.identity.node_id, self.identity.center_id, self.pii)

    @property
    def clock_offset_ms(self) -> int:
        return int(self.store.get_state("clock_offset_ms", "0") or 0)

    def now_ms(self) -> int:
        """Hub time as best known: the local clock corrected by the last learned offset,
        so records made offline on a PC whose clock is hours off still carry sane times."""
        return wall_clock_ms() + self.clock_offset_ms

    def seal(self, config: SealerConfig = SealerConfig(), *, full_only: bool = False) -> list[int]:
        """Seal this node's pending events into batches now (``seal_pending``)."""
        return seal_pending(
            self.store,
            node_id=self.identity.node_id,
            signing_key=self.identity.keys.signing_key,
            hub_key=self.identity.hub_sealing_key,
            pii=self.pii,
            now_ms=self.now_ms(),
            config=config,
            full_only=full_only,
        )

    def transport(self, *, timeout_seconds: float = 30.0) -> HttpTransport:
        return HttpTransport(
            self.identity.hub_url,
            node_id=self.identity.node_id,
            signing_key=self.identity.keys.signing_key,
            clock_offset_ms=self.clock_offset_ms,
            timeout_seconds=timeout_seconds,
        )


def enroll_node(
    data_dir: Path, token: str, hub_url: str, *, hub_fingerprint: str | None
) -> dict[str, object]:
    """Make this node's keys here, enroll with the hub, and check the hub's key
    fingerprint against the one the operator was given out of band."""
    keys = load_or_create_keys(data_dir)
    verify, sealing = keys.signing_key.public.to_bytes(), keys.opening_key.public.to_bytes()
    transport = HttpTransport(
        hub_url, node_id=uuid.UUID(int=0), signing_key=keys.signing_key, timeout_seconds=30
    )
    try:
        if hub_fingerprint:
            # Check before the token leaves this machine: a wrong URL must not get it.
            offered = VerifyKey(base64.b64decode(str(transport.hub_keys()["hub_verify_key"])))
            _require_fingerprint(offered, hub_fingerprint)
        answer = transport.enroll(
            {
                "token": token,
                "verify_key": base64.b64encode(verify).decode(),
                "sealing_key": base64.b64encode(sealing).decode(),
                "proof": base64.b64encode(
                    keys.signing_key.sign(enrollment_message(token, verify, sealing))
                ).decode(),
                "software_version": _software_version(),
            }
        )
    finally:
        transport.close()
    hub_key = VerifyKey(base64.b64decode(str(answer["hub_verify_key"])))
    if hub_fingerprint:
        _require_fingerprint(hub_key, hub_fingerprint)
    _require_signed_answer(answer, hub_key, verify)
    save_enrollment(data_dir, answer, hub_url)
    return answer


def _require_signed_answer(answer: dict[str, object], hub_key: VerifyKey, node_key: bytes) -> None:
    """The answer's hub sealing key is what every batch is sealed to: accept it only
    under the signature of the (fingerprint-checked) hub signing key."""
    try:
        message = enrollment_answer_message(
            uuid.UUID(str(answer["node_id"])),
            str(answer["center_id"]),
            node_key,
            hub_key.to_bytes(),
            base64.b64decode(str(answer["hub_sealing_key"])),
        )
        hub_key.verify(base64.b64decode(str(answer["hub_signature"])), message)
    except (KeyError, ValueError, SyncError):
        raise EnrollmentFailed(
            "the hub's enrollment answer is not signed by the hub's key",
            hint="do not use this hub URL; check it with central IT",
        ) from None


def _require_fingerprint(key: VerifyKey, expected: str) -> None:
    if key.fingerprint != expected.strip():
        raise EnrollmentFailed(
            "the hub's signing key does not match the fingerprint you were given",
            hint="do not use this hub URL; check it with central IT",
        )


def _software_version() -> str:
    return version("egypt-edge-sync")
