"""The loop that writes what `bot.schedule` says is due, once, whatever happens to the process.

A slot's messages go to the outbox in the same transaction that marks the slot taken: a crash
before the commit leaves the slot due, after it the sender has everything to send.
"""

from __future__ import annotations

import datetime as dt
import logging

from bot.clock import Clock
from bot.config import RemindersConfig
from bot.domain import Campaign
from bot.notify import Notifier
from bot.outbox import FileJob, Sender
from bot.schedule import Slot, SlotKind, due_slots, extended_slots
from storage.db import Database
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
        db: Database,
        sender: Sender,
        *,
        tick_seconds: float = TICK_SECONDS,
        prompt_expires_after: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self.campaign = campaign
        self.reminders = reminders
        self.schedule = schedule
        self.notifier = notifier
        self.clock = clock
        self.db = db
        self.sender = sender
        self.tick_seconds = tick_seconds
        self.prompt_expires_after = prompt_expires_after

    async def tick(self) -> list[Slot]:
        """Write every slot due now (asking the clock once); return what was handled."""
        now = self.clock.now()
        # Not a scheduled message but a head's answer passed on: it goes even when paused.
        async with self.db.transaction():
            told = await self.notifier.unanswered_problems(now - self.prompt_expires_after)
            # Who registered by code since the last tick, in one notice to staff.
            told += await self.notifier.registrations()
            told += await self.notifier.removals()
        if told:
            self.sender.wake()
        if await self.schedule.paused_at(self.campaign.id) is not None:
            return []
        finished = await self.schedule.finished_slots(self.campaign.id)
        since = await self.schedule.since(self.campaign.id)
        slots = due_slots(self.campaign, self.reminders, now, finished, since)
        for slot in slots:
            async with self.db.transaction():
                jobs = await self._fire(slot)
                await self.schedule.finish_slot(self.campaign.id, slot.key, now)
            self.sender.wake()
            # Pictures are uploaded after the commit; their messages go through the outbox.
            await self.sender.send_files(jobs)
        return slots + await self._extended_reminders(now, finished)

    async def _extended_reminders(self, now: dt.datetime, finished: set[str]) -> list[Slot]:
        """A school given more time (issue 17) is reminded before its own deadline, on the
        same offsets as the order's; a slot due before the extension was granted is not sent
        late. The order's own reminders skip it (`_fire`)."""
        handled: list[Slot] = []
        extensions = await self.notifier.service.repos.extensions.of_campaign(self.campaign.id)
        for extension in extensions:
            if now >= extension.deadline:
                continue
            slots = extended_slots(
                self.campaign,
                self.reminders,
                extension.school_id,
                extension.step_id,
                extension.deadline,
                extension.granted_at,
            )
            passed = [s for s in slots if s.due <= now]
            if not passed or passed[-1].key in finished:
                continue
            slot = passed[-1]
            own = self.campaign.model_copy(update={"deadline": extension.deadline})
            async with self.db.transaction():
                await self.notifier.remind(
                    slot.key, only=frozenset({extension.school_id}), campaign=own
                )
                await self.schedule.finish_slot(self.campaign.id, slot.key, now)
            self.sender.wake()
            handled.append(slot)
        return handled

    async def _fire(self, slot: Slot) -> list[FileJob]:
        if slot.kind is SlotKind.REMINDER:
            # Schools given more time than the order are reminded before their own deadline.
            waiting = await self.notifier.service.waiting(self.campaign.deadline)
            await self.notifier.remind(slot.key, skip=frozenset(waiting))
        elif slot.kind is SlotKind.SUMMARY:
            return await self.notifier.summary(slot.key)
        elif slot.kind is SlotKind.FINAL:
            return await self.notifier.summary(slot.key, final=True)
        else:
            await self.notifier.escalate(slot.key)
        return []

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and retried at the next one."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.0f s", self.tick_seconds)
            await self.clock.sleep(self.tick_seconds)
