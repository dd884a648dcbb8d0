"""The district IT person's first hour with the command line (issue 13): the example config's
placeholder token, commands that need no token, a database that is a folder, damaged or newer
than the code, rosters kept in Excel, and the CLI speaking Russian."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.__main__ import EXIT_DATABASE, _announce, main
from bot.campaign import default_campaign_path, load_campaign
from bot.config import Config, load_config
from bot.vk_emulator import VKEmulator
from storage.db import Database
from storage.onboarding import ChatRepository
from storage.repositories import CampaignRepository

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
TOKEN_ENV = "CONFIRMBOT_VK_TOKEN"

# No token at all: the commands that never call VK must not ask for one.
NO_TOKEN_CONFIG = """
[vk]
group_id = 4242

[storage]
path = "bot.db"

[bot]
admins = [1001]
"""
ROSTER = (
    "school_id,school_name,vk_id,full_name,role\n"
    "001,МКОУ «СОШ №1»,123,Иванов Иван,head\n"
    "002,МКОУ «СОШ №2»,https://vk.com/id125,Сидоров Пётр,head\n"
)


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def db_rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql).fetchall())


# --- the token -----------------------------------------------------------------------------------


def test_check_config_refuses_the_example_placeholder_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, config)
    code, out, err = cli(capsys, "check-config", "--config", config)
    assert code == 1
    assert out == ""
    assert err.splitlines()[0] == f"{config}: НЕ OK — исправьте и проверьте снова:"
    problem = next(line for line in err.splitlines() if "vk.token" in line)
    assert "заглушка vk1.a.REPLACE_ME из config.example.toml" in problem
    assert TOKEN_ENV in problem


def test_the_placeholder_in_the_environment_file_is_named_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """confirmbot-admin reads /etc/confirmbot/confirmbot.env, a copy of
    deploy/confirmbot.env.example: its placeholder wins over the file's and is quoted, not
    hidden like a secret."""
    config = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, config)
    monkeypatch.setenv(TOKEN_ENV, "vk1.a.REPLACE_ME")
    code, _, err = cli(capsys, "check-config", "--config", config)
    assert code == 1
    assert "vk.token: всё ещё заглушка vk1.a.REPLACE_ME" in err


def test_check_config_is_ok_once_the_token_is_in_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, config)
    monkeypatch.setenv(TOKEN_ENV, "vk1.a.the-real-one")
    code, out, _ = cli(capsys, "check-config", "--config", config)
    assert code == 0
    assert out.startswith("OK — конфигурация")
    assert "the-real-one" not in out
    # The order No. 47 of the example is long over: said in words, not a failure.
    assert "предупреждение: срок приказа 20.10.2023 23:59 уже прошёл" in out


def test_commands_that_never_call_vk_need_no_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    roster = write(tmp_path / "roster.csv", ROSTER)
    code, out, err = cli(capsys, "roster", "import", roster, "--config", config)
    assert (code, err) == (0, "")
    assert "школы — добавлено 2" in out
    code, out, err = cli(capsys, "roster", "codes", "--config", config, "-o", tmp_path / "c.csv")
    assert (code, err) == (0, "")
    assert "коды регистрации записаны" in out
    code, out, err = cli(capsys, "report", "--config", config, "-o", tmp_path / "r.xlsx")
    assert (code, err) == (0, "")
    assert "отчёт записан" in out
    # announce does call VK: there the missing token is an error naming the key.
    code, _, err = cli(capsys, "announce", "--config", config)
    assert code == 2
    assert "vk.token: не указан" in err
    assert TOKEN_ENV in err


async def _bound_heads_chat(tmp_path: Path, emulator: VKEmulator) -> Config:
    """A config on the emulator with no chats listed, and a heads chat bound since."""
    emulator.add_chat(2_000_000_007, [1001])
    text = NO_TOKEN_CONFIG.replace(
        "group_id = 4242",
        f'group_id = 4242\ntoken = "vk1.a.emulated"\napi_url = "{emulator.api_url}"',
    )
    config = load_config(write(tmp_path / "config.toml", text), env={})
    db = await Database.open(config.storage.path)
    try:
        await ChatRepository(db).bind(2_000_000_007, "heads", 1001, dt.datetime.now(dt.UTC))
    finally:
        await db.close()
    return config


def test_announce_reaches_a_heads_chat_bound_after_start(tmp_path: Path) -> None:
    """Chats bound with «/привязать руководители» count: the config's lists may stay empty."""

    async def scenario() -> list[str]:
        emulator = VKEmulator(token="vk1.a.emulated", group_id=4242)
        await emulator.start()
        try:
            config = await _bound_heads_chat(tmp_path, emulator)
            assert await _announce(config) == 0
            return [m.text for m in emulator.messages_to(2_000_000_007)]
        finally:
            await emulator.stop()

    sent = asyncio.run(scenario())
    assert any("Приказ №" in text for text in sent)


# --- the database --------------------------------------------------------------------------------


def test_a_database_path_that_is_a_folder_is_named_not_traced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    (tmp_path / "bot.db").mkdir()
    roster = write(tmp_path / "roster.csv", ROSTER)

    code, _, err = cli(capsys, "roster", "import", roster, "--config", config)
    assert code == EXIT_DATABASE
    assert err.startswith(f"ошибка: {tmp_path / 'bot.db'} — это папка, а не файл базы данных")
    assert "[storage] path" in err

    write(tmp_path / "config.toml", NO_TOKEN_CONFIG.replace("[vk]", '[vk]\ntoken = "vk1.a.x"'))
    code, out, err = cli(capsys, "check-config", "--config", config)
    assert code == 1
    assert "storage.path: " in err
    assert "это папка" in err
    assert out == ""


def test_a_damaged_database_is_named_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    damaged = os.urandom(4096)
    (tmp_path / "bot.db").write_bytes(damaged)
    roster = write(tmp_path / "roster.csv", ROSTER)
    for args in (
        ("roster", "import", roster),
        ("roster", "codes", "-o", tmp_path / "c.csv"),
        ("report", "-o", tmp_path / "r.csv"),
    ):
        code, _, err = cli(capsys, *args, "--config", config)
        assert code == EXIT_DATABASE, args
        assert "не база данных confirmbot или файл повреждён" in err
        assert "резервной копии" in err
    write(tmp_path / "config.toml", NO_TOKEN_CONFIG.replace("[vk]", '[vk]\ntoken = "vk1.a.x"'))
    code, _, err = cli(capsys, "check-config", "--config", config)
    assert code == 1
    assert "повреждён" in err
    assert (tmp_path / "bot.db").read_bytes() == damaged


def newer_database(path: Path) -> None:
    asyncio.run(_close(Database.open(path)))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")


async def _close(opening: Any) -> None:
    await (await opening).close()


def test_a_database_newer_than_the_code_says_to_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    newer_database(tmp_path / "bot.db")
    code, _, err = cli(
        capsys, "roster", "import", write(tmp_path / "r.csv", ROSTER), "--config", config
    )
    assert code == EXIT_DATABASE
    assert "более новой версией confirmbot (версия схемы 99" in err
    assert "Обновите confirmbot" in err
    assert db_rows(tmp_path / "bot.db", "PRAGMA user_version") == [(99,)]


def test_run_stops_on_a_newer_database_with_one_line_and_no_restart(tmp_path: Path) -> None:
    """As systemd runs it: exit status 3, which the unit does not restart on, and one line in
    the journal that says what to do."""
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    newer_database(tmp_path / "bot.db")
    env = {**os.environ, TOKEN_ENV: "vk1.a.never-used", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == EXIT_DATABASE
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "ERROR" in lines[0]
    assert "confirmbot остановлен: база данных" in lines[0]
    assert "Обновите confirmbot" in lines[0]
    assert "confirmbot stopped: database" in lines[0]
    assert "vk1.a.never-used" not in result.stderr
    unit = (ROOT / "deploy" / "confirmbot.service").read_text(encoding="utf-8")
    prevent = next(
        line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")
    )
    assert str(EXIT_DATABASE) in prevent.split("=", 1)[1].split()


# --- rosters kept in Excel -----------------------------------------------------------------------


def workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


HEADER_ROW: list[object] = ["school_id", "school_name", "vk_id", "full_name", "role"]


def test_roster_import_reads_a_workbook_and_names_the_columns_it_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    book = workbook(
        tmp_path / "Список школ.xlsx",
        [
            [*HEADER_ROW, "Телефон"],
            ["001", "МКОУ «СОШ №1»", 123, "Иванов Иван", "директор", "+7 900 000-00-00"],
            ["002", "МКОУ «СОШ №2»", "vk.com/petrova_a", "Петрова Анна", "зам", None],
        ],
    )
    code, out, err = cli(capsys, "roster", "import", book, "--config", config)
    assert code == 0, err
    assert "школы — добавлено 2" in out
    assert "предупреждение: столбцы не загружены, бот их не знает: Телефон" in err
    # A short address is taken, and the output says when it becomes an id.
    assert "указаны коротким адресом (vk.com/имя): 1 чел." in out
    assert db_rows(tmp_path / "bot.db", "SELECT screen_name FROM unresolved_people") == [
        ("petrova_a",)
    ]
    assert db_rows(tmp_path / "bot.db", "SELECT id FROM schools ORDER BY id") == [
        ("001",),
        ("002",),
    ]


def test_roster_import_refuses_a_school_id_excel_stripped_of_its_zeros(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.toml", NO_TOKEN_CONFIG)
    assert (
        cli(capsys, "roster", "import", write(tmp_path / "r.csv", ROSTER), "--config", config)[0]
        == 0
    )
    before = db_rows(tmp_path / "bot.db", "SELECT * FROM schools ORDER BY id")
    # Saved again from Excel with the column as numbers: 001 -> 1, 002 -> 2.
    book = workbook(
        tmp_path / "r.xlsx",
        [
            HEADER_ROW,
            [1, "МКОУ «СОШ №1»", 123, "Иванов Иван", "head"],
            ["002", "МКОУ «СОШ №2»", 125, "Сидоров Пётр", "head"],
        ],
    )
    code, out, err = cli(capsys, "roster", "import", book, "--config", config)
    assert code == 1
    assert out == ""
    assert err.startswith(f"ошибка: {book}: список не загружен, ошибок: 1")
    assert "строка 2: school_id «1» совпадает со школой «001», которая уже есть в базе" in err
    assert "ничего не изменено" in err
    assert db_rows(tmp_path / "bot.db", "SELECT * FROM schools ORDER BY id") == before


# --- the command line speaks Russian ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report"], "ошибка: не хватает аргументов: --config, -o/--output"),
        (["nonsense"], "ошибка: COMMAND: нет такого: 'nonsense'"),
        (["demo", "--schools", "many"], "ошибка: --schools: 'many' — не число"),
        (["check-config", "--config", "c.toml", "--extra"], "ошибка: лишние аргументы: --extra"),
    ],
)
def test_usage_errors_are_russian(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: confirmbot")
    assert expected in err


def test_help_is_russian(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "бот сообщества ВКонтакте" in out
    assert "проверить конфигурацию и объяснить её" in out


def test_campaign_announce_posts_the_named_order_and_refuses_a_closed_one(
    tmp_path: Path,
) -> None:
    """`confirmbot campaign announce 48` over the wire (issue 14)."""
    order_48 = load_campaign(default_campaign_path()).model_copy(
        update={"id": "order_48", "number": "48", "title": "О втором приказе"}
    )

    async def scenario() -> tuple[list[str], int]:
        emulator = VKEmulator(token="vk1.a.emulated", group_id=4242)
        await emulator.start()
        try:
            config = await _bound_heads_chat(tmp_path, emulator)
            db = await Database.open(config.storage.path)
            try:
                await CampaignRepository(db).save(order_48, dt.datetime.now(dt.UTC))
            finally:
                await db.close()
            assert await _announce(config, "48") == 0
            sent = [m.text for m in emulator.messages_to(2_000_000_007)]
            db = await Database.open(config.storage.path)
            try:
                await CampaignRepository(db).close("order_48", dt.datetime.now(dt.UTC))
            finally:
                await db.close()
            return sent, await _announce(config, "48")
        finally:
            await emulator.stop()

    sent, refused = asyncio.run(scenario())
    assert len(sent) == 1
    assert sent[0].startswith("📋 Приказ № 48 от 16.10.2023 «О втором приказе»")
    assert refused == 1


def test_the_offline_commands_do_not_load_the_messenger_libraries() -> None:
    """`roster import`, `report`, `campaign add` never talk to VK: loading vkbottle for them cost
    0.7 s and 40 MB a run (BENCHMARKS.md row 4 missed its target over it)."""
    probe = (
        "import sys, bot.__main__, bot.config, bot.campaign, bot.roster\n"
        "print(sorted(m for m in ('vkbottle', 'vkbottle_types') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_announce_refuses_the_configs_order_once_it_is_closed(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        emulator = VKEmulator(token="vk1.a.emulated", group_id=4242)
        await emulator.start()
        try:
            config = await _bound_heads_chat(tmp_path, emulator)
            db = await Database.open(config.storage.path)
            try:
                now = dt.datetime.now(dt.UTC)
                await CampaignRepository(db).save(load_campaign(config.campaign.file), now)
                await CampaignRepository(db).close("order_47", now)
            finally:
                await db.close()
            return await _announce(config), len(emulator.messages_to(2_000_000_007))
        finally:
            await emulator.stop()

    assert asyncio.run(scenario()) == (1, 0)
