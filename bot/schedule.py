"""What automatic messages are due: pure functions of the campaign, the settings and `now`.

The scheduler asks the clock once per tick and hands the moment here; what was already sent
comes from SQLite, so a restart neither loses nor repeats a slot.

Times: the deadline and every configured local time live in the campaign's time zone.
Reminders, summaries and escalations fall on working days only (`[reminders.calendar]`): a
reminder that would fall on a day off moves to the previous working day's afternoon if that is
still before the deadline, else to the next working morning; an escalation moves to the next
working morning; there is no daily summary on a day off.
Whole days are counted on the local wall clock (a reminder "1d" before a 23:59 deadline is at
23:59 the day before, even across a daylight-saving switch); hours and minutes are elapsed time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.config import QuietHours, RemindersConfig
from bot.domain import Campaign


class SlotKind(StrEnum):
    REMINDER = "reminder"
    SUMMARY = "summary"
    FINAL = "final"
    ESCALATION = "escalation"


@dataclass(frozen=True, order=True)
class Slot:
    due: dt.datetime  # aware UTC
    kind: SlotKind
    key: str  # stable name, recorded once sent: "reminder:3d", "summary:2023-10-18", ...


def local_minus(moment: dt.datetime, delta: dt.timedelta, zone: ZoneInfo) -> dt.datetime:
    """`moment - delta` with whole days on the local wall clock, the rest as elapsed time."""
    days = dt.timedelta(days=delta.days)
    rest = delta - days
    wall = moment.astimezone(zone).replace(tzinfo=None) - days
    return _localize(wall, zone).astimezone(dt.UTC) - rest


def _localize(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A local wall time as an aware datetime; a time skipped by a DST jump moves forward."""
    aware = wall.replace(tzinfo=zone)
    roundtrip = aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    if roundtrip != wall:  # in the gap of a spring-forward switch
        return (aware.astimezone(dt.UTC)).astimezone(zone)
    return aware


def out_of_quiet(moment: dt.datetime, quiet: QuietHours | None, zone: ZoneInfo) -> dt.datetime:
    """Move a moment inside quiet hours to the end of the quiet period (local time)."""
    if quiet is None:
        return moment
    local = moment.astimezone(zone)
    if not quiet.contains(local.time()):
        return moment
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += dt.timedelta(days=1)
    wall_end = dt.datetime.combine(end_day, quiet.end)
    return _localize(wall_end, zone).astimezone(dt.UTC)


# Where a slot moved off a day off lands, local time.
AFTERNOON = dt.time(15, 0)
MORNING = dt.time(9, 0)


def _morning(reminders: RemindersConfig) -> dt.time:
    quiet = reminders.quiet_hours
    return quiet.end if quiet is not None and not quiet.contains(quiet.end) else MORNING


def placed(
    moment: dt.datetime,
    reminders: RemindersConfig,
    zone: ZoneInfo,
    *,
    earlier_before: dt.datetime | None = None,
) -> dt.datetime:
    """`moment` out of quiet hours and onto a working day. A day off moves it to the previous
    working day's afternoon if that is before `earlier_before` (a reminder: before the
    deadline), else to the next working morning."""
    calendar = reminders.calendar.work_calendar
    for _ in range(4):  # quiet hours and days off may push each other once or twice
        moment = out_of_quiet(moment, reminders.quiet_hours, zone)
        day = moment.astimezone(zone).date()
        if calendar.is_working(day):
            return moment
        if earlier_before is not None:
            before = _at(calendar.previous_working(day), AFTERNOON, zone)
            if before < earlier_before:
                return out_of_quiet(before, reminders.quiet_hours, zone)
        moment = _at(calendar.next_working(day), _morning(reminders), zone)
    return moment


def _at(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    return _localize(dt.datetime.combine(day, time), zone).astimezone(dt.UTC)


def _duration_key(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def reminder_slots(campaign: Campaign, reminders: RemindersConfig) -> list[Slot]:
    """The reminder slots before the deadline, moved out of quiet hours and days off; none
    at/after it."""
    zone = ZoneInfo(campaign.timezone)
    slots = []
    for before in reminders.before:
        due = placed(
            local_minus(campaign.deadline, before, zone),
            reminders,
            zone,
            earlier_before=campaign.deadline,
        )
        if due < campaign.deadline:
            slots.append(Slot(due, SlotKind.REMINDER, f"reminder:{_duration_key(before)}"))
    return sorted(slots)


def summary_slot(campaign: Campaign, reminders: RemindersConfig, now: dt.datetime) -> Slot | None:
    """The latest daily summary due at `now`, on working days from the order's date until the
    deadline (after it, the final summary says it all)."""
    if now >= campaign.deadline:
        return None
    zone = ZoneInfo(campaign.timezone)
    calendar = reminders.calendar.work_calendar
    local_now = now.astimezone(zone)
    day = local_now.date()
    due = _localize(dt.datetime.combine(day, reminders.daily_summary), zone)
    if due > local_now:
        day -= dt.timedelta(days=1)
    if not calendar.is_working(day):
        day = calendar.previous_working(day)
    due = _localize(dt.datetime.combine(day, reminders.daily_summary), zone)
    if due >= campaign.deadline or day < campaign.date:
        return None
    return Slot(due.astimezone(dt.UTC), SlotKind.SUMMARY, f"summary:{day.isoformat()}")


def _escalation(
    campaign: Campaign, reminders: RemindersConfig, periods: int, zone: ZoneInfo
) -> Slot:
    nominal = campaign.deadline + periods * reminders.escalate_every
    due = placed(nominal, reminders, zone)
    return Slot(due, SlotKind.ESCALATION, f"escalation:{nominal.isoformat()}")


def escalation_slot(
    campaign: Campaign, reminders: RemindersConfig, now: dt.datetime
) -> Slot | None:
    """The latest escalation due at `now`: every `escalate_every` after the deadline, each
    moved out of quiet hours and days off."""
    if now < campaign.deadline + reminders.escalate_every:
        return None
    zone = ZoneInfo(campaign.timezone)
    periods = int((now - campaign.deadline) / reminders.escalate_every)
    # A period whose escalation moved past `now` (quiet hours, a weekend) is not due yet:
    # the latest earlier one is.
    for back in range(periods, max(periods - 64, 0), -1):
        slot = _escalation(campaign, reminders, back, zone)
        if slot.due <= now:
            return slot
    return None


def ended_before(campaign: Campaign, since: dt.datetime | None) -> bool:
    """Whether the deadline passed before the bot took the campaign on: nobody was asked
    through the bot, so there is no final summary and nobody to escalate."""
    return since is not None and campaign.deadline < since


def extended_slots(
    campaign: Campaign,
    reminders: RemindersConfig,
    school_id: str,
    step_id: str,
    deadline: dt.datetime,
    granted_at: dt.datetime,
) -> list[Slot]:
    """The reminders of a school given until `deadline` (issue 17): the order's offsets
    before its own deadline, none due before the extension was granted (not sent late). Keys
    name the school, the step and the deadline, so a moved deadline has reminders of its own."""
    own = campaign.model_copy(update={"deadline": deadline})
    moment = deadline.astimezone(dt.UTC)
    return [
        Slot(
            slot.due,
            SlotKind.REMINDER,
            f"extended:{school_id}:{step_id}:{moment:%Y%m%dT%H%M}:{slot.key}",
        )
        for slot in reminder_slots(own, reminders)
        if slot.due >= granted_at
    ]


def due_slots(
    campaign: Campaign,
    reminders: RemindersConfig,
    now: dt.datetime,
    sent: Iterable[str],
    since: dt.datetime | None = None,
) -> list[Slot]:
    """What to send now. Only the latest missed slot of each kind: after downtime nobody gets
    "3 days left" when one day is left, and nothing that was sent goes again.

    `since` is when the bot took the campaign on (its first start with it, or its first
    announcement if later): a slot due before it was never missed, so it is not sent late;
    a first start does not open with yesterday's summary.
    """
    done = set(sent)
    due: list[Slot] = []
    if now < campaign.deadline:
        passed = [s for s in reminder_slots(campaign, reminders) if s.due <= now]
        if passed and passed[-1].key not in done:
            due.append(passed[-1])
    summary = summary_slot(campaign, reminders, now)
    if summary is not None and summary.key not in done:
        due.append(summary)
    if now >= campaign.deadline and "final" not in done:
        due.append(Slot(campaign.deadline, SlotKind.FINAL, "final"))
    escalation = escalation_slot(campaign, reminders, now)
    if escalation is not None and escalation.key not in done:
        due.append(escalation)
    if since is not None:
        if ended_before(campaign, since):
            due = [s for s in due if s.kind not in (SlotKind.FINAL, SlotKind.ESCALATION)]
        due = [s for s in due if s.due >= since]
    return sorted(due)


def upcoming(
    campaign: Campaign,
    reminders: RemindersConfig,
    now: dt.datetime,
    sent: Iterable[str],
    since: dt.datetime | None = None,
) -> list[Slot]:
    """The next slots of each kind after `now`, for `расписание` (`since` as in `due_slots`)."""
    done = set(sent)
    if ended_before(campaign, since):
        return []
    zone = ZoneInfo(campaign.timezone)
    later: list[Slot] = [
        s for s in reminder_slots(campaign, reminders) if s.due > now and s.key not in done
    ]
    calendar = reminders.calendar.work_calendar
    day = now.astimezone(zone).date()
    for _ in range(60):
        due = _localize(dt.datetime.combine(day, reminders.daily_summary), zone)
        if due >= campaign.deadline:
            break
        if now < due and calendar.is_working(day):
            later.append(
                Slot(due.astimezone(dt.UTC), SlotKind.SUMMARY, f"summary:{day.isoformat()}")
            )
            break
        day += dt.timedelta(days=1)
    if now < campaign.deadline:
        later.append(Slot(campaign.deadline, SlotKind.FINAL, "final"))
        later.append(_escalation(campaign, reminders, 1, zone))
    else:
        periods = int((now - campaign.deadline) / reminders.escalate_every) + 1
        later.append(_escalation(campaign, reminders, periods, zone))
    return sorted(later)
