"""The config file: defaults, every kind of mistake, and the token kept out of sight."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.config import (
    TOKEN_ENV,
    BotConfig,
    Config,
    ConfigError,
    DepartmentConfig,
    QuietHours,
    RemindersConfig,
    VkConfig,
    default_campaign_path,
    describe,
    load_config,
)
from bot.durations import format_duration, parse_clock_time, parse_duration
from bot.max_api import MaxConfig

TOKEN = "vk1.a.TopSecretTokenValue_0123456789abcdefghijklmnopqrstuvwxyz"
MINIMAL = f"""
[vk]
token = "{TOKEN}"
group_id = 123456
"""
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env or {})
    return list(caught.value.problems)


def only_problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def test_minimal_config_gets_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})

    assert config.vk.token.get_secret_value() == TOKEN
    assert config.vk.group_id == 123456
    assert config.vk.api_url == "https://api.vk.ru/method/"
    assert config.vk.request_timeout is None
    assert config.storage.path == tmp_path.resolve() / "confirmbot.db"
    assert config.bot.timezone == "Europe/Moscow"
    assert config.bot.tzinfo.key == "Europe/Moscow"
    assert config.bot.admins == ()
    assert config.bot.controller is None
    assert config.bot.admin_chats == ()
    assert config.bot.heads_chats == ()
    assert config.campaign.file == default_campaign_path()
    assert config.campaign.file.is_file()
    reminders = config.reminders
    assert reminders.before == (dt.timedelta(days=3), dt.timedelta(days=1), dt.timedelta(hours=3))
    assert reminders.quiet_hours == QuietHours(start=dt.time(21, 0), end=dt.time(8, 0))
    assert reminders.daily_summary == dt.time(9, 0)
    assert reminders.escalate_every == dt.timedelta(hours=24)


def test_full_config_is_read(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
api_url = "http://127.0.0.1:8081/method"
request_timeout = 12.5

[storage]
path = "data/bot.db"

[bot]
timezone = "Asia/Yekaterinburg"
admins = [11, 22, 11]
controller = 33
admin_chats = [2000000001]
heads_chats = [2000000002, 2000000003]

[campaign]
file = "campaigns/order_48.toml"

[reminders]
before = ["1h", "2d", "1d12h", "48h", "45s", "30m"]
quiet_hours = "22:30-07:15"
daily_summary = "8:05"
escalate_every = "12h"
"""
    )
    config = load_config(write(tmp_path, text), env={})

    assert config.vk.api_url == "http://127.0.0.1:8081/method/"
    assert config.vk.request_timeout == 12.5
    assert config.storage.path == tmp_path.resolve() / "data" / "bot.db"
    assert config.bot.timezone == "Asia/Yekaterinburg"
    assert config.bot.admins == (11, 22)
    assert config.bot.controller == 33
    assert config.bot.heads_chats == (2000000002, 2000000003)
    assert config.campaign.file == tmp_path.resolve() / "campaigns" / "order_48.toml"
    hours = [d.total_seconds() / 3600 for d in config.reminders.before]
    assert hours == [48, 36, 1, 0.5, 45 / 3600]
    assert config.reminders.quiet_hours == QuietHours(start=dt.time(22, 30), end=dt.time(7, 15))
    assert config.reminders.daily_summary == dt.time(8, 5)
    assert config.reminders.escalate_every == dt.timedelta(hours=12)


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "x.db"
    config = load_config(
        write(tmp_path, MINIMAL + f'[storage]\npath = "{target.as_posix()}"\n'), env={}
    )
    assert config.storage.path == target
    config = load_config(write(tmp_path, MINIMAL + '[storage]\npath = "~/x.db"\n'), env={})
    assert config.storage.path == Path("~/x.db").expanduser()


def test_relative_paths_follow_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    path = write(tmp_path / "etc", MINIMAL + '[storage]\npath = "bot.db"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/config.toml"), env={})
    assert config.storage.path == tmp_path.resolve() / "etc" / "bot.db"
    assert path.exists()


def test_example_config_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, env={}, need_token=False)
    assert config.vk.group_id > 0
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in (
        "token",
        "group_id",
        "api_url",
        "request_timeout",
        "path",
        "timezone",
        "admins",
        "controller",
        "admin_chats",
        "heads_chats",
        "file",
        "before",
        "quiet_hours",
        "daily_summary",
        "escalate_every",
        "[department]",
        "name",
        "short_name",
        "phone",
        TOKEN_ENV,
    ):
        assert key in text, key
    assert any("заглушка" in line for line in describe(config))


def test_the_example_placeholder_token_is_refused_where_vk_is_called() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE, env={})
    (problem,) = caught.value.problems
    assert problem.startswith("vk.token: ")
    assert "config.example.toml" in problem
    assert TOKEN_ENV in problem
    # The real token in the environment wins over the placeholder.
    assert load_config(EXAMPLE, env={TOKEN_ENV: "vk1.a.Real"}).vk.secret() == "vk1.a.Real"


def test_commands_that_never_call_vk_need_no_token(tmp_path: Path) -> None:
    path = write(tmp_path, "[vk]\ngroup_id = 7\n")
    assert load_config(path, env={}, need_token=False).vk.token is None
    with pytest.raises(ConfigError, match=r"vk\.token"):
        load_config(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", env={})
    assert "не найден" in str(caught.value)
    assert "nope.toml" in str(caught.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="папка, а не файл"):
        load_config(tmp_path, env={})


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "[vk]\ngroup_id = 1\ntoken = vk1.a.unquoted\n")
    assert "ошибка синтаксиса TOML" in message
    assert "line 3" in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes("[vk]\n# комментарий\n".encode("cp1251"))
    with pytest.raises(ConfigError, match="не в кодировке UTF-8"):
        load_config(path, env={})


def test_unknown_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    message = only_problem(tmp_path, MINIMAL + "grop_id = 5\n")
    assert message.startswith("vk.grop_id: неизвестный ключ")
    assert "token, group_id, api_url, request_timeout" in message


def test_unknown_section_and_misplaced_key(tmp_path: Path) -> None:
    found = problems(tmp_path, "timezone = 'Europe/Moscow'\n" + MINIMAL + "[remind]\nx = 1\n")
    assert any(
        "'remind'" in p and "vk, max, storage, bot, department, campaign, reminders" in p
        for p in found
    )
    assert any("'timezone'" in p and "пишется в разделе [bot]" in p for p in found)


def test_missing_vk_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, "[bot]\n")
    assert found == [
        "vk: не указано; ожидается таблица [vk] с token и group_id",
    ]
    found = problems(tmp_path, "[vk]\napi_url = 'https://api.vk.ru/method/'\n")
    assert any(p.startswith("vk.token: не указан") and TOKEN_ENV in p for p in found)
    assert any(p.startswith("vk.group_id: не указано") for p in found)


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "bot = 5\n" + MINIMAL)
    assert message.startswith("bot: 5 — не таблица")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("group_id = 0", "vk.group_id: 0 — слишком мало"),
        ("group_id = '12'", "vk.group_id: '12' — не целое число"),
        ("group_id = true", "vk.group_id: true — не целое число"),
        ("api_url = 'ftp://vk'", "vk.api_url: 'ftp://vk' — не адрес http(s)"),
        ("api_url = 'api.vk.ru'", "vk.api_url: 'api.vk.ru' — не адрес http(s)"),
        ("request_timeout = -1", "vk.request_timeout: -1 — слишком мало"),
    ],
)
def test_bad_vk_values(tmp_path: Path, line: str, expected: str) -> None:
    text = f'[vk]\ntoken = "{TOKEN}"\ngroup_id = 5\n{line}\n'
    text = text.replace("group_id = 5\ngroup_id", "group_id")
    message = only_problem(tmp_path, text)
    assert message.startswith(expected)
    assert "ожидается" in message


def test_bad_peer_id_message(tmp_path: Path) -> None:
    message = only_problem(tmp_path, MINIMAL + "[bot]\nadmin_chats = [2000000001, 12345]\n")
    assert message == (
        "bot.admin_chats[1]: 12345 — не peer id беседы; "
        "ожидается 2000000000 + номер беседы, например 2000000001"
    )


def test_bad_user_ids(tmp_path: Path) -> None:
    found = problems(
        tmp_path, MINIMAL + "[bot]\nadmins = [1, -2, 2000000005, 'x']\ncontroller = 0\n"
    )
    assert found[0].startswith("bot.admins[1]: -2 — не id пользователя ВКонтакте")
    assert found[1].startswith("bot.admins[2]: 2000000005 — peer id беседы, а не пользователя")
    assert found[2].startswith("bot.admins[3]: 'x' — не целое число")
    assert found[3].startswith("bot.controller: 0 — не id пользователя ВКонтакте")
    assert len(found) == 4


def test_chat_in_both_lists(tmp_path: Path) -> None:
    message = only_problem(
        tmp_path, MINIMAL + "[bot]\nadmin_chats = [2000000001]\nheads_chats = [2000000001]\n"
    )
    assert message.startswith("bot: 2000000001 есть и в admin_chats, и в heads_chats")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Europe", "../etc/passwd", "MSK+3"])
def test_bad_timezone(tmp_path: Path, zone: str) -> None:
    message = only_problem(tmp_path, MINIMAL + f'[bot]\ntimezone = "{zone}"\n')
    assert message.startswith("bot.timezone: ")
    assert "неизвестный часовой пояс" in message
    assert "Europe/Moscow" in message


@pytest.mark.parametrize("bad", ["5x", "0s", "0d0h", "-1h", "h", "1h1d", "1.5h", "99999d", ""])
def test_bad_durations(tmp_path: Path, bad: str) -> None:
    found = problems(
        tmp_path, MINIMAL + f'[reminders]\nbefore = ["3d", "{bad}"]\nescalate_every = "{bad}"\n'
    )
    assert len(found) == 2, found
    assert found[0].startswith("reminders.before[1]: ")
    assert found[1].startswith("reminders.escalate_every: ")


def test_duration_that_is_not_a_string(tmp_path: Path) -> None:
    message = only_problem(tmp_path, MINIMAL + "[reminders]\nbefore = [3600]\n")
    assert message.startswith("reminders.before[0]: 3600 — не длительность")
    assert "в кавычках" in message


def test_before_may_be_empty(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "[reminders]\nbefore = []\n"), env={})
    assert config.reminders.before == ()


@pytest.mark.parametrize("bad", ["21:00", "21:00-8", "25:00-08:00", "21-08", "8:00-8:00", "x"])
def test_bad_quiet_hours(tmp_path: Path, bad: str) -> None:
    message = only_problem(tmp_path, MINIMAL + f'[reminders]\nquiet_hours = "{bad}"\n')
    assert message.startswith("reminders.quiet_hours: ")
    assert '"21:00-08:00"' in message


def test_quiet_hours_not_a_string(tmp_path: Path) -> None:
    message = only_problem(tmp_path, MINIMAL + "[reminders]\nquiet_hours = 21\n")
    assert message.startswith("reminders.quiet_hours: 21 — не промежуток времени")


@pytest.mark.parametrize("off", ["off", "", "OFF"])
def test_quiet_hours_can_be_off(tmp_path: Path, off: str) -> None:
    config = load_config(write(tmp_path, MINIMAL + f'[reminders]\nquiet_hours = "{off}"\n'), {})
    assert config.reminders.quiet_hours is None


def test_quiet_hours_wrapping_midnight() -> None:
    night = QuietHours(start=dt.time(21, 0), end=dt.time(8, 0))
    assert night.contains(dt.time(21, 0))
    assert night.contains(dt.time(23, 59))
    assert night.contains(dt.time(0, 0))
    assert night.contains(dt.time(7, 59))
    assert not night.contains(dt.time(8, 0))
    assert not night.contains(dt.time(12, 0))
    lunch = QuietHours(start=dt.time(13, 0), end=dt.time(14, 0))
    assert lunch.contains(dt.time(13, 30))
    assert not lunch.contains(dt.time(14, 0))
    assert not lunch.contains(dt.time(1, 0))
    assert str(night) == "21:00-08:00"


@pytest.mark.parametrize("bad", ["24:00", "9", "09:60", "9.00"])
def test_bad_daily_summary(tmp_path: Path, bad: str) -> None:
    message = only_problem(tmp_path, MINIMAL + f'[reminders]\ndaily_summary = "{bad}"\n')
    assert message.startswith("reminders.daily_summary: ")
    assert '"ЧЧ:ММ"' in message


def test_daily_summary_as_toml_time(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "[reminders]\ndaily_summary = 10:30:00\n"), {})
    assert config.reminders.daily_summary == dt.time(10, 30)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = """
[vk]
group_id = -1
[bot]
timezone = "Nowhere/Land"
heads_chats = [1]
[reminders]
before = ["soon"]
daily_summary = "noon"
"""
    found = problems(tmp_path, text)
    keys = [p.split(":", 1)[0] for p in found]
    assert keys == [
        "vk.token",
        "vk.group_id",
        "bot.timezone",
        "bot.heads_chats[0]",
        "reminders.before[0]",
        "reminders.daily_summary",
    ]


def test_env_token_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    config = load_config(path, env={TOKEN_ENV: "vk1.a.FromTheEnvironment"})
    assert config.vk.token.get_secret_value() == "vk1.a.FromTheEnvironment"


def test_env_token_may_replace_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[vk]\ngroup_id = 7\n")
    config = load_config(path, env={TOKEN_ENV: " vk1.a.FromTheEnvironment\n"})
    assert config.vk.token.get_secret_value() == "vk1.a.FromTheEnvironment"
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        load_config(path, env={TOKEN_ENV: "  "})


def test_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "vk1.a.FromTheProcess")
    config = load_config(write(tmp_path, MINIMAL))
    assert config.vk.token.get_secret_value() == "vk1.a.FromTheProcess"


def test_empty_token_in_file(tmp_path: Path) -> None:
    message = only_problem(tmp_path, '[vk]\ntoken = " "\ngroup_id = 5\n')
    assert message.startswith("vk.token: ключ пуст")


def _all_text(error: ConfigError) -> str:
    chain = "".join(traceback.format_exception(error))
    return "\n".join([str(error), repr(error), *error.problems, chain])


def test_token_never_appears_in_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The token sits in the file, is pasted in a wrong key too, and another one is in the env.
    text = f"""
[vk]
token = "{TOKEN}"
group_id = "{TOKEN}"
api_url = "{TOKEN}"
tokne = "{TOKEN}"
[bot]
timezone = "{TOKEN}"
admins = ["{TOKEN}"]
[reminders]
before = ["{TOKEN}"]
quiet_hours = "{TOKEN}"
"""
    env_token = "vk1.a.EnvironmentSecret_abcdefghijklmnop"
    caplog.set_level(logging.DEBUG)
    for env in ({}, {TOKEN_ENV: env_token}):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, text), env=env)
        error = caught.value
        assert len(error.problems) >= 7
        assert error.__cause__ is None
        assert error.__context__ is None
        everything = _all_text(error) + caplog.text
        assert TOKEN not in everything
        assert TOKEN[:20] not in everything
        assert env_token not in everything


def test_bad_token_type_does_not_echo(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "[vk]\ntoken = 12345678901\ngroup_id = 5\n")
    assert message.startswith("vk.token: значение — не строка в кавычках")
    assert "12345678901" not in message


def test_repr_and_dump_hide_the_token(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert TOKEN not in repr(config.vk)
    assert TOKEN not in config.model_dump_json()
    assert TOKEN not in "\n".join(describe(config))


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    with pytest.raises(ValidationError):
        config.vk.group_id = 5  # type: ignore[misc]


def test_config_built_in_code() -> None:
    config = Config(
        vk=VkConfig(token=SecretStr("t"), group_id=1, api_url="http://127.0.0.1:9000/method"),
        bot=BotConfig(admins=(5,), admin_chats=(2000000001,)),
        reminders=RemindersConfig(before=("1h", dt.timedelta(days=1)), quiet_hours="off"),
    )
    assert config.vk.api_url == "http://127.0.0.1:9000/method/"
    assert config.reminders.before == (dt.timedelta(days=1), dt.timedelta(hours=1))
    assert config.reminders.quiet_hours is None
    assert config.storage.path == Path("confirmbot.db")


def test_describe_mentions_what_check_config_shows(tmp_path: Path) -> None:
    text = MINIMAL + "[bot]\nadmin_chats = [2000000003]\nheads_chats = [2000000004]\n"
    lines = describe(load_config(write(tmp_path, text), env={}))
    joined = "\n".join(lines)
    assert "123456" in joined
    assert "2000000003 (беседа 3)" in joined
    assert "2000000004 (беседа 4)" in joined
    assert "order_47.toml" in joined
    assert "3d, 1d, 3h" in joined
    assert "ключ доступа: задан (не показывается)" in joined


def test_department_defaults_and_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert config.department == DepartmentConfig()
    assert (config.department.name, config.department.short_name) == (
        "Управления образования",
        "Управления",
    )
    assert config.department.phone is None
    text = MINIMAL + (
        "[department]\n"
        'name = "  Комитета  по образованию "\n'
        'short_name = "Комитета"\n'
        'phone = "+7 (87231) 5-12-34"\n'
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.department == DepartmentConfig(
        name="Комитета по образованию", short_name="Комитета", phone="+7 (87231) 5-12-34"
    )
    joined = "\n".join(describe(config))
    assert "«бот Комитета по образованию»" in joined
    assert "«беседа Комитета»" in joined
    assert "+7 (87231) 5-12-34" in joined


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('name = "Управление образования"', "department.name: 'Управление образования' похоже "
         "на именительный падеж"),
        ('name = "Отдел образования"', "department.name: 'Отдел образования' похоже на"),
        ('short_name = "Управление"', "department.short_name: 'Управление' похоже на"),
        ('name = "   "', "department.name: пусто"),
        ("name = 5", "department.name: 5 — не строка в кавычках"),
        ('short_name = "Управления образования Хасавюртовского района"',
         "department.short_name: значение — слишком длинное"),
        ('phone = "позвоните Ахмеду"', "department.phone: 'позвоните Ахмеду' — не номер"),
        ('phone = "12"', "department.phone: '12' — не номер телефона"),
        ('room = "12"', "department.room: неизвестный ключ; здесь допускаются: name, short_name, "
         "phone"),
    ],
)  # fmt: skip
def test_department_mistakes(tmp_path: Path, line: str, expected: str) -> None:
    message = only_problem(tmp_path, MINIMAL + "[department]\n" + line + "\n")
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    "name",
    ["Управления образования", "Отдела образования", "МКУ «Управление образования»",
     "Комитета по образованию", "Департамента образования"],
)  # fmt: skip
def test_department_names_in_the_genitive_are_taken(name: str) -> None:
    assert DepartmentConfig(name=name).name == name


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3d", 259200), ("24h", 86400), ("30m", 1800), ("45s", 45), ("1d12h", 129600),
     ("1D 2H", 93600), ("1h30m15s", 5415)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: int) -> None:
    value = parse_duration(text)
    assert value.total_seconds() == seconds
    assert parse_duration(format_duration(value)) == value


def test_parse_clock_time() -> None:
    assert parse_clock_time(" 9:05 ") == dt.time(9, 5)
    with pytest.raises(ValueError, match="ЧЧ:ММ"):
        parse_clock_time("9:5")


def test_the_working_days_calendar_reads_a_regions_file(tmp_path: Path) -> None:
    (tmp_path / "region.toml").write_text(
        '[years.2025]\ndays_off = ["2025-03-31"]\nworking_days = [2025-05-03]\n', encoding="utf-8"
    )
    text = MINIMAL + (
        '[reminders.calendar]\nweekends = ["вс"]\nfile = "region.toml"\n'
        'days_off = ["2025-06-06"]\n'
    )
    calendar = load_config(write(tmp_path, text), env={}).reminders.calendar
    days = calendar.work_calendar
    assert not days.is_working(dt.date(2025, 3, 31))  # from the file
    assert not days.is_working(dt.date(2025, 6, 6))  # from the config
    assert days.is_working(dt.date(2025, 5, 3))  # a working Saturday by the file
    assert days.is_working(dt.date(2025, 5, 17))  # Saturdays work here: only Sunday is off
    assert not days.is_working(dt.date(2025, 5, 18))
    joined = "\n".join(describe(load_config(write(tmp_path, text), env={})))
    assert "рабочие дни: выходные — вс; праздники России: да" in joined


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('weekends = ["суббота"]', "reminders.calendar.weekends[0]: 'суббота' — не день недели"),
        ('days_off = ["31.03.2025"]', "reminders.calendar.days_off[0]"),
        ('file = "nowhere.toml"', "файл календаря"),
        ('days_off = ["2025-03-31"]\nworking_days = ["2025-03-31"]', "и выходной, и рабочий"),
        ('file = "bad.toml"', "'31 марта' — не дата"),
    ],
)
def test_calendar_mistakes(tmp_path: Path, table: str, expected: str) -> None:
    (tmp_path / "bad.toml").write_text('days_off = ["31 марта"]\n', encoding="utf-8")
    message = only_problem(tmp_path, MINIMAL + "[reminders.calendar]\n" + table + "\n")
    assert expected in message, message


MAX_TOKEN_ENV_NAME = "CONFIRMBOT_MAX_TOKEN"


def _example_with_max() -> str:
    """The example with its commented [max] section opened (the lines start with "# ")."""
    lines = []
    inside = False
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line == "# [max]":
            inside = True
        elif inside and not line.startswith("#"):
            inside = False
        if inside and line.startswith("# ") and not line.startswith("# # "):
            line = line[2:]
        elif inside and line.startswith("# # ") and "=" in line and not line[4].isupper():
            line = line[4:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_max_is_optional_beside_vk(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL), env={}).max is None
    text = MINIMAL + '[max]\napi_url = "http://127.0.0.1:9/"\nadmins = [5]\nheads_chats = [-7]\n'
    config = load_config(write(tmp_path, text), env={MAX_TOKEN_ENV_NAME: "max-secret-1"})
    assert config.max is not None
    assert config.max.token.get_secret_value() == "max-secret-1"
    assert config.max.api_url == "http://127.0.0.1:9"
    assert config.max.heads_chats == (-7,)
    assert config.max.webhook_url is None
    assert any("длинным опросом" in line for line in describe(config))


def test_max_needs_its_token_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[max]\n")
    with pytest.raises(ConfigError, match=r"max\.token: не указан.*CONFIRMBOT_MAX_TOKEN"):
        load_config(path, env={})
    assert load_config(path, env={}, need_token=False).max is not None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("heads_chats = [2000000001]", "max.heads_chats[0]"),
        ('webhook_url = "http://bot.example.ru/max"', "только на адреса https"),
        ('webhook_secret = "no spaces allowed"', "от 5 до 256 символов"),
        ('webhook_listen = "8090"', "адрес:порт"),
        ("rate = 31", "max.rate"),
    ],
)
def test_bad_max_values_are_named_in_russian(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL + f"[max]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={MAX_TOKEN_ENV_NAME: "max-secret-2"})
    assert expected in str(caught.value)
    assert "max-secret-2" not in str(caught.value)
    assert "no spaces allowed" not in str(caught.value)


def test_the_examples_max_section_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_example_with_max(), encoding="utf-8")
    config = load_config(path, env={MAX_TOKEN_ENV_NAME: "max-secret-3"}, need_token=False)
    assert config.max is not None
    assert config.max.admins == (333333333,)
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in MaxConfig.model_fields:
        assert f"{key} =" in text or key == "token", key
    assert MAX_TOKEN_ENV_NAME in text
