"""The emulator's bulk control endpoints: POST /_emulator/updates and GET /_emulator/stats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.vk_emulator import VKEmulator

TOKEN = "control-token"
GROUP_ID = 4321
USER = 501_234


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, max_wait=1.0) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def send(session: aiohttp.ClientSession, emulator: VKEmulator, **params: Any) -> Any:
    data = {"v": "5.199", "access_token": TOKEN, **{k: str(v) for k, v in params.items()}}
    async with session.post(emulator.api_url + "messages.send", data=data) as response:
        return await response.json()


async def push(
    session: aiohttp.ClientSession, emulator: VKEmulator, updates: Any, token: str = TOKEN
) -> tuple[int, Any]:
    url = f"{emulator.base_url}/_emulator/updates"
    async with session.post(url, params={"access_token": token}, json=updates) as response:
        body = await response.json() if response.status == 200 else await response.text()
        return response.status, body


async def stats(
    session: aiohttp.ClientSession, emulator: VKEmulator, **query: str
) -> tuple[int, Any]:
    url = f"{emulator.base_url}/_emulator/stats"
    async with session.get(url, params={"access_token": TOKEN, **query}) as response:
        body = await response.json() if response.status == 200 else await response.text()
        return response.status, body


async def test_updates_queues_a_batch_and_presses_the_last_message(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    await send(session, emulator, peer_id=USER, message="карточка", random_id=1)
    await send(session, emulator, peer_id=USER, message="ещё", random_id=2)
    last = emulator.sent[-1]
    status, body = await push(
        session,
        emulator,
        [
            {"type": "message_new", "from_id": USER, "text": "3.1 выполнено"},
            {"type": "message_event", "user_id": USER, "payload": {"a": "x"}},
            {
                "type": "message_event",
                "user_id": USER,
                "peer_id": USER,
                "payload": {"a": "y"},
                "conversation_message_id": 1,
            },
        ],
    )
    assert status == 200
    assert body == {"queued": 3, "ts": str(emulator.ts)}
    new, pressed, explicit = emulator.updates[-3:]
    assert new["type"] == "message_new"
    assert new["object"]["message"]["text"] == "3.1 выполнено"
    assert new["object"]["message"]["peer_id"] == USER
    assert pressed["type"] == "message_event"
    assert pressed["object"]["conversation_message_id"] == last.conversation_message_id
    assert pressed["object"]["payload"] == {"a": "x"}
    assert explicit["object"]["conversation_message_id"] == 1


async def test_updates_is_all_or_nothing_and_needs_the_token(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    good = {"type": "message_new", "from_id": USER, "text": "hi"}
    status, text = await push(
        session, emulator, [good, {"type": "message_event", "user_id": 99, "payload": {}}]
    )
    assert status == 400
    assert "update 1" in text
    assert (await push(session, emulator, [good, {"type": "wall_post_new"}]))[0] == 400
    assert (await push(session, emulator, {"not": "a list"}))[0] == 400
    assert (await push(session, emulator, [good], token="wrong"))[0] == 403
    assert emulator.updates == []


async def test_stats_counts_calls_and_waits_for_matching(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    await send(session, emulator, peer_id=USER, message="Принято: 3.1", random_id=1)
    await send(session, emulator, peer_id=USER, message="другое", random_id=2)
    await send(session, emulator, peer_id=USER, message="", random_id=3)  # error 100
    status, body = await stats(session, emulator, contains="Принято")
    assert status == 200
    assert body["calls"] == {"messages.send": 3}
    assert body["errors"] == {"100": 1}
    assert body["matching"] == 1
    assert body["sent"] == 2
    assert body["faults"]["rate_limit"] == 0
    assert body["timed_out"] is False

    async def answer_later() -> None:
        await asyncio.sleep(0.2)
        event_data = json.dumps({"type": "show_snackbar", "text": "Принято: 3.3"})
        data = {
            "v": "5.199",
            "access_token": TOKEN,
            "event_id": "e1",
            "user_id": str(USER),
            "peer_id": str(USER),
            "event_data": event_data,
        }
        url = emulator.api_url + "messages.sendMessageEventAnswer"
        async with session.post(url, data=data) as response:
            assert response.status == 200

    task = asyncio.create_task(answer_later())
    status, body = await stats(session, emulator, contains="Принято", until="2", timeout="5")
    await task
    assert status == 200
    assert body["matching"] == 2
    assert body["timed_out"] is False

    status, body = await stats(session, emulator, contains="Принято", until="3", timeout="0.1")
    assert body["timed_out"] is True
    assert body["matching"] == 2
    assert (await stats(session, emulator, until="1"))[0] == 400
