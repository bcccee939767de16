"""The hub's HTTP API (FastAPI): enrollment, batch ingest, change feed, agency decisions,
heartbeats and health. Every error is an RFC 9457 problem body with a stable ``code``.

No ``from __future__ import annotations`` here: FastAPI reads route signatures at run
time, including the ``SignedNode`` alias local to :func:`create_app`."""

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from central_hub.api.time_header import HubTimeHeader
from central_hub.auth import authenticate_node, authorize_token
from central_hub.catalog import ensure_catalog
from central_hub.enrollment import EnrollmentRequest, enroll_node
from central_hub.errors import (
    BadRequest,
    HubError,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    Retryable,
)
from central_hub.feed import build_changes, record_agency_decision
from central_hub.ingest import Ingestor
from central_hub.keystore import HubIdentity, load_identity
from central_hub.settings import HubSettings
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import NodeRow, SqlStore
from sync_protocol import STATUSES, HybridClock, Limits, ValidationError

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("central_hub.api")
PROBLEM = "application/problem+json"
OCTETS = "application/octet-stream"
MAX_JSON_BYTES = 64 * 1024


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EnrollBody(BaseModel):
    token: str = Field(max_length=200)
    verify_key: str = Field(max_length=100, description="base64 Ed25519 public key")
    sealing_key: str = Field(max_length=2000, description="base64 ML-KEM-768+X25519 key")
    proof: str = Field(max_length=200, description="base64 signature, see docs/protocol.md")
    software_version: str = Field(max_length=64)


class DecisionBody(BaseModel):
    status: str = Field(description=f"one of {', '.join(STATUSES)}")
    actor_id: str = Field(max_length=64, description="agency or operator id (slug)")
    note: str = Field(default="", max_length=2000)


class HeartbeatBody(BaseModel):
    pending_events: int = Field(ge=0, le=10**12)
    unsent_batches: int = Field(ge=0, le=10**12)
    oldest_pending_age_s: int = Field(ge=0, le=10**12)
    unsynced_fee_piasters: int = Field(ge=0, le=10**15)
    clock_offset_ms: int = Field(ge=-(10**12), le=10**12)
    software_version: str = Field(max_length=64)
    disk_free_bytes: int = Field(ge=0, le=10**18)
    chain_state: Literal["ok", "restored", "forked"] = Field(
        default="ok", description="the node's own view of its chain (restore/fork detected)"
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing to buffer more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge("body_too_large", f"request body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("body_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class _Gate:
    """Bounds concurrent ingests in this worker; beyond it callers get 503 + Retry-After."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    def __enter__(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise Overloaded("overloaded", "the hub is busy ingesting; retry shortly")

    def __exit__(self, *_: object) -> None:
        self._slots.release()


def create_app(
    settings: HubSettings,
    *,
    identity: HubIdentity | None = None,
    clock_ms: Callable[[], int] = _wall_clock_ms,
    run_migrations: bool = True,
) -> FastAPI:
    """Build the ASGI app for ``settings``; migrations run first unless told otherwise."""
    engine = create_hub_engine(settings.database_url)
    store = SqlStore(engine)
    if run_migrations:
        migrate.upgrade(engine)
        ensure_catalog(store, clock_ms())
    identity = identity or load_identity(settings.data_dir)
    limits = Limits(
        max_envelope_bytes=settings.max_body_bytes,
        max_records=settings.max_records_per_batch,
    )
    ingestor = Ingestor(store, identity, clock_ms=clock_ms, limits=limits)
    hub_clock = HybridClock(identity.node_id, clock_ms)
    gate = _Gate(settings.ingest_concurrency)

    app = FastAPIOffline(
        title="Central hub: Egypt service-center sync",
        version="1",
        description="Ingest API for edge nodes, change feed, agency decisions. "
        "Wire format: docs/protocol.md.",
    )
    app.add_middleware(HubTimeHeader, clock_ms=clock_ms)
    app.state.store = store
    app.state.engine = engine

    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, error: HubError) -> JSONResponse:
        headers = {}
        if isinstance(error, Retryable):
            headers["Retry-After"] = str(error.retry_after_seconds)
        return JSONResponse(
            error.problem(), status_code=error.status, media_type=PROBLEM, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problem = BadRequest("invalid_request", "request body or parameters are invalid")
        body = problem.problem() | {
            "status": 422,
            "errors": [
                {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                for e in error.errors()
            ][:20],
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        body = HubError("internal_error", "the hub hit an unexpected error").problem()
        return JSONResponse(body, status_code=500, media_type=PROBLEM)

    async def signed_node(request: Request) -> tuple[NodeRow, bytes]:
        body = await _read_body(request, MAX_JSON_BYTES)
        node = await run_in_threadpool(
            authenticate_node,
            store,
            request.headers,
            method=request.method,
            target=_target(request),
            body=body,
            now_ms=clock_ms(),
            window_ms=settings.request_window_ms,
        )
        return node, body

    SignedNode = Annotated[tuple[NodeRow, bytes], Depends(signed_node)]

    @app.get("/livez", tags=["health"])
    @app.get("/healthz", tags=["health"], include_in_schema=False)
    def livez() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, str]:
        """The database answers and its schema is at the current migration."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = migrate.is_current(engine)
        except Exception as error:
            log.warning("readiness check failed: %s", type(error).__name__)
            raise Retryable("database_unavailable", "the database is not reachable") from None
        if not current:
            raise Retryable(
                "migrations_pending",
                "the database schema is not current",
                hint="run `central-hub db upgrade`",
            )
        return {"status": "ready"}

    @app.get("/v1/hub-keys", tags=["nodes"])
    def hub_keys() -> dict[str, str]:
        """The hub's public keys and fingerprints. A node checks the signing fingerprint
        it was given out of band before it sends its enrollment token."""
        public = identity.signing_key.public
        sealing = identity.opening_key.public
        return {
            "hub_node_id": str(identity.node_id),
            "hub_verify_key": base64.b64encode(public.to_bytes()).decode(),
            "hub_sealing_key": base64.b64encode(sealing.to_bytes()).decode(),
            "hub_signing_fingerprint": public.fingerprint,
            "hub_sealing_fingerprint": sealing.fingerprint,
        }

    @app.post("/v1/enroll", tags=["nodes"])
    def enroll(body: EnrollBody) -> dict[str, object]:
        """Redeem a one-time enrollment token for a new node of the token's center."""
        latest = store.latest_catalog()
        return enroll_node(
            store,
            identity,
            EnrollmentRequest(
                token=body.token,
                verify_key_b64=body.verify_key,
                sealing_key_b64=body.sealing_key,
                proof_b64=body.proof,
                software_version=body.software_version,
            ),
            now_ms=clock_ms(),
            catalog_version=latest[0] if latest else 0,
        )

    @app.post(
        "/v1/batches",
        tags=["nodes"],
        openapi_extra={
            "requestBody": {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}
        },
    )
    async def post_batch(request: Request) -> Response:
        """Ingest one sealed batch; answers with the hub-signed receipt (JSON)."""
        body = await _read_body(request, settings.max_body_bytes)

        def run() -> bytes:
            with gate:
                return ingestor.ingest(body)

        receipt = await run_in_threadpool(run)
        return Response(receipt, media_type="application/json")

    @app.get("/v1/chain-head", tags=["nodes"])
    def chain_head(signed: SignedNode) -> dict[str, object]:
        """The calling node's last accepted batch seq and hash."""
        node, _ = signed
        return {
            "node_id": str(node.node_id),
            "seq": node.head_seq,
            "batch_hash": node.head_hash.hex(),
            "status": node.status,
        }

    @app.get("/v1/changes", tags=["nodes"], response_class=Response)
    def changes(signed: SignedNode, after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> Response:
        """Catalog versions, status events and revocations after ``after``, sealed to the
        calling node (a CHANGES envelope)."""
        node, _ = signed
        sealed = build_changes(
            store,
            identity,
            node,
            after=after,
            now_ms=clock_ms(),
            page_size=settings.changes_page_size,
        )
        return Response(sealed, media_type=OCTETS)

    @app.post("/v1/heartbeat", tags=["nodes"])
    def heartbeat(signed: SignedNode) -> dict[str, object]:
        """Store the node's backlog and health report for central IT."""
        node, raw = signed
        try:
            body = HeartbeatBody.model_validate_json(raw)
        except ValueError:
            raise BadRequest("invalid_request", "heartbeat body is not valid") from None
        report = body.model_dump(exclude={"chain_state"})
        store.save_heartbeat(node.node_id, report, clock_ms())
        if body.chain_state != "ok":
            # The node found its chain contradicts the hub's (restored from an old backup,
            # cloned disk) and stopped sealing: raise it to central IT like a fork.
            store.mark_forked(node.node_id)
            log.error("node reports %s chain: %s", body.chain_state, node.node_id)
        return {"status": "stored"}

    @app.post("/v1/transactions/{transaction_id}/status", tags=["agencies"])
    def decide(
        transaction_id: uuid.UUID,
        body: DecisionBody,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        """Record an agency decision; it flows to the center that owns the transaction."""
        authorize_token(store, authorization, "agency")
        center = store.transaction_center(transaction_id)
        if center is None:
            raise NotFound("unknown_transaction", "no transaction with this id has reached the hub")
        if body.status not in STATUSES:
            raise BadRequest("invalid_status", f"status must be one of {', '.join(STATUSES)}")
        try:
            record = record_agency_decision(
                store,
                hub_clock,
                transaction_id=transaction_id,
                center_id=center,
                status=body.status,
                actor_id=body.actor_id,
                note=body.note,
                now_ms=clock_ms(),
            )
        except ValidationError as error:
            raise BadRequest(error.code, str(error)) from None
        return {
            "event_id": str(record.event_id),
            "transaction_id": str(transaction_id),
            "status": record.status,
            "current_status": store.transaction_status(transaction_id),
        }

    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from HUB_* variables."""
    return create_app(HubSettings.load(), run_migrations=False)
