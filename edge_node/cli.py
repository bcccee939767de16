"""The ``edge-node`` command line, used by center staff and by the node's service.

Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input or an event the workflow does not
allow now (rejected, nothing changed), 4 not enrolled, 5 not everything delivered yet (hub
unreachable or busy; records are safe locally), 6 sealing halted (fork or restore
detected; central IT must act), 7 this node's software must be upgraded (the hub answered
upgrade_required). The one-stop approval commands are in ``edge_node.cli_approvals``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import logging
import os
import sys
from typing import Annotated, Any

import typer

from edge_node._cli_common import (
    EXIT_INVALID_INPUT,
    EXIT_NOT_DELIVERED,
    AsJson,
    DataDir,
    StaffId,
    egp,
    exit_code,
    fail,
    open_node,
    print_json,
)
from edge_node.cli_approvals import register_approval_commands
from edge_node.errors import EdgeError
from edge_node.sealer import DEFAULT_BATCH_RECORDS, SealerConfig
from sync_protocol import PROTOCOL_VERSION, NationalIdError, parse_national_id
from sync_protocol.payload import MAX_RECORDS

app = typer.Typer(
    help="Edge node of a one-stop service center: record transactions offline, sync to the hub.",
    no_args_is_help=True,
    add_completion=False,
)

BatchRecords = Annotated[
    int,
    typer.Option(
        "--batch-records",
        envvar="EDGE_BATCH_RECORDS",
        min=1,
        max=MAX_RECORDS,
        help="Records per batch, at most (fewer on a link too flaky for ~300 kB requests).",
    ),
]


def _parse_fee(text: str | None) -> int | None:
    """``--fee`` is in Egyptian pounds as staff say it (e.g. 25 or 25.50)."""
    if text is None:
        return None
    try:
        amount = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        fail(f"--fee {text!r} is not an amount in EGP (e.g. 25 or 25.50)", EXIT_INVALID_INPUT)
    piasters = amount * 100
    if not amount.is_finite() or piasters != piasters.to_integral_value() or amount < 0:
        fail(f"--fee {text!r} must be >= 0 with at most 2 decimals", EXIT_INVALID_INPUT)
    return int(piasters)


@app.command()
def version() -> None:
    """Print the software and protocol versions."""
    from importlib.metadata import version as package_version

    typer.echo(f"edge-node {package_version('egypt-edge-sync')} (protocol v{PROTOCOL_VERSION})")


@app.command()
def enroll(
    token: Annotated[str, typer.Argument(help="The one-time enrollment token from central IT.")],
    hub: Annotated[str, typer.Option("--hub", help="The hub's URL, e.g. https://hub.example")],
    data_dir: DataDir,
    hub_fingerprint: Annotated[
        str,
        typer.Option(
            "--hub-fingerprint",
            help="The hub key fingerprint central IT gave you (printed by `central-hub "
            "provision`); checked before the token is sent.",
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Make this node's keys here, enroll it with the hub, and pull the service catalog."""
    from edge_node.node import EdgeNode, enroll_node
    from edge_node.sync import sync_round

    if (data_dir / "node.json").exists():
        fail(f"{data_dir} already holds an enrolled node", EXIT_INVALID_INPUT)
    try:
        answer = enroll_node(data_dir, token.strip(), hub, hub_fingerprint=hub_fingerprint)
    except EdgeError as error:
        fail(error, exit_code(error))
    node = EdgeNode.open(data_dir)
    transport = node.transport()
    first_sync: EdgeError | None = None
    try:
        sync_round(node.store, node.identity, transport, node.pii, data_dir=str(data_dir))
    except EdgeError as error:
        first_sync = error
    finally:
        transport.close()
        node.close()
    if as_json:
        print_json({k: answer[k] for k in ("node_id", "center_id", "center_name")})
    else:
        typer.echo(f"enrolled node {answer['node_id']} for {answer['center_name']}")
    if first_sync is not None:
        # Enrolled for good, but recording needs the catalog the first sync brings.
        typer.echo(f"the first sync failed: {first_sync}", err=True)
        typer.echo("hint: run `edge-node sync --once` before recording", err=True)
        raise typer.Exit(EXIT_NOT_DELIVERED)


@app.command()
def record(
    data_dir: DataDir,
    service: Annotated[str, typer.Option("--service", help="Service code from the catalog.")],
    national_id: Annotated[str, typer.Option("--national-id", help="Citizen's national ID.")],
    name: Annotated[str, typer.Option("--name", help="Citizen's full name (Arabic).")],
    fee: Annotated[
        str | None,
        typer.Option("--fee", help="Fee collected in EGP (default: the catalog's fee)."),
    ] = None,
    staff: StaffId = "staff",
    as_json: AsJson = False,
) -> None:
    """Record a citizen transaction (works offline); print its transaction id."""
    from edge_node.capture import record_transaction

    node = open_node(data_dir)
    try:
        created = record_transaction(
            node.store,
            node.capture_context,
            service_code=service,
            national_id=national_id,
            citizen_name=name,
            staff_id=staff,
            now_ms=node.now_ms(),
            fee_piasters=_parse_fee(fee),
        )
    except EdgeError as error:
        fail(error, exit_code(error))
    finally:
        node.close()
    if as_json:
        print_json(
            {
                "transaction_id": str(created.transaction_id),
                "event_id": str(created.event_id),
                "fee_piasters": created.fee_piasters,
            }
        )
        return
    typer.echo(str(created.transaction_id))


# status-change, info-provided, show, info-requests: the one-stop workflow's commands.
register_approval_commands(app)


@app.command()
def services(
    data_dir: DataDir,
    search: Annotated[
        str | None,
        typer.Option("--search", help="Part of a service code or of its Arabic or English name."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The services this center offers (the hub's catalog): code, fee, and the agencies
    whose approval each needs (none: issued at the counter)."""
    from edge_node.catalog import newest_catalog

    node = open_node(data_dir)
    try:
        catalog = newest_catalog(node.store)
    finally:
        node.close()
    if catalog is None:
        fail("no service catalog yet; run `edge-node sync --once` first", EXIT_NOT_DELIVERED)
    wanted = (search or "").strip().casefold()
    rows: list[dict[str, Any]] = [
        {
            "code": s.code,
            "name_ar": s.name_ar,
            "name_en": s.name_en,
            "fee_piasters": s.fee_piasters,
            "approvals": list(s.required_agencies),
        }
        for s in catalog.services
        if s.active
        and (
            not wanted
            or wanted in s.code.casefold()
            or wanted in s.name_en.casefold()
            or wanted in s.name_ar
        )
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no service matches")
    for row in rows:
        needs = ", ".join(row["approvals"]) or "none"
        typer.echo(
            f"{row['code']:<16} {egp(row['fee_piasters']):>14}  approvals: {needs:<40} "
            f"{row['name_ar']} | {row['name_en']}"
        )


@app.command()
def find(
    data_dir: DataDir,
    national_id: Annotated[str, typer.Option("--national-id", help="Citizen's national ID.")],
    as_json: AsJson = False,
) -> None:
    """Find a citizen's transactions at this center by national ID."""
    from edge_node.lookup import find_by_national_id

    node = open_node(data_dir)
    try:
        found = find_by_national_id(node.store, node.pii, national_id)
    finally:
        node.close()
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo("no transactions for that national ID")
    for item in found:
        typer.echo(
            f"{item['transaction_id']}  {item['service_code']:<8} {item['status']:<10} "
            f"{egp(item['fee_piasters'] or 0)}"
        )


@app.command()
def sync(
    data_dir: DataDir,
    once: Annotated[
        bool,
        typer.Option("--once", help="One round, then exit (always so; `run` is the service)."),
    ] = False,
    as_json: AsJson = False,
    batch_records: BatchRecords = DEFAULT_BATCH_RECORDS,
) -> None:
    """Seal pending records, push them, pull changes, heartbeat: one round.

    Exit 0 when everything recorded is at the hub, 5 when something is still waiting
    (hub unreachable or busy), 6 when sealing is halted, 7 when the hub needs a newer
    release of this software (nothing of what it sent was applied)."""
    from edge_node.sync import sync_round

    del once
    node = open_node(data_dir)
    transport = node.transport()
    failure: EdgeError | None = None
    try:
        report = sync_round(
            node.store,
            node.identity,
            transport,
            node.pii,
            data_dir=str(data_dir),
            sealer=SealerConfig(max_records=batch_records),
        )
    except EdgeError as error:
        failure = error  # sync_round has recorded it as the node's last error
    finally:
        transport.close()
    pending = node.store.connection.execute(
        "SELECT (SELECT count(*) FROM outbox) + "
        "(SELECT count(*) FROM batches WHERE acked_at_ms IS NULL)"
    ).fetchone()[0]
    node.close()
    if failure is not None:
        fail(failure, exit_code(failure))
    summary = dataclasses.asdict(report) | {"all_delivered": pending == 0}
    if as_json:
        print_json(summary)
    else:
        typer.echo(
            f"sent {len(report.acknowledged)} batch(es): {report.records_accepted} new at the "
            f"hub, {report.records_known} already there; {report.status_events_received} "
            f"decision and status update(s) received"
        )
    if pending:
        raise typer.Exit(EXIT_NOT_DELIVERED)


@app.command()
def run(
    data_dir: DataDir,
    sync_interval: Annotated[
        float, typer.Option("--sync-interval", help="Seconds between sync rounds.")
    ] = 5.0,
    seal_after: Annotated[
        float, typer.Option("--seal-after", help="Seal a partial batch after this many seconds.")
    ] = 10.0,
    backoff_cap: Annotated[
        float, typer.Option("--backoff-cap", help="Longest wait between failed rounds (s).")
    ] = 300.0,
    batch_records: BatchRecords = DEFAULT_BATCH_RECORDS,
) -> None:
    """Run the node's service: seal and sync on a schedule, back off while the hub is away."""
    from edge_node.backoff import BackoffPolicy
    from edge_node.runner import run_forever

    open_node(data_dir).close()  # fail fast with a clear message if not enrolled
    logging.basicConfig(
        level=os.environ.get("EDGE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_forever(
        data_dir,
        sync_interval_seconds=sync_interval,
        seal_after_seconds=seal_after,
        policy=BackoffPolicy(base_seconds=min(2.0, backoff_cap), cap_seconds=backoff_cap),
        sealer=SealerConfig(max_records=batch_records),
    )


@app.command()
def status(
    data_dir: DataDir,
    as_json: AsJson = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not probe the hub (hub_reachable: null).")
    ] = False,
) -> None:
    """Show the backlog, unsynced fees, last sync and error, and whether the hub answers.

    Also how many transactions await agencies, await this center's answer to an
    information request, and are approved but not yet delivered."""
    from edge_node.status import node_status

    node = open_node(data_dir)
    try:
        report = node_status(node, probe_hub=not offline)
    finally:
        node.close()
    if as_json:
        print_json(report)
        return
    _print_status(report)


def _print_status(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['center_name']} ({report['center_id']})", show_header=False)
    age = report["last_sync_ok_age_s"]
    rows = [
        ("hub", f"{report['hub_url']} ({_reachability(report['hub_reachable'])})"),
        ("recorded", str(report["transactions_recorded"])),
        ("delivered to hub", str(report["transactions_delivered"])),
        ("pending events", str(report["pending_events"])),
        ("unsent batches", str(report["unsent_batches"])),
        ("oldest pending", f"{report['oldest_pending_age_s']} s"),
        ("unsynced fees", egp(report["unsynced_fee_piasters"])),
        ("last sync", "never" if age is None else f"{age} s ago"),
        ("last error", report["last_error"] or "-"),
        ("awaiting agencies", str(report["awaiting_agencies"])),
        ("awaiting our answer", f"{report['awaiting_center_answer']} (edge-node info-requests)"),
        ("approved, to deliver", str(report["approved_not_delivered"])),
    ]
    if report["last_error_code"] == "upgrade_required":
        rows.append(("UPGRADE REQUIRED", "upgrade this node's software (edge-node)"))
    if report["sealing_halted"]:
        rows.append(("SEALING HALTED", report["sealing_halted"]))
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def _reachability(value: bool | None) -> str:
    return {True: "reachable", False: "unreachable", None: "not probed"}[value]


@app.command("check-id")
def check_id(
    national_id: str = typer.Argument(help="The 14-digit Egyptian national ID to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a national ID's structure and show birth date, governorate and gender."""
    try:
        parsed = parse_national_id(national_id, today=dt.datetime.now(dt.UTC).date())
    except NationalIdError as error:
        if as_json:
            typer.echo(json.dumps({"valid": False, "code": error.code, "error": str(error)}))
        else:
            typer.echo(f"invalid: {error}", err=True)
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    fields = dataclasses.asdict(parsed) | {"birth_date": parsed.birth_date.isoformat()}
    if as_json:
        typer.echo(json.dumps({"valid": True, **fields}, ensure_ascii=False))
        return
    for key, value in fields.items():
        typer.echo(f"{key:17} {value}")


def main() -> None:
    """Console-script entry point."""
    os.umask(0o077)  # the database and keys hold citizen data: private to this account
    sys.exit(app())
