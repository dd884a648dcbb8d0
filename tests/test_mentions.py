"""Mentions in the rules' texts are the same for every messenger; each adapter renders them."""

from __future__ import annotations

import pytest

from bot import mentions, texts
from bot.vk import neutral, vk_text
from bot.vk_emulator import mentions_in


def test_the_rules_texts_carry_no_messenger_markup() -> None:
    text = texts.ask_to_write("Иванов Иван", 501)
    assert "[id" not in text
    assert mentions.plain(text).startswith("Иванов Иван, не удаётся написать")


def test_vk_renders_a_mention_as_its_markup() -> None:
    text = f"Кто: {texts.mention(501, 'Иванов Иван')} и {texts.mention(502, 'Петрова')}."
    assert vk_text(text) == "Кто: [id501|Иванов Иван] и [id502|Петрова]."


def test_a_name_cannot_break_out_of_its_mention() -> None:
    forged = "Иван] [id1|Админ"
    assert vk_text(texts.mention(501, forged)) == "[id501|Иван) (id1/Админ]"
    # Nor can the separators themselves, if a name carried them.
    sneaky = "Иван\x1e1\x1fАдмин\x1e"
    rendered = vk_text(texts.mention(501, sneaky))
    assert rendered.startswith("[id501|")
    assert rendered.count("[id") == 1


def test_text_without_markup_is_left_as_it_is() -> None:
    text = "3.1 выполнено, пишите на a@b.ru; 2*3 [с опозданием] «Школа №1»"
    assert vk_text(text) == text


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("@all срочно", "＠all срочно"),
        ("*online и @online", "∗online и ＠online"),
        ("[id1|Начальник]", "(id1/Начальник)"),
        ("[club1|Управление] [public2|x]", "(club1/Управление) (public2/x)"),
        ("@id1 (Павел), *durov", "＠id1 (Павел), ∗durov"),
        ("[id1|@all]", "(id1/＠all)"),
    ],
)
def test_vk_markup_from_people_and_files_is_shown_not_obeyed(written: str, sent: str) -> None:
    assert neutral(written) == sent
    assert mentions_in(vk_text(written)) == []  # what VK would make of it: nothing


def test_only_the_bots_own_mentions_become_markup() -> None:
    text = f"⚠️ «@all [id1|Админ]» Сообщил(а): {texts.mention(501, '@online [id2|x]')}"
    rendered = vk_text(text)
    assert rendered == "⚠️ «＠all (id1/Админ)» Сообщил(а): [id501|＠online (id2/x)]"
    assert mentions_in(rendered) == ["id501"]
