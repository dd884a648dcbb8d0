"""Reports on a real SQLite database: the CSV row by row, the workbook cell by cell, the CLI."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

import bot.report as report_module
from bot.__main__ import main
from bot.campaign import default_campaign_path, load_campaign
from bot.domain import Answer, AnswerSource, Campaign, Count, Person, Role, School, StepState
from bot.report import CSV_HEADER, write_csv, write_xlsx
from storage.db import Database
from storage.reports import ReportRepository
from storage.repositories import (
    AnswerRepository,
    CampaignRepository,
    ConversationRepository,
    RosterRepository,
)

MSK = ZoneInfo("Europe/Moscow")
# Order No. 47 as heads see it (item 3), due 20.10.2023 23:59 MSK.
CAMPAIGN = load_campaign(default_campaign_path()).for_heads()
NOW = dt.datetime(2023, 10, 17, 8, 0, tzinfo=dt.UTC)  # 11:00 in Moscow
ADMIN = 900_001
STEPS = [s.id for s in CAMPAIGN.steps]

GREEN, YELLOW, RED, GREY = "FFC6EFCE", "FFFFEB9C", "FFFFC7CE", "FFD9D9D9"

# "s10" sorts between "s1" and "s2": the report orders schools by id as text, as the roster does.
SCHOOLS = [
    School(id="s1", name="МКОУ «СОШ №1»"),
    School(id="s2", name="МКОУ «Лицей, с запятой»"),
    School(id="s3", name="МКОУ «СОШ №3»"),
    School(id="s10", name="МКОУ «ООШ №10»"),
]
PEOPLE = [
    Person(person_id=101, school_id="s1", full_name="Алиева Патимат", role=Role.HEAD),
    Person(person_id=102, school_id="s1", full_name="Гасанов Руслан", role=Role.DEPUTY),
    Person(person_id=201, school_id="s2", full_name="Магомедов Ахмед", role=Role.HEAD),
    Person(person_id=202, school_id="s2", full_name="Абдуллаева Зарема", role=Role.DEPUTY),
    Person(person_id=301, school_id="s3", full_name="Исаев Шамиль", role=Role.HEAD),
]


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of October 2023, Moscow time."""
    return dt.datetime(2023, 10, day, hour, minute, tzinfo=MSK)


def answer(
    school: str,
    step: str,
    state: StepState,
    by: int,
    when: dt.datetime,
    *,
    counts: dict[str, Count] | None = None,
    reason: str = "",
    source: AnswerSource = AnswerSource.BUTTON,
) -> Answer:
    return Answer(
        campaign_id=CAMPAIGN.id,
        school_id=school,
        step_id=step,
        state=state,
        counts=counts or {},
        reason=reason,
        answered_by=by,
        answered_at=when,
        late=when > CAMPAIGN.deadline,
        source=source,
    )


HISTORY = [
    # s1 finishes: 3.1 first "in progress", then changed to done by the deputy.
    answer("s1", "3.1", StepState.IN_PROGRESS, 101, at(17, 10)),
    answer(
        "s1",
        "3.2",
        StepState.DONE,
        101,
        at(17, 10, 5),
        counts={"teachers": Count(done=50, total=50), "pupils": Count(done=412, total=412)},
        source=AnswerSource.TEXT,
    ),
    answer("s1", "3.3", StepState.DONE, 101, at(17, 10, 6)),
    answer("s1", "3.4", StepState.DONE, 101, at(17, 10, 7)),
    answer("s1", "3.5", StepState.DONE, 101, at(17, 10, 8)),
    answer("s1", "3.1", StepState.DONE, 102, at(18, 9, 30)),
    # s2: numbers short of the totals, a problem with a reason, and a late answer by an admin.
    answer(
        "s2",
        "3.2",
        StepState.IN_PROGRESS,
        201,
        at(17, 10),
        counts={"teachers": Count(done=45, total=50), "pupils": Count(done=380, total=412)},
        source=AnswerSource.TEXT,
    ),
    answer("s2", "3.4", StepState.PROBLEM, 202, at(18, 12), reason="нет интернета"),
    answer("s2", "3.5", StepState.DONE, ADMIN, at(21, 9), source=AnswerSource.ADMIN),
    # s10: one late answer; s3 never answers.
    answer("s10", "3.1", StepState.DONE, 999, at(22, 8)),
]


async def seed(path: Path, campaign: Campaign = CAMPAIGN) -> None:
    db = await Database.open(path)
    try:
        await CampaignRepository(db).save(campaign, NOW)
        await RosterRepository(db).apply(SCHOOLS, PEOPLE, NOW)
        answers = AnswerRepository(db)
        for item in HISTORY:
            await answers.record(item)
        conversations = ConversationRepository(db)
        for person_id in (101, 102, 201):
            await conversations.acknowledge(campaign.id, person_id, NOW)
    finally:
        await db.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    await seed(tmp_path / "bot.db")
    database = await Database.open(tmp_path / "bot.db")
    yield database
    await database.close()


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def load(path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)


def fill(sheet: Worksheet, ref: str) -> str:
    return str(sheet[ref].fill.fgColor.rgb)


# --- CSV ----------------------------------------------------------------------------------------


async def test_csv_has_a_row_per_school_and_step_matching_the_database(
    db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "report.csv"

    summary = await write_csv(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out)

    rows = read_csv(out)
    assert rows[0] == list(CSV_HEADER)
    header_line = out.read_text(encoding="utf-8").split("\n", 1)[0]
    assert header_line == (
        "school_id,school_name,step,status,value,answered_by,answered_at,late,verified"
    )
    body = rows[1:]
    school_ids = sorted(s.id for s in SCHOOLS)
    assert [(r[0], r[2]) for r in body] == [(s, step) for s in school_ids for step in STEPS]
    assert summary.schools == 4
    assert summary.rows == len(body) == 4 * len(STEPS)
    assert summary.finished == 1
    names = {s.id: s.name for s in SCHOOLS}
    answers = AnswerRepository(db)
    for school_id in school_ids:
        current = await answers.current_for_school(CAMPAIGN.id, school_id)
        for row in (r for r in body if r[0] == school_id):
            _, name, step, status, value, by, when, late, verified = row
            assert verified == ""  # no heads chat the bot can read: it cannot check
            assert name == names[school_id]
            stored = current.get(step)
            if stored is None:
                assert (status, value, by, when, late) == ("none", "", "", "", "false"), row
                continue
            assert status == stored.state.value
            assert value == (stored.counts_text() if step == "3.2" else "")
            assert by == str(stored.answered_by)
            assert dt.datetime.fromisoformat(when) == stored.answered_at
            assert when.endswith("+03:00")
            assert late == ("true" if stored.late else "false")


async def test_csv_values_are_the_documented_forms(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    await write_csv(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out)

    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    rows = {(r[0], r[2]): r[:-1] for r in read_csv(out)[1:]}  # `verified` has its own test
    assert rows["s1", "3.1"][3:] == ["done", "", "102", "2023-10-18T09:30:00+03:00", "false"]
    assert rows["s2", "3.2"][3:] == [
        "in_progress",
        "teachers=45/50;pupils=380/412",
        "201",
        "2023-10-17T10:00:00+03:00",
        "false",
    ]
    assert rows["s2", "3.4"][3:] == ["problem", "", "202", "2023-10-18T12:00:00+03:00", "false"]
    assert rows["s2", "3.5"][3:] == ["done", "", str(ADMIN), "2023-10-21T09:00:00+03:00", "true"]
    assert rows["s3", "3.2"][3:] == ["none", "", "", "", "false"]
    # A name with a comma is quoted, not split.
    assert rows["s2", "3.1"][1] == "МКОУ «Лицей, с запятой»"
    assert '"МКОУ «Лицей, с запятой»"' in raw.decode("utf-8")


async def test_csv_with_bom_and_another_timezone(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    await write_csv(ReportRepository(db), CAMPAIGN, "Asia/Yekaterinburg", out, bom=True)

    assert out.read_bytes().startswith(b"\xef\xbb\xbfschool_id,")
    with out.open(encoding="utf-8-sig", newline="") as file:
        rows = {(r[0], r[2]): r for r in csv.reader(file)}
    assert rows["s2", "3.2"][6] == "2023-10-17T12:00:00+05:00"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
async def test_csv_names_that_would_be_formulas_are_text(tmp_path: Path, start: str) -> None:
    path = tmp_path / "bot.db"
    await seed(path)
    db = await Database.open(path)
    try:
        evil = School(id=f"{start}1+1", name=f'{start}HYPERLINK("http://x.ru","СОШ")')
        await RosterRepository(db).apply([evil], [], NOW)
        await AnswerRepository(db).record(answer(evil.id, "3.1", StepState.DONE, 77, at(18, 9)))
        out = tmp_path / "report.csv"
        await write_csv(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out)
    finally:
        await db.close()

    # A carriage return, which Python's CSV writer would leave unquoted, becomes a line feed.
    shown = {"\r": "\n"}.get(start, start)
    rows = [r for r in read_csv(out)[1:] if r[0] == f"'{shown}1+1"]
    assert len(rows) == len(STEPS)
    assert {r[1] for r in rows} == {f"'{evil.name}".replace("\r", "\n")}
    # Numbers, dates and the documented codes are never touched.
    done = next(r for r in rows if r[2] == "3.1")
    assert done[3:8] == ["done", "", "77", "2023-10-18T09:00:00+03:00", "false"]
    # Names that only contain such a character are left as they are.
    other = read_csv(out)[1:]
    assert "МКОУ «Лицей, с запятой»" in {r[1] for r in other}


# --- XLSX ---------------------------------------------------------------------------------------


def pct(text: str) -> str:
    """Russian percents: a no-break space before «%» (bot/russian.py)."""
    return text.replace(" %", "\u00a0%")


async def test_workbook_summary_sheet(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"

    summary = await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)

    assert summary.schools == 4
    assert summary.finished == 1
    assert summary.answers == len(HISTORY)
    book = load(out)
    assert book.sheetnames == ["Сводка", "Должники", "История"]
    sheet = book["Сводка"]
    title = str(sheet["A1"].value)
    # One rule for quotes inside quotes: „лапки“ inside «ёлочки».
    assert title.startswith(
        "Приказ № 47 от 16.10.2023 «О переходе на ИКОП „Сферум“ и VK Мессенджер»"
    )
    assert title.endswith("Отчёт на 17.10.2023 11:00 (Europe/Moscow)")
    header = [c.value for c in sheet[2]]
    assert header == [
        "№ школы",
        "Школа",
        "3.1 Структура классов и бесед",
        "3.2 Педагоги и дети в Сферуме",
        "3.3 Руководители в беседах Управления",
        "3.4 Сферум и VK Мессенджер в школе",
        "3.5 Отказ от иностранных мессенджеров",
        "Ознакомлены",
        "Все пункты выполнены",
    ]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3, max_row=6)]
    done = "выполнено"
    assert rows == [
        [
            "s1",
            "МКОУ «СОШ №1»",
            done,
            pct("педагоги: подключено 50 из 50 (100 %); ученики: подключено 412 из 412 (100 %)"),
            done,
            done,
            done,
            "2 из 2",
            "да",
        ],
        [
            "s10",
            "МКОУ «ООШ №10»",
            "выполнено (с опозданием)",
            "нет ответа",
            "нет ответа",
            "нет ответа",
            "нет ответа",
            "0 из 0",
            "нет",
        ],
        [
            "s2",
            "МКОУ «Лицей, с запятой»",
            "нет ответа",
            pct("педагоги: подключено 45 из 50 (90 %); ученики: подключено 380 из 412 (92,2 %)"),
            "нет ответа",
            "проблема",
            "выполнено (с опозданием)",
            "1 из 2",
            "нет",
        ],
        [
            "s3",
            "МКОУ «СОШ №3»",
            "нет ответа",
            "нет ответа",
            "нет ответа",
            "нет ответа",
            "нет ответа",
            "0 из 1",
            "нет",
        ],
    ]
    # The fill says the state: s1 all green, s2 3.2 yellow, 3.4 red, nothing answered grey.
    assert [fill(sheet, f"{col}3") for col in "CDEFG"] == [GREEN] * 5
    assert fill(sheet, "I3") == GREEN
    assert fill(sheet, "D5") == YELLOW
    assert fill(sheet, "F5") == RED
    assert fill(sheet, "G5") == GREEN
    assert fill(sheet, "C5") == GREY
    assert [fill(sheet, f"{col}6") for col in "CDEFG"] == [GREY] * 5
    totals = [c.value for c in sheet[7]]
    assert totals == [
        None,
        "Итого школ: 4",
        "выполнили 2 из 4 школ",
        pct(
            "выполнили 1 из 4 школ; педагоги: подключено 95 из 100 (95 %); "
            "ученики: подключено 792 из 824 (96,1 %)"
        ),
        "выполнили 1 из 4 школ",
        "выполнили 1 из 4 школ",
        "выполнили 2 из 4 школ",
        "3 из 5",
        "1 из 4",
    ]
    assert sheet.max_row == 7
    assert sheet.freeze_panes == "C3"
    # The filter covers the header and the schools, not the totals row.
    assert sheet.auto_filter.ref == "A2:I6"
    assert sheet.column_dimensions["B"].width >= 30
    assert sheet.column_dimensions["D"].width >= 30


async def test_workbook_pending_sheet(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)

    sheet = load(out)["Должники"]
    assert [c.value for c in sheet[1]] == ["№ школы", "Школа", "Не выполнено", "Кому звонить"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == ["s10", "s2", "s3"]  # s1 finished and owes nothing
    s2 = rows[1]
    assert s2[2].split("\n") == [
        "3.1 Структура классов и бесед — нет ответа",
        pct(
            "3.2 Педагоги и дети в Сферуме — в работе: "
            "педагоги: подключено 45 из 50 (90 %); ученики: подключено 380 из 412 (92,2 %)"
        ),
        "3.3 Руководители в беседах Управления — нет ответа",
        "3.4 Сферум и VK Мессенджер в школе — проблема: нет интернета",
    ]
    assert s2[3].split("\n") == [
        "Магомедов Ахмед, руководитель, https://vk.com/id201",
        "Абдуллаева Зарема, заместитель, https://vk.com/id202",
    ]
    assert rows[0][3] == "в списке никого"
    assert rows[2][3] == "Исаев Шамиль, руководитель, https://vk.com/id301"
    assert len(rows[2][2].split("\n")) == len(STEPS)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:D4"


async def test_workbook_history_sheet(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    await write_xlsx(ReportRepository(db), CAMPAIGN, "Europe/Moscow", out, NOW)

    sheet = load(out)["История"]
    assert [c.value for c in sheet[1]] == [
        "Дата и время",
        "№ школы",
        "Школа",
        "Пункт",
        "Состояние",
        "Значение",
        "Причина",
        "Кто",
        "Как",
        "С опозданием",
    ]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == len(HISTORY)
    names = {p.person_id: p.full_name for p in PEOPLE}
    schools = {s.id: s.name for s in SCHOOLS}
    states = {"done": "выполнено", "in_progress": "в работе", "problem": "проблема"}
    sources = {"button": "кнопкой", "text": "сообщением", "admin": "внёс сотрудник"}
    for row, given in zip(rows, HISTORY, strict=True):
        assert row[0] == given.answered_at.astimezone(MSK).replace(tzinfo=None)
        assert row[1:5] == [
            given.school_id,
            schools[given.school_id],
            given.step_id,
            states[given.state],
        ]
        assert row[6] == (given.reason or None)
        name = names.get(given.answered_by)
        who = f"{name} (id{given.answered_by})" if name else f"id{given.answered_by}"
        assert row[7:] == [who, sources[given.source], "да" if given.late else "нет"]
    assert rows[0][4] == "в работе"  # the changed answer, before
    assert rows[5][4] == "выполнено"  # and after
    assert rows[5][7] == "Гасанов Руслан (id102)"
    assert rows[1][5] == pct(
        "педагоги: подключено 50 из 50 (100 %); ученики: подключено 412 из 412 (100 %)"
    )
    assert rows[6][5] == pct(
        "педагоги: подключено 45 из 50 (90 %); ученики: подключено 380 из 412 (92,2 %)"
    )
    assert rows[7][6] == "нет интернета"
    assert rows[8][7] == f"id{ADMIN}"  # the admin is in no roster
    assert rows[8][9] == "да"
    assert sheet["E2"].fill.fgColor.rgb == YELLOW
    assert sheet["E3"].fill.fgColor.rgb == GREEN
    assert sheet["E9"].fill.fgColor.rgb == RED
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:J{len(HISTORY) + 1}"


async def test_workbook_of_an_empty_roster(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "empty.db")
    try:
        out = tmp_path / "empty.xlsx"
        summary = await write_xlsx(ReportRepository(database), CAMPAIGN, "Europe/Moscow", out, NOW)
    finally:
        await database.close()

    assert (summary.schools, summary.rows, summary.answers) == (0, 0, 0)
    book = load(out)
    assert [c.value for c in book["Сводка"][3]][:3] == [
        None,
        "Итого школ: 0",
        "выполнили 0 из 0 школ",
    ]


async def test_streams_are_paged_without_losing_or_repeating_rows(db: Database) -> None:
    """Pages smaller than the data: every school and answer comes once, in order."""
    repo = ReportRepository(db, page=1)

    schools = [record.school.id async for record in repo.schools(CAMPAIGN.id)]
    history = [entry async for entry in repo.history(CAMPAIGN.id)]

    assert schools == ["s1", "s10", "s2", "s3"]
    assert [e.answer for e in history] == HISTORY
    assert [e.id for e in history] == sorted(e.id for e in history)
    assert history[1].answer.counts == HISTORY[1].counts
    assert list(history[1].answer.counts) == ["teachers", "pupils"]


async def test_a_failed_report_leaves_no_file(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    out.write_bytes(b"the previous report")

    class Broken(ReportRepository):
        async def history(self, campaign_id: str):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk on fire")
            yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="disk on fire"):
        await write_xlsx(Broken(db), CAMPAIGN, "Europe/Moscow", out, NOW)

    assert out.read_bytes() == b"the previous report"
    assert leftovers(tmp_path) == []


def leftovers(directory: Path) -> list[str]:
    """Temporary files a report left beside its target."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- scale --------------------------------------------------------------------------------------


async def bulk_record(db: Database, answers: list[Answer]) -> None:
    """Store answers as `AnswerRepository.record` does, in a few statements instead of thousands.

    `record` makes a round trip per statement, which is right for a head's one answer and too
    slow to fill a district in a test; test_bulk_record_matches_record keeps the two alike.
    """
    async with db.transaction():
        first = int(await db.fetchval("SELECT COALESCE(MAX(id), 0) FROM answers")) + 1
        ids = range(first, first + len(answers))
        await db.executemany(
            "INSERT INTO answers (id, campaign_id, school_id, step_id, state, reason, "
            "answered_by, answered_at, late, source, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    answer_id,
                    a.campaign_id,
                    a.school_id,
                    a.step_id,
                    a.state.value,
                    a.reason,
                    a.answered_by,
                    a.answered_at.astimezone(dt.UTC).isoformat(),
                    int(a.late),
                    a.source.value,
                    a.origin,
                )
                for answer_id, a in zip(ids, answers, strict=True)
            ],
        )
        await db.executemany(
            "INSERT INTO answer_counts (answer_id, part, position, done, total) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (answer_id, part, position, count.done, count.total)
                for answer_id, a in zip(ids, answers, strict=True)
                for position, (part, count) in enumerate(a.counts.items())
            ],
        )
        await db.executemany(
            "INSERT INTO current_answers (campaign_id, school_id, step_id, answer_id, state) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, school_id, step_id) DO UPDATE "
            "SET answer_id = excluded.answer_id, state = excluded.state",
            [
                (a.campaign_id, a.school_id, a.step_id, answer_id, a.state.value)
                for answer_id, a in zip(ids, answers, strict=True)
            ],
        )


async def bulk_roster(db: Database, schools: list[School], people: list[Person]) -> None:
    """A new roster in two statements, for the same reason as `bulk_record`."""
    stamp = NOW.isoformat()
    async with db.transaction():
        await db.executemany(
            "INSERT INTO schools (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [(s.id, s.name, stamp, stamp) for s in schools],
        )
        await db.executemany(
            "INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, ?)",
            [(p.person_id, p.school_id, p.full_name, p.role.value) for p in people],
        )


async def test_bulk_record_matches_record(tmp_path: Path) -> None:
    await seed(tmp_path / "one.db")
    bulk = await Database.open(tmp_path / "bulk.db")
    one = await Database.open(tmp_path / "one.db")
    try:
        await CampaignRepository(bulk).save(CAMPAIGN, NOW)
        await RosterRepository(bulk).apply(SCHOOLS, PEOPLE, NOW)
        await bulk_record(bulk, HISTORY)
        for school in SCHOOLS:
            assert await AnswerRepository(bulk).current_for_school(
                CAMPAIGN.id, school.id
            ) == await AnswerRepository(one).current_for_school(CAMPAIGN.id, school.id)
        assert await AnswerRepository(bulk).history(CAMPAIGN.id) == HISTORY
    finally:
        await bulk.close()
        await one.close()


def district(count: int) -> tuple[list[School], list[Person], list[Answer]]:
    """`count` schools with a head each.

    School n answered its first n % 4 steps, the count step short of its totals; every fifth
    school then answered its first step again.
    """
    schools = [School(id=f"{n:05d}", name=f"МКОУ «СОШ №{n}»") for n in range(count)]
    people = [
        Person(
            person_id=100_000 + n, school_id=f"{n:05d}", full_name=f"Директор {n}", role=Role.HEAD
        )
        for n in range(count)
    ]
    answers: list[Answer] = []
    for n in range(count):
        steps = CAMPAIGN.steps[: n % 4]
        for index, step in enumerate(steps):
            counts = (
                {"teachers": Count(done=40, total=50), "pupils": Count(done=300, total=400)}
                if step.parts
                else {}
            )
            state = StepState.IN_PROGRESS if counts else StepState.DONE
            answers.append(
                answer(f"{n:05d}", step.id, state, 100_000 + n, at(17, 9, index), counts=counts)
            )
        if steps and n % 5 == 0:
            answers.append(answer(f"{n:05d}", steps[0].id, StepState.DONE, 100_000 + n, at(18, 9)))
    return schools, people, answers


async def test_two_thousand_schools(tmp_path: Path) -> None:
    """Not a timing assertion: a large roster streams through both writers in one piece."""
    count = 2000
    schools, people, answers = district(count)
    database = await Database.open(tmp_path / "big.db", synchronous="NORMAL")
    try:
        await CampaignRepository(database).save(CAMPAIGN, NOW)
        await bulk_roster(database, schools, people)
        await bulk_record(database, answers)
        assert await RosterRepository(database).count_schools() == count
        started = time.perf_counter()
        repo = ReportRepository(database)
        csv_summary = await write_csv(repo, CAMPAIGN, "Europe/Moscow", tmp_path / "big.csv")
        xlsx_summary = await write_xlsx(
            repo, CAMPAIGN, "Europe/Moscow", tmp_path / "big.xlsx", NOW
        )
        elapsed = time.perf_counter() - started
    finally:
        await database.close()

    print(f"2,000 schools, {len(answers)} answers: both reports in {elapsed:.2f} s")
    # No school answered all five steps: nobody finished.
    assert csv_summary.schools == xlsx_summary.schools == count
    assert csv_summary.rows == count * len(STEPS)
    assert csv_summary.finished == xlsx_summary.finished == 0
    assert xlsx_summary.answers == len(answers)
    rows = read_csv(tmp_path / "big.csv")
    assert len(rows) == 1 + count * len(STEPS)
    statuses = [r[3] for r in rows[1:]]
    answered = sum(n % 4 for n in range(count))
    assert statuses.count("none") == count * len(STEPS) - answered
    assert statuses.count("in_progress") == sum(1 for n in range(count) if n % 4 >= 2)
    book = openpyxl.load_workbook(tmp_path / "big.xlsx", read_only=True)
    try:
        assert book["Сводка"].max_row == 2 + count + 1
        assert book["Должники"].max_row == 1 + count
        assert book["История"].max_row == 1 + len(answers)
    finally:
        book.close()


# --- the command line ---------------------------------------------------------------------------


def config_file(tmp_path: Path, db_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[vk]\ntoken = "test-token"\ngroup_id = 1\n\n[storage]\npath = "{db_path.as_posix()}"\n',
        encoding="utf-8",
    )
    return path


def test_cli_report_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(seed(tmp_path / "bot.db"))
    config = str(config_file(tmp_path, tmp_path / "bot.db"))
    monkeypatch.chdir(tmp_path)

    assert main(["report", "--config", config, "--format", "csv", "-o", "out.csv"]) == 0
    printed = capsys.readouterr().out
    assert "отчёт записан в out.csv: школ 4, пунктов 5, выполнили все пункты: 1" in printed
    rows = read_csv(tmp_path / "out.csv")
    assert len(rows) == 1 + 4 * len(STEPS)
    assert rows[1][:4] == ["s1", "МКОУ «СОШ №1»", "3.1", "done"]

    assert main(["report", "--config", config, "--format", "xlsx", "-o", "out.xlsx"]) == 0
    assert "ответов в истории: 10" in capsys.readouterr().out
    book = load(tmp_path / "out.xlsx")
    assert book.sheetnames == ["Сводка", "Должники", "История"]
    assert book["Сводка"]["A3"].value == "s1"

    # The format follows the suffix when not given.
    assert main(["report", "--config", config, "-o", "again.csv"]) == 0
    assert read_csv(tmp_path / "again.csv") == rows
    assert leftovers(tmp_path) == []


def test_cli_report_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(config_file(tmp_path, tmp_path / "missing.db"))

    code = main(["report", "--config", config, "--format", "csv", "-o", str(tmp_path / "r.csv")])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"ошибка: базы данных {tmp_path / 'missing.db'} ещё нет")
    assert "Traceback" not in err
    assert not (tmp_path / "missing.db").exists()  # the report never creates one
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_report_into_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    asyncio.run(seed(tmp_path / "bot.db"))
    config = str(config_file(tmp_path, tmp_path / "bot.db"))
    out = tmp_path / "no" / "such" / f"r.{fmt}"

    code = main(["report", "--config", config, "--format", fmt, "-o", str(out)])

    err = capsys.readouterr().err
    assert code == 1
    assert err == f"ошибка: не удаётся записать {out}: нет папки {out.parent}\n"
    assert not out.parent.exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_report_when_the_directory_refuses_writes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    asyncio.run(seed(tmp_path / "bot.db"))
    config = str(config_file(tmp_path, tmp_path / "bot.db"))
    out = tmp_path / "out" / f"r.{fmt}"
    out.parent.mkdir()

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        # chmod would not stop root, who runs CI here; refuse where the report makes its file.
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_module.tempfile, "mkstemp", refuse)
    code = main(["report", "--config", config, "--format", fmt, "-o", str(out)])

    assert code == 1
    assert capsys.readouterr().err == f"ошибка: не удаётся записать {out}: Permission denied\n"
    assert list(out.parent.iterdir()) == []


def test_cli_report_onto_a_directory_or_without_a_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(tmp_path / "bot.db"))
    config = str(config_file(tmp_path, tmp_path / "bot.db"))

    assert main(["report", "--config", config, "--format", "csv", "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"ошибка: не удаётся записать {tmp_path}: это папка\n"
    assert main(["report", "--config", config, "-o", str(tmp_path / "report.txt")]) == 2
    assert capsys.readouterr().err.startswith("ошибка: не понятно, в каком формате")


async def test_csv_verified_column_follows_chat_membership(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    repo = ReportRepository(db)
    everyone = frozenset(p.person_id for p in PEOPLE)
    await write_csv(repo, CAMPAIGN, "Europe/Moscow", out, members=everyone)
    rows = {(r[0], r[2]): r for r in read_csv(out)[1:]}
    checked = {s.id for s in SCHOOLS if any(p.school_id == s.id for p in PEOPLE)}
    for school_id in checked:
        assert rows[school_id, "3.3"][-1] == "true"
        assert rows[school_id, "3.1"][-1] == ""  # not a step the bot can check
    one_missing = everyone - {PEOPLE[0].person_id}
    await write_csv(repo, CAMPAIGN, "Europe/Moscow", out, members=one_missing)
    rows = {(r[0], r[2]): r for r in read_csv(out)[1:]}
    assert rows[PEOPLE[0].school_id, "3.3"][-1] == "false"


async def test_xlsx_shows_what_the_bot_verified(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    everyone = frozenset(p.person_id for p in PEOPLE)
    now = dt.datetime(2023, 10, 19, 12, 0, tzinfo=dt.UTC)
    missing = PEOPLE[0]
    await write_xlsx(
        ReportRepository(db),
        CAMPAIGN,
        "Europe/Moscow",
        out,
        now,
        members=everyone - {missing.person_id},
    )
    book = openpyxl.load_workbook(out, read_only=True)
    sheet = book["Сводка"]
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header = next(r for r in rows if r and r[0] == "№ школы")
    column = next(i for i, v in enumerate(header) if str(v).startswith("3.3"))
    cells = {r[0]: r[column] for r in rows if r and r[0] in {s.id for s in SCHOOLS}}
    assert cells[missing.school_id].endswith("бот не видит всех в беседе")
    others = {p.school_id for p in PEOPLE} - {missing.school_id}
    assert all(cells[s].endswith("подтверждено ботом") for s in others)
    book.close()
