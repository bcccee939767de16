"""Hub settings: defaults, then an optional TOML file (``HUB_CONFIG``), then ``HUB_*``
environment variables. Secrets are never settings: keys live in files under the data dir."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["HubSettings"]


@dataclass(frozen=True, slots=True)
class HubSettings:
    data_dir: Path = Path("var/hub")
    db_url: str = ""  # empty: sqlite file in data_dir
    max_body_bytes: int = 16 * 1024 * 1024
    max_records_per_batch: int = 10_000
    ingest_concurrency: int = 8
    ingest_wait_ms: int = 1000  # longest wait for an ingest slot before 503
    # Longest a batch waits for its predecessor, sent just before it, to be stored.
    ingest_hold_ms: int = 3000
    # How long an idle keep-alive connection stays open. A node's next request on a
    # connection can sit behind the other batch's bytes on a slow link's buffers for
    # seconds; uvicorn's own 5 s closes it under the node (nginx's default is 75 s).
    keep_alive_seconds: int = 75
    enrollment_token_ttl_hours: int = 72
    request_window_ms: int = 5 * 60 * 1000
    changes_page_size: int = 200  # changes per page of the feed, at most
    # ... and bytes of change JSON per page, at most (a page always holds at least one
    # change; the feed also keeps every page within the envelope bounds a node accepts).
    changes_page_bytes: int = 4 * 1024 * 1024

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @classmethod
    def load(cls, **overrides: Any) -> HubSettings:
        """Build settings from HUB_CONFIG (TOML), HUB_* variables, then ``overrides``."""
        settings = cls()
        values: dict[str, Any] = {}
        config = os.environ.get("HUB_CONFIG")
        if config:
            with open(config, "rb") as handle:
                values.update(tomllib.load(handle))
        for field in fields(cls):
            env = os.environ.get(f"HUB_{field.name.upper()}")
            if env is not None:
                values[field.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown hub settings: {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            default = getattr(settings, name)
            if isinstance(default, Path):
                converted[name] = Path(value)
            elif isinstance(default, int):
                converted[name] = int(value)
            else:
                converted[name] = str(value)
        return replace(settings, **converted)

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in a worker process."""
        return {f"HUB_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}
