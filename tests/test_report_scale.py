"""The «История» sheet written as XML rows (issue 15): what Excel reads back is what
XlsxWriter would have written cell by cell, styles, dimension and filter included."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import xlsxwriter  # type: ignore[import-untyped]

from bot.campaign import default_campaign_path, load_campaign
from bot.domain import Answer, AnswerSource, Person, Role, School, StepState
from bot.report import write_xlsx
from storage.db import Database
from storage.reports import ReportRepository
from storage.repositories import AnswerRepository, CampaignRepository, RosterRepository

# The order as heads see it: item 3 (item 2 is the staff's own, tests/test_orders.py).
CAMPAIGN = load_campaign(default_campaign_path()).for_heads()
NOW = dt.datetime(2023, 10, 17, 8, 0, tzinfo=dt.UTC)
# Texts a head may type that XML or Excel treat specially.
REASONS = [
    "нет интернета & света <совсем>",
    "  пробелы по краям  ",
    "звонок\x07и\x1bуправляющие",
    "литерал _x0041_ не буква",
    "строка\nвторая",
    "кавычки \"двойные\" и 'одинарные'",
]


async def _database(path: Path) -> Database:
    db = await Database.open(path)
    await CampaignRepository(db).save(CAMPAIGN, NOW)
    await RosterRepository(db).apply(
        [School(id="009", name="МКОУ «СОШ №9» <филиал> & Ко")],
        [Person(person_id=101, school_id="009", full_name="Алиев Али", role=Role.HEAD)],
        NOW,
    )
    for n, reason in enumerate(REASONS):
        await AnswerRepository(db).record(
            Answer(
                campaign_id=CAMPAIGN.id,
                school_id="009",
                step_id=CAMPAIGN.steps[n % len(CAMPAIGN.steps)].id,
                state=StepState.PROBLEM,
                reason=reason,
                answered_by=101,
                answered_at=NOW + dt.timedelta(minutes=n, seconds=30),
                source=AnswerSource.TEXT,
            )
        )
    await AnswerRepository(db).record(
        Answer(
            campaign_id=CAMPAIGN.id,
            school_id="009",
            step_id=CAMPAIGN.steps[0].id,
            state=StepState.DONE,
            answered_by=101,
            answered_at=NOW + dt.timedelta(hours=1),
            late=True,
            source=AnswerSource.BUTTON,
        )
    )
    return db


def reference(path: Path, values: list[list[object]]) -> None:
    """The same cells written by XlsxWriter's own `write_*` (in the constant-memory mode the
    report used, inline strings), to compare what reads back."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet()
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, book.add_format({"num_format": "dd.mm.yyyy"}))
            elif value is not None:
                sheet.write_string(r, c, str(value))
    book.close()


async def test_history_rows_read_back_as_xlsxwriter_writes_them(tmp_path: Path) -> None:
    db = await _database(tmp_path / "bot.db")
    try:
        out = tmp_path / "report.xlsx"
        summary = await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)
    finally:
        await db.close()
    assert summary.answers == len(REASONS) + 1
    sheet = openpyxl.load_workbook(out)["История"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == len(REASONS) + 1
    msk = dt.timezone(dt.timedelta(hours=3))
    assert rows[0][0] == (NOW + dt.timedelta(seconds=30)).astimezone(msk).replace(tzinfo=None)
    assert rows[-1][0] == (NOW + dt.timedelta(hours=1)).astimezone(msk).replace(tzinfo=None)

    # Every text stored as XlsxWriter's write_string stores the typed one.
    typed = [[*row[:6], reason, *row[7:]] for row, reason in zip(rows, REASONS, strict=False)]
    ref_path = tmp_path / "reference.xlsx"
    reference(ref_path, typed)
    expected = [[c.value for c in row] for row in openpyxl.load_workbook(ref_path).active.rows]
    assert rows[: len(REASONS)] == expected
    assert rows[2][6] == "звонок_x0007_и_x001B_управляющие"  # as Excel escapes them
    assert rows[0][2] == "МКОУ «СОШ №9» <филиал> & Ко"
    assert rows[0][6] == "нет интернета & света <совсем>"
    assert rows[1][6] == "  пробелы по краям  "
    assert rows[-1][4:] == ["выполнено", None, None, "Алиев Али (id101)", "кнопкой", "да"]

    # Styles: the states' fills, the date's format, and the sheet's extent and filter.
    assert sheet["A2"].number_format == "dd.mm.yyyy hh:mm"
    assert str(sheet["E2"].fill.fgColor.rgb).endswith("FFC7CE")  # problem
    assert str(sheet[f"E{len(rows) + 1}"].fill.fgColor.rgb).endswith("C6EFCE")  # done
    assert sheet["B2"].alignment.wrap_text
    assert sheet.auto_filter.ref == f"A1:J{len(rows) + 1}"
    assert sheet.freeze_panes == "A2"
    with zipfile.ZipFile(out) as book:
        xml = book.read("xl/worksheets/sheet3.xml").decode()
        assert f'<dimension ref="A1:J{len(rows) + 1}"/>' in xml
        assert book.testzip() is None


async def test_an_empty_history_is_a_header_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    try:
        await CampaignRepository(db).save(CAMPAIGN, NOW)
        out = tmp_path / "report.xlsx"
        summary = await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)
    finally:
        await db.close()
    assert summary.answers == 0
    sheet = openpyxl.load_workbook(out)["История"]
    assert sheet.max_row == 1
    assert sheet["A1"].value == "Дата и время"


async def test_every_sheet_says_its_own_extent_and_keeps_its_styles(tmp_path: Path) -> None:
    db = await _database(tmp_path / "bot.db")
    try:
        out = tmp_path / "report.xlsx"
        await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)
    finally:
        await db.close()
    book = openpyxl.load_workbook(out)
    with zipfile.ZipFile(out) as archive:
        for number, sheet in enumerate(book.worksheets, start=1):
            xml = archive.read(f"xl/worksheets/sheet{number}.xml").decode()
            last = f"{openpyxl.utils.get_column_letter(sheet.max_column)}{sheet.max_row}"
            assert f'<dimension ref="A1:{last}"/>' in xml, sheet.title
    summary = book["Сводка"]
    totals = summary.max_row  # title, header, the school, the totals
    assert totals == 4
    assert summary.cell(totals, 1).value is None
    assert summary.cell(totals, 1).font.b  # a styled blank, as XlsxWriter's write_blank
    assert summary.cell(totals, 1).border.top.style == "medium"
    assert summary.cell(totals, 2).value.startswith("Итого")
    assert str(summary.cell(3, 3).fill.fgColor.rgb).endswith("C6EFCE")  # 3.1 done
    assert book["Должники"].max_row == 2
