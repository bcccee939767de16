"""Who takes part in the demo and how good each center's link is over time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from demo.fault_proxy import LinkProfile

__all__ = ["AGENCIES", "CENTERS", "GOOD", "SERVICE_MIX", "AgencyPlan", "CenterPlan"]

GOOD = LinkProfile(latency_ms=15)


@dataclass(frozen=True, slots=True)
class CenterPlan:
    center_id: str
    name_ar: str
    name_en: str
    mean_gap_s: float  # average seconds between two transactions at the desk
    link: Callable[[float], tuple[str, LinkProfile]]  # run fraction 0..1 -> (label, link)

    @property
    def short_name(self) -> str:
        return self.name_en.split()[0]


def _arish(fraction: float) -> tuple[str, LinkProfile]:
    # The North Sinai link is cut for most of the day; staff keep working.
    if 0.1 <= fraction < 0.75:
        return "DOWN", LinkProfile(down=True)
    return "up", LinkProfile(latency_ms=60)


def _sharm(fraction: float) -> tuple[str, LinkProfile]:
    # A slow, lossy microwave link with short blackouts every so often.
    if int(fraction * 100) % 20 in (7, 8):
        return "blackout", LinkProfile(down=True)
    return "flaky", LinkProfile(latency_ms=300, rate_bytes_per_s=8_000, reset_probability=0.04)


def _aswan(_fraction: float) -> tuple[str, LinkProfile]:
    return "good", GOOD


CENTERS: tuple[CenterPlan, ...] = (
    CenterPlan("arish", "مركز خدمات مصر بالعريش", "Arish", 0.35, _arish),
    CenterPlan("sharm", "مركز خدمات مصر بشرم الشيخ", "Sharm El-Sheikh", 0.5, _sharm),
    CenterPlan("aswan", "مركز خدمات مصر بأسوان", "Aswan", 0.45, _aswan),
)


# What the front desks record (catalog code, weight): counter services issued at once,
# and services several agencies must approve (a first passport: national security and
# passports; a shop or food licence: civil defence, health and the local unit).
SERVICE_MIX: tuple[tuple[str, float], ...] = (
    ("CIV-BIRTH", 4),
    ("CIV-IDCARD", 3),
    ("TRF-DLRENEW", 2),
    ("PAS-NEW", 2),
    ("SOC-TAKAFUL", 2),
    ("LIC-SHOP", 2),
    ("LIC-FOOD", 1),
)


@dataclass(frozen=True, slots=True)
class AgencyPlan:
    """One agency's back office: how often its officers decide, and how they decide."""

    agency_code: str
    every_s: float  # seconds between two decisions
    ask_info: float = 0.0  # share of decisions that ask the center for information
    reject: float = 0.05


# Every agency SERVICE_MIX needs, each deciding at its own pace; civil defence inspects
# and often asks for a document first.
AGENCIES: tuple[AgencyPlan, ...] = (
    AgencyPlan("national-security", 1.2),
    AgencyPlan("passports", 0.7),
    AgencyPlan("social-solidarity", 0.9),
    AgencyPlan("civil-defense", 0.8, ask_info=0.3),
    AgencyPlan("health", 1.0),
    AgencyPlan("local-unit", 0.6),
)
