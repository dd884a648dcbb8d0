"""The loop that writes what `bot.schedule` says is due, once, whatever happens to the process.

A slot's messages go to the outbox in the same transaction that marks the slot taken: a crash
before the commit leaves the slot due, after it the sender has everything to send.
"""

from __future__ import annotations

import datetime as dt
import logging

from bot.clock import Clock
from bot.config import RemindersConfig
from bot.notify import Notifier, write_reminders, write_summaries
from bot.orders import Desk, Orders
from bot.outbox import FileJob, Sender
from bot.schedule import Slot, SlotKind, due_slots, extended_slots
from storage.db import Database
from storage.repositories import ScheduleRepository

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0


class Scheduler:
    """Every open order's slots, each order on its own deadline (bot/orders.py)."""

    def __init__(
        self,
        orders: Orders,
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
        self.orders = orders
        self.reminders = reminders
        self.schedule = schedule
        # The config's campaign's notifier: what concerns no order (registrations, removals).
        self.notifier = notifier
        self.clock = clock
        self.db = db
        self.sender = sender
        self.tick_seconds = tick_seconds
        self.prompt_expires_after = prompt_expires_after

    async def tick(self) -> list[Slot]:
        """Write every slot due now (asking the clock once); return what was handled."""
        now = self.clock.now()
        # A campaign added or closed from the command line is seen here.
        await self.orders.refresh()
        opened = self.orders.open()
        # Not a scheduled message but a head's answer passed on: it goes even when paused.
        async with self.db.transaction():
            told = 0
            for desk in opened:
                told += await desk.notifier.unanswered_problems(now - self.prompt_expires_after)
            # Who registered by code since the last tick, in one notice to staff.
            told += await self.notifier.registrations()
            told += await self.notifier.removals()
        if told:
            self.sender.wake()
        due: list[tuple[Desk, list[Slot], set[str]]] = []
        for desk in opened:
            campaign = desk.campaign
            if await self.schedule.paused_at(campaign.id) is not None:
                continue
            finished = await self.schedule.finished_slots(campaign.id)
            since = await self.schedule.since(campaign.id)
            due.append((desk, due_slots(campaign, self.reminders, now, finished, since), finished))
        # Several orders' reminders (or summaries) due now go out as one message (issue 14).
        together = await self._together(due, now)
        handled = [slot for _, slot in together]
        for desk, slots, finished in due:
            for slot in slots:
                if (desk.campaign.id, slot) in together:
                    continue
                async with self.db.transaction():
                    jobs = await self._fire(desk.notifier, slot)
                    await self.schedule.finish_slot(desk.campaign.id, slot.key, now)
                self.sender.wake()
                # Pictures are uploaded after the commit; their messages go through the outbox.
                await self.sender.send_files(jobs)
                handled.append(slot)
            handled += await self._extended_reminders(desk.notifier, now, finished)
        return handled

    async def _together(
        self, due: list[tuple[Desk, list[Slot], set[str]]], now: dt.datetime
    ) -> list[tuple[str, Slot]]:
        """A person owing in several orders gets one reminder per slot time listing each, and
        staff one summary listing every order. An order with several such slots due at once
        (the bot was down) is told once, with its latest."""
        handled: list[tuple[str, Slot]] = []
        reminding = [
            (desk, kept)
            for desk, slots, _ in due
            if (kept := [s for s in slots if s.kind is SlotKind.REMINDER])
        ]
        if len(reminding) > 1:
            async with self.db.transaction():
                plans = []
                for desk, slots in reminding:
                    plans += await desk.notifier.slot_plans(slots[-1].key)
                await write_reminders(reminding[0][0].notifier.outbox, plans, now)
                for desk, slots in reminding:
                    for slot in slots:
                        await self.schedule.finish_slot(desk.campaign.id, slot.key, now)
                        handled.append((desk.campaign.id, slot))
            self.sender.wake()
        kinds = (SlotKind.SUMMARY, SlotKind.FINAL)
        summing = [
            (desk, kept)
            for desk, slots, _ in due
            if (kept := [s for s in slots if s.kind in kinds])
        ]
        if len(summing) > 1:
            async with self.db.transaction():
                jobs = await write_summaries(
                    [(d.notifier, s[-1].key, s[-1].kind is SlotKind.FINAL) for d, s in summing]
                )
                for desk, slots in summing:
                    for slot in slots:
                        await self.schedule.finish_slot(desk.campaign.id, slot.key, now)
                        handled.append((desk.campaign.id, slot))
            self.sender.wake()
            await self.sender.send_files(jobs)
        return handled

    async def _extended_reminders(
        self, notifier: Notifier, now: dt.datetime, finished: set[str]
    ) -> list[Slot]:
        """A school given more time (issue 17) is reminded before its own deadline, on the
        same offsets as the order's; a slot due before the extension was granted is not sent
        late. The order's own reminders skip it (`_fire`)."""
        campaign = notifier.campaign
        handled: list[Slot] = []
        extensions = await notifier.service.repos.extensions.of_campaign(campaign.id)
        for extension in extensions:
            if now >= extension.deadline:
                continue
            slots = extended_slots(
                campaign,
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
            own = campaign.model_copy(update={"deadline": extension.deadline})
            async with self.db.transaction():
                await notifier.remind(
                    slot.key, only=frozenset({extension.school_id}), campaign=own
                )
                await self.schedule.finish_slot(campaign.id, slot.key, now)
            self.sender.wake()
            handled.append(slot)
        return handled

    async def _fire(self, notifier: Notifier, slot: Slot) -> list[FileJob]:
        if slot.kind is SlotKind.REMINDER:
            plans = await notifier.slot_plans(slot.key)
            await write_reminders(notifier.outbox, plans, self.clock.now())
        elif slot.kind is SlotKind.SUMMARY:
            return await notifier.summary(slot.key)
        elif slot.kind is SlotKind.FINAL:
            return await notifier.summary(slot.key, final=True)
        else:
            await notifier.escalate(slot.key)
        return []

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and retried at the next one."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.0f s", self.tick_seconds)
            await self.clock.sleep(self.tick_seconds)
