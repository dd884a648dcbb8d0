"""The loop that sends what `bot.schedule` says is due, once, whatever happens to the process."""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.config import RemindersConfig
from bot.domain import Campaign
from bot.notify import Notifier
from bot.schedule import Slot, SlotKind, due_slots
from storage.repositories import ScheduleRepository

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0


class Scheduler:
    def __init__(
        self,
        campaign: Campaign,
        reminders: RemindersConfig,
        schedule: ScheduleRepository,
        notifier: Notifier,
        clock: Clock,
        *,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.campaign = campaign
        self.reminders = reminders
        self.schedule = schedule
        self.notifier = notifier
        self.clock = clock
        self.tick_seconds = tick_seconds

    async def tick(self) -> list[Slot]:
        """Send every slot due now (asking the clock once); return what was handled."""
        now = self.clock.now()
        if await self.schedule.paused_at(self.campaign.id) is not None:
            return []
        finished = await self.schedule.finished_slots(self.campaign.id)
        slots = due_slots(self.campaign, self.reminders, now, finished)
        for slot in slots:
            await self._fire(slot)
            await self.schedule.finish_slot(self.campaign.id, slot.key, now)
        return slots

    async def _fire(self, slot: Slot) -> None:
        if slot.kind is SlotKind.REMINDER:
            await self.notifier.remind(slot.key)
        elif slot.kind is SlotKind.SUMMARY:
            await self.notifier.summary(slot.key)
        elif slot.kind is SlotKind.FINAL:
            await self.notifier.summary(slot.key, final=True)
        else:
            await self.notifier.escalate(slot.key)

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and retried at the next one."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.0f s", self.tick_seconds)
            await self.clock.sleep(self.tick_seconds)
