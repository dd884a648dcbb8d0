"""The MAX emulator's contract, over plain HTTP (no client of ours in between): MAX's wire
format and refusals as docs/MAX.md records them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.max_emulator import Faults, MaxEmulator

TOKEN = "contract-token"
HEAD = 501
DEPUTY = 502
CHAT = -70_000_000_001


class Clock:
    """The rate limits' window clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def emulator(clock: Clock) -> AsyncIterator[MaxEmulator]:
    async with MaxEmulator(TOKEN, monotonic=clock) as emu:
        emu.add_chat(CHAT, [HEAD, DEPUTY], title="Руководители")
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    emulator: MaxEmulator,
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: Any = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": token}
    params = {k: str(v) for k, v in (query or {}).items()}
    async with http.request(
        method, emulator.api_url + path, params=params, json=body, headers=headers
    ) as response:
        return response.status, await response.json()


def keyboard(*rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "inline_keyboard", "payload": {"buttons": list(rows)}}


def callback(text: str, payload: str = "{}") -> dict[str, Any]:
    return {"type": "callback", "text": text, "payload": payload}


# ------------------------------------------------------------------------------- the token


async def test_the_token_goes_in_the_authorization_header_as_it_is(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    assert await call(http, emulator, "GET", "/me", token=None) == (
        401,
        {"code": "verify.token", "message": "Invalid access_token"},
    )
    status, _ = await call(http, emulator, "GET", "/me", token=f"Bearer {TOKEN}")
    assert status == 401
    status, _ = await call(http, emulator, "GET", "/me", token=None, query={"access_token": TOKEN})
    assert status == 401
    status, me = await call(http, emulator, "GET", "/me")
    assert (status, me["user_id"], me["is_bot"]) == (200, emulator.bot_id, True)


# --------------------------------------------------------------------------------- messages


async def test_a_person_who_never_started_the_bot_has_no_dialog(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"text": "Здравствуйте"}
    assert await call(http, emulator, "POST", "/messages", query={"user_id": HEAD}, body=body) == (
        404,
        {"code": "chat.not.found", "message": "dialog.not.found"},
    )
    emulator.start_bot(HEAD, "SCHOOL1")
    status, answer = await call(
        http, emulator, "POST", "/messages", query={"user_id": HEAD}, body=body
    )
    assert status == 200
    message = answer["message"]
    assert message["body"]["text"] == "Здравствуйте"
    assert isinstance(message["body"]["mid"], str)
    assert message["body"]["seq"] == 1
    assert message["recipient"] == {
        "chat_id": emulator.dialog_of(HEAD),
        "chat_type": "dialog",
        "user_id": HEAD,
    }
    assert message["sender"]["is_bot"] is True

    emulator.stop_bot(HEAD)
    status, refusal = await call(
        http, emulator, "POST", "/messages", query={"user_id": HEAD}, body=body
    )
    assert (status, refusal["code"]) == (403, "chat.denied")
    assert "error.dialog.suspended" in refusal["message"]
    assert [u["update_type"] for u in emulator.updates] == ["bot_started", "bot_stopped"]
    assert emulator.updates[0]["payload"] == "SCHOOL1"


async def test_a_chat_the_bot_was_removed_from_denies_it(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"text": "Всем"}
    status, _ = await call(http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body)
    assert status == 200
    emulator.remove_bot(CHAT, by=HEAD)
    status, refusal = await call(
        http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body
    )
    assert (status, refusal["code"]) == (403, "chat.denied")
    status, refusal = await call(
        http, emulator, "POST", "/messages", query={"chat_id": -5}, body=body
    )
    assert (status, refusal["code"]) == (404, "chat.not.found")
    assert emulator.updates[-1]["update_type"] == "bot_removed"
    assert len(emulator.sent) == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"text": "я" * 4001}, "4000"),
        ({"text": "", "attachments": []}, "no text"),
        ({"text": "x", "attachments": [keyboard([callback(f"{n}") for n in range(8)])]}, "Row"),
        ({"text": "x", "attachments": [keyboard(*[[callback("a")]] * 31)]}, "maxRows"),
        ({"text": "x", "attachments": [keyboard([callback("я" * 129)])]}, "128"),
        ({"text": "x", "attachments": [keyboard([callback("a", "p" * 1025)])]}, "1024"),
        ({"text": "x", "attachments": [{"type": "inline_keyboard", "payload": {}}]}, "rows"),
        ({"text": "x", "format": "bbcode"}, "format"),
    ],
)
async def test_a_body_max_cannot_take_is_proto_payload(
    emulator: MaxEmulator, http: aiohttp.ClientSession, body: dict[str, Any], detail: str
) -> None:
    status, refusal = await call(
        http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body
    )
    assert (status, refusal["code"]) == (400, "proto.payload")
    assert detail in refusal["message"]
    assert emulator.sent == []


async def test_the_largest_body_max_takes_is_taken(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    rows = [[callback("я" * 128, "p" * 1024) for _ in range(7)] for _ in range(30)]
    body = {"text": "я" * 4000, "attachments": [keyboard(*rows)]}
    status, _ = await call(http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body)
    assert status == 200
    assert len(emulator.sent[0].buttons) == 210


async def test_a_message_goes_to_a_user_or_a_chat_never_both(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.start_bot(HEAD)
    for query in ({}, {"user_id": HEAD, "chat_id": CHAT}):
        status, refusal = await call(
            http, emulator, "POST", "/messages", query=query, body={"text": "x"}
        )
        assert (status, refusal["code"]) == (400, "proto.payload")


# ------------------------------------------------------------------------------ the limits


async def test_two_messages_a_second_to_one_chat(
    emulator: MaxEmulator, http: aiohttp.ClientSession, clock: Clock
) -> None:
    emulator.start_bot(HEAD)
    statuses = []
    for _ in range(3):
        status, answer = await call(
            http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "x"}
        )
        statuses.append(status)
    assert statuses == [200, 200, 429]
    assert answer["code"] == "too.many.requests"
    # Another conversation is not held up by this one.
    status, _ = await call(
        http, emulator, "POST", "/messages", query={"user_id": HEAD}, body={"text": "y"}
    )
    assert status == 200
    clock.now += 1.0
    status, _ = await call(
        http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "x"}
    )
    assert status == 200
    assert len(emulator.sent) == 4
    assert emulator.refused_429 == 1


async def test_thirty_requests_a_second_per_bot(
    emulator: MaxEmulator, http: aiohttp.ClientSession, clock: Clock
) -> None:
    statuses = [(await call(http, emulator, "GET", "/me"))[0] for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    clock.now += 1.0
    assert (await call(http, emulator, "GET", "/me"))[0] == 200


# ---------------------------------------------------------------------- buttons and edits


async def test_a_call_can_run_and_lose_its_answer(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.drop_after_next("POST", "/messages")
    with pytest.raises(aiohttp.ClientError):
        await call(
            http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "a"}
        )
    status, _ = await call(
        http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "b"}
    )
    assert status == 200
    assert [m.text for m in emulator.sent] == ["a", "b"]  # the first ran all the same


async def test_at_most_two_answers_a_second_to_one_chat(
    emulator: MaxEmulator, http: aiohttp.ClientSession, clock: Clock
) -> None:
    """POST /answers on dev.max.ru: «не более двух ответов в секунду в один диалог, групповой
    чат или канал»; the emulator counts them with the messages to that chat."""
    body = {"text": "Карточка", "attachments": [keyboard([callback("Отчитаться")])]}
    status, _ = await call(http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body)
    assert status == 200
    clock.now += 1.0
    presses = [emulator.press(HEAD, emulator.sent[0], "Отчитаться") for _ in range(3)]
    statuses = []
    for press in presses:
        status, _ = await call(
            http,
            emulator,
            "POST",
            "/answers",
            query={"callback_id": press["callback"]["callback_id"]},
            body={},
        )
        statuses.append(status)
    assert statuses == [200, 200, 429]
    clock.now += 1.0
    status, _ = await call(
        http,
        emulator,
        "POST",
        "/answers",
        query={"callback_id": presses[2]["callback"]["callback_id"]},
        body={},
    )
    assert status == 200


async def test_a_press_is_a_message_callback_answered_by_post_answers(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.start_bot(HEAD)
    body = {
        "text": "Карточка",
        "attachments": [keyboard([callback("Отчитаться", '{"a":"card"}')])],
    }
    status, answer = await call(
        http, emulator, "POST", "/messages", query={"user_id": HEAD}, body=body
    )
    assert status == 200
    sent = emulator.sent[0]
    update = emulator.press(HEAD, sent, "Отчитаться")

    assert update["update_type"] == "message_callback"
    assert update["callback"]["payload"] == '{"a":"card"}'
    assert update["callback"]["user"]["user_id"] == HEAD
    assert update["message"]["body"]["mid"] == answer["message"]["body"]["mid"]
    callback_id = update["callback"]["callback_id"]

    status, ok = await call(
        http,
        emulator,
        "POST",
        "/answers",
        query={"callback_id": callback_id},
        body={"notification": "Принято"},
    )
    assert (status, ok) == (200, {"success": True})
    assert emulator.answers[0]["notification"] == "Принято"
    status, refusal = await call(
        http, emulator, "POST", "/answers", query={"callback_id": "nope"}, body={}
    )
    assert (status, refusal["code"]) == (404, "not.found")
    with pytest.raises(LookupError):
        emulator.press(HEAD, sent, "Нет такой")


async def test_put_messages_edits_and_an_empty_list_removes_the_keyboard(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"text": "старая", "attachments": [keyboard([callback("Кнопка")])]}
    _, answer = await call(http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body)
    mid = answer["message"]["body"]["mid"]

    status, ok = await call(
        http, emulator, "PUT", "/messages", query={"message_id": mid}, body={"text": "новая"}
    )
    assert (status, ok) == (200, {"success": True})
    assert (emulator.sent[0].text, emulator.sent[0].labels) == ("новая", ["Кнопка"])
    await call(
        http,
        emulator,
        "PUT",
        "/messages",
        query={"message_id": mid},
        body={"text": "новая", "attachments": []},
    )
    assert emulator.sent[0].labels == []
    assert emulator.sent[0].versions == ["старая", "новая"]
    status, refusal = await call(
        http, emulator, "PUT", "/messages", query={"message_id": "mid.x"}, body={"text": "z"}
    )
    assert (status, refusal["code"]) == (404, "not.found")


async def test_get_messages_reads_a_chat_back_newest_first(
    emulator: MaxEmulator, http: aiohttp.ClientSession, clock: Clock
) -> None:
    for text in ("раз", "два", "три"):
        await call(
            http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": text}
        )
        clock.now += 1.0
    emulator.write(HEAD, "от человека", chat_id=CHAT)
    status, answer = await call(
        http, emulator, "GET", "/messages", query={"chat_id": CHAT, "count": 3}
    )
    assert status == 200
    assert [m["body"]["text"] for m in answer["messages"]] == ["от человека", "три", "два"]
    assert answer["messages"][1]["sender"]["user_id"] == emulator.bot_id


# ---------------------------------------------------------------------------- long polling


async def test_long_polling_commits_what_came_before_the_marker(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.start_bot(HEAD, "CODE")
    emulator.write(HEAD, "привет")

    status, page = await call(http, emulator, "GET", "/updates", query={"timeout": 0})
    assert status == 200
    assert [u["update_type"] for u in page["updates"]] == ["bot_started", "message_created"]
    assert page["marker"] == 2
    # Without a marker nothing was committed yet: the same page again.
    _, again = await call(http, emulator, "GET", "/updates", query={"timeout": 0})
    assert again == page

    waiting = asyncio.create_task(
        call(http, emulator, "GET", "/updates", query={"marker": 2, "timeout": 5})
    )
    await emulator.wait_for(lambda: len(emulator.calls) == 2 and not waiting.done())
    emulator.write(DEPUTY, "второй")
    status, page = await waiting
    assert [u["message"]["body"]["text"] for u in page["updates"]] == ["второй"]
    assert page["marker"] == 3
    # Marker 2 committed the first two: a poll without a marker starts after them.
    _, rest = await call(http, emulator, "GET", "/updates", query={"timeout": 0})
    assert [u["update_type"] for u in rest["updates"]] == ["message_created"]
    _, limited = await call(
        http, emulator, "GET", "/updates", query={"timeout": 0, "limit": 1, "marker": 0}
    )
    assert (len(limited["updates"]), limited["marker"]) == (1, 1)
    status, _ = await call(http, emulator, "GET", "/updates", query={"timeout": 91})
    assert status == 400


# ------------------------------------------------------------------------------- webhooks


class Receiver:
    """The bot's side of a webhook: answers with the statuses it is given, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.got: list[tuple[str | None, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((request.headers.get("X-Max-Bot-Api-Secret"), await request.json()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    got = Receiver([])
    app = web.Application()
    app.router.add_post("/max", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield got, f"http://127.0.0.1:{port}/max"
    finally:
        await runner.cleanup()


async def test_a_webhook_carries_the_secret_and_is_retried_until_200(
    emulator: MaxEmulator, http: aiohttp.ClientSession, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    got.statuses = [500, 503]
    status, ok = await call(
        http, emulator, "POST", "/subscriptions", body={"url": url, "secret": "s3cret_key"}
    )
    assert (status, ok) == (200, {"success": True})
    emulator.write(HEAD, "раз")
    emulator.write(HEAD, "два")

    await emulator.wait_for(lambda: len(got.got) == 4)
    assert [secret for secret, _ in got.got] == ["s3cret_key"] * 4
    texts = [u["message"]["body"]["text"] for _, u in got.got]
    assert texts == ["раз", "раз", "раз", "два"]
    assert emulator.deliveries == [(0, 500), (0, 503), (0, 200), (1, 200)]
    # One way or the other: long polling is refused while a webhook is set.
    status, refusal = await call(http, emulator, "GET", "/updates", query={"timeout": 0})
    assert (status, refusal["code"]) == (405, "method.not.allowed")
    _, subs = await call(http, emulator, "GET", "/subscriptions")
    assert [s["url"] for s in subs["subscriptions"]] == [url]


async def test_a_webhook_can_deliver_an_update_twice(
    emulator: MaxEmulator, http: aiohttp.ClientSession, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    await call(http, emulator, "POST", "/subscriptions", body={"url": url, "secret": "abcde"})
    emulator.duplicate_next()
    emulator.write(HEAD, "один раз")
    emulator.write(HEAD, "следом")
    await emulator.wait_for(lambda: len(got.got) == 3)
    first, second, _ = (update for _, update in got.got)
    assert first == second
    assert got.got[2][1]["message"]["body"]["text"] == "следом"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://bot.example/max", "secret": "bad secret!"},
        {"url": "https://bot.example/max", "secret": "abcd"},
        {"url": "http://bot.example/max", "secret": "abcde"},
        {"secret": "abcde"},
    ],
)
async def test_a_subscription_needs_https_and_a_well_formed_secret(
    emulator: MaxEmulator, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, refusal = await call(http, emulator, "POST", "/subscriptions", body=body)
    assert (status, refusal["code"]) == (400, "proto.payload")


async def test_unsubscribing_gives_long_polling_back_from_where_webhooks_stopped(
    emulator: MaxEmulator, http: aiohttp.ClientSession, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    await call(http, emulator, "POST", "/subscriptions", body={"url": url})
    emulator.write(HEAD, "по вебхуку")
    await emulator.wait_for(lambda: len(got.got) == 1)
    assert got.got[0][0] is None  # no secret set, no header
    await call(http, emulator, "DELETE", "/subscriptions", query={"url": url})
    emulator.write(HEAD, "опросом")
    _, page = await call(http, emulator, "GET", "/updates", query={"timeout": 0})
    assert [u["message"]["body"]["text"] for u in page["updates"]] == ["опросом"]


# --------------------------------------------------------------------- members and files


async def test_chat_members_are_shown_to_an_admin_bot_only(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    status, page = await call(http, emulator, "GET", f"/chats/{CHAT}/members", query={"count": 1})
    assert status == 200
    assert [m["user_id"] for m in page["members"]] == [HEAD]
    assert page["members"][0]["is_owner"] is True
    _, rest = await call(
        http,
        emulator,
        "GET",
        f"/chats/{CHAT}/members",
        query={"count": 1, "marker": page["marker"]},
    )
    assert [m["user_id"] for m in rest["members"]] == [DEPUTY]
    assert rest["marker"] is None
    emulator.add_chat(-9, [HEAD], bot_is_admin=False)
    status, refusal = await call(http, emulator, "GET", "/chats/-9/members")
    assert (status, refusal["code"]) == (403, "chat.denied")


async def test_a_file_is_uploaded_then_sent_by_its_token_once_processed(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    status, endpoint = await call(http, emulator, "POST", "/uploads", query={"type": "file"})
    assert status == 200
    form = aiohttp.FormData()
    form.add_field("data", b"PK\x03\x04 report", filename="report.xlsx")
    async with http.post(endpoint["url"], data=form) as response:
        assert response.status == 200
        token = (await response.json())["token"]
    assert emulator.uploads[token] == ("file", "report.xlsx", b"PK\x03\x04 report")

    emulator.not_ready_times(token, 1)
    body = {"text": "Отчёт", "attachments": [{"type": "file", "payload": {"token": token}}]}
    status, refusal = await call(
        http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body
    )
    assert (status, refusal["code"]) == (400, "attachment.not.ready")
    status, _ = await call(http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body=body)
    assert status == 200
    assert emulator.sent[0].attachments[0]["payload"]["token"] == token
    status, _ = await call(http, emulator, "POST", "/uploads", query={"type": "photo"})
    assert status == 400


# --------------------------------------------------------------------------------- faults


async def test_a_dropped_answer_still_sent_the_message(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.faults = Faults(drop_after_rate=1.0)
    with pytest.raises(aiohttp.ClientError):
        await call(
            http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "x"}
        )
    assert [m.text for m in emulator.sent] == ["x"]
    assert emulator.calls[-1].fault == "drop_after"


async def test_fail_next_refuses_the_next_calls_and_stats_count_them(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.fail_next("/messages", 503, "service.unavailable", times=2)
    statuses = [
        (
            await call(
                http, emulator, "POST", "/messages", query={"chat_id": CHAT}, body={"text": "x"}
            )
        )[0]
        for _ in range(2)
    ]
    assert statuses == [503, 503]
    assert emulator.sent == []
    async with http.get(
        emulator.api_url + "/_emulator/stats", headers={"Authorization": TOKEN}
    ) as response:
        stats = json.loads(await response.text())
    assert stats["calls"] == {"POST /messages": 2}
    assert stats["sent"] == 0


async def test_control_endpoints_drive_the_world_from_another_process(
    emulator: MaxEmulator, http: aiohttp.ClientSession
) -> None:
    async def control(path: str, body: dict[str, Any], token: str = TOKEN) -> tuple[int, Any]:
        async with http.post(
            emulator.api_url + path, json=body, headers={"Authorization": token}
        ) as response:
            return response.status, await response.json() if response.status == 200 else None

    assert (await control("/_emulator/start", {"user_id": HEAD}, token="wrong"))[0] == 401
    status, started = await control("/_emulator/start", {"user_id": HEAD, "payload": "CODE"})
    assert (status, started["payload"]) == (200, "CODE")
    status, wrote = await control("/_emulator/write", {"user_id": HEAD, "text": "помощь"})
    assert (status, wrote["message"]["body"]["text"]) == (200, "помощь")
    body = {"text": "Карточка", "attachments": [keyboard([callback("Отчитаться", "p")])]}
    _, answer = await call(http, emulator, "POST", "/messages", query={"user_id": HEAD}, body=body)
    mid = answer["message"]["body"]["mid"]
    status, pressed = await control(
        "/_emulator/press", {"user_id": HEAD, "mid": mid, "label": "Отчитаться"}
    )
    assert (status, pressed["callback"]["payload"]) == (200, "p")
    assert (await control("/_emulator/press", {"user_id": HEAD, "mid": mid, "label": "x"}))[
        0
    ] == 400
    assert (await control("/_emulator/press", {"user_id": HEAD, "mid": "no", "label": "x"}))[
        0
    ] == 404
    async with http.get(
        emulator.api_url + "/_emulator/sent", headers={"Authorization": TOKEN}
    ) as response:
        sent = await response.json()
    assert [m["body"]["mid"] for m in sent] == [mid]
    assert [u["update_type"] for u in emulator.updates] == [
        "bot_started",
        "message_created",
        "message_callback",
    ]
