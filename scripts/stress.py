"""`make stress`: a district of 1,500 schools answering through a misbehaving VK emulator.

The bot runs as its own process (as in production); the emulator runs here, on loopback, with
errors, 5xx pages, dropped connections, failed long polls, latency and VK's per-second limit
switched on. Every loop is bounded in count and time. It prints what was sent, stored, lost and
doubled, the bot's unhandled errors and its peak memory, and exits non-zero if anything was
lost or doubled.

    python -m scripts.stress [--schools 1500] [--answers 2] [--seed 47]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import SystemClock
from bot.domain import Person, Role, School
from bot.vk_emulator import Faults, VKEmulator
from storage.db import Database
from storage.repositories import CampaignRepository, RosterRepository

TOKEN = "stress-token"  # noqa: S105 - the emulator's own
GROUP = 5151
ROOT = Path(__file__).resolve().parents[1]
STEPS = ("3.1", "3.3", "3.4", "3.5")
RATE = 100  # requests per second allowed by the emulator; the bot is told the same
FAULTS = Faults(
    seed=47,
    error_rate={"*": 0.03},
    error_codes=(6, 9, 10),
    http_5xx_rate=0.02,
    drop_rate=0.01,
    drop_after_rate=0.01,
    latency=0.002,
    rate_limit=RATE,
    failed_rate=0.02,
    # 'failed: 3' means VK lost the events; the next reminder asks for them again instead.
    failed_codes=(1, 2),
    poll_drop_rate=0.01,
)


def head(n: int) -> int:
    return 600_000 + n


async def prepare(workdir: Path, api_url: str, schools: int) -> Path:
    db_path = workdir / "stress.db"
    config = workdir / "config.toml"
    config.write_text(
        f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP}\napi_url = "{api_url}"\n'
        f"requests_per_second = {RATE}\n"
        f'[storage]\npath = "{db_path}"\n[bot]\nadmins = [1]\n',
        encoding="utf-8",
    )
    db = await Database.open(db_path)
    try:
        now = SystemClock().now()
        await CampaignRepository(db).save(load_campaign(default_campaign_path()), now)
        await RosterRepository(db).apply(
            [School(id=f"s{n}", name=f"Школа {n}") for n in range(schools)],
            [
                Person(
                    person_id=head(n), school_id=f"s{n}", full_name=f"Директор {n}", role=Role.HEAD
                )
                for n in range(schools)
            ],
            now,
        )
    finally:
        await db.close()
    return config


async def run(schools: int, answers_per_school: int, seed: int, limit: float) -> int:
    rng = random.Random(seed)  # noqa: S311 - a reproducible load, not a secret
    emulator = VKEmulator(token=TOKEN, group_id=GROUP, faults=FAULTS)
    await emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="confirmbot-stress-"))
    log_path = workdir / "bot.log"
    bot: asyncio.subprocess.Process | None = None
    started = time.monotonic()
    try:
        config = await prepare(workdir, emulator.api_url, schools)
        with log_path.open("ab") as log:
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                cwd=workdir,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        await emulator.wait_for(lambda: bool(emulator.poll_requests), timeout=30)
        plan = [
            (n, step) for n in range(schools) for step in rng.sample(STEPS, answers_per_school)
        ]
        rng.shuffle(plan)
        origins: set[str] = set()
        for index, (n, step) in enumerate(plan):
            update = emulator.push_message_new(
                from_id=head(n), peer_id=head(n), text=f"{step} выполнено"
            )
            message = update["object"]["message"]
            origins.add(f"{message['peer_id']}:{message['conversation_message_id']}")
            if index % 50 == 49:
                await asyncio.sleep(0.05)  # a steady stream, not one burst
        stored: list[str] = []
        reader = await Database.open(workdir / "stress.db")
        try:
            for _ in range(int(limit * 10)):
                stored = [r[0] for r in await reader.fetchall("SELECT origin FROM answers")]
                if len(set(stored)) >= len(origins) and _acknowledged(emulator) >= len(origins):
                    break
                if bot.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        finally:
            await reader.close()
        elapsed = time.monotonic() - started
    finally:
        if bot is not None and bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(bot.wait(), timeout=20)
            except TimeoutError:
                bot.kill()
                await bot.wait()
        emulator.release_pollers()
        await emulator.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    unhandled = log_text.count("Traceback (most recent call last)")
    lost = len(origins - set(stored))
    doubled = len(stored) - len(set(stored))
    acknowledged = _acknowledged(emulator)
    rows = [
        ("schools", schools),
        ("answers sent", len(origins)),
        ("answers stored", len(set(stored))),
        ("acknowledged («Принято»)", acknowledged),
        ("lost", lost),
        ("doubled", doubled),
        ("unhandled errors in the bot's log", unhandled),
        ("bot peak memory, MB", f"{peak_mb:.0f}"),
        ("faults injected", dict(emulator.fault_counts)),
        ("elapsed, s", f"{elapsed:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"confirmbot stress: {schools} schools through a misbehaving emulator")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  bot log: {log_path}")
    return 1 if lost or doubled else 0


def _acknowledged(emulator: VKEmulator) -> int:
    return sum(1 for m in emulator.sent if m.text.startswith("Принято"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stress", description=__doc__)
    parser.add_argument("--schools", type=int, default=1500)
    parser.add_argument("--answers", type=int, default=2, help="answers per school (1..4)")
    parser.add_argument("--seed", type=int, default=47)
    parser.add_argument("--limit", type=float, default=240.0, help="seconds to wait at most")
    args = parser.parse_args()
    if not 1 <= args.answers <= len(STEPS) or not 1 <= args.schools <= 5000:
        parser.error("--answers must be 1..4 and --schools 1..5000")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.schools, args.answers, args.seed, args.limit))
    return 130


if __name__ == "__main__":
    sys.exit(main())
