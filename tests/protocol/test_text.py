"""Unit tests of text hygiene for staff-entered strings (sync_protocol.text)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import TextError, clean_text


def test_text_is_nfc_normalised_and_trimmed() -> None:
    decomposed = unicodedata.normalize("NFD", "  José أحمد ")
    assert clean_text(decomposed, field="name", max_chars=50) == "José أحمد"


@pytest.mark.parametrize(
    ("char", "why"),
    [
        ("\u202e", "right-to-left override"),
        ("\u2066", "left-to-right isolate"),
        ("\u200f", "right-to-left mark"),
        ("\u200b", "zero-width space"),
        ("\u200d", "zero-width joiner"),
        ("\ufeff", "byte order mark"),
        ("\x00", "NUL"),
        ("\n", "newline"),
        ("\u2028", "line separator"),
        ("\ue000", "private use"),
    ],
)
def test_invisible_and_bidi_controls_are_rejected(char: str, why: str) -> None:
    with pytest.raises(TextError, match=f"U\\+{ord(char):04X}"):
        clean_text(f"محمد{char}علي", field="name", max_chars=50)


def test_non_breaking_space_is_rejected_with_a_hint() -> None:
    with pytest.raises(TextError, match="plain space"):
        clean_text("محمد\u00a0علي", field="name", max_chars=50)


def test_repeated_spaces_are_rejected() -> None:
    with pytest.raises(TextError, match="repeated spaces"):
        clean_text("محمد  علي", field="name", max_chars=50)


def test_length_is_bounded_after_normalisation() -> None:
    assert clean_text("ا" * 10, field="name", max_chars=10) == "ا" * 10
    with pytest.raises(TextError, match="longer than 10"):
        clean_text("ا" * 11, field="name", max_chars=10)


def test_huge_input_is_refused_before_normalising() -> None:
    with pytest.raises(TextError, match="longer than"):
        clean_text("a" * 10_000_000, field="name", max_chars=100)


def test_digits_can_be_forbidden_in_names() -> None:
    with pytest.raises(TextError, match="digits"):
        clean_text("محمد ٣", field="name", max_chars=50, allow_digits=False)


def test_empty_is_refused_unless_allowed() -> None:
    with pytest.raises(TextError, match="empty"):
        clean_text("   ", field="name", max_chars=50)
    assert clean_text("", field="note", max_chars=50, allow_empty=True) == ""


def test_non_text_is_refused() -> None:
    with pytest.raises(TextError, match="must be text"):
        clean_text(b"bytes", field="name", max_chars=50)


@given(st.text(max_size=200))
def test_any_text_is_cleaned_idempotently_or_rejected(value: str) -> None:
    try:
        cleaned = clean_text(value, field="name", max_chars=100, allow_empty=True)
    except TextError:
        return
    assert clean_text(cleaned, field="name", max_chars=100, allow_empty=True) == cleaned
