"""Progress over time: the district at each daily summary, and what changed since one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.status import Changes
from storage.db import Database


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True)
class ProgressDay:
    day: dt.date
    finished: int
    taken_at: dt.datetime


class ProgressRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, campaign_id: str, day: dt.date, finished: int, now: dt.datetime
    ) -> None:
        """The day's snapshot; a second summary the same day (the final one) replaces it."""
        await self._db.execute(
            "INSERT INTO progress_days (campaign_id, day, finished, taken_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (campaign_id, day) DO UPDATE SET finished = excluded.finished, "
            "taken_at = excluded.taken_at",
            (campaign_id, day.isoformat(), finished, _ts(now)),
        )

    async def days(self, campaign_id: str, limit: int = 14) -> list[ProgressDay]:
        """The latest `limit` snapshots, oldest first."""
        rows = await self._db.fetchall(
            "SELECT day, finished, taken_at FROM progress_days WHERE campaign_id = ? "
            "ORDER BY day DESC LIMIT ?",
            (campaign_id, limit),
        )
        return [
            ProgressDay(dt.date.fromisoformat(r[0]), int(r[1]), dt.datetime.fromisoformat(r[2]))
            for r in reversed(rows)
        ]

    async def changes_since(
        self, campaign_id: str, step_ids: Sequence[str], since: dt.datetime, limit: int
    ) -> Changes:
        """Schools whose every listed item is done now and whose last answer came after
        `since`; current problems reported after `since`. One round trip."""
        marks = ",".join("?" * len(step_ids))
        finished, problems = await self._db.fetch_many(
            [
                (
                    f"""
                    SELECT s.name FROM counted_answers c
                    JOIN answers a ON a.id = c.answer_id
                    JOIN schools s ON s.id = c.school_id
                    WHERE c.campaign_id = ? AND c.state IN ('done', 'not_required')
                      AND c.step_id IN ({marks})
                    GROUP BY c.school_id HAVING COUNT(*) = ? AND MAX(a.answered_at) > ?
                    ORDER BY MAX(a.answered_at) DESC
                    """,  # noqa: S608 - only placeholders are interpolated
                    (campaign_id, *step_ids, len(step_ids), _ts(since)),
                ),
                (
                    f"""
                    SELECT s.name, c.step_id FROM counted_answers c
                    JOIN answers a ON a.id = c.answer_id
                    JOIN schools s ON s.id = c.school_id
                    WHERE c.campaign_id = ? AND c.state = 'problem' AND c.step_id IN ({marks})
                      AND a.answered_at > ?
                    ORDER BY a.answered_at DESC
                    """,  # noqa: S608 - only placeholders are interpolated
                    (campaign_id, *step_ids, _ts(since)),
                ),
            ]
        )
        return Changes(
            finished=tuple(str(r[0]) for r in finished[:limit]),
            finished_total=len(finished),
            problems=tuple((str(r[0]), str(r[1])) for r in problems[:limit]),
            problems_total=len(problems),
        )
