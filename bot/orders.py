"""Several orders at once: the campaigns in the database, each with its services and rules.

The database is the truth: `confirmbot campaign add` writes a campaign from another process,
and the running bot sees it at its next `refresh` (every scheduler tick, and whenever staff
name an order the bot does not know yet). A closed campaign keeps its data and reports; it is
no longer open, so nobody is reminded of it and its buttons say it is closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain import Campaign
from bot.parsing import clean
from storage.repositories import CampaignRecord, CampaignRepository

if TYPE_CHECKING:
    from bot.notify import Notifier
    from bot.rules.chats import ChatRules
    from bot.rules.heads import HeadRules
    from bot.rules.onboarding import OnboardingRules
    from bot.rules.own_steps import StaffStepRules
    from bot.rules.staff import StaffRules
    from bot.service import CampaignService


@dataclass
class Desk:
    """One campaign's services and the parts of the rules that work on it."""

    service: CampaignService
    notifier: Notifier
    heads: HeadRules
    staff: StaffRules
    joining: OnboardingRules
    chats: ChatRules
    own: StaffStepRules  # the staff's own items of the order

    @property
    def campaign(self) -> Campaign:
        """The order as heads see it (bot/domain.py `Campaign.for_heads`)."""
        return self.service.campaign

    @property
    def order(self) -> Campaign:
        return self.service.order


class Orders:
    """Every campaign the database holds, open ones first; a desk per campaign, built once."""

    def __init__(self, repo: CampaignRepository, make_desk: Callable[[Campaign], Desk]) -> None:
        self._repo = repo
        self._make_desk = make_desk
        self._desks: dict[str, Desk] = {}
        self._records: list[CampaignRecord] = []
        self._open: list[Desk] = []

    async def refresh(self) -> None:
        """Read the campaigns again: new ones get a desk, closed ones stop being open."""
        records = await self._repo.listing()
        for record in records:
            desk = self._desks.get(record.campaign.id)
            if desk is None or desk.service.order != record.campaign:
                self._desks[record.campaign.id] = self._make_desk(record.campaign)
        self._records = records
        # Oldest first: the order in which staff issued them (read on every message).
        opened = sorted(
            (r for r in records if r.closed_at is None),
            key=lambda r: (r.created_at, r.campaign.id),
        )
        self._open = [self._desks[r.campaign.id] for r in opened]

    def records(self) -> list[CampaignRecord]:
        return list(self._records)

    def open(self) -> list[Desk]:
        """The open campaigns, oldest first."""
        return list(self._open)

    def is_open(self, campaign_id: str) -> bool:
        return any(d.campaign.id == campaign_id for d in self._open)

    def get(self, campaign_id: str) -> Desk | None:
        return self._desks.get(campaign_id)

    def named(self, ref: str) -> Desk | None:
        """The campaign staff or heads name by its id or its order number («47», «№47»)."""
        record = campaign_named(self._records, ref)
        return None if record is None else self._desks[record.campaign.id]

    def current(self) -> Desk:
        """The newest open campaign, or the newest of all when none is open: what registration
        codes follow, and what a command that names no order means when only one is open."""
        opened = self.open()
        if opened:
            return opened[-1]
        if not self._records:
            raise LookupError("no campaign in the database")
        return self._desks[self._records[0].campaign.id]


def campaign_named(records: Sequence[CampaignRecord], ref: str) -> CampaignRecord | None:
    """The campaign of `records` (open first, each group newest first, as `listing` gives
    them) whose id or order number is `ref` («47», «№47», «order_47»)."""
    ref = ref.strip().lstrip("№").strip()
    if not ref:
        return None
    for record in records:
        if record.campaign.id == ref or record.campaign.number.casefold() == ref.casefold():
            return record
    return None


# «47: 3.1 выполнено», «приказ 47 3.1 выполнено», «№47 3.1 выполнено», «по приказу 47 …».
_ORDER_PREFIX = re.compile(
    r"^(?:(?:по\s+)?приказ[ау]?\s*№?\s*|№\s*)(?P<a>[0-9A-Za-zА-Яа-я_./-]{1,32})[\s:,.]+"
    r"|^(?P<b>[0-9]{1,6}(?:[-/][0-9A-Za-zА-Яа-я]{1,8})?)\s*:\s*",
    re.IGNORECASE,
)


def order_prefix(text: str) -> tuple[str, str] | None:
    """The order a message names before its answer, and the rest; None when it names none.

    `47: 3.1 выполнено` and `приказ 47 3.1 выполнено` name order 47; `3.1: выполнено` names
    none (a step id has a dot, an order number in this form does not).
    """
    cleaned = clean(text)
    match = _ORDER_PREFIX.match(cleaned)
    if match is None:
        return None
    ref = match.group("a") or match.group("b") or ""
    rest = cleaned[match.end() :].strip()
    return (ref.rstrip(".:,"), rest) if rest else None
