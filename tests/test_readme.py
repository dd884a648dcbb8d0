"""The README against the code, the quick part: its links stay inside the repository, the
commands it shows exist, and what it quotes is what the code says. The whole walk, from a clean
clone through `make demo`, is scripts/walk_readme.sh."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.config import ConfigError, load_config
from scripts.walk_readme import readme_commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_links_point_into_the_repository() -> None:
    assert "../" not in README  # the product brief once sat at ../shared/PRODUCT.md
    links = [link for link in re.findall(r"\]\(([^)#\s]+)", README) if "://" not in link]
    assert links
    for link in links:
        assert (ROOT / link).exists(), link
    for path in re.findall(r"`((?:docs|deploy|bot|tests)/[\w./-]+\.\w+)`", README):
        assert (ROOT / path).exists(), path


def test_every_command_the_readme_shows_parses() -> None:
    commands = readme_commands(README)
    assert "check-config --config /etc/confirmbot/config.toml" in commands
    for command in commands:
        args = command.split()
        if args[0] in ("run", "announce", "report", "check-config") and len(args) == 1:
            continue  # named in prose, not a command line
        _parser().parse_args(args)


def test_what_the_readme_quotes_for_the_placeholder_is_what_check_config_says() -> None:
    quoted = re.search(r"проверка не проходит: `([^`]+)`", README)
    assert quoted is not None
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "config.example.toml", env={"CONFIRMBOT_VK_TOKEN": "vk1.a.REPLACE_ME"})
    assert caught.value.problems[0].startswith(quoted.group(1))


def test_the_readme_no_longer_refuses_short_addresses() -> None:
    assert "не принимаются" not in README
    assert "are refused: give" not in README
    assert "https://vk.com/ivanov" in README
