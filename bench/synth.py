"""Synthetic districts written straight into the real schema, fast.

The schema comes from `storage/migrations` through `Database.open`; the rows go in with
`executemany` in one transaction, not through the bot, so 40,000 schools take seconds.
School n has head `head_of(n)` and deputy `deputy_of(n)`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import deputy_of, head_of, school_id
from bot.domain import Campaign, StepKind, StepState
from storage.db import Database
from storage.repositories import CampaignRepository

# What a school said about each step, oldest first: step id -> states.
History = dict[str, list[StepState]]


@dataclass(frozen=True)
class District:
    schools: int
    people: int
    answers: int
    current: int


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


async def build_district(
    path: Path,
    campaign: Campaign,
    schools: int,
    now: dt.datetime,
    *,
    history: Callable[[int], History] | None = None,
    acknowledged: float = 0.0,
    seed: int = 8,
) -> District:
    """Create `path` with `schools` schools, a head and a deputy each, and their answers."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    db = await Database.open(path)
    try:
        await CampaignRepository(db).save(campaign, now)
        stamp = _ts(now - dt.timedelta(days=7))
        school_rows = [
            (school_id(n), f"МКОУ «СОШ №{n}» с. Школьное-{n % 97}", stamp, stamp)
            for n in range(schools)
        ]
        people_rows: list[tuple[int, str, str, str]] = []
        for n in range(schools):
            people_rows.append((head_of(n), school_id(n), f"Директоров Д. {n}", "head"))
            people_rows.append((deputy_of(n), school_id(n), f"Завучева З. {n}", "deputy"))
        answers, counts, current = _answers(campaign, schools, now, history)
        acks = [
            (campaign.id, person_id, stamp)
            for person_id, _, _, _ in people_rows
            if acknowledged and rng.random() < acknowledged
        ]
        async with db.transaction():
            await db.executemany(
                "INSERT INTO schools (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                school_rows,
            )
            await db.executemany(
                "INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, ?)",
                people_rows,
            )
            await db.executemany(
                "INSERT INTO answers (id, campaign_id, school_id, step_id, state, reason, "
                "answered_by, answered_at, late, source, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                answers,
            )
            await db.executemany(
                "INSERT INTO answer_counts (answer_id, part, position, done, total) "
                "VALUES (?, ?, ?, ?, ?)",
                counts,
            )
            await db.executemany(
                "INSERT INTO current_answers (campaign_id, school_id, step_id, answer_id, state) "
                "VALUES (?, ?, ?, ?, ?)",
                current,
            )
            await db.executemany(
                "INSERT INTO acknowledgements (campaign_id, person_id, acknowledged_at) "
                "VALUES (?, ?, ?)",
                acks,
            )
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.close()
    return District(schools, len(people_rows), len(answers), len(current))


def _answers(
    campaign: Campaign,
    schools: int,
    now: dt.datetime,
    history: Callable[[int], History] | None,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    answers: list[tuple[object, ...]] = []
    counts: list[tuple[object, ...]] = []
    current: list[tuple[object, ...]] = []
    if history is None:
        return answers, counts, current
    steps = {s.id: s for s in campaign.for_heads().steps}
    start = now - dt.timedelta(days=3)
    for n in range(schools):
        for step_id, states in history(n).items():
            step = steps[step_id]
            answer_id = 0
            for index, state in enumerate(states):
                answer_id = len(answers) + 1
                by = head_of(n) if index % 2 == 0 else deputy_of(n)
                at = start + dt.timedelta(seconds=answer_id)
                reason = "нет интернета" if state is StepState.PROBLEM else ""
                answers.append(
                    (
                        answer_id,
                        campaign.id,
                        school_id(n),
                        step_id,
                        state.value,
                        reason,
                        by,
                        _ts(at),
                        0,
                        "button" if index % 3 else "text",
                        f"{by}:{answer_id}",
                    )
                )
                if step.kind is StepKind.COUNT and state is not StepState.PROBLEM:
                    for position, part in enumerate(step.parts):
                        total = 40 + (n * 7 + position * 13) % 400
                        done = total if state is StepState.DONE else total * 3 // 4
                        counts.append((answer_id, part.key, position, done, total))
            if states:
                current.append((campaign.id, school_id(n), step_id, answer_id, states[-1].value))
    return answers, counts, current


def random_history(campaign: Campaign, seed: int = 48) -> Callable[[int], History]:
    """Each step: no answer (25%), one (45%), two (20%) or three (10%); the last one counts."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    step_ids = [s.id for s in campaign.for_heads().steps]
    finals = (StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM)

    def history(n: int) -> History:
        result: History = {}
        for step_id in step_ids:
            many = rng.choices((0, 1, 2, 3), weights=(25, 45, 20, 10))[0]
            if many:
                last = rng.choices(finals, weights=(70, 25, 5))[0]
                result[step_id] = [StepState.IN_PROGRESS] * (many - 1) + [last]
        return result

    return history


def patterned_history(
    campaign: Campaign, patterns: Sequence[Sequence[StepState]]
) -> Callable[[int], History]:
    """School n is in pattern n % len(patterns): a state per step (NONE: no answer)."""
    step_ids = [s.id for s in campaign.for_heads().steps]

    def history(n: int) -> History:
        pattern = patterns[n % len(patterns)]
        return {
            step_id: [state]
            for step_id, state in zip(step_ids, pattern, strict=True)
            if state is not StepState.NONE
        }

    return history
