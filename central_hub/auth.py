"""Who is calling: nodes by request signature, agencies and operators by API token."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from central_hub.errors import Forbidden, Unauthenticated
from central_hub.storage.store import NodeRow, Store, TokenRow
from sync_protocol import ClockError, InvalidKey, InvalidSeal, RecordError, VerifyKey
from sync_protocol.request_auth import parse_request_auth, verify_request_auth

__all__ = ["ROLES", "authenticate_node", "authorize_token", "hash_secret", "new_api_token"]

ROLES = ("agency", "operator")
_TOKEN_PREFIX = "egh_"  # noqa: S105  (a public prefix, not a secret)


def hash_secret(secret: str) -> str:
    """Tokens are stored only as SHA-256: they are 256-bit random, so no slow hash is
    needed, and lookup by hash keeps comparison time independent of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_token() -> str:
    return _TOKEN_PREFIX + secrets.token_urlsafe(32)


def authenticate_node(
    store: Store,
    headers: Mapping[str, str],
    *,
    method: str,
    target: str,
    body: bytes,
    now_ms: int,
    window_ms: int,
) -> NodeRow:
    """The enrolled, unrevoked node that signed this request, or a 401/403 error."""
    try:
        auth = parse_request_auth(headers)
    except RecordError as error:
        raise Unauthenticated("missing_signature", str(error)) from None
    node = store.get_node(auth.node_id)
    if node is None:
        raise Unauthenticated(
            "unknown_node", "this node is not enrolled", hint="enroll the node again"
        )
    if node.status == "revoked":
        raise Forbidden("node_revoked", "this node's enrollment has been revoked")
    try:
        verify_request_auth(
            auth,
            method=method,
            target=target,
            body=body,
            key=VerifyKey(node.verify_key),
            now_ms=now_ms,
            window_ms=window_ms,
        )
    except (InvalidSeal, InvalidKey):
        raise Unauthenticated("invalid_signature", "request signature did not verify") from None
    except ClockError as error:
        raise Unauthenticated(
            "clock_skew",
            str(error),
            hint="set the clock offset from this response's X-EGSync-Time header and retry",
            hub_time_ms=now_ms,
        ) from None
    if not store.remember_nonce(auth.node_id, auth.nonce, now_ms + 2 * window_ms, now_ms):
        raise Unauthenticated("replayed_request", "this request was already received")
    return node


def authorize_token(store: Store, authorization: str | None, *roles: str) -> TokenRow:
    """The bearer API token's holder, if its role is one of ``roles`` (401 if missing or
    unknown, 403 if another role, or an agency token made before tokens were bound to
    one agency)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("missing_token", "send Authorization: Bearer <api token>")
    found = store.api_token(hash_secret(authorization.removeprefix("Bearer ").strip()))
    if found is None:
        raise Unauthenticated("unknown_token", "API token is unknown or revoked")
    if found.role not in roles:
        raise Forbidden("wrong_role", f"this action needs a token with role {' or '.join(roles)}")
    if found.role == "agency" and found.agency_code is None:
        raise Forbidden(
            "token_unscoped",
            "this agency token was made before tokens were bound to one agency",
            hint="issue a new one: central-hub token create --role agency --agency CODE "
            "--name NAME",
        )
    return found
