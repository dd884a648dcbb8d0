"""The emulator's ``execute``: VKScript batches over real loopback HTTP, as VK answers them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.vk_emulator import (
    CHAT_PEER_OFFSET,
    MAX_EXECUTE_CALLS,
    Faults,
    VKEmulator,
    VKScriptError,
    parse_execute_code,
)
from tests.test_emulator_faults import DROPPED, FakeMonotonic

TOKEN = "execute-token"
GROUP_ID = 77
USER = 501_234
OTHER_USER = 501_999
CHAT = CHAT_PEER_OFFSET + 1


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, max_wait=2.0, monotonic=FakeMonotonic()) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def api(method: str, **params: Any) -> str:
    """One ``API.group.method({...})`` call, its arguments as the bot writes them."""
    return f"API.{method}({json.dumps(params, ensure_ascii=False, separators=(',', ':'))})"


def batch(*calls: str) -> str:
    return "return [" + ",".join(calls) + "];"


def send(peer_id: int, message: str, random_id: int = 0, **more: Any) -> str:
    return api("messages.send", peer_id=peer_id, message=message, random_id=random_id, **more)


async def post(
    session: aiohttp.ClientSession,
    emulator: VKEmulator,
    method: str,
    *,
    token: str = TOKEN,
    version: bool = True,
    **params: str,
) -> dict[str, Any]:
    """POST a method the way vkbottle does: token and v in the query, the rest form-encoded."""
    query = {"access_token": token}
    if version:
        query["v"] = "5.199"
    async with session.post(emulator.api_url + method, params=query, data=params) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def execute(
    session: aiohttp.ClientSession, emulator: VKEmulator, code: str, **kwargs: Any
) -> dict[str, Any]:
    return await post(session, emulator, "execute", code=code, **kwargs)


def error_code(body: dict[str, Any]) -> int | None:
    return int(body["error"]["error_code"]) if "error" in body else None


# --------------------------------------------------------------------------- the batch


async def test_sends_edits_and_answers_run_in_order_as_one_request(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    event = emulator.push_message_event(
        user_id=USER, peer_id=CHAT, payload={"cmd": "ok"}, conversation_message_id=1
    )
    event_id = event["object"]["event_id"]
    # Strings hold what would end a naive parse: brackets, semicolons, quotes, commas.
    tricky = 'Привет); ]; "API.x.y({})", \\ конец'
    keyboard = json.dumps(
        {"inline": True, "buttons": [[{"action": {"type": "text", "label": "Да"}}]]},
        ensure_ascii=False,
    )
    code = batch(
        api("messages.send", peer_ids=str(USER), message=tricky, random_id=12_345),
        send(CHAT, "в беседу"),
        api(
            "messages.edit",
            peer_id=CHAT,
            conversation_message_id=1,
            message="изменено",
            keyboard=keyboard,
        ),
        api("messages.sendMessageEventAnswer", event_id=event_id, user_id=USER, peer_id=CHAT),
        send(USER, "второе"),
    )

    body = await execute(session, emulator, code)

    first, second = emulator.messages_to(USER)
    chat_message = emulator.messages_to(CHAT)[0]
    assert body == {
        "response": [
            [{"peer_id": USER, "message_id": first.message_id, "conversation_message_id": 1}],
            0,  # a community sees message id 0 in chats
            1,
            1,
            second.message_id,
        ]
    }
    assert "execute_errors" not in body
    assert [m.text for m in emulator.sent] == [tricky, "изменено", "второе"]
    assert first.random_id == 12_345
    assert [v.text for v in chat_message.history] == ["в беседу"]  # sent, then edited
    assert chat_message.labels == ["Да"]
    assert [a["event_id"] for a in emulator.event_answers] == [event_id]

    # Each call inside is a Call of its own, recorded before the execute request's.
    assert [(c.method, c.via_execute) for c in emulator.calls] == [
        ("messages.send", True),
        ("messages.send", True),
        ("messages.edit", True),
        ("messages.sendMessageEventAnswer", True),
        ("messages.send", True),
        ("execute", False),
    ]
    outer = emulator.calls[-1]
    assert outer.ok
    assert outer.params["code"] == code
    assert outer.response == body["response"]
    assert emulator.calls[0].params == {
        "peer_ids": str(USER),
        "message": tricky,
        "random_id": "12345",
    }
    assert len(emulator.calls_to("messages.send")) == 3


async def test_arguments_reach_handlers_as_form_strings(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(
        api(
            "messages.send",
            peer_ids=[USER, CHAT],
            message="x",
            random_id=0,
            dont_parse_links=True,
            disable_mentions=False,
            payload={"cmd": "a"},
            attachment=None,
        )
    )

    body = await execute(session, emulator, code)

    assert [item["peer_id"] for item in body["response"][0]] == [USER, CHAT]
    assert emulator.calls[0].params == {
        "peer_ids": f"{USER},{CHAT}",
        "message": "x",
        "random_id": "0",
        "dont_parse_links": "1",
        "disable_mentions": "0",
        "payload": '{"cmd":"a"}',
    }
    assert emulator.sent[0].payload == '{"cmd":"a"}'


async def test_single_call_form_answers_the_value_itself(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    ok = await execute(session, emulator, f'return API.users.get({{"user_ids":"{USER}"}});')
    sent = await execute(session, emulator, "return " + send(USER, "один") + ";")
    spaced = await execute(session, emulator, "  return  API . users . get ( ) ;  ")
    emulator.fail_next("messages.send", 901)
    failed = await execute(session, emulator, "return " + send(USER, "нет") + ";")

    assert ok == {"response": [profile(emulator, USER)]}
    assert sent == {"response": emulator.messages_to(USER)[0].message_id}
    assert spaced == {"response": []}
    assert failed == {
        "response": False,
        "execute_errors": [
            {
                "method": "messages.send",
                "error_code": 901,
                "error_msg": "Can't send messages for users without permission",
            }
        ],
    }
    assert [m.text for m in emulator.sent] == ["один"]


def profile(emulator: VKEmulator, user_id: int) -> dict[str, Any]:
    first, last = emulator.user_name(user_id)
    return {
        "id": user_id,
        "first_name": first,
        "last_name": last,
        "can_access_closed": True,
        "is_closed": False,
    }


async def test_an_empty_batch_runs_nothing(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    assert await execute(session, emulator, "return [];") == {"response": []}
    assert [c.method for c in emulator.calls] == ["execute"]


# ------------------------------------------------------------------------ errors inside


async def test_a_failed_call_is_false_with_execute_errors_and_the_rest_run(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.fail_next("messages.send", 901)
    code = batch(
        send(USER, "первое"),  # takes the injected 901
        send(USER, "второе"),
        api("messages.send", peer_id=USER, message="", random_id=0),  # error 100
        api("messages.frobnicate", peer_id=USER),  # error 3
        send(USER, "третье"),
    )

    body = await execute(session, emulator, code)

    second, third = emulator.messages_to(USER)
    assert body["response"] == [False, second.message_id, False, False, third.message_id]
    assert body["execute_errors"] == [
        {
            "method": "messages.send",
            "error_code": 901,
            "error_msg": "Can't send messages for users without permission",
        },
        {
            "method": "messages.send",
            "error_code": 100,
            "error_msg": (
                "One of the parameters specified was missing or invalid: "
                "message is empty or invalid"
            ),
        },
        {"method": "messages.frobnicate", "error_code": 3, "error_msg": "Unknown method passed"},
    ]
    assert list(body) == ["response", "execute_errors"]
    assert [m.text for m in emulator.sent] == ["второе", "третье"]
    inner = [c for c in emulator.calls if c.via_execute]
    assert [c.error_code for c in inner] == [901, None, 100, 3, None]
    assert inner[0].error == body["execute_errors"][0]
    assert emulator.calls[-1].method == "execute"
    assert emulator.calls[-1].ok


async def test_error_rate_strikes_calls_inside_by_their_own_name(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(error_rate={"messages.send": 1.0}, error_codes=(10,)))
    code = batch(send(USER, "a"), api("users.get", user_ids=str(USER)), send(USER, "b"))

    body = await execute(session, emulator, code)

    assert body["response"][0] is False
    assert body["response"][1] == [profile(emulator, USER)]
    assert body["response"][2] is False
    assert [e["error_code"] for e in body["execute_errors"]] == [10, 10]
    assert [e["error_msg"] for e in body["execute_errors"]] == ["Internal server error"] * 2
    assert emulator.sent == []
    assert emulator.fault_counts["error"] == 2
    assert [c.fault for c in emulator.calls] == ["error", None, "error", None]


async def test_faults_for_execute_itself_strike_the_whole_request(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(send(USER, "a"), send(USER, "b"))

    emulator.fail_next("execute", 10)
    injected = await execute(session, emulator, code)
    emulator.set_faults(Faults(error_rate={"*": 1.0}, error_codes=(9,)))
    drawn = await execute(session, emulator, code)

    assert error_code(injected) == 10
    assert error_code(drawn) == 9
    assert {"key": "method", "value": "execute"} in drawn["error"]["request_params"]
    assert emulator.sent == []
    assert [(c.method, c.error_code) for c in emulator.calls] == [("execute", 10), ("execute", 9)]


async def test_peer_ids_errors_stay_per_item_inside_execute(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.add_user(OTHER_USER, "Иван", "Петров", allows_messages=False)
    code = batch(
        api("messages.send", peer_ids=f"{USER},{OTHER_USER}", message="всем", random_id=0),
        send(OTHER_USER, "лично"),
    )

    body = await execute(session, emulator, code)

    many, single = body["response"]
    assert many == [
        {
            "peer_id": USER,
            "message_id": emulator.messages_to(USER)[0].message_id,
            "conversation_message_id": 1,
        },
        {
            "peer_id": OTHER_USER,
            "error": {
                "code": 901,
                "description": "Can't send messages for users without permission",
            },
        },
    ]
    assert single is False
    assert body["execute_errors"] == [
        {
            "method": "messages.send",
            "error_code": 901,
            "error_msg": "Can't send messages for users without permission",
        }
    ]
    assert [m.peer_id for m in emulator.sent] == [USER]


async def test_917_inside_execute(emulator: VKEmulator, session: aiohttp.ClientSession) -> None:
    emulator.add_chat(CHAT, [USER], bot_is_admin=False)

    body = await execute(
        session, emulator, batch(api("messages.getConversationMembers", peer_id=CHAT))
    )

    assert body == {
        "response": [False],
        "execute_errors": [
            {
                "method": "messages.getConversationMembers",
                "error_code": 917,
                "error_msg": "You don't have access to this chat",
            }
        ],
    }


# ----------------------------------------------------------------------- random_id


async def test_random_id_deduplicates_across_executes(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(
        send(USER, "карточка", random_id=501),
        send(CHAT, "в беседу", random_id=502),
        api("messages.send", peer_ids=f"{OTHER_USER}", message="список", random_id=503),
    )

    first = await execute(session, emulator, code)
    again = await execute(session, emulator, code)

    assert again == first
    assert [m.text for m in emulator.sent] == ["карточка", "в беседу", "список"]
    assert len(emulator.calls_to("messages.send")) == 6


async def test_an_execute_lost_after_it_ran_is_resent_without_duplicates(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(send(USER, "a", random_id=1), send(USER, "b", random_id=2))

    with emulator.using_faults(Faults(drop_after_rate=1.0)), pytest.raises(DROPPED):
        await execute(session, emulator, code)
    assert [m.text for m in emulator.sent] == ["a", "b"]  # it ran; the answer was lost
    lost = emulator.calls[-1]
    assert (lost.method, lost.fault) == ("execute", "drop_after")
    assert lost.error is not None
    assert lost.error["dropped_answer"]["response"] == [m.message_id for m in emulator.sent]

    resent = await execute(session, emulator, code)

    assert resent == {"response": [m.message_id for m in emulator.sent]}
    assert [m.text for m in emulator.sent] == ["a", "b"]


# ----------------------------------------------------------------- errors of the whole


async def test_more_than_25_calls_is_error_13_and_nothing_runs(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    too_many = batch(*(send(USER, f"m{i}") for i in range(MAX_EXECUTE_CALLS + 1)))
    enough = batch(*(send(USER, f"m{i}") for i in range(MAX_EXECUTE_CALLS)))

    rejected = await execute(session, emulator, too_many)
    assert error_code(rejected) == 13
    assert rejected["error"]["error_msg"] == (
        "Runtime error occurred during code invocation: Too many API calls"
    )
    assert emulator.sent == []
    assert [c.method for c in emulator.calls] == ["execute"]

    accepted = await execute(session, emulator, enough)
    assert len(accepted["response"]) == MAX_EXECUTE_CALLS
    assert len(emulator.sent) == MAX_EXECUTE_CALLS


@pytest.mark.parametrize(
    "code",
    [
        "garbage",
        "return;",
        "API.users.get({});",  # no return
        'return [API.users.get({"user_ids":"1"})',  # no ]
        'return [API.users.get({"user_ids":"1"}),];',
        'return API.users.get({user_ids: "1"});',  # VKScript allows it; the subset does not
        'return API.users.get(["1"]);',
        'return API.users.get({"user_ids":NaN});',
        'return API.users.get({"user_ids":"1");',
        'return API.users({"user_ids":"1"});',
        'return API.users.get({"user_ids":"1"}); return 1;',
        'var a = API.users.get({"user_ids":"1"}); return a;',
        'returnAPI.users.get({"user_ids":"1"});',
        'return API.users.get({"user_ids":"1"})+1;',
    ],
)
async def test_code_outside_the_subset_is_error_12(
    emulator: VKEmulator, session: aiohttp.ClientSession, code: str
) -> None:
    body = await execute(session, emulator, code)

    assert error_code(body) == 12
    assert body["error"]["error_msg"].startswith("Unable to compile code: ")
    assert [c.method for c in emulator.calls] == ["execute"]


async def test_execute_checks_token_version_and_code_like_any_method(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(send(USER, "a"))

    wrong_token = await execute(session, emulator, code, token="nope")
    no_version = await execute(session, emulator, code, version=False)
    no_code = await post(session, emulator, "execute")

    assert error_code(wrong_token) == 5
    assert error_code(no_version) == 8
    assert error_code(no_code) == 100
    assert emulator.sent == []
    assert all("access_token" not in c.params for c in emulator.calls)


# ------------------------------------------------------------------- one request


async def test_the_rate_limit_counts_an_execute_once(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(rate_limit=2))
    code = batch(*(send(USER, "x") for _ in range(10)))

    first = await execute(session, emulator, code)
    second = await execute(session, emulator, code)
    third = await execute(session, emulator, code)

    assert len(first["response"]) == len(second["response"]) == 10
    assert error_code(third) == 6
    assert len(emulator.sent) == 20
    assert emulator.rate_limited == 1
    async with session.get(
        f"{emulator.base_url}/_emulator/stats", params={"access_token": TOKEN}
    ) as response:
        stats = await response.json()
    assert stats["calls"] == {"messages.send": 20, "execute": 3}
    assert stats["requests"] == {"execute": 3}
    assert stats["errors"] == {"6": 1}
    assert stats["sent"] == 20


async def test_request_faults_strike_an_execute_once(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    code = batch(send(USER, "a"), send(USER, "b"))

    with emulator.using_faults(Faults(drop_rate=1.0)), pytest.raises(DROPPED):
        await execute(session, emulator, code)
    with emulator.using_faults(Faults(http_5xx_rate=1.0, http_5xx_statuses=(502,))):
        async with session.post(
            emulator.api_url + "execute",
            params={"access_token": TOKEN, "v": "5.199"},
            data={"code": code},
        ) as response:
            assert response.status == 502

    assert emulator.sent == []
    assert [(c.method, c.fault) for c in emulator.calls] == [
        ("execute", "drop"),
        ("execute", "http_5xx"),
    ]
    assert emulator.fault_counts["drop"] == emulator.fault_counts["http_5xx"] == 1


async def test_direct_calls_are_unchanged(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    body = await post(
        session, emulator, "messages.send", peer_id=str(USER), message="a", random_id="0"
    )

    assert body == {"response": emulator.sent[0].message_id}
    assert [(c.method, c.via_execute) for c in emulator.calls] == [("messages.send", False)]


# --------------------------------------------------------------------------- the parser


def test_parse_execute_code_reads_the_subset() -> None:
    script = parse_execute_code(
        'return [API.messages.send({"message":"a)];\\"b","random_id":1}),API.users.get()];'
    )

    assert script.returns_list
    assert script.calls == (
        ("messages.send", {"message": 'a)];"b', "random_id": 1}),
        ("users.get", {}),
    )
    single = parse_execute_code('return API.users.get({"user_ids":"1"})')
    assert not single.returns_list
    assert single.calls == (("users.get", {"user_ids": "1"}),)
    with pytest.raises(VKScriptError, match="expected at the end of the code"):
        parse_execute_code("return [")
