"""The VK emulator's contract, over real loopback HTTP, and the real vkbottle Bot against it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pydantic
import pytest
from vkbottle import API, Bot, GroupEventType
from vkbottle.bot import Message, MessageEvent
from vkbottle.http import AiohttpClient
from vkbottle.polling import BotPolling

from bot.vk_emulator import CHAT_PEER_OFFSET, SentMessage, VKEmulator

TOKEN = "test-token"
GROUP_ID = 123456789
USER = 501234
OTHER_USER = 501999
CHAT = CHAT_PEER_OFFSET + 2


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, max_wait=2.0) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    emulator: VKEmulator,
    method: str,
    *,
    token: str | None = TOKEN,
    **params: Any,
) -> dict[str, Any]:
    """POST a method the way vkbottle does: token and v in the query, the rest form-encoded."""
    query = {"v": "5.199"}
    if token is not None:
        query["access_token"] = token
    data = {k: str(v) for k, v in params.items()}
    async with session.post(emulator.api_url + method, params=query, data=data) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def poll(
    session: aiohttp.ClientSession, server: dict[str, Any], *, ts: str | None = None, wait: int = 0
) -> dict[str, Any]:
    params = {"act": "a_check", "key": server["key"], "ts": ts or server["ts"], "wait": str(wait)}
    async with session.post(server["server"], params=params) as response:
        body: dict[str, Any] = await response.json()
        return body


async def lp_server(session: aiohttp.ClientSession, emulator: VKEmulator) -> dict[str, Any]:
    body = await call(session, emulator, "groups.getLongPollServer", group_id=GROUP_ID)
    server: dict[str, Any] = body["response"]
    return server


def inline_keyboard(*rows: list[dict[str, Any]]) -> str:
    return json.dumps({"inline": True, "buttons": list(rows)}, ensure_ascii=False)


def callback_button(label: str, payload: dict[str, Any]) -> dict[str, Any]:
    action = {"type": "callback", "label": label, "payload": json.dumps(payload)}
    return {"action": action, "color": "positive"}


def text_button(label: str, payload: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "text", "label": label}
    if payload is not None:
        action["payload"] = payload
    return {"action": action}


# ---------------------------------------------------------------------------- API envelope


async def test_wrong_or_missing_token_is_error_5(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    wrong = await call(session, emulator, "users.get", token="nope", user_ids=USER)
    missing = await call(session, emulator, "users.get", token=None, user_ids=USER)

    assert wrong["error"]["error_code"] == 5
    assert missing["error"]["error_code"] == 5
    assert wrong["error"]["error_msg"].startswith("User authorization failed")
    assert {"key": "method", "value": "users.get"} in wrong["error"]["request_params"]
    assert all(p["key"] != "access_token" for p in wrong["error"]["request_params"])
    assert all("access_token" not in c.params for c in emulator.calls)


async def test_unknown_method_is_error_3(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    body = await call(session, emulator, "messages.frobnicate")

    assert body["error"]["error_code"] == 3
    assert body["error"]["error_msg"] == "Unknown method passed"


async def test_missing_required_parameter_is_error_100(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    no_random_id = await call(session, emulator, "messages.send", peer_id=USER, message="hi")
    no_text = await call(session, emulator, "messages.send", peer_id=USER, random_id=0)
    no_peer = await call(session, emulator, "messages.send", message="hi", random_id=0)

    assert [b["error"]["error_code"] for b in (no_random_id, no_text, no_peer)] == [100] * 3
    assert "random_id" in no_random_id["error"]["error_msg"]
    assert emulator.sent == []


async def test_get_query_is_accepted_and_groups_get_by_id_answers_groups(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    params = {"access_token": TOKEN, "v": "5.199"}
    async with session.get(emulator.api_url + "groups.getById", params=params) as response:
        body = await response.json()

    assert body["response"]["groups"][0]["id"] == GROUP_ID
    assert body["response"]["groups"][0]["name"] == "Управление образования"


async def test_fail_next_injects_an_error_once(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.fail_next("users.get", 6)

    first = await call(session, emulator, "users.get", user_ids=USER)
    second = await call(session, emulator, "users.get", user_ids=USER)

    assert first["error"]["error_code"] == 6
    assert "response" in second


# ---------------------------------------------------------------------------------- long poll


async def test_long_poll_returns_pushed_updates_and_advances_ts(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    assert isinstance(server["ts"], str)
    assert server["server"].startswith(emulator.base_url)

    update = emulator.push_message_new(from_id=USER, peer_id=USER, text="привет")
    first = await poll(session, server)
    second = await poll(session, server, ts=first["ts"])

    assert first["updates"] == [update]
    assert isinstance(first["ts"], str)
    assert int(first["ts"]) == int(server["ts"]) + 1
    assert second == {"ts": first["ts"], "updates": []}


async def test_long_poll_wait_returns_early_on_push(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    loop = asyncio.get_running_loop()
    started = loop.time()

    pending = asyncio.create_task(poll(session, server, wait=25))
    await emulator.wait_for(lambda: emulator.poll_requests)
    emulator.push_message_new(from_id=USER, peer_id=USER, text="x")
    answer = await pending

    assert len(answer["updates"]) == 1
    assert loop.time() - started < 1.0


async def test_long_poll_failed_1_for_a_ts_from_the_future(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)

    answer = await poll(session, server, ts=str(int(server["ts"]) + 100))

    assert answer == {"failed": 1, "ts": server["ts"]}


async def test_long_poll_failed_2_for_a_wrong_key(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)

    answer = await poll(session, {**server, "key": "0" * 40})

    assert answer == {"failed": 2}


@pytest.mark.parametrize("code", [1, 2, 3])
async def test_force_failed_answers_the_next_poll(
    emulator: VKEmulator, session: aiohttp.ClientSession, code: int
) -> None:
    server = await lp_server(session, emulator)
    emulator.force_failed(code)

    forced = await poll(session, server)
    after = await poll(session, server)

    expected: dict[str, Any] = {"failed": code}
    if code == 1:
        expected["ts"] = server["ts"]
    assert forced == expected
    # Codes 2 and 3 expire the key: the bot must ask for a new one.
    assert after == ({"failed": 2} if code in (2, 3) else {"ts": server["ts"], "updates": []})


async def test_force_failed_wakes_a_waiting_poll(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    pending = asyncio.create_task(poll(session, server, wait=25))
    await emulator.wait_for(lambda: emulator.poll_requests)

    emulator.force_failed(3)

    assert await asyncio.wait_for(pending, 1.0) == {"failed": 3}


# ------------------------------------------------------------------------------ message_new


async def test_message_new_has_the_shape_vk_sends(emulator: VKEmulator) -> None:
    private = emulator.push_message_new(
        from_id=USER, peer_id=USER, text="Выполнено", payload={"step": "3.4"}
    )
    second = emulator.push_message_new(from_id=USER, peer_id=USER, text="ещё")
    in_chat = emulator.push_message_new(
        from_id=USER, peer_id=CHAT, text="/3.1", callback_supported=False
    )

    message = private["object"]["message"]
    assert private["type"] == "message_new"
    assert private["v"] == "5.199"
    assert private["group_id"] == GROUP_ID
    assert re.fullmatch("[0-9a-f]{40}", private["event_id"])
    assert private["event_id"] != second["event_id"]
    assert set(message) == {
        "date",
        "from_id",
        "id",
        "out",
        "version",
        "attachments",
        "conversation_message_id",
        "fwd_messages",
        "important",
        "is_hidden",
        "peer_id",
        "random_id",
        "text",
        "payload",
    }
    assert message["payload"] == '{"step":"3.4"}'
    assert message["id"] > 0
    assert second["object"]["message"]["id"] > message["id"]
    assert second["object"]["message"]["conversation_message_id"] == 2
    assert in_chat["object"]["message"]["id"] == 0
    assert in_chat["object"]["message"]["conversation_message_id"] == 1
    assert "callback" in private["object"]["client_info"]["button_actions"]
    assert "callback" not in in_chat["object"]["client_info"]["button_actions"]


# ---------------------------------------------------------------------------- messages.send


async def test_send_with_peer_id_answers_a_number_and_0_in_chats(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    private = await call(
        session, emulator, "messages.send", peer_id=USER, message="a", random_id=0
    )
    chat = await call(session, emulator, "messages.send", peer_id=CHAT, message="b", random_id=0)

    assert isinstance(private["response"], int)
    assert private["response"] > 0
    assert chat["response"] == 0
    assert [m.text for m in emulator.messages_to(USER)] == ["a"]
    assert emulator.last_message_to(CHAT) is not None


async def test_send_with_peer_ids_answers_a_list(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    body = await call(
        session, emulator, "messages.send", peer_ids=f"{USER},{CHAT}", message="x", random_id=0
    )

    private, chat = body["response"]
    assert private == {
        "peer_id": USER,
        "message_id": emulator.messages_to(USER)[0].message_id,
        "conversation_message_id": 1,
    }
    assert chat == {"peer_id": CHAT, "message_id": 0, "conversation_message_id": 1}


async def test_random_id_deduplicates_per_peer(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    first = await call(session, emulator, "messages.send", peer_id=USER, message="a", random_id=7)
    again = await call(session, emulator, "messages.send", peer_id=USER, message="b", random_id=7)
    other = await call(
        session, emulator, "messages.send", peer_id=OTHER_USER, message="c", random_id=7
    )
    zero_1 = await call(session, emulator, "messages.send", peer_id=USER, message="d", random_id=0)
    zero_2 = await call(session, emulator, "messages.send", peer_id=USER, message="d", random_id=0)

    assert again["response"] == first["response"]
    assert other["response"] != first["response"]
    assert zero_1["response"] != zero_2["response"]
    assert [m.text for m in emulator.messages_to(USER)] == ["a", "d", "d"]


async def test_901_for_a_user_who_forbade_messages_in_both_shapes(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.add_user(OTHER_USER, "Иван", "Петров", allows_messages=False)

    single = await call(
        session, emulator, "messages.send", peer_id=OTHER_USER, message="x", random_id=0
    )
    many = await call(
        session,
        emulator,
        "messages.send",
        peer_ids=f"{USER},{OTHER_USER}",
        message="x",
        random_id=0,
    )

    assert single["error"]["error_code"] == 901
    assert many["response"][1] == {
        "peer_id": OTHER_USER,
        "error": {"code": 901, "description": "Can't send messages for users without permission"},
    }
    assert "message_id" in many["response"][0]
    assert [m.peer_id for m in emulator.sent] == [USER]


async def test_writing_to_the_community_allows_its_answers(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_allows_messages(USER, False)
    emulator.push_message_new(from_id=USER, peer_id=USER, text="hi")

    body = await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=0)

    assert "response" in body


async def test_914_for_a_message_over_the_limit(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    ok = await call(
        session, emulator, "messages.send", peer_id=USER, message="я" * 4096, random_id=0
    )
    too_long = await call(
        session, emulator, "messages.send", peer_id=USER, message="я" * 4097, random_id=0
    )

    assert "response" in ok
    assert too_long["error"]["error_code"] == 914
    assert too_long["error"]["error_msg"] == "Message is too long"


def _grid(rows: int, per_row: int, *, inline: bool) -> str:
    buttons = [[text_button(f"{r}.{c}") for c in range(per_row)] for r in range(rows)]
    return json.dumps({"inline": inline, "buttons": buttons})


@pytest.mark.parametrize(
    "keyboard",
    [
        pytest.param(_grid(3, 4, inline=True), id="inline-11-buttons"),
        pytest.param(_grid(7, 1, inline=True), id="inline-7-rows"),
        pytest.param(_grid(1, 6, inline=True), id="row-of-6"),
        pytest.param(_grid(11, 1, inline=False), id="regular-11-rows"),
        pytest.param(_grid(9, 5, inline=False), id="regular-45-buttons"),
        pytest.param(inline_keyboard([text_button("я" * 41)]), id="label-41"),
        pytest.param(
            inline_keyboard([text_button("ok", json.dumps({"k": "x" * 250}))]), id="payload-256"
        ),
        pytest.param(inline_keyboard([text_button("ok", "{not json")]), id="payload-not-json"),
        pytest.param(
            json.dumps({"buttons": [[{"action": {"type": "text", "label": "a", "payload": {}}}]]}),
            id="payload-object",
        ),
        pytest.param('{"buttons": [[', id="bad-json"),
        pytest.param(json.dumps({"buttons": [[{"action": {"type": "nope"}}]]}), id="bad-type"),
    ],
)
async def test_911_for_an_invalid_keyboard(
    emulator: VKEmulator, session: aiohttp.ClientSession, keyboard: str
) -> None:
    body = await call(
        session,
        emulator,
        "messages.send",
        peer_id=USER,
        message="x",
        random_id=0,
        keyboard=keyboard,
    )

    assert body["error"]["error_code"] == 911
    assert body["error"]["error_msg"].startswith("Keyboard format is invalid")
    assert emulator.sent == []


async def test_keyboards_at_the_limits_are_accepted_and_parsed(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    for keyboard in (
        _grid(2, 5, inline=True),
        _grid(6, 1, inline=True),
        _grid(8, 5, inline=False),
        inline_keyboard([text_button("я" * 40, json.dumps({"k": "x" * 245}))]),
        json.dumps({"buttons": []}),
    ):
        body = await call(
            session,
            emulator,
            "messages.send",
            peer_id=USER,
            message="x",
            random_id=0,
            keyboard=keyboard,
        )
        assert "response" in body, body
    assert emulator.sent[0].keyboard == json.loads(_grid(2, 5, inline=True))


# ---------------------------------------------------------------------------- messages.edit


async def test_edit_by_conversation_message_id_changes_the_stored_message(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    keyboard = inline_keyboard([callback_button("Выполнено", {"step": "3.1"})])
    await call(
        session, emulator, "messages.send", peer_id=CHAT, message="Шаг 3.1", random_id=0,
        keyboard=keyboard,
    )  # fmt: skip
    sent = emulator.messages_to(CHAT)[0]

    body = await call(
        session,
        emulator,
        "messages.edit",
        peer_id=CHAT,
        conversation_message_id=sent.conversation_message_id,
        message="Шаг 3.1 — принято",
    )

    assert body == {"response": 1}
    assert sent.text == "Шаг 3.1 — принято"
    assert sent.edited
    assert sent.keyboard is None
    assert sent.history[0].text == "Шаг 3.1"
    assert sent.history[0].keyboard == json.loads(keyboard)
    assert emulator.calls_to("messages.edit")[0].ok


async def test_edit_checks_like_send_and_refuses_unknown_or_foreign_messages(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    incoming = emulator.push_message_new(from_id=USER, peer_id=USER, text="hi")
    await call(session, emulator, "messages.send", peer_id=USER, message="a", random_id=0)
    mine = emulator.messages_to(USER)[0]

    unknown = await call(
        session, emulator, "messages.edit", peer_id=USER, conversation_message_id=99, message="x"
    )
    foreign = await call(
        session,
        emulator,
        "messages.edit",
        peer_id=USER,
        conversation_message_id=incoming["object"]["message"]["conversation_message_id"],
        message="x",
    )
    too_long = await call(
        session, emulator, "messages.edit", peer_id=USER, message_id=mine.message_id,
        message="x" * 5000,
    )  # fmt: skip
    by_id = await call(
        session, emulator, "messages.edit", peer_id=USER, message_id=mine.message_id, message="b"
    )

    assert unknown["error"]["error_code"] == 100
    assert foreign["error"]["error_code"] == 920
    assert too_long["error"]["error_code"] == 914
    assert by_id == {"response": 1}
    assert mine.text == "b"


# ------------------------------------------------------------------- other methods, press()


async def test_send_message_event_answer_is_recorded(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    event = emulator.push_message_event(
        user_id=USER, peer_id=USER, payload={"step": "3.1"}, conversation_message_id=5
    )
    event_id = event["object"]["event_id"]
    data = json.dumps({"type": "show_snackbar", "text": "Принято"}, ensure_ascii=False)

    first = await call(
        session, emulator, "messages.sendMessageEventAnswer",
        event_id=event_id, user_id=USER, peer_id=USER, event_data=data,
    )  # fmt: skip
    await call(
        session, emulator, "messages.sendMessageEventAnswer",
        event_id=event_id, user_id=USER, peer_id=USER,
    )  # fmt: skip

    assert first == {"response": 1}
    assert re.fullmatch("[0-9a-f]{12}", event_id)
    assert emulator.event_answers[0] == {
        "event_id": event_id,
        "user_id": USER,
        "peer_id": USER,
        "event_data": {"type": "show_snackbar", "text": "Принято"},
        "known": True,
        "repeated": False,
    }
    assert emulator.event_answers[1]["repeated"] is True


async def test_users_get(emulator: VKEmulator, session: aiohttp.ClientSession) -> None:
    emulator.add_user(USER, "Магомед", "Алиев")

    body = await call(session, emulator, "users.get", user_ids=f"{USER},{OTHER_USER}")

    assert body["response"][0] == {
        "id": USER,
        "first_name": "Магомед",
        "last_name": "Алиев",
        "can_access_closed": True,
        "is_closed": False,
    }
    assert body["response"][1]["id"] == OTHER_USER
    assert body["response"][1]["first_name"]


async def test_get_conversation_members_and_917(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.add_user(900001, "Зарема", "Админова")
    emulator.add_chat(CHAT, [900001, USER])
    emulator.add_chat(CHAT + 1, [USER], bot_is_admin=False)

    body = await call(session, emulator, "messages.getConversationMembers", peer_id=CHAT)
    not_admin = await call(session, emulator, "messages.getConversationMembers", peer_id=CHAT + 1)
    unknown = await call(session, emulator, "messages.getConversationMembers", peer_id=CHAT + 9)

    members = body["response"]
    assert members["count"] == 3
    assert [i["member_id"] for i in members["items"]] == [900001, USER, -GROUP_ID]
    assert members["items"][0]["is_owner"] is True
    assert members["items"][2]["is_admin"] is True
    assert "is_admin" not in members["items"][1]
    assert [p["first_name"] for p in members["profiles"]] == ["Зарема", "Имя501234"]
    assert members["groups"][0]["id"] == GROUP_ID
    assert not_admin["error"]["error_code"] == 917
    assert unknown["error"]["error_code"] == 917


async def _sent_with_keyboard(
    emulator: VKEmulator, session: aiohttp.ClientSession, peer_id: int
) -> SentMessage:
    keyboard = inline_keyboard(
        [callback_button("Выполнено", {"step": "3.1", "state": "done"})],
        [text_button("Помощь", '{"cmd":"help"}')],
        [{"action": {"type": "open_link", "label": "Сайт", "link": "https://vk.com"}}],
    )
    await call(
        session, emulator, "messages.send", peer_id=peer_id, message="Шаг 3.1", random_id=0,
        keyboard=keyboard,
    )  # fmt: skip
    message = emulator.last_message_to(peer_id)
    assert message is not None
    return message


async def test_press_callback_button_pushes_message_event(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    message = await _sent_with_keyboard(emulator, session, CHAT)

    update = emulator.press(USER, message, "Выполнено")

    assert update["type"] == "message_event"
    assert update["object"]["user_id"] == USER
    assert update["object"]["peer_id"] == CHAT
    assert update["object"]["payload"] == {"step": "3.1", "state": "done"}
    assert update["object"]["conversation_message_id"] == message.conversation_message_id
    assert emulator.updates[-1] is update


async def test_press_text_button_pushes_message_new_with_payload_string(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    message = await _sent_with_keyboard(emulator, session, USER)

    text = emulator.press(USER, message, "Помощь")
    legacy = emulator.press(USER, message, "Выполнено", callback_supported=False)

    assert text["type"] == "message_new"
    assert text["object"]["message"]["text"] == "Помощь"
    assert text["object"]["message"]["payload"] == '{"cmd":"help"}'
    assert text["object"]["message"]["from_id"] == USER
    assert legacy["type"] == "message_new"
    assert json.loads(legacy["object"]["message"]["payload"]) == {"step": "3.1", "state": "done"}
    with pytest.raises(LookupError, match="Выполнено"):
        emulator.press(USER, message, "Нет такой")
    with pytest.raises(ValueError, match="open_link"):
        emulator.press(USER, message, "Сайт")


async def test_wait_for_times_out_with_what_happened(emulator: VKEmulator) -> None:
    with pytest.raises(TimeoutError, match="message #1 to 501234"):
        await emulator.wait_for_message(USER, timeout=0.1)


async def test_control_endpoints_push_and_list(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/_emulator/message_new"
    async with session.post(url, json={"from_id": USER, "text": "hi"}) as refused:
        assert refused.status == 403
    async with session.post(
        url, params={"access_token": TOKEN}, json={"from_id": USER, "text": "hi"}
    ) as response:
        update = await response.json()
    await call(session, emulator, "messages.send", peer_id=USER, message="a", random_id=0)
    async with session.get(
        f"{emulator.base_url}/_emulator/sent", params={"access_token": TOKEN, "peer_id": USER}
    ) as response:
        sent = await response.json()

    assert update["object"]["message"]["text"] == "hi"
    assert emulator.updates == [update]
    assert [m["text"] for m in sent] == ["a"]


# --------------------------------------------------------------------- the real vkbottle Bot


@asynccontextmanager
async def running(bot: Bot, emulator: VKEmulator) -> AsyncIterator[None]:
    """Run ``bot.run_polling()`` until the block ends, then stop it the way vkbottle allows."""
    task = asyncio.create_task(bot.run_polling())
    try:
        await emulator.wait_for(lambda: emulator.poll_requests, description="first long poll")
        yield
    finally:
        # polling.stop() only sets a flag checked between polls: release the pending poll too.
        bot.polling.stop()
        emulator.release_pollers()
        await asyncio.wait_for(task, 2.0)
        await bot.api.http_client.close()


def make_bot(emulator: VKEmulator) -> Bot:
    api = API(emulator.token, http_client=AiohttpClient())
    api.API_URL = emulator.api_url
    return Bot(api=api, polling=BotPolling(api, group_id=emulator.group_id))


async def test_real_vkbottle_bot_answers_ping(
    emulator: VKEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # BotPolling writes ./.vkbottle/bot-polling/<group>.json
    bot = make_bot(emulator)
    answers: list[Any] = []

    @bot.on.message(text="ping")
    async def ping(message: Message) -> None:
        answers.append(await message.answer("pong"))

    async with running(bot, emulator):
        emulator.push_message_new(from_id=USER, peer_id=USER, text="ping")
        pong = await emulator.wait_for_message(USER, contains="pong")
        await emulator.wait_for(lambda: answers)

    send = emulator.calls_to("messages.send")[0]
    assert send.params["peer_ids"] == str(USER)  # message.answer() sends peer_ids
    assert send.params["random_id"] == "0"
    assert answers[0].message_id == pong.message_id
    assert (tmp_path / ".vkbottle" / "bot-polling" / f"{GROUP_ID}.json").exists()


async def test_real_vkbottle_bot_handles_a_callback_press(
    emulator: VKEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    bot = make_bot(emulator)
    payloads: list[Any] = []
    handled: list[bool] = []

    @bot.on.raw_event(GroupEventType.MESSAGE_EVENT, dataclass=MessageEvent)
    async def on_press(event: MessageEvent) -> None:
        payloads.append(event.payload)
        await event.show_snackbar("Принято")
        await event.edit_message("Шаг 3.1 — выполнено")
        handled.append(True)

    keyboard = inline_keyboard([callback_button("Выполнено", {"step": "3.1"})])
    await bot.api.messages.send(peer_id=CHAT, message="Шаг 3.1", random_id=0, keyboard=keyboard)
    message = emulator.messages_to(CHAT)[0]

    async with running(bot, emulator):
        emulator.press(USER, message, "Выполнено")
        await emulator.wait_for(lambda: handled, description="callback handled")

    assert payloads == [{"step": "3.1"}]  # an object, not a JSON string
    assert emulator.event_answers[0]["event_data"] == {"type": "show_snackbar", "text": "Принято"}
    assert message.text == "Шаг 3.1 — выполнено"


async def test_vkbottle_send_with_peer_ids_cannot_parse_a_failed_item(
    emulator: VKEmulator,
) -> None:
    """vkbottle 4.11 requires message_id on every peer_ids item; VK omits it on failed ones.

    So ``message.answer()`` to a user who forbade messages raises pydantic's ValidationError,
    not VKAPIError[901]; ``api.messages.send(peer_id=...)`` raises VKAPIError[901].
    """
    emulator.set_allows_messages(OTHER_USER, False)
    api = API(emulator.token, http_client=AiohttpClient())
    api.API_URL = emulator.api_url
    try:
        with pytest.raises(pydantic.ValidationError):
            await api.messages.send(peer_ids=[OTHER_USER], message="x", random_id=0)
    finally:
        await api.http_client.close()


# ------------------------------------------------------------- VK's refusals, as on VK


@pytest.mark.parametrize(
    ("shape", "code"),
    [("privacy", 902), ("blacklist", 900), ("not allowed", 901)],
)
async def test_a_person_refuses_private_messages_for_each_of_vks_reasons(
    emulator: VKEmulator, session: aiohttp.ClientSession, shape: str, code: int
) -> None:
    if shape == "privacy":
        emulator.set_privacy_closed(OTHER_USER)
    elif shape == "blacklist":
        emulator.set_blacklisted(OTHER_USER)
    else:
        emulator.set_allows_messages(OTHER_USER, False)
    # Writing to the community lifts only 901: privacy settings and a blacklist stay.
    emulator.push_message_new(from_id=OTHER_USER, peer_id=OTHER_USER, text="hi")

    single = await call(
        session, emulator, "messages.send", peer_id=OTHER_USER, message="x", random_id=0
    )
    many = await call(
        session, emulator, "messages.send", peer_ids=f"{USER},{OTHER_USER}", message="x",
        random_id=0,
    )  # fmt: skip

    if code == 901:
        assert "response" in single
        return
    assert single["error"]["error_code"] == code
    assert many["response"][1]["error"]["code"] == code
    assert [m.peer_id for m in emulator.sent] == [USER]


async def test_a_chat_the_community_was_kicked_from_answers_error_7(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.add_chat(CHAT, [USER])
    emulator.add_chat(CHAT + 1, [USER])
    await call(session, emulator, "messages.send", peer_id=CHAT, message="до", random_id=0)
    card = emulator.messages_to(CHAT)[0]

    emulator.remove_community(CHAT)
    single = await call(session, emulator, "messages.send", peer_id=CHAT, message="x", random_id=0)
    many = await call(
        session, emulator, "messages.send", peer_ids=f"{CHAT},{CHAT + 1}", message="y",
        random_id=0,
    )  # fmt: skip
    edit = await call(
        session, emulator, "messages.edit", peer_id=CHAT,
        conversation_message_id=card.conversation_message_id, message="z",
    )  # fmt: skip
    members = await call(session, emulator, "messages.getConversationMembers", peer_id=CHAT)

    assert single["error"]["error_code"] == 7
    assert "kicked" in single["error"]["error_msg"]
    assert many["response"][0]["error"]["code"] == 7
    assert "error" not in many["response"][1]
    assert edit["error"]["error_code"] == 7
    assert members["error"]["error_code"] == 917
    assert [(m.peer_id, m.text) for m in emulator.sent] == [(CHAT, "до"), (CHAT + 1, "y")]

    emulator.return_community(CHAT)
    again = await call(session, emulator, "messages.send", peer_id=CHAT, message="x", random_id=0)
    assert "response" in again


async def test_conversation_members_come_20_at_a_time_unless_asked_for_more(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    people = [USER + n for n in range(44)]
    emulator.add_chat(CHAT, people)  # and the community: 45 members

    async def members(**params: Any) -> dict[str, Any]:
        return await call(
            session, emulator, "messages.getConversationMembers", peer_id=CHAT, **params
        )

    first = (await members())["response"]
    last = (await members(offset=40, count=20))["response"]
    whole = (await members(count=1000))["response"]
    too_many = await members(count=1001)

    assert first["count"] == last["count"] == whole["count"] == 45
    assert [i["member_id"] for i in first["items"]] == people[:20]
    assert [p["id"] for p in first["profiles"]] == people[:20]
    assert [i["member_id"] for i in last["items"]] == [*people[40:], -GROUP_ID]
    assert len(whole["items"]) == 45
    assert too_many["error"]["error_code"] == 100


class Wall:
    """The emulator's Unix time, moved by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


async def test_a_message_older_than_a_day_cannot_be_edited(
    session: aiohttp.ClientSession,
) -> None:
    wall = Wall()
    async with VKEmulator(TOKEN, GROUP_ID, wall=wall) as emulator:
        await call(session, emulator, "messages.send", peer_id=USER, message="a", random_id=0)
        sent = emulator.messages_to(USER)[0]
        incoming = emulator.push_message_new(from_id=USER, peer_id=USER, text="hi")

        wall.now += 24 * 3600
        in_time = await call(
            session, emulator, "messages.edit", peer_id=USER,
            conversation_message_id=sent.conversation_message_id, message="b",
        )  # fmt: skip
        wall.now += 1
        too_old = await call(
            session, emulator, "messages.edit", peer_id=USER,
            conversation_message_id=sent.conversation_message_id, message="c",
        )  # fmt: skip

    assert sent.date == 1_700_000_000
    assert incoming["object"]["message"]["date"] == 1_700_000_000
    assert in_time == {"response": 1}
    assert too_old["error"]["error_code"] == 909
    assert sent.text == "b"


async def test_edit_takes_cmid_as_5_199_names_it(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    await call(session, emulator, "messages.send", peer_id=USER, message="a", random_id=0)
    sent = emulator.messages_to(USER)[0]

    body = await call(
        session, emulator, "messages.edit", peer_id=USER, cmid=sent.conversation_message_id,
        message="b",
    )  # fmt: skip

    assert body == {"response": 1}
    assert sent.text == "b"


async def test_pings_are_what_vk_would_notify_unless_mentions_are_disabled(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    text = "@all [id1|Павел] [club2|Сообщество] *id3 @durov, a@b.ru 2*3 @online"
    await call(session, emulator, "messages.send", peer_id=CHAT, message=text, random_id=0)
    await call(
        session, emulator, "messages.send", peer_id=CHAT, message=text, random_id=0,
        disable_mentions=1,
    )  # fmt: skip

    loud, quiet = emulator.messages_to(CHAT)
    assert loud.pings == ["all", "id1", "club2", "id3", "durov", "online"]
    assert quiet.pings == []


async def test_a_lone_surrogate_is_escaped_and_later_polls_still_work(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    emulator.push_message_new(from_id=USER, peer_id=USER, text="сломанный \ud83d смайлик")

    first = await poll(session, server)
    emulator.push_message_new(from_id=USER, peer_id=USER, text="дальше")
    second = await poll(session, server, ts=first["ts"])

    assert first["updates"][0]["object"]["message"]["text"] == "сломанный \ud83d смайлик"
    assert [u["object"]["message"]["text"] for u in second["updates"]] == ["дальше"]


async def test_a_revoked_token_is_error_5_and_ends_the_long_poll(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    waiting = asyncio.create_task(poll(session, server, wait=2))
    await emulator.wait_for(lambda: bool(emulator.poll_requests))

    emulator.revoke_token()

    assert await asyncio.wait_for(waiting, timeout=1) == {"failed": 2}
    body = await call(session, emulator, "groups.getLongPollServer", group_id=GROUP_ID)
    assert body["error"]["error_code"] == 5
