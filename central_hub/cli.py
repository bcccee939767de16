"""The ``central-hub`` command line.

Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input (rejected, nothing changed),
4 not initialised (run ``central-hub init``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from central_hub.auth import ROLES, hash_secret, new_api_token
from central_hub.catalog import ensure_catalog, publish_catalog
from central_hub.enrollment import provision_center
from central_hub.feed import publish_revocations
from central_hub.gc_tuning import tune_for_serving
from central_hub.keystore import KeystoreError, create_identity, load_identity
from central_hub.settings import HubSettings
from central_hub.storage import migrate
from central_hub.storage.engine import create_hub_engine, is_sqlite
from central_hub.storage.store import SqlStore
from sync_protocol import PROTOCOL_VERSION, SyncError

EXIT_INVALID_INPUT = 3
EXIT_NOT_INITIALISED = 4

app = typer.Typer(
    help="Central hub: enroll center nodes, ingest their batches, serve the change feed.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
catalog_app = typer.Typer(help="The service catalog every center uses.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for agencies and operators.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(token_app, name="token")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Hub data directory (keys, SQLite file). Env: HUB_DATA_DIR."),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="sqlite:///path or postgresql://... (default: hub.db in the data dir). "
        "Env: HUB_DB_URL.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _settings(data_dir: Path | None, db: str | None) -> HubSettings:
    return HubSettings.load(data_dir=data_dir, db_url=db)


def _store(settings: HubSettings) -> SqlStore:
    engine = create_hub_engine(settings.database_url)
    migrate.upgrade(engine)
    return SqlStore(engine)


def _fail(message: str, code: int = 1, hint: str | None = None) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the software and protocol versions."""
    from importlib.metadata import version as package_version

    typer.echo(f"central-hub {package_version('egypt-edge-sync')} (protocol v{PROTOCOL_VERSION})")


@app.command()
def init(data_dir: DataDir = None, db: DbUrl = None, as_json: AsJson = False) -> None:
    """Create the hub's keys (0600 files), migrate the database, publish the shipped catalog."""
    settings = _settings(data_dir, db)
    try:
        identity = create_identity(settings.data_dir)
    except KeystoreError as error:
        raise _fail(str(error)) from None
    ensure_catalog(_store(settings), _now_ms())
    facts = identity.describe() | {"data_dir": str(settings.data_dir)}
    typer.echo(json.dumps(facts) if as_json else "\n".join(f"{k}: {v}" for k, v in facts.items()))


@app.command()
def serve(
    data_dir: DataDir = None,
    db: DbUrl = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8700,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Run the HTTP API (uvicorn). Applies pending migrations first."""
    import uvicorn

    settings = _settings(data_dir, db)
    try:
        identity = load_identity(settings.data_dir)
    except KeystoreError as error:
        raise _fail(str(error), EXIT_NOT_INITIALISED, "run `central-hub init` first") from None
    if workers > 1 and is_sqlite(settings.database_url):
        raise _fail("--workers > 1 needs PostgreSQL", 2, "pass --db postgresql://...")
    store = _store(settings)
    ensure_catalog(store, _now_ms())
    store.engine.dispose()
    typer.echo(f"central-hub listening on http://{host}:{port} (docs at /docs)", err=True)
    if workers == 1:
        from central_hub.api import create_app

        hub_app = create_app(settings, identity=identity, run_migrations=False)
        tune_for_serving()
        uvicorn.run(
            hub_app,
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=settings.keep_alive_seconds,
        )
        return
    os.environ.update(settings.to_env())
    uvicorn.run(
        "central_hub.api:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_keep_alive=settings.keep_alive_seconds,
    )


@app.command()
def provision(
    center: Annotated[str, typer.Option(help="Center id, e.g. arish.")],
    name: Annotated[str, typer.Option(help="Center name, e.g. 'مركز خدمات مصر بالعريش'.")],
    hub_url: Annotated[
        str, typer.Option(help="URL nodes use to reach this hub.")
    ] = "http://127.0.0.1:8700",
    data_dir: DataDir = None,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create a center (or rename it) and print a one-time enrollment token for its node."""
    settings = _settings(data_dir, db)
    try:
        identity = load_identity(settings.data_dir)
    except KeystoreError as error:
        raise _fail(str(error), EXIT_NOT_INITIALISED, "run `central-hub init` first") from None
    try:
        issued = provision_center(
            _store(settings),
            center,
            name,
            now_ms=_now_ms(),
            ttl_hours=settings.enrollment_token_ttl_hours,
        )
    except SyncError as error:
        raise _fail(str(error), EXIT_INVALID_INPUT) from None
    facts: dict[str, Any] = {
        "center_id": issued.center_id,
        "token": issued.token,
        "expires_at_ms": issued.expires_at_ms,
        "hub_url": hub_url,
        "hub_signing_fingerprint": identity.signing_key.public.fingerprint,
    }
    if as_json:
        typer.echo(json.dumps(facts))
        return
    for key, value in facts.items():
        typer.echo(f"{key}: {value}")
    typer.echo(
        f"\nOn the center's node:\n  edge-node enroll {issued.token} --hub {hub_url} "
        f"--hub-fingerprint {facts['hub_signing_fingerprint']} --data-dir /var/lib/edge-node",
        err=True,
    )


@app.command()
def status(data_dir: DataDir = None, db: DbUrl = None, as_json: AsJson = False) -> None:
    """Every center's sync health: chain state, last contact, reported backlog and fees."""
    from central_hub.monitoring import fleet_status

    rows = fleet_status(_store(_settings(data_dir, db)).engine, _now_ms())
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    _print_fleet(rows)


def _print_fleet(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"ok": "green", "backlog": "yellow", "silent": "red", "forked": "bold red"}
    table = Table(title="Centers")
    for column in ("center", "health", "node", "last contact", "pending", "oldest", "unsynced"):
        table.add_column(
            column, justify="left" if column in ("center", "health", "node") else "right"
        )
    for row in rows:
        colour = colours.get(row["health"], "dim")
        age = row["heartbeat_age_s"]
        table.add_row(
            row["center_id"],
            f"[{colour}]{row['health']}[/{colour}]",
            (row["node_id"] or "-")[:8],
            "never" if age is None else f"{_span(age)} ago",
            "-" if row["pending_events"] is None else str(row["pending_events"]),
            "-" if row["oldest_pending_age_s"] is None else _span(row["oldest_pending_age_s"]),
            "-"
            if row["unsynced_fee_piasters"] is None
            else f"{row['unsynced_fee_piasters'] / 100:,.2f} EGP",
        )
    Console().print(table)


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@app.command()
def revoke(
    node_id: Annotated[str, typer.Argument(help="The node id to revoke.")],
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Revoke a node: its next request gets 403, and every center learns of it."""
    import uuid

    settings = _settings(data_dir, db)
    store = _store(settings)
    try:
        parsed = uuid.UUID(node_id)
    except ValueError:
        raise _fail(f"{node_id!r} is not a node id", EXIT_INVALID_INPUT) from None
    if not store.set_node_status(parsed, "revoked", _now_ms()):
        raise _fail(f"no node {node_id}", EXIT_INVALID_INPUT)
    publish_revocations(store, _now_ms())
    typer.echo(f"revoked {node_id}", err=True)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Apply pending schema migrations (safe to run on several hosts at once)."""
    settings = _settings(data_dir, db)
    engine = create_hub_engine(settings.database_url)
    migrate.upgrade(engine)
    typer.echo(f"database at revision {migrate.current_revision(engine)}", err=True)


@catalog_app.command("agencies")
def catalog_agencies(data_dir: DataDir = None, db: DbUrl = None, as_json: AsJson = False) -> None:
    """The agencies of the current catalog, with how many services each must approve
    (which ones: `central-hub catalog services --agency CODE`)."""
    catalog = _store(_settings(data_dir, db)).current_catalog()
    if catalog is None:
        raise _fail("no catalog published", EXIT_NOT_INITIALISED, "run `central-hub init`")
    rows = []
    for code in catalog.agency_codes():
        agency = catalog.agency(code)
        assert agency is not None
        approves = sum(1 for service in catalog.services if code in service.required_agencies)
        rows.append(
            {
                "code": code,
                "name_ar": agency.name_ar,
                "name_en": agency.name_en,
                "approves": approves,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        count = row["approves"]
        typer.echo(
            f"{row['code']:<30} approves {count:>3} service{'' if count == 1 else 's'}  "
            f"{row['name_en']}"
        )


@catalog_app.command("services")
def catalog_services(
    agency: Annotated[
        str | None, typer.Option(help="Only the services this agency must approve.")
    ] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The services of the current catalog: code, fee, and the agencies each needs."""
    catalog = _store(_settings(data_dir, db)).current_catalog()
    if catalog is None:
        raise _fail("no catalog published", EXIT_NOT_INITIALISED, "run `central-hub init`")
    rows: list[dict[str, Any]] = [
        {
            "code": service.code,
            "name_ar": service.name_ar,
            "name_en": service.name_en,
            "fee_piasters": service.fee_piasters,
            "active": service.active,
            "approvals": list(service.required_agencies),
        }
        for service in catalog.services
        if agency is None or agency in service.required_agencies
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        needs = ", ".join(row["approvals"]) or "-"
        retired = "" if row["active"] else "  (retired)"
        typer.echo(
            f"{row['code']:<16} {row['fee_piasters'] / 100:>10,.2f} EGP  {needs:<45} "
            f"{row['name_en']}{retired}"
        )


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="Catalog JSON file (see central_hub/data).")],
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Publish a new catalog version to every center (must be higher than the current)."""
    store = _store(_settings(data_dir, db))
    before = store.latest_catalog()
    try:
        version_number = publish_catalog(store, file.read_bytes(), _now_ms())
    except SyncError as error:
        raise _fail(str(error), EXIT_INVALID_INPUT) from None
    if before is not None and before[0] == version_number:
        typer.echo(f"catalog version {version_number} is already published; nothing changed")
        return
    typer.echo(f"published catalog version {version_number}", err=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[
        str,
        typer.Option(
            help="Who holds it, e.g. officer-12 or cd-desk-arish (lowercase letters, digits, "
            "'-'): an agency's decisions are recorded with this as their actor."
        ),
    ],
    agency: Annotated[
        str | None,
        typer.Option(
            help="With --role agency: the one agency (catalog code, e.g. civil-defense) "
            "whose part this token decides. Required for agency tokens."
        ),
    ] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from central_hub.agency import agency_known
    from sync_protocol import TextError
    from sync_protocol.text import require_slug

    if role not in ROLES:
        raise _fail(f"role must be one of {', '.join(ROLES)}", 2)
    if (role == "agency") != (agency is not None):
        raise _fail("--agency CODE goes with --role agency, and only with it", 2)
    try:
        require_slug(name, field="name")
    except TextError as error:
        raise _fail(str(error), EXIT_INVALID_INPUT) from None
    settings = _settings(data_dir, db)
    store = _store(settings)
    if agency is not None and (unknown := agency_known(store, agency)) is not None:
        raise _fail(unknown.detail, EXIT_INVALID_INPUT, "list them: central-hub catalog agencies")
    if store.api_token_named(name):
        raise _fail(
            f"a token named {name} exists already",
            EXIT_INVALID_INPUT,
            "one name per holder: it is the actor of their decisions and how a token is revoked",
        )
    token = new_api_token()
    store.create_api_token(hash_secret(token), role, name, _now_ms(), agency_code=agency)
    facts = {"token": token, "role": role, "name": name, "agency": agency}
    typer.echo(json.dumps(facts) if as_json else token)


@app.command()
def approvals(
    agency: Annotated[
        str | None, typer.Option(help="One agency (catalog code); default every agency.")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Decisions of the last N days.")] = 30,
    data_dir: DataDir = None,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """How fast each agency decides (median and p90 from recording to decision) and how
    many transactions wait on it, in all and per center."""
    from central_hub.agency import agency_known, approval_report

    store = _store(_settings(data_dir, db))
    if agency is not None and (unknown := agency_known(store, agency)) is not None:
        raise _fail(unknown.detail, EXIT_INVALID_INPUT, "list them: central-hub catalog agencies")
    report = approval_report(store, agency_code=agency, days=days, now_ms=_now_ms())
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print_approvals(report)


def _print_approvals(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Agency decisions, last {report['days']} days")
    columns = ("agency / center", "decided", "median", "p90", "waiting", "oldest", "info asked")
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right")
    for row in report["agencies"]:
        table.add_row(
            f"[bold]{row['agency_code']}[/bold]",
            str(row["decided"]),
            _maybe_span(row["median_decision_seconds"]),
            _maybe_span(row["p90_decision_seconds"]),
            str(row["waiting"]),
            _maybe_span(row["oldest_waiting_seconds"]),
            str(row["info_requested"]),
        )
        for center in row["centers"]:
            table.add_row(
                f"  {center['center_id']}",
                "",
                "",
                "",
                str(center["waiting"]),
                _maybe_span(center["oldest_waiting_seconds"]),
                str(center["info_requested"]),
            )
    Console().print(table)


def _maybe_span(seconds: float | None) -> str:
    return "-" if seconds is None else _span(int(seconds))


def main() -> None:
    """Console-script entry point."""
    # Everything the hub creates (the data dir, hub.db with its -wal and -shm files, key
    # files) is for the hub's user only: SQLite would otherwise follow the caller's umask.
    os.umask(0o077)
    sys.exit(app())
