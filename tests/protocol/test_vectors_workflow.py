"""The one-stop approval vectors (``tests/vectors/workflow_v1.json``) against
``sync_protocol``: canonical record bytes, the state after each event of the story in any
order of arrival, the workflow's refusals and their codes, the previous release's form,
and a decision change; and the generator reproduces the file byte for byte."""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from sync_protocol import (
    Record,
    WorkflowError,
    check_agency_decision,
    check_center_event,
    decode_json,
    derive_state,
    encode_json,
    record_from_dict,
    record_to_dict,
    summarize,
)
from sync_protocol.changes import DecisionChange, _change_from_dict

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DATA: dict[str, Any] = json.loads((VECTORS / "workflow_v1.json").read_text(encoding="utf-8"))
RECORDS: list[Record] = [record_from_dict(item["wire"]) for item in DATA["records"]]
BY_ID = {str(record.event_id): record for record in RECORDS}
TXN = RECORDS[0].transaction_id


def _state(txn: uuid.UUID, events: list[Record], legacy: str | None) -> dict[str, Any]:
    state = derive_state(txn, events, legacy)
    return {
        "status": state.status,
        "required_agencies": list(state.required_agencies),
        "decisions": {
            d.agency_code: {
                "state": d.state,
                "event_id": None if d.event is None else str(d.event.event_id),
            }
            for d in state.decisions
        },
        "deciding_event_id": None
        if state.deciding_event is None
        else str(state.deciding_event.event_id),
    }


@pytest.mark.parametrize("item", DATA["records"], ids=lambda item: item["wire"]["type"])
def test_each_record_encodes_to_its_canonical_json(item: dict[str, Any]) -> None:
    record = record_from_dict(item["wire"])
    assert encode_json(record_to_dict(record)).decode() == item["canonical_json"]
    assert record_from_dict(decode_json(item["canonical_json"].encode())) == record


@pytest.mark.parametrize("step", range(len(DATA["story"])))
def test_the_state_after_each_event_whatever_the_order(step: int) -> None:
    expected = DATA["story"][step]
    events = [BY_ID[event_id] for event_id in expected["events"]]
    orders = list(itertools.permutations(events)) if len(events) <= 5 else []
    rng = random.Random(step)
    orders += [rng.sample(events, len(events)) for _ in range(50)]
    for order in orders:
        assert _state(TXN, list(order), None) == expected["state"]


@pytest.mark.parametrize("case", DATA["refusals"], ids=lambda case: case["why"])
def test_the_rules_refuse_with_the_codes_given(case: dict[str, Any]) -> None:
    events = [*RECORDS[: case["after_events"]]]
    events += [record_from_dict(item) for item in case.get("and_then", [])]
    summary = summarize(record_to_dict(event) for event in events)
    try:
        if case["maker"] == "center":
            check_center_event(summary, record_to_dict(record_from_dict(case["record"])))
        else:
            check_agency_decision(summary, case["agency_code"], case["decision"])
        code = None
    except WorkflowError as error:
        code = error.code
    assert code == case["code"]


def test_a_previous_release_transaction_is_decided_by_its_services_owner() -> None:
    legacy = DATA["previous_release"]
    events = [record_from_dict(item) for item in legacy["records"]]
    assert "required_agencies" not in legacy["records"][0]
    state = _state(events[0].transaction_id, events, legacy["legacy_agency"])
    assert state == legacy["state"]


def test_a_decision_change_round_trips() -> None:
    section = DATA["decision_change"]
    change = _change_from_dict(section["change"])
    assert isinstance(change, DecisionChange) and change.record == RECORDS[3]
    payload = decode_json(section["payload_text"].encode())
    assert encode_json(payload).decode() == section["payload_text"]


def test_the_generator_reproduces_the_file() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_workflow_vectors", VECTORS / "make_workflow_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render(generator.build()) == (VECTORS / "workflow_v1.json").read_text(
        encoding="utf-8"
    )
