"""The core story on both messengers, one test body each: the same rules, storage and outbox
behind VK's adapter and MAX's, each over HTTP to its emulator (tests/drivers.py)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from bot import texts
from bot.chart import WIDTH
from bot.clock import FakeClock
from bot.domain import Campaign, Role, StepState
from bot.onboarding import refresh
from bot.sandbox import HEADS_CHAT
from tests.conftest import ADMIN, deputy_of, head_of, start_district
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
    box = await start_district(tmp_path, clock, campaign, max_people=request.param == "max")
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


async def read_chats(driver: Driver) -> None:
    """What the bot does at start: read who is in its chats."""
    app = driver.box.app
    await refresh(
        app.flow.ctx.messenger,
        app.flow.settings.chats,
        app.flow.onboarding.registrations,
        app.clock.now(),
    )


async def test_step_3_3_is_verified_from_the_heads_chat_members(driver: Driver) -> None:
    app = driver.box.app
    await read_chats(driver)  # the bot is the chats' admin
    members = app.flow.settings.chats.repo
    deputy = driver.person(deputy_of(1))
    assert deputy in await members.members_in([driver.heads_chat])
    driver.say(ADMIN, "статус s1")
    status = await driver.message_to(ADMIN, "СОШ №1")
    assert "3.3: подтверждено ботом" in status.text

    driver.leave_chat(driver.heads_chat, deputy_of(1), by=ADMIN)
    await driver.handled()
    assert deputy not in await members.members_in([driver.heads_chat])
    driver.say(ADMIN, "статус s1")
    status = await driver.message_to(ADMIN, "СОШ №1", count=2)
    assert "не видит в беседе руководителей: Завуч 1" in status.text

    driver.join_chat(driver.heads_chat, deputy_of(1), by=ADMIN)
    await driver.handled()
    assert deputy in await members.members_in([driver.heads_chat])
    driver.say(ADMIN, "статус s1")
    status = await driver.message_to(ADMIN, "СОШ №1", count=3)
    assert "3.3: подтверждено ботом" in status.text


async def test_the_report_comes_as_a_workbook_in_the_chat(driver: Driver) -> None:
    driver.say(head_of(1), "3.1 выполнено")
    await driver.message_to(head_of(1), "Принято")
    driver.say_in_chat(ADMIN, driver.admin_chat, "/отчет")
    filename, data = await driver.file_in_chat(driver.admin_chat, "file")
    assert filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        assert book.sheetnames == ["Сводка", "Должники", "История"]
        history = list(book["История"].iter_rows(values_only=True))
        assert any("s1" in row for row in history)  # the answer just given is in it
    finally:
        book.close()


async def test_status_with_a_picture(driver: Driver) -> None:
    driver.say(head_of(1), "3.2 педагоги 45/50 ученики 380/412")
    await driver.message_to(head_of(1), "Принято")
    driver.say_in_chat(ADMIN, driver.admin_chat, "/статус картинка")
    await driver.message_in_chat(driver.admin_chat, "📊 Приказ № 47")
    _, data = await driver.file_in_chat(driver.admin_chat, "image")
    image = Image.open(io.BytesIO(data))
    image.load()  # a truncated or corrupt picture fails here
    assert image.format == "PNG"
    assert image.width == WIDTH


async def test_step_3_3_is_only_the_heads_word_where_the_bot_is_no_admin(
    driver: Driver,
) -> None:
    # On both messengers only an admin sees the members; here the bot is none in any heads
    # chat (on MAX the deployment also has VK's, as in bot/sandbox.py).
    driver.bot_is_admin(driver.heads_chat, False)
    if driver.heads_chat != HEADS_CHAT:
        driver.box.emulator.set_bot_is_admin(HEADS_CHAT, False)
    await read_chats(driver)
    assert not await driver.box.app.flow.settings.chats.repo.readable([driver.heads_chat])
    driver.say(ADMIN, "статус s2")
    status = await driver.message_to(ADMIN, "СОШ №2")
    assert "только со слов руководителя" in status.text
