"""Kill the bot with SIGKILL while answers stream in; nothing acknowledged is lost or doubled.

The bot runs as a separate process against the emulator. Answers keep arriving while it is
down; after each restart it resumes from the long-poll `ts` it saved only after handling a
batch, so what arrived meanwhile is handled, and what it had handled is not counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import SystemClock
from bot.domain import Person, Role, School
from bot.vk_emulator import VKEmulator
from storage.db import Database
from storage.repositories import CampaignRepository, RosterRepository

TOKEN = "crash-test-token"
GROUP = 4242
SCHOOLS = 40
STEPS = ("3.1", "3.3", "3.4", "3.5")
KILLS = 3
ROOT = Path(__file__).resolve().parents[1]


def head(n: int) -> int:
    return 700_000 + n


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    emu = VKEmulator(token=TOKEN, group_id=GROUP)
    await emu.start()
    try:
        yield emu
    finally:
        emu.release_pollers()
        await emu.stop()


async def prepare(tmp_path: Path, api_url: str) -> Path:
    db_path = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP}\napi_url = "{api_url}"\n'
        f'[storage]\npath = "{db_path}"\n[bot]\nadmins = [1]\n',
        encoding="utf-8",
    )
    db = await Database.open(db_path)
    try:
        clock = SystemClock()
        await CampaignRepository(db).save(load_campaign(default_campaign_path()), clock.now())
        await RosterRepository(db).apply(
            [School(id=f"s{n}", name=f"Школа {n}") for n in range(SCHOOLS)],
            [
                Person(vk_id=head(n), school_id=f"s{n}", full_name=f"Директор {n}", role=Role.HEAD)
                for n in range(SCHOOLS)
            ],
            clock.now(),
        )
    finally:
        await db.close()
    return config


async def start_bot(config: Path, cwd: Path) -> asyncio.subprocess.Process:
    with (cwd / "bot.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            cwd=cwd,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


async def stored_origins(db: Database) -> list[str]:
    return [row[0] for row in await db.fetchall("SELECT origin FROM answers")]


async def test_sigkill_loses_and_doubles_nothing(
    tmp_path: Path, emulator: VKEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = await prepare(tmp_path, emulator.api_url)
    rng = random.Random(20231020)
    answers = [(n, step) for step in STEPS for n in range(SCHOOLS)]
    rng.shuffle(answers)
    origins: dict[str, tuple[int, str]] = {}
    kill_points = set(rng.sample(range(20, len(answers) - 20), KILLS))
    bot = await start_bot(config, tmp_path)
    kills = 0
    reader = await Database.open(tmp_path / "bot.db")
    try:
        # On its very first start the bot, like any VK long-poll client, begins at the
        # server's current ts; from then on it resumes from the ts it saved.
        await emulator.wait_for(lambda: bool(emulator.poll_requests), timeout=20)
        for index, (n, step) in enumerate(answers):
            update = emulator.push_message_new(
                from_id=head(n), peer_id=head(n), text=f"{step} выполнено"
            )
            message = update["object"]["message"]
            origins[f"{message['peer_id']}:{message['conversation_message_id']}"] = (n, step)
            if index in kill_points:
                # Let the bot get into the middle of things, then pull the plug. The pushes
                # go on while the new process starts: those answers arrive while it is down.
                await asyncio.sleep(rng.uniform(0.1, 1.5))
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
                kills += 1
                bot = await start_bot(config, tmp_path)
            else:
                await asyncio.sleep(0.01)
        for _ in range(600):  # up to a minute for the last process to catch up
            stored = await stored_origins(reader)
            if len(set(stored)) >= len(answers):
                break
            await asyncio.sleep(0.1)
    finally:
        await reader.close()
        with contextlib.suppress(ProcessLookupError):
            bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(bot.wait(), timeout=15)
        except TimeoutError:
            bot.kill()
            await bot.wait()

    stored_steps = {origins[o] for o in stored if o in origins}
    acknowledged = set()
    for sent in emulator.sent:
        match = re.match(r"Принято: \S+ (\d\.\d)", sent.text)
        if match:
            acknowledged.add((sent.peer_id - 700_000, match.group(1)))
    lost = set(origins) - set(stored)
    doubled = len(stored) - len(set(stored))
    with capsys.disabled():
        print(
            f"\ncrash safety: answers sent {len(answers)}, SIGKILLs {kills}, "
            f"acknowledged {len(acknowledged)}, stored {len(set(stored))}, "
            f"lost {len(lost)}, doubled {doubled}, "
            f"acknowledged but not stored {len(acknowledged - stored_steps)}"
        )
    assert kills == KILLS
    assert acknowledged <= stored_steps
    assert lost == set()
    assert doubled == 0
