"""Read-only queries behind the reports: every school's current answers and the whole history.

Both are streamed in pages. Within a page the rows come from `Database.iterate`; between pages
the connection is free, so a bot that builds a report over 40,000 schools keeps answering heads
meanwhile. Streams on the one connection cannot nest, so each page is one statement that brings
everything a row of the report needs: a school's answers, counts and people come as JSON arrays.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncGenerator
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.domain import Answer, AnswerSource, Count, Person, Role, School, StepState
from storage.db import Database

PAGE = 1000

_SCHOOLS_PAGE = """
SELECT s.id, s.name,
    (SELECT json_group_array(json_array(a.id, a.step_id, a.state, a.reason, a.answered_by,
                                        a.answered_at, a.late, a.source, a.origin))
     FROM current_answers c JOIN answers a ON a.id = c.answer_id
     WHERE c.campaign_id = :campaign AND c.school_id = s.id),
    (SELECT json_group_array(json_array(n.answer_id, n.position, n.part, n.done, n.total))
     FROM current_answers c JOIN answer_counts n ON n.answer_id = c.answer_id
     WHERE c.campaign_id = :campaign AND c.school_id = s.id),
    (SELECT json_group_array(json_array(p.person_id, p.full_name, p.role, k.person_id IS NOT NULL))
     FROM people p
     LEFT JOIN acknowledgements k ON k.campaign_id = :campaign AND k.person_id = p.person_id
     WHERE p.school_id = s.id)
FROM open_schools s
WHERE s.id > :after
ORDER BY s.id
LIMIT :limit
"""

# A page of the history walks the rowid from where the last page ended; the `+` keeps SQLite
# off the (campaign, school, ...) index, which would make it sort the whole campaign per page.
# Who answered is named from the roster of the school answered for, else from any school of
# theirs; an admin answering for a school is usually in no roster at all.
_HISTORY_PAGE = """
SELECT a.id, a.school_id, s.name, a.step_id, a.state, a.reason, a.answered_by,
    a.answered_at, a.late, a.source, a.origin,
    COALESCE(p.full_name, (SELECT q.full_name FROM people q WHERE q.person_id = a.answered_by
                           ORDER BY q.school_id LIMIT 1)),
    n.part, n.done, n.total
FROM (SELECT * FROM answers WHERE id > :after AND +campaign_id = :campaign
      ORDER BY id LIMIT :limit) a
LEFT JOIN schools s ON s.id = a.school_id
LEFT JOIN people p ON p.person_id = a.answered_by AND p.school_id = a.school_id
LEFT JOIN answer_counts n ON n.answer_id = a.id
ORDER BY a.id, n.position
"""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class SchoolRecord(_Row):
    """One school of the roster as the report sees it."""

    school: School
    answers: dict[str, Answer]  # step id -> the current answer
    people: tuple[Person, ...]  # heads first, then by name
    acknowledged: frozenset[int]  # VK ids of its people who acknowledged the order


class HistoryEntry(_Row):
    """One answer of the append-only history, with the names the report shows."""

    id: int
    answer: Answer
    school_name: str
    full_name: str | None  # None: the answerer is in no school's roster


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _answer(
    campaign_id: str, school_id: str, row: list[Any] | tuple[Any, ...], counts: dict[str, Count]
) -> Answer:
    # row: step_id, state, reason, answered_by, answered_at, late, source, origin
    return Answer(
        campaign_id=campaign_id,
        school_id=school_id,
        step_id=row[0],
        state=StepState(row[1]),
        reason=row[2],
        answered_by=row[3],
        answered_at=_parse_ts(row[4]),
        late=bool(row[5]),
        source=AnswerSource(row[6]),
        origin=row[7],
        counts=counts,
    )


class ReportRepository:
    def __init__(self, db: Database, *, page: int = PAGE) -> None:
        self._db = db
        self._page = page

    async def extensions(self, campaign_id: str) -> dict[str, dict[str, dt.datetime]]:
        """school id -> step id ("" for every step) -> the school's own deadline (issue 17):
        a handful of rows, read whole."""
        result: dict[str, dict[str, dt.datetime]] = {}
        for school_id, step_id, deadline in await self._db.fetchall(
            "SELECT school_id, step_id, deadline FROM extensions WHERE campaign_id = ?",
            (campaign_id,),
        ):
            result.setdefault(school_id, {})[step_id] = dt.datetime.fromisoformat(deadline)
        return result

    async def schools(self, campaign_id: str) -> AsyncGenerator[SchoolRecord, None]:
        """Every open school of the roster, ordered by id, with its current answers and people
        (a closed school is in no total, so in no row; its answers stay in `history`)."""
        after = ""
        while True:
            seen = 0
            async with self._db.iterate(
                _SCHOOLS_PAGE, {"campaign": campaign_id, "after": after, "limit": self._page}
            ) as cursor:
                async for row in cursor:
                    seen += 1
                    after = row[0]
                    yield _school_record(campaign_id, row)
            if seen < self._page:
                return

    async def history(self, campaign_id: str) -> AsyncGenerator[HistoryEntry, None]:
        """Every answer ever given in the campaign, oldest first."""
        after = 0
        while True:
            seen = 0
            current: list[Any] | None = None
            counts: dict[str, Count] = {}
            async with self._db.iterate(
                _HISTORY_PAGE, {"campaign": campaign_id, "after": after, "limit": self._page}
            ) as cursor:
                async for row in cursor:
                    if current is None or row[0] != current[0]:
                        if current is not None:
                            yield _history_entry(campaign_id, current, counts)
                        seen += 1
                        current, counts = list(row), {}
                    if row[12] is not None:
                        counts[row[12]] = Count(done=row[13], total=row[14])
            if current is not None:
                after = current[0]
                yield _history_entry(campaign_id, current, counts)
            if seen < self._page:
                return


def _school_record(campaign_id: str, row: Any) -> SchoolRecord:
    school_id = row[0]
    counts: dict[int, list[tuple[int, str, Count]]] = {}
    for answer_id, position, part, done, total in json.loads(row[3]):
        counts.setdefault(answer_id, []).append((position, part, Count(done=done, total=total)))
    answers: dict[str, Answer] = {}
    for item in json.loads(row[2]):
        parts = sorted(counts.get(item[0], []), key=lambda entry: entry[0])
        answer = _answer(campaign_id, school_id, item[1:], {p: c for _, p, c in parts})
        answers[answer.step_id] = answer
    people = sorted(
        json.loads(row[4]), key=lambda p: (p[2] != Role.HEAD.value, p[1].casefold(), p[0])
    )
    return SchoolRecord(
        school=School(id=school_id, name=row[1]),
        answers=answers,
        people=tuple(
            Person(person_id=p[0], school_id=school_id, full_name=p[1], role=Role(p[2]))
            for p in people
        ),
        acknowledged=frozenset(p[0] for p in people if p[3]),
    )


def _history_entry(campaign_id: str, row: list[Any], counts: dict[str, Count]) -> HistoryEntry:
    return HistoryEntry(
        id=row[0],
        answer=_answer(campaign_id, row[1], row[3:11], counts),
        school_name=row[2] if row[2] is not None else row[1],
        full_name=row[11],
    )
