"""Demo citizens (demo.people) against the protocol's own validators: every generated ID is
one ``parse_national_id`` accepts and says what was asked for."""

from __future__ import annotations

import collections
import datetime as dt
import random

import pytest

from demo.people import (
    CENTER_GOVERNORATES,
    FAMILY_NAMES,
    FEMALE_NAMES,
    MALE_NAMES,
    Citizen,
    random_citizen,
)
from sync_protocol import GOVERNORATES, parse_national_id
from sync_protocol.records import MAX_NAME_CHARS
from sync_protocol.text import clean_text

TODAY = dt.date(2026, 1, 1)


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@pytest.mark.parametrize("center", ["arish", "sharm", "aswan"])
def test_two_thousand_ids_parse_and_match_what_was_asked(center: str) -> None:
    rng = random.Random(center)
    codes = CENTER_GOVERNORATES[center]
    citizens = [random_citizen(rng, TODAY, codes) for _ in range(2000)]

    for citizen in citizens:
        parsed = parse_national_id(citizen.national_id, today=TODAY)
        assert parsed.governorate_code in codes, citizen
        assert parsed.gender == citizen.gender, citizen
        assert 18 <= _age(parsed.birth_date, TODAY) <= 80, citizen
    home_born = sum(c.national_id[7:9] == codes[0] for c in citizens)
    assert home_born > len(citizens) / 2  # the home governorate dominates


def test_the_whole_age_range_is_used_and_never_exceeded() -> None:
    rng = random.Random(1)
    today = dt.date(2024, 2, 29)  # a leap day makes the year arithmetic interesting
    numbers = [random_citizen(rng, today).national_id for _ in range(2000)]
    ages = {_age(parse_national_id(number, today=today).birth_date, today) for number in numbers}
    assert min(ages) == 18
    assert max(ages) == 80


def test_a_single_governorate_is_always_used() -> None:
    rng = random.Random(2)
    assert {random_citizen(rng, TODAY, ("34",)).national_id[7:9] for _ in range(200)} == {"34"}


def test_without_governorates_any_domestic_one_appears() -> None:
    rng = random.Random(3)
    codes = {random_citizen(rng, TODAY).national_id[7:9] for _ in range(2000)}
    assert codes == set(GOVERNORATES) - {"88"}


def test_born_since_2000_get_century_digit_three() -> None:
    rng = random.Random(4)
    citizen = random_citizen(rng, TODAY, min_age=18, max_age=18)
    assert citizen.national_id[0] == "3"
    assert parse_national_id(citizen.national_id, today=TODAY).birth_date.year in (2007, 2008)


def test_names_match_gender_and_pass_the_record_validator() -> None:
    rng = random.Random(5)
    genders: collections.Counter[str] = collections.Counter()
    for _ in range(2000):
        citizen = random_citizen(rng, TODAY)
        own_names = MALE_NAMES if citizen.gender == "male" else FEMALE_NAMES
        assert any(citizen.name.startswith(name + " ") for name in own_names), citizen
        assert any(citizen.name.endswith(" " + name) for name in FAMILY_NAMES), citizen
        cleaned = clean_text(
            citizen.name, field="citizen_name", max_chars=MAX_NAME_CHARS, allow_digits=False
        )
        assert cleaned == citizen.name
        genders[citizen.gender] += 1
    assert min(genders.values()) > 800


def test_name_lists_are_a_realistic_size_without_duplicates() -> None:
    for names in (MALE_NAMES, FEMALE_NAMES, FAMILY_NAMES):
        assert len(names) >= 40
        assert len(set(names)) == len(names)
    assert not set(MALE_NAMES) & set(FEMALE_NAMES)


def test_the_same_seed_gives_the_same_citizens() -> None:
    def draw(seed: int) -> list[Citizen]:
        rng = random.Random(seed)
        return [random_citizen(rng, TODAY, CENTER_GOVERNORATES["sharm"]) for _ in range(20)]

    assert draw(9) == draw(9)
    assert draw(9) != draw(10)


def test_every_center_lists_real_governorates_home_first() -> None:
    for center, codes in CENTER_GOVERNORATES.items():
        assert set(codes) <= set(GOVERNORATES), center
        assert len(set(codes)) == len(codes), center
    assert [CENTER_GOVERNORATES[c][0] for c in ("arish", "sharm", "aswan")] == ["34", "35", "28"]


@pytest.mark.parametrize(
    ("codes", "ages", "message"),
    [
        (("99",), (18, 80), "not governorate codes: 99"),
        ((), (18, 80), "must not be empty"),
        (None, (30, 20), "min_age <= max_age"),
        (None, (18, 200), "before 1900"),
    ],
)
def test_impossible_requests_are_rejected(
    codes: tuple[str, ...] | None, ages: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        random_citizen(random.Random(0), TODAY, codes, min_age=ages[0], max_age=ages[1])
