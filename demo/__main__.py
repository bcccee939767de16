"""``python -m demo``: run the hub + three centers demo (see :mod:`demo.run`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from demo.run import DemoOptions, run_demo


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="A hub and three centers (Arish, Sharm El-Sheikh, Aswan) through outages.",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of work (60)")
    parser.add_argument("--data-dir", type=Path, default=Path("demo-data"))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--plain", action="store_true", help="print periodic tables instead of a live view"
    )
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough that tables do not wrap
        console = Console(width=120)
    options = DemoOptions(
        data_dir=args.data_dir.resolve(),
        duration_s=args.duration,
        seed=args.seed,
        live=console.is_terminal and not args.plain,
    )
    try:
        return 0 if run_demo(options, console) else 1
    except KeyboardInterrupt:  # during set-up or the drain; every process is stopped by now
        console.print("[yellow]interrupted; every process the demo started is stopped[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
