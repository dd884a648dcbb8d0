"""Finished schools by day, as the coordinates of an inline SVG the template draws.

Server-side and inline: no script and no request of its own; the numbers are also written
under the picture, so it is never the only way to read them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.web import DayCount

WIDTH = 640
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 36


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: str  # «18.10»
    finished: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[Point]
    polyline: str
    schools: int
    axis_y: list[tuple[float, int]]  # (y, label) for the grid lines
    baseline: float
    left: int
    right: float


def progress_chart(days: list[DayCount], today: dt.date, finished_now: int, schools: int) -> Chart:
    """The summaries' days, and today from the live count when no summary has been taken
    today yet."""
    series = [(d.day, d.finished) for d in days if d.day < today]
    series.append((today, finished_now))
    series = series[-30:]
    top = max(schools, 1)
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    step = span_x / max(len(series) - 1, 1)
    points = [
        Point(
            x=round(LEFT + (i * step if len(series) > 1 else span_x / 2), 1),
            y=round(TOP + span_y * (1 - finished / top), 1),
            day=day.strftime("%d.%m"),
            finished=finished,
        )
        for i, (day, finished) in enumerate(series)
    ]
    grid = sorted({0, top // 2, top})
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        schools=schools,
        axis_y=[(round(TOP + span_y * (1 - value / top), 1), value) for value in grid],
        baseline=TOP + span_y,
        left=LEFT,
        right=WIDTH - RIGHT,
    )
