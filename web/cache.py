"""The order's table kept between requests, and brought up to date by the schools that answered.

Reading a whole order is the page's one costly read (about 50 ms for 1,500 schools, seconds for
40,000), and the page asks for it on every filter, page and refresh. So the rows are kept per
order with the marks they were read at (storage/web.py `TableMarks`): unchanged marks give the
kept rows; new answers only re-read the schools that gave them; anything else (a staff action,
an extension, the roster, the order closed) reads the order afresh. The marks are read before
the rows, so an answer that lands in between is read again next time, never missed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from storage.web import SchoolRow, TableMarks, WebQueries

# Past this many changed schools, reading the whole order is as cheap.
REREAD_LIMIT = 2000
KEEP_ORDERS = 8


@dataclass(frozen=True)
class Kept:
    marks: TableMarks
    rows: list[SchoolRow]


class TableCache:
    def __init__(self, queries: WebQueries) -> None:
        self._queries = queries
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def rows(self, campaign_id: str) -> tuple[list[SchoolRow], TableMarks]:
        """Every school's row of the order, as of the returned marks or later."""
        lock = self._locks.setdefault(campaign_id, asyncio.Lock())
        async with lock:  # one reader per order: a burst of polls reads it once
            marks = await self._queries.marks(campaign_id)
            kept = self._kept.get(campaign_id)
            if kept is not None and kept.marks == marks:
                self._kept.move_to_end(campaign_id)
                return kept.rows, marks
            rows: list[SchoolRow] | None = None
            if kept is not None and kept.marks.only_new_answers(marks):
                changed = await self._queries.answered_after(campaign_id, kept.marks.answers)
                if len(changed) <= REREAD_LIMIT:
                    fresh = {r.id: r for r in await self._queries.table(campaign_id, changed)}
                    rows = [fresh.get(r.id, r) for r in kept.rows]
            if rows is None:
                rows = await self._queries.table(campaign_id)
            self._kept[campaign_id] = Kept(marks, rows)
            self._kept.move_to_end(campaign_id)
            while len(self._kept) > KEEP_ORDERS:
                self._kept.popitem(last=False)
            return rows, marks
