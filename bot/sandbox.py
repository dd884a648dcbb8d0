"""The whole bot running against the VK API emulator: for `confirmbot demo` and the tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App, build_app, serve
from bot.clock import Clock
from bot.config import Config
from bot.domain import Campaign, Person, School
from bot.max_emulator import MaxEmulator
from bot.vk_emulator import VKEmulator
from storage.repositories import RosterRepository

ADMIN_CHAT = 2_000_000_001
HEADS_CHAT = 2_000_000_002
GROUP_ID = 222_000_111
TOKEN = "sandbox-token"  # noqa: S105 - the emulator's own, not a VK secret
MAX_TOKEN = "sandbox-max-token"  # noqa: S105 - the MAX emulator's own
# MAX group chats have negative ids.
MAX_ADMIN_CHAT = -70_000_000_001
MAX_HEADS_CHAT = -70_000_000_002
MAX_BOT_NAME = "confirm_bot"


@dataclass
class Sandbox:
    emulator: VKEmulator
    app: App
    config: Config
    _stop: asyncio.Event
    _task: asyncio.Task[None]
    max_emulator: MaxEmulator | None = None

    async def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.app.close()
        await self.emulator.stop()
        if self.max_emulator is not None:
            await self.max_emulator.stop()

    async def settle(self, within: float = 10.0) -> None:
        """Wait until the outbox holds nothing due and no batch is on its way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            counts = await self.app.outbox.repo.counts()
            if not counts.pending and not self.app.sender.busy:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"the outbox did not settle: {counts}")
            self.app.sender.wake()
            await asyncio.sleep(0.01)  # polling a condition, not waiting for time to pass

    def say(
        self, user_id: int, text: str, *, peer_id: int | None = None, callback: bool = True
    ) -> dict[str, Any]:
        """A person writes `text` (privately unless `peer_id` names a chat)."""
        return self.emulator.push_message_new(
            from_id=user_id,
            peer_id=user_id if peer_id is None else peer_id,
            text=text,
            callback_supported=callback,
        )


def sandbox_config(
    workdir: Path,
    api_url: str,
    *,
    admins: Sequence[int],
    controller: int | None = None,
    max_url: str | None = None,
    web_listen: str | None = None,
) -> Config:
    more: dict[str, Any] = {}
    if web_listen is not None:
        # The department's web page, reached without a proxy; the table refreshes each second.
        more["web"] = {"listen": web_listen, "public_url": f"http://{web_listen}", "refresh": "1s"}
    if max_url is not None:
        more["max"] = {
            "token": MAX_TOKEN,
            "api_url": max_url,
            "admins": list(admins),
            "admin_chats": [MAX_ADMIN_CHAT],
            "heads_chats": [MAX_HEADS_CHAT],
            "username": MAX_BOT_NAME,
            "rate": 30,
        }
    return Config.model_validate(
        {
            **more,
            # The emulator has no per-second limit unless a test sets one; VK's 20 would only
            # make the demo and the tests wait.
            "vk": {
                "token": TOKEN,
                "group_id": GROUP_ID,
                "api_url": api_url,
                "requests_per_second": 100,
            },
            "storage": {"path": str(workdir / "confirmbot.db")},
            "bot": {
                "admins": list(admins),
                "controller": controller,
                "admin_chats": [ADMIN_CHAT],
                "heads_chats": [HEADS_CHAT],
            },
        }
    )


async def start_sandbox(
    workdir: Path,
    *,
    schools: Sequence[School],
    people: Sequence[Person],
    admins: Sequence[int],
    clock: Clock,
    campaign: Campaign | None = None,
    names: dict[int, tuple[str, str]] | None = None,
    controller: int | None = None,
    scheduler: bool = False,
    max_people: bool = False,
    vk_people: bool = True,
    web_listen: str | None = None,
) -> Sandbox:
    """Start the emulator, load the roster, build the app and start long polling.

    The scheduler loop is off unless asked for: tests drive `app.scheduler.tick()` with a
    fake clock instead. With `max_people`, MAX runs beside VK on its own emulator, and every
    person of the roster is there too, as a MAX account of a person of the same school (MAX
    user id = the VK id, person id from 2^40 on), in MAX chats of their own; without
    `vk_people` they are there only (a district wholly on MAX, as `demo --messenger max`).
    """
    max_emulator = MaxEmulator(token=MAX_TOKEN) if max_people else None
    # One time on both sides of the wire: messages' `date` and VK's 24 hours to edit follow the
    # bot's clock.
    emulator = VKEmulator(token=TOKEN, group_id=GROUP_ID, wall=lambda: clock.now().timestamp())
    await emulator.start()
    try:
        for user_id, (first, last) in (names or {}).items():
            emulator.add_user(user_id, first, last)
        members = sorted({p.person_id for p in people})
        emulator.add_chat(ADMIN_CHAT, list(admins))
        emulator.add_chat(HEADS_CHAT, members)
        if max_emulator is not None:
            await max_emulator.start()
            for user_id, (first, last) in (names or {}).items():
                max_emulator.add_user(user_id, first, last)
            max_emulator.add_chat(MAX_ADMIN_CHAT, list(admins))
            max_emulator.add_chat(MAX_HEADS_CHAT, members)
        config = sandbox_config(
            workdir,
            emulator.api_url,
            admins=admins,
            controller=controller,
            max_url=None if max_emulator is None else max_emulator.api_url,
            web_listen=web_listen,
        )
        app = await build_app(config, clock=clock, campaign=campaign)
    except BaseException:
        await emulator.stop()
        if max_emulator is not None:
            await max_emulator.stop()
        raise
    roster = list(people) if vk_people or app.max is None else []
    if app.max is not None:
        accounts = app.max.accounts
        await accounts.learn(p.person_id for p in people)
        roster += [
            p.model_copy(update={"person_id": accounts.person(p.person_id)}) for p in people
        ]
    await RosterRepository(app.db).apply(schools, roster, clock.now())
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=scheduler))
    await emulator.wait_for(
        lambda: bool(emulator.poll_requests), description="the bot's first long poll"
    )
    if max_emulator is not None:
        await max_emulator.wait_for(
            lambda: max_emulator.polls_started > 0,
            description="the bot's first MAX long poll",
        )
    return Sandbox(emulator, app, config, stop, task, max_emulator)
