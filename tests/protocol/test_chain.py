"""The chain rule table: next / duplicate / gap / fork (sync_protocol.chain)."""

from __future__ import annotations

import pytest

from sync_protocol import GENESIS_HASH, ChainHead, ChainVerdict, classify_batch

H1, H2, H3, OTHER = (bytes([n]) * 32 for n in (1, 2, 3, 9))
HEAD = ChainHead(seq=2, batch_hash=H2)


def _classify(head: ChainHead, seq: int, prev: bytes, this: bytes, stored: bytes | None):
    return classify_batch(
        head, seq=seq, prev_hash=prev, batch_hash=this, accepted_hash_at_seq=stored
    )


def test_the_first_batch_extends_the_genesis_head() -> None:
    result = _classify(ChainHead(), 1, GENESIS_HASH, H1, None)
    assert (result.verdict, result.expected_seq) == (ChainVerdict.NEXT, 1)


@pytest.mark.parametrize(
    ("seq", "prev", "this", "stored", "verdict"),
    [
        (3, H2, H3, None, ChainVerdict.NEXT),
        (3, OTHER, H3, None, ChainVerdict.FORK),  # right seq, built on another history
        (2, H1, H2, H2, ChainVerdict.DUPLICATE),  # resent head
        (1, GENESIS_HASH, H1, H1, ChainVerdict.DUPLICATE),  # resent older batch
        (2, H1, OTHER, H2, ChainVerdict.FORK),  # same seq, other hash: cloned disk
        (1, GENESIS_HASH, OTHER, H1, ChainVerdict.FORK),  # lower seq: restored backup
        (4, H3, OTHER, None, ChainVerdict.GAP),
        (99, OTHER, OTHER, None, ChainVerdict.GAP),
    ],
)
def test_classification_table(
    seq: int, prev: bytes, this: bytes, stored: bytes | None, verdict: ChainVerdict
) -> None:
    result = _classify(HEAD, seq, prev, this, stored)
    assert (result.verdict, result.expected_seq) == (verdict, 3)


def test_a_lower_seq_with_no_stored_hash_is_a_fork_not_a_duplicate() -> None:
    assert _classify(HEAD, 1, GENESIS_HASH, H1, None).verdict is ChainVerdict.FORK
