"""The demo's real processes on 127.0.0.1: one hub and an ``edge-node run`` per center,
plus the CLI calls that set them up. Every process runs in its own session so stopping
it stops all of its children too."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

__all__ = [
    "ManagedProcess",
    "child_hub_ready",
    "edge_cli",
    "free_port",
    "hub_cli",
    "hub_ready",
    "port_is_listening",
    "wait_until",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.1)


def _run(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 (our own CLIs, argv list, no shell)
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} {args[0]} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def hub_cli(data_dir: Path, *args: str) -> dict[str, object]:
    """Run a ``central-hub`` command with ``--json`` and return its answer."""
    out = _run("central_hub", *args, "--data-dir", str(data_dir), "--json")
    answer: dict[str, object] = json.loads(out)
    return answer


def edge_cli(data_dir: Path, *args: str) -> str:
    return _run("edge_node", *args, env={"EDGE_DATA_DIR": str(data_dir)})


class ManagedProcess:
    """A long-running child with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        with log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(  # noqa: S603 (argv list, no shell)
                argv,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,  # Ctrl-C in the terminal reaches only the demo
            )
        self.log_path = log_path

    @classmethod
    def module(
        cls, name: str, module: str, *args: str, log_dir: Path, **env: str
    ) -> ManagedProcess:
        return cls(name, [sys.executable, "-m", module, *args], log_dir / f"{name}.log", env)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM the process group, then SIGKILL if it does not go; return the exit code."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=timeout_s)


def child_hub_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """:func:`hub_ready` for a hub we started: if it has exited, fail at once with the end
    of its log instead of waiting out the timeout."""
    if process.poll() is not None:
        raise RuntimeError(f"hub exited early: {log_path.read_text(errors='replace')[-4000:]}")
    return hub_ready(url)


def hub_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
