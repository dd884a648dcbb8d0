"""Reminders, summaries and escalations over HTTP to the emulator, driven by a fake clock."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import Campaign
from bot.notify import ReminderReport
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, Sandbox, start_sandbox
from bot.schedule import Slot
from bot.vk_emulator import Call, Faults, VKEmulator
from tests.conftest import ADMIN, CONTROLLER, deputy_of, district, head_of

# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()

MSK = ZoneInfo("Europe/Moscow")
ALL_DONE = [
    "3.1 выполнено",
    "3.2 педагоги 10/10 ученики 100/100",
    "3.3 выполнено",
    "3.4 выполнено",
    "3.5 выполнено",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2023, 10, 17, 10, 0, tzinfo=MSK))


async def open_box(tmp_path: Path, clock: FakeClock, campaign: Campaign) -> Sandbox:
    schools, people = district()
    return await start_sandbox(
        tmp_path,
        schools=schools,
        people=people,
        admins=[ADMIN],
        clock=clock,
        campaign=campaign,
        controller=CONTROLLER,
    )


@pytest.fixture
async def box(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    sandbox = await open_box(tmp_path, clock, campaign)
    try:
        yield sandbox
    finally:
        await sandbox.close()


async def tick(box: Sandbox) -> list[Slot]:
    """One scheduler tick, and the sender done with what it wrote."""
    slots = await box.app.scheduler.tick()
    await box.settle()
    return slots


async def remind(box: Sandbox, slot_key: str | None = None) -> ReminderReport:
    async with box.app.db.transaction():
        report = await box.app.notifier.remind(slot_key)
    await box.settle()
    return report


async def finish_school(box: Sandbox, n: int) -> None:
    for i, text in enumerate(ALL_DONE, start=1):
        box.say(head_of(n), text)
        await box.emulator.wait_for_message(head_of(n), contains="Принято", count=i)


def reminders_to(box: Sandbox, peer: int) -> list[str]:
    return [m.text for m in box.emulator.messages_to(peer) if "⏰ Напоминание" in m.text]


def owed_lines(reminder: str) -> list[str]:
    """The items a reminder says are not yet done, a line each."""
    return [line for line in reminder.splitlines() if line.startswith("• ")]


async def test_reminder_slot_fires_once_and_skips_finished_schools(
    box: Sandbox, clock: FakeClock
) -> None:
    await finish_school(box, 1)
    await tick(box)  # the 17th's summary at 09:00 is due, no reminder yet
    assert reminders_to(box, head_of(2)) == []
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    fired = await tick(box)
    assert "reminder:3d" in [s.key for s in fired]
    for n in (2, 3):
        for person in (head_of(n), deputy_of(n)):
            assert len(reminders_to(box, person)) == 1
    reminder = reminders_to(box, head_of(2))[0]
    assert "• 3.1 Структура классов и бесед — нет ответа" in reminder
    assert reminders_to(box, head_of(1)) == []
    assert reminders_to(box, deputy_of(1)) == []
    assert await tick(box) == []
    clock.advance(600)
    assert await tick(box) == []
    assert len(reminders_to(box, head_of(2))) == 1


async def test_reminder_lists_exactly_what_is_owed(box: Sandbox, clock: FakeClock) -> None:
    box.say(head_of(2), "3.1 выполнено")
    box.say(head_of(2), "3.4 проблема нет интернета")
    await box.emulator.wait_for_message(head_of(2), contains="Принято", count=2)
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    await tick(box)
    reminder = reminders_to(box, head_of(2))[0]
    owed = owed_lines(reminder)
    assert "3.1" not in owed
    # Where each item stands: this school told of its problem, not that it has not answered.
    assert "• 3.4 Сферум и VK Мессенджер в школе — проблема" in owed
    assert "• 3.2 Педагоги и дети в Сферуме — нет ответа" in owed
    message = next(m for m in box.emulator.messages_to(head_of(2)) if "⏰" in m.text)
    assert message.labels == [texts.BUTTON_REPORT]
    box.emulator.press(head_of(2), message, texts.BUTTON_REPORT)
    await box.emulator.wait_for(lambda: "МКОУ «СОШ №2»" in message.text)
    assert any(label.startswith("3.2") for label in message.labels)


async def test_unreachable_people_are_mentioned_in_one_chat_message(
    box: Sandbox, clock: FakeClock
) -> None:
    box.emulator.set_allows_messages(head_of(2), False)
    box.emulator.set_allows_messages(deputy_of(3), False)
    clock.set(dt.datetime(2023, 10, 20, 21, 0, tzinfo=MSK))
    fired = await tick(box)
    assert "reminder:3h" in [s.key for s in fired]
    in_chat = reminders_to(box, HEADS_CHAT)
    assert len(in_chat) == 1
    assert f"[id{head_of(2)}|Директор 2]" in in_chat[0]
    assert f"[id{deputy_of(3)}|Завуч 3]" in in_chat[0]
    assert f"[id{head_of(1)}|" not in in_chat[0]
    assert len(reminders_to(box, head_of(1))) == 1
    assert await box.app.repos.conversations.is_unreachable(head_of(2))


def refused_with_7(emu: VKEmulator) -> list[Call]:
    """The sends VK refused with error 7, for the call or for a peer of its `peer_ids`."""
    return [
        c
        for c in emu.calls_to("messages.send")
        if c.error_code == 7
        or any(
            isinstance(i, dict) and "error" in i and i["error"]["code"] == 7
            for i in c.response or []
        )
    ]


@pytest.mark.parametrize("refusal", ["privacy", "blacklist"])
async def test_privacy_settings_and_a_blacklist_are_mentioned_in_chat_like_901(
    box: Sandbox, clock: FakeClock, refusal: str
) -> None:
    if refusal == "privacy":
        box.emulator.set_privacy_closed(head_of(2))
    else:
        box.emulator.set_blacklisted(head_of(2))
    clock.set(dt.datetime(2023, 10, 20, 21, 0, tzinfo=MSK))
    await tick(box)
    in_chat = reminders_to(box, HEADS_CHAT)
    assert len(in_chat) == 1
    assert f"[id{head_of(2)}|Директор 2]" in in_chat[0]
    assert reminders_to(box, head_of(2)) == []
    assert len(reminders_to(box, head_of(3))) == 1
    assert await box.app.repos.conversations.is_unreachable(head_of(2))


async def test_a_chat_the_community_was_kicked_from_holds_up_nothing_meant_for_others(
    box: Sandbox, clock: FakeClock
) -> None:
    emu = box.emulator
    emu.remove_community(ADMIN_CHAT)
    clock.set(dt.datetime(2023, 10, 18, 9, 0, tzinfo=MSK))
    fired = {s.kind.value for s in await tick(box)}
    assert {"reminder", "summary"} <= fired
    for n in (1, 2, 3):
        assert len(reminders_to(box, head_of(n))) == 1
    kicked = refused_with_7(emu)
    assert len(kicked) == 1  # the summary: VK said 7 once, and the chat is remembered lost
    assert emu.messages_to(ADMIN_CHAT) == []
    assert await box.app.scheduler.tick() == []  # the slots are done, not tried every 30 s

    clock.set(dt.datetime(2023, 10, 23, 8, 0, tzinfo=MSK))  # Monday: escalations skip Sunday
    fired = {s.kind.value for s in await tick(box)}
    assert {"final", "escalation"} <= fired
    assert any("Не выполнили все пункты в срок" in m.text for m in emu.messages_to(CONTROLLER))
    assert emu.messages_to(ADMIN_CHAT) == []
    # Messages to the lost chat are skipped without asking VK again.
    assert refused_with_7(emu) == kicked

    # Added back: the bot hears it and writes there again.
    emu.return_community(ADMIN_CHAT)
    emu.push_message_new(
        from_id=ADMIN,
        peer_id=ADMIN_CHAT,
        text="",
        action={"type": "chat_invite_user", "member_id": -box.config.vk.group_id},
    )
    await emu.wait_for_message(ADMIN_CHAT)


async def test_quiet_hours_hold_a_reminder_until_morning(box: Sandbox, clock: FakeClock) -> None:
    clock.set(dt.datetime(2023, 10, 17, 23, 59, tzinfo=MSK))  # 3 days before: quiet
    await tick(box)
    assert reminders_to(box, head_of(1)) == []
    clock.set(dt.datetime(2023, 10, 18, 7, 59, tzinfo=MSK))
    await tick(box)
    assert reminders_to(box, head_of(1)) == []
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    await tick(box)
    assert len(reminders_to(box, head_of(1))) == 1


async def test_after_downtime_only_the_latest_reminder_goes(
    box: Sandbox, clock: FakeClock
) -> None:
    clock.set(dt.datetime(2023, 10, 20, 12, 0, tzinfo=MSK))
    fired = await tick(box)
    assert [s.key for s in fired if s.key.startswith("reminder")] == ["reminder:1d"]
    reminder = reminders_to(box, head_of(1))
    assert len(reminder) == 1
    assert "до срока 11 часов 59 минут (20.10.2023 23:59)" in reminder[0]


async def test_restart_mid_campaign_sends_nothing_twice(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = await open_box(tmp_path, clock, campaign)  # the first start, 17.10 10:00
    try:
        assert await tick(first) == []  # the 17th's 09:00 summary was before it
    finally:
        await first.close()
    # Down overnight; back at 09:30 on the 18th: what fell due while it was down goes once.
    clock.set(dt.datetime(2023, 10, 18, 9, 30, tzinfo=MSK))
    second = await open_box(tmp_path, clock, campaign)
    try:
        fired = {s.key for s in await tick(second)}
    finally:
        await second.close()
    assert fired == {"reminder:3d", "summary:2023-10-18"}
    third = await open_box(tmp_path, clock, campaign)
    try:
        assert await tick(third) == []
        assert third.emulator.sent == []
    finally:
        await third.close()


async def test_first_start_sends_nothing_that_was_due_before_it(
    box: Sandbox, clock: FakeClock
) -> None:
    """Started at 10:00 on the 17th, three days before the deadline: the 09:00 summary of
    that day and nothing else was due, and the bot had not run then; it waits for the next."""
    assert await tick(box) == []
    assert box.emulator.messages_to(ADMIN_CHAT) == []
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    assert [s.key for s in await tick(box)] == ["reminder:3d"]
    clock.set(dt.datetime(2023, 10, 18, 9, 0, tzinfo=MSK))
    assert [s.key for s in await tick(box)] == ["summary:2023-10-18"]


async def test_a_first_start_after_the_deadline_sends_no_final_and_no_escalation(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order that ended before the bot first ran it (the built-in order 47 started today):
    nobody was asked through the bot, so there is nothing to sum up or escalate."""
    monkeypatch.chdir(tmp_path)
    clock.set(campaign.deadline + dt.timedelta(days=400))
    late = await open_box(tmp_path, clock, campaign)
    try:
        assert await tick(late) == []
        clock.advance(5 * 86400)
        assert await tick(late) == []
        assert late.emulator.sent == []
        late.say(ADMIN, "расписание")
        schedule = await late.emulator.wait_for_message(ADMIN, contains="Расписание")
        assert "эскалац" not in schedule.text.lower()
    finally:
        await late.close()


async def test_an_announcement_after_a_missed_slot_does_not_send_it_late(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run once on the 16th, stopped, then announced on the 18th at 10:00 (with the bot down
    over the 18th's 08:00 reminder and 09:00 summary): the announcement is the start of the
    campaign for the heads, and they get no «reminder» that was due before it."""
    monkeypatch.chdir(tmp_path)
    clock.set(dt.datetime(2023, 10, 16, 12, 0, tzinfo=MSK))
    first = await open_box(tmp_path, clock, campaign)
    await first.close()
    clock.set(dt.datetime(2023, 10, 18, 10, 0, tzinfo=MSK))
    second = await open_box(tmp_path, clock, campaign)
    try:
        second.say(ADMIN, "объявить")
        await second.emulator.wait_for_message(HEADS_CHAT, contains="Приказ №")
        await second.settle()
        assert await tick(second) == []
        clock.set(dt.datetime(2023, 10, 19, 9, 0, tzinfo=MSK))
        assert [s.key for s in await tick(second)] == ["summary:2023-10-19"]
    finally:
        await second.close()


async def test_a_slot_taken_while_vk_is_down_is_sent_once_when_it_is_back(
    box: Sandbox, clock: FakeClock
) -> None:
    outbox = box.app.outbox.repo
    box.emulator.set_faults(Faults(error_rate={"execute": 1.0}, error_codes=(10,)))
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    fired = await box.app.scheduler.tick()
    # The slot is taken and its messages wait in the outbox, written in the same transaction.
    assert "reminder:3d" in [s.key for s in fired]
    assert (await outbox.counts()).pending > 0
    assert reminders_to(box, head_of(1)) == []
    assert await box.app.scheduler.tick() == []
    box.emulator.set_faults(None)
    await box.settle(within=60)
    for person in (head_of(1), deputy_of(1)):
        assert len(reminders_to(box, person)) == 1


async def test_a_slot_written_twice_is_sent_once(box: Sandbox, clock: FakeClock) -> None:
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    await remind(box, "reminder:3d")
    sends_before = len(box.emulator.sent)
    # Keys derive from the slot: writing it again (a crash before the slot's commit, a
    # second process) adds nothing to the outbox.
    await remind(box, "reminder:3d")
    assert len(box.emulator.sent) == sends_before
    assert len(reminders_to(box, head_of(1))) == 1


async def test_summaries_numbers_equal_the_database(box: Sandbox, clock: FakeClock) -> None:
    await finish_school(box, 1)
    box.say(head_of(2), "3.2 педагоги 5/10 ученики 50/100")
    await box.emulator.wait_for_message(head_of(2), contains="Принято")
    clock.set(dt.datetime(2023, 10, 18, 9, 0, tzinfo=MSK))
    await tick(box)
    summary = next(m.text for m in box.emulator.messages_to(ADMIN_CHAT) if "Ежедневная" in m.text)
    db = box.app.db
    finished = await db.fetchval(
        "SELECT COUNT(*) FROM (SELECT school_id FROM current_answers WHERE state = 'done' "
        "GROUP BY school_id HAVING COUNT(*) = 5)"
    )
    schools = await db.fetchval("SELECT COUNT(*) FROM schools")
    assert f"Выполнили все пункты: {finished} из {schools} школ" in summary
    teachers = await db.fetchone(
        "SELECT SUM(n.done), SUM(n.total) FROM current_answers c JOIN answer_counts n "
        "ON n.answer_id = c.answer_id WHERE n.part = 'teachers'"
    )
    assert teachers is not None
    assert f"педагоги: подключено {teachers[0]} из {teachers[1]}" in summary


async def test_final_summary_and_escalation_until_the_last_school_finishes(
    box: Sandbox, clock: FakeClock, campaign: Campaign
) -> None:
    await finish_school(box, 1)
    await finish_school(box, 2)
    clock.set(campaign.deadline)
    fired = {s.kind.value for s in await tick(box)}
    assert "final" in fired
    final = next(m.text for m in box.emulator.messages_to(ADMIN_CHAT) if "Итоговая" in m.text)
    assert "МКОУ «СОШ №3»" in final
    clock.set(dt.datetime(2023, 10, 22, 8, 0, tzinfo=MSK))  # Sunday: the controller rests
    assert await tick(box) == []
    clock.set(dt.datetime(2023, 10, 23, 8, 0, tzinfo=MSK))  # Monday morning
    assert [s.kind.value for s in await tick(box)] == ["escalation"]
    escalation = box.emulator.messages_to(CONTROLLER)
    assert len(escalation) == 1
    assert "Не выполнили все пункты в срок: 1 из 3 школ." in escalation[0].text
    assert f"[id{head_of(3)}|Директор 3]" in escalation[0].text
    box.say(head_of(3), "3.1 выполнено")  # late answers are accepted and marked
    await box.emulator.wait_for_message(head_of(3), contains="опозданием")
    for i, text in enumerate(ALL_DONE[1:], start=2):
        box.say(head_of(3), text)
        await box.emulator.wait_for_message(head_of(3), contains="Принято", count=i)
    clock.set(dt.datetime(2023, 10, 24, 8, 0, tzinfo=MSK))
    await tick(box)
    assert len(box.emulator.messages_to(CONTROLLER)) == 1  # nobody is overdue any more


async def test_escalation_falls_back_to_admin_chat(
    box: Sandbox, clock: FakeClock, campaign: Campaign
) -> None:
    box.emulator.set_allows_messages(CONTROLLER, False)
    clock.set(dt.datetime(2023, 10, 23, 8, 0, tzinfo=MSK))
    await tick(box)
    assert any(
        "Не выполнили все пункты в срок" in m.text for m in box.emulator.messages_to(ADMIN_CHAT)
    )


async def test_admin_reminds_now_pauses_and_reads_the_schedule(
    box: Sandbox, clock: FakeClock
) -> None:
    emu = box.emulator
    await finish_school(box, 1)
    box.say(ADMIN, "напомнить")
    reply = await emu.wait_for_message(ADMIN, contains="Напоминания отправлены")
    assert "Школ-должников: 2, личных сообщений: 4" in reply.text
    assert len(reminders_to(box, head_of(2))) == 1
    assert reminders_to(box, head_of(1)) == []
    box.say(ADMIN, "расписание")
    schedule = await emu.wait_for_message(ADMIN, contains="Расписание")
    assert "18.10.2023 08:00 — напоминание должникам" in schedule.text
    box.say(ADMIN, "пауза")
    await emu.wait_for_message(ADMIN, contains="приостановлены")
    clock.set(dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK))
    assert await tick(box) == []
    box.say(ADMIN, "продолжить")
    await emu.wait_for_message(ADMIN, contains="возобновлены")
    fired = await tick(box)
    assert "reminder:3d" in [s.key for s in fired]
    assert len(reminders_to(box, head_of(2))) == 2  # the manual one and the scheduled one
    box.say(head_of(2), "пауза")
    assert (await emu.wait_for_message(head_of(2), contains="только")).text == texts.admin_only(
        DEPT
    )


async def test_problem_is_forwarded_to_the_admin_chat(box: Sandbox) -> None:
    box.say(head_of(2), "3.4 проблема нет интернета")
    notice = await box.emulator.wait_for_message(ADMIN_CHAT, contains="Проблема")
    assert re.search(r"СОШ №2.*3\.4.*Директор 2.*нет интернета", notice.text, re.S)


async def test_reminders_are_batched_by_what_is_owed(box: Sandbox, clock: FakeClock) -> None:
    box.say(head_of(3), "3.1 выполнено")
    await box.emulator.wait_for_message(head_of(3), contains="Принято")
    sends_before = len(box.emulator.calls_to("messages.send"))
    report = await remind(box)
    calls = box.emulator.calls_to("messages.send")[sends_before:]
    # Schools 1 and 2 owe the same five steps: one request for their four people; school 3
    # owes four: one request for its two.
    assert sorted(len(c.params["peer_ids"].split(",")) for c in calls) == [2, 4]
    assert report.private == 6


async def test_each_summary_says_what_changed_since_the_last_and_статус_shows_the_trend(
    box: Sandbox, clock: FakeClock
) -> None:
    emu = box.emulator

    def summaries() -> list[str]:
        return [m.text for m in emu.messages_to(ADMIN_CHAT) if "Ежедневная" in m.text]

    clock.set(dt.datetime(2023, 10, 18, 9, 0, tzinfo=MSK))
    await tick(box)  # the first summary: nothing to compare with yet
    assert len(summaries()) == 1
    assert "С прошлой сводки" not in summaries()[0]
    clock.set(dt.datetime(2023, 10, 18, 11, 0, tzinfo=MSK))
    await finish_school(box, 1)
    box.say(head_of(2), "3.4 проблема нет интернета")
    await emu.wait_for_message(head_of(2), contains="Принято")
    clock.set(dt.datetime(2023, 10, 19, 9, 0, tzinfo=MSK))
    await tick(box)
    second = summaries()[-1]
    assert "С прошлой сводки (18.10.2023 09:00):" in second
    assert "• выполнили все пункты: 1 школа — МКОУ «СОШ №1»" in second
    assert "• новые проблемы: 1 — МКОУ «СОШ №2», пункт 3.4" in second
    assert "Выполнили все пункты, по сводкам: 18.10 — 0, 19.10 — 1" in second
    clock.set(dt.datetime(2023, 10, 20, 9, 0, tzinfo=MSK))
    await tick(box)
    assert "новых выполнивших все пункты и новых проблем нет" in summaries()[-1]
    box.say(ADMIN, "/статус", peer_id=ADMIN_CHAT)
    status = await emu.wait_for_message(ADMIN_CHAT, contains="📊 Приказ", count=4)
    assert "по сводкам: 18.10 — 0, 19.10 — 1, 20.10 — 1" in status.text
