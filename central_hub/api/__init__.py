"""The hub's HTTP API."""

from __future__ import annotations

from central_hub.api.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
