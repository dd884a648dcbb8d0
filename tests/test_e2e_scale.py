"""End to end at district scale: 50 schools answering by text, and 300 that did not.

The admin's «статус» is checked against numbers computed here, from the script of answers and
from the database with this file's own SQL, never from the service that wrote the reply.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.domain import Campaign, StepKind
from bot.ratelimit import RateLimiter
from bot.sandbox import ADMIN_CHAT, Sandbox, start_sandbox
from bot.vk_emulator import MAX_MESSAGE_LENGTH
from tests.conftest import ADMIN, deputy_of, district, head_of

STEPS = ("3.1", "3.2", "3.3", "3.4", "3.5")
STATES = ("done", "in_progress", "problem", "none")


@asynccontextmanager
async def district_sandbox(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, count: int
) -> AsyncIterator[Sandbox]:
    """The bot on the emulator with `count` schools: school n has head 500000 + n and deputy
    600000 + n."""
    schools, people = district(count)
    box = await start_sandbox(
        tmp_path, schools=schools, people=people, admins=[ADMIN], clock=clock, campaign=campaign
    )
    # The emulator has no rate limit to respect; the bot's own 20 requests per second would
    # only make this test slow, not different.
    box.app.api.limiter = RateLimiter(10_000)  # type: ignore[attr-defined]
    try:
        yield box
    finally:
        await box.close()


@pytest.fixture
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- the script: who says what, and what the district should look like afterwards ---------------


@dataclass
class Script:
    waves: list[list[tuple[int, str]]] = field(default_factory=lambda: [[], []])
    # What each school's current answer must be after every wave: state, and counts for 3.2.
    states: dict[int, dict[str, str]] = field(default_factory=dict)
    counts: dict[int, dict[str, tuple[int, int]]] = field(default_factory=dict)
    problems: int = 0

    def say(
        self,
        wave: int,
        who: int,
        n: int,
        text: str,
        state: str,
        counts: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self.waves[wave].append((who, text))
        step = text.split()[0]
        self.states.setdefault(n, {})[step] = state
        if counts is not None:
            self.counts[n] = counts
        if state == "problem":
            self.problems += 1

    @property
    def answers(self) -> int:
        return sum(len(wave) for wave in self.waves)


def script_for_50() -> Script:
    s = Script()
    for n in range(1, 13):  # every step done; step 3.3 reported by the deputy
        t, p = (45, 400) if n == 1 else (40 + n, 380 + 3 * n)
        s.say(0, head_of(n), n, "3.1 выполнено", "done")
        s.say(
            0,
            head_of(n),
            n,
            f"3.2 педагоги {t}/{t} ученики {p}/{p}",
            "done",
            {"teachers": (t, t), "pupils": (p, p)},
        )
        s.say(0, deputy_of(n), n, "3.3 выполнено", "done")
        s.say(0, head_of(n), n, "3.4 выполнено", "done")
        s.say(0, head_of(n), n, "3.5 выполнено", "done")
    for n in range(13, 23):  # partial numbers
        s.say(0, head_of(n), n, "3.1 выполнено", "done")
        s.say(
            0,
            head_of(n),
            n,
            f"3.2 педагоги {20 + n} из {50 + n} ученики {300 + n}/{400 + n}",
            "in_progress",
            {"teachers": (20 + n, 50 + n), "pupils": (300 + n, 400 + n)},
        )
        s.say(0, deputy_of(n), n, "3.3 в работе", "in_progress")
    for n in range(23, 30):  # problems
        s.say(0, head_of(n), n, "3.1 выполнено", "done")
        s.say(0, head_of(n), n, "3.4 проблема нет интернета", "problem")
        s.say(0, deputy_of(n), n, "3.5 выполнено", "done")
    for n in range(30, 35):  # answers changed: better, better, worse
        s.say(0, head_of(n), n, "3.1 в работе", "in_progress")
        s.say(
            0,
            head_of(n),
            n,
            "3.2 педагоги 10/30 ученики 100/300",
            "in_progress",
            {"teachers": (10, 30), "pupils": (100, 300)},
        )
        s.say(0, head_of(n), n, "3.5 выполнено", "done")
        s.say(1, head_of(n), n, "3.1 выполнено", "done")
        s.say(
            1,
            deputy_of(n),
            n,
            "3.2 педагоги 30/30 ученики 300/300",
            "done",
            {"teachers": (30, 30), "pupils": (300, 300)},
        )
        s.say(1, head_of(n), n, "3.5 проблема ещё пользуются WhatsApp", "problem")
    for n in range(35, 38):  # finished every step, then took a number back
        for step in ("3.1", "3.3", "3.4", "3.5"):
            s.say(0, head_of(n), n, f"{step} выполнено", "done")
        s.say(
            0,
            head_of(n),
            n,
            "3.2 педагоги 30/30 ученики 300/300",
            "done",
            {"teachers": (30, 30), "pupils": (300, 300)},
        )
        s.say(
            1,
            head_of(n),
            n,
            "3.2 педагоги 25 из 30 ученики 290 из 300",
            "in_progress",
            {"teachers": (25, 30), "pupils": (290, 300)},
        )
    for n in range(38, 41):  # only the deputy said anything
        s.say(0, deputy_of(n), n, "3.3 выполнено", "done")
    # Schools 41..50 stay silent.
    return s


# --- reading the database with our own SQL ----------------------------------------------------


@dataclass
class Facts:
    schools: int
    people: int
    finished: int
    steps: dict[str, Counter[str]]
    parts: dict[str, tuple[int, int]]


async def facts_from_db(box: Sandbox) -> Facts:
    db, campaign_id = box.app.db, box.app.campaign.id
    school_ids = {row[0] for row in await db.fetchall("SELECT id FROM schools")}
    people = (await db.fetchall("SELECT COUNT(DISTINCT person_id) FROM people"))[0][0]
    current = {
        (row[0], row[1]): (row[2], row[3])
        for row in await db.fetchall(
            "SELECT school_id, step_id, state, answer_id FROM current_answers "
            "WHERE campaign_id = ?",
            (campaign_id,),
        )
    }
    # The current table must say what the history's latest answer says.
    latest = {
        (row[0], row[1]): (row[2], row[3])
        for row in await db.fetchall(
            """
            SELECT school_id, step_id, state, id FROM answers
            WHERE campaign_id = ? AND id IN (
                SELECT MAX(id) FROM answers WHERE campaign_id = ? GROUP BY school_id, step_id
            )
            """,
            (campaign_id, campaign_id),
        )
    }
    assert current == latest
    steps: dict[str, Counter[str]] = {}
    for step in STEPS:
        tally: Counter[str] = Counter()
        for school in school_ids:
            tally[current.get((school, step), ("none", 0))[0]] += 1
        steps[step] = tally
    finished = sum(
        all(current.get((school, step), ("none", 0))[0] == "done" for step in STEPS)
        for school in school_ids
    )
    parts: dict[str, list[int]] = {}
    for part, done, total in await db.fetchall(
        """
        SELECT n.part, n.done, n.total FROM current_answers c
        JOIN answer_counts n ON n.answer_id = c.answer_id
        WHERE c.campaign_id = ? AND c.step_id = '3.2'
        """,
        (campaign_id,),
    ):
        sums = parts.setdefault(part, [0, 0])
        sums[0] += done
        sums[1] += total
    return Facts(
        schools=len(school_ids),
        people=people,
        finished=finished,
        steps=steps,
        parts={part: (done, total) for part, (done, total) in parts.items()},
    )


def facts_from_script(script: Script, schools: int, people: int) -> Facts:
    steps = {
        step: Counter(script.states.get(n, {}).get(step, "none") for n in range(1, schools + 1))
        for step in STEPS
    }
    finished = sum(
        all(script.states.get(n, {}).get(step) == "done" for step in STEPS)
        for n in range(1, schools + 1)
    )
    parts = {
        key: (
            sum(c[key][0] for c in script.counts.values()),
            sum(c[key][1] for c in script.counts.values()),
        )
        for key in ("teachers", "pupils")
    }
    return Facts(schools, people, finished, steps, parts)


async def count_answers(box: Sandbox) -> int:
    return int((await box.app.db.fetchall("SELECT COUNT(*) FROM answers"))[0][0])


async def wait_for_answers(box: Sandbox, expected: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    for _ in range(int(timeout / 0.05)):
        if await count_answers(box) >= expected:
            break
        await asyncio.sleep(0.05)
    assert await count_answers(box) == expected


# --- parsing the reply -------------------------------------------------------------------------

# Russian numbers: digits in groups joined by no-break spaces, a decimal comma, « %».
N = r"(\d[\d\u00a0]*)"
P = r"(\d[\d\u00a0]*(?:,\d)?)\u00a0%"
FINISHED = re.compile(rf"^Выполнили все пункты: {N} из {N} (?:школы|школ) \({P}\)$")
STEP_LINE = re.compile(
    rf"^(\d\.\d) .+: выполнено {N}, в работе {N}, проблема {N}, нет ответа {N}$"
)
PART_LINE = re.compile(rf"^\s+(\S+): подключено {N} из {N} \({P}\)$")
PEOPLE_LINE = re.compile(rf"^Ознакомлены с приказом: {N} из {N} (?:человека|человек)$")


def num(text: str) -> int:
    return int(text.replace("\u00a0", ""))


def pct_of(text: str) -> float:
    return float(text.replace("\u00a0", "").replace(",", "."))


@dataclass
class Reply:
    finished: int
    schools: int
    percent: float
    steps: dict[str, Counter[str]]
    parts: dict[str, tuple[int, int, float]]
    people: int


def parse_status(text: str, campaign: Campaign) -> Reply:
    titles = {p.title: p.key for s in campaign.steps if s.kind is StepKind.COUNT for p in s.parts}
    head = steps_seen = None
    steps: dict[str, Counter[str]] = {}
    parts: dict[str, tuple[int, int, float]] = {}
    people = -1
    for line in text.splitlines():
        if m := FINISHED.match(line):
            head = (num(m[1]), num(m[2]), pct_of(m[3]))
        elif m := STEP_LINE.match(line):
            steps_seen = m[1]
            steps[m[1]] = Counter(dict(zip(STATES, map(num, m.groups()[1:]), strict=True)))
        elif m := PART_LINE.match(line):
            assert steps_seen == "3.2", line
            parts[titles[m[1]]] = (num(m[2]), num(m[3]), pct_of(m[4]))
        elif m := PEOPLE_LINE.match(line):
            people = num(m[2])
    assert head is not None, text
    return Reply(head[0], head[1], head[2], steps, parts, people)


def pct(part: int, whole: int) -> float:
    """Rounded down to a tenth: 100 only when complete."""
    return (1000 * part // whole) / 10 if whole else 0.0


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("_in_tmp")
async def test_status_of_50_schools_matches_the_database(
    tmp_path: Path, clock: FakeClock, campaign: Campaign
) -> None:
    script = script_for_50()
    async with district_sandbox(tmp_path, clock, campaign, 50) as box:
        emu = box.emulator
        sent = 0
        for wave in script.waves:
            for who, text in wave:
                box.say(who, text)
            sent += len(wave)
            await wait_for_answers(box, sent)
        assert sent == script.answers
        # Every answer got its receipt; nothing was refused.
        await emu.wait_for(
            lambda: sum("Принято" in m.text for m in emu.sent) == sent,
            timeout=10,
            description="a receipt for every answer",
        )
        assert not [m.text for m in emu.sent if "Не понял" in m.text or "нужны числа" in m.text]
        # Each «Проблема» went to the admin chat at once.
        await emu.wait_for(
            lambda: len(emu.messages_to(ADMIN_CHAT)) >= script.problems,
            timeout=5,
            description="a notice per problem",
        )
        notices = [m for m in emu.messages_to(ADMIN_CHAT) if "Проблема" in m.text]
        assert len(notices) == script.problems

        db_facts = await facts_from_db(box)
        expected = facts_from_script(script, 50, db_facts.people)
        assert db_facts == expected

        box.say(ADMIN, "статус")
        reply = await emu.wait_for_message(ADMIN, contains="Выполнили все пункты", timeout=10)
        status = parse_status(reply.text, box.app.campaign)

    assert (status.finished, status.schools) == (db_facts.finished, db_facts.schools)
    assert status.percent == pct(db_facts.finished, db_facts.schools)
    assert status.steps == db_facts.steps
    for counter in status.steps.values():
        assert sum(counter.values()) == 50
    assert {key: value[:2] for key, value in status.parts.items()} == db_facts.parts
    for key, (done, total, percent) in status.parts.items():
        assert percent == pct(done, total), key
    assert status.people == db_facts.people == 100
    # The numbers themselves, so that a wrong script cannot make every side agree on nothing.
    assert (status.finished, status.schools, status.percent) == (12, 50, 24.0)
    assert status.steps["3.4"] == Counter(done=15, in_progress=0, problem=7, none=28)
    assert status.steps["3.5"]["problem"] == 5


@pytest.mark.usefixtures("_in_tmp")
async def test_pending_for_300_silent_schools_is_split_and_names_every_school(
    tmp_path: Path, clock: FakeClock, campaign: Campaign
) -> None:
    count = 300
    async with district_sandbox(tmp_path, clock, campaign, count) as box:
        emu = box.emulator
        names = [f"МКОУ «СОШ №{n}»" for n in range(1, count + 1)]

        def received() -> str:
            return "\n".join(m.text for m in emu.messages_to(ADMIN))

        box.say(ADMIN, "должники")
        await emu.wait_for(
            lambda: all(f"• {name}:" in received() for name in names),
            timeout=10,
            description="every school in the pending list",
        )
        parts = [m.text for m in emu.messages_to(ADMIN)]

    assert len(parts) > 1
    assert all(len(part) <= MAX_MESSAGE_LENGTH for part in parts)
    assert parts[0].startswith(f"Не выполнили все пункты: {count} из {count} школ")
    lines = [line for part in parts for line in part.splitlines()]
    school_lines = [line for line in lines if line.startswith("• ")]
    assert len(school_lines) == count
    for n, name in enumerate(names, start=1):
        line = next((line for line in school_lines if line.startswith(f"• {name}:")), None)
        assert line is not None, name
        # Whole in one message, with its people mentioned and every step owed.
        assert f"[id{head_of(n)}|" in line
        assert f"[id{deputy_of(n)}|" in line
        for step in STEPS:
            assert f"{step} (нет ответа)" in line
