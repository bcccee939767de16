"""Chain rules: where an incoming batch stands against the node's accepted history.

Each node's batches form a hash chain: batch ``seq`` carries the ``batch_hash`` of batch
``seq - 1`` as ``prev_hash`` (:data:`~sync_protocol.envelope.GENESIS_HASH` for seq 1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sync_protocol.envelope import GENESIS_HASH

__all__ = ["PIPELINE_DEPTH", "ChainHead", "ChainVerdict", "Classification", "classify_batch"]

# Batches of one node that may be in flight at once. The node sends batch n+1 before the
# receipt for n arrives; the hub holds a batch whose predecessor is still being stored
# (for at most a few seconds) instead of answering ``chain_gap``, so it opens and
# validates n+1 while n commits. A batch further ahead than this is a gap at once.
PIPELINE_DEPTH = 2


class ChainVerdict(enum.Enum):
    NEXT = "next"  # extends the head: ingest it
    DUPLICATE = "duplicate"  # already accepted, byte for byte: answer with the old receipt
    GAP = "gap"  # batches are missing before it: ask for ``expected_seq``
    FORK = "fork"  # contradicts accepted history: quarantine, never merge


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last accepted batch of a node; ``seq`` 0 means none yet."""

    seq: int = 0
    batch_hash: bytes = GENESIS_HASH


@dataclass(frozen=True, slots=True)
class Classification:
    verdict: ChainVerdict
    expected_seq: int


def classify_batch(
    head: ChainHead,
    *,
    seq: int,
    prev_hash: bytes,
    batch_hash: bytes,
    accepted_hash_at_seq: bytes | None,
) -> Classification:
    """Classify a batch. ``accepted_hash_at_seq`` is the hash of the batch already accepted
    at ``seq`` (the caller looks it up; ``None`` when ``seq`` is beyond the head)."""
    expected = head.seq + 1
    if seq == expected:
        verdict = ChainVerdict.NEXT if prev_hash == head.batch_hash else ChainVerdict.FORK
    elif seq > expected:
        verdict = ChainVerdict.GAP
    elif accepted_hash_at_seq is not None and accepted_hash_at_seq == batch_hash:
        verdict = ChainVerdict.DUPLICATE
    else:
        verdict = ChainVerdict.FORK
    return Classification(verdict=verdict, expected_seq=expected)
