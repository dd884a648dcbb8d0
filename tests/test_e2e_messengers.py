"""The core story on both messengers, one test body each: the same rules, storage and outbox
behind VK's adapter and MAX's, each over HTTP to its emulator (tests/drivers.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import texts
from bot.clock import FakeClock
from bot.domain import Campaign, Role, StepState
from bot.sandbox import start_sandbox
from tests.conftest import ADMIN, CONTROLLER, district, head_of
from tests.drivers import Driver, MaxDriver, VKDriver

NEWCOMER = 812_345


@pytest.fixture(params=["vk", "max"])
async def driver(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Driver]:
    monkeypatch.chdir(tmp_path)
    schools, people = district()
    box = await start_sandbox(
        tmp_path,
        schools=schools,
        people=people,
        admins=[ADMIN],
        controller=CONTROLLER,
        clock=clock,
        campaign=campaign,
        max_people=request.param == "max",
    )
    try:
        yield VKDriver(box) if request.param == "vk" else MaxDriver(box)
    finally:
        await box.close()


async def history(driver: Driver) -> list[tuple[str, str, StepState, int]]:
    app = driver.box.app
    answers = await app.repos.answers.history(app.campaign.id)
    return [(a.school_id, a.step_id, a.state, a.answered_by) for a in answers]


async def test_a_head_taps_buttons_and_the_card_is_edited(driver: Driver) -> None:
    head = head_of(1)
    driver.say(head, "Здравствуйте")
    card = await driver.message_to(head, "СОШ №1")
    assert "▫️" in card.text  # nothing answered yet
    driver.press(head, card, card.labels[0])  # "3.1 Структура ..."
    await driver.until(lambda: "Выберите ответ" in card.text, "the card asks for the answer")
    driver.press(head, card, "Выполнено")
    await driver.until(lambda: "✅ 3.1" in card.text, "the card shows 3.1 done")
    # One message, edited in place: the card is still the only one with the school's name.
    assert sum("СОШ №1" in t for t in driver.texts_to(head)) == 1
    assert await history(driver) == [("s1", "3.1", StepState.DONE, driver.person(head))]
    assert any("Принято" in answer for answer in driver.answers())


async def test_a_typed_answer_gets_its_receipt(driver: Driver) -> None:
    head = head_of(2)
    driver.say(head, "3.1 в работе")
    await driver.message_to(head, "Принято")
    driver.say(head, "/3.1 выполнено")
    receipt = await driver.message_to(head, "Принято", count=2)
    assert "Осталось" in receipt.text
    person = driver.person(head)
    assert await history(driver) == [
        ("s2", "3.1", StepState.IN_PROGRESS, person),
        ("s2", "3.1", StepState.DONE, person),
    ]


async def test_registration_by_deep_link(driver: Driver) -> None:
    onboarding = driver.box.app.flow.onboarding
    await onboarding.issue_codes(["s1", "s2", "s3"], driver.box.app.clock.now())
    code = {c.school.id: c.code for c in await onboarding.registrations.codes()}["s2"]
    driver.start(NEWCOMER, code)
    ask = await driver.message_to(NEWCOMER, "Код подошёл")
    assert "СОШ №2" in ask.text
    driver.press(NEWCOMER, ask, texts.BUTTON_ROLE[Role.DEPUTY])
    await driver.message_to(NEWCOMER, "вы записаны как заместитель")
    await driver.message_to(NEWCOMER, "🏫 МКОУ «СОШ №2»")
    driver.say(NEWCOMER, "3.1 выполнено")
    await driver.message_to(NEWCOMER, "Принято")
    # One school, one history: the newcomer answered for s2 under their own person id.
    assert await history(driver) == [("s2", "3.1", StepState.DONE, driver.person(NEWCOMER))]


async def test_a_reminder_reaches_a_head_who_owes(
    driver: Driver, clock: FakeClock, campaign: Campaign
) -> None:
    head = head_of(3)
    driver.say(head, "3.1 выполнено")  # the head has written: the bot may write back
    await driver.message_to(head, "Принято")
    clock.set(campaign.deadline - dt.timedelta(hours=23))  # the 1-day reminder is due
    await driver.box.app.scheduler.tick()
    await driver.box.settle()
    reminder = await driver.message_to(head, "⏰ Напоминание")
    assert "3.2" in reminder.text
    assert "• 3.1" not in reminder.text
    assert reminder.labels == [texts.BUTTON_REPORT]


async def test_a_chat_the_bot_joins_is_greeted_bound_and_gets_the_announcement(
    driver: Driver,
) -> None:
    chat = driver.new_chat([ADMIN, head_of(1), head_of(2)], added_by=ADMIN)
    welcome = await driver.message_in_chat(chat, "доступ ко всей переписке")
    assert welcome.text
    driver.say_in_chat(ADMIN, chat, "/привязать руководители")
    await driver.message_in_chat(chat, "Беседа привязана")
    assert chat in await driver.box.app.flow.settings.chats.heads_chats()
    driver.say(ADMIN, "объявить")
    announcement = await driver.message_in_chat(chat, "Приказ")
    assert texts.BUTTON_REPORT in announcement.labels
