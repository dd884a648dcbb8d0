"""No second message on MAX after a crash: MAX has no random_id, so a message sent by a process
that died before recording it is looked for in its conversation before it is sent again."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.app import MaxRunner, build_app, serve
from bot.clock import FakeClock
from bot.domain import Campaign
from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.messages import Outgoing
from bot.sandbox import Sandbox
from storage.db import Database
from tests.conftest import head_of, start_district
from tests.drivers import MaxDriver

TEXT = "Принято: проверка после сбоя"


def texts_to(emulator: MaxEmulator, user: int) -> list[str]:
    return [strip_marker(m.text) for m in emulator.messages_to_user(user)]


async def pending_rows(box: Sandbox) -> list[str]:
    """Read the database file from another connection, as the next process would."""
    db = await Database.open(box.config.storage.path)
    try:
        rows = await db.fetchall("SELECT key FROM outbox WHERE state = 'pending'")
        return [str(r[0]) for r in rows]
    finally:
        await db.close()


async def test_a_message_sent_just_before_a_crash_is_not_sent_again(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    box = await start_district(tmp_path, clock, campaign, max_people=True)
    max_emulator = box.max_emulator
    assert max_emulator is not None
    driver, head = MaxDriver(box), head_of(1)
    driver.say(head, "3.1 выполнено")  # the head opens the dialog; the bot keeps its chat id
    await driver.message_to(head, "Принято")
    person = driver.person(head)
    # The bot stops; the MAX emulator keeps running, as MAX would.
    box._stop.set()
    await box._task
    await box.app.close()

    # A process writes a receipt, sends it, and dies before marking it sent.
    dead = await build_app(box.config, clock=clock, campaign=campaign)
    assert dead.max is not None

    async def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process is killed between the send and its record")

    monkeypatch.setattr(dead.outbox.repo, "mark_sent", dies)
    await MaxRunner(dead, dead.max).connect()  # as serve() does before MAX's side sends
    message = Outgoing.model_validate(
        {"key": "crash:1", "to": [dead.outbox.address(person)], "text": TEXT}
    )
    async with dead.db.transaction():
        await dead.outbox.add([message])
    sending = asyncio.create_task(dead.sender.run())
    await max_emulator.wait_for(
        lambda: TEXT in texts_to(max_emulator, head), timeout=10, description="the send"
    )
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    await dead.close()
    assert (await pending_rows(box)) == ["crash:1"]
    assert texts_to(max_emulator, head).count(TEXT) == 1

    # The next start finds the row pending, reads the dialog back and finds it sent.
    app = await build_app(box.config, clock=clock, campaign=campaign)
    assert app.max is not None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=False))
    again = Sandbox(box.emulator, app, box.config, stop, task, max_emulator)
    try:
        await again.settle()
        assert (await app.outbox.repo.counts()).pending == 0
        assert texts_to(max_emulator, head).count(TEXT) == 1
        assert app.max.transport.found == 1
        # And the bot goes on as before, on the same dialog.
        driver = MaxDriver(again)
        driver.say(head, "3.4 выполнено")
        await driver.message_to(head, "Принято", count=2)
    finally:
        await again.close()
