"""The node accepts the hub's sealing key only under the hub's signature."""

from __future__ import annotations

import base64
import uuid

import pytest

from edge_node.errors import EnrollmentFailed
from edge_node.node import _require_signed_answer
from sync_protocol import OpeningKey, SigningKey
from sync_protocol.request_auth import enrollment_answer_message

NODE_ID = uuid.UUID("01900000-0000-7000-8000-000000000009")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def keys() -> tuple[SigningKey, OpeningKey, SigningKey]:
    return SigningKey.generate(), OpeningKey.generate(), SigningKey.generate()


def _answer(hub: SigningKey, sealing: bytes, node_key: bytes) -> dict[str, object]:
    message = enrollment_answer_message(NODE_ID, "arish", node_key, hub.public.to_bytes(), sealing)
    return {
        "node_id": str(NODE_ID),
        "center_id": "arish",
        "hub_verify_key": _b64(hub.public.to_bytes()),
        "hub_sealing_key": _b64(sealing),
        "hub_signature": _b64(hub.sign(message)),
    }


def test_a_signed_answer_is_accepted(keys) -> None:  # type: ignore[no-untyped-def]
    hub, sealing, node = keys
    node_key = node.public.to_bytes()
    answer = _answer(hub, sealing.public.to_bytes(), node_key)
    _require_signed_answer(answer, hub.public, node_key)


def test_a_swapped_sealing_key_is_refused(keys) -> None:  # type: ignore[no-untyped-def]
    hub, sealing, node = keys
    node_key = node.public.to_bytes()
    answer = _answer(hub, sealing.public.to_bytes(), node_key)
    answer["hub_sealing_key"] = _b64(OpeningKey.generate().public.to_bytes())  # a MITM's key
    with pytest.raises(EnrollmentFailed, match="not signed"):
        _require_signed_answer(answer, hub.public, node_key)


@pytest.mark.parametrize(
    "change",
    [
        {"hub_signature": None},
        {"hub_signature": "not base64!"},
        {"center_id": "aswan"},
        {"node_id": str(uuid.uuid4())},
    ],
)
def test_a_missing_or_mismatched_signature_is_refused(keys, change) -> None:  # type: ignore[no-untyped-def]
    hub, sealing, node = keys
    node_key = node.public.to_bytes()
    answer = _answer(hub, sealing.public.to_bytes(), node_key)
    for key, value in change.items():
        if value is None:
            del answer[key]
        else:
            answer[key] = value
    with pytest.raises(EnrollmentFailed):
        _require_signed_answer(answer, hub.public, node_key)
