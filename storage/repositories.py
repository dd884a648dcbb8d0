"""Repositories: the only place that holds SQL. Rows leave as pydantic models."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
from pydantic import BaseModel, ConfigDict

from bot.domain import (
    Answer,
    AnswerSource,
    Campaign,
    Count,
    Person,
    Role,
    School,
    StepState,
)
from bot.roster import UnresolvedPerson
from bot.status import PersonState
from storage.db import Database


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class RosterChanges(_Row):
    schools_added: int = 0
    schools_updated: int = 0
    schools_unchanged: int = 0
    schools_not_in_file: int = 0  # open schools in the database the file did not list
    closed_in_file: tuple[str, ...] = ()  # schools of the file that are closed: stay closed
    closed_missing: tuple[str, ...] = ()  # open schools the file lacked, closed by the import
    people_added: int = 0
    people_updated: int = 0
    people_removed: int = 0
    people_unresolved: int = 0


class CampaignRecord(_Row):
    campaign: Campaign
    created_at: dt.datetime
    announced_at: dt.datetime | None
    closed_at: dt.datetime | None


class SchoolClosure(_Row):
    """A closed school: when and why (migration 0019)."""

    school: School
    closed_at: dt.datetime
    reason: str


class Membership(_Row):
    school: School
    role: Role
    full_name: str


class StepTally(_Row):
    """How many schools are in each state for one step."""

    step_id: str
    done: int = 0
    in_progress: int = 0
    problem: int = 0
    not_required: int = 0


class PartTotal(_Row):
    part: str
    done: int
    total: int


class PendingInput(_Row):
    """What the bot waits for from a person in one conversation: a problem's reason
    ('reason'), a count step's numbers ('counts'), or the school for a typed answer kept in
    `text` ('school'; `school_id` and `step_id` are empty then)."""

    campaign_id: str
    school_id: str
    step_id: str
    kind: str
    created_at: dt.datetime
    text: str = ""


class Speaker(_Row):
    """Who writes, as the rules need them on every message: their schools and the prompt
    waiting for them in this conversation, read in one query."""

    memberships: list[Membership]
    pending: PendingInput | None = None


class UnansweredProblem(_Row):
    """A «Проблема» whose reason was asked for and never came (the prompt expired)."""

    person_id: int
    full_name: str
    school: School
    step_id: str
    asked_at: dt.datetime


class CampaignRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, campaign: Campaign, now: dt.datetime) -> None:
        """Store or refresh a campaign's definition; steps with answers are never dropped."""
        async with self._db.atomic():
            await self._db.execute(
                """
                INSERT INTO campaigns
                    (id, title, number, date, issuer, deadline, timezone, definition, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    title = excluded.title, number = excluded.number, date = excluded.date,
                    issuer = excluded.issuer, deadline = excluded.deadline,
                    timezone = excluded.timezone, definition = excluded.definition
                """,
                (
                    campaign.id,
                    campaign.title,
                    campaign.number,
                    campaign.date.isoformat(),
                    campaign.issuer,
                    _ts(campaign.deadline),
                    campaign.timezone,
                    campaign.model_dump_json(),
                    _ts(now),
                ),
            )
            await self._db.executemany(
                """
                INSERT INTO steps (campaign_id, step_id, position, title, kind, audience)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (campaign_id, step_id) DO UPDATE SET
                    position = excluded.position, title = excluded.title, kind = excluded.kind,
                    audience = excluded.audience
                """,
                [
                    (campaign.id, step.id, position, step.title, step.kind.value, step.audience)
                    for position, step in enumerate(campaign.steps)
                ],
            )

    async def get(self, campaign_id: str) -> Campaign | None:
        text = await self._db.fetchval(
            "SELECT definition FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return None if text is None else Campaign.model_validate_json(text)

    async def listing(self) -> list[CampaignRecord]:
        """Every campaign, open ones first, each group newest first."""
        rows = await self._db.fetchall(
            """
            SELECT definition, created_at, announced_at, closed_at FROM campaigns
            ORDER BY closed_at IS NOT NULL, created_at DESC, id
            """
        )
        return [
            CampaignRecord(
                campaign=Campaign.model_validate_json(r[0]),
                created_at=_parse_ts(r[1]),
                announced_at=None if r[2] is None else _parse_ts(r[2]),
                closed_at=None if r[3] is None else _parse_ts(r[3]),
            )
            for r in rows
        ]

    async def open_ids(self) -> list[str]:
        """The open campaigns' ids, oldest first: what reminders and cards run over."""
        rows = await self._db.fetchall(
            "SELECT id FROM campaigns WHERE closed_at IS NULL ORDER BY created_at, id"
        )
        return [r[0] for r in rows]

    async def close(self, campaign_id: str, now: dt.datetime) -> bool:
        """Close an open campaign; False when there is no such open campaign."""
        changed = await self._db.execute(
            "UPDATE campaigns SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
            (_ts(now), campaign_id),
        )
        return changed > 0

    async def mark_announced(self, campaign_id: str, now: dt.datetime) -> None:
        """Record the first announcement; posting the order again does not move it."""
        await self._db.execute(
            "UPDATE campaigns SET announced_at = COALESCE(announced_at, ?) WHERE id = ?",
            (_ts(now), campaign_id),
        )


# A school's people and how far each got (campaign, school): `школа 009` and the web page.
SCHOOL_PEOPLE = """
    SELECT p.person_id, p.school_id, p.full_name, p.role, p.source,
           p.registered_at, k.acknowledged_at, u.person_id IS NOT NULL
    FROM people p
    LEFT JOIN acknowledgements k
      ON k.campaign_id = ? AND k.person_id = p.person_id
    LEFT JOIN private_unreachable u ON u.person_id = p.person_id
    WHERE p.school_id = ? ORDER BY p.role DESC, p.full_name
"""
# Those the roster names only by a screen name not resolved yet (school).
SCHOOL_UNRESOLVED = (
    "SELECT screen_name, full_name, role, problem FROM unresolved_people "
    "WHERE school_id = ? ORDER BY full_name"
)


# A school's people and when each acknowledged a campaign's order (campaign, school).
PEOPLE_ACKNOWLEDGED = """
    SELECT p.person_id, p.school_id, p.full_name, p.role, k.acknowledged_at FROM people p
    LEFT JOIN acknowledgements k ON k.campaign_id = ? AND k.person_id = p.person_id
    WHERE p.school_id = ? ORDER BY p.school_id, p.role DESC, p.full_name
"""

# A school's current answers with their numbers (campaign, school): an answer's numbers come
# as one row each, in their order; an answer without numbers as one row of NULLs.
CURRENT_FOR_SCHOOL = """
    SELECT a.id, a.campaign_id, a.school_id, a.step_id, a.state, a.reason,
           a.answered_by, a.answered_at, a.late, a.source, a.origin,
           n.part, n.done, n.total
    FROM current_answers c
    JOIN answers a ON a.id = c.answer_id
    LEFT JOIN answer_counts n ON n.answer_id = a.id
    WHERE c.campaign_id = ? AND c.school_id = ?
    ORDER BY c.step_id, n.position
"""


def _people_acknowledged(
    rows: Sequence[aiosqlite.Row],
) -> tuple[list[Person], dict[int, dt.datetime]]:
    people = [
        Person(person_id=r[0], school_id=r[1], full_name=r[2], role=Role(r[3])) for r in rows
    ]
    acknowledged = {r[0]: _parse_ts(r[4]) for r in rows if r[4] is not None}
    return people, acknowledged


def _current_answers(rows: Sequence[aiosqlite.Row]) -> dict[str, Answer]:
    first: dict[int, aiosqlite.Row] = {}
    counts: dict[int, dict[str, Count]] = defaultdict(dict)
    for r in rows:
        first.setdefault(r[0], r)
        if r[11] is not None:
            counts[r[0]][r[11]] = Count(done=r[12], total=r[13])
    answers = [_answer(r, counts.get(r[0], {})) for r in first.values()]
    return {answer.step_id: answer for answer in answers}


class RosterRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(
        self,
        schools: Sequence[School],
        people: Sequence[Person],
        now: dt.datetime,
        unresolved: Sequence[UnresolvedPerson] = (),
        *,
        digest: str = "",
        ignored: str = "",
        merge: bool = False,
        close_missing: str | None = None,
    ) -> RosterChanges:
        """Make the roster match the file, all or nothing; answers are never touched.

        Schools missing from the file are kept (they may hold answers), or, given
        `close_missing` (the reason to record), closed: out of every total, their people,
        answers and history kept (`close_school`). The people of every
        school in the file become exactly the file's people, except those who registered
        themselves with a code; with `merge`, the file's people are added or updated and
        nobody is removed. Screen names wait in `unresolved_people` for the bot.
        With the file's `digest` (and the columns it had that were `ignored`), the import is
        remembered, for `unchanged_import`.
        """
        stamp = _ts(now)
        counts: dict[str, int] = defaultdict(int)
        async with self._db.atomic():
            existing: dict[str, str] = {}
            closed: set[str] = set()
            for row in await self._db.fetchall("SELECT id, name, closed_at FROM schools"):
                existing[row[0]] = row[1]
                if row[2] is not None:
                    closed.add(row[0])
            file_ids = {school.id for school in schools}
            # A closed school stays closed whether the file lists it or not: closing and
            # reopening are `roster close-school` and `reopen-school`, never an import.
            missing = tuple(sorted(set(existing) - file_ids - closed))
            closed_in_file = tuple(sorted(file_ids & closed))
            closed_missing = missing if close_missing is not None else ()
            counts["schools_not_in_file"] = len(missing) - len(closed_missing)
            if closed_missing:
                ids = json.dumps(closed_missing)
                await self._db.execute(
                    "UPDATE schools SET closed_at = ?, closed_reason = ?, updated_at = ? "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (stamp, close_missing, stamp, ids),
                )
                await self._db.execute(
                    "DELETE FROM pending_registrations "
                    "WHERE school_id IN (SELECT value FROM json_each(?))",
                    (ids,),
                )
            # New and changed rows are collected and written with one `executemany` each:
            # a region's 40,000 rows are a few statements, not 60,000 round trips.
            added_schools: list[tuple[str, str, str, str]] = []
            renamed: list[tuple[str, str, str]] = []
            for school in schools:
                if school.id not in existing:
                    added_schools.append((school.id, school.name, stamp, stamp))
                elif existing[school.id] != school.name:
                    renamed.append((school.name, stamp, school.id))
                else:
                    counts["schools_unchanged"] += 1
            counts["schools_added"] = len(added_schools)
            counts["schools_updated"] = len(renamed)
            await self._db.executemany(
                "INSERT INTO schools (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                added_schools,
            )
            await self._db.executemany(
                "UPDATE schools SET name = ?, updated_at = ? WHERE id = ?", renamed
            )
            old_people = {
                (row[0], row[1]): (row[2], row[3])
                for row in await self._db.fetchall(
                    "SELECT person_id, school_id, full_name, role FROM people "
                    "WHERE source = 'roster'"
                )
                if row[1] in file_ids
            }
            new_people = {(p.person_id, p.school_id): (p.full_name, p.role.value) for p in people}
            removed = [] if merge else sorted(old_people.keys() - new_people.keys())
            counts["people_removed"] = len(removed)
            await self._db.executemany(
                "DELETE FROM people WHERE person_id = ? AND school_id = ?", removed
            )
            written: list[tuple[int, str, str, str]] = []
            for key, (name, role) in new_people.items():
                before = old_people.get(key)
                if before == (name, role):
                    continue
                counts["people_added" if before is None else "people_updated"] += 1
                written.append((*key, name, role))
            await self._db.executemany(
                """
                INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, ?)
                ON CONFLICT (person_id, school_id) DO UPDATE SET
                    full_name = excluded.full_name, role = excluded.role,
                    source = 'roster'
                """,
                written,
            )
            # The ids travel as one JSON array: a region's file has more schools than
            # SQLite takes parameters in one statement.
            if not merge:
                await self._db.execute(
                    "DELETE FROM unresolved_people "
                    "WHERE school_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted(file_ids)),),
                )
            await self._db.executemany(
                "INSERT INTO unresolved_people (school_id, screen_name, full_name, role) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(u.school_id, u.screen_name, u.full_name, u.role.value) for u in unresolved],
            )
            counts["people_unresolved"] = len(unresolved)
            if digest:
                await self._db.execute(
                    """
                    INSERT OR REPLACE INTO roster_imports
                        (id, digest, version, schools, not_in_file, unresolved, ignored,
                         closed_in_file)
                    SELECT 1, ?, version, ?, ?, ?, ?, ? FROM roster_version WHERE id = 1
                    """,
                    (
                        digest,
                        len(file_ids),
                        counts["schools_not_in_file"],
                        len(unresolved),
                        ignored,
                        json.dumps(closed_in_file),
                    ),
                )
        return RosterChanges(
            **counts, closed_in_file=closed_in_file, closed_missing=closed_missing
        )

    async def school_people(self, school_id: str, campaign_id: str) -> list[PersonState]:
        """A school's people with how each came into the roster, whether they acknowledged the
        campaign's order and whether they refuse private messages; then those still known
        only by a screen name. One round trip."""
        people, unresolved = await self._db.fetch_many(
            [
                (SCHOOL_PEOPLE, (campaign_id, school_id)),
                (SCHOOL_UNRESOLVED, (school_id,)),
            ]
        )
        found = [
            PersonState(
                person=Person(person_id=r[0], school_id=r[1], full_name=r[2], role=Role(r[3])),
                registered_at=None if r[4] != "registration" or r[5] is None else _parse_ts(r[5]),
                acknowledged_at=None if r[6] is None else _parse_ts(r[6]),
                unreachable=bool(r[7]),
            )
            for r in people
        ]
        waiting = [
            PersonState(screen_name=r[0], name=r[1], role=Role(r[2]), problem=r[3] or "")
            for r in unresolved
        ]
        return found + waiting

    async def add_person(self, person: Person) -> bool:
        """One person of the roster, added or their name and role updated; False if their
        school is not in the roster."""
        async with self._db.atomic():
            if (
                await self._db.fetchval("SELECT 1 FROM schools WHERE id = ?", (person.school_id,))
                is None
            ):
                return False
            await self._db.execute(
                """
                INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, ?)
                ON CONFLICT (person_id, school_id) DO UPDATE SET
                    full_name = excluded.full_name, role = excluded.role, source = 'roster'
                """,
                (person.person_id, person.school_id, person.full_name, person.role.value),
            )
        return True

    async def remove_person(self, person_id: int, school_id: str | None = None) -> int:
        """Take a person off the roster (of one school, or of every school); their answers
        stay in the history. Returns how many schools they left."""
        if school_id is None:
            return await self._db.execute("DELETE FROM people WHERE person_id = ?", (person_id,))
        return await self._db.execute(
            "DELETE FROM people WHERE person_id = ? AND school_id = ?", (person_id, school_id)
        )

    async def add_school(self, school: School, now: dt.datetime) -> bool:
        """A new school; False if its id is taken."""
        stamp = _ts(now)
        return (
            await self._db.execute(
                "INSERT INTO schools (id, name, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (school.id, school.name, stamp, stamp),
            )
            > 0
        )

    async def rename_school(self, school_id: str, name: str, now: dt.datetime) -> bool:
        """False if there is no such school."""
        return (
            await self._db.execute(
                "UPDATE schools SET name = ?, updated_at = ? WHERE id = ?",
                (name, _ts(now), school_id),
            )
            > 0
        )

    async def close_school(self, school_id: str, reason: str, now: dt.datetime) -> str:
        """Close a school: "closed", or "unknown" / "already" when nothing changed. The
        triggers of migration 0019 take it out of every kept count in the same statement."""
        async with self._db.atomic():
            row = await self._db.fetchone(
                "SELECT closed_at FROM schools WHERE id = ?", (school_id,)
            )
            if row is None:
                return "unknown"
            if row[0] is not None:
                return "already"
            stamp = _ts(now)
            await self._db.execute(
                "UPDATE schools SET closed_at = ?, closed_reason = ?, updated_at = ? WHERE id = ?",
                (stamp, reason, stamp, school_id),
            )
            # Whoever gave its code and has not yet chosen a role joins nothing now.
            await self._db.execute(
                "DELETE FROM pending_registrations WHERE school_id = ?", (school_id,)
            )
        return "closed"

    async def reopen_school(self, school_id: str, now: dt.datetime) -> str:
        """Reopen a closed school: "reopened", or "unknown" / "open" when nothing changed.
        Its answers, kept all along, count again."""
        async with self._db.atomic():
            row = await self._db.fetchone(
                "SELECT closed_at FROM schools WHERE id = ?", (school_id,)
            )
            if row is None:
                return "unknown"
            if row[0] is None:
                return "open"
            await self._db.execute(
                "UPDATE schools SET closed_at = NULL, closed_reason = '', updated_at = ? "
                "WHERE id = ?",
                (_ts(now), school_id),
            )
        return "reopened"

    async def closure(self, school_id: str) -> SchoolClosure | None:
        """When and why the school was closed; None if it is open (or unknown)."""
        row = await self._db.fetchone(
            "SELECT id, name, closed_at, closed_reason FROM schools "
            "WHERE id = ? AND closed_at IS NOT NULL",
            (school_id,),
        )
        return None if row is None else _closure(row)

    async def closed_memberships(self, person_id: int) -> list[SchoolClosure]:
        """The closed schools whose list has the person (they are in no open one's, or the
        rules would have found them there)."""
        rows = await self._db.fetchall(
            """
            SELECT s.id, s.name, s.closed_at, s.closed_reason FROM people p
            JOIN schools s ON s.id = p.school_id
            WHERE p.person_id = ? AND s.closed_at IS NOT NULL ORDER BY s.id
            """,
            (person_id,),
        )
        return [_closure(row) for row in rows]

    async def closed_schools(self, school_ids: Iterable[str] | None = None) -> list[SchoolClosure]:
        """The closed schools (of `school_ids`, if given), by id."""
        rows = await self._db.fetchall(
            "SELECT id, name, closed_at, closed_reason FROM schools "
            "WHERE closed_at IS NOT NULL ORDER BY id"
        )
        wanted = None if school_ids is None else set(school_ids)
        return [_closure(row) for row in rows if wanted is None or row[0] in wanted]

    async def unchanged_import(self, digest: str) -> tuple[RosterChanges, str] | None:
        """If the file of `digest` was the last one imported and nothing in the roster has
        changed since, what importing it again would report (and the columns it ignored):
        it would change nothing. None otherwise."""
        row = await self._db.fetchone(
            """
            SELECT i.schools, i.not_in_file, i.unresolved, i.ignored, i.closed_in_file
            FROM roster_imports i
            JOIN roster_version v ON v.id = 1 AND v.version = i.version
            WHERE i.id = 1 AND i.digest = ?
            """,
            (digest,),
        )
        if row is None:
            return None
        closed = tuple(json.loads(row[4]))
        changes = RosterChanges(
            schools_unchanged=row[0],
            schools_not_in_file=row[1],
            people_unresolved=row[2],
            closed_in_file=closed,
        )
        return changes, row[3]

    async def count_schools(self) -> int:
        """Open schools: a closed one is in no total."""
        return int(await self._db.fetchval("SELECT COUNT(*) FROM open_schools"))

    async def count_people(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(DISTINCT person_id) FROM counted_people"))

    async def school_ids(self) -> list[str]:
        """Every school's id, closed ones too (an id stays taken)."""
        return [row[0] for row in await self._db.fetchall("SELECT id FROM schools ORDER BY id")]

    async def schools(self) -> list[School]:
        """The open schools: those reminded, counted and given codes."""
        rows = await self._db.fetchall("SELECT id, name FROM open_schools ORDER BY id")
        return [School(id=row[0], name=row[1]) for row in rows]

    async def school(self, school_id: str) -> School | None:
        row = await self._db.fetchone("SELECT id, name FROM schools WHERE id = ?", (school_id,))
        return None if row is None else School(id=row[0], name=row[1])

    async def find_schools(self, query: str, limit: int = 20) -> list[School]:
        """Schools whose id equals the query or whose name contains it, any case.

        SQLite's LIKE folds only ASCII case, so Cyrillic names are matched in Python.
        """
        exact = await self.school(query.strip())
        if exact is not None:
            return [exact]
        needle = query.strip().casefold()
        found: list[School] = []
        async with self._db.iterate("SELECT id, name FROM schools ORDER BY id") as cursor:
            async for row in cursor:
                if needle in str(row[1]).casefold():
                    found.append(School(id=row[0], name=row[1]))
                    if len(found) >= limit:
                        break
        return found

    async def people_of(self, school_ids: Iterable[str]) -> dict[str, list[Person]]:
        ids = list(dict.fromkeys(school_ids))
        result: dict[str, list[Person]] = {school_id: [] for school_id in ids}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT person_id, school_id, full_name, role FROM people "  # noqa: S608
                f"WHERE school_id IN ({marks}) ORDER BY school_id, role DESC, full_name",
                chunk,
            )
            for row in rows:
                result[row[1]].append(
                    Person(person_id=row[0], school_id=row[1], full_name=row[2], role=Role(row[3]))
                )
        return result

    async def people_acknowledged(
        self, school_id: str, campaign_id: str
    ) -> tuple[list[Person], dict[int, dt.datetime]]:
        """A school's people (as `people_of`) and when each acknowledged the campaign's order,
        in one query."""
        return _people_acknowledged(
            await self._db.fetchall(PEOPLE_ACKNOWLEDGED, (campaign_id, school_id))
        )

    async def memberships(self, person_id: int) -> list[Membership]:
        rows = await self._db.fetchall(
            """
            SELECT s.id, s.name, p.role, p.full_name FROM people p
            JOIN open_schools s ON s.id = p.school_id
            WHERE p.person_id = ? ORDER BY s.id
            """,
            (person_id,),
        )
        return [
            Membership(school=School(id=r[0], name=r[1]), role=Role(r[2]), full_name=r[3])
            for r in rows
        ]


def _closure(row: Sequence[Any]) -> SchoolClosure:
    """From `id, name, closed_at, closed_reason` of `schools`."""
    return SchoolClosure(
        school=School(id=row[0], name=row[1]), closed_at=_parse_ts(row[2]), reason=row[3]
    )


def _answer(r: Sequence[Any], counts: dict[str, Count]) -> Answer:
    """An answer from a row of `a.id, a.campaign_id, ... a.origin` (the answers table)."""
    return Answer(
        campaign_id=r[1],
        school_id=r[2],
        step_id=r[3],
        state=StepState(r[4]),
        reason=r[5],
        answered_by=r[6],
        answered_at=_parse_ts(r[7]),
        late=bool(r[8]),
        source=AnswerSource(r[9]),
        origin=r[10],
        counts=counts,
    )


class AnswerRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, answer: Answer) -> None:
        """Append an answer and make it current, together.

        A replayed update never gets here: the pipeline marks the update's event in the
        same transaction (`EventRepository.mark_new`).
        """
        counts = [
            (part, position, c.done, c.total)
            for position, (part, c) in enumerate(answer.counts.items())
        ]

        def write(conn: sqlite3.Connection) -> None:
            # One round trip to the database's thread for all of the answer's statements.
            cursor = conn.execute(
                """
                INSERT INTO answers (campaign_id, school_id, step_id, state, reason,
                    answered_by, answered_at, late, source, origin)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    answer.campaign_id,
                    answer.school_id,
                    answer.step_id,
                    answer.state.value,
                    answer.reason,
                    answer.answered_by,
                    _ts(answer.answered_at),
                    int(answer.late),
                    answer.source.value,
                    answer.origin,
                ),
            )
            answer_id = int(cursor.lastrowid or 0)
            cursor.close()
            if counts:
                conn.executemany(
                    "INSERT INTO answer_counts (answer_id, part, position, done, total) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(answer_id, *row) for row in counts],
                ).close()
            conn.execute(
                """
                INSERT INTO current_answers (campaign_id, school_id, step_id, answer_id, state)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (campaign_id, school_id, step_id) DO UPDATE SET
                    answer_id = excluded.answer_id, state = excluded.state
                """,
                (answer.campaign_id, answer.school_id, answer.step_id, answer_id, answer.state),
            ).close()

        async with self._db.atomic():
            await self._db.run(write)

    async def undo_not_required(self, campaign_id: str, school_id: str, step_id: str) -> bool:
        """Make the school's last answer before «не требуется» current again (or none, if it
        gave none); False when the step is not «не требуется» now. The history keeps both."""
        async with self._db.atomic():
            current = await self._db.fetchone(
                "SELECT answer_id, state FROM current_answers "
                "WHERE campaign_id = ? AND school_id = ? AND step_id = ?",
                (campaign_id, school_id, step_id),
            )
            if current is None or current[1] != StepState.NOT_REQUIRED.value:
                return False
            before = await self._db.fetchone(
                "SELECT id, state FROM answers WHERE campaign_id = ? AND school_id = ? "
                "AND step_id = ? AND state != 'not_required' ORDER BY id DESC LIMIT 1",
                (campaign_id, school_id, step_id),
            )
            if before is None:
                await self._db.execute(
                    "DELETE FROM current_answers "
                    "WHERE campaign_id = ? AND school_id = ? AND step_id = ?",
                    (campaign_id, school_id, step_id),
                )
            else:
                await self._db.execute(
                    "UPDATE current_answers SET answer_id = ?, state = ? "
                    "WHERE campaign_id = ? AND school_id = ? AND step_id = ?",
                    (before[0], before[1], campaign_id, school_id, step_id),
                )
        return True

    async def _answers(self, where: str, params: Sequence[object]) -> list[Answer]:
        rows = await self._db.fetchall(
            f"""
            SELECT a.id, a.campaign_id, a.school_id, a.step_id, a.state, a.reason,
                   a.answered_by, a.answered_at, a.late, a.source, a.origin
            FROM answers a {where}
            """,  # noqa: S608 - `where` is one of this module's constants
            params,
        )
        if not rows:
            return []
        counts: dict[int, dict[str, Count]] = defaultdict(dict)
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for cid, part, done, total in await self._db.fetchall(
                f"SELECT answer_id, part, done, total FROM answer_counts "  # noqa: S608
                f"WHERE answer_id IN ({marks}) ORDER BY answer_id, position",
                chunk,
            ):
                counts[cid][part] = Count(done=done, total=total)
        return [_answer(r, counts.get(r[0], {})) for r in rows]

    async def current_for_school(self, campaign_id: str, school_id: str) -> dict[str, Answer]:
        """The school's current answers with their numbers, in one query."""
        return _current_answers(
            await self._db.fetchall(CURRENT_FOR_SCHOOL, (campaign_id, school_id))
        )

    async def school_snapshot(
        self, campaign_id: str, school_id: str
    ) -> tuple[list[Person], dict[int, dt.datetime], dict[str, Answer]]:
        """What a school's card shows: its people, who acknowledged the order, its current
        answers; two queries in one round trip to the database's thread."""
        people_rows, answer_rows = await self._db.fetch_many(
            [
                (PEOPLE_ACKNOWLEDGED, (campaign_id, school_id)),
                (CURRENT_FOR_SCHOOL, (campaign_id, school_id)),
            ]
        )
        people, acknowledged = _people_acknowledged(people_rows)
        return people, acknowledged, _current_answers(answer_rows)

    async def current_states(self, campaign_id: str) -> dict[str, dict[str, StepState]]:
        """school id -> step id -> current state, for every school that answered anything."""
        result: dict[str, dict[str, StepState]] = defaultdict(dict)
        async with self._db.iterate(
            "SELECT school_id, step_id, state FROM counted_answers WHERE campaign_id = ?",
            (campaign_id,),
        ) as cursor:
            async for row in cursor:
                result[row[0]][row[1]] = StepState(row[2])
        return dict(result)

    async def first_owing(
        self, campaign_id: str, step_ids: Sequence[str], limit: int
    ) -> tuple[list[School], dict[str, dict[str, StepState]]]:
        """The first `limit` schools (by id) with any listed step not done, and their current
        states: walks the schools in order and stops there, whatever the region's size."""
        marks = ",".join("?" * len(step_ids))
        rows = await self._db.fetchall(
            f"""
            SELECT s.id, s.name FROM open_schools s
            WHERE (SELECT COUNT(*) FROM current_answers c
                   WHERE c.campaign_id = ? AND c.school_id = s.id
                     AND c.state IN ('done', 'not_required')
                     AND c.step_id IN ({marks})) < ?
            ORDER BY s.id LIMIT ?
            """,  # noqa: S608 - only placeholders are interpolated
            (campaign_id, *step_ids, len(step_ids), limit),
        )
        schools = [School(id=row[0], name=row[1]) for row in rows]
        states: dict[str, dict[str, StepState]] = {school.id: {} for school in schools}
        for start in range(0, len(schools), 500):
            chunk = [school.id for school in schools[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            for school_id, step_id, state in await self._db.fetchall(
                f"SELECT school_id, step_id, state FROM current_answers "  # noqa: S608
                f"WHERE campaign_id = ? AND school_id IN ({marks})",
                (campaign_id, *chunk),
            ):
                states[school_id][step_id] = StepState(state)
        return schools, states

    async def history(self, campaign_id: str, school_id: str | None = None) -> list[Answer]:
        if school_id is None:
            return await self._answers("WHERE a.campaign_id = ? ORDER BY a.id", (campaign_id,))
        return await self._answers(
            "WHERE a.campaign_id = ? AND a.school_id = ? ORDER BY a.id", (campaign_id, school_id)
        )

    async def tallies(self, campaign_id: str) -> dict[str, StepTally]:
        """Per step, how many schools currently report each state (one grouped query)."""
        per_step: dict[str, dict[str, int]] = defaultdict(dict)
        for step_id, state, n in await self._db.fetchall(
            """
            SELECT c.step_id, c.state, COUNT(*) FROM counted_answers c
            WHERE c.campaign_id = ? GROUP BY c.step_id, c.state
            """,
            (campaign_id,),
        ):
            per_step[step_id][state] = n
        return {
            step_id: StepTally(step_id=step_id, **states) for step_id, states in per_step.items()
        }

    async def finished_count(self, campaign_id: str, step_ids: Sequence[str]) -> int:
        """Schools whose every listed step is currently `done`."""
        marks = ",".join("?" * len(step_ids))
        value = await self._db.fetchval(
            f"""
            SELECT COUNT(*) FROM (
                SELECT c.school_id FROM counted_answers c
                WHERE c.campaign_id = ? AND c.state IN ('done', 'not_required')
                  AND c.step_id IN ({marks})
                GROUP BY c.school_id HAVING COUNT(*) = ?
            )
            """,  # noqa: S608 - only placeholders are interpolated
            (campaign_id, *step_ids, len(step_ids)),
        )
        return int(value or 0)

    async def part_totals(self, campaign_id: str, step_id: str) -> list[PartTotal]:
        """District totals of a count step over the schools' current answers."""
        rows = await self._db.fetchall(
            """
            SELECT n.part, SUM(n.done), SUM(n.total) FROM counted_answers c
            JOIN answer_counts n ON n.answer_id = c.answer_id
            WHERE c.campaign_id = ? AND c.step_id = ?
            GROUP BY n.part
            """,
            (campaign_id, step_id),
        )
        return [PartTotal(part=r[0], done=int(r[1]), total=int(r[2])) for r in rows]


class StaffAction(_Row):
    """Something staff did that is not an answer (issue 17), as the history keeps it."""

    campaign_id: str
    school_id: str
    step_id: str  # "" for the whole school
    action: str  # "required", "extended", "extension_cancelled"
    detail: str = ""
    done_by: int
    done_at: dt.datetime


class StaffActionRepository:
    """The append-only history of staff actions other than answers (migration 0010)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, action: StaffAction) -> None:
        await self._db.execute(
            "INSERT INTO staff_actions "
            "(campaign_id, school_id, step_id, action, detail, done_by, done_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                action.campaign_id,
                action.school_id,
                action.step_id,
                action.action,
                action.detail,
                action.done_by,
                _ts(action.done_at),
            ),
        )

    async def of_campaign(self, campaign_id: str) -> list[StaffAction]:
        rows = await self._db.fetchall(
            "SELECT campaign_id, school_id, step_id, action, detail, done_by, done_at "
            "FROM staff_actions WHERE campaign_id = ? ORDER BY id",
            (campaign_id,),
        )
        return [
            StaffAction(
                campaign_id=r[0],
                school_id=r[1],
                step_id=r[2],
                action=r[3],
                detail=r[4],
                done_by=r[5],
                done_at=dt.datetime.fromisoformat(r[6]),
            )
            for r in rows
        ]


class Extension(_Row):
    """A school's own deadline, for one step or ("") for all of them (migration 0011)."""

    school_id: str
    step_id: str
    deadline: dt.datetime
    granted_by: int
    granted_at: dt.datetime


class ExtensionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def grant(self, campaign_id: str, extension: Extension) -> None:
        await self._db.execute(
            """
            INSERT INTO extensions
                (campaign_id, school_id, step_id, deadline, granted_by, granted_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (campaign_id, school_id, step_id) DO UPDATE SET
                deadline = excluded.deadline, granted_by = excluded.granted_by,
                granted_at = excluded.granted_at
            """,
            (
                campaign_id,
                extension.school_id,
                extension.step_id,
                _ts(extension.deadline),
                extension.granted_by,
                _ts(extension.granted_at),
            ),
        )

    async def cancel(self, campaign_id: str, school_id: str, step_id: str | None) -> int:
        """Remove the school's extension of `step_id` (all of them for None); how many."""
        if step_id is None:
            return await self._db.execute(
                "DELETE FROM extensions WHERE campaign_id = ? AND school_id = ?",
                (campaign_id, school_id),
            )
        return await self._db.execute(
            "DELETE FROM extensions WHERE campaign_id = ? AND school_id = ? AND step_id = ?",
            (campaign_id, school_id, step_id),
        )

    async def of_campaign(self, campaign_id: str, school_id: str | None = None) -> list[Extension]:
        """The campaign's extensions (of one school), by school and step: a handful of rows.
        Without `school_id`, those of open schools: a closed one is reminded of nothing."""
        where, params = (
            "campaign_id = ? AND school_id IN (SELECT id FROM open_schools)",
            [campaign_id],
        )
        if school_id is not None:
            where, params = "campaign_id = ? AND school_id = ?", [campaign_id, school_id]
        rows = await self._db.fetchall(
            "SELECT school_id, step_id, deadline, granted_by, granted_at FROM extensions "  # noqa: S608
            f"WHERE {where} ORDER BY school_id, step_id",
            params,
        )
        return [
            Extension(
                school_id=r[0],
                step_id=r[1],
                deadline=_parse_ts(r[2]),
                granted_by=r[3],
                granted_at=_parse_ts(r[4]),
            )
            for r in rows
        ]


class ScheduleRepository:
    """Which automatic messages were written (their slot taken), and whether a campaign's are
    paused."""

    SLOT_DONE = 0  # the recipient id that marks a whole slot as handled

    def __init__(self, db: Database) -> None:
        self._db = db

    async def finished_slots(self, campaign_id: str) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT slot_key FROM scheduled_sent WHERE campaign_id = ? AND recipient = ?",
            (campaign_id, self.SLOT_DONE),
        )
        return {row[0] for row in rows}

    async def mark_sent(
        self, campaign_id: str, slot_key: str, recipient: int, now: dt.datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO scheduled_sent (campaign_id, slot_key, recipient, sent_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (campaign_id, slot_key, recipient, _ts(now)),
        )

    async def finish_slot(self, campaign_id: str, slot_key: str, now: dt.datetime) -> None:
        await self.mark_sent(campaign_id, slot_key, self.SLOT_DONE, now)

    async def since(self, campaign_id: str) -> dt.datetime | None:
        """When the bot took the campaign on: its first start with it (the campaign row's
        `created_at`), or its first announcement if that was later. Nothing automatic that
        was due before this moment is sent late."""
        row = await self._db.fetchone(
            "SELECT created_at, announced_at FROM campaigns WHERE id = ?", (campaign_id,)
        )
        if row is None:
            return None
        moments = [_parse_ts(text) for text in row if text is not None]
        return max(moments) if moments else None

    async def set_paused(self, campaign_id: str, paused_at: dt.datetime | None) -> None:
        await self._db.execute(
            "UPDATE campaigns SET paused_at = ? WHERE id = ?",
            (None if paused_at is None else _ts(paused_at), campaign_id),
        )

    async def paused_at(self, campaign_id: str) -> dt.datetime | None:
        text = await self._db.fetchval(
            "SELECT paused_at FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return None if text is None else _parse_ts(text)


class EventRepository:
    """Event ids of the updates already handled: a replayed one is skipped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_new(self, event_ids: Sequence[str], now: dt.datetime) -> set[str]:
        """Mark the events handled; the ids that were not marked before (a batch's dedupe in
        one statement: the ids travel as one JSON array)."""
        rows = await self._db.fetchall(
            "INSERT INTO processed_events (event_id, processed_at) "
            "SELECT value, ? FROM json_each(?) WHERE true "  # WHERE: ON CONFLICT follows
            "ON CONFLICT DO NOTHING RETURNING event_id",
            (_ts(now), json.dumps(list(event_ids))),
        )
        return {row[0] for row in rows}


class ConversationRepository:
    """What the bot remembers about people: acknowledgements, awaited input, reachability."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def acknowledge(self, campaign_id: str, person_id: int, now: dt.datetime) -> bool:
        changed = await self._db.execute(
            "INSERT INTO acknowledgements (campaign_id, person_id, acknowledged_at) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (campaign_id, person_id, _ts(now)),
        )
        return changed > 0

    async def count_acknowledged(self, campaign_id: str) -> int:
        """People of the roster who have acknowledged the campaign's order."""
        value = await self._db.fetchval(
            "SELECT COUNT(*) FROM acknowledgements a WHERE a.campaign_id = ? "
            "AND EXISTS (SELECT 1 FROM counted_people p WHERE p.person_id = a.person_id)",
            (campaign_id,),
        )
        return int(value or 0)

    async def acknowledged(
        self, campaign_id: str, person_ids: Sequence[int] | None = None
    ) -> dict[int, dt.datetime]:
        """When each person acknowledged the order (only `person_ids`, if given)."""
        sql = "SELECT person_id, acknowledged_at FROM acknowledgements WHERE campaign_id = ?"
        params: list[object] = [campaign_id]
        if person_ids is not None:
            sql += f" AND person_id IN ({','.join('?' * len(person_ids))})"
            params += list(person_ids)
        rows = await self._db.fetchall(sql, params)
        return {row[0]: _parse_ts(row[1]) for row in rows}

    async def mark_unreachable(self, person_id: int, now: dt.datetime) -> None:
        await self._db.execute(
            "INSERT INTO private_unreachable (person_id, since) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (person_id, _ts(now)),
        )

    async def unreachable(self) -> set[int]:
        """Everyone VK refused to message privately (a short list: they are asked to write)."""
        return {
            row[0] for row in await self._db.fetchall("SELECT person_id FROM private_unreachable")
        }

    async def mark_reachable(self, person_id: int) -> None:
        await self._db.execute("DELETE FROM private_unreachable WHERE person_id = ?", (person_id,))

    async def is_unreachable(self, person_id: int) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM private_unreachable WHERE person_id = ?", (person_id,)
        )
        return found is not None

    async def expect_input(self, person_id: int, peer_id: int, pending: PendingInput) -> None:
        await self._db.execute(
            """
            INSERT INTO pending_inputs
                (person_id, peer_id, campaign_id, school_id, step_id, kind, created_at, text)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (person_id, peer_id) DO UPDATE SET
                campaign_id = excluded.campaign_id, school_id = excluded.school_id,
                step_id = excluded.step_id, kind = excluded.kind,
                created_at = excluded.created_at, text = excluded.text
            """,
            (
                person_id,
                peer_id,
                pending.campaign_id,
                pending.school_id,
                pending.step_id,
                pending.kind,
                _ts(pending.created_at),
                pending.text,
            ),
        )

    async def pending_input(self, person_id: int, peer_id: int) -> PendingInput | None:
        row = await self._db.fetchone(
            "SELECT campaign_id, school_id, step_id, kind, created_at, text "
            "FROM pending_inputs WHERE person_id = ? AND peer_id = ?",
            (person_id, peer_id),
        )
        return None if row is None else _pending(row)

    async def take_input(self, person_id: int, peer_id: int) -> PendingInput | None:
        """The prompt waiting here, removed (one statement)."""
        row = await self._db.fetchone(
            "DELETE FROM pending_inputs WHERE person_id = ? AND peer_id = ? "
            "RETURNING campaign_id, school_id, step_id, kind, created_at, text",
            (person_id, peer_id),
        )
        return None if row is None else _pending(row)

    async def clear_input(self, person_id: int, peer_id: int) -> None:
        await self._db.execute(
            "DELETE FROM pending_inputs WHERE person_id = ? AND peer_id = ?", (person_id, peer_id)
        )

    async def speaker(self, person_id: int, peer_id: int) -> Speaker:
        """The person's schools (as `RosterRepository.memberships`) and the prompt waiting for
        them in this conversation, in one query: the path of every typed answer."""
        rows = await self._db.fetchall(
            """
            SELECT s.id, s.name, p.role, p.full_name,
                   i.campaign_id, i.school_id, i.step_id, i.kind, i.created_at, i.text
            FROM people p
            JOIN open_schools s ON s.id = p.school_id
            LEFT JOIN pending_inputs i ON i.person_id = p.person_id AND i.peer_id = ?
            WHERE p.person_id = ? ORDER BY s.id
            """,
            (peer_id, person_id),
        )
        memberships = [
            Membership(school=School(id=r[0], name=r[1]), role=Role(r[2]), full_name=r[3])
            for r in rows
        ]
        pending = _pending(rows[0][4:]) if rows and rows[0][4] is not None else None
        return Speaker(memberships=memberships, pending=pending)

    async def expire_prompts(
        self, campaign_id: str, before: dt.datetime
    ) -> list[UnansweredProblem]:
        """Drop the reason and numbers prompts asked before `before`; the problems whose reason
        never came and that are still problems, for the notice to staff (one round trip)."""
        cutoff = _ts(before)

        def work(conn: sqlite3.Connection) -> list[UnansweredProblem]:
            cursor = conn.execute(
                """
                SELECT i.person_id, COALESCE(p.full_name, ''), s.id, s.name, i.step_id,
                       i.created_at
                FROM pending_inputs i
                JOIN open_schools s ON s.id = i.school_id
                JOIN current_answers c ON c.campaign_id = i.campaign_id
                    AND c.school_id = i.school_id AND c.step_id = i.step_id
                    AND c.state = 'problem'
                LEFT JOIN people p ON p.person_id = i.person_id AND p.school_id = i.school_id
                WHERE i.kind = 'reason' AND i.created_at < ? AND i.campaign_id = ?
                ORDER BY i.created_at
                """,
                (cutoff, campaign_id),
            )
            rows = cursor.fetchall()
            cursor.close()
            conn.execute(
                "DELETE FROM pending_inputs "
                "WHERE kind IN ('reason', 'counts') AND created_at < ? AND campaign_id = ?",
                (cutoff, campaign_id),
            ).close()
            return [
                UnansweredProblem(
                    person_id=r[0],
                    full_name=r[1] or f"id{r[0]}",
                    school=School(id=r[2], name=r[3]),
                    step_id=r[4],
                    asked_at=_parse_ts(r[5]),
                )
                for r in rows
            ]

        async with self._db.atomic():
            return await self._db.run(work)

    async def tell_stranger(
        self, person_id: int, peer_id: int, now: dt.datetime, every: dt.timedelta
    ) -> bool:
        """Whether a stranger is due the note of who the bot is here (not told within
        `every`); if so, it counts as told now. One statement."""
        row = await self._db.fetchone(
            """
            INSERT INTO strangers_told (person_id, peer_id, told_at) VALUES (?, ?, ?)
            ON CONFLICT (person_id, peer_id) DO UPDATE SET told_at = excluded.told_at
            WHERE told_at <= ?
            RETURNING told_at
            """,
            (person_id, peer_id, _ts(now), _ts(now - every)),
        )
        return row is not None


def _pending(row: Sequence[Any]) -> PendingInput:
    """A prompt from `campaign_id, school_id, step_id, kind, created_at, text`."""
    return PendingInput(
        campaign_id=row[0],
        school_id=row[1],
        step_id=row[2],
        kind=row[3],
        created_at=_parse_ts(row[4]),
        text=row[5],
    )
