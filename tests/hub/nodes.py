"""A scripted center node for hub tests: real keys, real envelopes, real signed requests,
driven through any ``httpx.Client`` (Starlette's TestClient or a client of a real server).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from sync_protocol import (
    GENESIS_HASH,
    PROTOCOL_VERSION,
    HlcStamp,
    OpeningKey,
    Record,
    SealingKey,
    SigningKey,
    VerifyKey,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
    parse_envelope,
    seal_batch,
)
from sync_protocol.changes import FEED_VERSION, ChangeSet, open_changes
from sync_protocol.receipt import Receipt, verify_receipt
from sync_protocol.request_auth import enrollment_message, sign_request

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakeClock:
    """Injected hub clock (Unix ms); tests move it by hand."""

    def __init__(self, now_ms: int = T0_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class ScriptedNode:
    """What an edge node does on the wire, step by step, with no storage of its own."""

    http: httpx.Client
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    opening_key: OpeningKey = field(default_factory=OpeningKey.generate)
    node_id: uuid.UUID | None = None
    center_id: str = ""
    hub_verify_key: VerifyKey | None = None
    hub_sealing_key: SealingKey | None = None
    seq: int = 0
    head_hash: bytes = GENESIS_HASH
    counter: int = 0

    def enroll(self, token: str) -> httpx.Response:
        verify = self.signing_key.public.to_bytes()
        sealing = self.opening_key.public.to_bytes()
        response = self.http.post(
            "/v1/enroll",
            json={
                "token": token,
                "verify_key": base64.b64encode(verify).decode(),
                "sealing_key": base64.b64encode(sealing).decode(),
                "proof": base64.b64encode(
                    self.signing_key.sign(enrollment_message(token, verify, sealing))
                ).decode(),
                "software_version": "test-1",
            },
        )
        if response.status_code == 200:
            body = response.json()
            self.node_id = uuid.UUID(body["node_id"])
            self.center_id = body["center_id"]
            self.hub_verify_key = VerifyKey(base64.b64decode(body["hub_verify_key"]))
            self.hub_sealing_key = SealingKey(base64.b64decode(body["hub_sealing_key"]))
        return response

    def records(
        self,
        count: int,
        *,
        fee_piasters: int = 2500,
        service: str = "CIV-BIRTH",
        agencies: tuple[str, ...] | None = (),
    ) -> list[Record]:
        """``count`` transactions opened now (``agencies`` None: the previous release's
        form, which lists none)."""
        assert self.node_id is not None
        made: list[Record] = []
        for _ in range(count):
            self.counter += 1
            wall = T0_MS + self.counter
            made.append(
                new_transaction_created(
                    event_id=new_uuid7(wall),
                    hlc=HlcStamp(wall, 0, self.node_id),
                    center_id=self.center_id,
                    service_code=service,
                    national_id="29001013412375",
                    citizen_name="محمد أحمد علي",
                    fee_piasters=fee_piasters,
                    staff_id="s-0042",
                    recorded_at_ms=wall,
                    required_agencies=agencies,
                )
            )
        return made

    def _stamp(self) -> tuple[int, HlcStamp]:
        assert self.node_id is not None
        self.counter += 1
        wall = T0_MS + 10_000_000 + self.counter  # after the hub's decisions of the tests
        return wall, HlcStamp(wall, 0, self.node_id)

    def status(self, transaction_id: uuid.UUID, status: str) -> Record:
        """A status the center records (delivered, cancelled; or an old agency status)."""
        wall, stamp = self._stamp()
        return new_transaction_status(
            event_id=new_uuid7(wall),
            hlc=stamp,
            center_id=self.center_id,
            transaction_id=transaction_id,
            status=status,
            actor_id="s-0042",
            recorded_at_ms=wall,
        )

    def decision(
        self, transaction_id: uuid.UUID, agency: str, decision: str = "info_provided"
    ) -> Record:
        """A decision record made at the center: its answer to an information request
        (or, to test the hub's refusal, a decision that is not the center's to make)."""
        wall, stamp = self._stamp()
        return new_transaction_decision(
            event_id=new_uuid7(wall),
            hlc=stamp,
            center_id=self.center_id,
            transaction_id=transaction_id,
            agency_code=agency,
            decision=decision,
            reason_code="not_eligible" if decision == "rejected" else "",
            note="المستند مرفق",
            actor_id="s-0042",
            recorded_at_ms=wall,
        )

    def seal(
        self,
        records: list[Record],
        *,
        seq: int | None = None,
        prev_hash: bytes | None = None,
        version: int = PROTOCOL_VERSION,
    ) -> bytes:
        """Seal the next batch of the chain (or a given seq/prev_hash) as envelope
        ``version`` and advance."""
        assert self.node_id is not None and self.hub_sealing_key is not None
        seq = self.seq + 1 if seq is None else seq
        prev = self.head_hash if prev_hash is None else prev_hash
        sealed = seal_batch(
            records,
            node_id=self.node_id,
            seq=seq,
            prev_hash=prev,
            created_at_ms=T0_MS,
            signing_key=self.signing_key,
            hub_key=self.hub_sealing_key,
            version=version,
        )
        self.seq, self.head_hash = seq, parse_envelope(sealed).batch_hash
        return sealed

    def push(self, sealed: bytes) -> httpx.Response:
        return self.http.post(
            "/v1/batches", content=sealed, headers={"content-type": "application/octet-stream"}
        )

    def check_receipt(self, sealed: bytes, response: httpx.Response) -> Receipt:
        assert self.hub_verify_key is not None and self.node_id is not None
        envelope = parse_envelope(sealed)
        return verify_receipt(
            response.content,
            self.hub_verify_key,
            node_id=self.node_id,
            seq=envelope.header.seq,
            batch_hash=envelope.batch_hash,
        )

    def signed(
        self,
        method: str,
        target: str,
        *,
        json_body: Any = None,
        time_ms: int,
        nonce: str | None = None,
    ) -> httpx.Response:
        assert self.node_id is not None
        body = b"" if json_body is None else httpx.Request("POST", "/", json=json_body).content
        headers = sign_request(
            method,
            target,
            body,
            node_id=self.node_id,
            key=self.signing_key,
            time_ms=time_ms,
            nonce=nonce or secrets.token_hex(16),
        )
        if body:
            headers["content-type"] = "application/json"
        return self.http.request(method, target, content=body, headers=headers)

    def pull(self, after: int, *, time_ms: int, feed: int = FEED_VERSION) -> ChangeSet:
        assert self.hub_verify_key is not None and self.node_id is not None
        target = f"/v1/changes?after={after}&feed={feed}"
        response = self.signed("GET", target, time_ms=time_ms)
        assert response.status_code == 200, response.text
        return open_changes(
            parse_envelope(response.content),
            after=after,
            node_id=self.node_id,
            hub_key=self.hub_verify_key,
            node_key=self.opening_key,
        )
