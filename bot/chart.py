"""The progress picture: a PNG of where the campaign stands, for the admin chats.

One horizontal bar per step shows the district's schools by the state of that step (done,
in progress, problem, no answer); under a count step, one thin bar per part shows the share of
people connected (teachers, pupils). 1080 px wide, as tall as the rows need, large type: VK
shows a photo the width of a phone screen, so 34 px labels read as ordinary text there.

Drawn with Pillow rather than matplotlib. Measured on this project's 2-core machine with
Python 3.11, each installed into an empty venv (`du` of site-packages, less pip and setuptools):

- install size: Pillow 13.0 is 21 MiB, and needs nothing else; matplotlib 3.11 is 173 MiB,
  as it brings numpy, fontTools, kiwisolver, contourpy, Pillow itself and more;
- time: `from PIL import Image, ImageDraw, ImageFont` takes about 30 ms, and this picture for
  order No. 47 (1080 x 1460 px) 70-100 ms, two thirds of it PNG compression; matplotlib's
  import alone takes 0.7-1.9 s, and a plainer bar chart of the same steps 160-190 ms.

matplotlib's one advantage here is that it brings DejaVu Sans, which has Cyrillic; Pillow's
built-in font (Aileron) draws Cyrillic letters as empty boxes, and system fonts differ from
server to server. So DejaVu Sans and Sans Bold come with the bot, unmodified, in `bot/fonts/`
(1.4 MiB, licence beside them): the picture looks the same everywhere.

Pure: a `DistrictStatus` in, PNG bytes out. Rendering is CPU work (tens of milliseconds); callers
in the event loop run it in a thread, and a lock keeps the shared FreeType fonts to one thread.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot import texts
from bot.domain import StepState
from bot.russian import number
from bot.status import DistrictStatus, StepSummary

WIDTH = 1080
PAD = 48
INNER = WIDTH - 2 * PAD

BACKGROUND = "#FFFFFF"
INK = "#1F2328"
MUTED = "#5F6670"
RULE = "#D0D7DE"
# Excel's "Good", "Neutral" and "Bad" greens, ambers and reds, as in the workbook, made stronger
# so that they tell apart on a dim phone screen; grey for no answer.
STATE_COLOR = {
    StepState.DONE: "#2DA44E",
    StepState.IN_PROGRESS: "#F2B705",
    StepState.PROBLEM: "#D1242F",
    StepState.NONE: "#E6E8EB",
}
LEGEND_STATES = (StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM, StepState.NONE)
PEOPLE_COLOR = "#2F6FD6"
PEOPLE_TRACK = "#DCE7F9"

TITLE_SIZE = 46
SUBTITLE_SIZE = 30
LABEL_SIZE = 34
PART_SIZE = 30
LEGEND_SIZE = 28
STEP_BAR = 44
PART_BAR = 26
RADIUS = 8
VALUE_WIDTH = 130  # right of each bar: its percent

_RENDER_LOCK = threading.Lock()


@cache
def _font_bytes(name: str) -> bytes:
    return resources.files("bot").joinpath("fonts", name).read_bytes()


@cache
def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(io.BytesIO(_font_bytes(name)), size)


def _fit(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """The text, cut with «…» to fit `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


@dataclass
class _Canvas:
    draw: ImageDraw.ImageDraw
    y: int = PAD

    def text(
        self, text: str, font: ImageFont.FreeTypeFont, *, color: str = INK, gap: int = 10
    ) -> None:
        """A line of text across the picture, cut to fit; moves down by its height."""
        self.draw.text((PAD, self.y), _fit(text, font, INNER), font=font, fill=color)
        self.y += int(font.size * 1.25) + gap

    def bar(
        self,
        segments: list[tuple[float, str]],
        height: int,
        track: str,
        value: str,
        font: ImageFont.FreeTypeFont,
    ) -> None:
        """A bar filled left to right by (share, colour), with `value` to its right."""
        end = WIDTH - PAD - VALUE_WIDTH
        self.draw.rounded_rectangle((PAD, self.y, end, self.y + height), RADIUS, fill=track)
        left = float(PAD)
        for share, color in segments:
            width = (end - PAD) * max(0.0, min(share, 1.0))
            if width >= 1:
                right = min(left + width, end)
                self.draw.rectangle((round(left), self.y, round(right), self.y + height), color)
                left = right
        self.draw.text(
            (WIDTH - PAD, self.y + height // 2), value, font=font, fill=INK, anchor="rm"
        )
        self.y += height


def _step_rows(canvas: _Canvas, summary: StepSummary, schools: int) -> None:
    step = summary.step
    canvas.text(f"{step.id} {step.short_title}", _font(LABEL_SIZE, bold=True))
    # Schools where the step is «не требуется» are not in its bar (issue 17).
    schools = summary.applies
    whole = max(schools, 1)
    canvas.bar(
        [
            (summary.done / whole, STATE_COLOR[StepState.DONE]),
            (summary.in_progress / whole, STATE_COLOR[StepState.IN_PROGRESS]),
            (summary.problem / whole, STATE_COLOR[StepState.PROBLEM]),
        ],
        STEP_BAR,
        STATE_COLOR[StepState.NONE],
        texts.chart_value(summary.done, schools),
        _font(LABEL_SIZE, bold=True),
    )
    canvas.y += 8
    canvas.text(
        texts.chart_step_counts(summary.done, schools, summary.in_progress, summary.problem),
        _font(PART_SIZE),
        color=MUTED,
        gap=14,
    )
    for part in summary.parts:
        canvas.text(
            texts.chart_part(part.title, part.done, part.total),
            _font(PART_SIZE),
            color=MUTED,
            gap=6,
        )
        share = part.done / part.total if part.total else 0.0
        canvas.bar(
            [(share, PEOPLE_COLOR)],
            PART_BAR,
            PEOPLE_TRACK,
            texts.chart_value(part.done, part.total),
            _font(PART_SIZE),
        )
        canvas.y += 16
    canvas.y += 26


def _legend(canvas: _Canvas, people: bool) -> None:
    font = _font(LEGEND_SIZE)
    items = [(STATE_COLOR[state], texts.STATE_NAME[state]) for state in LEGEND_STATES]
    if people:
        items.append((PEOPLE_COLOR, texts.CHART_PEOPLE))
    x, square = PAD, LEGEND_SIZE
    for color, label in items:
        width = square + 10 + int(font.getlength(label)) + 32
        if x + width > WIDTH - PAD + 32:
            x = PAD
            canvas.y += int(LEGEND_SIZE * 1.6)
        canvas.draw.rectangle((x, canvas.y + 4, x + square, canvas.y + 4 + square), color)
        canvas.draw.text((x + square + 10, canvas.y), label, font=font, fill=INK)
        x += width
    canvas.y += int(LEGEND_SIZE * 1.6)


TREND_HEIGHT = 170


def _trend(canvas: _Canvas, trend: Sequence[tuple[dt.date, int]], schools: int) -> None:
    """Finished schools at each daily summary: a line with a dot per day, the first and last
    day under it and the last count beside it."""
    canvas.y += 24
    canvas.text(texts.CHART_TREND, _font(LABEL_SIZE), gap=12)
    top, bottom = canvas.y + 8, canvas.y + TREND_HEIGHT
    left, right = PAD + 8, WIDTH - PAD - VALUE_WIDTH
    canvas.draw.line((left, bottom, right, bottom), fill=RULE, width=2)
    scale = max(schools, max(n for _, n in trend), 1)
    step = (right - left) / max(len(trend) - 1, 1)
    points = [
        (round(left + i * step), round(bottom - (bottom - top) * n / scale))
        for i, (_, n) in enumerate(trend)
    ]
    canvas.draw.line(points, fill=STATE_COLOR[StepState.DONE], width=5)
    for x, y in points:
        canvas.draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=STATE_COLOR[StepState.DONE])
    font = _font(LEGEND_SIZE)
    last_x, last_y = points[-1]
    canvas.draw.text((last_x + 16, last_y), number(trend[-1][1]), font=font, fill=INK, anchor="lm")
    canvas.draw.text((left, bottom + 8), f"{trend[0][0]:%d.%m}", font=font, fill=MUTED)
    canvas.draw.text(
        (right, bottom + 8), f"{trend[-1][0]:%d.%m}", font=font, fill=MUTED, anchor="ra"
    )
    canvas.y = bottom + 8 + int(LEGEND_SIZE * 1.6)


def _height_bound(status: DistrictStatus) -> int:
    parts = sum(len(s.parts) for s in status.steps)
    # Generous: the picture is cropped to what was drawn.
    return 600 + 240 * len(status.steps) + 120 * parts + 2 * TREND_HEIGHT


def render_progress(status: DistrictStatus) -> bytes:
    """The progress picture as PNG bytes: 1080 px wide, height by the number of rows."""
    campaign = status.campaign
    with _RENDER_LOCK:
        image = Image.new("RGB", (WIDTH, _height_bound(status)), BACKGROUND)
        canvas = _Canvas(ImageDraw.Draw(image))
        canvas.text(texts.CHART_TITLE.format(number=campaign.number), _font(TITLE_SIZE, bold=True))
        canvas.text(
            texts.CHART_MOMENT.format(
                moment=texts.fmt_moment(status.now, campaign.timezone),
                deadline=texts.fmt_deadline(campaign),
            ),
            _font(SUBTITLE_SIZE),
            color=MUTED,
        )
        canvas.text(
            texts.chart_finished(status.finished, status.schools),
            _font(LABEL_SIZE),
            gap=18,
        )
        canvas.draw.line((PAD, canvas.y, WIDTH - PAD, canvas.y), fill=RULE, width=2)
        canvas.y += 28
        for summary in status.steps:
            _step_rows(canvas, summary, status.schools)
        _legend(canvas, people=any(s.parts for s in status.steps))
        if len(status.trend) >= 2:
            _trend(canvas, status.trend, status.schools)
        picture = image.crop((0, 0, WIDTH, canvas.y + PAD))
        out = io.BytesIO()
        picture.save(out, format="PNG")
    return out.getvalue()
