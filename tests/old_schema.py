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
