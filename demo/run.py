"""``make demo``: a hub and three centers through outages, with real processes on
127.0.0.1, ending with a check that nothing was lost or duplicated."""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from demo.cluster import (
    ManagedProcess,
    edge_cli,
    free_port,
    hub_cli,
    hub_ready,
    port_is_listening,
    wait_until,
)
from demo.dashboard import CenterFigures, read_figures, render
from demo.fault_proxy import ProxyThread
from demo.scenario import AGENCIES, CENTERS, GOOD, CenterPlan
from demo.staff import FrontDesk
from demo.verify import CenterCheck, check_center, read_decisions

__all__ = ["DemoOptions", "run_demo"]

MARKER = ".egsync-demo"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    data_dir: Path
    duration_s: float = 60.0
    drain_timeout_s: float = 60.0
    seed: int = 2026
    live: bool = True


@dataclass(slots=True)
class Center:
    plan: CenterPlan
    data_dir: Path
    proxy: ProxyThread
    desk: FrontDesk
    link_label: str = "up"

    @property
    def edge_db(self) -> Path:
        return self.data_dir / "edge.db"


@dataclass(slots=True)
class Cluster:
    base: Path
    hub_dir: Path
    hub_url: str = ""
    hub_port: int = 0
    processes: list[ManagedProcess] = field(default_factory=list)
    centers: list[Center] = field(default_factory=list)

    def decisions_file(self, agency_code: str) -> Path:
        return self.base / f"decisions-{agency_code}.jsonl"

    def decisions(self) -> list[dict[str, str]]:
        """Every decision the agencies logged, from each agency's file."""
        return [
            line
            for plan in AGENCIES
            for line in read_decisions(self.decisions_file(plan.agency_code))
        ]


def _fresh_dir(path: Path) -> None:
    """Start from nothing, but only ever wipe a directory an earlier demo made."""
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise SystemExit(f"{path} exists and is not a demo directory; pass another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by `make demo`; safe to delete\n", encoding="utf-8")


def _start(cluster: Cluster, options: DemoOptions, stack: ExitStack, console: Console) -> None:
    base = cluster.base
    hub_cli(cluster.hub_dir, "init")
    cluster.hub_port = free_port()
    cluster.hub_url = f"http://127.0.0.1:{cluster.hub_port}"
    hub = ManagedProcess.module(
        "hub",
        "central_hub",
        "serve",
        "--data-dir",
        str(cluster.hub_dir),
        "--port",
        str(cluster.hub_port),
        log_dir=base,
    )
    cluster.processes.append(hub)
    wait_until(lambda: hub_ready(cluster.hub_url), timeout_s=60, what="the hub")
    console.print(f"hub up at {cluster.hub_url} (API docs: {cluster.hub_url}/docs)")

    for index, plan in enumerate(CENTERS):
        facts = hub_cli(
            cluster.hub_dir, "provision", "--center", plan.center_id, "--name", plan.name_ar
        )
        proxy = ProxyThread("127.0.0.1", cluster.hub_port, GOOD)
        proxy.start()
        stack.callback(proxy.stop)
        edge_dir = base / f"edge-{plan.center_id}"
        edge_cli(
            edge_dir,
            "enroll",
            str(facts["token"]),
            "--hub",
            f"http://127.0.0.1:{proxy.port}",
            "--hub-fingerprint",
            str(facts["hub_signing_fingerprint"]),
            "--data-dir",
            str(edge_dir),
        )
        cluster.processes.append(
            ManagedProcess.module(
                f"edge-{plan.center_id}",
                "edge_node",
                "run",
                "--data-dir",
                str(edge_dir),
                "--sync-interval",
                "1",
                "--seal-after",
                "2",
                "--backoff-cap",
                "4",
                log_dir=base,
                EDGE_LOG_LEVEL="WARNING",
            )
        )
        desk = FrontDesk(
            plan.center_id, edge_dir, mean_gap_s=plan.mean_gap_s, seed=options.seed + index
        )
        cluster.centers.append(Center(plan, edge_dir, proxy, desk))
        console.print(f"enrolled {plan.name_en} ({plan.name_ar}) through its link proxy")

    for index, agency in enumerate(AGENCIES):
        token = hub_cli(
            cluster.hub_dir,
            "token",
            "create",
            "--role",
            "agency",
            "--agency",
            agency.agency_code,
            "--name",
            f"{agency.agency_code}-desk",
        )
        cluster.processes.append(
            ManagedProcess.module(
                f"agency-{agency.agency_code}",
                "demo.agency",
                "--hub",
                cluster.hub_url,
                "--agency",
                agency.agency_code,
                "--decisions",
                str(cluster.decisions_file(agency.agency_code)),
                "--every",
                str(agency.every_s),
                "--ask-info",
                str(agency.ask_info),
                "--reject",
                str(agency.reject),
                "--seed",
                str(options.seed + 100 + index),
                log_dir=base,
                AGENCY_TOKEN=str(token["token"]),
            )
        )
    console.print(
        f"{len(AGENCIES)} agencies deciding at the hub, each with a token bound to it: "
        + ", ".join(agency.agency_code for agency in AGENCIES)
    )


def _figures(cluster: Cluster) -> list[CenterFigures]:
    return [
        read_figures(center.plan.short_name, center.link_label, center.edge_db)
        for center in cluster.centers
    ]


def _apply_links(cluster: Cluster, fraction: float) -> None:
    for center in cluster.centers:
        label, profile = center.plan.link(fraction)
        if label != center.link_label:
            center.proxy.set_profile(profile)
            center.link_label = label


def _working_day(cluster: Cluster, options: DemoOptions, console: Console) -> None:
    """Staff record while the links come and go; Ctrl-C ends the day early."""
    for center in cluster.centers:
        center.desk.start()
    started = time.monotonic()
    last_print = 0.0

    def table() -> Table:
        elapsed = time.monotonic() - started
        return render(
            _figures(cluster),
            title=f"Egypt one-stop service centers — {elapsed:4.0f}s of {options.duration_s:.0f}s",
            footer=f"API docs {cluster.hub_url}/docs · Ctrl-C ends early",
        )

    try:
        with (
            Live(table(), console=console, refresh_per_second=2, transient=False)
            if (options.live)
            else ExitStack() as live
        ):
            while (elapsed := time.monotonic() - started) < options.duration_s:
                _apply_links(cluster, elapsed / options.duration_s)
                if isinstance(live, Live):
                    live.update(table())
                elif elapsed - last_print >= 5:
                    console.print(table())
                    last_print = elapsed
                time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("[yellow]Ctrl-C: ending the working day early[/yellow]")
    for center in cluster.centers:
        center.desk.stop()
    for center in cluster.centers:
        center.desk.join(timeout=10)


def _drain(cluster: Cluster, options: DemoOptions, console: Console) -> None:
    """Heal every link, stop the agencies, and wait until every center has delivered
    everything and holds every decision, each transaction as the hub sees it."""
    for center in cluster.centers:
        center.proxy.set_profile(GOOD)
        center.link_label = "healed"
    for process in cluster.processes:
        if process.name.startswith("agency-"):
            process.stop()
    console.print("links healed; waiting for the centers to drain...")
    decisions = cluster.decisions()

    def drained() -> bool:
        checks = _checks(cluster, decisions)
        return all(c.passed for c in checks)

    try:
        wait_until(drained, timeout_s=options.drain_timeout_s, what="the centers to drain")
    except TimeoutError as error:
        console.print(f"[red]{error}[/red]")


def _checks(cluster: Cluster, decisions: list[dict[str, str]]) -> list[CenterCheck]:
    return [
        check_center(c.plan.center_id, c.edge_db, cluster.hub_dir / "hub.db", decisions)
        for c in cluster.centers
    ]


def _report(checks: list[CenterCheck], console: Console) -> bool:
    table = Table(title="Verification: each center's records against the hub", show_edge=False)
    columns = (
        "center",
        "recorded",
        "at hub",
        "missing",
        "dup.",
        "fees EGP",
        "decisions",
        "same state",
        "in scope",
        "",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "center" else "right", no_wrap=True)
    for c in checks:
        fees = f"{c.fees_local / 100:,.2f}"
        if c.fees_hub != c.fees_local:
            fees += f" ≠ {c.fees_hub / 100:,.2f}"
        arrived = c.decisions - len(c.decisions_missing)
        table.add_row(
            c.center_id,
            str(c.recorded),
            str(c.at_hub),
            str(c.missing),
            str(c.duplicated),
            fees,
            f"{arrived}/{c.decisions}",
            f"{c.recorded - len(c.states_differ)}/{c.recorded}",
            "yes" if not c.out_of_scope else f"{len(c.out_of_scope)} not",
            "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]",
        )
    table.caption = (
        "fees: at the center (≠ at the hub if they differ); decisions: of those the "
        "agencies made for the center, how many reached it; same state: transactions "
        "whose status and every agency's decision are the same at the center and the hub; "
        "in scope: each decision by an agency the service needs, under its own token"
    )
    console.print(table)
    for c in checks:
        shown = ", ".join(f"{status} {count}" for status, count in sorted(c.statuses.items()))
        kinds = c.decision_kinds
        console.print(
            f"  {c.center_id}: {shown}; agencies approved {kinds.get('approved', 0)}, "
            f"rejected {kinds.get('rejected', 0)}, asked for information "
            f"{kinds.get('info_requested', 0)} times, the center answered "
            f"{kinds.get('info_provided', 0)}"
        )
    passed = all(c.passed for c in checks) and all(c.recorded > 0 for c in checks)
    if passed:
        console.print(
            "[bold green]verification passed[/bold green]: every transaction recorded is at "
            "the hub exactly once, fees match, every agency decision arrived, each "
            "transaction's decisions and status are the same at its center and the hub, and "
            "no agency decided outside its scope"
        )
    else:
        console.print("[bold red]verification FAILED[/bold red]")
    return passed


def _stop_all(cluster: Cluster, console: Console) -> bool:
    for center in cluster.centers:
        center.desk.stop()
    for process in reversed(cluster.processes):
        process.stop()
    ports = [cluster.hub_port] + [c.proxy.port for c in cluster.centers]
    for center in cluster.centers:
        center.proxy.stop()
    listening = [port for port in ports if port and port_is_listening(port)]
    if listening:
        console.print(f"[red]still listening on {listening}[/red]")
    return not listening


def run_demo(options: DemoOptions, console: Console) -> bool:
    """Run the whole demo; True if every check passed and everything was stopped."""
    _fresh_dir(options.data_dir)
    cluster = Cluster(base=options.data_dir, hub_dir=options.data_dir / "hub")
    with ExitStack() as stack:
        try:
            _start(cluster, options, stack, console)
            _working_day(cluster, options, console)
            _drain(cluster, options, console)
            checks = _checks(cluster, cluster.decisions())
        finally:
            clean = _stop_all(cluster, console)
        passed = _report(checks, console)
    console.print(f"logs and databases: {options.data_dir}")
    return passed and clean
