"""The `confirmbot` command line, run in-process: check-config, roster import and --help."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.campaign import default_campaign_path, load_campaign
from bot.domain import Answer, AnswerSource, StepState
from storage.db import Database
from storage.repositories import AnswerRepository, CampaignRepository, RosterRepository

TOKEN = "vk1.a.SECRET-abc123"
GROUP = 4242
ADMINS = (1001, 1002)

GOOD_CONFIG = f"""
[vk]
token = "{TOKEN}"
group_id = {GROUP}

[storage]
path = "bot.db"

[bot]
timezone = "Asia/Yekaterinburg"
admins = [{ADMINS[0]}, {ADMINS[1]}]
admin_chats = [2000000001]
heads_chats = [2000000002, 2000000003]
"""

# header, then: 123 / id123 / https://vk.com/id123 forms, a Russian role word, CRLF line ends.
FIRST_ROSTER = (
    "school_id;school_name;vk_id;full_name;role\r\n"
    "s1;МКОУ «СОШ №1»;123;Иванов Иван;head\r\n"
    "s1;МКОУ «СОШ №1»;id124;Петрова Анна;deputy\r\n"
    "s2;МКОУ «СОШ №2»;https://vk.com/id125;Сидоров Пётр;head\r\n"
    "s2;МКОУ «СОШ №2»;126;Орлова Мария;заместитель\r\n"
)
FIRST_PEOPLE = {
    (123, "s1", "Иванов Иван", "head"),
    (124, "s1", "Петрова Анна", "deputy"),
    (125, "s2", "Сидоров Пётр", "head"),
    (126, "s2", "Орлова Мария", "deputy"),
}


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFIRMBOT_VK_TOKEN", raising=False)


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def cli(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *args: str | Path
) -> tuple[int, str, str]:
    """Run `confirmbot ARGS`; the token must never show, in any output or log record."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    for text in (out, err, caplog.text):
        assert TOKEN not in text
        assert "SECRET-abc123" not in text
    assert "Traceback" not in out + err
    return code, out, err


def db_rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        db = await Database.open(db_path)
        try:
            return [tuple(row) for row in await db.fetchall(sql)]
        finally:
            await db.close()

    return asyncio.run(fetch())


def snapshot(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: db_rows(db_path, f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608
        for table in ("schools", "people", "answers", "current_answers")
    }


def roster(db_path: Path) -> tuple[dict[str, str], set[tuple[Any, ...]]]:
    """The schools (id -> name) and people as RosterRepository reads them back."""

    async def fetch() -> tuple[dict[str, str], set[tuple[Any, ...]]]:
        db = await Database.open(db_path)
        try:
            repo = RosterRepository(db)
            schools = {school.id: school.name for school in await repo.schools()}
            people = await repo.people_of(schools)
        finally:
            await db.close()
        return schools, {
            (p.person_id, p.school_id, p.full_name, p.role.value)
            for members in people.values()
            for p in members
        }

    return asyncio.run(fetch())


def schools(db_path: Path) -> dict[str, str]:
    return roster(db_path)[0]


def people(db_path: Path) -> set[tuple[Any, ...]]:
    return roster(db_path)[1]


def record_answer(db_path: Path, school_id: str, step_id: str, by: int) -> None:
    async def record() -> None:
        campaign = load_campaign(default_campaign_path())
        now = dt.datetime(2023, 10, 18, 9, 0, tzinfo=dt.UTC)
        db = await Database.open(db_path)
        try:
            await CampaignRepository(db).save(campaign, now)
            await AnswerRepository(db).record(
                Answer(
                    campaign_id=campaign.id,
                    school_id=school_id,
                    step_id=step_id,
                    state=StepState.DONE,
                    answered_by=by,
                    answered_at=now,
                    source=AnswerSource.TEXT,
                )
            )
        finally:
            await db.close()

    asyncio.run(record())


# --- check-config ------------------------------------------------------------------------------


def test_check_config_good_prints_ok_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    code, out, err = cli(capsys, caplog, "check-config", "--config", config)
    assert code == 0, err
    assert out.splitlines()[0] == f"OK — конфигурация {config} в порядке"
    assert "order_47" in out  # the campaign
    assert "приказ № 47" in out
    assert "20.10.2023 23:59" in out  # the deadline
    assert "2000000001" in out
    assert "2000000002" in out
    assert "2000000003" in out
    assert "Asia/Yekaterinburg" in out
    assert str(tmp_path / "bot.db") in out  # the storage path, resolved next to the config
    assert "базы данных ещё нет" in out
    assert "ключ доступа: задан (не показывается)" in out  # said to be set, never shown


def test_check_config_counts_the_schools_of_the_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    roster = write(tmp_path / "roster.csv", FIRST_ROSTER, bom=True)
    assert cli(capsys, caplog, "roster", "import", roster, "--config", config)[0] == 0
    code, out, _ = cli(capsys, caplog, "check-config", "--config", config)
    assert code == 0
    schools_line = next(line for line in out.splitlines() if "школ в списке" in line)
    assert schools_line.strip() == "школ в списке: 2"


def test_check_config_lists_every_problem_by_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(
        tmp_path / "config.toml",
        f"""
[vk]
token = "{TOKEN}"
group_id = {GROUP}
colour = "red"

[bot]
timezone = "Mars/Olympus"
admins = [1001]
admin_chats = [12345]
controller = "{TOKEN}"
""",
    )
    code, out, err = cli(capsys, caplog, "check-config", "--config", config)
    assert code != 0
    text = out + err
    assert "НЕ OK" in text
    assert "в порядке" not in text
    problems = [line for line in text.splitlines() if line.strip().startswith("- ")]
    assert len(problems) == 4, text
    expected = {
        "vk.colour": "неизвестный ключ",
        "bot.timezone": "Mars/Olympus",
        "bot.admin_chats": "12345",
        "bot.controller": "",
    }
    for key, detail in expected.items():
        line = next((p for p in problems if key in p), None)
        assert line is not None, f"no problem naming {key}: {text}"
        assert detail in line


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (f'[vk]\ntoken = "{TOKEN}\ngroup_id = {GROUP}\n', "line 2"),  # unterminated string
        (f'[vk]\ntoken = "{TOKEN}"\n', "vk.group_id"),
        (f'[vk]\ntoken = "x"\ngroup_id = "{TOKEN}"\n', "vk.group_id"),  # token misplaced
        (f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP}\n', "bot.admins"),
        (
            f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP}\n[bot]\nadmins = [1]\n'
            '[campaign]\nfile = "no-such-order.toml"\n',
            "campaign.file",
        ),
    ],
    ids=["syntax", "no group", "token in another key", "no admins", "no campaign file"],
)
def test_check_config_bad_files_fail_without_the_token(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    text: str,
    named: str,
) -> None:
    config = write(tmp_path / "config.toml", text)
    code, out, err = cli(capsys, caplog, "check-config", "--config", config)
    assert code != 0
    assert named in err
    assert not out.startswith("OK")


def test_check_config_token_from_the_environment_is_hidden_too(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIRMBOT_VK_TOKEN", TOKEN)
    config = write(
        tmp_path / "config.toml",
        GOOD_CONFIG.replace(f'token = "{TOKEN}"', 'token = "vk1.a.REPLACE_ME"'),
    )
    code, out, _ = cli(capsys, caplog, "check-config", "--config", config)
    assert code == 0
    assert "REPLACE_ME" not in out


def test_check_config_missing_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    code, out, err = cli(capsys, caplog, "check-config", "--config", missing)
    assert code != 0
    assert "не найден" in err
    assert str(missing) in err
    assert "OK" not in out


def test_run_with_a_missing_config_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, _, err = cli(capsys, caplog, "run", "--config", tmp_path / "absent.toml")
    assert code == 2
    assert err.startswith("ошибка: файл конфигурации")
    assert "не найден" in err


# --- roster import -----------------------------------------------------------------------------


def test_roster_import_reads_excel_csv_and_reimport_applies_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    db_path = tmp_path / "bot.db"
    roster = write(tmp_path / "roster.csv", FIRST_ROSTER, bom=True)

    code, out, err = cli(capsys, caplog, "roster", "import", roster, "--config", config)
    assert code == 0, err
    assert "школы — добавлено 2" in out
    assert "люди — добавлено 4" in out
    assert schools(db_path) == {"s1": "МКОУ «СОШ №1»", "s2": "МКОУ «СОШ №2»"}
    assert people(db_path) == FIRST_PEOPLE

    # An answer given between imports, by the deputy the next file drops.
    record_answer(db_path, "s1", "3.1", by=124)
    answers_before = db_rows(db_path, "SELECT * FROM answers")
    current_before = db_rows(db_path, "SELECT * FROM current_answers")

    second = write(
        tmp_path / "roster2.csv",
        "school_id;school_name;vk_id;full_name;role\n"
        "s1;МКОУ «СОШ №1»;123;Иванов Иван Иванович;head\n"  # name changed; 124 removed
        "s2;МКОУ «СОШ №2 им. Гамзатова»;id125;Сидоров Пётр;head\n"  # school renamed
        "s2;МКОУ «СОШ №2 им. Гамзатова»;126;Орлова Мария;deputy\n"
        "s3;МКОУ «СОШ №3»;vk.com/id127;Алиев Руслан;директор\n",  # a school added
    )
    code, out, err = cli(capsys, caplog, "roster", "import", second, "--config", config)
    assert code == 0, err
    assert "школы — добавлено 1, изменено 1, без изменений 1" in out
    assert "люди — добавлено 1, изменено 1, удалено 1" in out
    assert schools(db_path) == {
        "s1": "МКОУ «СОШ №1»",
        "s2": "МКОУ «СОШ №2 им. Гамзатова»",
        "s3": "МКОУ «СОШ №3»",
    }
    assert people(db_path) == {
        (123, "s1", "Иванов Иван Иванович", "head"),
        (125, "s2", "Сидоров Пётр", "head"),
        (126, "s2", "Орлова Мария", "deputy"),
        (127, "s3", "Алиев Руслан", "head"),
    }
    assert db_rows(db_path, "SELECT * FROM answers") == answers_before
    assert db_rows(db_path, "SELECT * FROM current_answers") == current_before

    # A file without s2: the school stays, with its people and answers, and the output says so.
    third = write(
        tmp_path / "roster3.csv",
        "school_id,school_name,vk_id,full_name,role\n"
        "s1,МКОУ «СОШ №1»,123,Иванов Иван Иванович,head\n"
        "s3,МКОУ «СОШ №3»,127,Алиев Руслан,head\n",
    )
    code, out, err = cli(capsys, caplog, "roster", "import", third, "--config", config)
    assert code == 0, err
    assert "школы — добавлено 0, изменено 0, без изменений 2" in out
    assert "люди — добавлено 0, изменено 0, удалено 0" in out
    assert "школ в базе, которых нет в файле: 1" in out
    assert set(schools(db_path)) == {"s1", "s2", "s3"}
    assert (125, "s2", "Сидоров Пётр", "head") in people(db_path)
    assert db_rows(db_path, "SELECT * FROM answers") == answers_before


def test_roster_import_of_a_bad_file_changes_nothing_and_names_the_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    db_path = tmp_path / "bot.db"
    first = write(tmp_path / "roster.csv", FIRST_ROSTER, bom=True)
    assert cli(capsys, caplog, "roster", "import", first, "--config", config)[0] == 0
    record_answer(db_path, "s2", "3.4", by=125)
    before = snapshot(db_path)

    bad = write(
        tmp_path / "bad.csv",
        "school_id;school_name;vk_id;full_name;role\n"  # line 1
        "s1;МКОУ «СОШ №1»;123;Новое Имя;head\n"  # line 2: fine, would change a name
        "s1;МКОУ «СОШ №1»;vk.com/не_id;Петрова Анна;deputy\n"  # line 3: not an id or name
        "s4;МКОУ «СОШ №4»;128;Новый Директор;head\n"  # line 4: fine, would add a school
        "s4;МКОУ «СОШ №4»;129;Кто-то;boss\n",  # line 5: no such role
        bom=True,
    )
    code, out, err = cli(capsys, caplog, "roster", "import", bad, "--config", config)
    assert code != 0
    text = out + err
    line3 = next((line for line in text.splitlines() if "строка 3" in line), None)
    line5 = next((line for line in text.splitlines() if "строка 5" in line), None)
    assert line3 is not None, text
    assert "person_id" in line3
    assert line5 is not None, text
    assert "role" in line5
    assert "boss" in line5
    for good_line in ("строка 1", "строка 2", "строка 4"):
        assert good_line not in text
    assert "ничего не изменено" in text
    assert snapshot(db_path) == before


def test_roster_import_of_a_missing_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    missing = tmp_path / "no-such-roster.csv"
    code, out, err = cli(capsys, caplog, "roster", "import", missing, "--config", config)
    assert code != 0
    assert "не найден" in err
    assert str(missing) in err
    assert "загружен" not in out
    assert not (tmp_path / "bot.db").exists()


def test_roster_import_with_a_missing_config_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    roster = write(tmp_path / "roster.csv", FIRST_ROSTER)
    code, _, err = cli(
        capsys, caplog, "roster", "import", roster, "--config", tmp_path / "absent.toml"
    )
    assert code != 0
    assert "не найден" in err


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["run", "--help"],
        ["demo", "--help"],
        ["roster", "--help"],
        ["roster", "import", "--help"],
        ["check-config", "--help"],
        ["announce", "--help"],
        ["report", "--help"],
    ],
    ids=" ".join,
)
def test_help_exits_zero(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: confirmbot")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "usage: confirmbot" in capsys.readouterr().err


def test_a_partial_file_merges_and_a_dry_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    db_path = tmp_path / "bot.db"
    everyone = write(tmp_path / "all.csv", FIRST_ROSTER)
    assert cli(capsys, caplog, "roster", "import", everyone, "--config", config)[0] == 0
    # A file with one new deputy of s1: as a whole roster it would drop s1's two people.
    part = write(
        tmp_path / "part.csv",
        "school_id;school_name;vk_id;full_name;role\r\ns1;МКОУ «СОШ №1»;127;Новый Зам;deputy\r\n",
    )
    code, out, _ = cli(capsys, caplog, "roster", "import", part, "--config", config, "--dry-run")
    assert code == 0
    assert "люди — добавлено 1, изменено 0, удалено 2" in out
    assert "ничего не изменено" in out
    assert people(db_path) == FIRST_PEOPLE
    merge = ("--mode", "merge")
    code, out, _ = cli(capsys, caplog, "roster", "import", part, "--config", config, *merge)
    assert code == 0
    assert "люди — добавлено 1, изменено 0, удалено 0" in out
    assert people(db_path) == FIRST_PEOPLE | {(127, "s1", "Новый Зам", "deputy")}


def test_roster_edits_one_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    db_path = tmp_path / "bot.db"
    everyone = write(tmp_path / "all.csv", FIRST_ROSTER)
    assert cli(capsys, caplog, "roster", "import", everyone, "--config", config)[0] == 0

    def run(*args: str) -> tuple[int, str, str]:
        return cli(capsys, caplog, "roster", *args, "--config", config)

    assert run("add-school", "s3", "МКОУ «СОШ №3»")[1] == "школа s3 «МКОУ „СОШ №3“» добавлена\n"
    code, _, err = run("add-school", "s3", "Другая")
    assert code == 1
    assert "уже есть" in err
    code, _, err = run("add-school", "S1", "Дубль")  # the same school written another way
    assert code == 1
    assert "совпадает со школой s1" in err
    assert run("rename-school", "s3", "МКОУ СОШ №3 им. Гамзатова")[0] == 0
    assert schools(db_path)["s3"] == "МКОУ СОШ №3 им. Гамзатова"
    assert run("rename-school", "s9", "Нет такой")[0] == 1
    head = ("https://vk.com/id301", "Гасанов  Гасан", "--role", "директор")
    code, out, _ = run("add-person", "s3", *head)
    assert code == 0
    assert "id301 (Гасанов Гасан, руководитель)" in out
    assert (301, "s3", "Гасанов Гасан", "head") in people(db_path)
    code, _, err = run("add-person", "s9", "302", "Кто-то")
    assert code == 1
    assert "нет школы с id s9" in err
    code, _, err = run("add-person", "s3", "vk.com/ivanov", "Иванов")
    assert code == 1
    assert "не id ВКонтакте" in err
    code, _, err = run("add-person", "s3", "303", "Иванов", "--role", "завуч")
    assert code == 1
    assert "не роль" in err
    code, out, _ = run("remove-person", "id124")
    assert code == 0
    assert "id124 убран из списка (1 школа)" in out
    assert all(p[0] != 124 for p in people(db_path))
    code, _, err = run("remove-person", "124")
    assert code == 1
    assert "ничего не изменено" in err
