"""The counts `статус` reads, kept by triggers (migration 0009_counts), and their recount.

`статус` over a region must not read every current answer each time it is asked: the
triggers keep per-step state counts, per-part sums, per-school done steps (and how many
schools have each number) and the roster's sizes in the same transaction as the change they
count. `recount` checks them against the base tables and repairs them (`confirmbot doctor`).
An item «не требуется» for a school (migration 0010) counts as done for that school. A closed
school (migration 0020) counts nowhere: the recounts read the views of open schools, their
people and their current answers (`open_schools`, `counted_people`, `counted_answers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from storage.db import Database
from storage.repositories import AnswerRepository


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class DistrictCounts(_Row):
    """What `статус` shows for one campaign, read from the kept counts in one round trip."""

    schools: int
    people: int
    acknowledged: int
    finished: int
    states: dict[str, dict[str, int]]  # step id -> state -> schools
    parts: dict[str, dict[str, tuple[int, int]]]  # step id -> part -> (done, total)


class CountDrift(_Row):
    """One kept count that differs from the recount."""

    table: str
    key: tuple[str, ...]
    kept: tuple[int, ...]
    counted: tuple[int, ...]


# Each kept table: how many key columns, the query that reads it, and the one that recounts
# it from the base tables (the same columns, in the same order).
_STATE_COUNTS = (
    "SELECT campaign_id, step_id, state, COUNT(*) FROM counted_answers "
    "GROUP BY campaign_id, step_id, state"
)
_PART_SUMS = (
    "SELECT c.campaign_id, c.step_id, n.part, SUM(n.done), SUM(n.total) "
    "FROM counted_answers c JOIN answer_counts n ON n.answer_id = c.answer_id "
    "GROUP BY c.campaign_id, c.step_id, n.part"
)
_SCHOOL_DONE = (
    "SELECT campaign_id, school_id, COUNT(*) FROM counted_answers "
    "WHERE state IN ('done', 'not_required') "
    "GROUP BY campaign_id, school_id"
)
_ROSTER_COUNTS = (
    "SELECT 1, (SELECT COUNT(*) FROM open_schools), "
    "(SELECT COUNT(DISTINCT person_id) FROM counted_people)"
)
_ACKNOWLEDGED_COUNTS = (
    "SELECT a.campaign_id, COUNT(*) FROM acknowledgements a "
    "WHERE EXISTS (SELECT 1 FROM counted_people p WHERE p.person_id = a.person_id) "
    "GROUP BY a.campaign_id"
)
_KEPT: dict[str, tuple[int, str, str]] = {
    "state_counts": (
        3,
        "SELECT campaign_id, step_id, state, schools FROM state_counts",
        _STATE_COUNTS,
    ),
    "part_sums": (
        3,
        "SELECT campaign_id, step_id, part, done, total FROM part_sums",
        _PART_SUMS,
    ),
    "school_done": (2, "SELECT campaign_id, school_id, steps FROM school_done", _SCHOOL_DONE),
    "done_histogram": (
        2,
        "SELECT campaign_id, steps, schools FROM done_histogram",
        "SELECT campaign_id, steps, COUNT(*) FROM ("
        "SELECT campaign_id, school_id, COUNT(*) AS steps FROM counted_answers "
        "WHERE state IN ('done', 'not_required') GROUP BY campaign_id, school_id) "
        "GROUP BY campaign_id, steps",
    ),
    "roster_counts": (1, "SELECT id, schools, people FROM roster_counts", _ROSTER_COUNTS),
    "acknowledged_counts": (
        1,
        "SELECT campaign_id, people FROM acknowledged_counts",
        _ACKNOWLEDGED_COUNTS,
    ),
}
# The repair (each recount above as an INSERT), in order: school_done first, as deleting and
# inserting its rows moves done_histogram through its triggers; the histogram is then emptied
# and rebuilt by them.
_REWRITE = (
    "DELETE FROM school_done",
    "DELETE FROM done_histogram",
    "INSERT INTO school_done (campaign_id, school_id, steps) "
    "SELECT campaign_id, school_id, COUNT(*) FROM counted_answers "
    "WHERE state IN ('done', 'not_required') "
    "GROUP BY campaign_id, school_id",
    "DELETE FROM state_counts",
    "INSERT INTO state_counts (campaign_id, step_id, state, schools) "
    "SELECT campaign_id, step_id, state, COUNT(*) FROM counted_answers "
    "GROUP BY campaign_id, step_id, state",
    "DELETE FROM part_sums",
    "INSERT INTO part_sums (campaign_id, step_id, part, done, total, answers) "
    "SELECT c.campaign_id, c.step_id, n.part, SUM(n.done), SUM(n.total), COUNT(*) "
    "FROM counted_answers c JOIN answer_counts n ON n.answer_id = c.answer_id "
    "GROUP BY c.campaign_id, c.step_id, n.part",
    "DELETE FROM roster_counts",
    "INSERT INTO roster_counts (id, schools, people) "
    "SELECT 1, (SELECT COUNT(*) FROM open_schools), "
    "(SELECT COUNT(DISTINCT person_id) FROM counted_people)",
    "DELETE FROM acknowledged_counts",
    "INSERT INTO acknowledged_counts (campaign_id, people) "
    "SELECT a.campaign_id, COUNT(*) FROM acknowledgements a "
    "WHERE EXISTS (SELECT 1 FROM counted_people p WHERE p.person_id = a.person_id) "
    "GROUP BY a.campaign_id",
)


def _keyed(
    rows: Sequence[Sequence[Any]], keys: int, *, keep_zeros: bool = False
) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Rows as key -> values; a count of zero is the same as no row (the triggers leave
    zeros behind, the recount does not produce them)."""
    result: dict[tuple[str, ...], tuple[int, ...]] = {}
    for row in rows:
        values = tuple(int(v or 0) for v in row[keys:])
        if keep_zeros or any(values):
            result[tuple(str(k) for k in row[:keys])] = values
    return result


class CountsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def district(self, campaign_id: str, step_ids: Sequence[str]) -> DistrictCounts:
        """Everything `статус` counts, from the kept tables: a few dozen rows."""
        states, parts, histogram, roster, acknowledged = await self._db.fetch_many(
            [
                (
                    "SELECT step_id, state, schools FROM state_counts WHERE campaign_id = ?",
                    (campaign_id,),
                ),
                (
                    "SELECT step_id, part, done, total FROM part_sums WHERE campaign_id = ?",
                    (campaign_id,),
                ),
                (
                    "SELECT steps, schools FROM done_histogram WHERE campaign_id = ?",
                    (campaign_id,),
                ),
                ("SELECT schools, people FROM roster_counts WHERE id = 1", ()),
                (
                    "SELECT people FROM acknowledged_counts WHERE campaign_id = ?",
                    (campaign_id,),
                ),
            ]
        )
        per_step: dict[str, dict[str, int]] = {}
        for step_id, state, schools in states:
            if schools:
                per_step.setdefault(step_id, {})[state] = int(schools)
        per_part: dict[str, dict[str, tuple[int, int]]] = {}
        for step_id, part, done, total in parts:
            per_part.setdefault(step_id, {})[part] = (int(done), int(total))
        wanted = set(step_ids)
        done_elsewhere = any(
            counts.get("done") or counts.get("not_required")
            for step, counts in per_step.items()
            if step not in wanted
        )
        if done_elsewhere:
            # A step the campaign no longer lists still has done answers: the histogram
            # counts those too, so count the finished schools from the answers themselves.
            finished = await AnswerRepository(self._db).finished_count(campaign_id, step_ids)
        else:
            finished = sum(int(n) for steps, n in histogram if steps == len(wanted))
        return DistrictCounts(
            schools=int(roster[0][0]) if roster else 0,
            people=int(roster[0][1]) if roster else 0,
            acknowledged=int(acknowledged[0][0]) if acknowledged else 0,
            finished=finished,
            states=per_step,
            parts=per_part,
        )

    async def recount(self, *, repair: bool) -> list[CountDrift]:
        """Recount every kept table from the base tables; what differs, and, with `repair`,
        the kept tables rewritten from the recount (in one transaction)."""
        drifts: list[CountDrift] = []
        async with self._db.atomic():
            for table, (keys, kept_sql, recount_sql) in _KEPT.items():
                zeros = table == "roster_counts"
                kept = _keyed(await self._db.fetchall(kept_sql), keys, keep_zeros=zeros)
                counted = _keyed(await self._db.fetchall(recount_sql), keys, keep_zeros=zeros)
                width = len(next(iter((kept | counted).values()), ()))
                zero = (0,) * width
                drifts += [
                    CountDrift(
                        table=table,
                        key=key,
                        kept=kept.get(key, zero),
                        counted=counted.get(key, zero),
                    )
                    for key in sorted(kept.keys() | counted.keys())
                    if kept.get(key, zero) != counted.get(key, zero)
                ]
            if repair and drifts:
                for statement in _REWRITE:
                    await self._db.execute(statement)
        return drifts
