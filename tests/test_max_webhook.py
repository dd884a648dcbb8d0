"""Webhook mode: `confirmbot run`'s serve() takes MAX's POSTs on [max] webhook_listen, checks
the secret, counts a duplicate delivery once, and answers through the same outbox."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from bot.app import build_app, serve
from bot.clock import FakeClock
from bot.domain import Campaign
from bot.max import strip_marker
from bot.max_api import SECRET_HEADER, MaxClient
from bot.max_emulator import MaxEmulator
from bot.sandbox import GROUP_ID, MAX_TOKEN, TOKEN, Sandbox, sandbox_config
from bot.vk_emulator import VKEmulator
from storage.repositories import RosterRepository
from tests.conftest import ADMIN, district, head_of

SECRET = "webhook_secret_1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_webhook_takes_maxs_posts_once_each_and_refuses_a_forgery(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    vk = VKEmulator(token=TOKEN, group_id=GROUP_ID)
    mx = MaxEmulator(token=MAX_TOKEN)
    await vk.start()
    await mx.start()
    port = free_port()
    config = sandbox_config(tmp_path, vk.api_url, admins=[ADMIN], max_url=mx.api_url)
    assert config.max is not None
    webhook = config.max.model_copy(
        update={
            "webhook_url": "https://bot.example.ru/max/webhook",
            "webhook_secret": SecretStr(SECRET),
            "webhook_listen": f"127.0.0.1:{port}",
        }
    )
    config = config.model_copy(update={"max": webhook})
    app = await build_app(config, clock=clock, campaign=campaign)
    assert app.max is not None
    schools, people = district()
    await app.max.accounts.learn(p.person_id for p in people)
    max_people = [
        p.model_copy(update={"person_id": app.max.accounts.person(p.person_id)}) for p in people
    ]
    await RosterRepository(app.db).apply(schools, max_people, clock.now())
    stop = asyncio.Event()
    box = Sandbox(vk, app, config, stop, asyncio.create_task(serve(app, stop)), mx)
    local = f"http://127.0.0.1:{port}/max/webhook"
    head = head_of(1)

    def receipts() -> int:
        return sum("Принято" in strip_marker(m.text) for m in mx.messages_to_user(head))

    try:
        async with aiohttp.ClientSession() as http:
            # What the operator does once (the reverse proxy forwards MAX's POSTs here).
            client = MaxClient(MAX_TOKEN, mx.api_url, session=http)
            assert (await client.subscribe(local, SECRET)).success
            mx.duplicate_next()
            mx.write(head, "3.1 выполнено")
            mx.write(head, "3.4 выполнено")
            await mx.wait_for(lambda: receipts() == 2, description="two receipts")
            await mx.wait_for(lambda: len(mx.deliveries) >= 3, description="3 deliveries")
            await box.settle()
            assert receipts() == 2  # the duplicate delivery was counted once
            history = await app.repos.answers.history(app.campaign.id)
            assert [(a.step_id, a.answered_by) for a in history] == [
                ("3.1", app.max.accounts.person(head)),
                ("3.4", app.max.accounts.person(head)),
            ]
            forged = mx.updates[-1]
            async with http.post(local, json=forged) as answer:
                assert answer.status == 403
            async with http.post(local, json=forged, headers={SECRET_HEADER: "wrong_one"}) as a:
                assert a.status == 403
            await box.settle()
            assert receipts() == 2
    finally:
        await box.close()
