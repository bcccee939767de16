"""Real processes on 127.0.0.1 for end-to-end tests: start, wait until ready, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from demo.cluster import child_hub_ready, free_port
from demo.cluster import wait_until as wait_for

__all__ = ["HubProcess", "free_port", "run_cli", "wait_for"]


def run_cli(program: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m <program> args`` to completion; return stdout, fail loudly."""
    result = subprocess.run(
        [sys.executable, "-m", program, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{program} {args} failed: {result.stderr}"
    return result.stdout


class HubProcess:
    """``central-hub serve`` as a child process on a free port of 127.0.0.1."""

    def __init__(self, data_dir: Path, db_url: str, *, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"hub-{self.port}.log"

    def init(self) -> dict[str, str]:
        return json.loads(run_cli("central_hub", "init", *self._where(), "--json"))

    def provision(self, center: str, name: str) -> str:
        return str(self.provision_facts(center, name)["token"])

    def provision_facts(self, center: str, name: str) -> dict[str, str]:
        """What ``central-hub provision --json`` prints: token, hub URL, fingerprint."""
        out = run_cli(
            "central_hub", "provision", "--center", center, "--name", name, *self._where(), "--json"
        )
        facts: dict[str, str] = json.loads(out)
        return facts

    def _where(self) -> Sequence[str]:
        return ("--data-dir", str(self.data_dir), "--db", self.db_url)

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = self._spawn(log, extra_env)
        wait_for(self._ready, timeout_s=60, what=f"hub on port {self.port} to be ready")

    def _spawn(self, log: object, extra_env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "central_hub",
                "serve",
                *self._where(),
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            stdout=log,  # type: ignore[arg-type]
            stderr=log,  # type: ignore[arg-type]
            env={**os.environ, **(extra_env or {})},
            start_new_session=True,  # so kill() reaches uvicorn's worker processes too
        )

    def _ready(self) -> bool:
        assert self.process is not None
        return child_hub_ready(self.process, self.url, self.log)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, no flushing."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
