"""The ``central-hub`` command as an operator runs it (a real process, started from a
permissive umask): everything it creates in the data dir is private to the hub's user."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path


def _hub(*args: str) -> str:
    """Run ``python -m central_hub ARGS`` from a shell whose umask lets everyone read."""
    command = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "central_hub", *args))
    result = subprocess.run(
        ["/bin/sh", "-c", f"umask 022 && exec {command}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_and_provision_leave_nothing_readable_by_others(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    where = ("--data-dir", str(data_dir))
    _hub("init", *where, "--json")
    issued = json.loads(
        _hub("provision", "--center", "arish", "--name", "العريش", *where, "--json")
    )
    assert issued["token"].startswith("ege_")

    created = [data_dir, *sorted(data_dir.rglob("*"))]
    names = {path.relative_to(data_dir).as_posix() for path in created}
    assert {"hub.db", "keys/hub-signing.key", "keys/hub-opening.key"} <= names
    exposed = {
        path.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(path.stat().st_mode))
        for path in created
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    }
    assert exposed == {}


def test_the_shell_those_commands_start_from_really_lets_others_read(tmp_path: Path) -> None:
    # The check above would pass vacuously if the test process's own umask were strict.
    probe = tmp_path / "probe"
    subprocess.run(["/bin/sh", "-c", f"umask 022 && touch {shlex.quote(str(probe))}"], check=True)
    assert os.stat(probe).st_mode & stat.S_IROTH


def test_catalog_import_of_the_current_version_says_nothing_changed(tmp_path: Path) -> None:
    where = ("--data-dir", str(tmp_path / "hub"))
    _hub("init", *where)
    shipped = Path(__file__).resolve().parents[2] / "central_hub" / "data" / "catalog.json"
    assert "nothing changed" in _hub("catalog", "import", str(shipped), *where)
    newer = json.loads(shipped.read_text(encoding="utf-8"))
    newer["version"] += 1
    (tmp_path / "v2.json").write_text(json.dumps(newer, ensure_ascii=False), encoding="utf-8")
    assert "nothing changed" not in _hub("catalog", "import", str(tmp_path / "v2.json"), *where)
