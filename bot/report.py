"""Reports for the administration: the CSV other tools read and the Excel workbook people read.

Both stream the roster school by school from `storage.reports.ReportRepository` and write as they
read, so memory stays flat from 1,500 to 40,000 schools. A file appears under its name only
once complete: it is written beside the target under a temporary name and renamed.

The workbook is written with XlsxWriter rather than openpyxl:

- its `constant_memory` mode flushes every row to disk as soon as the next one starts, which is
  exactly the order a stream of schools comes in; openpyxl's `write_only` mode streams too;
- it wrote the same styled rows about twice as fast as openpyxl's `write_only` here (2.8 million
  cells: 30 s against 65 s), and the history sheet of a large district is millions of cells;
- it is one pure-Python package with no dependencies; openpyxl brings et-xmlfile along and is
  half as large again installed. openpyxl stays a test dependency, to read the workbook back.

Measured on a 2-core machine, each report in its own process: 1,500 schools (10,000 answers)
0.6 s for the CSV and 3 s for the workbook; 40,000 schools (267,000 answers) 7 s and about a
minute, in 43 MB either way. XlsxWriter's 10-15 us a cell is the cost, and the history sheet is
three quarters of the cells. So the sheets' data rows are written as XML straight to scratch
files and spliced into the workbook XlsxWriter wrote around them (`_SheetRows`): 40,000 schools
in about 9 s (issue 15; BENCHMARKS.md compares other writers).

Sheet names, headers and cell texts are Russian, as everything the administration reads, and
live in `bot/texts.py` with the rest (numerals that agree, «90 %»). The CSV is the machine
interface of PRODUCT.md: English header, state codes, `teachers=45/50`, ISO times; it stays so.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import xlsxwriter  # type: ignore[import-untyped]

from bot import texts
from bot.domain import Answer, Campaign, Step, StepKind, StepState
from bot.texts import ROLE_NAME, SOURCE_NAME, STATE_NAME
from storage.reports import HistoryEntry, ReportRepository, SchoolRecord

CSV_HEADER = (
    "school_id",
    "school_name",
    "step",
    "status",
    "value",
    "answered_by",
    "answered_at",
    "late",
    "verified",
)

SHEET_SUMMARY = texts.REPORT_SHEET_SUMMARY
SHEET_PENDING = texts.REPORT_SHEET_PENDING
SHEET_HISTORY = texts.REPORT_SHEET_HISTORY
SUMMARY_HEADER = texts.REPORT_SUMMARY_HEADER
PENDING_HEADER = texts.REPORT_PENDING_HEADER
# The history of a large region runs to millions of cells, which is where the time goes:
# one cell a fact, and empty ones left unwritten.
HISTORY_HEADER = texts.REPORT_HISTORY_HEADER

# Excel's own "Good", "Neutral" and "Bad" cell styles, and a grey for "no answer".
STATE_FILL = {
    StepState.DONE: ("#C6EFCE", "#006100"),
    StepState.IN_PROGRESS: ("#FFEB9C", "#9C5700"),
    StepState.PROBLEM: ("#FFC7CE", "#9C0006"),
    StepState.NONE: ("#D9D9D9", "#000000"),
    StepState.NOT_REQUIRED: ("#F2F2F2", "#595959"),
}


@dataclass(frozen=True)
class ReportSummary:
    """What was written, for the line the CLI prints and the caption of an upload."""

    path: Path
    schools: int
    steps: int
    finished: int  # schools with every step done
    rows: int  # data rows: CSV lines, or the rows of all three sheets
    answers: int = 0  # entries of the history sheet (XLSX only)


# --- cell texts ---------------------------------------------------------------------------------

# What Excel and LibreOffice take for the start of a formula in a CSV cell (OWASP, "CSV
# Injection"): `=`, `+`, `-`, `@`, and a tab or carriage return before one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell of a CSV that a spreadsheet shows as text: one that would start a formula
    gets a leading `'`. For the columns of names and ids only, which come from people and
    files; numbers, dates and the documented codes of the other columns are never changed.

    A carriage return becomes a line feed: Python's writer quotes a cell with `\n` (our line
    end) but not one with a lone `\r`, which readers take for the end of the row.
    """
    if value.startswith(_FORMULA_START):
        value = f"'{value}"
    return value.replace("\r\n", "\n").replace("\r", "\n")


def counts_text(step: Step, answer: Answer) -> str:
    """`педагоги: подключено 45 из 50 (90 %); …`; no titles when there is one part."""
    return texts.report_counts(step, answer)


def step_text(step: Step, answer: Answer | None) -> str:
    """A summary cell: the state in Russian, or a count step's numbers; late ones say so."""
    if answer is None:
        return STATE_NAME[StepState.NONE]
    if step.kind is StepKind.COUNT and answer.counts:
        text = counts_text(step, answer)
    else:
        text = STATE_NAME[answer.state]
    return text + texts.REPORT_LATE if answer.late else text


def owed_text(step: Step, answer: Answer | None) -> str:
    """A line of the debtors sheet: the step, its state, and the numbers or the reason."""
    line = f"{step.id} {step.short_title} — {STATE_NAME[StepState.NONE]}"
    if answer is not None:
        line = f"{step.id} {step.short_title} — {STATE_NAME[answer.state]}"
        if step.kind is StepKind.COUNT and answer.counts:
            line += f": {counts_text(step, answer)}"
        if answer.reason:
            line += f": {texts.reason_text(answer.reason)}"
    return line


def state_of(record: SchoolRecord, step: Step) -> StepState:
    answer = record.answers.get(step.id)
    return StepState.NONE if answer is None else answer.state


def verified_text(step: Step, record: SchoolRecord, members: frozenset[int] | None) -> str:
    """`true`/`false` for a step the bot checks itself (3.3: people in a heads chat), empty
    where it cannot check (no readable heads chat, no people) or the step is not checkable."""
    if step.verified_by is None or members is None or not record.people:
        return ""
    return "true" if all(p.person_id in members for p in record.people) else "false"


def csv_rows(
    campaign: Campaign,
    record: SchoolRecord,
    zone: ZoneInfo,
    members: frozenset[int] | None = None,
) -> list[list[str]]:
    """The school's CSV rows, one per step of the campaign, in the campaign's order.

    `members`: who the bot saw in the heads chats it can read, or None if it can read none.
    """
    rows = []
    for step in campaign.steps:
        answer = record.answers.get(step.id)
        verified = verified_text(step, record, members)
        school_id, school_name = csv_text(record.school.id), csv_text(record.school.name)
        if answer is None:
            rows.append(
                [
                    school_id,
                    school_name,
                    step.id,
                    "none",
                    "",
                    "",
                    "",
                    "false",
                    verified,
                ]
            )
            continue
        rows.append(
            [
                school_id,
                school_name,
                step.id,
                answer.state.value,
                answer.counts_text() if step.kind is StepKind.COUNT else "",
                str(answer.answered_by),
                answer.answered_at.astimezone(zone).isoformat(timespec="seconds"),
                "true" if answer.late else "false",
                verified,
            ]
        )
    return rows


# --- files --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that takes its name only if the block succeeds.

    Created owner-only, as the database: a report names people and their VK ids.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def _open_text(path: Path, *, bom: bool) -> TextIO:
    return path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="")


async def write_csv(
    repo: ReportRepository,
    campaign: Campaign,
    tz: str,
    path: Path,
    *,
    bom: bool = False,
    members: frozenset[int] | None = None,
) -> ReportSummary:
    """Write the report CSV of PRODUCT.md: every school of the roster times every step.

    `bom` prefixes the UTF-8 byte order mark, which Excel needs to read Cyrillic from a CSV.
    """
    zone = ZoneInfo(tz)
    path = Path(path)
    schools = finished = rows = 0
    with _replacing(path) as temp, _open_text(temp, bom=bom) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        async with aclosing(repo.schools(campaign.id)) as records:
            async for record in records:
                lines = csv_rows(campaign, record, zone, members)
                writer.writerows(lines)
                schools += 1
                rows += len(lines)
                finished += all(state_of(record, s).finished for s in campaign.steps)
    return ReportSummary(
        path=path, schools=schools, steps=len(campaign.steps), finished=finished, rows=rows
    )


async def write_xlsx(
    repo: ReportRepository,
    campaign: Campaign,
    tz: str,
    path: Path,
    now: dt.datetime,
    *,
    members: frozenset[int] | None = None,
) -> ReportSummary:
    """Write the Excel report: «Сводка», «Должники» and «История», as of `now`.

    `members`: who the bot saw in the heads chats it can read (None: it can read none); a step
    the bot checks itself says beside the head's answer whether the bot confirmed it.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    path = Path(path)
    with (
        tempfile.TemporaryDirectory(prefix="confirmbot-report-") as scratch,
        _replacing(path) as temp,
    ):
        book = _Workbook(temp, Path(scratch), campaign, ZoneInfo(tz), now, members)
        book.extended = await repo.extensions(campaign.id)
        try:
            async with aclosing(repo.schools(campaign.id)) as records:
                async for record in records:
                    book.add_school(record)
            book.end_schools()
            async with aclosing(repo.history(campaign.id)) as history:
                async for entry in history:
                    book.add_answer(entry)
        finally:
            book.close()
    return ReportSummary(
        path=path,
        schools=book.schools,
        steps=len(campaign.steps),
        finished=book.finished,
        rows=book.rows,
        answers=book.answers,
    )


@dataclass
class _PartSum:
    title: str
    done: int = 0
    total: int = 0


@dataclass
class _StepSum:
    done: int = 0
    not_required: int = 0  # schools left out of the step's total
    parts: dict[str, _PartSum] = field(default_factory=dict)


class _Workbook:
    """The three sheets, filled row by row in XlsxWriter's constant-memory mode."""

    SUMMARY_TOP = 2  # the title row, then the header row
    STEP_WIDTH = 18
    PART_WIDTH = 17  # per part of a count step

    def __init__(
        self,
        path: Path,
        scratch: Path,
        campaign: Campaign,
        zone: ZoneInfo,
        now: dt.datetime,
        members: frozenset[int] | None = None,
    ) -> None:
        self.members = members
        self.campaign = campaign
        self.zone = zone
        # school id -> step id ("" for all) -> its own deadline, shown under what it owes.
        self.extended: dict[str, dict[str, dt.datetime]] = {}
        self.schools = self.finished = self.rows = self.answers = 0
        self.people = self.acknowledged = 0
        self.pending_row = 1
        self.closed = False
        self.totals = {
            step.id: _StepSum(parts={p.key: _PartSum(p.title) for p in step.parts})
            for step in campaign.steps
        }
        self.path = path
        self.scratch = scratch
        self.book: Any = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "tmpdir": str(scratch)}
        )
        self._formats()
        # Each sheet's data rows, written as XML (see `_SheetRows`); XlsxWriter writes the
        # title and header rows above them and everything around.
        self.summary_rows = _SheetRows(scratch / "summary-rows.xml")
        self.pending_rows = _SheetRows(scratch / "pending-rows.xml")
        self.history_rows = _SheetRows(scratch / "history-rows.xml")
        self.summary: Any = self.book.add_worksheet(SHEET_SUMMARY)
        self.pending: Any = self.book.add_worksheet(SHEET_PENDING)
        self.history: Any = self.book.add_worksheet(SHEET_HISTORY)
        self._start_summary(now)
        self._start_pending()
        self._start_history()

    def _formats(self) -> None:
        add = self.book.add_format
        self.f_title = add({"bold": True, "font_size": 12})
        self.f_header = add(
            {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1}
        )
        self.f_text = add({"text_wrap": True, "valign": "top"})
        self.f_total = add({"bold": True, "text_wrap": True, "valign": "top", "top": 2})
        self.f_when = add({"num_format": "dd.mm.yyyy hh:mm", "valign": "top"})
        self.f_state = {
            state: add({"bg_color": fill, "font_color": font, "text_wrap": True, "valign": "top"})
            for state, (fill, font) in STATE_FILL.items()
        }
        # The styles' numbers in the workbook's styles.xml, for the rows written as XML
        # (XlsxWriter numbers a format when it is first used; these are numbered here,
        # before any row is written).
        self.s_text = self.f_text._get_xf_index()
        self.s_total = self.f_total._get_xf_index()
        self.s_when = self.f_when._get_xf_index()
        self.s_state = {state: f._get_xf_index() for state, f in self.f_state.items()}

    @property
    def _last_column(self) -> int:
        return len(SUMMARY_HEADER) + len(self.campaign.steps) + 1

    def _start_summary(self, now: dt.datetime) -> None:
        campaign, sheet = self.campaign, self.summary
        sheet.write_string(
            0,
            0,
            texts.report_title(
                campaign,
                deadline=campaign.deadline.astimezone(self.zone).strftime("%d.%m.%Y %H:%M"),
                now=now.astimezone(self.zone).strftime("%d.%m.%Y %H:%M"),
                timezone=self.zone.key,
            ),
            self.f_title,
        )
        headers = [*SUMMARY_HEADER, *(f"{s.id} {s.short_title}" for s in campaign.steps)]
        headers += [texts.REPORT_ACKNOWLEDGED, texts.REPORT_ALL_DONE]
        for column, text in enumerate(headers):
            sheet.write_string(1, column, text, self.f_header)
        sheet.set_column(0, 0, 10)
        sheet.set_column(1, 1, 40)
        for column, step in enumerate(campaign.steps, start=len(SUMMARY_HEADER)):
            width = max(self.STEP_WIDTH, self.PART_WIDTH * len(step.parts))
            sheet.set_column(column, column, width)
        sheet.set_column(self._last_column - 1, self._last_column, 13)
        sheet.freeze_panes(self.SUMMARY_TOP, len(SUMMARY_HEADER))

    def _start_pending(self) -> None:
        for column, text in enumerate(PENDING_HEADER):
            self.pending.write_string(0, column, text, self.f_header)
        self.pending.set_column(0, 0, 10)
        self.pending.set_column(1, 1, 40)
        self.pending.set_column(2, 3, 60)
        self.pending.freeze_panes(1, 0)

    def _start_history(self) -> None:
        for column, text in enumerate(HISTORY_HEADER):
            self.history.write_string(0, column, text, self.f_header)
        for column, width in enumerate((16, 10, 40, 6, 12, 40, 40, 36, 8, 13)):
            self.history.set_column(column, column, width)
        self.history.freeze_panes(1, 0)

    def add_school(self, record: SchoolRecord) -> None:
        row = self.SUMMARY_TOP + self.schools
        campaign, plain = self.campaign, self.s_text
        cells: list[_Cell] = [(0, plain, record.school.id), (1, plain, record.school.name)]
        owed: list[str] = []
        for column, step in enumerate(campaign.steps, start=len(SUMMARY_HEADER)):
            answer = record.answers.get(step.id)
            state = state_of(record, step)
            text = step_text(step, answer)
            verified = verified_text(step, record, self.members)
            if verified:
                text += (
                    texts.REPORT_VERIFIED_BY_BOT
                    if verified == "true"
                    else texts.REPORT_NOT_VERIFIED_BY_BOT
                )
            cells.append((column, self.s_state[state], text))
            sums = self.totals[step.id]
            if state is StepState.DONE:
                sums.done += 1
            elif state is StepState.NOT_REQUIRED:
                sums.not_required += 1
            else:
                owed.append(owed_text(step, answer))
            if answer is not None:
                for key, count in answer.counts.items():
                    part = sums.parts.setdefault(key, _PartSum(key))
                    part.done += count.done
                    part.total += count.total
        acknowledged = len(record.acknowledged)
        column = self._last_column - 1
        cells.append((column, plain, texts.report_out_of(acknowledged, len(record.people))))
        done = not owed
        cells.append(
            (
                column + 1,
                self.s_state[StepState.DONE] if done else plain,
                texts.REPORT_YES if done else texts.REPORT_NO,
            )
        )
        self.summary_rows.add(row, cells)
        self.schools += 1
        self.rows += 1
        self.finished += done
        self.people += len(record.people)
        self.acknowledged += acknowledged
        if owed:
            self._add_pending(record, owed)

    def _add_pending(self, record: SchoolRecord, owed: list[str]) -> None:
        people = [
            f"{p.full_name}, {ROLE_NAME[p.role]}, "
            f"{texts.REPORT_VK_PROFILE.format(person_id=p.person_id)}"
            for p in record.people
        ]
        plain = self.s_text
        owed = owed + texts.extension_lines(
            self.campaign, self.extended.get(record.school.id, {}), self.zone.key
        )
        self.pending_rows.add(
            self.pending_row,
            [
                (0, plain, record.school.id),
                (1, plain, record.school.name),
                (2, plain, "\n".join(owed)),
                (3, plain, "\n".join(people) or texts.REPORT_NOBODY),
            ],
        )
        self.pending_row += 1
        self.rows += 1

    def end_schools(self) -> None:
        """Write the totals row under the schools and put the filters over both tables."""
        row, schools, total = self.SUMMARY_TOP + self.schools, self.schools, self.s_total
        cells: list[_Cell] = [
            (0, total, None),
            (1, total, texts.REPORT_TOTAL.format(schools=schools)),
        ]
        for column, step in enumerate(self.campaign.steps, start=len(SUMMARY_HEADER)):
            sums = self.totals[step.id]
            parts = [texts.report_step_total(sums.done, schools - sums.not_required)]
            parts += [
                texts.report_part_total(p.title, p.done, p.total) for p in sums.parts.values()
            ]
            cells.append((column, total, "; ".join(parts)))
        column = self._last_column - 1
        cells.append((column, total, texts.report_out_of(self.acknowledged, self.people)))
        cells.append((column + 1, total, texts.report_out_of(self.finished, schools)))
        self.summary_rows.add(row, cells)
        # The totals row stays out of the filter, or sorting would move it among the schools.
        self.summary.autofilter(1, 0, max(row - 1, 1), self._last_column)
        self.pending.autofilter(0, 0, max(self.pending_row - 1, 0), len(PENDING_HEADER) - 1)

    def add_answer(self, entry: HistoryEntry) -> None:
        """One row of «История»."""
        self.answers += 1
        self.rows += 1
        answer, plain = entry.answer, self.s_text
        step = self.campaign.step(answer.step_id)
        when = answer.answered_at.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        cells: list[_Cell] = [
            (0, self.s_when, _excel_time(when)),
            (1, plain, answer.school_id),
            (2, plain, entry.school_name),
            (3, plain, answer.step_id),
            (4, self.s_state[answer.state], STATE_NAME[answer.state]),
        ]
        if answer.counts:
            value = counts_text(step, answer) if step is not None else answer.counts_text()
            cells.append((5, plain, value))
        if answer.reason:
            cells.append((6, plain, answer.reason))
        who = (
            texts.REPORT_WHO.format(name=entry.full_name, person_id=answer.answered_by)
            if entry.full_name
            else texts.REPORT_WHO_UNKNOWN.format(person_id=answer.answered_by)
        )
        cells.append((7, plain, who))
        cells.append((8, plain, SOURCE_NAME[answer.source]))
        cells.append((9, plain, texts.REPORT_YES if answer.late else texts.REPORT_NO))
        self.history_rows.add(self.answers, cells)

    def close(self) -> None:
        """Assemble the file; after a failure too, so that no scratch file stays open."""
        if self.closed:
            return
        self.closed = True
        self.history.autofilter(0, 0, self.answers, len(HISTORY_HEADER) - 1)
        for rows in (self.summary_rows, self.pending_rows, self.history_rows):
            rows.close()
        try:
            self.book.close()
        except xlsxwriter.exceptions.FileCreateError as error:
            cause = error.args[0] if error.args else None
            raise cause if isinstance(cause, OSError) else OSError(str(error)) from error
        # What each sheet spans: its last column and row (0-based), headers included.
        sheets = [
            (self.summary, self.summary_rows, self._last_column, self.SUMMARY_TOP + self.schools),
            (self.pending, self.pending_rows, len(PENDING_HEADER) - 1, self.pending_row - 1),
            (self.history, self.history_rows, len(HISTORY_HEADER) - 1, self.answers),
        ]
        parts = {
            f"xl/worksheets/sheet{self.book.worksheets().index(sheet) + 1}.xml": (
                rows,
                f"A1:{_COLUMNS[last_column]}{last_row + 1}",
            )
            for sheet, rows, last_column, last_row in sheets
        }
        _splice_rows(self.path, self.scratch / "spliced.xlsx", parts)


# --- rows written as XML -----------------------------------------------------------------------

# What a text must not carry into the sheet's XML as it is: markup, and the control characters
# XML 1.0 forbids, written as Excel writes them (`_x0007_`).
_XML_TEXT = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        **{chr(c): f"_x{c:04X}_" for c in (*range(0, 9), *range(11, 32))},
    }
)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - Excel's serial dates are local


def _excel_time(moment: dt.datetime) -> float:
    """A naive local time as Excel's serial number (days since 1899-12-30)."""
    return (moment - _EXCEL_EPOCH) / dt.timedelta(days=1)


_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_")
_LITERAL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")


def _inline(text: str) -> str:
    """A text as an inline string's `<is>` element, escaped as XlsxWriter escapes it."""
    if _NEEDS_ESCAPE.search(text) is not None:
        # A literal `_x0041_` must not read back as «A»: Excel's escape of the escape.
        text = _LITERAL_ESCAPE.sub(r"_x005F\1", text).translate(_XML_TEXT)
    if text[:1].isspace() or text[-1:].isspace():
        return f'<is><t xml:space="preserve">{text}</t></is>'
    return f"<is><t>{text}</t></is>"


_COLUMNS = [xlsxwriter.utility.xl_col_to_name(column) for column in range(256)]
_Cell = tuple[int, int, str | float | None]  # column, style number, value


class _SheetRows:
    """A worksheet's data rows written as SpreadsheetML to a scratch file, streaming.

    XlsxWriter spends 10-15 us a cell checking, escaping and dispatching; a row here is one
    f-string per cell and one write per row, several times faster, and memory stays flat.
    The file is spliced into the sheet XlsxWriter wrote (its header, widths, panes, filter)
    by `_splice_rows`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO = path.open("w", encoding="utf-8", newline="")

    def add(self, row: int, cells: list[_Cell]) -> None:
        """Row `row` (0-based): its cells (column, style, value) in the order of columns; a
        value is a text, a number, or None for a cell with only its style."""
        r = row + 1
        parts = [f'<row r="{r}">']
        for column, style, value in cells:
            if isinstance(value, str):
                parts.append(
                    f'<c r="{_COLUMNS[column]}{r}" s="{style}" t="inlineStr">{_inline(value)}</c>'
                )
            elif value is None:
                parts.append(f'<c r="{_COLUMNS[column]}{r}" s="{style}"/>')
            else:
                parts.append(f'<c r="{_COLUMNS[column]}{r}" s="{style}"><v>{value:.16g}</v></c>')
        parts.append("</row>")
        self._file.write("".join(parts))

    def close(self) -> None:
        self._file.close()


def _splice_rows(book: Path, scratch: Path, sheets: dict[str, tuple[_SheetRows, str]]) -> None:
    """Put each sheet's rows at the end of its data in the workbook `book`, with the sheet's
    dimension (`sheets`: part name -> rows and dimension, e.g. `A1:J42`).

    A workbook is a zip of XML parts; every other part is copied as it is.
    """
    with (
        zipfile.ZipFile(book) as source,
        zipfile.ZipFile(
            scratch, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL
        ) as target,
    ):
        for info in source.infolist():
            if info.filename not in sheets:
                with source.open(info) as part, target.open(info.filename, "w") as out:
                    shutil.copyfileobj(part, out, _CHUNK)
                continue
            rows, dimension = sheets[info.filename]
            xml = source.read(info).decode("utf-8")
            head, end = xml.split("</sheetData>", 1)
            head = re.sub(
                r'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>', head, count=1
            )
            with target.open(info.filename, "w") as out, rows.path.open("rb") as data:
                out.write(head.encode("utf-8"))
                shutil.copyfileobj(data, out, _CHUNK)
                out.write(("</sheetData>" + end).encode("utf-8"))
    os.replace(scratch, book)


_CHUNK = 1 << 20
# zlib's fastest level: the history sheet is a few hundred megabytes of very repetitive XML,
# and level 1 packs it nearly as small as the default level in a third of the time.
_ZIP_LEVEL = 1
