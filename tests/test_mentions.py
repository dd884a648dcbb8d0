"""Mentions in the rules' texts are the same for every messenger; each adapter renders them."""

from __future__ import annotations

from bot import mentions, texts
from bot.vk import vk_text


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


def test_text_without_mentions_is_left_as_it_is() -> None:
    assert vk_text("3.1 выполнено [id5|кто-то]") == "3.1 выполнено [id5|кто-то]"
