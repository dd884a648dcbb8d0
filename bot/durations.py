"""Durations and clock times as people write them in the config: `3d`, `1d12h`, `21:00`."""

from __future__ import annotations

import datetime as dt
import re

DURATION_FORM = (
    'длительность вида "3d", "24h", "30m", "45s" или "1d12h" '
    "(d — дни, h — часы, m — минуты, s — секунды)"
)
TIME_FORM = 'местное время "ЧЧ:ММ", например "09:00"'

# More than a year is surely a typo, and a huge number would overflow timedelta.
MAX_DURATION = dt.timedelta(days=366)

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def _echo(text: str) -> str:
    # Config values are echoed in errors; a long one may be a token pasted in the wrong place.
    return repr(text) if len(text) <= 40 and not text.lower().startswith("vk1.") else "значение"


def parse_duration(text: str) -> dt.timedelta:
    """Turn `3d`, `24h`, `30m`, `45s` or a combination such as `1d12h` into a positive timedelta.

    Units go from the largest to the smallest, each at most once; spaces between them are fine.
    """
    compact = "".join(text.split()).lower()
    match = _DURATION.fullmatch(compact)
    if not compact or match is None:
        raise ValueError(f"{_echo(text)} — не длительность; ожидается {DURATION_FORM}")
    seconds = 0
    for number, (_, unit_seconds) in zip(match.groups(), _UNITS, strict=True):
        if number is not None:
            seconds += int(number) * unit_seconds
            if seconds > MAX_DURATION.total_seconds():
                break
    if seconds <= 0:
        raise ValueError(
            f"{_echo(text)} — не положительная длительность; ожидается {DURATION_FORM}"
        )
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{_echo(text)} — дольше {MAX_DURATION.days} дней")
    return dt.timedelta(seconds=seconds)


def format_duration(value: dt.timedelta) -> str:
    """Write a timedelta the way `parse_duration` reads it: `1d12h`, `30m`, `0s`."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    pieces = []
    for unit, unit_seconds in _UNITS:
        count, seconds = divmod(seconds, unit_seconds)
        if count:
            pieces.append(f"{count}{unit}")
    return sign + "".join(pieces)


def parse_clock_time(text: str) -> dt.time:
    """Turn `9:00` or `21:30` into a time of day (no seconds, no zone: it is local)."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{_echo(text)} — не время суток; ожидается {TIME_FORM}")
    return dt.time(int(match.group(1)), int(match.group(2)))


def format_clock_time(value: dt.time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"
