"""One person on VK and MAX: a head registered on VK asks for their own link («max»), opens the
bot on MAX with it (max.ru/<bot>?start=CODE -> bot_started.payload), and is the same person
there: one school, one history; each answer is acknowledged on the messenger it came from."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import texts
from bot.clock import FakeClock
from bot.domain import Campaign, StepState
from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.sandbox import MAX_BOT_NAME, Sandbox
from storage.accounts import FIRST_OTHER_PERSON, AccountRepository
from tests.conftest import STRANGER, head_of, start_district

ON_MAX = 955_001  # the head's MAX user id: nothing to do with their VK id
SOMEONE_ELSE = 955_002
LINK = re.compile(rf"https://max\.ru/{MAX_BOT_NAME}\?start=(\w+)")


@pytest.fixture
async def box(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    sandbox = await start_district(tmp_path, clock, campaign, max_people=True)
    try:
        yield sandbox
    finally:
        await sandbox.close()


def max_texts(mx: MaxEmulator, user: int) -> list[str]:
    return [strip_marker(m.text) for m in mx.messages_to_user(user)]


async def max_message(mx: MaxEmulator, user: int, contains: str, count: int = 1) -> str:
    await mx.wait_for(
        lambda: sum(contains in t for t in max_texts(mx, user)) >= count,
        description=f"{contains!r} to MAX user {user}",
    )
    return [t for t in max_texts(mx, user) if contains in t][count - 1]


async def link_code(box: Sandbox, vk_user: int) -> str:
    box.say(vk_user, "Макс")
    message = await box.emulator.wait_for_message(vk_user, contains="max.ru")
    found = LINK.search(message.text)
    assert found is not None, message.text
    return found.group(1)


async def test_a_head_on_vk_links_max_and_stays_one_person(box: Sandbox) -> None:
    app, vk, mx = box.app, box.emulator, box.max_emulator
    assert mx is not None
    assert app.max is not None
    head = head_of(1)  # VK-born: their person id is their VK id
    code = await link_code(box, head)

    mx.start_bot(ON_MAX, payload=code)
    await max_message(mx, ON_MAX, texts.MAX_LINKED)
    await max_message(mx, ON_MAX, "СОШ №1")  # their school's card, on MAX
    assert app.max.accounts.person(ON_MAX) == head
    assert (await AccountRepository(app.db).all("max"))[str(ON_MAX)] == head

    # The card's buttons work on MAX for them, edited in place there.
    [card] = [m for m in mx.messages_to_user(ON_MAX) if "СОШ №1" in m.text]
    mx.press(ON_MAX, card, card.labels[0])
    await mx.wait_for(lambda: "Выберите ответ" in card.text, description="the card is edited")
    assert [m.text for m in vk.messages_to(head) if "Выберите ответ" in m.text] == []

    mx.write(ON_MAX, "3.1 выполнено")
    await max_message(mx, ON_MAX, "Принято")
    box.say(head, "3.4 выполнено")
    await vk.wait_for_message(head, contains="Принято")
    await box.settle()
    # Each receipt on the messenger the answer came from, one each.
    assert sum("Принято" in t for t in max_texts(mx, ON_MAX)) == 1
    assert sum("Принято" in m.text for m in vk.messages_to(head)) == 1
    # One school, one history, one person.
    history = await app.repos.answers.history(app.campaign.id)
    assert [(a.school_id, a.step_id, a.state, a.answered_by) for a in history] == [
        ("s1", "3.1", StepState.DONE, head),
        ("s1", "3.4", StepState.DONE, head),
    ]
    # What the bot writes first (a reminder) goes to MAX now: that is where they moved.
    assert app.outbox.address(head).platform == "max"
    assert app.outbox.address(head_of(2)).platform == "vk"  # not linked


async def test_a_link_code_is_used_once_and_only_by_a_registered_person(box: Sandbox) -> None:
    app, mx = box.app, box.max_emulator
    assert mx is not None
    assert app.max is not None
    code = await link_code(box, head_of(2))
    mx.start_bot(ON_MAX, payload=code)
    await max_message(mx, ON_MAX, texts.MAX_LINKED)

    mx.start_bot(SOMEONE_ELSE, payload=code)  # the same code again, from another account
    await max_message(mx, SOMEONE_ELSE, "Такого кода нет")
    other = app.max.accounts.person(SOMEONE_ELSE)
    assert other is not None
    assert other >= FIRST_OTHER_PERSON  # a person of its own, not the head

    box.say(STRANGER, "max")
    await box.emulator.wait_for_message(STRANGER, contains=texts.MAX_LINK_UNREGISTERED[:40])
    assert await AccountRepository(app.db).link_codes_taken() == {code}


async def test_a_link_code_typed_on_max_links_too(box: Sandbox) -> None:
    app, mx = box.app, box.max_emulator
    assert mx is not None
    assert app.max is not None
    code = await link_code(box, head_of(3))
    mx.write(ON_MAX, f"регистрация {code.lower()}")  # as people type it
    await max_message(mx, ON_MAX, texts.MAX_LINKED)
    assert app.max.accounts.person(ON_MAX) == head_of(3)


async def test_a_max_account_of_a_school_is_not_merged_and_is_told_why(box: Sandbox) -> None:
    app, mx = box.app, box.max_emulator
    assert mx is not None
    assert app.max is not None
    # In the sandbox every head is also on MAX as a person of their own, of the same school.
    on_max_already = head_of(1)
    separate = app.max.accounts.person(on_max_already)
    code = await link_code(box, head_of(2))
    mx.start_bot(on_max_already, payload=code)
    refused = await max_message(mx, on_max_already, "Ссылка не сработала")
    assert refused == texts.max_link_refused(app.flow.settings.department)
    assert app.max.accounts.person(on_max_already) == separate
    # The code is still the head's to use.
    mx.start_bot(ON_MAX, payload=code)
    await max_message(mx, ON_MAX, texts.MAX_LINKED)
