"""Who takes part in the demo and how good each center's link is over time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from demo.fault_proxy import LinkProfile

__all__ = ["CENTERS", "GOOD", "CenterPlan"]

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
