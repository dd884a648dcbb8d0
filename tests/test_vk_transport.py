"""VKTransport over loopback HTTP to the emulator: the outbox's messages as one `execute`, and
what VK answered for each call mapped to that call's Result."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from vkbottle.http import AiohttpClient

from bot import texts
from bot.clock import FakeClock
from bot.domain import Person, Role, School
from bot.keyboards import Button as KeyButton
from bot.keyboards import Color, Keyboard
from bot.messages import Address, AddressKind, Outcome, Outgoing, OutKind, Result, buttons_of
from bot.outbox import Outbox, Sender
from bot.payloads import OpenCardPayload
from bot.vk import EXECUTE_LIMIT, SNACKBAR_LIMIT, VKTransport, update_author, vk_text
from bot.vk_api import ResilientAPI
from bot.vk_emulator import CHAT_PEER_OFFSET, Faults, VKEmulator
from storage.db import Database
from storage.outbox import OutboxRepository
from storage.repositories import ConversationRepository, RosterRepository
from tests.test_emulator import Wall

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
TOKEN = "transport-token"
GROUP_ID = 42
USER = 501_001
OTHER = 501_002
CHAT = CHAT_PEER_OFFSET + 1
HEADS_CHAT = CHAT_PEER_OFFSET + 2
BUTTONS = buttons_of(
    Keyboard(((KeyButton("Отчитаться", OpenCardPayload(c="c1"), Color.PRIMARY),),))
)


def person(vk_id: int) -> Address:
    return Address(platform="vk", kind=AddressKind.PERSON, id=vk_id)


def chat(peer_id: int) -> Address:
    return Address(platform="vk", kind=AddressKind.CHAT, id=peer_id)


def send(key: str, *to: Address, text: str = "текст", **more: Any) -> Outgoing:
    return Outgoing.model_validate({"key": key, "to": to, "text": text, **more})


def edit(key: str, where: Address, cmid: int, text: str, **more: Any) -> Outgoing:
    return send(key, where, text=text, kind=OutKind.EDIT, edit=cmid, **more)


def answer(key: str, user: int, where: Address, event: str, text: str = "") -> Outgoing:
    return send(key, person(user), text=text, kind=OutKind.ANSWER, event=event, where=where)


@pytest.fixture
def wall() -> Wall:
    return Wall(NOW.timestamp())


@pytest.fixture
async def emulator(wall: Wall) -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, wall=wall) as emu:
        emu.add_chat(CHAT, [USER, OTHER])
        emu.add_chat(HEADS_CHAT, [USER, OTHER])
        yield emu


@pytest.fixture
async def api(emulator: VKEmulator) -> AsyncIterator[ResilientAPI]:
    http = AiohttpClient()
    client = ResilientAPI(
        TOKEN, http_client=http, rate=1000, base_delay=0.001, max_delay=0.01, attempts=2
    )
    client.API_URL = emulator.api_url
    try:
        yield client
    finally:
        await http.close()


@pytest.fixture
def transport(api: ResilientAPI) -> VKTransport:
    return VKTransport(api)


def requests(emulator: VKEmulator) -> list[str]:
    """The HTTP requests the emulator got, by method (an execute once, not its calls)."""
    return [c.method for c in emulator.calls if not c.via_execute]


def inner(emulator: VKEmulator) -> list[tuple[str, int | None]]:
    return [(c.method, c.error_code) for c in emulator.calls if c.via_execute]


async def stats(emulator: VKEmulator) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{emulator.base_url}/_emulator/stats", params={"access_token": TOKEN}
        ) as response,
    ):
        body: dict[str, Any] = await response.json()
        return body


# ------------------------------------------------------------------------- one request


async def test_a_mixed_batch_goes_in_one_execute(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    assert await transport.send_batch([send("card", chat(CHAT), text="старая")]) == [
        Result(Outcome.SENT)
    ]
    cmid = emulator.messages_to(CHAT)[0].conversation_message_id
    press = emulator.push_message_event(
        user_id=USER, peer_id=CHAT, payload={"a": "card"}, conversation_message_id=cmid
    )
    event = press["object"]["event_id"]
    tricky = 'Привет"]); API.messages.send({}); \\ «конец»'
    snackbar = "П" * (SNACKBAR_LIMIT + 10)
    batch = [
        send("private", person(USER), text=tricky, buttons=BUTTONS),
        send("text-buttons", person(OTHER), text="без callback", buttons=BUTTONS, callback=False),
        edit("edit", chat(CHAT), cmid, "новая", buttons=BUTTONS),
        answer("answer", USER, chat(CHAT), event, snackbar),
        send("to-chat", chat(HEADS_CHAT), text="в беседу"),
    ]

    results = await transport.send_batch(batch)

    assert results == [Result(Outcome.SENT)] * 5
    assert requests(emulator) == ["execute", "execute"]
    assert inner(emulator)[1:] == [
        ("messages.send", None),
        ("messages.send", None),
        ("messages.edit", None),
        ("messages.sendMessageEventAnswer", None),
        ("messages.send", None),
    ]
    counts = await stats(emulator)
    assert counts["requests"] == {"execute": 2}
    assert counts["calls"]["execute"] == 2

    private = emulator.messages_to(USER)[0]
    assert private.text == tricky
    assert private.random_id == batch[0].dedupe_id()
    assert private.labels == ["Отчитаться"]
    assert [b["action"]["type"] for b in private.buttons] == ["callback"]
    assert [b["action"]["type"] for b in emulator.messages_to(OTHER)[0].buttons] == ["text"]
    card = emulator.messages_to(CHAT)[0]
    assert (card.text, card.edited, card.labels) == ("новая", True, ["Отчитаться"])
    assert [v.text for v in card.history] == ["старая"]
    assert emulator.event_answers[0]["event_id"] == event
    assert emulator.event_answers[0]["known"]
    assert emulator.event_answers[0]["event_data"] == {
        "type": "show_snackbar",
        "text": snackbar[:SNACKBAR_LIMIT],
    }
    assert emulator.messages_to(HEADS_CHAT)[0].text == "в беседу"


async def test_an_edit_without_buttons_removes_them(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    await transport.send_batch([send("card", person(USER), text="карточка", buttons=BUTTONS)])
    cmid = emulator.messages_to(USER)[0].conversation_message_id

    assert await transport.send_batch([edit("edit", person(USER), cmid, "готово")]) == [
        Result(Outcome.SENT)
    ]

    card = emulator.messages_to(USER)[0]
    assert (card.text, card.labels) == ("готово", [])
    # VK's documented way to take a keyboard away, not an inline keyboard of no buttons.
    keyboard = emulator.calls_to("messages.edit")[0].params["keyboard"]
    assert json.loads(keyboard) == {"buttons": []}


async def test_mentions_are_disabled_where_the_bot_mentions_nobody(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    quiet = "Причина: «@all [id1|Начальник]»"
    loud = f"{texts.mention(USER, 'Иванов')}, напишите сообществу"

    await transport.send_batch(
        [send("quiet", chat(CHAT), text=quiet), send("loud", chat(HEADS_CHAT), text=loud)]
    )

    sends = {c.params["peer_ids"]: c.params for c in emulator.calls_to("messages.send")}
    assert sends[str(CHAT)]["disable_mentions"] == "1"
    assert "disable_mentions" not in sends[str(HEADS_CHAT)]
    assert emulator.messages_to(CHAT)[0].text == "Причина: «＠all (id1/Начальник)»"
    assert emulator.messages_to(CHAT)[0].pings == []
    assert emulator.messages_to(HEADS_CHAT)[0].pings == [f"id{USER}"]


async def test_a_full_batch_of_25_is_one_request(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    batch = [send(f"m{n}", person(USER + n)) for n in range(EXECUTE_LIMIT)]

    results = await transport.send_batch(batch)

    assert results == [Result(Outcome.SENT)] * EXECUTE_LIMIT
    assert transport.batch_size == EXECUTE_LIMIT
    assert requests(emulator) == ["execute"]
    assert len(emulator.sent) == EXECUTE_LIMIT


async def test_an_empty_batch_sends_nothing(emulator: VKEmulator, transport: VKTransport) -> None:
    assert await transport.send_batch([]) == []
    assert emulator.calls == []


async def test_the_same_batch_sent_again_is_not_a_second_message(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    batch = [
        send("a", person(USER), text="раз"),
        send("b", chat(CHAT), text="в беседу"),
        send("c", person(USER), person(OTHER), text="всем"),
    ]

    first = await transport.send_batch(batch)
    again = await transport.send_batch(batch)

    assert first == again == [Result(Outcome.SENT)] * 3
    assert [(m.peer_id, m.text) for m in emulator.sent] == [
        (USER, "раз"),
        (CHAT, "в беседу"),
        (USER, "всем"),
        (OTHER, "всем"),
    ]
    assert requests(emulator) == ["execute", "execute"]


async def test_an_execute_whose_answer_was_lost_is_resent_without_duplicates(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    batch = [send("a", person(USER), text="раз"), send("b", person(OTHER), text="два")]

    with emulator.using_faults(Faults(drop_after_rate=1.0)):
        lost = await transport.send_batch(batch)
    again = await transport.send_batch(batch)

    assert [r.outcome for r in lost] == [Outcome.RETRY] * 2
    assert again == [Result(Outcome.SENT)] * 2
    assert [m.text for m in emulator.sent] == ["раз", "два"]


# ----------------------------------------------------------------- one call refused


@pytest.mark.parametrize("code", [900, 901, 902])
async def test_a_refused_send_is_sent_with_the_person_refused(
    emulator: VKEmulator, transport: VKTransport, code: int
) -> None:
    emulator.fail_next("messages.send", code)
    batch = [send("refused", person(USER)), send("fine", person(OTHER), text="дошло")]

    results = await transport.send_batch(batch)

    assert results == [
        Result(Outcome.SENT, refused=(USER,), error=f"VK error {code}"),
        Result(Outcome.SENT),
    ]
    assert [m.text for m in emulator.sent] == ["дошло"]
    assert requests(emulator) == ["execute"]


@pytest.mark.parametrize(
    ("refusing", "code"),
    [
        (lambda emu: emu.set_allows_messages(USER, False), 901),
        (lambda emu: emu.set_privacy_closed(USER), 902),
        (lambda emu: emu.set_blacklisted(USER), 900),
    ],
    ids=["not allowed", "privacy", "blacklist"],
)
async def test_a_person_refusing_a_send_is_refused_and_the_others_get_theirs(
    emulator: VKEmulator,
    transport: VKTransport,
    refusing: Callable[[VKEmulator], None],
    code: int,
) -> None:
    refusing(emulator)
    batch = [send("refused", person(USER)), send("fine", person(OTHER), text="дошло")]

    results = await transport.send_batch(batch)

    # messages.send with peer_ids answers each peer's error in its item, not as a refusal.
    assert [(r.outcome, r.refused) for r in results] == [
        (Outcome.SENT, (USER,)),
        (Outcome.SENT, ()),
    ]
    assert emulator.calls_to("messages.send")[0].response[0]["error"]["code"] == code
    assert [m.text for m in emulator.sent] == ["дошло"]
    assert requests(emulator) == ["execute"]


async def test_a_chat_the_community_was_kicked_from_is_lost_and_the_rest_goes(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    emulator.remove_community(CHAT)
    batch = [
        send("lost", chat(CHAT)),
        send("fine", chat(HEADS_CHAT)),
        send("both", chat(CHAT), chat(HEADS_CHAT), text="обоим"),
    ]

    results = await transport.send_batch(batch)

    assert [(r.outcome, r.lost) for r in results] == [
        (Outcome.SKIPPED, (CHAT,)),
        (Outcome.SENT, ()),
        (Outcome.SENT, (CHAT,)),
    ]
    assert [m.peer_id for m in emulator.sent] == [HEADS_CHAT, HEADS_CHAT]


@pytest.mark.parametrize("code", [7, 917, 945, 946, 983])
async def test_a_chat_refused_as_lost_is_skipped(
    emulator: VKEmulator, transport: VKTransport, code: int
) -> None:
    emulator.fail_next("messages.send", code)
    batch = [send("lost", chat(CHAT)), send("fine", chat(HEADS_CHAT))]

    results = await transport.send_batch(batch)

    assert results == [
        Result(Outcome.SKIPPED, lost=(CHAT,), error=f"VK error {code}"),
        Result(Outcome.SENT),
    ]
    assert [m.peer_id for m in emulator.sent] == [HEADS_CHAT]


@pytest.mark.parametrize("code", [6, 9, 10])
async def test_a_passing_error_inside_execute_is_a_retry_of_that_call(
    emulator: VKEmulator, transport: VKTransport, code: int
) -> None:
    emulator.fail_next("messages.send", code)
    emulator.fail_next("messages.sendMessageEventAnswer", code)
    batch = [
        send("busy", person(USER)),
        answer("press", USER, person(USER), "ev-1"),
        send("fine", person(OTHER)),
    ]

    results = await transport.send_batch(batch)

    assert results == [
        Result(Outcome.RETRY, error=f"VK error {code}"),
        Result(Outcome.RETRY, error=f"VK error {code}"),
        Result(Outcome.SENT),
    ]
    assert requests(emulator) == ["execute"]  # not retried as a whole: the others went


async def test_a_card_older_than_a_day_is_sent_again_instead_of_edited(
    emulator: VKEmulator, wire: Wire, wall: Wall
) -> None:
    await wire.enqueue(send("card", person(USER), text="карточка", buttons=BUTTONS))
    await wire.sender.drain()
    cmid = emulator.messages_to(USER)[0].conversation_message_id

    wall.now += 24 * 3600 + 1
    await wire.enqueue(edit("edit", person(USER), cmid, "новая", buttons=BUTTONS))
    await wire.sender.drain()

    assert inner(emulator)[-2:] == [("messages.edit", 909), ("messages.send", None)]
    assert [(m.text, m.edited) for m in emulator.messages_to(USER)] == [
        ("карточка", False),
        ("новая", False),
    ]
    assert emulator.messages_to(USER)[1].labels == ["Отчитаться"]


@pytest.mark.parametrize("code", [909, 911, 920, 15])
async def test_a_refused_edit_is_impossible(
    emulator: VKEmulator, transport: VKTransport, code: int
) -> None:
    await transport.send_batch([send("card", person(USER))])
    cmid = emulator.messages_to(USER)[0].conversation_message_id
    emulator.fail_next("messages.edit", code)

    results = await transport.send_batch(
        [edit("edit", person(USER), cmid, "новая"), send("next", person(OTHER))]
    )

    assert results == [
        Result(Outcome.EDIT_IMPOSSIBLE, error=f"VK error {code}"),
        Result(Outcome.SENT),
    ]
    assert emulator.messages_to(USER)[0].text == "текст"


async def test_an_edit_of_a_message_vk_does_not_know_is_impossible(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    results = await transport.send_batch([edit("edit", chat(CHAT), 999, "новая")])

    assert results == [Result(Outcome.EDIT_IMPOSSIBLE, error="VK error 100")]


async def test_other_refusals_fail_that_call_alone(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    emulator.fail_next("messages.send", 914)
    emulator.fail_next("messages.sendMessageEventAnswer", 100)

    results = await transport.send_batch(
        [
            send("long", person(USER)),
            answer("press", USER, person(USER), "ev-1"),
            send("to-chat", chat(CHAT)),
            send("fine", person(OTHER)),
        ]
    )

    assert results[:2] == [
        Result(Outcome.FAILED, error="VK error 914"),
        Result(Outcome.FAILED, error="VK error 100"),
    ]
    assert results[2:] == [Result(Outcome.SENT)] * 2


# ------------------------------------------------------------------- peer_ids, per peer


async def test_a_person_refusing_in_a_peer_ids_send_is_refused_alone(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    emulator.set_allows_messages(OTHER, False)

    results = await transport.send_batch(
        [
            send("many", person(USER), person(OTHER), text="всем"),
            send("alone", person(OTHER), text="лично"),
        ]
    )

    assert results == [
        Result(Outcome.SENT, refused=(OTHER,)),
        Result(Outcome.SENT, refused=(OTHER,)),
    ]
    assert [(m.peer_id, m.text) for m in emulator.sent] == [(USER, "всем")]


async def test_a_chat_lost_among_many_is_reported_lost(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    def send_or_lose(params: dict[str, str]) -> Any:
        # VK answers each peer of peer_ids on its own; the emulator has no lost chats.
        peers = [int(p) for p in params["peer_ids"].split(",")]
        return [
            {"peer_id": p, "error": {"code": 917, "description": "no access"}}
            if p == CHAT
            else {"peer_id": p, "message_id": 0, "conversation_message_id": 1}
            for p in peers
        ]

    emulator.add_method("messages.send", send_or_lose)

    results = await transport.send_batch(
        [
            send("both", chat(CHAT), chat(HEADS_CHAT)),
            send("lost", chat(CHAT)),
        ]
    )

    assert results == [
        Result(Outcome.SENT, lost=(CHAT,)),
        Result(Outcome.SKIPPED, lost=(CHAT,), error="chat lost"),
    ]


async def test_a_passing_error_for_one_of_many_peers_is_retried(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    def busy_for_other(params: dict[str, str]) -> Any:
        peers = [int(p) for p in params["peer_ids"].split(",")]
        return [
            {"peer_id": p, "error": {"code": 10, "description": "Internal server error"}}
            if p == OTHER
            else {"peer_id": p, "message_id": 1, "conversation_message_id": 1}
            for p in peers
        ]

    emulator.add_method("messages.send", busy_for_other)

    results = await transport.send_batch([send("many", person(USER), person(OTHER))])

    # Sent again with the same random_id, it reaches OTHER and is no second copy for USER.
    assert [r.outcome for r in results] == [Outcome.RETRY]


# --------------------------------------------------------------- the request as a whole


async def test_execute_refused_as_a_whole_is_a_retry_of_everything(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    emulator.fail_next("execute", 10, times=2)  # ResilientAPI tries twice here

    results = await transport.send_batch([send("a", person(USER)), send("b", person(OTHER))])

    assert [r.outcome for r in results] == [Outcome.RETRY] * 2
    assert emulator.sent == []
    assert requests(emulator) == ["execute", "execute"]


async def test_execute_that_vk_cannot_run_fails_everything(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    emulator.fail_next("execute", 13)

    results = await transport.send_batch([send("a", person(USER)), send("b", person(OTHER))])

    assert results == [Result(Outcome.FAILED, error="VK error 13")] * 2


async def test_a_dropped_connection_is_a_retry(
    emulator: VKEmulator, transport: VKTransport
) -> None:
    with emulator.using_faults(Faults(drop_rate=1.0)):
        results = await transport.send_batch([send("a", person(USER))])

    assert [r.outcome for r in results] == [Outcome.RETRY]
    assert emulator.sent == []


# ------------------------------------------------------------- the sender over the wire


@dataclass
class Wire:
    """The outbox on SQLite and its sender with VKTransport to the emulator."""

    db: Database
    outbox: Outbox
    sender: Sender

    async def enqueue(self, *messages: Outgoing) -> None:
        async with self.db.transaction():
            await self.outbox.add(messages)


@pytest.fixture
async def wire(tmp_path: Path, transport: VKTransport) -> AsyncIterator[Wire]:
    db = await Database.open(tmp_path / "bot.db", synchronous="NORMAL")
    try:
        roster = RosterRepository(db)
        async with db.transaction():
            await roster.apply(
                [School(id="s1", name="СОШ №1")],
                [Person(vk_id=OTHER, school_id="s1", full_name="Петров Пётр", role=Role.HEAD)],
                NOW,
            )
        outbox = Outbox(OutboxRepository(db), ConversationRepository(db), roster, FakeClock(NOW))
        yield Wire(db, outbox, Sender(db, outbox, transport))
    finally:
        await db.close()


async def test_the_sender_over_vk_mentions_a_refused_person_in_the_fallback_chat(
    emulator: VKEmulator, wire: Wire
) -> None:
    emulator.set_allows_messages(OTHER, False)
    await wire.enqueue(
        send("card", person(OTHER), text="карточка", fallback=(chat(HEADS_CHAT),)),
        send("hello", person(USER), text="привет"),
    )

    assert await wire.sender.drain() == 3

    mention = emulator.messages_to(HEADS_CHAT)[0]
    assert mention.text == vk_text(texts.ask_to_write("Петров Пётр", OTHER)) + "\n\nкарточка"
    assert mention.text.startswith(f"[id{OTHER}|Петров Пётр], не удаётся написать")
    assert [m.text for m in emulator.messages_to(USER)] == ["привет"]
    assert await wire.outbox.conversations.is_unreachable(OTHER)
    assert requests(emulator) == ["execute", "execute"]
    assert (await wire.outbox.repo.counts()).sent == 3


async def test_the_sender_over_vk_sends_a_refused_edit_as_a_new_message(
    emulator: VKEmulator, wire: Wire
) -> None:
    await wire.enqueue(
        edit("card", chat(CHAT), 999, "карточка", buttons=BUTTONS),  # VK does not know 999
        send("after", chat(CHAT), text="следом"),
    )

    assert await wire.sender.drain() == 3

    assert [(m.text, m.labels) for m in emulator.messages_to(CHAT)] == [
        ("карточка", ["Отчитаться"]),
        ("следом", []),
    ]
    assert inner(emulator) == [
        ("messages.edit", 100),
        ("messages.send", None),
        ("messages.send", None),
    ]
    assert requests(emulator) == ["execute"] * 3


def test_an_updates_author_is_its_sender_and_nobody_for_chat_events() -> None:
    message = {"type": "message_new", "object": {"message": {"from_id": 5, "peer_id": 5}}}
    press = {"type": "message_event", "object": {"user_id": 7, "peer_id": 7}}
    invited = {
        "type": "message_new",
        "object": {"message": {"from_id": 5, "action": {"type": "chat_invite_user"}}},
    }
    community = {"type": "message_new", "object": {"message": {"from_id": -1}}}
    assert update_author(message) == 5
    assert update_author(press) == 7
    assert update_author(invited) is None
    assert update_author(community) is None
    assert update_author({"type": "message_new", "object": "junk"}) is None
    assert update_author({"type": "group_join", "object": {"user_id": 5}}) is None
