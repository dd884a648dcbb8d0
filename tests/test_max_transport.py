"""MaxTransport over loopback HTTP to the MAX emulator: each outbox message as MAX calls, each
refusal mapped to the message's Result, and no second message where MAX has no random_id."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot import payloads, texts
from bot.actions import FileKind
from bot.clock import FakeClock
from bot.domain import Person, Role, School
from bot.keyboards import Button as KeyButton
from bot.keyboards import Color, Keyboard
from bot.max import (
    MaxDirectory,
    MaxMessenger,
    MaxTransport,
    chat_event,
    event_id,
    incoming,
    key_marker,
    max_address,
    poll,
    strip_marker,
    update_author,
    webhook_handler,
    webhook_update,
)
from bot.max_api import MaxClient, MaxConfig, Update
from bot.max_emulator import Faults, MaxEmulator
from bot.mentions import mention
from bot.messages import Address, AddressKind, Outcome, Outgoing, OutKind, Result, buttons_of
from bot.outbox import Outbox, Sender, UploadFailed
from bot.payloads import OpenCardPayload
from storage.db import Database
from storage.outbox import OutboxRepository
from storage.repositories import ConversationRepository, RosterRepository

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
TOKEN = "max-transport-token"
HEAD = 501_001
DEPUTY = 501_002
STRANGER = 501_003
CHAT = -70_000_000_001
HEADS_CHAT = -70_000_000_002
CARD = KeyButton("Отчитаться", OpenCardPayload(c="c1"), Color.PRIMARY)
BUTTONS = buttons_of(Keyboard(((CARD,),)))
CARD_PAYLOAD = payloads.encode(CARD.payload)


def person(user_id: int) -> Address:
    return Address(platform="max", kind=AddressKind.PERSON, id=user_id)


def chat(chat_id: int) -> Address:
    return Address(platform="max", kind=AddressKind.CHAT, id=chat_id)


def send(key: str, *to: Address, text: str = "текст", **more: Any) -> Outgoing:
    return Outgoing.model_validate({"key": key, "to": to, "text": text, **more})


def texts_to(emulator: MaxEmulator, user_id: int) -> list[str]:
    return [strip_marker(m.text) for m in emulator.messages_to_user(user_id)]


def texts_in(emulator: MaxEmulator, chat_id: int) -> list[str]:
    return [strip_marker(m.text) for m in emulator.messages_in_chat(chat_id)]


@pytest.fixture
async def emulator() -> AsyncIterator[MaxEmulator]:
    async with MaxEmulator(TOKEN) as emu:
        emu.add_chat(CHAT, [HEAD, DEPUTY])
        emu.add_chat(HEADS_CHAT, [HEAD, DEPUTY])
        emu.start_bot(HEAD)
        emu.start_bot(DEPUTY)
        yield emu


@pytest.fixture
async def client(emulator: MaxEmulator) -> AsyncIterator[MaxClient]:
    async with aiohttp.ClientSession() as session:
        yield MaxClient(TOKEN, emulator.api_url, session=session, timeout=5)


@pytest.fixture
async def directory(emulator: MaxEmulator) -> MaxDirectory:
    """What the bot learnt from the updates so far (here: the dialogs HEAD and DEPUTY started)."""
    known = MaxDirectory()
    await learn_updates(emulator, known)
    return known


@pytest.fixture
def transport(client: MaxClient, directory: MaxDirectory, emulator: MaxEmulator) -> MaxTransport:
    return MaxTransport(client, directory, bot_id=emulator.bot_id)


async def learn_updates(emulator: MaxEmulator, directory: MaxDirectory) -> None:
    """What the bot's update loop does: read the updates, remember dialogs and mids."""
    for update in emulator.updates:
        incoming(Update.model_validate(update), directory, bot_id=emulator.bot_id)


# ---------------------------------------------------------------------------- new messages


async def test_a_batch_goes_side_by_side_with_a_keyboard_and_a_hidden_key(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    batch = [
        send("card", person(HEAD), text="Карточка", buttons=BUTTONS),
        send("hello", person(DEPUTY), text="Привет"),
        send("all", chat(CHAT), text="Всем", buttons=BUTTONS, callback=False),
    ]

    assert await transport.send_batch(batch) == [Result(Outcome.SENT)] * 3

    card = emulator.messages_to_user(HEAD)[0]
    assert strip_marker(card.text) == "Карточка"
    assert card.text.endswith(key_marker("card"))
    assert card.attachments == [
        {
            "type": "inline_keyboard",
            "payload": {
                "buttons": [[{"type": "callback", "text": "Отчитаться", "payload": CARD_PAYLOAD}]]
            },
        }
    ]
    assert card.format is None
    assert texts_to(emulator, DEPUTY) == ["Привет"]
    # MAX has no text buttons with a payload: callback buttons for everyone.
    assert emulator.messages_in_chat(CHAT)[0].buttons[0]["type"] == "callback"
    assert len(emulator.calls_to("POST", "/messages")) == 3


async def test_a_person_who_never_started_the_bot_goes_the_not_allowed_way(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    emulator.add_user(STRANGER)
    emulator.stop_bot(DEPUTY)
    results = await transport.send_batch(
        [
            send("never", person(STRANGER), fallback=(chat(HEADS_CHAT),)),
            send("stopped", person(DEPUTY)),
            send("both", person(STRANGER), person(HEAD)),
        ]
    )

    assert [(r.outcome, r.refused) for r in results] == [
        (Outcome.SENT, (STRANGER,)),
        (Outcome.SENT, (DEPUTY,)),
        (Outcome.SENT, (STRANGER,)),
    ]
    assert texts_to(emulator, HEAD) == ["текст"]
    assert emulator.sent[0].user_id == HEAD


async def test_a_chat_the_bot_left_is_lost_and_a_bad_body_fails(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    emulator.remove_bot(CHAT, by=HEAD)
    results = await transport.send_batch(
        [
            send("gone", chat(CHAT)),
            send("unknown", chat(-12345)),
            send("both", chat(CHAT), chat(HEADS_CHAT)),
            send("long", chat(HEADS_CHAT), text="я" * 4001),
        ]
    )

    assert results[0] == Result(Outcome.SKIPPED, lost=(CHAT,), error="chat lost")
    assert results[1] == Result(Outcome.SKIPPED, lost=(-12345,), error="chat lost")
    assert (results[2].outcome, results[2].lost) == (Outcome.SENT, (CHAT,))
    assert results[3].outcome is Outcome.FAILED
    assert "proto.payload" in results[3].error
    assert texts_in(emulator, HEADS_CHAT) == ["текст"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "too.many.requests"), (503, "service.unavailable"), (400, "attachment.not.ready")],
)
async def test_a_passing_refusal_is_retried_later(
    emulator: MaxEmulator, transport: MaxTransport, status: int, code: str
) -> None:
    emulator.fail_next("/messages", status, code)
    [result] = await transport.send_batch([send("once", chat(CHAT))])
    assert result.outcome is Outcome.RETRY
    assert code in result.error
    assert await transport.send_batch([send("once", chat(CHAT))]) == [Result(Outcome.SENT)]
    assert texts_in(emulator, CHAT) == ["текст"]


async def test_a_mention_is_a_max_user_link_in_html_with_the_rest_escaped(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    text = texts.ask_to_write("Петров <Пётр>", DEPUTY) + "\n\n3.1 & 3.2 < 5"
    await transport.send_batch([send("mention", chat(HEADS_CHAT), text=text)])
    sent = emulator.messages_in_chat(HEADS_CHAT)[0]
    assert sent.format == "html"
    assert strip_marker(sent.text).startswith(
        f'<a href="max://user/{DEPUTY}">Петров &lt;Пётр&gt;</a>'
    )
    assert strip_marker(sent.text).endswith("3.1 &amp; 3.2 &lt; 5")
    assert mention(DEPUTY, "x") not in sent.text


async def test_one_chat_gets_at_most_two_messages_a_second(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    # A message to many has a lane of its own, so one chat can meet several in a batch.
    batch = [send(f"many-{n}", chat(CHAT), chat(HEADS_CHAT), text=f"№{n}") for n in range(5)]

    assert await transport.send_batch(batch) == [Result(Outcome.SENT)] * 5

    assert emulator.refused_429 == 0
    assert sorted(texts_in(emulator, CHAT)) == [f"№{n}" for n in range(5)]
    stamps = [m.timestamp for m in emulator.messages_in_chat(CHAT)]
    assert stamps[4] - stamps[0] >= 2000  # five messages at two a second: two seconds at least


# ------------------------------------------------------------------- edits and answers


async def test_a_card_is_edited_by_the_mid_learnt_from_the_press(
    emulator: MaxEmulator, client: MaxClient, directory: MaxDirectory
) -> None:
    first = MaxTransport(client, directory, bot_id=emulator.bot_id)
    await first.send_batch([send("card", person(HEAD), text="старая", buttons=BUTTONS)])
    card = emulator.messages_to_user(HEAD)[0]
    emulator.press(HEAD, card, "Отчитаться")
    # A restarted process knows the mid only from the press.
    fresh = MaxDirectory()
    await learn_updates(emulator, fresh)
    press = incoming(Update.model_validate(emulator.updates[-1]), fresh, bot_id=emulator.bot_id)
    assert press is not None
    assert press.conversation_message_id == card.seq
    transport = MaxTransport(client, fresh, bot_id=emulator.bot_id)

    edit = send(
        "edit", person(HEAD), text="новая", kind=OutKind.EDIT, edit=press.conversation_message_id
    )
    answer = send(
        "answer",
        person(HEAD),
        text="Принято",
        kind=OutKind.ANSWER,
        event=press.callback_id,
        where=person(HEAD),
    )
    unknown = send("lost", person(HEAD), text="x", kind=OutKind.EDIT, edit=999)
    results = await transport.send_batch([edit, answer, unknown])

    assert results[:2] == [Result(Outcome.SENT), Result(Outcome.SENT)]
    assert results[2].outcome is Outcome.EDIT_IMPOSSIBLE
    assert (card.text, card.labels) == ("новая", [])  # an edit carries no marker
    assert emulator.answers[0]["notification"] == "Принято"
    assert emulator.answers[0]["user_id"] == HEAD


async def test_a_stale_press_is_not_answered_again_and_again(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    answer = send(
        "a", person(HEAD), kind=OutKind.ANSWER, event="cb.gone", where=person(HEAD), text=""
    )
    [result] = await transport.send_batch([answer])
    assert result.outcome is Outcome.FAILED


# ------------------------------------------------------------- no double sends without random_id


async def test_a_send_whose_answer_was_lost_is_found_not_sent_twice(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    emulator.faults = Faults(drop_after_rate=1.0)
    [first] = await transport.send_batch([send("receipt", person(HEAD), text="Принято: 3.1")])
    assert first.outcome is Outcome.RETRY
    assert texts_to(emulator, HEAD) == ["Принято: 3.1"]  # MAX sent it all the same

    emulator.faults = Faults()
    [second] = await transport.send_batch([send("receipt", person(HEAD), text="Принято: 3.1")])

    assert second == Result(Outcome.SENT)
    assert texts_to(emulator, HEAD) == ["Принято: 3.1"]
    assert (transport.checks, transport.found) == (1, 1)
    # The dialog was read back, not written to again.
    assert len(emulator.calls_to("POST", "/messages")) == 1
    assert len(emulator.calls_to("GET", "/messages")) == 1


async def test_a_read_back_that_fails_for_now_is_tried_later_never_sent_blindly(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    emulator.faults = Faults(drop_after_rate=1.0)
    await transport.send_batch([send("receipt", person(HEAD), text="Принято: 3.1")])
    emulator.faults = Faults()
    emulator.fail_next("/messages", 503, "service.unavailable")  # GET /messages, the read-back
    [first] = await transport.send_batch([send("receipt", person(HEAD), text="Принято: 3.1")])
    assert first.outcome is Outcome.RETRY
    [second] = await transport.send_batch([send("receipt", person(HEAD), text="Принято: 3.1")])
    assert second == Result(Outcome.SENT)
    assert texts_to(emulator, HEAD) == ["Принято: 3.1"]
    assert len(emulator.calls_to("POST", "/messages")) == 1
    assert transport.found == 1


async def test_a_dialog_the_bot_cannot_read_back_gets_the_message_again(
    emulator: MaxEmulator, client: MaxClient
) -> None:
    # Nothing learnt from the updates: the dialog's chat id is unknown, so at least once.
    transport = MaxTransport(client, MaxDirectory(), bot_id=emulator.bot_id)
    emulator.faults = Faults(drop_after_rate=1.0)
    await transport.send_batch([send("receipt", person(HEAD), text="Принято")])
    emulator.faults = Faults()
    assert await transport.send_batch([send("receipt", person(HEAD), text="Принято")]) == [
        Result(Outcome.SENT)
    ]
    assert texts_to(emulator, HEAD) == ["Принято", "Принято"]
    assert transport.checks == 0


async def test_a_message_to_many_is_not_sent_again_to_those_who_got_it(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    emulator.fail_next("/messages", 429, "too.many.requests")
    message = send("order", chat(CHAT), chat(HEADS_CHAT), text="Приказ")
    [first] = await transport.send_batch([message])
    assert first.outcome is Outcome.RETRY
    assert await transport.send_batch([message]) == [Result(Outcome.SENT)]
    assert texts_in(emulator, CHAT) == ["Приказ"]
    assert texts_in(emulator, HEADS_CHAT) == ["Приказ"]


@dataclass
class Wire:
    """The outbox on SQLite and a sender with MaxTransport to the emulator."""

    db: Database
    outbox: Outbox

    async def enqueue(self, *messages: Outgoing) -> None:
        async with self.db.transaction():
            await self.outbox.add(messages)

    def sender(self, transport: MaxTransport) -> Sender:
        return Sender(self.db, self.outbox, transport, jitter=lambda: 0.0)


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[Wire]:
    db = await Database.open(tmp_path / "bot.db", synchronous="NORMAL")
    try:
        roster = RosterRepository(db)
        async with db.transaction():
            await roster.apply(
                [School(id="s1", name="СОШ №1")],
                [
                    Person(
                        person_id=STRANGER,
                        school_id="s1",
                        full_name="Сидоров Иван",
                        role=Role.HEAD,
                    )
                ],
                NOW,
            )
        outbox = Outbox(
            OutboxRepository(db),
            ConversationRepository(db),
            roster,
            FakeClock(NOW),
            platform="max",
            address=max_address,
        )
        yield Wire(db, outbox)
    finally:
        await db.close()


def receipts(n: int) -> list[Outgoing]:
    return [send(f"event-{k}:0", person(HEAD), text=f"Принято: ответ {k}") for k in range(n)]


@pytest.mark.parametrize("suspected", [True, False])
async def test_a_crash_between_send_and_mark_sent_gives_one_receipt_each(
    emulator: MaxEmulator,
    client: MaxClient,
    directory: MaxDirectory,
    wire: Wire,
    suspected: bool,
) -> None:
    emulator.chat_rate = 10  # not about pacing: the restarted process did not see the last second
    await wire.enqueue(*receipts(4))
    # The process that dies: it sends the first three rows and is killed before it records
    # them (its transport sends, its sender never marks).
    dying = MaxTransport(client, directory, bot_id=emulator.bot_id)
    rows = await wire.outbox.repo.pending_messages(10)
    await dying.send_batch([row.message for row in rows[:3]])
    assert len(emulator.messages_to_user(HEAD)) == 3

    # The next process: a fresh transport; the dialog ids come back from the updates.
    restarted_directory = MaxDirectory()
    await learn_updates(emulator, restarted_directory)
    restarted = MaxTransport(client, restarted_directory, bot_id=emulator.bot_id)
    if suspected:
        restarted.suspect(row.message.key for row in await wire.outbox.repo.pending_messages(100))
    assert await wire.sender(restarted).drain() == 4

    got = texts_to(emulator, HEAD)
    if suspected:
        assert sorted(got) == [f"Принято: ответ {k}" for k in range(4)]
        assert restarted.found == 3
    else:
        # Without the check the three are sent again: what the check is for.
        assert len(got) == 7
    assert (await wire.outbox.repo.counts()).sent == 4


async def test_the_sender_over_max_mentions_a_person_without_a_dialog_in_the_chat(
    emulator: MaxEmulator, transport: MaxTransport, wire: Wire
) -> None:
    emulator.add_user(STRANGER)
    await wire.enqueue(
        send("card", person(STRANGER), text="карточка", fallback=(chat(HEADS_CHAT),))
    )

    assert await wire.sender(transport).drain() == 2

    [fallback] = emulator.messages_in_chat(HEADS_CHAT)
    assert fallback.format == "html"
    assert strip_marker(fallback.text).startswith(
        f'<a href="max://user/{STRANGER}">Сидоров Иван</a>, не удаётся написать'
    )
    assert strip_marker(fallback.text).endswith("\n\nкарточка")
    assert await wire.outbox.conversations.is_unreachable(STRANGER)


async def test_the_sender_over_max_sends_an_unknown_edit_as_a_new_message(
    emulator: MaxEmulator, transport: MaxTransport, wire: Wire
) -> None:
    await wire.enqueue(
        send("card", chat(CHAT), text="карточка", kind=OutKind.EDIT, edit=77, buttons=BUTTONS)
    )
    assert await wire.sender(transport).drain() == 2
    assert [(strip_marker(m.text), m.labels) for m in emulator.messages_in_chat(CHAT)] == [
        ("карточка", ["Отчитаться"])
    ]


# ------------------------------------------------------------------- files and chat members


async def test_files_and_pictures_go_up_then_out_by_token(
    emulator: MaxEmulator, client: MaxClient, directory: MaxDirectory, transport: MaxTransport
) -> None:
    messenger = MaxMessenger(client, directory)
    report = await messenger.upload(chat(CHAT), "Отчет.xlsx", b"PK xlsx", FileKind.DOCUMENT)
    picture = await messenger.upload(chat(CHAT), "ход.png", b"\x89PNG", FileKind.PHOTO)
    file_token = json.loads(report)["payload"]["token"]
    emulator.not_ready_times(file_token, 1)

    batch = [
        send("report", chat(CHAT), text="Отчёт", attachment=report),
        send("picture", chat(HEADS_CHAT), text="Ход", attachment=picture),
    ]
    first = await transport.send_batch(batch)
    assert [r.outcome for r in first] == [Outcome.RETRY, Outcome.SENT]
    assert await transport.send_batch(batch[:1]) == [Result(Outcome.SENT)]

    [sent_report] = emulator.messages_in_chat(CHAT)
    assert sent_report.attachments == [{"type": "file", "payload": {"token": file_token}}]
    assert emulator.uploads[file_token] == ("file", "Отчет.xlsx", b"PK xlsx")
    [sent_picture] = emulator.messages_in_chat(HEADS_CHAT)
    assert sent_picture.attachments[0]["type"] == "image"

    emulator.fail_next("/uploads", 503, "service.unavailable")
    with pytest.raises(UploadFailed):
        await messenger.upload(chat(CHAT), "x.xlsx", b"x", FileKind.DOCUMENT)


async def test_chat_members_for_step_3_3_and_names_for_mentions(
    emulator: MaxEmulator, client: MaxClient, directory: MaxDirectory
) -> None:
    messenger = MaxMessenger(client, directory)
    assert await messenger.chat_members(CHAT) == [HEAD, DEPUTY]
    assert await messenger.user_name(HEAD) == f"Имя{HEAD} Фамилия{HEAD}"
    emulator.add_chat(-9, [HEAD], bot_is_admin=False)
    assert await messenger.chat_members(-9) is None


# ------------------------------------------------------------------------------ incoming


async def test_updates_become_the_cores_incoming(emulator: MaxEmulator) -> None:
    directory = MaxDirectory()
    emulator.add_user(STRANGER, "Иван", "Сидоров")
    started = Update.model_validate(emulator.start_bot(STRANGER, "SCH-001"))
    said = Update.model_validate(emulator.write(STRANGER, "3.1 выполнено"))
    in_chat = Update.model_validate(emulator.write(HEAD, "/статус", chat_id=CHAT))
    chatter = Update.model_validate(emulator.write(HEAD, "всем привет", chat_id=CHAT))
    bot = emulator.bot_id

    start = incoming(started, directory, bot_id=bot)
    assert start is not None
    assert (start.user_id, start.peer_id, start.ref, start.text) == (
        STRANGER,
        STRANGER,
        "SCH-001",
        "",
    )
    assert directory.dialogs[STRANGER] == emulator.dialog_of(STRANGER)
    assert directory.names[STRANGER] == "Иван Сидоров"

    text = incoming(said, directory, bot_id=bot)
    assert text is not None
    assert (text.user_id, text.peer_id, text.text, text.addressed) == (
        STRANGER,
        STRANGER,
        "3.1 выполнено",
        True,
    )
    command = incoming(in_chat, directory, bot_id=bot)
    other = incoming(chatter, directory, bot_id=bot)
    assert command is not None
    assert other is not None
    assert (command.peer_id, command.addressed, other.addressed) == (CHAT, True, False)
    assert len({start.event_id, text.event_id, command.event_id, other.event_id}) == 4
    assert [update_author(u) for u in (started, said, in_chat)] == [STRANGER, STRANGER, HEAD]


async def test_a_press_carries_the_payload_and_its_conversation(
    emulator: MaxEmulator, transport: MaxTransport
) -> None:
    await transport.send_batch([send("order", chat(CHAT), text="Приказ", buttons=BUTTONS)])
    update = Update.model_validate(emulator.press(DEPUTY, emulator.sent[0], "Отчитаться"))
    press = incoming(update, MaxDirectory(), bot_id=emulator.bot_id)
    assert press is not None
    assert press.payload == json.loads(CARD_PAYLOAD)
    assert (press.user_id, press.peer_id, press.is_callback) == (DEPUTY, CHAT, True)
    assert update.callback is not None
    assert press.callback_id == update.callback.callback_id
    assert update_author(update) == DEPUTY


async def test_chat_membership_updates_are_chat_events(emulator: MaxEmulator) -> None:
    added = Update.model_validate(emulator.add_chat(-5, [HEAD], added_by=HEAD) or {})
    joined = Update.model_validate(emulator.add_member(-5, DEPUTY, by=HEAD))
    left = Update.model_validate(emulator.remove_member(-5, DEPUTY))
    removed = Update.model_validate(emulator.remove_bot(-5, by=HEAD))
    events = [chat_event(u) for u in (added, joined, left, removed)]
    assert [(e.kind, e.chat_id, e.user_id, e.by) for e in events if e is not None] == [
        ("bot_added", -5, HEAD, None),
        ("user_added", -5, DEPUTY, HEAD),
        ("user_removed", -5, DEPUTY, None),
        ("bot_removed", -5, HEAD, None),
    ]
    assert incoming(added, MaxDirectory(), bot_id=emulator.bot_id) is None


# ---------------------------------------------------------------------- receiving updates


async def test_long_polling_passes_the_marker_back(
    emulator: MaxEmulator, client: MaxClient
) -> None:
    emulator.write(HEAD, "раз")
    pages = poll(client, timeout=1)
    first = await anext(pages)
    # bot_started of HEAD and DEPUTY from the fixture, then the message.
    assert [u.update_type for u in first] == ["bot_started", "bot_started", "message_created"]
    emulator.write(HEAD, "два")
    second = await anext(pages)
    assert [u.message.body.text for u in second if u.message] == ["два"]
    await pages.aclose()
    assert emulator.calls_to("GET", "/updates")[-1].query["marker"] == "3"


def test_a_webhook_without_our_secret_is_not_an_update() -> None:
    body = json.dumps(
        {
            "update_type": "bot_started",
            "timestamp": 1,
            "chat_id": 80_000_000,
            "user": {"user_id": HEAD, "first_name": "Анна", "is_bot": False},
            "payload": "CODE",
        }
    ).encode()
    update = webhook_update({"X-Max-Bot-Api-Secret": "right_secret"}, body, "right_secret")
    assert update is not None
    assert update.payload == "CODE"
    assert webhook_update({"X-Max-Bot-Api-Secret": "wrong"}, body, "right_secret") is None
    assert webhook_update({}, body, "right_secret") is None
    assert webhook_update({}, b"not json", None) is None
    # A duplicate delivery is the same update: the same event id, counted once.
    again = webhook_update({"X-Max-Bot-Api-Secret": "right_secret"}, body, "right_secret")
    assert again is not None
    assert event_id(again) == event_id(update)


def test_the_config_keeps_webhooks_on_https_and_the_secret_well_formed() -> None:
    config = MaxConfig.model_validate({"token": "t", "api_url": "http://127.0.0.1:8081/"})
    assert config.api_url == "http://127.0.0.1:8081"
    assert MaxConfig.model_validate({"token": "t"}).api_url == "https://platform-api2.max.ru"
    for bad in (
        {"token": "t", "webhook_url": "http://bot.example/max"},
        {"token": "t", "webhook_secret": "no spaces allowed"},
        {"token": "t", "rate": 31},
        {"token": "t", "tokne": "typo"},
    ):
        with pytest.raises(ValueError, match="validation error"):
            MaxConfig.model_validate(bad)
    secret = MaxConfig.model_validate({"token": "f9a8-real-token"})
    assert "f9a8" not in repr(secret)


def test_a_press_in_a_dialog_names_the_presser_when_the_message_does_not() -> None:
    # The bot's own message may name only the dialog, not the person it went to.
    update = Update.model_validate(
        {
            "update_type": "message_callback",
            "timestamp": 5,
            "callback": {
                "callback_id": "cb.1",
                "payload": '{"a":"card"}',
                "user": {"user_id": HEAD, "first_name": "Анна", "is_bot": False},
            },
            "message": {
                "sender": {"user_id": 7, "first_name": "Бот", "is_bot": True},
                "recipient": {"chat_id": 80_000_001, "chat_type": "dialog"},
                "timestamp": 4,
                "body": {"mid": "mid.abc", "seq": 12, "text": "Карточка"},
            },
        }
    )
    directory = MaxDirectory()
    press = incoming(update, directory, bot_id=7)
    assert press is not None
    assert (press.peer_id, press.conversation_message_id, press.payload) == (
        HEAD,
        12,
        {"a": "card"},
    )
    assert directory.mids[(HEAD, 12)] == "mid.abc"
    assert directory.dialogs[HEAD] == 80_000_001


async def test_the_webhook_takes_maxs_deliveries_and_refuses_a_forgery(
    emulator: MaxEmulator, client: MaxClient
) -> None:
    got: list[Update] = []

    async def handle(update: Update) -> None:
        got.append(update)

    app = web.Application()
    app.router.add_post("/max/hook", webhook_handler("hook_secret", handle))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/max/hook"
    try:
        assert (await client.subscribe(url, "hook_secret")).success
        await emulator.wait_for(lambda: len(got) == 2)  # the two starts of the fixture
        emulator.duplicate_next()
        emulator.write(HEAD, "3.1 выполнено")
        await emulator.wait_for(lambda: len(got) == 4)  # two starts, the message twice
        assert [u.update_type for u in got] == ["bot_started"] * 2 + ["message_created"] * 2
        assert event_id(got[2]) == event_id(got[3])
        assert all(status == 200 for _, status in emulator.deliveries)
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=emulator.updates[-1]) as forged:
                assert forged.status == 403
            async with session.post(
                url, data=b"junk", headers={"X-Max-Bot-Api-Secret": "hook_secret"}
            ) as junk:
                assert junk.status == 200
        assert len(got) == 4
    finally:
        await runner.cleanup()
