"""Egyptian national ID numbers (الرقم القومي): structure checks and derived fields.

Layout of the 14 digits ``C YYMMDD GG SSSS K``:
C century (2 = 1900s, 3 = 2000s), YYMMDD birth date, GG governorate of birth registration,
SSSS sequence whose last digit gives gender (odd male, even female), K check digit.
The check-digit algorithm is not published, so it is never used to reject an ID.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from sync_protocol.errors import NationalIdError, TextError
from sync_protocol.text import require_ascii_digits

__all__ = ["GOVERNORATES", "NationalId", "check_national_id", "parse_national_id"]

# Code -> (English, Arabic). The civil registry's official list.
GOVERNORATES: Final[dict[str, tuple[str, str]]] = {
    "01": ("Cairo", "القاهرة"),
    "02": ("Alexandria", "الإسكندرية"),
    "03": ("Port Said", "بورسعيد"),
    "04": ("Suez", "السويس"),
    "11": ("Damietta", "دمياط"),
    "12": ("Dakahlia", "الدقهلية"),
    "13": ("Sharqia", "الشرقية"),
    "14": ("Qalyubia", "القليوبية"),
    "15": ("Kafr El Sheikh", "كفر الشيخ"),
    "16": ("Gharbia", "الغربية"),
    "17": ("Monufia", "المنوفية"),
    "18": ("Beheira", "البحيرة"),
    "19": ("Ismailia", "الإسماعيلية"),
    "21": ("Giza", "الجيزة"),
    "22": ("Beni Suef", "بني سويف"),
    "23": ("Fayoum", "الفيوم"),
    "24": ("Minya", "المنيا"),
    "25": ("Asyut", "أسيوط"),
    "26": ("Sohag", "سوهاج"),
    "27": ("Qena", "قنا"),
    "28": ("Aswan", "أسوان"),
    "29": ("Luxor", "الأقصر"),
    "31": ("Red Sea", "البحر الأحمر"),
    "32": ("New Valley", "الوادي الجديد"),
    "33": ("Matrouh", "مطروح"),
    "34": ("North Sinai", "شمال سيناء"),
    "35": ("South Sinai", "جنوب سيناء"),
    "88": ("Born abroad", "خارج الجمهورية"),
}

_CENTURY_BASE: Final = {"2": 1900, "3": 2000}
_FIELD: Final = "national_id"

Gender = Literal["male", "female"]


@dataclass(frozen=True, slots=True)
class NationalId:
    """A structurally valid national ID and what it says about its holder."""

    number: str
    birth_date: dt.date
    governorate_code: str
    governorate_en: str
    governorate_ar: str
    gender: Gender


def parse_national_id(value: object, *, today: dt.date) -> NationalId:
    """Check ``value`` and return its derived fields, or raise :class:`NationalIdError`.

    ``today`` is passed in (not read from the clock) so the not-in-the-future rule is
    testable and the same on every node.
    """
    number, birth_date, code = _check(value, today)
    english, arabic = GOVERNORATES[code]
    gender: Gender = "male" if int(number[12]) % 2 == 1 else "female"
    return NationalId(
        number=number,
        birth_date=birth_date,
        governorate_code=code,
        governorate_en=english,
        governorate_ar=arabic,
        gender=gender,
    )


def check_national_id(value: object, *, today: dt.date) -> str:
    """The checks of :func:`parse_national_id` alone (records need no derived fields)."""
    return _check(value, today)[0]


def _check(value: object, today: dt.date) -> tuple[str, dt.date, str]:
    try:
        number = require_ascii_digits(value, field=_FIELD, length=14)
    except TextError as error:
        raise NationalIdError(str(error), field=_FIELD) from None

    century = number[0]
    if century not in _CENTURY_BASE:
        raise NationalIdError(
            f"national ID must start with 2 (born 1900-1999) or 3 (born 2000-2099), not {century}",
            field=_FIELD,
        )
    year = _CENTURY_BASE[century] + int(number[1:3])
    try:
        birth_date = dt.date(year, int(number[3:5]), int(number[5:7]))
    except ValueError:
        raise NationalIdError(
            f"national ID digits 2-7 ({number[1:7]}) are not a real birth date YYMMDD",
            field=_FIELD,
        ) from None
    if birth_date > today:
        raise NationalIdError(
            f"national ID birth date {birth_date.isoformat()} is in the future", field=_FIELD
        )

    code = number[7:9]
    if code not in GOVERNORATES:
        raise NationalIdError(
            f"national ID digits 8-9 ({code}) are not a governorate code", field=_FIELD
        )
    return number, birth_date, code


# --- fast predicate for record parsing ----------------------------------------------------
# The birth date compared as text: "YYYYMMDD" strings of four-digit years order as the
# dates do, and a set of the calendar's month-days (with 0229, then a leap-year check)
# replaces building a ``dt.date``.
_CENTURY_DIGITS: Final = {"2": "19", "3": "20"}
_MONTH_DAYS: Final = frozenset(
    f"{month:02d}{day:02d}"
    for month in range(1, 13)
    for day in range(1, 32)
    if day <= (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
)


def _date_key(day: dt.date) -> str:
    """``day`` as "YYYYMMDD", the form :func:`_passes` compares birth dates in."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _passes(value: object, latest_key: str) -> bool:
    """``check_national_id(value, today=today)`` would return ``value``, where
    ``latest_key`` is ``_date_key(today)`` for a ``today`` in years 1000-9999; False when
    unsure (the caller then runs the check, which reports the error)."""
    if type(value) is not str or len(value) != 14 or not (value.isascii() and value.isdigit()):
        return False
    century = _CENTURY_DIGITS.get(value[0])
    month_day = value[3:7]
    if century is None or month_day not in _MONTH_DAYS or value[7:9] not in GOVERNORATES:
        return False
    birth = century + value[1:7]
    if month_day == "0229" and not calendar.isleap(int(birth[:4])):
        return False
    return birth <= latest_key
