"""The ``edge-node`` commands of the one-stop workflow: deliver or cancel
(``status-change``), answer an agency's information request (``info-provided``), show a
transaction with each required agency's decision (``show``), and list the requests the
center has yet to answer (``info-requests``). Registered on the main app by
``edge_node.cli``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from edge_node._cli_common import (
    EXIT_INVALID_INPUT,
    AsJson,
    DataDir,
    StaffId,
    cairo_time,
    egp,
    exit_code,
    fail,
    open_node,
    parse_transaction_id,
    print_json,
)
from edge_node.errors import EdgeError
from edge_node.lookup import MAX_RESULTS

__all__ = ["register_approval_commands"]

TransactionArg = Annotated[str, typer.Argument(help="The transaction id.")]


def status_change(
    transaction_id: TransactionArg,
    state: Annotated[
        str,
        typer.Argument(
            help="delivered (handed to the citizen: once every required agency approved, "
            "or at once if the service needs no approval) or cancelled (while open)."
        ),
    ],
    data_dir: DataDir,
    note: Annotated[str, typer.Option("--note", help="A short note for the record.")] = "",
    staff: StaffId = "staff",
) -> None:
    """Record that a transaction was delivered to the citizen, or cancelled.

    Prints the event id. Agencies decide their parts at the hub; a refusal (e.g.
    delivering before approval, code not_approved) exits 3 and records nothing."""
    from edge_node.capture import record_status_change

    txn = parse_transaction_id(transaction_id)
    node = open_node(data_dir)
    try:
        event = record_status_change(
            node.store,
            node.capture_context,
            transaction_id=txn,
            status=state.strip(),
            staff_id=staff,
            note=note,
            now_ms=node.now_ms(),
        )
    except EdgeError as error:
        fail(error, exit_code(error))
    finally:
        node.close()
    typer.echo(str(event.event_id))


def info_provided(
    transaction_id: TransactionArg,
    data_dir: DataDir,
    agency: Annotated[
        str, typer.Option("--agency", help="The agency that asked (its code, e.g. health).")
    ],
    note: Annotated[
        str, typer.Option("--note", help="What the center provided, as the agency will read it.")
    ],
    staff: StaffId = "staff",
) -> None:
    """Answer an agency's open information request on a transaction (works offline).

    Prints the event id. The agency's review reopens when the answer reaches the hub.
    With no open request from that agency it exits 3 and records nothing."""
    from edge_node.capture import record_info_provided

    txn = parse_transaction_id(transaction_id)
    node = open_node(data_dir)
    try:
        event = record_info_provided(
            node.store,
            node.capture_context,
            transaction_id=txn,
            agency_code=agency,
            note=note,
            staff_id=staff,
            now_ms=node.now_ms(),
        )
    except EdgeError as error:
        fail(error, exit_code(error))
    finally:
        node.close()
    typer.echo(str(event.event_id))


def show(transaction_id: TransactionArg, data_dir: DataDir, as_json: AsJson = False) -> None:
    """Show one transaction: status and each required agency's decision.

    Also service, fee and citizen; per agency its state (pending, info_requested,
    approved, rejected) and the deciding event's time, reason, note and actor."""
    from edge_node.lookup import get_transaction

    txn = parse_transaction_id(transaction_id)
    node = open_node(data_dir)
    try:
        found = get_transaction(node.store, node.pii, txn)
    finally:
        node.close()
    if found is None:
        fail(f"no transaction {transaction_id} at this center", EXIT_INVALID_INPUT)
    if as_json:
        print_json(found)
        return
    _print_transaction(found)


def _print_transaction(found: dict[str, Any]) -> None:
    fee = found["fee_piasters"]
    rows = [
        ("transaction_id", found["transaction_id"]),
        ("service_code", found["service_code"]),
        ("fee", "-" if fee is None else egp(fee)),
        ("national_id", found["national_id"]),
        ("citizen_name", found["citizen_name"]),
        ("status", found["status"]),
        ("recorded_at", cairo_time(found["recorded_at_ms"])),
        ("updated_at", cairo_time(found["updated_at_ms"])),
    ]
    for key, value in rows:
        typer.echo(f"{key:17} {'-' if value is None else value}")
    if found["required_agencies"] == []:
        typer.echo("approvals         none needed")
    elif found["approvals"]:
        typer.echo("approvals")
    for approval in found["approvals"]:
        typer.echo(_approval_line(approval))
    typer.echo("history")
    for entry in found["history"]:
        line = f"  {cairo_time(entry['at_ms'])}  {entry['event']}"
        if entry["agency_code"]:
            line += f" {entry['agency_code']}"
        if entry.get("reason_code"):
            line += f" [{entry['reason_code']}]"
        line += f", by {entry['actor_id']}"
        if entry["note"]:
            line += f": {entry['note']}"
        typer.echo(line)


def _approval_line(approval: dict[str, Any]) -> str:
    names = " | ".join(n for n in (approval["name_ar"], approval["name_en"]) if n)
    line = f"  {approval['agency_code'] or '(service owner)'}"
    if names:
        line += f" ({names})"
    line += f": {approval['state']}"
    if approval["outcome"] is None:
        return line
    if approval["outcome"] != approval["state"]:
        line += f" ({approval['outcome']})"  # e.g. pending again after the center's answer
    line += f", {cairo_time(approval['at_ms'])}"
    if approval["actor_id"]:
        line += f", by {approval['actor_id']}"
    if approval["reason_code"]:
        line += f", reason {approval['reason_code']}"
    if approval["note"]:
        line += f": {approval['note']}"
    return line


def info_requests(
    data_dir: DataDir,
    as_json: AsJson = False,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=MAX_RESULTS, help="List at most this many."),
    ] = MAX_RESULTS,
) -> None:
    """List the information requests this center has yet to answer, oldest first.

    Each: since when, transaction, service, agency, reason and what is asked. Answer
    with `edge-node info-provided`."""
    from edge_node.lookup import open_information_requests

    node = open_node(data_dir)
    try:
        found = open_information_requests(node.store, node.pii, limit=limit)
    finally:
        node.close()
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo("no open information requests")
    for item in found:
        name = item["name_ar"] or item["name_en"] or ""
        reason = f" [{item['reason_code']}]" if item["reason_code"] else ""
        typer.echo(
            f"{cairo_time(item['requested_at_ms'])}  {item['transaction_id']}  "
            f"{item['service_code'] or '-':<10} {item['agency_code']} ({name}){reason}: "
            f"{item['note'] or ''}"
        )


def register_approval_commands(app: typer.Typer) -> None:
    app.command("status-change")(status_change)
    app.command("info-provided")(info_provided)
    app.command()(show)
    app.command("info-requests")(info_requests)
