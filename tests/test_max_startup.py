"""A deployment of VK and MAX starts and serves VK whatever MAX does: unreachable at start-up,
MAX's side is reached in the background with back-off; a token MAX refuses stops MAX's side
alone, with one clear line (bot/app.py MaxRunner.run says why)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

import pytest

from bot.app import App, build_app, serve
from bot.clock import FakeClock
from bot.domain import Campaign
from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.messages import Outgoing
from bot.sandbox import GROUP_ID, MAX_TOKEN, TOKEN, sandbox_config
from bot.vk_emulator import VKEmulator
from storage.repositories import RosterRepository
from tests.conftest import ADMIN, district, head_of


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def build(tmp_path: Path, vk: VKEmulator, max_url: str, clock: FakeClock) -> App:
    """The bot with the district on VK and, as other persons, on MAX (as bot/sandbox.py)."""
    config = sandbox_config(tmp_path, vk.api_url, admins=[ADMIN], max_url=max_url)
    app = await build_app(config, clock=clock)
    assert app.max is not None
    schools, people = district()
    await app.max.accounts.learn(p.person_id for p in people)
    on_max = [
        p.model_copy(update={"person_id": app.max.accounts.person(p.person_id)}) for p in people
    ]
    await RosterRepository(app.db).apply(schools, [*people, *on_max], clock.now())
    return app


def receipts(mx: MaxEmulator, user: int) -> int:
    return sum("Принято" in strip_marker(m.text) for m in mx.messages_to_user(user))


async def test_max_unreachable_at_start_up_is_reached_later_while_vk_runs(
    tmp_path: Path,
    clock: FakeClock,
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="bot.app")
    port = free_port()
    vk = VKEmulator(token=TOKEN, group_id=GROUP_ID)
    mx = MaxEmulator(token=MAX_TOKEN, port=port)  # not started yet: nothing listens there
    await vk.start()
    app = await build(tmp_path, vk, f"http://127.0.0.1:{port}", clock)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=False))
    try:
        await vk.wait_for(lambda: bool(vk.poll_requests), description="the first VK poll")
        head = head_of(1)
        vk.push_message_new(from_id=head, peer_id=head, text="3.1 выполнено")
        await vk.wait_for_message(head, contains="Принято")
        assert "MAX unreachable at start-up" in caplog.text
        assert app.max is not None
        assert app.max.bot_id is None
        assert not task.done()

        await mx.start()  # MAX comes back: the next attempt reaches it
        await mx.wait_for(
            lambda: mx.polls_started > 0, timeout=10, description="the bot's first MAX poll"
        )
        assert app.max.bot_id == mx.bot_id
        assert f"MAX reached: bot {mx.bot_id}" in caplog.text
        mx.write(head, "3.4 выполнено")
        await mx.wait_for(lambda: receipts(mx, head) == 1, description="the MAX receipt")
        history = await app.repos.answers.history(app.campaign.id)
        assert [(a.step_id, a.answered_by) for a in history] == [
            ("3.1", head),
            ("3.4", app.max.accounts.person(head)),
        ]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.close()
        await vk.stop()
        await mx.stop()


async def test_a_token_max_refuses_stops_max_alone_and_says_so(
    tmp_path: Path,
    clock: FakeClock,
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    vk = VKEmulator(token=TOKEN, group_id=GROUP_ID)
    mx = MaxEmulator(token="another-bots-token")
    await vk.start()
    await mx.start()
    app = await build(tmp_path, vk, mx.api_url, clock)
    assert app.max is not None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=False))
    try:
        await mx.wait_for(
            lambda: any(c.path == "/me" and c.status == 401 for c in mx.calls),
            description="MAX refused the token",
        )
        await vk.wait_for(
            lambda: "MAX rejected the bot's token" in caplog.text, description="the error line"
        )
        assert [r.levelname for r in caplog.records if "MAX rejected" in r.message] == ["ERROR"]
        assert "CONFIRMBOT_MAX_TOKEN" in caplog.text
        # VK goes on answering.
        await vk.wait_for(lambda: bool(vk.poll_requests), description="the first VK poll")
        head = head_of(2)
        vk.push_message_new(from_id=head, peer_id=head, text="3.1 выполнено")
        await vk.wait_for_message(head, contains="Принято")
        # A message to a MAX person is retried as when MAX is down, but not tried with this
        # token: MAX is not asked again and again.
        person = app.max.accounts.person(head)
        assert person is not None
        async with app.db.transaction():
            await app.outbox.add(
                [Outgoing(key="to-max", to=(app.outbox.address(person),), text="Проверка")]
            )
        await app.sender.drain()
        row = await app.db.fetchone("SELECT state, error FROM outbox WHERE key = 'to-max'")
        assert row is not None
        assert tuple(row) == ("pending", "MAX rejected the token")
        assert not mx.calls_to("POST", "/messages")
        assert not task.done()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.exception() is None  # stopping is a plain stop, not exit 78
        await app.close()
        await vk.stop()
        await mx.stop()


async def test_a_max_token_revoked_while_running_stops_max_alone(
    tmp_path: Path,
    clock: FakeClock,
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    vk = VKEmulator(token=TOKEN, group_id=GROUP_ID)
    mx = MaxEmulator(token=MAX_TOKEN)
    await vk.start()
    await mx.start()
    app = await build(tmp_path, vk, mx.api_url, clock)
    assert app.max is not None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=False))
    try:
        head = head_of(3)
        await mx.wait_for(lambda: mx.polls_started > 0, description="the first MAX poll")
        mx.write(head, "3.1 выполнено")
        await mx.wait_for(lambda: receipts(mx, head) == 1, description="a receipt on MAX")
        mx.token = "revoked-by-the-organisation"  # MAX now refuses ours
        mx.write(head, "3.4 выполнено")
        await vk.wait_for(
            lambda: "MAX rejected the bot's token" in caplog.text, description="the error line"
        )
        asked = len(mx.calls)
        await vk.wait_for(lambda: bool(vk.poll_requests), description="the first VK poll")
        vk.push_message_new(from_id=head, peer_id=head, text="3.1 выполнено")
        await vk.wait_for_message(head, contains="Принято")
        await app.sender.drain()
        assert len(mx.calls) == asked  # MAX is not asked again with that token
        assert receipts(mx, head) == 1
        assert not task.done()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.close()
        await vk.stop()
        await mx.stop()
