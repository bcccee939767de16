"""Time-ordered identifiers (UUIDv7, RFC 9562) for events, transactions and nodes."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import Final

from sync_protocol.errors import RecordError

__all__ = ["new_uuid7", "parse_uuid", "uuid7_unix_ms"]

_MAX_UNIX_MS = (1 << 48) - 1
# The canonical text of a UUIDv7 with the RFC 9562 variant: exactly what ``parse_uuid``
# accepts for ``version=7``, checked in one match instead of a parse and a re-render.
_CANONICAL_UUID7: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
# ``uuid.UUID(text)`` re-checks what the regex above already guarantees; setting its two
# slots directly gives the same object (``int``, ``is_safe``) in under half the time.
_NEW: Final = object.__new__
_SET_INT: Final[Callable[[uuid.UUID, int], None]] = uuid.UUID.__dict__["int"].__set__
_SET_IS_SAFE: Final[Callable[[uuid.UUID, uuid.SafeUUID], None]] = uuid.UUID.__dict__[
    "is_safe"
].__set__
_UNKNOWN: Final = uuid.SafeUUID.unknown


def new_uuid7(now_ms: int, *, random_bytes: Callable[[int], bytes] = os.urandom) -> uuid.UUID:
    """Return a UUIDv7 for the Unix time ``now_ms`` (milliseconds) with 74 random bits."""
    if not 0 <= now_ms <= _MAX_UNIX_MS:
        raise ValueError("now_ms is outside the 48-bit UUIDv7 timestamp range")
    rand = int.from_bytes(random_bytes(10), "big")
    rand_a = (rand >> 64) & 0x0FFF
    rand_b = rand & ((1 << 62) - 1)
    value = _NEW(uuid.UUID)  # as ``uuid.UUID(int=...)``, whose checks the bits pass
    _SET_INT(value, (now_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)
    _SET_IS_SAFE(value, _UNKNOWN)
    return value


def uuid7_unix_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds encoded in a UUIDv7."""
    return value.int >> 80


def _uuid_from_canonical(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for a ``text`` already known to be a canonical UUID string."""
    value = _NEW(uuid.UUID)
    _SET_INT(value, int(text.replace("-", ""), 16))
    _SET_IS_SAFE(value, _UNKNOWN)
    return value


def _is_uuid7_text(value: object) -> bool:
    """``value`` is the canonical text of a UUIDv7 (``parse_uuid`` would accept it)."""
    return type(value) is str and _CANONICAL_UUID7.fullmatch(value) is not None


def parse_uuid(value: object, *, field: str, version: int | None = 7) -> uuid.UUID:
    """Parse a canonical lowercase UUID string; with ``version`` set, require that version."""
    if version == 7 and type(value) is str and _CANONICAL_UUID7.fullmatch(value):
        return _uuid_from_canonical(value)
    if not isinstance(value, str) or len(value) != 36:
        raise RecordError(f"{field} must be a canonical UUID string", field=field)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise RecordError(f"{field} must be a canonical UUID string", field=field) from None
    if str(parsed) != value:
        raise RecordError(f"{field} must be a canonical lowercase UUID string", field=field)
    if version is not None and (parsed.version != version or parsed.variant != uuid.RFC_4122):
        raise RecordError(f"{field} must be a UUIDv{version}", field=field)
    return parsed
