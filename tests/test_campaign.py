"""Campaign files: the packaged order No. 47, another order, and mistakes in them."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest

from bot.campaign import (
    CampaignError,
    default_campaign_path,
    describe_campaign,
    load_campaign,
)
from bot.config import ConfigError
from bot.domain import Campaign, StepKind
from bot.russian import typeset

DATA = Path(__file__).resolve().parent / "data"
SEED_ORDER = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_6d928e2ee68c1676.txt"

HEADER = """
[campaign]
id = "test"
title = "Тестовый приказ"
number = "1"
date = 2024-01-10
issuer = "Управление"
deadline = 2024-01-20T23:59:00
timezone = "Europe/Moscow"
"""
STEP = """
[[steps]]
id = "1"
title = "сделать"
short_title = "Сделать"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(CampaignError) as caught:
        load_campaign(write(tmp_path, text))
    return list(caught.value.problems)


def only_problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def test_default_campaign_is_order_47() -> None:
    campaign = load_campaign(default_campaign_path())

    assert campaign.id == "order_47"
    assert campaign.number == "47"
    assert campaign.date == dt.date(2023, 10, 16)
    assert campaign.title == "О переходе на ИКОП «Сферум» и VK Мессенджер"
    assert campaign.issuer == "МКУ «Управление образования» МО «Хасавюртовский район»"
    assert campaign.timezone == "Europe/Moscow"
    moscow = zoneinfo.ZoneInfo("Europe/Moscow")
    assert campaign.deadline == dt.datetime(2023, 10, 20, 23, 59, tzinfo=moscow)
    assert campaign.deadline.utcoffset() == dt.timedelta(hours=3)
    # Item 2 for the administration's own staff, item 3 for school heads (issue 14).
    assert [s.id for s in campaign.staff_steps] == ["2.1", "2.2", "2.3", "2.4"]
    assert all(s.kind is StepKind.CONFIRM for s in campaign.staff_steps)
    campaign = campaign.for_heads()
    assert [s.id for s in campaign.steps] == ["3.1", "3.2", "3.3", "3.4", "3.5"]
    assert {s.audience for s in campaign.steps} == {"heads"}
    assert [s.short_title for s in campaign.steps] == [
        "Структура классов и бесед",
        "Педагоги и дети в Сферуме",
        "Руководители в беседах Управления",
        "Сферум и VK Мессенджер в школе",
        "Отказ от иностранных мессенджеров",
    ]
    assert [s.kind for s in campaign.steps] == [
        StepKind.CONFIRM,
        StepKind.COUNT,
        StepKind.CONFIRM,
        StepKind.CONFIRM,
        StepKind.CONFIRM,
    ]


def as_the_bot_spells_it(order: str) -> str:
    """The order's words with the two changes bot/TEXTS.md makes to a quote of it: the
    messenger's one spelling, and the no-break space before «%» (set when the file is read)."""
    return typeset(order.replace("ВКМессенджер", "VK Мессенджер"))


def test_default_campaign_steps_are_the_order_verbatim() -> None:
    campaign = load_campaign(default_campaign_path())
    if SEED_ORDER.is_file():
        order = as_the_bot_spells_it(SEED_ORDER.read_text(encoding="utf-8"))
        assert f"\n{campaign.title}\n" in order
        for step in campaign.steps:
            assert re.search(rf"- {re.escape(step.id)} {re.escape(step.title)}[;.]?\n", order)
    heads = campaign.for_heads().steps
    step_31 = heads[0].title
    assert step_31.startswith("сформировать структуру классов (групп, отделов) и бесед (чатов)")
    assert heads[1].title == (
        "обеспечить подключение 100\u00a0% педагогических работников и детей к Сферуму"
    )
    assert heads[4].title.endswith("Viber, WhatsApp, WeChat)")
    assert campaign.steps[0].title == "пройти регистрацию в Сферум (создать профиль для работы)"


def test_default_campaign_count_parts() -> None:
    step = load_campaign(default_campaign_path()).step("3.2")
    assert step is not None
    teachers, pupils = step.parts
    assert (teachers.key, teachers.title) == ("teachers", "педагоги")
    assert (pupils.key, pupils.title) == ("pupils", "ученики")
    assert {"учителя", "педагогов", "teachers"} <= set(teachers.names())
    assert {"обучающиеся", "дети", "учеников", "pupils"} <= set(pupils.names())
    assert not set(teachers.names()) & set(pupils.names())


def test_another_order_loads_with_no_code_change() -> None:
    campaign = load_campaign(DATA / "order_112.toml")

    assert isinstance(campaign, Campaign)
    assert campaign.id == "order_112"
    assert campaign.number == "112"
    assert campaign.date == dt.date(2024, 1, 15)
    assert campaign.timezone == "Asia/Yekaterinburg"
    assert campaign.deadline == dt.datetime(2024, 2, 1, 13, 0, tzinfo=dt.UTC)
    assert campaign.deadline.utcoffset() == dt.timedelta(hours=5)
    assert [s.id for s in campaign.steps] == ["2.1", "2.2", "2.3"]
    assert campaign.steps[0].kind is StepKind.CONFIRM
    (computers,) = campaign.steps[1].parts
    assert computers.key == "computers"
    assert "пк" in computers.names()


def test_offset_deadline_is_shown_in_the_campaign_zone(tmp_path: Path) -> None:
    text = HEADER.replace("2024-01-20T23:59:00", "2024-01-20T20:59:00Z") + STEP
    campaign = load_campaign(write(tmp_path, text))
    assert campaign.deadline.isoformat() == "2024-01-20T23:59:00+03:00"


@pytest.mark.parametrize(
    "deadline", ['"2024-01-20T23:59:00"', '"2024-01-20 23:59"', '"20.01.2024 23:59"']
)
def test_deadline_as_a_string(tmp_path: Path, deadline: str) -> None:
    text = HEADER.replace("2024-01-20T23:59:00", deadline) + STEP
    campaign = load_campaign(write(tmp_path, text))
    assert campaign.deadline.isoformat() == "2024-01-20T23:59:00+03:00"


def test_timezone_defaults_to_moscow(tmp_path: Path) -> None:
    text = HEADER.replace('timezone = "Europe/Moscow"\n', "") + STEP
    assert load_campaign(write(tmp_path, text)).timezone == "Europe/Moscow"


def test_describe_campaign() -> None:
    lines = describe_campaign(load_campaign(default_campaign_path()))
    joined = "\n".join(lines)
    assert "приказ № 47 от 16.10.2023" in joined
    assert "20.10.2023 23:59 Europe/Moscow" in joined
    assert "пункт 3.2 [count: teachers, pupils]" in joined


def test_campaign_error_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="не найден"):
        load_campaign(tmp_path / "missing.toml")


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = only_problem(tmp_path, HEADER + "[[steps]\n")
    assert "ошибка синтаксиса TOML" in message
    assert "line 10" in message


def test_missing_everything(tmp_path: Path) -> None:
    found = problems(tmp_path, "")
    assert found[0].startswith("campaign: не указано; ожидается таблица [campaign]")
    assert found[1].startswith("steps: не указано; ожидается одна или несколько таблиц [[steps]]")


def test_missing_header_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, "[campaign]\nid = 'x'\n" + STEP)
    keys = [p.split(":", 1)[0] for p in found]
    assert keys == ["campaign.title", "campaign.number", "campaign.date", "campaign.deadline"]
    assert all("не указано; ожидается" in p for p in found)


def test_unknown_keys(tmp_path: Path) -> None:
    text = HEADER + "titel = 'x'\n" + STEP + "descr = 'y'\n[extra]\n"
    found = problems(tmp_path, text)
    assert any(
        p.startswith("campaign.titel: неизвестный ключ; здесь допускаются: id, title")
        for p in found
    )
    assert any(
        p.startswith(
            "steps[0] (1).descr: неизвестный ключ; здесь допускаются: id, title, short_title"
        )
        for p in found
    )
    assert any("'extra'" in p and "campaign, steps" in p for p in found)


@pytest.mark.parametrize(
    ("key", "value", "start"),
    [
        ("id", '"Order 47"', "campaign.id: 'Order 47' — не того вида"),
        ("number", '""', "campaign.number: '' — слишком короткое"),
        ("date", '"16/10/2023"', "campaign.date: '16/10/2023' — не дата"),
        ("date", "2023-10-16T10:00:00", "campaign.date: 2023-10-16T10:00:00 — со временем"),
        ("deadline", "2024-01-20", "campaign.deadline: 2024-01-20 — без времени суток"),
        ("deadline", '"2024-01-20"', "campaign.deadline: '2024-01-20' — без времени суток"),
        ("deadline", '"soon"', "campaign.deadline: 'soon' — не дата и время"),
        ("timezone", '"Moscow"', "campaign.timezone: 'Moscow' — неизвестный часовой пояс"),
    ],
)
def test_bad_header_values(tmp_path: Path, key: str, value: str, start: str) -> None:
    lines = [
        f"{key} = {value}" if line.startswith(f"{key} =") else line for line in HEADER.splitlines()
    ]
    message = only_problem(tmp_path, "\n".join(lines) + "\n" + STEP)
    assert message.startswith(start)
    assert "ожидается" in message


def test_deadline_before_the_order(tmp_path: Path) -> None:
    text = HEADER.replace("2024-01-20T23:59:00", "2024-01-01T12:00:00") + STEP
    message = only_problem(tmp_path, text)
    assert message.startswith("campaign.deadline: 2024-01-01 раньше даты приказа")


def test_deadline_in_a_clock_gap(tmp_path: Path) -> None:
    text = (
        HEADER.replace("2024-01-20T23:59:00", "2024-03-31T02:30:00").replace(
            "Europe/Moscow", "Europe/Berlin"
        )
        + STEP
    )
    message = only_problem(tmp_path, text)
    assert "не бывает в поясе Europe/Berlin" in message


def test_no_steps(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "steps = []\n" + HEADER)
    assert message.startswith("steps: пусто; ожидается одна или несколько таблиц [[steps]]")
    message = only_problem(tmp_path, HEADER)
    assert message.startswith("steps: не указано; ожидается одна или несколько таблиц [[steps]]")


@pytest.mark.parametrize(
    ("short_title", "word"),
    [
        ("Сферум и VK Мессенджер в работе", "в работе"),
        ("Компьютеры готовы", "готовы"),
        ("Ответственный: выполнено", "выполнено"),
        ("Проблема с интернетом", "Проблема"),
        ("Сделано: структура чатов", "Сделано"),
    ],
)
def test_a_short_title_that_says_a_state_is_refused(
    tmp_path: Path, short_title: str, word: str
) -> None:
    """The card reads «3.4 <short_title> — в работе»: a title that says a state contradicts it."""
    text = HEADER + STEP.replace('short_title = "Сделать"', f'short_title = "{short_title}"')
    message = only_problem(tmp_path, text)
    expected = f"steps[0] (1).short_title: {short_title!r} называет состояние ({word!r})"
    assert message.startswith(expected)
    assert "ожидается, что это за пункт" in message


@pytest.mark.parametrize(
    "short_title",
    ["Готовность компьютеров", "Проблемные классы", "Выполнение плана", "Работа в Сферуме"],
)
def test_a_short_title_naming_the_item_is_taken(tmp_path: Path, short_title: str) -> None:
    text = HEADER + STEP.replace('short_title = "Сделать"', f'short_title = "{short_title}"')
    assert load_campaign(write(tmp_path, text)).steps[0].short_title == short_title


def test_step_problems_name_the_step(tmp_path: Path) -> None:
    text = (
        HEADER
        + """
[[steps]]
id = 3.1
title = "первый"
short_title = "Первый"

[[steps]]
id = "3.2"
title = ""
short_title = "Очень длинное короткое название шага, которое не влезет на кнопку никак"
kind = "numbers"
"""
    )
    found = problems(tmp_path, text)
    assert found[0].startswith("steps[0].id: 3.1 — не строка в кавычках; ожидается")
    assert '"3.1"' in found[0]
    assert found[1].startswith("steps[1] (3.2).title: '' — слишком короткое")
    assert found[2].startswith("steps[1] (3.2).short_title: значение — слишком длинное")
    assert "не больше 60 символов" in found[2]
    assert found[3].startswith("steps[1] (3.2).kind: 'numbers' — не из допустимых значений")
    assert '"confirm" или "count"' in found[3]
    assert len(found) == 4


def test_count_step_without_parts(tmp_path: Path) -> None:
    message = only_problem(tmp_path, HEADER + STEP + 'kind = "count"\n')
    assert message.startswith("steps[0] (1): ")
    assert "должна быть хотя бы одна часть" in message


def test_confirm_step_with_parts(tmp_path: Path) -> None:
    text = HEADER + STEP + '[[steps.parts]]\nkey = "a"\ntitle = "А"\n'
    assert "не бывает частей" in only_problem(tmp_path, text)


def test_bad_part(tmp_path: Path) -> None:
    text = HEADER + STEP + 'kind = "count"\n[[steps.parts]]\nkey = "Teachers"\ntitle = "x"\n'
    message = only_problem(tmp_path, text)
    assert message.startswith("steps[0] (1).parts[0].key: 'Teachers' — не того вида")
    assert '"teachers"' in message


def test_repeated_step_ids(tmp_path: Path) -> None:
    message = only_problem(tmp_path, HEADER + STEP + STEP)
    assert message.startswith("steps[1] (1): id '1' повторяет steps[0]")


def test_part_names_must_not_collide(tmp_path: Path) -> None:
    text = (
        HEADER
        + STEP
        + """kind = "count"
[[steps.parts]]
key = "teachers"
title = "педагоги"
aliases = ["учителя"]
[[steps.parts]]
key = "pupils"
title = "ученики"
aliases = ["Учителя", " "]
"""
    )
    found = problems(tmp_path, text)
    assert any(p.startswith("steps[0] (1).parts[1].aliases[1]: пусто") for p in found)
    assert any(
        p.startswith("steps[0] (1).parts[1]: название 'учителя' есть и у части") for p in found
    )


def test_non_utf8_campaign(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_bytes(HEADER.encode("cp1251"))
    with pytest.raises(CampaignError, match="не в кодировке UTF-8"):
        load_campaign(path)


def test_error_text_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(CampaignError) as caught:
        load_campaign(write(tmp_path, "[campaign]\n"))
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'campaign.toml'}: ")
    assert all(problem in text for problem in caught.value.problems)
    assert "Traceback" not in text
