"""Unit and property tests of Egyptian national ID parsing (sync_protocol.national_id)."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sync_protocol import GOVERNORATES, NationalIdError, parse_national_id
from tests.protocol.factories import TODAY, national_id, valid_national_ids


def test_derives_birth_date_governorate_and_gender() -> None:
    parsed = parse_national_id("29001013412375", today=TODAY)
    assert (parsed.birth_date, parsed.governorate_code, parsed.gender) == (
        dt.date(1990, 1, 1),
        "34",
        "male",
    )
    assert parsed.governorate_ar == "شمال سيناء"


def test_century_three_is_born_in_the_2000s_and_even_digit_is_female() -> None:
    parsed = parse_national_id("30502282812345", today=TODAY)
    assert parsed.birth_date == dt.date(2005, 2, 28)
    assert parsed.gender == "female"
    assert parsed.governorate_en == "Aswan"


def test_born_abroad_code_88_is_accepted() -> None:
    assert parse_national_id(national_id(governorate="88"), today=TODAY).governorate_code == "88"


def test_birth_date_in_the_future_is_rejected() -> None:
    with pytest.raises(NationalIdError, match="in the future"):
        parse_national_id(national_id(birth=dt.date(2026, 1, 2)), today=TODAY)


def test_birth_today_is_accepted() -> None:
    assert parse_national_id(national_id(birth=TODAY), today=TODAY).birth_date == TODAY


def test_february_29_only_in_leap_years() -> None:
    assert parse_national_id("30402291212345", today=TODAY).birth_date == dt.date(2004, 2, 29)
    with pytest.raises(NationalIdError, match="birth date"):
        parse_national_id("30502291212345", today=TODAY)


def test_arabic_indic_digits_are_rejected_with_a_clear_message() -> None:
    with pytest.raises(NationalIdError, match=r"Arabic-Indic digits .* ASCII digits 0-9"):
        parse_national_id("٢٩٠٠١٠١٣٤١٢٣٧٥", today=TODAY)


def test_extended_arabic_indic_digits_are_rejected_too() -> None:
    with pytest.raises(NationalIdError, match="Arabic-Indic"):
        parse_national_id("۲۹۰۰۱۰۱۳۴۱۲۳۷۵", today=TODAY)


@pytest.mark.parametrize(
    "value",
    ["2900101341237", "290010134123755", "2900101341237x", "", " 29001013412375", 29001013412375],
)
def test_wrong_length_or_characters_are_rejected(value: object) -> None:
    with pytest.raises(NationalIdError, match="14"):
        parse_national_id(value, today=TODAY)


def test_the_unpublished_check_digit_is_never_used_to_reject() -> None:
    for check in "0123456789":
        parse_national_id(national_id(check=check), today=TODAY)


@given(valid_national_ids)
def test_valid_generated_ids_are_accepted(number: str) -> None:
    parsed = parse_national_id(number, today=TODAY)
    assert parsed.number == number
    assert parsed.governorate_code == number[7:9]
    assert parsed.gender == ("male" if int(number[12]) % 2 else "female")


@given(valid_national_ids, st.sampled_from("0145CDEF6789"))
def test_corrupting_the_century_digit_is_rejected(number: str, digit: str) -> None:
    # 2 and 3 are the only centuries; any other digit must be refused.
    assume(digit.isdigit())
    with pytest.raises(NationalIdError, match="must start with 2"):
        parse_national_id(digit + number[1:], today=TODAY)


@given(valid_national_ids, st.sampled_from([3, 4]), st.sampled_from("23456789"))
def test_corrupting_the_month_to_an_impossible_value_is_rejected(
    number: str, position: int, digit: str
) -> None:
    corrupted = number[:position] + digit + number[position + 1 :]
    assume(int(corrupted[3:5]) > 12 or int(corrupted[3:5]) == 0)
    with pytest.raises(NationalIdError, match="birth date"):
        parse_national_id(corrupted, today=TODAY)


@given(valid_national_ids, st.sampled_from("456789"))
def test_corrupting_the_day_tens_digit_beyond_31_is_rejected(number: str, digit: str) -> None:
    corrupted = number[:5] + digit + number[6:]
    with pytest.raises(NationalIdError, match="birth date"):
        parse_national_id(corrupted, today=TODAY)


@given(valid_national_ids, st.sampled_from([7, 8]), st.sampled_from("0123456789"))
def test_corrupting_the_governorate_to_an_unlisted_code_is_rejected(
    number: str, position: int, digit: str
) -> None:
    corrupted = number[:position] + digit + number[position + 1 :]
    assume(corrupted[7:9] not in GOVERNORATES)
    with pytest.raises(NationalIdError, match="governorate"):
        parse_national_id(corrupted, today=TODAY)


@given(st.text(max_size=40))
def test_any_text_gives_a_result_or_a_typed_error(value: str) -> None:
    with contextlib.suppress(NationalIdError):
        parse_national_id(value, today=TODAY)
