"""Storage on real SQLite files: migrations, roster re-import, answers history and tallies."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.domain import (
    Answer,
    AnswerSource,
    Campaign,
    Count,
    CountPart,
    Person,
    Role,
    School,
    Step,
    StepKind,
    StepState,
)
from bot.messages import Address, AddressKind, Outgoing
from storage.db import Database, DatabaseError, Migration, bundled_migrations
from storage.outbox import OutboxCounts, OutboxRepository
from storage.repositories import (
    AnswerRepository,
    CampaignRepository,
    ConversationRepository,
    EventRepository,
    RosterRepository,
)
from tests.old_schema import save_in_version_1_shape

NOW = dt.datetime(2023, 10, 17, 9, 0, tzinfo=dt.UTC)


def make_campaign() -> Campaign:
    return Campaign(
        id="c1",
        title="Тест",
        number="1",
        date=dt.date(2023, 10, 16),
        deadline=dt.datetime(2023, 10, 20, 20, 59, tzinfo=dt.UTC),
        timezone="Europe/Moscow",
        steps=(
            Step(id="1", title="Первый", short_title="Первый"),
            Step(
                id="2",
                title="Второй",
                short_title="Второй",
                kind=StepKind.COUNT,
                parts=(CountPart(key="teachers", title="педагоги"),),
            ),
        ),
    )


def answer(school: str, step: str, state: StepState, by: int = 1, **kw: object) -> Answer:
    return Answer.model_validate(
        {
            "campaign_id": "c1",
            "school_id": school,
            "step_id": step,
            "state": state,
            "answered_by": by,
            "answered_at": NOW,
            "source": AnswerSource.TEXT,
            **kw,
        }
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "t.db")
    yield database
    await database.close()


async def seed(db: Database) -> None:
    await CampaignRepository(db).save(make_campaign(), NOW)
    await RosterRepository(db).apply(
        [School(id="s1", name="СОШ №1"), School(id="s2", name="Лицей")],
        [
            Person(person_id=10, school_id="s1", full_name="Иванов", role=Role.HEAD),
            Person(person_id=11, school_id="s1", full_name="Петрова", role=Role.DEPUTY),
            Person(person_id=20, school_id="s2", full_name="Сидоров", role=Role.HEAD),
        ],
        NOW,
    )


async def test_fresh_database_gets_every_migration(db: Database) -> None:
    assert await db.schema_version() == len(bundled_migrations())
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    assert await db.fetchval("PRAGMA synchronous") == 2  # FULL


async def test_existing_database_is_upgraded_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = bundled_migrations()[:1]
    extra = Migration(len(bundled_migrations()) + 1, "x", "CREATE TABLE extra (x INTEGER)")
    db = await Database.open(path, migrations=first)
    try:  # data written by the version-1 code, in version-1 shape
        await db.execute(
            "INSERT INTO schools (id, name, created_at, updated_at) VALUES "
            "('s1', 'СОШ №1', '2023-10-16T00:00:00+00:00', '2023-10-16T00:00:00+00:00'), "
            "('s2', 'Лицей', '2023-10-16T00:00:00+00:00', '2023-10-16T00:00:00+00:00')"
        )
        await db.execute(
            "INSERT INTO people (vk_id, school_id, full_name, role) VALUES (10, 's1', 'И', 'head')"
        )
    finally:
        await db.close()
    db = await Database.open(path, migrations=[*bundled_migrations(), extra])
    assert await db.schema_version() == extra.version
    assert await RosterRepository(db).count_schools() == 2
    people = await RosterRepository(db).people_of(["s1"])
    assert [p.person_id for p in people["s1"]] == [10]
    assert await db.fetchval("SELECT source FROM people") == "roster"
    await db.close()


async def test_a_version_3_database_gains_the_outbox_and_keeps_every_answer(
    tmp_path: Path,
) -> None:
    """The database of the first release (before the outbox) upgrades in place."""
    path = tmp_path / "v3.db"
    db = await Database.open(path, migrations=bundled_migrations()[:3])
    try:  # written in version 3's shape: people named by their VK id
        await save_in_version_1_shape(db, make_campaign(), NOW)
        await db.execute(
            "INSERT INTO schools (id, name, created_at, updated_at) VALUES "
            "('s1', 'СОШ №1', '2023-10-16T00:00:00+00:00', '2023-10-16T00:00:00+00:00'), "
            "('s2', 'Лицей', '2023-10-16T00:00:00+00:00', '2023-10-16T00:00:00+00:00')"
        )
        await db.execute(
            "INSERT INTO people (vk_id, school_id, full_name, role) VALUES "
            "(10, 's1', 'Иванов', 'head'), (20, 's2', 'Сидоров', 'head')"
        )
        await db.execute(
            "INSERT INTO acknowledgements (campaign_id, vk_id, acknowledged_at) "
            "VALUES ('c1', 12, '2023-10-16T00:00:00+00:00')"
        )
        answers = AnswerRepository(db)
        for n, state in enumerate((StepState.DONE, StepState.PROBLEM, StepState.DONE)):
            await answers.record(answer("s1", "1", state, by=10 + n))
        await answers.record(answer("s2", "1", StepState.IN_PROGRESS, by=20))
        before = await answers.history("c1")
    finally:
        await db.close()
    db = await Database.open(path)
    try:
        assert await db.schema_version() == len(bundled_migrations())
        answers = AnswerRepository(db)
        assert await answers.history("c1") == before
        assert (await answers.current_for_school("c1", "s1"))["1"].answered_by == 12
        # People keep their ids as person ids, with their VK accounts beside them.
        people = await RosterRepository(db).people_of(["s1", "s2"])
        assert [p.person_id for p in people["s1"] + people["s2"]] == [10, 20]
        accounts = await db.fetchall(
            "SELECT platform, external_id, person_id FROM accounts ORDER BY person_id"
        )
        assert [tuple(row) for row in accounts] == [
            ("vk", "10", 10),
            ("vk", "12", 12),
            ("vk", "20", 20),
        ]
        outbox = OutboxRepository(db)
        assert await outbox.counts() == OutboxCounts()
        message = Outgoing(
            key="k", to=(Address(platform="vk", kind=AddressKind.PERSON, id=10),), text="Привет"
        )
        assert await outbox.enqueue([message], NOW) == 1
        assert [row.message for row in await outbox.pending_messages(10)] == [message]
    finally:
        await db.close()


async def test_refuses_database_newer_than_code(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = await Database.open(path)
    await db.execute("PRAGMA user_version = 999")
    await db.close()
    with pytest.raises(DatabaseError, match="newer"):
        await Database.open(path)


async def test_failed_migration_leaves_version_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    db = await Database.open(path)
    version = await db.schema_version()
    bad = Migration(version + 1, "bad", "CREATE TABLE ok1 (x INTEGER); SELECT * FROM nowhere")
    migrations = [*bundled_migrations(), bad]
    with pytest.raises(Exception, match="nowhere"):
        await db.upgrade(migrations)
    assert await db.schema_version() == version
    assert await db.fetchval("SELECT name FROM sqlite_master WHERE name = 'ok1'") is None
    await db.close()


async def _rename_then_fail(db: Database) -> None:
    async with db.transaction():
        await db.execute("UPDATE schools SET name = 'B' WHERE id = 's2'")
        raise RuntimeError


async def test_nested_transaction_rolls_back_inner_only(db: Database) -> None:
    await seed(db)
    async with db.transaction():
        await db.execute("UPDATE schools SET name = 'A' WHERE id = 's1'")
        with pytest.raises(RuntimeError):
            await _rename_then_fail(db)
    names = dict(await db.fetchall("SELECT id, name FROM schools"))
    assert names == {"s1": "A", "s2": "Лицей"}


async def _write_then_fail(db: Database, work: Callable[[sqlite3.Connection], int]) -> None:
    async with db.transaction():
        await db.write(work)
        raise RuntimeError


async def test_write_is_a_transaction_in_one_trip_or_part_of_the_callers(db: Database) -> None:
    await seed(db)

    def rename(name: str, fail: bool) -> Callable[[sqlite3.Connection], int]:
        def work(conn: sqlite3.Connection) -> int:
            changed = conn.execute("UPDATE schools SET name = ? WHERE id = 's1'", (name,)).rowcount
            if fail:
                raise RuntimeError
            return changed

        return work

    assert await db.write(rename("A", fail=False)) == 1
    with pytest.raises(RuntimeError):
        await db.write(rename("B", fail=True))  # rolled back whole, no transaction left open
    assert await db.fetchval("SELECT name FROM schools WHERE id = 's1'") == "A"
    with pytest.raises(RuntimeError):
        await _write_then_fail(db, rename("C", fail=False))  # the caller's: falls with it
    assert await db.fetchval("SELECT name FROM schools WHERE id = 's1'") == "A"
    async with db.transaction():
        await db.write(rename("D", fail=False))
    assert await db.fetchval("SELECT name FROM schools WHERE id = 's1'") == "D"


async def test_work_asked_in_one_turn_goes_to_the_thread_at_once_in_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[object] = []
    queue = db._conn._tx  # type: ignore[attr-defined]

    class Counting:
        def put_nowait(self, item: object) -> None:
            handed.append(item)
            queue.put_nowait(item)

    monkeypatch.setattr(db._conn, "_tx", Counting())
    ran: list[int] = []

    def step(n: int) -> Callable[[sqlite3.Connection], int]:
        def work(conn: sqlite3.Connection) -> int:
            ran.append(n)
            if n == 2:
                raise ValueError(n)
            return int(conn.execute("SELECT ?", (n,)).fetchone()[0])

        return work

    async with db.transaction():  # as a group of updates does: side by side, no lock each
        handed.clear()  # the BEGIN
        results = await asyncio.gather(
            db.run(step(1)), db.run(step(2)), db.run(step(3)), return_exceptions=True
        )
        assert len(handed) == 1  # one hand-off for the three
        assert await db.run(step(4)) == 4  # and the next turn hands off again
        assert len(handed) == 2

    assert ran == [1, 2, 3, 4]
    assert results[0] == 1
    assert isinstance(results[1], ValueError)  # the failing one fails alone
    assert results[2] == 3


async def test_reimport_updates_people_and_keeps_answers(db: Database) -> None:
    await seed(db)
    answers = AnswerRepository(db)
    await answers.record(answer("s1", "1", StepState.DONE))
    changes = await RosterRepository(db).apply(
        [School(id="s1", name="СОШ №1 им. Гамзатова"), School(id="s3", name="Новая")],
        [
            Person(person_id=10, school_id="s1", full_name="Иванов И.И.", role=Role.HEAD),
            Person(person_id=30, school_id="s3", full_name="Новиков", role=Role.HEAD),
        ],
        NOW,
    )
    assert changes.schools_added == 1
    assert changes.schools_updated == 1
    assert changes.schools_not_in_file == 1
    assert changes.people_added == 1
    assert changes.people_updated == 1
    assert changes.people_removed == 1
    current = await answers.current_for_school("c1", "s1")
    assert current["1"].state is StepState.DONE
    people = await RosterRepository(db).people_of(["s1", "s2"])
    assert [p.full_name for p in people["s1"]] == ["Иванов И.И."]
    assert [p.person_id for p in people["s2"]] == [20]


async def test_history_is_append_only_and_current_is_latest(db: Database) -> None:
    await seed(db)
    answers = AnswerRepository(db)
    await answers.record(answer("s1", "1", StepState.IN_PROGRESS, by=10))
    await answers.record(answer("s1", "1", StepState.DONE, by=11))
    counts = {"teachers": Count(done=45, total=50)}
    await answers.record(answer("s1", "2", StepState.IN_PROGRESS, counts=counts))
    history = await answers.history("c1", "s1")
    assert [(a.step_id, a.state, a.answered_by) for a in history] == [
        ("1", StepState.IN_PROGRESS, 10),
        ("1", StepState.DONE, 11),
        ("2", StepState.IN_PROGRESS, 1),
    ]
    current = await answers.current_for_school("c1", "s1")
    assert current["1"].answered_by == 11
    assert current["2"].counts == counts
    tallies = await answers.tallies("c1")
    assert tallies["1"].done == 1
    assert tallies["2"].in_progress == 1
    totals = await answers.part_totals("c1", "2")
    assert [(t.part, t.done, t.total) for t in totals] == [("teachers", 45, 50)]


async def test_school_status_queries_match_the_separate_ones(db: Database) -> None:
    """`current_for_school` and `people_acknowledged` (one query each) give what the history,
    `people_of` and `acknowledged` give."""
    await seed(db)
    answers = AnswerRepository(db)
    await answers.record(answer("s1", "1", StepState.IN_PROGRESS, by=10))
    await answers.record(answer("s1", "1", StepState.DONE, by=11))
    first = {"teachers": Count(done=1, total=2), "aides": Count(done=3, total=4)}
    latest = {"zeta": Count(done=5, total=9), "alpha": Count(done=0, total=1)}
    await answers.record(answer("s1", "2", StepState.IN_PROGRESS, counts=first))
    await answers.record(answer("s1", "2", StepState.IN_PROGRESS, counts=latest))
    await answers.record(answer("s2", "2", StepState.PROBLEM, reason="нет"))
    conversations = ConversationRepository(db)
    await conversations.acknowledge("c1", 11, NOW)
    await conversations.acknowledge("c1", 20, NOW + dt.timedelta(hours=1))
    roster = RosterRepository(db)
    for school in ("s1", "s2", "s3"):
        expected = {a.step_id: a for a in await answers.history("c1", school)}
        current = await answers.current_for_school("c1", school)
        assert current == expected
        assert [list(a.counts) for a in current.values()] == [
            list(a.counts) for a in expected.values()
        ]
        people, acknowledged = await roster.people_acknowledged(school, "c1")
        expected_people = (await roster.people_of([school]))[school]
        assert people == expected_people
        assert acknowledged == await conversations.acknowledged(
            "c1", [p.person_id for p in expected_people]
        )
    assert list((await answers.current_for_school("c1", "s1"))["2"].counts) == ["zeta", "alpha"]
    assert (await roster.people_acknowledged("s1", "c1"))[1] == {11: NOW}


async def test_replayed_event_is_not_new_again(db: Database) -> None:
    events = EventRepository(db)
    assert await events.mark_new(["e1", "e2"], NOW) == {"e1", "e2"}
    assert await events.mark_new(["e2", "e3"], NOW) == {"e3"}
    # A restart: the marks are in the database, not in memory.
    assert await EventRepository(db).mark_new(["e1", "e3"], NOW) == set()


async def test_finished_count_needs_every_step_done(db: Database) -> None:
    await seed(db)
    answers = AnswerRepository(db)
    full = {"teachers": Count(done=50, total=50)}
    await answers.record(answer("s1", "1", StepState.DONE))
    await answers.record(answer("s1", "2", StepState.DONE, counts=full))
    await answers.record(answer("s2", "1", StepState.DONE))
    await answers.record(answer("s2", "2", StepState.PROBLEM, reason="нет связи"))
    assert await answers.finished_count("c1", ["1", "2"]) == 1


async def test_concurrent_answers_leave_consistent_state(db: Database) -> None:
    await seed(db)
    answers = AnswerRepository(db)
    states = [StepState.DONE, StepState.IN_PROGRESS] * 20
    await asyncio.gather(
        *(answers.record(answer("s1", "1", s, by=10 + i % 2)) for i, s in enumerate(states))
    )
    history = await answers.history("c1", "s1")
    assert len(history) == len(states)
    current = await answers.current_for_school("c1", "s1")
    assert current["1"].state is history[-1].state


async def test_find_schools_matches_cyrillic_any_case(db: Database) -> None:
    await seed(db)
    roster = RosterRepository(db)
    assert [s.id for s in await roster.find_schools("лиц")] == ["s2"]
    assert [s.id for s in await roster.find_schools("СОШ")] == ["s1"]
    assert [s.id for s in await roster.find_schools("s2")] == ["s2"]
    assert await roster.find_schools("гимназия") == []


async def test_database_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    db = await Database.open(path)
    await db.close()
    assert path.stat().st_mode & 0o077 == 0


async def test_campaigns_open_close_and_list(db: Database) -> None:
    repo = CampaignRepository(db)
    first = make_campaign()
    second = first.model_copy(update={"id": "c2", "number": "48"})
    await repo.save(first, NOW)
    await repo.save(second, NOW + dt.timedelta(days=1))
    assert await repo.open_ids() == ["c1", "c2"]

    assert await repo.close("c1", NOW + dt.timedelta(days=2))
    assert not await repo.close("c1", NOW + dt.timedelta(days=3)), "closing twice is refused"
    assert not await repo.close("nope", NOW)
    assert await repo.open_ids() == ["c2"]
    listing = await repo.listing()
    assert [(r.campaign.id, r.closed_at) for r in listing] == [
        ("c2", None),
        ("c1", NOW + dt.timedelta(days=2)),
    ]
    # Saving a closed campaign's file again (a restart with it in the config) keeps it closed.
    await repo.save(first, NOW + dt.timedelta(days=4))
    assert await repo.open_ids() == ["c2"]


async def test_a_steps_audience_is_stored(db: Database) -> None:
    campaign = make_campaign()
    staff = Step(id="2.1", title="Сотрудникам", short_title="Сотрудникам", audience="staff")
    await CampaignRepository(db).save(
        campaign.model_copy(update={"steps": (*campaign.steps, staff)}), NOW
    )
    rows = await db.fetchall("SELECT step_id, audience FROM steps ORDER BY position")
    assert [tuple(r) for r in rows] == [("1", "heads"), ("2", "heads"), ("2.1", "staff")]
