"""Working days: which local dates the bot may remind people and post summaries on.

A date is a day off if it is a weekend day (unless the year made it a working Saturday), a
public holiday, or a day the deployment's own calendar adds (a region's holidays, such as
Ураза-байрам and Курбан-байрам in Dagestan, whose dates each year's file sets). The built-in
federal calendar is `bot/calendars/ru.toml`.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SATURDAY, SUNDAY = 5, 6


class CalendarFileError(ValueError):
    """A calendar file that cannot be read as one."""


@dataclass(frozen=True)
class HolidayTable:
    """Fixed holidays (month, day) and, per year, the days off and working days as decreed."""

    fixed: frozenset[tuple[int, int]] = frozenset()
    days_off: frozenset[dt.date] = frozenset()
    working_days: frozenset[dt.date] = frozenset()
    years: frozenset[int] = frozenset()  # years whose transfers are listed in full


@dataclass(frozen=True)
class WorkCalendar:
    weekends: frozenset[int] = frozenset({SATURDAY, SUNDAY})
    holidays: HolidayTable = field(default_factory=HolidayTable)
    extra_days_off: frozenset[dt.date] = frozenset()
    extra_working_days: frozenset[dt.date] = frozenset()

    def is_working(self, day: dt.date) -> bool:
        if day in self.extra_days_off:
            return False
        if day in self.extra_working_days or day in self.holidays.working_days:
            return True
        return not self._off_by_law(day)

    def _off_by_law(self, day: dt.date) -> bool:
        if day.weekday() in self.weekends or day in self.holidays.days_off:
            return True
        if (day.month, day.day) in self.holidays.fixed:
            return True
        return day.year not in self.holidays.years and day in self._transferred(day.year)

    def _transferred(self, year: int) -> frozenset[dt.date]:
        """A year without its decree: a holiday on a weekend gives the next working day off
        (article 112 of the Labour Code), except the January holidays."""
        moved: set[dt.date] = set()
        for month, day in sorted(self.holidays.fixed):
            holiday = dt.date(year, month, day)
            if month == 1 or holiday.weekday() not in self.weekends:
                continue
            after = holiday + dt.timedelta(days=1)
            while (
                after.weekday() in self.weekends
                or (after.month, after.day) in self.holidays.fixed
                or after in moved
            ):
                after += dt.timedelta(days=1)
            moved.add(after)
        return frozenset(moved)

    def previous_working(self, day: dt.date) -> dt.date:
        """The last working day before `day`."""
        day -= dt.timedelta(days=1)
        for _ in range(60):
            if self.is_working(day):
                return day
            day -= dt.timedelta(days=1)
        raise ValueError("no working day in 60 days")

    def next_working(self, day: dt.date) -> dt.date:
        """The first working day after `day`."""
        day += dt.timedelta(days=1)
        for _ in range(60):
            if self.is_working(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError("no working day in 60 days")


def _dates(value: Any, where: str) -> frozenset[dt.date]:
    if not isinstance(value, list):
        raise CalendarFileError(f'{where}: ожидается список дат вида "2025-03-31"')
    found = set()
    for item in value:
        if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            found.add(item)
            continue
        try:
            found.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise CalendarFileError(
                f'{where}: {item!r} — не дата; ожидается "ГГГГ-ММ-ДД", например "2025-03-31"'
            ) from None
    return frozenset(found)


Days = tuple[frozenset[dt.date], frozenset[dt.date]]  # days off, working days


def parse_days(data: Mapping[str, Any], where: str) -> Days:
    """A deployment's calendar file: `days_off` and `working_days`, lists of dates (every year
    in one list, or per year under `[years.2025]`)."""
    known = {"days_off", "working_days", "years"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CalendarFileError(
            f"{where}: неизвестные ключи {', '.join(unknown)}; допускаются days_off, "
            "working_days и таблицы [years.ГГГГ]"
        )
    off = _dates(data.get("days_off", []), f"{where}: days_off")
    working = _dates(data.get("working_days", []), f"{where}: working_days")
    years = data.get("years", {})
    if not isinstance(years, dict):
        raise CalendarFileError(f"{where}: years: ожидаются таблицы [years.ГГГГ]")
    for year, table in years.items():
        if not isinstance(table, dict):
            raise CalendarFileError(f"{where}: years.{year}: ожидается таблица")
        more_off, more_working = parse_days(table, f"{where}: years.{year}")
        off |= more_off
        working |= more_working
    return off, working


def read_days(text: str, where: str) -> Days:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CalendarFileError(f"{where}: не TOML ({error})") from None
    return parse_days(data, where)


@cache
def russian_holidays() -> HolidayTable:
    """The built-in federal calendar."""
    text = resources.files("bot").joinpath("calendars", "ru.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    fixed = frozenset(
        (int(month), int(day)) for month, day in (item.split("-") for item in data["holidays"])
    )
    off, working = parse_days({"years": data["years"]}, "ru.toml")
    return HolidayTable(fixed, off, working, frozenset(int(year) for year in data["years"]))


def calendar_of(
    *,
    weekends: Iterable[int],
    federal: bool,
    days_off: Iterable[dt.date] = (),
    working_days: Iterable[dt.date] = (),
) -> WorkCalendar:
    return WorkCalendar(
        weekends=frozenset(weekends),
        holidays=russian_holidays() if federal else HolidayTable(),
        extra_days_off=frozenset(days_off),
        extra_working_days=frozenset(working_days),
    )
