"""Layering rules from DESIGN.md, checked on the source: sync_protocol is pure (stdlib,
cryptography, orjson and Zstandard only: computation, no I/O) and imports neither side; edge_node
and central_hub never import each other."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sync_protocol", "edge_node", "central_hub")


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level module names imported by each file of ``package``."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_every_package_has_source() -> None:
    for package in PACKAGES:
        assert _imports(package), f"{package} has no Python files"


def test_sync_protocol_uses_only_the_standard_library_cryptography_orjson_and_zstd() -> None:
    # backports.zstd is compression.zstd before Python 3.14 (stdlib from then on).
    allowed = set(sys.stdlib_module_names) | {"cryptography", "orjson", "sync_protocol"}
    allowed |= {"backports", "compression"}
    allowed.add("__future__")
    offenders = {
        path: sorted(names - allowed)
        for path, names in _imports("sync_protocol").items()
        if names - allowed
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("package", "forbidden"), [("edge_node", "central_hub"), ("central_hub", "edge_node")]
)
def test_the_two_sides_never_import_each_other(package: str, forbidden: str) -> None:
    offenders = sorted(path for path, names in _imports(package).items() if forbidden in names)
    assert offenders == []
