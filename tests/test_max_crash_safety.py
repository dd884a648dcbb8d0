"""SIGKILL the bot three times while heads answer on MAX under MAX's faults: every answer is
stored once, every stored answer gets exactly one receipt, every problem one admin notice.

tests/test_crash_safety.py does this for VK, where VK's `random_id` dedupe makes a resend
harmless. MAX has none: what prevents a second copy is the outbox's idempotency key, carried
as an invisible marker in the message, the rows left pending by a killed process (each is
looked for in its conversation before it is sent again) and the dialogs' chat ids kept in
`account_dialogs` (so a restarted process can read a dialog back at all).

The bot runs as its own process (`python -m bot run`) with VK and MAX beside each other, VK
idle. The MAX emulator fails requests as MAX and its proxies do: 5xx pages, connections
dropped before a call runs and, the case that matters without `random_id`, after it ran (the
message is sent, the bot does not know); it allows fewer requests a second than the bot makes,
so the bot also meets 429. Heads of 50 schools type «3.1 выполнено», «3.3 выполнено», every
fifth «3.4 проблема …» (a notice to the MAX admin chat), pushed in chunks at the bot's pace.

After three chunks picked at random the bot is killed, each time at another of these moments:

- "stored": once some of the chunk's answers are committed. MAX's long poll commits a batch
  only by the marker of the next poll, so the restart gets the batch again and must ignore
  what it handled;
- "outbox": while the chunk's messages wait in the outbox (MAX answers POST /messages 503);
- "resend": right after MAX took a POST /messages whose answer the bot never got (the
  connection is dropped after the call ran), and MAX refuses the dying process's read-back:
  the row is pending when it dies, and the next process must find that very message (its
  log names the mid) in the dialog, whose chat id it knows only from `account_dialogs`,
  instead of sending it again. Without that table the run doubles receipts.

The next chunk arrives while the bot is down; it is started again at once. At the end the
faults are removed, the test waits (bounded) until everything is stored and sent, and
compares. `pytest -s` shows a one-line summary, which every assertion message starts with.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import SystemClock
from bot.domain import Person, Role, School
from bot.max import strip_marker
from bot.max_emulator import Faults, MaxEmulator
from bot.vk_emulator import VKEmulator
from storage.accounts import AccountRepository
from storage.db import Database
from storage.repositories import CampaignRepository, RosterRepository
from tests.test_crash_safety import NOTICE, RECEIPT, BotProcess, count, until

VK_TOKEN = "crash-test-token"
MAX_TOKEN = "crash-test-max-token"
GROUP = 4242
SCHOOLS = 50
ADMIN = 1  # a MAX user id
ADMIN_CHAT = -70_000_000_001
PROBLEM_EVERY = 5
KILLS = 3
MOMENTS = ("stored", "outbox", "resend")
CHUNK = (4, 10)
LAG = 12
# 5xx pages, connections dropped before and after the call ran; and MAX allowing fewer
# requests a second (EMULATOR_RATE) than the bot is configured to make (30), so 429 too.
FAULTS = Faults(http_5xx_rate=0.04, drop_rate=0.02, drop_after_rate=0.04)
EMULATOR_RATE = 20
SETTLE_TIMEOUT = 120.0


def head(n: int) -> int:
    return 700_000 + n


def answers_to_send() -> list[tuple[int, str, str, str]]:
    """(school, step, state as stored, text) for every answer the heads type."""
    answers = []
    for n in range(SCHOOLS):
        answers.append((n, "3.1", "done", "3.1 выполнено"))
        answers.append((n, "3.3", "done", "3.3 выполнено"))
        if n % PROBLEM_EVERY == 0:
            answers.append((n, "3.4", "problem", f"3.4 проблема нет интернета в школе {n}"))
    return answers


@pytest.fixture
async def emulators() -> AsyncIterator[tuple[VKEmulator, MaxEmulator]]:
    vk = VKEmulator(token=VK_TOKEN, group_id=GROUP)
    mx = MaxEmulator(token=MAX_TOKEN, rate=EMULATOR_RATE)
    await vk.start()
    await mx.start()
    try:
        yield vk, mx
    finally:
        vk.release_pollers()
        await vk.stop()
        await mx.stop()


async def prepare(tmp_path: Path, vk: VKEmulator, mx: MaxEmulator) -> tuple[Path, list[int]]:
    """The config, and a roster whose heads are on MAX only: their person ids (from 2^40)."""
    db_path = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[vk]\ntoken = "{VK_TOKEN}"\ngroup_id = {GROUP}\napi_url = "{vk.api_url}"\n'
        f'[storage]\npath = "{db_path}"\n'
        f'[max]\napi_url = "{mx.api_url}"\nadmins = [{ADMIN}]\nadmin_chats = [{ADMIN_CHAT}]\n'
        "rate = 30\n",
        encoding="utf-8",
    )
    db = await Database.open(db_path)
    try:
        clock = SystemClock()
        await CampaignRepository(db).save(load_campaign(default_campaign_path()), clock.now())
        persons = await AccountRepository(db).persons_of(
            "max", (str(head(n)) for n in range(SCHOOLS))
        )
        await RosterRepository(db).apply(
            [School(id=f"s{n}", name=f"Школа {n}") for n in range(SCHOOLS)],
            [
                Person(
                    person_id=persons[str(head(n))],
                    school_id=f"s{n}",
                    full_name=f"Директор {n}",
                    role=Role.HEAD,
                )
                for n in range(SCHOOLS)
            ],
            clock.now(),
        )
    finally:
        await db.close()
    mx.add_chat(ADMIN_CHAT, [ADMIN])
    return config, [persons[str(head(n))] for n in range(SCHOOLS)]


def dropped_sends(mx: MaxEmulator) -> int:
    """POST /messages that ran on MAX but whose answer the bot never got."""
    return sum(1 for c in mx.calls_to("POST", "/messages") if c.fault == "drop_after")


async def test_sigkill_on_max_under_faults_loses_and_doubles_nothing(
    tmp_path: Path,
    emulators: tuple[VKEmulator, MaxEmulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    vk, mx = emulators
    monkeypatch.setenv("CONFIRMBOT_MAX_TOKEN", MAX_TOKEN)  # the bot process inherits it
    config, persons = await prepare(tmp_path, vk, mx)

    seed = int(os.environ.get("CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    answers = answers_to_send()
    rng.shuffle(answers)
    chunks: list[list[tuple[int, str, str, str]]] = []
    while len(answers) > sum(map(len, chunks)):
        start = sum(map(len, chunks))
        chunks.append(answers[start : start + rng.randint(*CHUNK)])
    while True:
        picked = sorted(rng.sample(range(2, len(chunks) - 2), KILLS))
        if all(b - a >= 3 for a, b in itertools.pairwise(picked)):
            break
    moments = list(MOMENTS)
    rng.shuffle(moments)
    plan = dict(zip(picked, moments, strict=True))

    faults = FAULTS.model_copy(update={"seed": seed})
    mx.faults = faults
    pushed: dict[str, tuple[int, str, str, str]] = {}  # origin ("person:seq") -> answer
    bot = BotProcess(config, tmp_path)
    reader = await Database.open(tmp_path / "bot.db")
    resend_mids: list[str] = []  # the message sent by a process killed before it knew
    resend_logged: list[int] = []  # how much of the bot's log was written by then

    async def stored() -> int:
        return await count(reader, "SELECT COUNT(*) FROM answers")

    def stored_at_least(target: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await stored() >= target

        return check

    async def unsent() -> int:
        return await count(reader, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")

    async def kill_at(moment: str, chunk: int) -> None:
        if moment == "resend":
            # The next message MAX takes (one of this chunk's receipts, at the latest) is sent
            # but its answer is lost; the bot dies with that row pending.
            before = dropped_sends(mx)
            mx.drop_after_next("POST", "/messages")
            await until(lambda: dropped_sends(mx) > before, "a send whose answer was lost", bot)
            # Nor can this process read the dialog back before it dies (its next try is at
            # least a quarter of a second away): only the next process can find the message.
            mx.fail_next("/messages", 503, "service.unavailable", times=10_000)
            lost = [c for c in mx.calls_to("POST", "/messages") if c.fault == "drop_after"][-1]
            resend_mids.append(str(lost.answer["message"]["body"]["mid"]))
            resend_logged.append(len(bot.log.read_bytes()) if bot.log.exists() else 0)
        elif moment == "outbox":
            mx.fail_next("/messages", 503, "service.unavailable", times=10_000)
            first = len(pushed) - chunk + 1

            async def waiting() -> bool:
                return await stored() >= first and await unsent() > 0

            await until(waiting, "answers stored, their messages waiting in the outbox", bot)
        else:
            target = rng.randint(len(pushed) - chunk + 1, len(pushed))
            await until(stored_at_least(target), f"{target} answers stored", bot)
        await bot.kill()
        mx.faults = faults
        mx.clear_failures("/messages")

    try:
        await bot.start()
        for index, chunk in enumerate(chunks):
            moment = plan.get(index) if bot.process is not None else None
            for n, step, state, text in chunk:
                update = mx.write(head(n), text)
                pushed[f"{persons[n]}:{update['message']['body']['seq']}"] = (n, step, state, text)
            if bot.process is None:
                await bot.start()  # this chunk arrived while the bot was down
            elif moment is not None:
                await kill_at(moment, len(chunk))
            else:
                target = len(pushed) - LAG
                await until(stored_at_least(target), f"{target} answers stored", bot)

        mx.faults = Faults()

        async def settled() -> bool:
            return await stored() >= len(pushed) and await unsent() == 0

        await until(settled, "every answer stored and every message sent", bot, SETTLE_TIMEOUT)
        rows = await reader.fetchall("SELECT origin, school_id, step_id, state FROM answers")
        failed = await reader.fetchall("SELECT key, error FROM outbox WHERE state != 'sent'")
    finally:
        await reader.close()
        await bot.stop()

    origins = Counter(str(row[0]) for row in rows)
    missing = set(pushed) - set(origins)
    doubled_answers = sum(times - 1 for times in origins.values())
    strangers = set(origins) - set(pushed)
    wrong = [
        row
        for row in rows
        if row[0] in pushed
        and (f"s{pushed[row[0]][0]}", pushed[row[0]][1], pushed[row[0]][2])
        != (row[1], row[2], row[3])
    ]
    expected = Counter((int(row[1][1:]), row[2]) for row in rows)
    receipts: Counter[tuple[int, str]] = Counter()
    for n in range(SCHOOLS):
        for sent in mx.messages_to_user(head(n)):
            text = strip_marker(sent.text)
            if text.startswith("Принято"):
                match = RECEIPT.match(text)
                receipts[(n, match.group(1) if match else "?")] += 1
    problems = Counter((int(row[1][1:]), row[2]) for row in rows if row[3] == "problem")
    notices = Counter(
        (int(match.group(1)), match.group(2))
        for sent in mx.messages_in_chat(ADMIN_CHAT)
        if (match := NOTICE.match(strip_marker(sent.text)))
    )
    log = bot.log.read_bytes()
    found_again = len(re.findall(rb"was already sent", log))
    after_kill = log[resend_logged[0] :].decode("utf-8", "replace") if resend_logged else ""
    lost = sum((expected - receipts).values())
    doubled = sum((receipts - expected).values())
    summary = (
        f"sent {len(pushed)}, stored {len(rows)}, receipts {receipts.total()}, lost {lost}, "
        f"doubled {doubled}, problem notices {notices.total()}/{problems.total()}, "
        f"kills {bot.kills} ({', '.join(plan[i] for i in sorted(plan))}); "
        f"messages found already sent by read-back {found_again}, sends whose answer was lost "
        f"{dropped_sends(mx)}, 429 {mx.refused_429}; seed {seed}, "
        f"{time.monotonic() - started:.1f} s"
    )
    with capsys.disabled():
        print(f"\nMAX crash safety: {summary}")

    assert bot.kills == KILLS, summary
    assert not missing, f"{summary}; sent but not stored: {sorted(missing)[:10]}"
    assert doubled_answers == 0, f"{summary}; answers stored twice: {doubled_answers}"
    assert not strangers, f"{summary}; stored but never sent: {sorted(strangers)[:10]}"
    assert not wrong, f"{summary}; stored differently from what was sent: {wrong[:10]}"
    assert (lost, doubled) == (0, 0), (
        f"{summary}; receipts lost {sorted(expected - receipts)[:10]}, "
        f"doubled {sorted(receipts - expected)[:10]}; not sent from the outbox: {failed[:10]}"
    )
    assert notices == problems, (
        f"{summary}; notices missing {sorted(problems - notices)[:10]}, "
        f"doubled {sorted(notices - problems)[:10]}; not sent from the outbox: {failed[:10]}"
    )
    # A killed process left a sent message pending, and the next process found it in the
    # dialog (the log names its mid) instead of sending it again.
    assert len(resend_mids) == 1, summary
    assert f"was already sent ({resend_mids[0]})" in after_kill, (
        f"{summary}; the restart did not find {resend_mids[0]} by reading the dialog back"
    )
