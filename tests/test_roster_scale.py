"""A region's roster (issue 15): written in a few statements, more schools in one file than
SQLite's default limit of parameters in one statement, and the same file again skipped."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from bot.domain import Person, Role, School
from storage.db import Database
from storage.repositories import RosterRepository
from tests.test_cli import FIRST_ROSTER, GOOD_CONFIG, cli, db_rows, write

NOW = dt.datetime(2023, 10, 17, 9, 0, tzinfo=dt.UTC)
SCHOOLS = 33_000  # SQLite's default limit is 32,766 parameters a statement (builds vary)


async def test_a_roster_of_more_schools_than_sqlite_takes_parameters(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        repo = RosterRepository(db)
        schools = [School(id=f"{n:05d}", name=f"Школа {n}") for n in range(SCHOOLS)]
        people = [
            Person(
                person_id=1 + n, school_id=f"{n:05d}", full_name=f"Директор {n}", role=Role.HEAD
            )
            for n in range(0, SCHOOLS, 3)
        ]
        first = await repo.apply(schools, people, NOW)
        assert (first.schools_added, first.people_added) == (SCHOOLS, len(people))
        again = await repo.apply(schools, people[1:], NOW)
        assert (again.schools_unchanged, again.people_removed) == (SCHOOLS, 1)
        assert await repo.count_schools() == SCHOOLS
        assert len(await repo.school_ids()) == SCHOOLS
        assert await db.fetchval("SELECT people FROM roster_counts") == len(people) - 1
    finally:
        await db.close()


def test_the_same_file_again_changes_nothing_and_reads_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    roster = write(tmp_path / "roster.csv", FIRST_ROSTER.replace("role\r\n", "role;телефон\r\n"))
    code, _, err = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert code == 0, err
    assert "телефон" in err  # the column the bot does not load

    # What applying the same file in full reports (the shortcut turned off).
    async def never(self: RosterRepository, digest: str) -> None:
        return None

    with monkeypatch.context() as patch:
        patch.setattr(RosterRepository, "unchanged_import", never)
        code, full, err = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert code == 0
    assert "без изменений 2; люди — добавлено 0, изменено 0, удалено 0" in full
    before = db_rows(tmp_path / "bot.db", "SELECT * FROM people ORDER BY 1, 2")

    # Unchanged since: the file is not even parsed, and says what a full import would.
    def refuse(data: bytes) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr("bot.__main__.parse_roster", refuse)
    code, again, err_again = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert (code, again, err_again) == (0, full, err)
    assert db_rows(tmp_path / "bot.db", "SELECT * FROM people ORDER BY 1, 2") == before
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)

    # The roster changed meanwhile (someone removed): the same file is applied in full.
    async def remove() -> None:
        db = await Database.open(tmp_path / "bot.db")
        try:
            await db.execute("DELETE FROM people WHERE person_id = 124")
        finally:
            await db.close()

    asyncio.run(remove())
    code, out, _ = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert code == 0
    assert "люди — добавлено 1, изменено 0, удалено 0" in out
    assert db_rows(tmp_path / "bot.db", "SELECT * FROM people ORDER BY 1, 2") == before

    # Another file in between: the first one is not "the last imported" any more.
    other = write(tmp_path / "other.csv", FIRST_ROSTER.replace("Иванов Иван", "Иванов И."))
    code, out, _ = cli(capsys, caplog, "roster", "import", other, "--config", config)
    assert "люди — добавлено 0, изменено 1" in out
    code, out, _ = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert "люди — добавлено 0, изменено 1" in out
