"""The staff's own answers to their items of an order (migration 0018)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from bot.domain import AnswerSource, StepState
from storage.db import Database


class StaffAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_id: str
    step_id: str
    person_id: int
    full_name: str = ""
    state: StepState
    reason: str = ""
    answered_at: dt.datetime
    source: AnswerSource
    late: bool = False


class StaffAnswerRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, answer: StaffAnswer) -> None:
        await self._db.execute(
            """
            INSERT INTO staff_answers (campaign_id, step_id, person_id, full_name, state,
                                       reason, answered_at, source, late)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                answer.campaign_id,
                answer.step_id,
                answer.person_id,
                answer.full_name,
                answer.state.value,
                answer.reason,
                answer.answered_at.astimezone(dt.UTC).isoformat(),
                answer.source.value,
                int(answer.late),
            ),
        )

    async def name_of(self, person_id: int) -> str:
        """The name kept with the person's latest answer that has one, in any order."""
        name = await self._db.fetchval(
            "SELECT full_name FROM staff_answers WHERE person_id = ? AND full_name != '' "
            "ORDER BY id DESC LIMIT 1",
            (person_id,),
        )
        return str(name) if name else ""

    async def current(self, campaign_id: str) -> dict[int, dict[str, StaffAnswer]]:
        """Each staff member's latest answer to each of their steps."""
        rows = await self._db.fetchall(
            """
            SELECT a.campaign_id, a.step_id, a.person_id, a.full_name, a.state, a.reason,
                   a.answered_at, a.source, a.late
            FROM staff_answers a
            WHERE a.campaign_id = ? AND a.id = (
                SELECT MAX(b.id) FROM staff_answers b
                WHERE b.campaign_id = a.campaign_id AND b.person_id = a.person_id
                  AND b.step_id = a.step_id
            )
            ORDER BY a.person_id, a.step_id
            """,
            (campaign_id,),
        )
        result: dict[int, dict[str, StaffAnswer]] = {}
        for r in rows:
            answer = StaffAnswer(
                campaign_id=r[0],
                step_id=r[1],
                person_id=r[2],
                full_name=r[3],
                state=StepState(r[4]),
                reason=r[5],
                answered_at=dt.datetime.fromisoformat(r[6]),
                source=AnswerSource(r[7]),
                late=bool(r[8]),
            )
            result.setdefault(answer.person_id, {})[answer.step_id] = answer
        return result
