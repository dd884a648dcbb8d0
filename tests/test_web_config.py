"""[web] in the config (issue 18): what it takes, what it refuses in Russian, what check-config
says of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.config import ConfigError, describe, load_config

ROOT = Path(__file__).resolve().parent.parent
BASE = '[vk]\ntoken = "vk1.a.real"\ngroup_id = 1\n'


def _load(tmp_path: Path, web: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(BASE + web, encoding="utf-8")
    return load_config(path, env={})


def test_the_web_section_is_optional_and_has_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    assert getattr(config, "web", "missing") is None
    config = _load(tmp_path, '[web]\npublic_url = "https://bot.example.ru/"\n')
    web = getattr(config, "web", None)
    assert web is not None
    assert web.public_url == "https://bot.example.ru"
    assert web.address == ("127.0.0.1", 8080)
    assert web.secure
    assert web.session == dt.timedelta(hours=10)
    assert web.refresh == dt.timedelta(seconds=10)


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ('[web]\nlisten = "127.0.0.1:8080"\n', "web.public_url: не указано"),
        ('[web]\npublic_url = "bot.example.ru"\n', "web.public_url: 'bot.example.ru' — не адрес"),
        (
            '[web]\npublic_url = "https://x.ru"\nlisten = "8080"\n',
            "web.listen: '8080' — не адрес",
        ),
        ('[web]\npublic_url = "https://x.ru"\nsession = "ten"\n', "web.session:"),
        ('[web]\npublic_url = "https://x.ru"\nport = 1\n', "web.port: неизвестный ключ"),
    ],
)
def test_a_bad_web_section_is_explained(tmp_path: Path, web: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, web)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_check_config_says_where_the_page_is(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.example.toml", env={"CONFIRMBOT_VK_TOKEN": "vk1.a.x"})
    assert "веб-страница: не включена (нет раздела [web])" in describe(config)
    path = tmp_path / "config.toml"
    path.write_text(BASE + '[web]\npublic_url = "http://10.0.0.5:8080"\n', encoding="utf-8")
    lines = describe(load_config(path, env={}))
    line = next(x for x in lines if x.startswith("веб-страница: http://10.0.0.5:8080"))
    assert "сеанс 10h" in line
    assert "не https" in line
