"""The order's table as a file: exactly the rows and words the page shows, every page of them.

The reports of bot/report.py write the whole district for other tools and for the order's
paperwork; this is the view a person filtered, in the words of the page. Its cells go through
the report's guard against spreadsheet formulas (`csv_text`) and take the report's colours.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import xlsxwriter  # type: ignore[import-untyped]

from bot import texts
from bot.domain import Campaign, StepState
from bot.report import STATE_FILL, csv_text
from storage.web import SchoolRow
from web.table import Totals, cell_view, finished_items, school_steps


def _header(campaign: Campaign) -> list[str]:
    steps = school_steps(campaign)
    return [
        "№ школы",
        "Школа",
        *(f"{s.id} {s.short_title}" for s in steps),
        "Выполнено пунктов",
        "Последний ответ",
    ]


def _cells(
    campaign: Campaign, row: SchoolRow, now: dt.datetime
) -> tuple[list[str], list[StepState]]:
    steps = school_steps(campaign)
    views = [cell_view(campaign, row, s, now) for s in steps]
    words = []
    for view in views:
        parts = [view.text, *view.notes]
        if view.reason:
            parts.append(texts.reason_text(view.reason))
        words.append("; ".join(parts))
    last = texts.fmt_moment(row.last_answer, campaign.timezone) if row.last_answer else "—"
    done = f"{finished_items(row, steps)} из {len(steps)}"
    return [row.id, row.name, *words, done, last], [v.state for v in views]


def _total_line(campaign: Campaign, total: Totals) -> list[str]:
    line = ["", f"Итого школ: {total.schools}, выполнили всё: {total.finished}"]
    for step_total in total.steps:
        words = step_total.words(total.schools)
        if step_total.counts:
            words += f"; {step_total.count_words()}"
        line.append(words)
    return [*line, "", ""]


def to_csv(campaign: Campaign, rows: list[SchoolRow], total: Totals, now: dt.datetime) -> bytes:
    """UTF-8 with the byte order mark and «;» between cells: what Excel opens as is on a
    Russian desk."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_header(campaign))
    for row in rows:
        cells, _ = _cells(campaign, row, now)
        writer.writerow([csv_text(c) for c in cells])
    writer.writerow([csv_text(c) for c in _total_line(campaign, total)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(campaign: Campaign, rows: list[SchoolRow], total: Totals, now: dt.datetime) -> bytes:
    """One sheet: the header, the rows, the totals; states coloured as in the report."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    try:
        sheet = book.add_worksheet("Таблица")
        bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        fills = {
            state: book.add_format(
                {"bg_color": bg, "font_color": fg, "text_wrap": True, "valign": "top"}
            )
            for state, (bg, fg) in STATE_FILL.items()
        }
        header = _header(campaign)
        sheet.write_row(0, 0, header, bold)
        sheet.set_column(0, 0, 10)
        sheet.set_column(1, 1, 40)
        sheet.set_column(2, len(header) - 1, 24)
        sheet.freeze_panes(1, 2)
        for index, row in enumerate(rows, start=1):
            cells, states = _cells(campaign, row, now)
            sheet.write_string(index, 0, cells[0], wrap)
            sheet.write_string(index, 1, cells[1], wrap)
            for column, (text, state) in enumerate(zip(cells[2:], states, strict=False), 2):
                sheet.write_string(index, column, text, fills[state])
            for column in range(2 + len(states), len(cells)):
                sheet.write_string(index, column, cells[column], wrap)
        sheet.write_row(len(rows) + 1, 0, _total_line(campaign, total), bold)
        sheet.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
    finally:
        book.close()
    return buffer.getvalue()
