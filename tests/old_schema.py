"""Rows written as earlier versions of the code wrote them, for the upgrade tests: the
repositories of today write today's columns, which an old schema does not have yet."""

from __future__ import annotations

import datetime as dt

from bot.domain import Campaign
from storage.db import Database


async def save_in_version_1_shape(
    db: Database, campaign: Campaign, created_at: dt.datetime
) -> None:
    """A campaign as the first release stored it (no closing, no step audience)."""
    await db.execute(
        "INSERT INTO campaigns (id, title, number, date, issuer, deadline, timezone, "
        "definition, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            campaign.id,
            campaign.title,
            campaign.number,
            campaign.date.isoformat(),
            campaign.issuer,
            campaign.deadline.isoformat(),
            campaign.timezone,
            campaign.model_dump_json(),
            created_at.isoformat(),
        ),
    )
    await db.executemany(
        "INSERT INTO steps (campaign_id, step_id, position, title, kind) VALUES (?, ?, ?, ?, ?)",
        [(campaign.id, s.id, n, s.title, s.kind.value) for n, s in enumerate(campaign.steps)],
    )


async def roster_in_version_1_shape(
    db: Database, people: dict[str, set[int]], created_at: dt.datetime
) -> None:
    """Schools (`Школа <id>`) and their people (heads) as the first releases stored them (no
    closing of a school)."""
    stamp = created_at.isoformat()
    await db.executemany(
        "INSERT INTO schools (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        [(school, f"Школа {school}", stamp, stamp) for school in sorted(people)],
    )
    await db.executemany(
        "INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, 'head')",
        [(p, school, f"Человек {p}") for school, ids in people.items() for p in sorted(ids)],
    )
