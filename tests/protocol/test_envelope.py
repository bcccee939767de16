"""Envelope seal/open, versions 1 (zlib) and 2 (Zstandard): round trips, tampering, wrong
keys and hostile bytes (sync_protocol.envelope and sync_protocol.batch, in-process)."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import (
    GENESIS_HASH,
    EnvelopeError,
    EnvelopeKind,
    InvalidSeal,
    LimitExceeded,
    OpeningKey,
    SigningKey,
    SyncError,
    TruncatedEnvelope,
    UnsupportedVersion,
    encode_records,
    open_batch,
    open_envelope,
    parse_envelope,
    seal_batch,
    seal_envelope,
)
from sync_protocol import envelope as envelope_module
from sync_protocol.compression import MAX_WINDOW_LOG, zstd
from tests.protocol.factories import NODE_A, T0_MS, created, status

NODE_KEY = SigningKey.generate()
OTHER_NODE_KEY = SigningKey.generate()
HUB_KEY = OpeningKey.generate()
OTHER_HUB_KEY = OpeningKey.generate()
ONE_RECORD = [created()]


def _seal(records=ONE_RECORD, *, seq: int = 1, key: SigningKey = NODE_KEY) -> bytes:
    return seal_batch(
        records,
        node_id=NODE_A,
        seq=seq,
        prev_hash=GENESIS_HASH,
        created_at_ms=T0_MS,
        signing_key=key,
        hub_key=HUB_KEY.public,
    )


def _seal_payload(
    payload: bytes,
    *,
    record_count: int = 0,
    kind: EnvelopeKind = EnvelopeKind.BATCH,
    version: int = envelope_module.VERSION,
) -> bytes:
    """``payload`` sealed as it is (no record encoding) from the node to the hub."""
    return seal_envelope(
        kind=kind,
        node_id=NODE_A,
        seq=1,
        prev_hash=GENESIS_HASH,
        record_count=record_count,
        created_at_ms=T0_MS,
        payload=payload,
        signing_key=NODE_KEY,
        recipient=HUB_KEY.public,
        version=version,
    )


def _open(data: bytes, *, node_key: SigningKey = NODE_KEY, hub_key: OpeningKey = HUB_KEY):
    return open_batch(parse_envelope(data), node_key=node_key.public, hub_key=hub_key)


SEALED = _seal()


def test_one_record_round_trips() -> None:
    assert _open(SEALED) == ONE_RECORD


def test_five_thousand_records_round_trip() -> None:
    records = [created(name="فاطمة حسن") for _ in range(4000)]
    records += [status(r.transaction_id, "approved") for r in records[:1000]]
    assert _open(_seal(records)) == records


def test_the_header_says_who_sent_what_to_whom() -> None:
    header = parse_envelope(SEALED).header
    assert (header.kind, header.node_id, header.seq, header.record_count) == (
        EnvelopeKind.BATCH,
        NODE_A,
        1,
        1,
    )
    assert header.sender_key_id == NODE_KEY.public.key_id
    assert header.recipient_key_id == HUB_KEY.public.key_id


def test_batch_hash_covers_everything_but_the_signature() -> None:
    import hashlib

    assert parse_envelope(SEALED).batch_hash == hashlib.sha256(SEALED[:-64]).digest()


def test_sealing_twice_gives_different_ciphertexts_that_open_the_same() -> None:
    again = _seal()
    assert again != SEALED
    assert _open(again) == _open(SEALED)


def test_flipping_any_single_byte_is_rejected() -> None:
    accepted = []
    for position in range(len(SEALED)):
        tampered = bytearray(SEALED)
        tampered[position] ^= 0x01
        try:
            _open(bytes(tampered))
        except (EnvelopeError, InvalidSeal):
            continue
        accepted.append(position)
    assert accepted == [], f"byte flips accepted at offsets {accepted}"


@given(st.data())
def test_any_byte_change_is_rejected(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(SEALED) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = bytearray(SEALED)
    tampered[position] ^= mask
    with pytest.raises((EnvelopeError, InvalidSeal)):
        _open(bytes(tampered))


def test_opening_with_the_wrong_hub_key_is_rejected() -> None:
    with pytest.raises(InvalidSeal):
        _open(SEALED, hub_key=OTHER_HUB_KEY)


def test_wrong_hub_key_is_rejected_even_if_the_key_id_is_forged() -> None:
    sealed_to_other = seal_batch(
        ONE_RECORD,
        node_id=NODE_A,
        seq=1,
        prev_hash=GENESIS_HASH,
        created_at_ms=T0_MS,
        signing_key=NODE_KEY,
        hub_key=OTHER_HUB_KEY.public,
    )
    header = bytearray(sealed_to_other[: envelope_module.HEADER_BYTES])
    header[38:54] = HUB_KEY.public.key_id  # claim it was sealed to our hub
    signed = bytes(header) + sealed_to_other[envelope_module.HEADER_BYTES : -64]
    resigned = signed + NODE_KEY.sign(envelope_module._SIGNATURE_CONTEXT + signed)
    with pytest.raises(InvalidSeal):
        _open(resigned)


def test_a_batch_re_signed_by_another_node_is_rejected() -> None:
    signed = SEALED[:-64]
    resigned = signed + OTHER_NODE_KEY.sign(envelope_module._SIGNATURE_CONTEXT + signed)
    with pytest.raises(InvalidSeal):
        _open(resigned)


def test_a_batch_relabelled_as_another_nodes_does_not_decrypt() -> None:
    # The other node rewrites the header with its own key id and signs: the HPKE info no
    # longer matches, so the ciphertext cannot be opened even with the right hub key.
    header = bytearray(SEALED[: envelope_module.HEADER_BYTES])
    header[22:38] = OTHER_NODE_KEY.public.key_id
    signed = bytes(header) + SEALED[envelope_module.HEADER_BYTES : -64]
    resigned = signed + OTHER_NODE_KEY.sign(envelope_module._SIGNATURE_CONTEXT + signed)
    with pytest.raises(InvalidSeal):
        _open(resigned, node_key=OTHER_NODE_KEY)


def test_every_truncation_is_rejected_as_malformed() -> None:
    for length in range(len(SEALED)):
        with pytest.raises(EnvelopeError):
            parse_envelope(SEALED[:length])


def test_a_truncated_envelope_says_so() -> None:
    with pytest.raises(TruncatedEnvelope):
        parse_envelope(SEALED[:-1])


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(EnvelopeError, match="trailing"):
        parse_envelope(SEALED + b"\x00")


@pytest.mark.parametrize("version", [0, 3, 255])
def test_an_unknown_version_is_rejected_before_anything_else(version: int) -> None:
    future = SEALED[:4] + bytes([version]) + SEALED[5:]
    with pytest.raises(UnsupportedVersion, match=f"version {version} "):
        parse_envelope(future)


def test_a_sender_seals_version_2_unless_told_otherwise() -> None:
    assert SEALED[4] == envelope_module.VERSION == 2
    assert parse_envelope(SEALED).header.version == 2


@pytest.mark.parametrize("version", envelope_module.VERSIONS)
def test_every_supported_version_seals_and_opens(version: int) -> None:
    first = created()
    records = [first, status(first.transaction_id, "approved")]
    sealed = _seal_payload(encode_records(records), record_count=2, version=version)
    envelope = parse_envelope(sealed)
    assert sealed[4] == envelope.header.version == version
    assert _open(sealed) == records


def test_a_version_byte_changed_after_sealing_breaks_the_seal() -> None:
    """The version is in the signed, HPKE-bound header: a v2 envelope relabelled v1 (to be
    inflated as zlib) fails the signature, never reaching decompression."""
    with pytest.raises(InvalidSeal):
        _open(SEALED[:4] + bytes([1]) + SEALED[5:])


def test_sealing_an_unsupported_version_is_refused() -> None:
    with pytest.raises(UnsupportedVersion):
        _seal_payload(b"[]", version=3)


def test_bad_magic_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="magic"):
        parse_envelope(b"PK\x03\x04" + SEALED[4:])


def test_an_oversized_envelope_is_rejected_before_parsing() -> None:
    limits = envelope_module.Limits(max_envelope_bytes=1024)
    with pytest.raises(LimitExceeded):
        parse_envelope(SEALED, limits=limits)


def test_a_header_declaring_too_many_records_is_rejected() -> None:
    limits = envelope_module.Limits(max_records=0)
    with pytest.raises(LimitExceeded, match="records"):
        parse_envelope(SEALED, limits=limits)


def _hostile_envelope(compressed: bytes, *, declared_bytes: int, version: int = 2) -> bytes:
    """A correctly signed and sealed envelope whose payload is whatever we like: only a
    node with real keys can send one, so the hub must still survive it."""
    header = envelope_module.EnvelopeHeader(
        kind=EnvelopeKind.BATCH,
        node_id=NODE_A,
        sender_key_id=NODE_KEY.public.key_id,
        recipient_key_id=HUB_KEY.public.key_id,
        seq=1,
        prev_hash=GENESIS_HASH,
        record_count=1,
        payload_bytes=declared_bytes,
        created_at_ms=T0_MS,
        version=version,
    ).encode()
    ciphertext = envelope_module._SUITE.encrypt(
        compressed, HUB_KEY.public.hpke_key, info=envelope_module._HPKE_INFO_CONTEXT + header
    )
    signed = header + struct.pack(">I", len(ciphertext)) + ciphertext
    return signed + NODE_KEY.sign(envelope_module._SIGNATURE_CONTEXT + signed)


def _zlib(data: bytes) -> bytes:
    return zlib.compress(data)


def _zstd(data: bytes) -> bytes:
    return zstd.compress(data)


# Each supported version with a compressor of its own format.
COMPRESSORS: dict[int, Callable[[bytes], bytes]] = {1: _zlib, 2: _zstd}
BY_VERSION = pytest.mark.parametrize("version", sorted(COMPRESSORS))


def _gibibyte_of_zeros_compressed(version: int) -> bytes:
    encoder = zlib.compressobj(9) if version == 1 else zstd.ZstdCompressor(level=3)
    chunk = bytes(1 << 20)
    parts = [encoder.compress(chunk) for _ in range(1024)]
    return b"".join(parts) + encoder.flush()


@pytest.fixture(scope="module", params=sorted(COMPRESSORS))
def bomb(request: pytest.FixtureRequest) -> tuple[int, bytes]:
    return request.param, _gibibyte_of_zeros_compressed(request.param)


def test_a_decompression_bomb_is_stopped_quickly_in_bounded_memory(
    bomb: tuple[int, bytes],
) -> None:
    version, compressed = bomb
    hostile = _hostile_envelope(compressed, declared_bytes=1000, version=version)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match="inflates beyond"):
        _open(hostile)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes"
    assert elapsed < 2.0, f"took {elapsed:.2f}s"


def test_a_bomb_that_declares_its_real_size_is_refused_before_decrypting(
    bomb: tuple[int, bytes],
) -> None:
    version, compressed = bomb
    hostile = _hostile_envelope(compressed, declared_bytes=1 << 30, version=version)
    with pytest.raises(LimitExceeded, match="payload may be at most"):
        parse_envelope(hostile)


@pytest.mark.parametrize(("version", "says"), [(1, "zlib"), (2, "Zstandard")])
def test_a_payload_not_in_the_versions_format_is_malformed(version: int, says: str) -> None:
    with pytest.raises(EnvelopeError, match=says):
        _open(_hostile_envelope(b"not compressed", declared_bytes=14, version=version))


@pytest.mark.parametrize("version", [1, 2])
def test_a_payload_in_the_other_versions_format_is_malformed(version: int) -> None:
    other = COMPRESSORS[3 - version]
    with pytest.raises(EnvelopeError):
        _open(_hostile_envelope(other(b"[]"), declared_bytes=2, version=version))


@BY_VERSION
def test_a_payload_shorter_than_declared_is_malformed(version: int) -> None:
    compressed = COMPRESSORS[version](b"[]")
    with pytest.raises(EnvelopeError, match="size"):
        _open(_hostile_envelope(compressed, declared_bytes=10, version=version))


@BY_VERSION
def test_a_truncated_payload_is_malformed(version: int) -> None:
    compressed = COMPRESSORS[version](b"[" + b"1," * 500 + b"1]")
    with pytest.raises(EnvelopeError, match="truncated"):
        _open(_hostile_envelope(compressed[:-3], declared_bytes=1003, version=version))


@BY_VERSION
def test_bytes_after_the_compressed_payload_are_malformed(version: int) -> None:
    compressed = COMPRESSORS[version](b"[]")
    with pytest.raises(EnvelopeError, match="trailing"):
        _open(_hostile_envelope(compressed + compressed, declared_bytes=2, version=version))


def test_a_zstandard_frame_needing_a_large_window_is_refused() -> None:
    """The frame header names the window the decoder must allocate; above 8 MiB it is
    refused before any allocation, whatever the payload size."""
    encoder = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 24})
    compressed = encoder.compress(b"[]") + encoder.flush()  # size unknown: the full window
    assert MAX_WINDOW_LOG < 24
    with pytest.raises(EnvelopeError, match="Zstandard"):
        _open(_hostile_envelope(compressed, declared_bytes=2))


def test_a_zstandard_skippable_frame_is_not_a_payload() -> None:
    skippable = (0x184D2A50).to_bytes(4, "little") + (2).to_bytes(4, "little") + b"[]"
    with pytest.raises(EnvelopeError):
        _open(_hostile_envelope(skippable + zstd.compress(b"[]"), declared_bytes=2))


@BY_VERSION
def test_a_payload_that_is_not_records_is_a_typed_error(version: int) -> None:
    compressed = COMPRESSORS[version](b"\xff\xfe")
    with pytest.raises(SyncError, match="JSON"):
        _open(_hostile_envelope(compressed, declared_bytes=2, version=version))


def test_a_changes_envelope_is_not_accepted_as_a_batch() -> None:
    changes = _seal_payload(b"[]", kind=EnvelopeKind.CHANGES)
    with pytest.raises(EnvelopeError, match="not an event batch"):
        _open(changes)
    assert (
        open_envelope(parse_envelope(changes), sender=NODE_KEY.public, recipient=HUB_KEY) == b"[]"
    )


@settings(max_examples=500)
@given(st.binary(max_size=4096))
def test_any_bytes_into_the_decoder_give_a_typed_error(data: bytes) -> None:
    with pytest.raises(SyncError):
        _open(data)


@given(st.binary(min_size=1, max_size=2048))
def test_any_bytes_behind_a_valid_magic_and_version_give_a_typed_error(tail: bytes) -> None:
    with pytest.raises(SyncError):
        _open(SEALED[:5] + tail)
