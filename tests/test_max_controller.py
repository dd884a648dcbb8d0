"""`[max] controller`: a district that moved its controller to MAX has the escalations about
overdue schools sent to them there, as `[bot] controller` has them sent on VK."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import MaxRunner, build_app
from bot.clock import FakeClock
from bot.config import describe
from bot.domain import Campaign
from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.sandbox import GROUP_ID, MAX_TOKEN, TOKEN, sandbox_config
from bot.vk_emulator import VKEmulator
from storage.repositories import RosterRepository
from tests.conftest import ADMIN, CONTROLLER, district

ON_MAX = 966_001  # the controller's MAX user id


async def test_escalations_go_to_the_controller_on_max(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with VKEmulator(token=TOKEN, group_id=GROUP_ID) as vk, MaxEmulator(MAX_TOKEN) as mx:
        config = sandbox_config(
            tmp_path, vk.api_url, admins=[ADMIN], controller=CONTROLLER, max_url=mx.api_url
        )
        assert config.max is not None
        config = config.model_copy(
            update={"max": config.max.model_copy(update={"controller": ON_MAX})}
        )
        assert f"MAX: контролёр {ON_MAX} (вместо [bot] controller)" in describe(config)
        mx.start_bot(ON_MAX)  # the controller has opened the bot on MAX
        app = await build_app(config, clock=clock, campaign=campaign)
        try:
            assert app.max is not None
            await MaxRunner(app, app.max).connect()
            schools, people = district()
            await RosterRepository(app.db).apply(schools, people, clock.now())
            person = app.max.accounts.person(ON_MAX)
            assert person is not None
            assert app.flow.settings.controller == person
            assert app.flow.is_staff(person)

            async with app.db.transaction():
                assert await app.notifier.escalate("test-escalation")
            await app.sender.drain()
            [escalation] = [strip_marker(m.text) for m in mx.messages_to_user(ON_MAX)]
            assert "Не выполнили все пункты в срок: 3 из 3 школ." in escalation
            assert vk.messages_to(CONTROLLER) == []  # not to [bot] controller on VK
        finally:
            await app.close()
