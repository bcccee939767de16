"""The hub's HTTP API (FastAPI): enrollment, batch ingest, change feed, the agency desk
(queue, one transaction, decisions, approval report), heartbeats and health. Every error
is an RFC 9457 problem body with a stable ``code`` (``central_hub/api/problems.py``);
every request body is bounded before it is parsed.

No ``from __future__ import annotations`` here: FastAPI reads route signatures at run
time, including the ``SignedNode`` alias local to :func:`create_app`."""

import base64
import logging
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from central_hub.agency import MAX_PAGE, approval_report, decide, queue_page, transaction_for_agency
from central_hub.api.admission import IngestGate
from central_hub.api.problems import (
    PROBLEM,
    InternalErrorGuard,
    install_problem_handlers,
    invalid_request,
)
from central_hub.api.time_header import HubTimeHeader
from central_hub.auth import authenticate_node, authorize_token
from central_hub.catalog import ensure_catalog
from central_hub.enrollment import EnrollmentRequest, enroll_node
from central_hub.errors import (
    Gone,
    PayloadTooLarge,
    Retryable,
)
from central_hub.feed import UNASKED_FEED, UNASKED_VERSION, build_changes
from central_hub.gc_tuning import tune_for_serving
from central_hub.ingest import Ingestor
from central_hub.keystore import HubIdentity, load_identity
from central_hub.settings import HubSettings
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine
from central_hub.storage.store import NodeRow, SqlStore, TokenRow
from sync_protocol import (
    FEED_VERSIONS,
    INFORMATION_REASONS,
    PROTOCOL_VERSIONS,
    REJECTION_REASONS,
    HybridClock,
    Limits,
)

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("central_hub.api")
OCTETS = "application/octet-stream"
# Every JSON body (enrollment, heartbeat, agency decision) and every signed request's body
# is read up to this many bytes, then refused with 413 before anything parses it.
MAX_JSON_BYTES = 64 * 1024
# Batch ingests that may wait for a slot in one worker, per slot (``ingest_concurrency``).
INGEST_WAITERS_PER_SLOT = 4
Model = TypeVar("Model", bound=BaseModel)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EnrollBody(BaseModel):
    token: str = Field(max_length=200)
    verify_key: str = Field(max_length=100, description="base64 Ed25519 public key")
    sealing_key: str = Field(max_length=2000, description="base64 ML-KEM-768+X25519 key")
    proof: str = Field(max_length=200, description="base64 signature, see docs/protocol.md")
    software_version: str = Field(max_length=64)


class DecisionBody(BaseModel):
    # Unknown keys are refused, not ignored: a client sending the previous release's
    # actor_id learns that the actor now comes from its token.
    model_config = ConfigDict(extra="forbid")

    decision: str = Field(
        max_length=32, description="approved, rejected or info_requested (this agency's part)"
    )
    reason_code: str = Field(
        default="",
        max_length=32,
        description=f"rejected: one of {', '.join(REJECTION_REASONS)}; info_requested: one of "
        f"{', '.join(INFORMATION_REASONS)}; otherwise empty",
    )
    note: str = Field(
        default="",
        max_length=2000,
        description="what is missing (required with info_requested); at most 500 characters "
        "once cleaned",
    )


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


async def _json_body(request: Request, model: type[Model]) -> Model:
    """The request's JSON body as ``model``: size-bounded first, then parsed once."""
    raw = await _read_body(request, MAX_JSON_BYTES)
    return _parse_json(raw, model)


def _parse_json(raw: bytes, model: type[Model]) -> Model:
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as error:
        raise invalid_request(
            "request body is not valid", error.errors(include_url=False, include_input=False)
        ) from None


def _json_request(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route reads itself (so that it is bounded before parsing)."""
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}}
    return {"requestBody": schema | {"required": True}}


def _target(request: Request) -> str:
    """The request target exactly as it came over the wire, which is what the node signed:
    the raw path (still percent-encoded, with any ASGI root path) and the raw query. The
    decoded ``request.url.path`` would let ``/v1/chain%2Dhead`` and ``/v1/chain-head``
    share one signature."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


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
    ingestor = Ingestor(
        store,
        identity,
        clock_ms=clock_ms,
        limits=limits,
        hold_seconds=settings.ingest_hold_ms / 1000,
    )
    hub_clock = HybridClock(identity.node_id, clock_ms)
    gate = IngestGate(
        settings.ingest_concurrency,
        wait_seconds=settings.ingest_wait_ms / 1000,
        max_waiting=INGEST_WAITERS_PER_SLOT * settings.ingest_concurrency,
    )

    app = FastAPIOffline(
        title="Central hub: Egypt service-center sync",
        version="1",
        description="Ingest API for edge nodes, change feed, agency decisions. "
        "Wire format: docs/protocol.md.",
        # Declaring 4XX keeps FastAPI from advertising its 422, which the hub never sends.
        responses={
            "4XX": {
                "description": "A problem body (RFC 9457) with a stable `code`",
                "content": {PROBLEM: {"schema": {"type": "object"}}},
            }
        },
    )
    # Added innermost first: the guard turns a crash into a 500 problem, and the time
    # header, outside it, stamps that answer like every other.
    app.add_middleware(InternalErrorGuard)
    app.add_middleware(HubTimeHeader, clock_ms=clock_ms)
    install_problem_handlers(app)
    app.state.store = store
    app.state.engine = engine

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

    def agency_token(authorization: Annotated[str | None, Header()] = None) -> TokenRow:
        # A dependency, so it runs before the path and body are validated: a caller
        # without a token learns nothing about what the route would accept.
        return authorize_token(store, authorization, "agency")

    def reader_token(authorization: Annotated[str | None, Header()] = None) -> TokenRow:
        return authorize_token(store, authorization, "agency", "operator")

    Agency = Annotated[TokenRow, Depends(agency_token)]
    Reader = Annotated[TokenRow, Depends(reader_token)]

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

    @app.post("/v1/enroll", tags=["nodes"], openapi_extra=_json_request(EnrollBody))
    async def enroll(request: Request) -> dict[str, object]:
        """Redeem a one-time enrollment token for a new node of the token's center."""
        body = await _json_body(request, EnrollBody)

        def run() -> dict[str, object]:
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

        return await run_in_threadpool(run)

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
        # Admitted after the body is read: a slow link must not hold a slot while it
        # uploads. Waiting for a slot holds the (bounded) body, never a thread.
        async with gate:
            receipt = await run_in_threadpool(ingestor.ingest, body)
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
    def changes(
        signed: SignedNode,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        envelope: Annotated[
            int, Query(ge=min(PROTOCOL_VERSIONS), le=max(PROTOCOL_VERSIONS))
        ] = UNASKED_VERSION,
        feed: Annotated[int, Query(ge=min(FEED_VERSIONS), le=max(FEED_VERSIONS))] = UNASKED_FEED,
    ) -> Response:
        """Catalog versions, agency decisions and revocations after ``after``, sealed to
        the calling node (a CHANGES envelope of the version it asks for,
        ``UNASKED_VERSION`` if it does not). ``feed=2``: the node reads decisions and
        catalogs with approvals; a node that does not say so gets ``426
        upgrade_required`` when one is next."""
        node, _ = signed
        sealed = build_changes(
            store,
            identity,
            node,
            after=after,
            now_ms=clock_ms(),
            page_size=settings.changes_page_size,
            page_bytes=settings.changes_page_bytes,
            version=envelope,
            feed=feed,
        )
        return Response(sealed, media_type=OCTETS)

    @app.post("/v1/heartbeat", tags=["nodes"], openapi_extra=_json_request(HeartbeatBody))
    def heartbeat(signed: SignedNode) -> dict[str, object]:
        """Store the node's backlog and health report for central IT."""
        node, raw = signed  # read (bounded) and authenticated by ``signed_node``
        body = _parse_json(raw, HeartbeatBody)
        report = body.model_dump(exclude={"chain_state"})
        store.save_heartbeat(node.node_id, report, clock_ms())
        if body.chain_state != "ok":
            # The node found its chain contradicts the hub's (restored from an old backup,
            # cloned disk) and stopped sealing: raise it to central IT like a fork.
            store.mark_forked(node.node_id)
            log.error("node reports %s chain: %s", body.chain_state, node.node_id)
        return {"status": "stored"}

    @app.get("/v1/agency/queue", tags=["agencies"])
    def agency_queue(
        token: Agency,
        center: Annotated[str | None, Query(max_length=64)] = None,
        service: Annotated[str | None, Query(max_length=32)] = None,
        after: Annotated[str | None, Query(max_length=80)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, object]:
        """The transactions waiting on this token's agency, oldest wait first, with every
        required agency's state; filter by center and service. Page with ``after`` = the
        ``next`` of the previous page."""
        assert token.agency_code is not None  # agency_token refuses an unscoped token
        return queue_page(
            store,
            token.agency_code,
            center_id=center,
            service_code=service,
            after=after,
            limit=limit,
            now_ms=clock_ms(),
        )

    @app.get("/v1/agency/transactions/{transaction_id}", tags=["agencies"])
    def agency_transaction(token: Agency, transaction_id: uuid.UUID) -> dict[str, object]:
        """One transaction that needs this token's agency: every part's state and the
        decision events (no citizen PII)."""
        assert token.agency_code is not None
        return transaction_for_agency(store, token.agency_code, transaction_id)

    @app.post(
        "/v1/agency/transactions/{transaction_id}/decisions",
        tags=["agencies"],
        openapi_extra=_json_request(DecisionBody),
    )
    async def agency_decide(
        token: Agency,
        transaction_id: uuid.UUID,
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str,
            Header(
                min_length=8,
                max_length=128,
                pattern=r"^[\x21-\x7e]+$",
                description="a key unique to this decision (e.g. a UUID): a resent request "
                "with the same key gets the same answer and decides nothing twice",
            ),
        ],
    ) -> dict[str, object]:
        """This agency's decision on its part of a transaction: approved, rejected (with
        a reason code) or info_requested (with what is missing). The actor is the token's
        holder. It reaches the center through its change feed."""
        body = await _json_body(request, DecisionBody)
        assert token.agency_code is not None
        answer, replayed = await run_in_threadpool(
            lambda: decide(
                store,
                hub_clock,
                agency_code=token.agency_code,  # type: ignore[arg-type]
                actor_id=token.name,
                transaction_id=transaction_id,
                decision=body.decision,
                reason_code=body.reason_code,
                note=body.note,
                idempotency_key=idempotency_key,
                now_ms=clock_ms(),
            )
        )
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return answer

    @app.get("/v1/approvals", tags=["agencies"])
    def approvals(
        token: Reader, days: Annotated[int, Query(ge=1, le=366)] = 30
    ) -> dict[str, object]:
        """Per agency: time from recording to decision (median, p90) over the last
        ``days``, and per center how many transactions wait on it or on the center's
        answer. An agency token sees its own agency; an operator token, every agency."""
        return approval_report(
            store,
            agency_code=token.agency_code if token.role == "agency" else None,
            days=days,
            now_ms=clock_ms(),
        )

    @app.api_route("/v1/transactions", methods=["GET"], include_in_schema=False, tags=["agencies"])
    @app.api_route(
        "/v1/transactions/{transaction_id}/status",
        methods=["POST"],
        include_in_schema=False,
        tags=["agencies"],
    )
    def retired_agency_routes() -> None:
        """The previous release's agency routes: one status for the whole transaction."""
        raise Gone(
            "route_retired",
            "agencies now decide their own part of a transaction",
            hint="use GET /v1/agency/queue and POST /v1/agency/transactions/{id}/decisions "
            "with a token from `central-hub token create --role agency --agency CODE`",
        )

    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from HUB_* variables."""
    app = create_app(HubSettings.load(), run_migrations=False)
    tune_for_serving()
    return app
