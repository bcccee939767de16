"""Hybrid logical clock (Kulkarni et al.): causal order that stays close to wall time.

A stamp is ``(wall_ms, counter, node_id)``. Its text form is fixed-width, so sorting the
strings sorts the stamps: ``000001767225600000-00000-<node uuid>``.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sync_protocol.errors import ClockError, RecordError
from sync_protocol.ids import _uuid_from_canonical

__all__ = ["MAX_COUNTER", "HlcStamp", "HybridClock", "stamp_node_text", "tick_after"]

MAX_COUNTER: Final = 99_999
_MAX_WALL_MS: Final = 10**18 - 1
_WALL_DIGITS: Final = 18
_NODE_AT: Final = _WALL_DIGITS + 1 + 5 + 1  # where the node id starts in the text
_TEXT_LENGTH: Final = _NODE_AT + 36
# Exactly the texts ``HlcStamp.decode`` accepts: digits, dashes and a canonical UUID.
_CANONICAL_TEXT: Final = re.compile(
    r"[0-9]{18}-[0-9]{5}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# Node ids already parsed from canonical text: a batch's stamps all name one node.
_NODE_IDS: dict[str, uuid.UUID] = {}
_NODE_IDS_LIMIT: Final = 1024
_NODE_TEXTS: dict[uuid.UUID, str] = {}  # and the other way, for encoding


@dataclass(frozen=True, slots=True, order=True)
class HlcStamp:
    wall_ms: int
    counter: int
    node_id: uuid.UUID

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= _MAX_WALL_MS or not 0 <= self.counter <= MAX_COUNTER:
            raise ClockError("HLC stamp out of range")

    def encode(self) -> str:
        node = _NODE_TEXTS.get(self.node_id)
        if node is None:
            node = str(self.node_id)
            if len(_NODE_TEXTS) < _NODE_IDS_LIMIT:
                _NODE_TEXTS[self.node_id] = node
        return f"{self.wall_ms:018d}-{self.counter:05d}-{node}"  # 018: _WALL_DIGITS

    @classmethod
    def decode(cls, text: object, *, field: str = "hlc") -> HlcStamp:
        if cls is HlcStamp:
            stamp = _decode_canonical(text)
            if stamp is not None:
                return stamp
        elif type(text) is str and _CANONICAL_TEXT.fullmatch(text):
            return cls(int(text[:_WALL_DIGITS]), int(text[19:24]), _node_id(text[_NODE_AT:]))
        return cls._decode_checked(text, field)

    @classmethod
    def _decode_checked(cls, text: object, field: str) -> HlcStamp:
        if not isinstance(text, str) or len(text) != _TEXT_LENGTH:
            raise RecordError(f"{field} is not an HLC stamp", field=field)
        wall, counter, node = text[:_WALL_DIGITS], text[19:24], text[_NODE_AT:]
        if text[18] != "-" or text[24] != "-":
            raise RecordError(f"{field} is not an HLC stamp", field=field)
        if not (wall.isascii() and wall.isdigit() and counter.isascii() and counter.isdigit()):
            raise RecordError(f"{field} is not an HLC stamp", field=field)
        try:
            node_id = uuid.UUID(node)
        except ValueError:
            raise RecordError(f"{field} has a malformed node id", field=field) from None
        if str(node_id) != node:
            raise RecordError(f"{field} has a non-canonical node id", field=field)
        return cls(int(wall), int(counter), node_id)


def _node_id(node: str) -> uuid.UUID:
    """The node id of canonical UUID text ``node``; a batch's stamps all name one node."""
    node_id = _NODE_IDS.get(node)
    if node_id is None:
        node_id = _uuid_from_canonical(node)
        if len(_NODE_IDS) < _NODE_IDS_LIMIT:
            _NODE_IDS[node] = node_id
    return node_id


# The canonical regex bounds wall (18 digits) and counter (5 digits) to the ranges
# ``__post_init__`` checks, so a stamp decoded from canonical text skips the constructor
# and sets its slots directly: the same object, in a third of the time.
_NEW: Final = object.__new__
_SET_WALL: Final[Callable[[HlcStamp, int], None]] = HlcStamp.__dict__["wall_ms"].__set__
_SET_COUNTER: Final[Callable[[HlcStamp, int], None]] = HlcStamp.__dict__["counter"].__set__
_SET_NODE: Final[Callable[[HlcStamp, uuid.UUID], None]] = HlcStamp.__dict__["node_id"].__set__


def stamp_node_text(text: str) -> str:
    """The node id in the canonical text of a stamp (``HlcStamp.encode``), which ends it."""
    return text[_NODE_AT:]


def _is_stamp_text(text: object) -> bool:
    """``text`` is a canonical stamp (``HlcStamp.decode`` would accept it)."""
    return type(text) is str and _CANONICAL_TEXT.fullmatch(text) is not None


def _decode_canonical(text: object) -> HlcStamp | None:
    """``HlcStamp.decode(text)`` if ``text`` is a canonical stamp, else None (no error: the
    caller's plain path reports it)."""
    if type(text) is not str or _CANONICAL_TEXT.fullmatch(text) is None:
        return None
    return _stamp_from_canonical(text)


def _stamp_from_canonical(text: str) -> HlcStamp:
    """``HlcStamp.decode(text)`` for a ``text`` already known to be a canonical stamp."""
    node = text[_NODE_AT:]
    node_id = _NODE_IDS.get(node)
    stamp = _NEW(HlcStamp)
    _SET_WALL(stamp, int(text[:_WALL_DIGITS]))
    _SET_COUNTER(stamp, int(text[19:24]))
    _SET_NODE(stamp, _node_id(node) if node_id is None else node_id)
    return stamp


class HybridClock:
    """One node's HLC. ``now_ms`` is injected so tests control physical time.

    ``max_forward_ms`` bounds how far ahead of local physical time a remote stamp may pull
    this clock; a stamp beyond it raises :class:`ClockError` and leaves the clock unchanged.
    """

    def __init__(
        self,
        node_id: uuid.UUID,
        now_ms: Callable[[], int],
        *,
        max_forward_ms: int = 24 * 3600 * 1000,
        last: HlcStamp | None = None,
    ) -> None:
        self._node_id = node_id
        self._now_ms = now_ms
        self._max_forward_ms = max_forward_ms
        self._wall = last.wall_ms if last else 0
        self._counter = last.counter if last else 0
        self._lock = threading.Lock()

    def tick(self) -> HlcStamp:
        """Stamp a local event (or a message about to be sent)."""
        with self._lock:
            self._wall, self._counter = _ticked(self._wall, self._counter, self._now_ms())
            return HlcStamp(self._wall, self._counter, self._node_id)

    def observe(self, remote: HlcStamp) -> HlcStamp:
        """Merge a received stamp so later local stamps order after it."""
        with self._lock:
            physical = self._now_ms()
            if remote.wall_ms - physical > self._max_forward_ms:
                raise ClockError(
                    f"remote HLC is {remote.wall_ms - physical} ms ahead of local time"
                )
            wall = max(self._wall, remote.wall_ms, physical)
            if wall == self._wall and wall == remote.wall_ms:
                counter = _next_counter(max(self._counter, remote.counter))
            elif wall == self._wall:
                counter = _next_counter(self._counter)
            elif wall == remote.wall_ms:
                counter = _next_counter(remote.counter)
            else:
                counter = 0
            self._wall, self._counter = wall, counter
            return HlcStamp(wall, counter, self._node_id)


def tick_after(last: HlcStamp | None, node_id: uuid.UUID, physical_ms: int) -> HlcStamp:
    """The stamp ``HybridClock(node_id, now, last=last).tick()`` gives at ``physical_ms``,
    without building a clock: for a writer that reads the last stamp from its store for
    each event, under the store's write lock."""
    wall, counter = (0, 0) if last is None else (last.wall_ms, last.counter)
    return HlcStamp(*_ticked(wall, counter, physical_ms), node_id)


def _ticked(wall: int, counter: int, physical_ms: int) -> tuple[int, int]:
    """(wall, counter) after a local tick at ``physical_ms``."""
    return (physical_ms, 0) if physical_ms > wall else (wall, _next_counter(counter))


def _next_counter(counter: int) -> int:
    if counter >= MAX_COUNTER:
        raise ClockError("HLC counter exhausted within one millisecond")
    return counter + 1
