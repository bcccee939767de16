"""Believable demo citizens: common Egyptian names and national IDs that
``sync_protocol.parse_national_id`` accepts, born where a center's visitors are born."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sync_protocol import GOVERNORATES
from sync_protocol.national_id import Gender

__all__ = [
    "CENTER_GOVERNORATES",
    "FAMILY_NAMES",
    "FEMALE_NAMES",
    "MALE_NAMES",
    "Citizen",
    "random_citizen",
]

# Names cluster by community: a Coptic given name with a Muslim father's name would look
# wrong to any Egyptian watching the demo, so each citizen's names come from one cluster
# (plus the names both communities use).
_MALE_MUSLIM: Final[tuple[str, ...]] = (
    "محمد", "أحمد", "محمود", "مصطفى", "علي", "حسن", "حسين", "إبراهيم", "عمر", "خالد",
    "يوسف", "عبد الله", "عبد الرحمن", "طارق", "كريم", "هشام", "وليد", "ياسر", "عمرو",
    "إسلام", "سيد", "صلاح", "حمدي", "رضا", "جمال", "سعيد",
)  # fmt: skip
_MALE_SHARED: Final[tuple[str, ...]] = (
    "عادل", "هاني", "سامح", "رامي", "أشرف", "ماجد", "عماد", "شريف", "أيمن", "تامر",
)  # fmt: skip
_MALE_CHRISTIAN: Final[tuple[str, ...]] = (
    "مينا", "جرجس", "بيشوي", "مايكل", "بولس", "كيرلس",
)  # fmt: skip
_FEMALE_MUSLIM: Final[tuple[str, ...]] = (
    "فاطمة", "آية", "شيماء", "إسراء", "أسماء", "زينب", "خديجة", "هبة", "دعاء", "منة الله",
    "ياسمين", "إيمان", "مروة", "حبيبة", "نورهان", "رحاب", "سعاد", "آمنة", "هدى", "سلمى",
)  # fmt: skip
_FEMALE_SHARED: Final[tuple[str, ...]] = (
    "مريم", "سارة", "نادية", "منى", "هالة", "رانيا", "داليا", "أمل", "نهى", "سمر", "دينا",
    "رنا", "مي", "غادة",
)  # fmt: skip
_FEMALE_CHRISTIAN: Final[tuple[str, ...]] = (
    "ماريان", "مارينا", "كريستين", "تريزا", "إيريني", "دميانة",
)  # fmt: skip
_FAMILY_MUSLIM: Final[tuple[str, ...]] = (
    "عبد العزيز", "عبد الرحمن", "عبد الحميد", "عبد الفتاح", "مصطفى", "محمود", "الشافعي",
    "الشناوي", "رمضان", "عثمان", "البنا", "الطحاوي", "درويش", "حماد", "عبد الله",
    "السواركة", "الترابين",
)  # fmt: skip
_FAMILY_SHARED: Final[tuple[str, ...]] = (
    "السيد", "إبراهيم", "يوسف", "سليمان", "منصور", "فرج", "زكي", "عوض", "جاد", "سالم",
    "المصري", "النجار", "الحداد", "شحاتة", "صالح", "عيسى", "الخولي",
)  # fmt: skip
_FAMILY_CHRISTIAN: Final[tuple[str, ...]] = (
    "حنا", "جرجس", "ميخائيل", "عبد المسيح", "بطرس", "غالي", "عزيز",
)  # fmt: skip

MALE_NAMES: Final[tuple[str, ...]] = _MALE_MUSLIM + _MALE_SHARED + _MALE_CHRISTIAN
FEMALE_NAMES: Final[tuple[str, ...]] = _FEMALE_MUSLIM + _FEMALE_SHARED + _FEMALE_CHRISTIAN
FAMILY_NAMES: Final[tuple[str, ...]] = _FAMILY_MUSLIM + _FAMILY_SHARED + _FAMILY_CHRISTIAN

_CHRISTIAN_SHARE: Final = 0.1

# Center id -> governorate codes its visitors were born in, home governorate first.
# Sharm's workforce largely comes from the Nile valley; Arish and Aswan are mostly local.
CENTER_GOVERNORATES: Final[dict[str, tuple[str, ...]]] = {
    "arish": ("34", "19", "13", "03"),  # North Sinai; Ismailia, Sharqia, Port Said
    "sharm": ("35", "27", "26", "01", "21", "04"),  # South Sinai; Qena, Sohag, Cairo, ...
    "aswan": ("28", "29", "27", "31"),  # Aswan; Luxor, Qena, Red Sea
    "alexandria": ("02", "18", "33"),  # Alexandria; Beheira, Matrouh
    "mokattam": ("01", "14", "21"),  # Cairo; Qalyubia, Giza
    "giza": ("21", "01", "23"),  # Giza; Cairo, Fayoum
    "tanta": ("16", "17", "15"),  # Gharbia; Monufia, Kafr El Sheikh
}

_DOMESTIC_CODES: Final = tuple(code for code in GOVERNORATES if code != "88")


@dataclass(frozen=True, slots=True)
class Citizen:
    """A made-up citizen: 14-digit national ID, full Arabic name (own, father's, family)."""

    national_id: str
    name: str
    gender: Gender


def random_citizen(
    rng: random.Random,
    today: dt.date,
    governorate_codes: Sequence[str] | None = None,
    *,
    home_share: float = 0.7,
    min_age: int = 18,
    max_age: int = 80,
) -> Citizen:
    """A citizen aged ``min_age`` to ``max_age`` at ``today`` with a valid national ID.

    ``governorate_codes`` are where the citizen may have been born (e.g.
    ``CENTER_GOVERNORATES["arish"]``): the first, the home governorate, is drawn
    ``home_share`` of the time and the rest share the remainder. Without it, any
    governorate of Egypt. The ID's last (check) digit is random: its algorithm is not
    published and the validator does not use it.
    """
    birth_place = _birth_governorate(rng, governorate_codes, home_share)
    birth_date = _birth_date(rng, today, min_age, max_age)
    gender: Gender = rng.choice(("male", "female"))
    christian = rng.random() < _CHRISTIAN_SHARE
    century = "2" if birth_date.year < 2000 else "3"
    sequence = f"{rng.randrange(1000):03d}"
    gender_digit = rng.choice("13579" if gender == "male" else "02468")
    check_digit = rng.randrange(10)
    number = f"{century}{birth_date:%y%m%d}{birth_place}{sequence}{gender_digit}{check_digit}"
    return Citizen(national_id=number, name=_full_name(rng, gender, christian), gender=gender)


def _birth_governorate(rng: random.Random, codes: Sequence[str] | None, home_share: float) -> str:
    if codes is None:
        return rng.choice(_DOMESTIC_CODES)
    if not codes:
        raise ValueError("governorate_codes must not be empty")
    unknown = sorted(set(codes) - set(GOVERNORATES))
    if unknown:
        raise ValueError(f"not governorate codes: {', '.join(unknown)}")
    home, *elsewhere = codes
    if not elsewhere or rng.random() < home_share:
        return home
    return rng.choice(elsewhere)


def _birth_date(rng: random.Random, today: dt.date, min_age: int, max_age: int) -> dt.date:
    if not 0 <= min_age <= max_age:
        raise ValueError(f"need 0 <= min_age <= max_age, not {min_age} and {max_age}")
    # Aged max_age means born after the day one turns max_age + 1.
    earliest = _years_before(today, max_age + 1) + dt.timedelta(days=1)
    latest = _years_before(today, min_age)
    if earliest.year < 1900:  # national IDs encode births from 1900 on
        raise ValueError(f"max_age {max_age} reaches before 1900")
    return earliest + dt.timedelta(days=rng.randrange((latest - earliest).days + 1))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _full_name(rng: random.Random, gender: Gender, christian: bool) -> str:
    fathers = (_MALE_CHRISTIAN if christian else _MALE_MUSLIM) + _MALE_SHARED
    given = fathers
    if gender == "female":
        given = (_FEMALE_CHRISTIAN if christian else _FEMALE_MUSLIM) + _FEMALE_SHARED
    families = (_FAMILY_CHRISTIAN if christian else _FAMILY_MUSLIM) + _FAMILY_SHARED
    return f"{rng.choice(given)} {rng.choice(fathers)} {rng.choice(families)}"
