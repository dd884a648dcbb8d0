"""SIGKILL the bot three times while answers stream in under VK faults: every answer sent is
stored once, every stored answer gets exactly one receipt, every problem one admin notice.

The bot runs as a separate process (`python -m bot run`) against the emulator, which fails a
share of requests as VK and the proxies in front of it do (`FAULTS`): HTTP 5xx pages, and VK
error 10 for a whole `execute` or for single calls inside one. 200 heads, one school each, type
440 answers: «3.1 выполнено», «3.3 выполнено», and from every fifth head «3.4 проблема …»,
whose «Проблема» notice goes to the admin chat. They are pushed in chunks of random size at the
bot's pace: the next chunk follows once the bot has stored nearly all before it (a condition
read from the database, never a pause).

After three chunks picked at random the bot is killed, each time at another of these moments
(in random order, with random thresholds):

- "stored": once a random number of the chunk's answers is committed. The bot saves the
  long-poll `ts` only after a batch commits, and a kill between the two is too narrow to hit
  by chance, so the test then leaves the saved `ts` as such a kill would (at the poll that
  fetched the chunk): the restart gets the batch again and must ignore what it handled;
- "outbox": while the chunk's messages, committed with its answers, wait in the outbox
  (`fail_next` has VK refuse the next few `execute` requests with error 10 meanwhile); they
  must go out after the restart;
- "resend": right after VK ran one of the bot's `execute` requests, before the bot has read
  the answer and marked those messages sent: the restart sends them again with the same
  `random_id`, and VK (the emulator dedupes `random_id` per peer as VK does) must not deliver
  them twice. That this happened at least once is checked too, so the test cannot pass
  without putting the dedupe to work.

The next chunk arrives while the bot is down; it is started again at once. At the end the
faults are removed, the test waits (bounded) until every answer is stored and the outbox is
empty, stops the bot and compares, per message sent: the answer stored (by origin, school,
step and state), the receipts in `emu.messages_to(head)` per head and step, and the notices
in the admin chat per school. `pytest -s` shows a one-line summary, which every assertion
message starts with.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import SystemClock
from bot.domain import Person, Role, School
from bot.vk_emulator import CHAT_PEER_OFFSET, Faults, VKEmulator
from storage.db import Database
from storage.repositories import CampaignRepository, RosterRepository

TOKEN = "crash-test-token"
GROUP = 4242
SCHOOLS = 200
ADMIN = 1
ADMIN_CHAT = CHAT_PEER_OFFSET + 1
PROBLEM_EVERY = 5  # every fifth head also reports a problem with step 3.4
KILLS = 3
MOMENTS = ("stored", "outbox", "resend")
CHUNK = (8, 24)  # answers pushed at once
LAG = 24  # the next chunk goes once at most this many pushed answers are not yet stored
# HTTP 5xx pages and VK error 10 (for a whole execute, and for each call inside one).
FAULTS = Faults(http_5xx_rate=0.05, error_rate={"*": 0.05}, error_codes=(10,))
STEP_TIMEOUT = 30.0  # for any one condition while the stream runs
SETTLE_TIMEOUT = 120.0  # for everything to be stored and sent once the faults are gone
POLL = 0.01  # how often the database is looked at while waiting for a condition
ROOT = Path(__file__).resolve().parents[1]

RECEIPT = re.compile(r"Принято: \S+ (\d\.\d) ")  # texts.receipt: "Принято: ✅ 3.1 … — …"
NOTICE = re.compile(r"⚠️ Проблема: Школа (\d+), пункт (\d\.\d) ")  # texts.problem_notice


def head(n: int) -> int:
    return 700_000 + n


@dataclass(frozen=True)
class Answer:
    n: int  # the school, and its head
    step: str
    state: str  # as stored in answers.state
    text: str


def answers_to_send() -> list[Answer]:
    answers = []
    for n in range(SCHOOLS):
        answers.append(Answer(n, "3.1", "done", "3.1 выполнено"))
        answers.append(Answer(n, "3.3", "done", "3.3 выполнено"))
        if n % PROBLEM_EVERY == 0:
            answers.append(Answer(n, "3.4", "problem", f"3.4 проблема нет интернета в школе {n}"))
    return answers


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
        f'[storage]\npath = "{db_path}"\n'
        f"[bot]\nadmins = [{ADMIN}]\nadmin_chats = [{ADMIN_CHAT}]\n",
        encoding="utf-8",
    )
    db = await Database.open(db_path)
    try:
        clock = SystemClock()
        await CampaignRepository(db).save(load_campaign(default_campaign_path()), clock.now())
        await RosterRepository(db).apply(
            [School(id=f"s{n}", name=f"Школа {n}") for n in range(SCHOOLS)],
            [
                Person(
                    person_id=head(n), school_id=f"s{n}", full_name=f"Директор {n}", role=Role.HEAD
                )
                for n in range(SCHOOLS)
            ],
            clock.now(),
        )
    finally:
        await db.close()
    return config


class BotProcess:
    """`python -m bot run` in a process of its own, killed and started again by the test."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.config = config
        self.cwd = cwd
        self.log = cwd / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(self.config),
                cwd=self.cwd,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None
        self.kills += 1

    def check_alive(self) -> None:
        """Fail at once, with the log, if the bot died on its own."""
        if self.process is not None and self.process.returncode is not None:
            raise AssertionError(
                f"the bot exited by itself with {self.process.returncode}\n{self.tail()}"
            )

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def until(
    check: Callable[[], Awaitable[bool] | bool],
    what: str,
    bot: BotProcess,
    timeout: float = STEP_TIMEOUT,  # noqa: ASYNC109  (a deadline for the condition, not a pause)
) -> None:
    """Wait until `check()` holds, looking every POLL seconds; fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        bot.check_alive()
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout:.0f} s\n{bot.tail()}")
        await asyncio.sleep(POLL)


async def count(db: Database, sql: str) -> int:
    row = await db.fetchone(sql)
    return int(row[0]) if row else 0


def executes_done(emu: VKEmulator) -> int:
    """`execute` requests VK answered with at least one message sent."""
    return sum(
        1
        for call in emu.calls
        if call.method == "execute"
        and call.ok
        and isinstance(call.response, list)
        and any(value is not False for value in call.response)
    )


def vk_deduped(emu: VKEmulator) -> int:
    """`messages.send` calls VK took with a `random_id` it had already seen for that peer."""
    seen: set[tuple[str, str]] = set()
    again = 0
    for call in emu.calls:
        if call.method != "messages.send" or not call.ok:
            continue
        key = (call.params.get("peer_ids", ""), call.params.get("random_id", ""))
        again += key in seen
        seen.add(key)
    return again


async def test_sigkill_under_faults_loses_and_doubles_nothing(
    tmp_path: Path, emulator: VKEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    config = await prepare(tmp_path, emulator.api_url)
    emulator.add_chat(ADMIN_CHAT, [ADMIN])
    ts_file = tmp_path / f"long-poll-{GROUP}.json"

    # A new plan each run; CRASH_SEED=<the seed in the summary> repeats one.
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    answers = answers_to_send()
    rng.shuffle(answers)
    chunks: list[list[Answer]] = []
    while len(answers) > sum(map(len, chunks)):
        start = sum(map(len, chunks))
        chunks.append(answers[start : start + rng.randint(*CHUNK)])
    # Kills after chunks 2 .. len-3, at least 3 chunks apart: the stream runs between them and
    # the last restart still has chunks to take while the faults are on.
    while True:
        picked = sorted(rng.sample(range(2, len(chunks) - 2), KILLS))
        if all(b - a >= 3 for a, b in itertools.pairwise(picked)):
            break
    moments = list(MOMENTS)
    rng.shuffle(moments)
    plan = dict(zip(picked, moments, strict=True))

    emulator.set_faults(FAULTS.model_copy(update={"seed": seed}))
    pushed: dict[str, Answer] = {}  # origin ("peer:conversation_message_id") -> answer
    bot = BotProcess(config, tmp_path)
    reader = await Database.open(tmp_path / "bot.db")

    async def stored() -> int:
        return await count(reader, "SELECT COUNT(*) FROM answers")

    def stored_at_least(target: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await stored() >= target

        return check

    async def unsent() -> int:
        return await count(reader, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")

    def poll_ts() -> list[int]:
        return [int(params["ts"]) for params in emulator.poll_requests if "ts" in params]

    async def kill_at(moment: str, chunk: int, chunk_ts: int) -> None:
        """Kill the bot at `moment`: the latest `chunk` answers were just pushed, the first
        of them at long-poll ts `chunk_ts`."""
        if moment == "resend":
            # Right after VK ran the next execute with a message in it, before the bot has
            # read VK's answer and marked those messages sent: they leave again after the
            # restart (the summary counts how many VK deduped).
            target = executes_done(emulator) + 1
            await emulator.wait_for(
                lambda: executes_done(emulator) >= target,
                STEP_TIMEOUT,
                description=f"execute #{target} done",
            )
        elif moment == "outbox":
            # VK is refusing execute (see below), so what the bot commits waits in the outbox.
            first = len(pushed) - chunk + 1

            async def waiting() -> bool:
                return await stored() >= first and await unsent() > 0

            await until(waiting, "answers stored, their messages waiting in the outbox", bot)
        else:
            target = rng.randint(len(pushed) - chunk + 1, len(pushed))
            await until(stored_at_least(target), f"{target} answers stored", bot)
        await bot.kill()
        if moment == "stored":
            # The bot saves the long-poll ts just after a batch commits; a kill between the
            # two is too narrow a window to hit by chance, so leave the file as such a kill
            # would: at the ts of the poll that fetched this chunk. The restart then gets the
            # whole batch again, and what was handled must be ignored.
            fetched = max(ts for ts in poll_ts() if ts <= chunk_ts)
            state = json.loads(ts_file.read_text(encoding="utf-8"))
            state["ts"] = str(fetched)
            ts_file.write_text(json.dumps(state), encoding="utf-8")

    try:
        await bot.start()
        # On its very first start the bot, like any VK long-poll client, begins at the
        # server's current ts; from then on it resumes from the ts it saved.
        await until(lambda: bool(emulator.poll_requests), "the bot's first long poll", bot)
        for index, chunk in enumerate(chunks):
            moment = plan.get(index) if bot.process is not None else None
            if moment is not None:
                # Until it has handled a batch the bot has no saved ts, and started afresh it
                # would begin at VK's current ts: the first kill comes after that.
                await until(ts_file.exists, "the bot saved its long-poll ts", bot)
            if moment == "outbox":
                # VK answers the next execute requests with error 10: the bot retries them
                # with back-off, and meanwhile this chunk's messages wait in the outbox.
                emulator.fail_next("execute", 10, times=4)
            chunk_ts = emulator.ts
            for answer in chunk:
                update = emulator.push_message_new(
                    from_id=head(answer.n), peer_id=head(answer.n), text=answer.text
                )
                message = update["object"]["message"]
                pushed[f"{message['peer_id']}:{message['conversation_message_id']}"] = answer
            if bot.process is None:
                # This chunk arrived while the bot was down; it starts again meanwhile.
                await bot.start()
            elif moment is not None:
                await kill_at(moment, len(chunk), chunk_ts)
            else:
                target = len(pushed) - LAG
                await until(stored_at_least(target), f"{target} answers stored", bot)

        emulator.set_faults(None)

        async def settled() -> bool:
            return await stored() >= len(pushed) and await unsent() == 0

        await until(settled, "every answer stored and every message sent", bot, SETTLE_TIMEOUT)
        rows = await reader.fetchall("SELECT origin, school_id, step_id, state FROM answers")
        failed = await reader.fetchall("SELECT key, error FROM outbox WHERE state != 'sent'")
    finally:
        await reader.close()
        await bot.stop()

    # Stored = sent: one answer per message, with the school, step and state it was sent with.
    origins = Counter(row[0] for row in rows)
    missing = set(pushed) - set(origins)
    doubled_answers = sum(times - 1 for times in origins.values())
    wrong = [
        row
        for row in rows
        if row[0] in pushed
        and (f"s{pushed[row[0]].n}", pushed[row[0]].step, pushed[row[0]].state)
        != (row[1], row[2], row[3])
    ]
    strangers = set(origins) - set(pushed)
    # One receipt per stored answer, per head and step; one notice per stored problem.
    expected = Counter((int(row[1][1:]), row[2]) for row in rows)
    receipts: Counter[tuple[int, str]] = Counter()
    for n in range(SCHOOLS):
        for sent in emulator.messages_to(head(n)):
            if sent.text.startswith("Принято"):
                match = RECEIPT.match(sent.text)
                receipts[(n, match.group(1) if match else "?")] += 1
    problems = Counter((int(row[1][1:]), row[2]) for row in rows if row[3] == "problem")
    notices = Counter(
        (int(match.group(1)), match.group(2))
        for sent in emulator.messages_to(ADMIN_CHAT)
        if (match := NOTICE.match(sent.text))
    )
    deduped = vk_deduped(emulator)
    lost = sum((expected - receipts).values())
    doubled = sum((receipts - expected).values())
    summary = (
        f"sent {len(pushed)}, stored {len(rows)}, receipts {receipts.total()}, lost {lost}, "
        f"doubled {doubled}, problem notices {notices.total()}/{problems.total()}, "
        f"kills {bot.kills} ({', '.join(plan[i] for i in sorted(plan))}); "
        f"resends deduped by VK {deduped}, faults: HTTP 5xx "
        f"{emulator.fault_counts['http_5xx']}, error 10 {emulator.fault_counts['error']}; "
        f"seed {seed}, {time.monotonic() - started:.1f} s"
    )
    with capsys.disabled():
        print(f"\ncrash safety: {summary}")

    assert bot.kills == KILLS, summary
    assert not missing, f"{summary}; sent but not stored: {sorted(missing)[:10]}"
    assert doubled_answers == 0, f"{summary}; answers stored twice: {doubled_answers}"
    assert not strangers, f"{summary}; stored but never sent: {sorted(strangers)[:10]}"
    assert not wrong, f"{summary}; stored differently from what was sent: {wrong[:10]}"
    assert len(rows) == len(pushed), summary
    assert (lost, doubled) == (0, 0), (
        f"{summary}; receipts lost {sorted(expected - receipts)[:10]}, "
        f"doubled {sorted(receipts - expected)[:10]}; not sent from the outbox: {failed[:10]}"
    )
    assert notices == problems, (
        f"{summary}; notices missing {sorted(problems - notices)[:10]}, "
        f"doubled {sorted(notices - problems)[:10]}; not sent from the outbox: {failed[:10]}"
    )
    # Not a property of the bot but of this test: a kill did catch messages VK had taken and
    # the bot had not yet marked sent, so VK's random_id dedupe was really put to the test.
    assert deduped > 0, f"{summary}; no message was sent again after a kill"


async def test_a_crash_before_the_first_batch_loses_nothing_that_came_meanwhile(
    tmp_path: Path, emulator: VKEmulator
) -> None:
    """The very first start saves VK's long-poll position at once: killed before it handled
    anything, the bot resumes from there and stores what arrived while it was down."""
    config = await prepare(tmp_path, emulator.api_url)
    ts_file = tmp_path / f"long-poll-{GROUP}.json"
    bot = BotProcess(config, tmp_path)
    await bot.start()
    try:
        await until(lambda: bool(emulator.poll_requests), "the bot's first long poll", bot)
        assert ts_file.exists()
        await bot.kill()
        for n in range(5):
            emulator.push_message_new(from_id=head(n), peer_id=head(n), text="3.1 выполнено")
        await bot.start()
        db = await Database.open(tmp_path / "bot.db")
        try:
            stored = "SELECT COUNT(*) FROM answers"

            async def all_stored() -> bool:
                return await count(db, stored) == 5

            await until(all_stored, "the 5 answers sent while the bot was down are stored", bot)
        finally:
            await db.close()
    finally:
        await bot.stop()
