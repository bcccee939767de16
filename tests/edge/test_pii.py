"""PII encryption at rest: round trips, binding to (table, column, row), tampering, wrong
keys, hostile bytes and the blind index (edge_node.pii, in-process unit tests)."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_node.pii import DATA_KEY_BYTES, PiiCipher, PiiDecryptError, generate_data_key

KEY = generate_data_key()
OTHER_KEY = generate_data_key()
CIPHER = PiiCipher(KEY)
PLACE = {
    "table": "transactions",
    "column": "citizen_name",
    "row_id": "0190c6d2-7a4e-7000-8000-0a1b2c3d4e5f",
}

NAMES = ["محمد أحمد عبد الرحمن", "فاطمة الزهراء السيد", "Mona Ibrahim", "", "🙂 x\x00y"]
NATIONAL_IDS = ["29001011234567", "30512251401238"]


@pytest.mark.parametrize("plaintext", NAMES + NATIONAL_IDS)
def test_round_trip(plaintext: str) -> None:
    blob = CIPHER.encrypt(plaintext, **PLACE)
    assert CIPHER.decrypt(blob, **PLACE) == plaintext


def test_a_new_cipher_from_the_same_key_decrypts() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    assert PiiCipher(KEY).decrypt(blob, **PLACE) == NAMES[0]


def test_layout_is_version_nonce_ciphertext_tag() -> None:
    plaintext = NATIONAL_IDS[0]
    blob = CIPHER.encrypt(plaintext, **PLACE)
    assert blob[0] == 0x01
    assert len(blob) == 1 + 12 + len(plaintext.encode()) + 16


def test_each_encryption_is_different() -> None:
    blobs = {CIPHER.encrypt(NATIONAL_IDS[0], **PLACE) for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[1:13] for blob in blobs}) == 50


@pytest.mark.parametrize("plaintext", NAMES[:3] + NATIONAL_IDS)
def test_plaintext_does_not_appear_in_the_ciphertext(plaintext: str) -> None:
    blob = CIPHER.encrypt(plaintext, **PLACE)
    assert plaintext.encode("utf-8") not in blob


@pytest.mark.parametrize(
    "moved",
    [
        {**PLACE, "row_id": "0190c6d2-7a4e-7000-8000-000000000000"},
        {**PLACE, "column": "national_id"},
        {**PLACE, "table": "citizens"},
    ],
    ids=["other-row", "other-column", "other-table"],
)
def test_a_ciphertext_moved_elsewhere_does_not_decrypt(moved: dict[str, str]) -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(blob, **moved)


def test_context_parts_cannot_be_shifted_between_fields() -> None:
    blob = CIPHER.encrypt(NAMES[0], table="ab", column="c", row_id="r")
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(blob, table="a", column="bc", row_id="r")


def test_every_single_byte_flip_fails() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    for index in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(blob)
            tampered[index] ^= mask
            with pytest.raises(PiiDecryptError):
                CIPHER.decrypt(bytes(tampered), **PLACE)


def test_every_truncation_fails() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    for length in range(len(blob)):
        with pytest.raises(PiiDecryptError):
            CIPHER.decrypt(blob[:length], **PLACE)


def test_appended_bytes_fail() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(blob + b"\x00", **PLACE)


def test_unknown_version_fails() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(b"\x02" + blob[1:], **PLACE)


def test_wrong_key_fails() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    with pytest.raises(PiiDecryptError):
        PiiCipher(OTHER_KEY).decrypt(blob, **PLACE)


def test_decrypt_error_is_uninformative() -> None:
    blob = CIPHER.encrypt(NAMES[0], **PLACE)
    errors = []
    for bad in (blob[:5], b"\x02" + blob[1:], blob[:-1] + bytes([blob[-1] ^ 1])):
        with pytest.raises(PiiDecryptError) as caught:
            CIPHER.decrypt(bad, **PLACE)
        errors.append(caught.value)
    assert {str(error) for error in errors} == {"PII value could not be decrypted"}
    assert all(error.__cause__ is None and error.__suppress_context__ for error in errors[2:])


@given(st.binary(max_size=200))
def test_any_bytes_into_decrypt_give_pii_decrypt_error(blob: bytes) -> None:
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(blob, **PLACE)


@given(st.binary(min_size=28, max_size=200))
def test_any_well_framed_bytes_give_pii_decrypt_error(body: bytes) -> None:
    # Version byte right, so the bytes reach AES-GCM authentication.
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt(b"\x01" + body, **PLACE)


def test_non_bytes_into_decrypt_give_pii_decrypt_error() -> None:
    with pytest.raises(PiiDecryptError):
        CIPHER.decrypt("not bytes", **PLACE)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_data_key_of_wrong_length_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PiiCipher(b"\x00" * length)


def test_data_key_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        PiiCipher("k" * 32)  # type: ignore[arg-type]


def test_generate_data_key_is_32_random_bytes() -> None:
    keys = {generate_data_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(key) == DATA_KEY_BYTES == 32 for key in keys)


@pytest.mark.parametrize("field", ["table", "column", "row_id"])
def test_empty_context_is_a_caller_error(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CIPHER.encrypt(NAMES[0], **{**PLACE, field: ""})


def test_blind_index_is_deterministic_64_hex_chars() -> None:
    index = CIPHER.blind_index(NATIONAL_IDS[0])
    assert index == CIPHER.blind_index(NATIONAL_IDS[0])
    assert index == PiiCipher(KEY).blind_index(NATIONAL_IDS[0])
    assert len(index) == 64
    assert set(index) <= set("0123456789abcdef")


def test_blind_index_differs_per_input() -> None:
    assert CIPHER.blind_index(NATIONAL_IDS[0]) != CIPHER.blind_index(NATIONAL_IDS[1])


def test_blind_index_differs_per_key() -> None:
    assert CIPHER.blind_index(NATIONAL_IDS[0]) != PiiCipher(OTHER_KEY).blind_index(NATIONAL_IDS[0])


def test_blind_index_does_not_contain_the_national_id() -> None:
    assert NATIONAL_IDS[0] not in CIPHER.blind_index(NATIONAL_IDS[0])


def test_repr_hides_the_key() -> None:
    text = repr(CIPHER)
    assert KEY.hex() not in text
    assert KEY.hex().upper() not in text
    assert repr(KEY) not in text
    assert "PiiCipher" in text


def test_cipher_cannot_be_pickled_or_copied() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(CIPHER)
    with pytest.raises(TypeError):
        copy.copy(CIPHER)
