"""End to end: the real vkbottle Bot, over HTTP, against the VK API emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

import pytest

from bot import texts
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import AnswerSource, Campaign, Person, Role, School, Step, StepState
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, Sandbox
from bot.vk_emulator import VKEmulator
from storage.db import Database
from storage.repositories import CampaignRepository
from tests.conftest import ADMIN, STRANGER, deputy_of, head_of

# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()


async def history(box: Sandbox) -> list[tuple[str, str, StepState, int]]:
    answers = await box.app.repos.answers.history(box.app.campaign.id)
    return [(a.school_id, a.step_id, a.state, a.answered_by) for a in answers]


async def handled(emu: VKEmulator) -> None:
    """Wait until the bot has handled every update pushed so far (it polls for the next)."""
    target = emu.ts

    def done() -> bool:
        return bool(emu.poll_requests) and int(emu.poll_requests[-1].get("ts", 0)) >= target

    await emu.wait_for(done, description=f"the bot handled the updates before ts {target}")


async def test_head_confirms_a_step_with_buttons(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "Здравствуйте")
    card = await emu.wait_for_message(head, contains="СОШ №1")
    assert "3.1" in card.text
    assert "▫️" in card.text  # nothing answered yet
    emu.press(head, card, card.labels[0])  # "3.1 Структура ..."
    await emu.wait_for(lambda: "Выберите ответ" in card.text and card.edited)
    emu.press(head, card, "Выполнено")
    await emu.wait_for(lambda: "✅ 3.1" in card.text)
    assert await history(sandbox) == [("s1", "3.1", StepState.DONE, head)]
    answer = (await sandbox.app.repos.answers.history(sandbox.app.campaign.id))[0]
    assert answer.source is AnswerSource.BUTTON
    snacks = [c.params for c in emu.calls_to("messages.sendMessageEventAnswer")]
    assert any("Принято" in p.get("event_data", "") for p in snacks)


async def test_head_confirms_by_text_and_changes_the_answer(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(2)
    sandbox.say(head, "3.1 в работе")
    await emu.wait_for_message(head, contains="Принято")
    sandbox.say(head, "/3.1 выполнено")
    receipt = await emu.wait_for_message(head, contains="Принято", count=2)
    assert "Осталось" in receipt.text
    assert await history(sandbox) == [
        ("s2", "3.1", StepState.IN_PROGRESS, head),
        ("s2", "3.1", StepState.DONE, head),
    ]
    current = await sandbox.app.repos.answers.current_for_school(sandbox.app.campaign.id, "s2")
    assert current["3.1"].state is StepState.DONE


async def test_count_step_valid_and_impossible_numbers(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "3.2 педагоги 45/40 ученики 380/412")
    refusal = await emu.wait_for_message(head, contains="не может быть больше")
    assert "45 из 40" in refusal.text
    sandbox.say(head, "3.2 педагоги -1/40 ученики 380/412")
    await emu.wait_for_message(head, contains="отрицательными")
    sandbox.say(head, "3.2 педагоги много")
    # No numbers: the step's prompt, and the bot waits for them.
    campaign, school = sandbox.app.campaign, School(id="s1", name="МКОУ «СОШ №1»")
    prompt = texts.step_prompt(campaign, school, campaign.steps[1])
    await emu.wait_for(lambda: any(m.text == prompt for m in emu.messages_to(head)))
    assert await history(sandbox) == []
    sandbox.say(head, "3.2 педагоги 45 из 50 ученики 380/412")
    await emu.wait_for_message(head, contains="Принято")
    answers = await sandbox.app.repos.answers.history(sandbox.app.campaign.id)
    assert answers[-1].state is StepState.IN_PROGRESS
    assert answers[-1].counts_text() == "teachers=45/50;pupils=380/412"


async def test_count_step_through_its_button_takes_numbers(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(3)
    sandbox.say(head, "карточка")
    card = await emu.wait_for_message(head, contains="СОШ №3")
    emu.press(head, card, next(label for label in card.labels if label.startswith("3.2")))
    await emu.wait_for(lambda: "сколько подключено" in card.text)
    sandbox.say(head, "50/50 412/412")
    await emu.wait_for_message(head, contains="Принято")
    current = await sandbox.app.repos.answers.current_for_school(sandbox.app.campaign.id, "s3")
    assert current["3.2"].state is StepState.DONE


async def test_problem_asks_for_a_reason(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "привет")
    card = await emu.wait_for_message(head, contains="СОШ №1")
    emu.press(head, card, next(label for label in card.labels if label.startswith("3.4")))
    await emu.wait_for(lambda: "Выберите ответ" in card.text)
    emu.press(head, card, "Проблема")
    await emu.wait_for_message(head, contains="опишите")
    sandbox.say(head, "нет интернета в кабинетах")
    await emu.wait_for_message(head, contains="Принято")
    answers = await sandbox.app.repos.answers.history(sandbox.app.campaign.id)
    assert [(a.state, a.reason) for a in answers] == [
        (StepState.PROBLEM, ""),
        (StepState.PROBLEM, "нет интернета в кабинетах"),
    ]


async def test_late_answer_is_accepted_and_marked(
    sandbox: Sandbox, clock: FakeClock, campaign: Campaign
) -> None:
    clock.set(campaign.deadline)
    clock.advance(60)
    sandbox.say(head_of(1), "3.5 выполнено")
    receipt = await sandbox.emulator.wait_for_message(head_of(1), contains="Принято")
    assert "опозданием" in receipt.text
    answers = await sandbox.app.repos.answers.history(campaign.id)
    assert answers[0].late


async def test_an_answer_written_before_the_deadline_and_read_after_is_on_time(
    sandbox: Sandbox, clock: FakeClock, campaign: Campaign
) -> None:
    """The bot was stopped across the deadline: VK's `date` says when the head wrote."""
    written = campaign.deadline - dt.timedelta(minutes=10)
    clock.set(campaign.deadline + dt.timedelta(hours=2))
    emu, head = sandbox.emulator, head_of(1)
    emu.push_message_new(
        from_id=head, peer_id=head, text="3.5 выполнено", date=int(written.timestamp())
    )
    receipt = await emu.wait_for_message(head, contains="Принято")
    assert "опоздани" not in receipt.text
    assert texts.LATE_NOTE not in receipt.text
    # A date from the future is not believed: now, and late.
    emu.push_message_new(
        from_id=head,
        peer_id=head,
        text="3.1 выполнено",
        date=int((clock.now() + dt.timedelta(days=1)).timestamp()),
    )
    late = await emu.wait_for_message(head, contains="Принято", count=2)
    assert texts.LATE_NOTE in late.text
    answers = await sandbox.app.repos.answers.history(campaign.id)
    assert [(a.step_id, a.answered_at, a.late) for a in answers] == [
        ("3.5", written, False),
        ("3.1", clock.now(), True),
    ]


async def test_deputy_answers_for_the_school(sandbox: Sandbox) -> None:
    sandbox.say(deputy_of(2), "3.3 выполнено")
    await sandbox.emulator.wait_for_message(deputy_of(2), contains="Принято")
    assert await history(sandbox) == [("s2", "3.3", StepState.DONE, deputy_of(2))]


async def test_stranger_changes_nothing(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.say(STRANGER, "3.1 выполнено")
    reply = await emu.wait_for_message(STRANGER)
    assert reply.text == texts.stranger(DEPT)
    sandbox.say(STRANGER, "статус")
    emu.push_message_new(
        from_id=STRANGER, peer_id=STRANGER, text="", attachments=[{"type": "sticker"}]
    )
    await handled(emu)
    await sandbox.settle()
    # Told once a day, not on every message; and nothing else, ever.
    assert [m.text for m in emu.messages_to(STRANGER)] == [texts.stranger(DEPT)]
    assert await history(sandbox) == []


async def test_crafted_payloads_change_nothing(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    good = {"a": "ans", "c": sandbox.app.campaign.id, "sc": "s1", "s": "3.1", "st": "done"}
    crafted = [
        {**good, "sc": "s2"},  # another school
        {**good, "s": "9.9"},  # unknown step
        {**good, "c": "other-order"},  # wrong campaign
        {**good, "st": "none"},  # not an answer
        {**good, "st": "x" * 300},  # oversized value
        {**good, "extra": 1},  # unknown key
        {"a": "drop_tables"},
    ]
    for payload in crafted:
        emu.push_message_event(
            user_id=head,
            peer_id=head,
            payload=payload,  # type: ignore[arg-type]
            conversation_message_id=1,
        )
    emu.push_message_new(from_id=head, peer_id=head, text="Выполнено")
    emu.push_raw(
        {
            **emu.push_message_new(from_id=head, peer_id=head, text="x"),
            "event_id": "crafted-json",
        }
    )
    await emu.wait_for(
        lambda: len(emu.calls_to("messages.sendMessageEventAnswer")) >= len(crafted),
        description="every crafted press answered",
    )
    assert await history(sandbox) == []
    # A head of another school pressing a real button of school 1 is refused too.
    emu.push_message_event(
        user_id=head_of(2), peer_id=head_of(2), payload=good, conversation_message_id=1
    )
    await emu.wait_for(lambda: len(emu.calls_to("messages.sendMessageEventAnswer")) > len(crafted))
    last = emu.calls_to("messages.sendMessageEventAnswer")[-1].params
    assert "не можете отвечать" in json.loads(last["event_data"])["text"]
    assert await history(sandbox) == []


async def test_invalid_json_text_payload_is_ignored_safely(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    update = emu.push_message_new(from_id=head, peer_id=head, text="Выполнено")
    broken = json.loads(json.dumps(update))
    broken["event_id"] = "broken-payload"
    broken["object"]["message"]["payload"] = '{"a": "ans", "c": '
    emu.push_raw(broken)
    await emu.wait_for(lambda: len(emu.messages_to(head)) >= 2)
    assert await history(sandbox) == []


async def test_replayed_update_counts_once(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    update = sandbox.say(head, "3.1 выполнено")
    await emu.wait_for_message(head, contains="Принято")
    emu.push_raw(update)
    sandbox.say(head, "3.4 выполнено")
    await emu.wait_for_message(head, contains="Принято", count=2)
    assert len(emu.messages_to(head)) == 2
    assert await history(sandbox) == [
        ("s1", "3.1", StepState.DONE, head),
        ("s1", "3.4", StepState.DONE, head),
    ]


async def test_private_refusal_falls_back_to_heads_chat(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(2)
    emu.set_allows_messages(head, False)
    sandbox.say(ADMIN, "объявить", peer_id=ADMIN_CHAT)
    announcement = await emu.wait_for_message(HEADS_CHAT, contains="Приказ №")
    emu.press(head, announcement, texts.BUTTON_REPORT)
    fallback = await emu.wait_for_message(HEADS_CHAT, contains="не удаётся написать")
    assert f"[id{head}|" in fallback.text
    assert "СОШ №2" in fallback.text
    assert await sandbox.app.repos.conversations.is_unreachable(head)
    # Writing to the community lets it answer (VK allows replies to a person who wrote),
    # and the bot stops treating the person as unreachable.
    sandbox.say(head, "3.1 выполнено")
    await emu.wait_for_message(head, contains="Принято")
    assert not await sandbox.app.repos.conversations.is_unreachable(head)


async def test_announcement_and_acknowledgement(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.say(ADMIN, "/объявить", peer_id=ADMIN_CHAT)
    announcement = await emu.wait_for_message(HEADS_CHAT, contains="Приказ №")
    assert "Руководителям общеобразовательных" not in announcement.text  # steps, not item 3
    assert "3.5" in announcement.text
    assert set(announcement.labels) == {texts.BUTTON_REPORT, texts.BUTTON_ACKNOWLEDGE}
    emu.press(head_of(1), announcement, texts.BUTTON_ACKNOWLEDGE)
    emu.press(head_of(1), announcement, texts.BUTTON_REPORT)
    await emu.wait_for_message(head_of(1), contains="СОШ №1")
    acknowledged = await sandbox.app.repos.conversations.acknowledged(sandbox.app.campaign.id)
    assert set(acknowledged) == {head_of(1)}
    sandbox.say(ADMIN, "статус s1")
    status = await emu.wait_for_message(ADMIN, contains="СОШ №1")
    assert "Директор 1, руководитель — ознакомлен(а)" in status.text
    assert "Завуч 1, заместитель — с приказом не ознакомлен(а)" in status.text


async def test_client_without_callbacks_gets_text_buttons(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "привет", callback=False)
    card = await emu.wait_for_message(head, contains="СОШ №1")
    assert {b["action"]["type"] for b in card.buttons} == {"text"}
    emu.press(head, card, card.labels[0], callback_supported=False)
    step = await emu.wait_for_message(head, contains="Выберите ответ")
    emu.press(head, step, "В работе", callback_supported=False)
    await emu.wait_for_message(head, contains="в работе", count=1)
    await emu.wait_for(lambda: len(emu.messages_to(head)) >= 3)
    assert await history(sandbox) == [("s1", "3.1", StepState.IN_PROGRESS, head)]


async def test_admin_commands_and_refusals(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.say(ADMIN, "[club222000111|@confirmbot] статус", peer_id=ADMIN_CHAT)
    status = await emu.wait_for_message(ADMIN_CHAT, contains="Выполнили все пункты")
    assert "0 из 3 школ" in status.text
    sandbox.say(ADMIN, "PENDING")
    pending = await emu.wait_for_message(ADMIN, contains="Не выполнили")
    assert f"[id{head_of(1)}|Директор 1]" in pending.text
    sandbox.say(ADMIN, "/статус", peer_id=HEADS_CHAT)
    pointer = await emu.wait_for_message(HEADS_CHAT)
    assert pointer.text == texts.admin_in_heads_chat(DEPT)
    sandbox.say(head_of(1), "/должники", peer_id=HEADS_CHAT)
    refusal = await emu.wait_for_message(HEADS_CHAT, count=2)
    assert refusal.text == texts.admin_only(DEPT)
    sandbox.say(head_of(1), "должники")
    assert (await emu.wait_for_message(head_of(1))).text == texts.admin_only(DEPT)
    sandbox.say(ADMIN, "помощь")
    assert "должники" in (await emu.wait_for_message(ADMIN, contains="Команды")).text
    sandbox.say(ADMIN, "статус гимназия")
    await emu.wait_for_message(ADMIN, contains="не найдена")
    sandbox.say(ADMIN, "статус СОШ")
    await emu.wait_for_message(ADMIN, contains="несколько школ")


async def test_chat_messages_without_mention_are_not_answered(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.say(STRANGER, "всем привет", peer_id=HEADS_CHAT)
    sandbox.say(head_of(1), "/3.1 выполнено", peer_id=HEADS_CHAT)
    await emu.wait_for_message(HEADS_CHAT, contains="Принято")
    assert len(emu.messages_to(HEADS_CHAT)) == 1


async def test_bot_added_to_chat_introduces_itself(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    emu.push_message_new(
        from_id=ADMIN,
        peer_id=2_000_000_009,
        text="",
        action={"type": "chat_invite_user", "member_id": -sandbox.config.vk.group_id},
    )
    welcome = await emu.wait_for_message(2_000_000_009)
    assert "доступ ко всей переписке" in welcome.text


async def test_simultaneous_answers_leave_one_consistent_state(sandbox: Sandbox) -> None:
    """vkbottle runs every update as its own task: head and deputy answering the same step
    at the same moment, and a double tap, must leave a complete history and a current state
    equal to its last entry."""
    emu = sandbox.emulator
    card_for = {}
    for person in (head_of(1), deputy_of(1)):
        sandbox.say(person, "карточка")
        card_for[person] = await emu.wait_for_message(person, contains="СОШ №1")
        emu.press(person, card_for[person], card_for[person].labels[0])
    await emu.wait_for(lambda: all("Выберите ответ" in c.text for c in card_for.values()))
    rounds = 10
    for i in range(rounds):
        emu.press(head_of(1), card_for[head_of(1)], "Выполнено")
        emu.press(deputy_of(1), card_for[deputy_of(1)], "В работе")
        emu.press(head_of(1), card_for[head_of(1)], "Выполнено")  # a double tap
        sandbox.say(deputy_of(1), "3.1 в работе" if i % 2 else "3.1 выполнено")
    campaign_id = sandbox.app.campaign.id
    answers = sandbox.app.repos.answers

    for _ in range(200):  # up to 10 s for 40 answers
        if len(await answers.history(campaign_id, "s1")) >= rounds * 4:
            break
        await asyncio.sleep(0.05)
    history = await answers.history(campaign_id, "s1")
    assert len(history) == rounds * 4
    current = await answers.current_for_school(campaign_id, "s1")
    assert current["3.1"] == history[-1]


# VK answers 7 ("kicked out of the conversation") as well as 917 when the community is gone.
@pytest.mark.parametrize("code", [917, 7, 983])
async def test_a_chat_the_bot_was_removed_from_is_skipped_until_invited(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    emu = sandbox.emulator
    emu.fail_next("messages.send", code)
    sandbox.say(ADMIN, "/объявить", peer_id=ADMIN_CHAT)
    await emu.wait_for_message(ADMIN_CHAT, contains="разослан")
    await sandbox.settle()
    assert emu.calls_to("messages.send")[0].error_code == code
    lost = f"VK error {code}"
    assert sum(lost in r.getMessage() for r in caplog.records) == 1
    sandbox.say(ADMIN, "/объявить", peer_id=ADMIN_CHAT)
    await emu.wait_for_message(ADMIN_CHAT, contains="разослан", count=2)
    await sandbox.settle()
    assert emu.messages_to(HEADS_CHAT) == []  # skipped, not retried, not logged again
    assert sum(lost in r.getMessage() for r in caplog.records) == 1
    emu.push_message_new(
        from_id=ADMIN,
        peer_id=HEADS_CHAT,
        text="",
        action={"type": "chat_invite_user", "member_id": -sandbox.config.vk.group_id},
    )
    await emu.wait_for_message(HEADS_CHAT, contains="доступ ко всей переписке")


async def test_one_persons_updates_of_one_batch_are_handled_in_order(sandbox: Sandbox) -> None:
    """Pushed together, they reach the bot in one long-poll batch; the later answer wins."""
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "3.1 выполнено")
    sandbox.say(head, "3.1 в работе")
    await emu.wait_for_message(head, contains="Принято", count=2)
    current = await sandbox.app.repos.answers.current_for_school(sandbox.app.campaign.id, "s1")
    assert current["3.1"].state is StepState.IN_PROGRESS
    receipts = [m.text for m in emu.messages_to(head) if "Принято" in m.text]
    assert "выполнено" in receipts[0]
    assert "в работе" in receipts[1]


async def test_a_problem_and_its_reason_in_one_batch_keep_the_reason(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(2)
    sandbox.say(head, "Здравствуйте")
    card = await emu.wait_for_message(head, contains="СОШ №2")
    step = next(label for label in card.labels if label.startswith("3.4"))
    emu.press(head, card, step)
    await emu.wait_for(lambda: "Выберите ответ" in card.text)
    emu.press(head, card, "Проблема")
    sandbox.say(head, "нет интернета в школе")
    await emu.wait_for_message(ADMIN_CHAT, contains="нет интернета в школе")
    current = await sandbox.app.repos.answers.current_for_school(sandbox.app.campaign.id, "s2")
    assert current["3.4"].state is StepState.PROBLEM
    assert current["3.4"].reason == "нет интернета в школе"


async def test_a_reason_with_vk_markup_pings_nobody_and_cannot_sign_for_another(
    sandbox: Sandbox,
) -> None:
    emu, head = sandbox.emulator, head_of(1)
    reason = (
        "@all *online [id1|Начальник] [club1|Управление] @id1 нет интернета\n"
        f"Сообщил(а): [id{ADMIN}|Админ Админов]"
    )
    sandbox.say(head, f"3.4 проблема {reason}")
    notice = await emu.wait_for_message(ADMIN_CHAT, contains="Проблема")
    # VK notifies the reporter it links, and nobody the head's words name.
    assert notice.pings == [f"id{head}"]
    signed = [line for line in notice.text.split("\n") if line.startswith("Кто сообщил:")]
    assert signed == [f"Кто сообщил: [id{head}|Директор 1]"]
    assert notice.text.split("\n")[-1].startswith("Причина: «＠all ∗online (id1/Начальник)")
    assert "нет интернета" in notice.text


async def test_school_and_person_names_from_the_roster_ping_nobody(sandbox: Sandbox) -> None:
    emu, app = sandbox.emulator, sandbox.app
    await app.repos.roster.apply(
        [School(id="s1", name="@all МКОУ [club1|СОШ №1]")],
        [Person(person_id=head_of(1), school_id="s1", full_name="@online Иван", role=Role.HEAD)],
        app.clock.now(),
    )
    sandbox.say(ADMIN, "/должники", peer_id=ADMIN_CHAT)
    debtors = await emu.wait_for_message(ADMIN_CHAT, contains="Не выполнили")
    assert "• ＠all МКОУ (club1/СОШ №1):" in debtors.text
    assert f"[id{head_of(1)}|＠online Иван]" in debtors.text
    assert "all" not in debtors.pings
    assert "online" not in debtors.pings
    assert "club1" not in debtors.pings
    assert f"id{head_of(1)}" in debtors.pings  # the bot does mean to mention the heads
    sandbox.say(ADMIN, "/статус s1", peer_id=ADMIN_CHAT)
    status = await emu.wait_for_message(ADMIN_CHAT, contains="(№ s1)")
    assert status.text.startswith("🏫 ＠all МКОУ (club1/СОШ №1)")
    assert status.pings == []
    assert emu.calls_to("messages.send")[-1].params["disable_mentions"] == "1"


async def test_a_press_naming_its_message_by_cmid_edits_it_in_place(sandbox: Sandbox) -> None:
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "карточка")
    card = await emu.wait_for_message(head, contains="СОШ №1")
    button = card.buttons[0]["action"]
    # 5.199 also names the message `cmid`; vkbottle's model knows only the old name.
    emu.push_raw(
        {
            "type": "message_event",
            "v": "5.199",
            "group_id": sandbox.config.vk.group_id,
            "event_id": "press-with-cmid",
            "object": {
                "user_id": head,
                "peer_id": head,
                "event_id": "cmid-press",
                "payload": json.loads(button["payload"]),
                "cmid": card.conversation_message_id,
            },
        }
    )
    await emu.wait_for(lambda: "Выберите ответ" in card.text and card.edited)
    assert len(emu.messages_to(head)) == 1


async def test_an_entry_of_updates_that_is_not_an_object_is_skipped(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    emu, head = sandbox.emulator, head_of(1)
    for junk in ("garbage", 42, None, ["x"]):
        emu.push_raw(junk)  # type: ignore[arg-type]
    sandbox.say(head, "3.1 выполнено")  # in the same long-poll answer
    await emu.wait_for_message(head, contains="Принято")
    sandbox.say(head, "3.4 выполнено")  # and the bot still polls
    await emu.wait_for_message(head, contains="Принято", count=2)
    skipped = [r.getMessage() for r in caplog.records if "not objects" in r.getMessage()]
    assert skipped == ["skipping 4 entries of the long poll's updates that are not objects"]
    assert await history(sandbox) == [
        ("s1", "3.1", StepState.DONE, head),
        ("s1", "3.4", StepState.DONE, head),
    ]


async def test_a_broken_emoji_is_neither_a_jam_nor_a_crash(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone UTF-16 surrogate (half an emoji from a client): VK escapes it in JSON."""
    emu, head = sandbox.emulator, head_of(1)
    sandbox.say(head, "3.4 проблема нет \ud83d интернета")
    notice = await emu.wait_for_message(ADMIN_CHAT, contains="Проблема")
    assert "нет интернета" in notice.text
    emu.push_message_new(from_id=head, peer_id=head, text="Начать", payload=None)
    first = emu.updates[-1]
    first["object"]["message"]["ref"] = "\udc00CODE"
    unknown = texts.reg_unknown(sandbox.app.flow.settings.department)
    assert (await emu.wait_for_message(head, count=2)).text == unknown
    sandbox.say(head, "3.1 выполнено")
    await emu.wait_for_message(head, contains="Принято", count=2)
    assert await history(sandbox) == [
        ("s1", "3.4", StepState.PROBLEM, head),
        ("s1", "3.1", StepState.DONE, head),
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_order_added_from_the_command_line_reaches_heads_over_the_wire(
    sandbox: Sandbox,
) -> None:
    """Issue 14: `confirmbot campaign add` writes from another process; the running bot's
    next tick sees it, and a head's answer goes to the order that has its step, or is kept
    until the head chooses the order by button."""
    emu, head = sandbox.emulator, head_of(1)
    second = Campaign(
        id="order_48",
        title="О проведении родительских собраний",
        number="48",
        date=dt.date(2023, 10, 17),
        deadline=sandbox.app.campaign.deadline + dt.timedelta(days=2),
        timezone=sandbox.app.campaign.timezone,
        steps=(
            Step(id="1", title="провести собрание", short_title="Собрание"),
            Step(id="3.1", title="разместить протокол", short_title="Протокол"),
        ),
    )
    other = await Database.open(sandbox.app.config.storage.path)  # as the CLI opens it
    try:
        await CampaignRepository(other).save(second, sandbox.app.clock.now())
    finally:
        await other.close()
    await sandbox.app.scheduler.tick()
    sandbox.say(head, "1 выполнено")
    await emu.wait_for_message(head, contains="Принято")
    mine = await sandbox.app.repos.answers.current_for_school("order_48", "s1")
    assert mine["1"].state is StepState.DONE
    sandbox.say(head, "3.1 выполнено")
    asked = await emu.wait_for_message(head, contains="нескольких открытых приказах")
    assert asked.labels == ["Приказ № 47", "Приказ № 48"]
    emu.press(head, asked, "Приказ № 48")
    await emu.wait_for_message(head, contains="Принято", count=2)
    mine = await sandbox.app.repos.answers.current_for_school("order_48", "s1")
    assert mine["3.1"].state is StepState.DONE
    assert await history(sandbox) == []  # order No. 47 got nothing
