"""What the department's web page reads and the logins it keeps (issue 18).

Read-only queries keyed by campaign id: the orders with their progress, one order's table of
schools × items, one school's people and history, progress by day. They stand apart from the
rules' repositories, so the page does not depend on how the rules are arranged. The logins
(one-time links and sessions) are the only rows the page writes; only hashes of their tokens
are stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain import AnswerSource, Campaign, Count, Role, StepState
from storage.db import Database
from storage.repositories import SCHOOL_PEOPLE, SCHOOL_UNRESOLVED


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _maybe_ts(text: str | None) -> dt.datetime | None:
    return None if text is None else _parse_ts(text)


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- logins ------------------------------------------------------------------------------------


class LinkRefusal(StrEnum):
    """Why a login link opens nothing."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class WebSession(_Row):
    person_id: int
    csrf: str
    created_at: dt.datetime
    expires_at: dt.datetime


class WebAuthRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_link(
        self, token_hash: str, person_id: int, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO web_links (token_hash, person_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            (token_hash, person_id, _ts(now), _ts(expires_at)),
        )

    async def check_link(self, token_hash: str, now: dt.datetime) -> LinkRefusal | None:
        """Why the link would open nothing, or None if it still would; nothing is spent."""
        row = await self._db.fetchone(
            "SELECT expires_at, used_at FROM web_links WHERE token_hash = ?", (token_hash,)
        )
        if row is None:
            return LinkRefusal.UNKNOWN
        if row[1] is not None:
            return LinkRefusal.USED
        if _parse_ts(row[0]) <= now:
            return LinkRefusal.EXPIRED
        return None

    async def open_session(
        self,
        link_hash: str,
        session_hash: str,
        csrf: str,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> int | LinkRefusal:
        """Spend the link and begin a session with it, both or neither: the person whose
        session it is, or why the link opens nothing."""
        async with self._db.atomic():
            row = await self._db.fetchone(
                "SELECT person_id, expires_at, used_at FROM web_links WHERE token_hash = ?",
                (link_hash,),
            )
            if row is None:
                return LinkRefusal.UNKNOWN
            if row[2] is not None:
                return LinkRefusal.USED
            if _parse_ts(row[1]) <= now:
                return LinkRefusal.EXPIRED
            spent = await self._db.execute(
                "UPDATE web_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
                (_ts(now), link_hash),
            )
            if not spent:
                return LinkRefusal.USED
            person_id = int(row[0])
            await self._db.execute(
                "INSERT INTO web_sessions (token_hash, person_id, csrf, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_hash, person_id, csrf, _ts(now), _ts(expires_at)),
            )
        return person_id

    async def session(self, token_hash: str, now: dt.datetime) -> WebSession | None:
        """The live session of this token: not ended, not expired."""
        row = await self._db.fetchone(
            "SELECT person_id, csrf, created_at, expires_at FROM web_sessions "
            "WHERE token_hash = ? AND ended_at IS NULL AND expires_at > ?",
            (token_hash, _ts(now)),
        )
        if row is None:
            return None
        return WebSession(
            person_id=row[0],
            csrf=row[1],
            created_at=_parse_ts(row[2]),
            expires_at=_parse_ts(row[3]),
        )

    async def end_session(self, token_hash: str, now: dt.datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE web_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
            (_ts(now), token_hash),
        )
        return changed > 0

    async def end_sessions_of(self, person_id: int, now: dt.datetime) -> int:
        """End every live session of a person and spend their unused links; how many
        sessions were live."""
        async with self._db.atomic():
            await self._db.execute(
                "UPDATE web_links SET used_at = ? WHERE person_id = ? AND used_at IS NULL",
                (_ts(now), person_id),
            )
            return await self._db.execute(
                "UPDATE web_sessions SET ended_at = ? "
                "WHERE person_id = ? AND ended_at IS NULL AND expires_at > ?",
                (_ts(now), person_id, _ts(now)),
            )


# --- what the page shows -----------------------------------------------------------------------


class OrderRecord(_Row):
    campaign: Campaign
    created_at: dt.datetime
    announced_at: dt.datetime | None
    closed_at: dt.datetime | None


class OrderProgress(_Row):
    """An order at a glance: finished schools and, per item, schools in each state."""

    schools: int
    finished: int
    states: dict[str, dict[StepState, int]]  # step id -> state -> schools (no answer: NONE)


class Cell(_Row):
    """A school's current answer to one item, as the table shows it."""

    state: StepState
    counts: dict[str, Count] = {}
    late: bool = False
    reason: str = ""
    answered_at: dt.datetime | None = None
    source: AnswerSource | None = None


class SchoolRow(_Row):
    id: str
    name: str
    cells: dict[str, Cell]  # step id -> its current answer; no answer: absent
    last_answer: dt.datetime | None
    extensions: dict[str, dt.datetime]  # step id ("" for every item) -> the school's deadline


class PersonRow(_Row):
    person_id: int | None  # None: known only by a screen name the bot has not resolved yet
    full_name: str
    role: Role
    source: str  # "roster", "registration", or "unresolved"
    registered_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    unreachable: bool = False
    screen_name: str = ""
    problem: str = ""


class HistoryRow(_Row):
    id: int
    step_id: str
    state: StepState
    counts: dict[str, Count]
    reason: str
    answered_by: int
    answered_by_name: str | None  # None: in no school's roster (staff, usually)
    answered_at: dt.datetime
    late: bool
    source: AnswerSource


class StaffActionRow(_Row):
    step_id: str
    action: str
    detail: str
    done_by: int
    done_at: dt.datetime


class SchoolDetail(_Row):
    id: str
    name: str
    people: tuple[PersonRow, ...]
    history: tuple[HistoryRow, ...]  # oldest first
    actions: tuple[StaffActionRow, ...]
    row: SchoolRow


class DayCount(_Row):
    day: dt.date
    finished: int


# A closed school (issue 17) is in no table or total, as in the reports; its own page stays.
# A page of the table: the next `limit` schools by id, with their current answers. The whole
# order is read page by page, so a large district's read leaves the one connection free for
# the heads' answers between pages (as storage/reports.py does).
_TABLE = """
SELECT s.id, s.name, c.step_id, a.state, a.late, a.reason, a.answered_at, a.source,
       n.part, n.done, n.total
FROM (SELECT id, name FROM open_schools WHERE id > :after ORDER BY id LIMIT :limit) s
LEFT JOIN current_answers c ON c.campaign_id = :campaign AND c.school_id = s.id
LEFT JOIN answers a ON a.id = c.answer_id
LEFT JOIN answer_counts n ON n.answer_id = a.id
ORDER BY s.id, c.step_id, n.position
"""
TABLE_PAGE = 2000

_ONE_SCHOOL = """
SELECT s.id, s.name, c.step_id, a.state, a.late, a.reason, a.answered_at, a.source,
       n.part, n.done, n.total
FROM schools s
LEFT JOIN current_answers c ON c.campaign_id = :campaign AND c.school_id = s.id
LEFT JOIN answers a ON a.id = c.answer_id
LEFT JOIN answer_counts n ON n.answer_id = a.id
WHERE s.id = :school
ORDER BY c.step_id, n.position
"""


# Schools per statement when only some are read again (SQLite allows 32,766 parameters).
_CHUNK = 500

_SOME_SCHOOLS = """
SELECT s.id, s.name, c.step_id, a.state, a.late, a.reason, a.answered_at, a.source,
       n.part, n.done, n.total
FROM open_schools s
LEFT JOIN current_answers c ON c.campaign_id = ? AND c.school_id = s.id
LEFT JOIN answers a ON a.id = c.answer_id
LEFT JOIN answer_counts n ON n.answer_id = a.id
WHERE s.id IN ({marks})
ORDER BY s.id, c.step_id, n.position
"""


class TableMarks(_Row):
    answers: int  # the newest answer of the order
    staff: int  # the newest staff action («требуется», extensions)
    extensions: int
    roster: str  # schools and their latest rename
    closed: str

    @property
    def version(self) -> str:
        return f"{self.answers}-{self.staff}-{self.extensions}-{self.roster}-{self.closed}"

    def only_new_answers(self, newer: TableMarks) -> bool:
        """Whether `newer` differs from this only by answers given since."""
        return newer.model_copy(update={"answers": self.answers}) == self


class WebQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def orders(self) -> list[OrderRecord]:
        """Every order, open ones first, each group newest first."""
        rows = await self._db.fetchall(
            "SELECT definition, created_at, announced_at, closed_at FROM campaigns "
            "ORDER BY closed_at IS NOT NULL, created_at DESC, id"
        )
        return [
            OrderRecord(
                campaign=Campaign.model_validate_json(r[0]),
                created_at=_parse_ts(r[1]),
                announced_at=_maybe_ts(r[2]),
                closed_at=_maybe_ts(r[3]),
            )
            for r in rows
        ]

    async def order(self, campaign_id: str) -> OrderRecord | None:
        row = await self._db.fetchone(
            "SELECT definition, created_at, announced_at, closed_at FROM campaigns WHERE id = ?",
            (campaign_id,),
        )
        if row is None:
            return None
        return OrderRecord(
            campaign=Campaign.model_validate_json(row[0]),
            created_at=_parse_ts(row[1]),
            announced_at=_maybe_ts(row[2]),
            closed_at=_maybe_ts(row[3]),
        )

    async def progress(self, campaign_id: str, step_ids: Sequence[str]) -> OrderProgress:
        """Schools in the roster, those with every listed item finished, and per item how
        many schools report each state. One round trip, from the kept counts and an index."""
        if not step_ids:
            schools = await self._db.fetchval("SELECT COUNT(*) FROM open_schools")
            return OrderProgress(schools=int(schools), finished=0, states={})
        marks = ",".join("?" * len(step_ids))
        schools_rows, finished_rows, state_rows = await self._db.fetch_many(
            [
                ("SELECT COUNT(*) FROM open_schools", ()),
                (
                    f"""
                    SELECT COUNT(*) FROM (
                        SELECT school_id FROM counted_answers
                        WHERE campaign_id = ? AND step_id IN ({marks})
                          AND state IN ('done', 'not_required')
                        GROUP BY school_id HAVING COUNT(*) = ?)
                    """,  # noqa: S608 - only placeholders are interpolated
                    (campaign_id, *step_ids, len(step_ids)),
                ),
                (
                    f"SELECT step_id, state, schools FROM state_counts "  # noqa: S608
                    f"WHERE campaign_id = ? AND step_id IN ({marks}) AND schools > 0",
                    (campaign_id, *step_ids),
                ),
            ]
        )
        schools = int(schools_rows[0][0])
        states: dict[str, dict[StepState, int]] = {step_id: {} for step_id in step_ids}
        for step_id, state, count in state_rows:
            states[step_id][StepState(state)] = int(count)
        for counted in states.values():
            counted[StepState.NONE] = max(0, schools - sum(counted.values()))
        return OrderProgress(schools=schools, finished=int(finished_rows[0][0]), states=states)

    async def marks(self, campaign_id: str) -> TableMarks:
        """Where the order's table stands: what changes whenever anything it shows does."""
        row = await self._db.fetchone(
            """
            SELECT (SELECT COALESCE(MAX(id), 0) FROM answers WHERE campaign_id = :c),
                   (SELECT COALESCE(MAX(id), 0) FROM staff_actions WHERE campaign_id = :c),
                   (SELECT COUNT(*) FROM extensions WHERE campaign_id = :c),
                   (SELECT COUNT(*) || ':' || COUNT(closed_at) || ':'
                           || COALESCE(MAX(updated_at), '') FROM schools),
                   (SELECT COALESCE(closed_at, '') FROM campaigns WHERE id = :c)
            """,
            {"c": campaign_id},
        )
        assert row is not None  # noqa: S101 - a SELECT of scalars always gives one row
        return TableMarks(
            answers=int(row[0]),
            staff=int(row[1]),
            extensions=int(row[2]),
            roster=str(row[3]),
            closed=str(row[4]),
        )

    async def version(self, campaign_id: str) -> str:
        """Changes whenever anything the order's table shows changes: the page polls it."""
        return (await self.marks(campaign_id)).version

    async def table(
        self, campaign_id: str, school_ids: Sequence[str] | None = None
    ) -> list[SchoolRow]:
        """Every school of the roster (or only these) with its current answers, by id."""
        extensions_sql = (
            "SELECT school_id, step_id, deadline FROM extensions WHERE campaign_id = ?",
            (campaign_id,),
        )
        result: list[SchoolRow] = []
        if school_ids is None:
            extensions = await self._db.fetchall(*extensions_sql)
            after = ""
            while True:
                rows = await self._db.fetchall(
                    _TABLE, {"campaign": campaign_id, "after": after, "limit": TABLE_PAGE}
                )
                page = _school_rows(rows, extensions)
                result += page
                if len(page) < TABLE_PAGE:
                    return result
                after = page[-1].id
        wanted = list(dict.fromkeys(school_ids))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows, extensions = await self._db.fetch_many(
                [(_SOME_SCHOOLS.format(marks=marks), (campaign_id, *chunk)), extensions_sql]
            )
            result += _school_rows(rows, extensions)
        return result

    async def answered_after(self, campaign_id: str, answer_id: int) -> list[str]:
        """Schools with an answer newer than `answer_id`: the rows a kept table must re-read.
        The rowid range comes first (`+campaign_id` keeps SQLite off the campaign index)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT school_id FROM answers WHERE id > ? AND +campaign_id = ?",
            (answer_id, campaign_id),
        )
        return [str(r[0]) for r in rows]

    async def school(self, campaign_id: str, school_id: str) -> SchoolDetail | None:
        """One school: its row of the table, its people, every answer and staff action."""
        rows, extensions, people, unresolved, history, actions = await self._db.fetch_many(
            [
                (_ONE_SCHOOL, {"campaign": campaign_id, "school": school_id}),
                (
                    "SELECT school_id, step_id, deadline FROM extensions "
                    "WHERE campaign_id = ? AND school_id = ?",
                    (campaign_id, school_id),
                ),
                (SCHOOL_PEOPLE, (campaign_id, school_id)),
                (SCHOOL_UNRESOLVED, (school_id,)),
                (
                    """
                    SELECT a.id, a.step_id, a.state, a.reason, a.answered_by, a.answered_at,
                           a.late, a.source,
                           COALESCE(p.full_name,
                                    (SELECT q.full_name FROM people q
                                     WHERE q.person_id = a.answered_by
                                     ORDER BY q.school_id LIMIT 1)),
                           n.part, n.done, n.total
                    FROM answers a
                    LEFT JOIN people p ON p.person_id = a.answered_by AND p.school_id = a.school_id
                    LEFT JOIN answer_counts n ON n.answer_id = a.id
                    WHERE a.campaign_id = ? AND a.school_id = ?
                    ORDER BY a.id, n.position
                    """,
                    (campaign_id, school_id),
                ),
                (
                    "SELECT step_id, action, detail, done_by, done_at FROM staff_actions "
                    "WHERE campaign_id = ? AND school_id = ? ORDER BY id",
                    (campaign_id, school_id),
                ),
            ]
        )
        found = _school_rows(rows, extensions)
        if not found:
            return None
        return SchoolDetail(
            id=found[0].id,
            name=found[0].name,
            people=tuple(
                [
                    PersonRow(
                        person_id=r[0],
                        full_name=r[2],
                        role=Role(r[3]),
                        source=r[4],
                        registered_at=_maybe_ts(r[5]),
                        acknowledged_at=_maybe_ts(r[6]),
                        unreachable=bool(r[7]),
                    )
                    for r in people
                ]
                + [
                    PersonRow(
                        person_id=None,
                        screen_name=r[0],
                        full_name=r[1],
                        role=Role(r[2]),
                        source="unresolved",
                        problem=r[3] or "",
                    )
                    for r in unresolved
                ]
            ),
            history=tuple(_history(history)),
            actions=tuple(
                StaffActionRow(
                    step_id=r[0], action=r[1], detail=r[2], done_by=r[3], done_at=_parse_ts(r[4])
                )
                for r in actions
            ),
            row=found[0],
        )

    async def days(self, campaign_id: str) -> list[DayCount]:
        """Finished schools at each daily summary, oldest first."""
        rows = await self._db.fetchall(
            "SELECT day, finished FROM progress_days WHERE campaign_id = ? ORDER BY day",
            (campaign_id,),
        )
        return [DayCount(day=dt.date.fromisoformat(r[0]), finished=int(r[1])) for r in rows]


def _school_rows(
    rows: Sequence[Sequence[object]], extensions: Sequence[Sequence[object]]
) -> list[SchoolRow]:
    own: dict[str, dict[str, dt.datetime]] = {}
    for extension in extensions:
        own.setdefault(str(extension[0]), {})[str(extension[1])] = _parse_ts(str(extension[2]))
    result: list[SchoolRow] = []
    school_id: str | None = None
    name = ""
    cells: dict[str, dict[str, object]] = {}

    def flush() -> None:
        if school_id is None:
            return
        built = {step: Cell.model_validate(cell) for step, cell in cells.items()}
        times = [c.answered_at for c in built.values() if c.answered_at is not None]
        result.append(
            SchoolRow(
                id=school_id,
                name=name,
                cells=built,
                last_answer=max(times) if times else None,
                extensions=own.get(school_id, {}),
            )
        )

    for r in rows:
        if r[0] != school_id:
            flush()
            school_id, name, cells = str(r[0]), str(r[1]), {}
        step_id = r[2]
        if step_id is None:
            continue
        cell = cells.get(str(step_id))
        if cell is None:
            cell = cells[str(step_id)] = {
                "state": r[3],
                "late": bool(r[4]),
                "reason": r[5] or "",
                "answered_at": r[6],
                "source": r[7],
                "counts": {},
            }
        if r[8] is not None:
            counts = cell["counts"]
            assert isinstance(counts, dict)  # noqa: S101 - built just above
            counts[str(r[8])] = Count(done=int(str(r[9])), total=int(str(r[10])))
    flush()
    return result


def _history(rows: Sequence[Sequence[object]]) -> list[HistoryRow]:
    result: list[HistoryRow] = []
    current: dict[str, object] | None = None
    for r in rows:
        if current is None or current["id"] != r[0]:
            if current is not None:
                result.append(HistoryRow.model_validate(current))
            current = {
                "id": r[0],
                "step_id": r[1],
                "state": r[2],
                "reason": r[3] or "",
                "answered_by": r[4],
                "answered_at": r[5],
                "late": bool(r[6]),
                "source": r[7],
                "answered_by_name": r[8],
                "counts": {},
            }
        if r[9] is not None:
            counts = current["counts"]
            assert isinstance(counts, dict)  # noqa: S101 - built just above
            counts[str(r[9])] = Count(done=int(str(r[10])), total=int(str(r[11])))
    if current is not None:
        result.append(HistoryRow.model_validate(current))
    return result
