"""When automatic messages are due: pure functions, checked at chosen moments."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.config import CalendarConfig, QuietHours, RemindersConfig
from bot.domain import Campaign, Step
from bot.schedule import (
    SlotKind,
    due_slots,
    out_of_quiet,
    reminder_slots,
    upcoming,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
# Quiet hours and time zones, apart from days off (tested below with the calendar on).
EVERY_DAY = CalendarConfig(weekends=(), federal=False)
DEFAULTS = RemindersConfig(calendar=EVERY_DAY)
WORKING_DAYS = RemindersConfig()


def campaign(deadline: dt.datetime, tz: str = "Europe/Moscow") -> Campaign:
    return Campaign(
        id="c",
        title="t",
        number="1",
        date=dt.date(2023, 10, 1),
        deadline=deadline,
        timezone=tz,
        steps=(Step(id="1", title="a", short_title="a"),),
    )


ORDER = campaign(dt.datetime(2023, 10, 20, 23, 59, tzinfo=MSK))


def local(slot_due: dt.datetime, zone: ZoneInfo = MSK) -> dt.datetime:
    return slot_due.astimezone(zone)


def test_default_reminders_move_out_of_quiet_hours() -> None:
    slots = reminder_slots(ORDER, DEFAULTS)
    assert [(s.key, local(s.due)) for s in slots] == [
        # 3d and 1d before 23:59 fall at 23:59, in quiet hours: moved to 08:00 next morning.
        ("reminder:3d", dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK)),
        ("reminder:1d", dt.datetime(2023, 10, 20, 8, 0, tzinfo=MSK)),
        ("reminder:3h", dt.datetime(2023, 10, 20, 20, 59, tzinfo=MSK)),
    ]


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    quiet = QuietHours(start=dt.time(13, 0), end=dt.time(14, 0))
    at = dt.datetime(2023, 10, 18, 13, 30, tzinfo=MSK)
    assert local(out_of_quiet(at, quiet, MSK)) == dt.datetime(2023, 10, 18, 14, 0, tzinfo=MSK)
    before = dt.datetime(2023, 10, 18, 12, 30, tzinfo=MSK)
    assert out_of_quiet(before, quiet, MSK) == before


def test_a_reminder_moved_past_the_deadline_is_dropped() -> None:
    early = campaign(dt.datetime(2023, 10, 20, 7, 0, tzinfo=MSK))
    config = RemindersConfig(before=(dt.timedelta(hours=2),), calendar=EVERY_DAY)
    assert reminder_slots(early, config) == []


def keys(now: dt.datetime, sent: frozenset[str] | set[str] = frozenset()) -> list[str]:
    return [s.key for s in due_slots(ORDER, DEFAULTS, now, sent)]


def test_nothing_is_due_before_the_first_slot() -> None:
    assert keys(dt.datetime(2023, 10, 1, 8, 0, tzinfo=MSK)) == []


def test_a_slot_is_due_once() -> None:
    now = dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK)
    assert keys(now, {"summary:2023-10-17"}) == ["reminder:3d"]
    assert keys(now, {"summary:2023-10-17", "reminder:3d"}) == []


def test_after_downtime_only_the_latest_missed_reminder() -> None:
    # Down from the 17th to the 20th at 10:00: "3 days left" must not go out.
    now = dt.datetime(2023, 10, 20, 10, 0, tzinfo=MSK)
    assert keys(now, {"summary:2023-10-20"}) == ["reminder:1d"]


def test_daily_summary_until_the_deadline_then_final() -> None:
    assert keys(dt.datetime(2023, 10, 19, 9, 0, tzinfo=MSK), {"reminder:3d"}) == [
        "summary:2023-10-19"
    ]
    assert keys(dt.datetime(2023, 10, 19, 8, 59, tzinfo=MSK), {"reminder:3d"}) == [
        "summary:2023-10-18"
    ]
    after = dt.datetime(2023, 10, 21, 0, 0, tzinfo=MSK)
    assert keys(after, {"reminder:3h"}) == ["final"]


def test_escalations_every_period_after_the_deadline_out_of_quiet_hours() -> None:
    sent = {"final"}
    assert keys(dt.datetime(2023, 10, 21, 23, 58, tzinfo=MSK), sent) == []
    # 24h after the 23:59 deadline is quiet: the escalation waits for 08:00.
    assert keys(dt.datetime(2023, 10, 22, 0, 30, tzinfo=MSK), sent) == []
    due = due_slots(ORDER, DEFAULTS, dt.datetime(2023, 10, 22, 8, 0, tzinfo=MSK), sent)
    assert [s.kind for s in due] == [SlotKind.ESCALATION]
    first = due[0].key
    assert keys(dt.datetime(2023, 10, 22, 12, 0, tzinfo=MSK), sent | {first}) == []
    later = keys(dt.datetime(2023, 10, 23, 8, 0, tzinfo=MSK), sent | {first})
    assert len(later) == 1
    assert later[0] != first


def test_day_reminders_keep_local_time_across_a_dst_switch() -> None:
    # Berlin leaves summer time on 29.10.2023 at 03:00 -> 02:00.
    deadline = dt.datetime(2023, 10, 30, 18, 0, tzinfo=BERLIN)
    c = campaign(deadline, "Europe/Berlin")
    slots = {s.key: s for s in reminder_slots(c, DEFAULTS)}
    assert local(slots["reminder:3d"].due, BERLIN) == dt.datetime(
        2023, 10, 27, 18, 0, tzinfo=BERLIN
    )
    assert slots["reminder:3d"].due.utcoffset() == dt.timedelta(0)
    assert deadline - slots["reminder:3d"].due == dt.timedelta(hours=73)
    assert local(slots["reminder:3h"].due, BERLIN) == dt.datetime(
        2023, 10, 30, 15, 0, tzinfo=BERLIN
    )
    # Walk the week minute by minute across the switch: each slot fires exactly once.
    fired: list[tuple[str, dt.datetime]] = []
    sent: set[str] = set()
    moment = dt.datetime(2023, 10, 26, 0, 0, tzinfo=dt.UTC)
    while moment < deadline:
        for slot in due_slots(c, DEFAULTS, moment, sent):
            if slot.kind is SlotKind.REMINDER:
                fired.append((slot.key, moment))
            sent.add(slot.key)
        moment += dt.timedelta(minutes=1)
    assert [key for key, _ in fired] == ["reminder:3d", "reminder:1d", "reminder:3h"]
    assert [local(at, BERLIN).time() for _, at in fired] == [
        dt.time(18, 0),
        dt.time(18, 0),
        dt.time(15, 0),
    ]


def test_daily_summary_at_local_time_on_the_dst_day() -> None:
    deadline = dt.datetime(2023, 11, 5, 18, 0, tzinfo=BERLIN)
    c = campaign(deadline, "Europe/Berlin")
    before = dt.datetime(2023, 10, 29, 7, 59, tzinfo=dt.UTC)  # 08:59 CET
    after = dt.datetime(2023, 10, 29, 8, 0, tzinfo=dt.UTC)  # 09:00 CET
    assert "summary:2023-10-29" not in [s.key for s in due_slots(c, DEFAULTS, before, set())]
    assert "summary:2023-10-29" in [s.key for s in due_slots(c, DEFAULTS, after, set())]


def test_upcoming_lists_the_next_of_each_kind() -> None:
    now = dt.datetime(2023, 10, 17, 10, 0, tzinfo=MSK)
    kinds = [s.kind for s in upcoming(ORDER, DEFAULTS, now, set())]
    assert kinds.count(SlotKind.REMINDER) == 3
    assert SlotKind.SUMMARY in kinds
    assert SlotKind.FINAL in kinds
    assert SlotKind.ESCALATION in kinds


def test_nothing_due_before_the_bot_took_the_campaign_on_is_sent() -> None:
    """`since`: the first start (or the first announcement). A first start at 10:00 on the
    17th does not open with that day's 09:00 summary; downtime after it still catches up."""
    since = dt.datetime(2023, 10, 17, 10, 0, tzinfo=MSK)
    start = dt.datetime(2023, 10, 17, 10, 0, tzinfo=MSK)
    assert keys(start) == ["summary:2023-10-17"]  # without `since`, what used to go out
    assert due_slots(ORDER, DEFAULTS, start, set(), since) == []
    # The next day, after a night of downtime: the 3-day reminder and the summary go.
    later = dt.datetime(2023, 10, 18, 9, 30, tzinfo=MSK)
    assert [s.key for s in due_slots(ORDER, DEFAULTS, later, set(), since)] == [
        "reminder:3d",
        "summary:2023-10-18",
    ]
    # A slot due exactly at `since` is not before it.
    at_eight = dt.datetime(2023, 10, 18, 8, 0, tzinfo=MSK)
    assert [s.key for s in due_slots(ORDER, DEFAULTS, at_eight, set(), at_eight)] == [
        "reminder:3d"
    ]


def test_a_campaign_over_before_the_first_start_sends_nothing_ever() -> None:
    since = ORDER.deadline + dt.timedelta(days=30)
    moment = since
    while moment < since + dt.timedelta(days=10):
        assert due_slots(ORDER, DEFAULTS, moment, set(), since) == []
        moment += dt.timedelta(hours=1)
    assert upcoming(ORDER, DEFAULTS, since, set(), since) == []
    # Started before the deadline, the final summary and the escalations go as always.
    early = ORDER.deadline - dt.timedelta(days=1)
    after = dt.datetime(2023, 10, 22, 8, 0, tzinfo=MSK)
    assert [s.kind for s in due_slots(ORDER, DEFAULTS, after, set(), early)] == [
        SlotKind.FINAL,
        SlotKind.ESCALATION,
    ]


# --- working days: May 2025 in Russia has two holiday blocks (1-4 and 8-11 May) -----------

MAY = campaign(dt.datetime(2025, 5, 12, 23, 59, tzinfo=MSK))


def test_a_reminder_on_a_day_off_moves_to_the_previous_working_afternoon() -> None:
    slots = {s.key: local(s.due) for s in reminder_slots(MAY, WORKING_DAYS)}
    # 3 days before is Friday 9 May, a holiday: Wednesday 7 May after lunch instead.
    assert slots["reminder:3d"] == dt.datetime(2025, 5, 7, 15, 0, tzinfo=MSK)
    # 1 day before is Sunday 23:59, quiet and a day off: Monday's quiet hours end at 08:00,
    # a working morning before the deadline.
    assert slots["reminder:1d"] == dt.datetime(2025, 5, 12, 8, 0, tzinfo=MSK)
    assert slots["reminder:3h"] == dt.datetime(2025, 5, 12, 20, 59, tzinfo=MSK)
    # With every day working, only quiet hours move it: to Saturday morning.
    nominal = {s.key: local(s.due) for s in reminder_slots(MAY, DEFAULTS)}
    assert nominal["reminder:3d"] == dt.datetime(2025, 5, 10, 8, 0, tzinfo=MSK)


def test_no_daily_summary_on_a_day_off_across_a_holiday_week() -> None:
    order = campaign(dt.datetime(2025, 5, 20, 23, 59, tzinfo=MSK))
    sent: list[str] = []
    days_with_summary = []
    moment = dt.datetime(2025, 4, 30, 9, 30, tzinfo=MSK)
    while moment < dt.datetime(2025, 5, 14, tzinfo=MSK):  # the clock, hour by hour
        for slot in due_slots(order, WORKING_DAYS, moment, sent):
            if slot.kind is SlotKind.SUMMARY:
                assert local(slot.due).time() == dt.time(9, 0)
                days_with_summary.append(local(slot.due).day)
            sent.append(slot.key)
        moment += dt.timedelta(hours=1)
    assert days_with_summary == [30, 5, 6, 7, 12, 13]  # none 1-4 and 8-11 May
    upcoming_slots = upcoming(order, WORKING_DAYS, dt.datetime(2025, 5, 7, 10, tzinfo=MSK), sent)
    summary = next(s for s in upcoming_slots if s.kind is SlotKind.SUMMARY)
    assert local(summary.due) == dt.datetime(2025, 5, 12, 9, 0, tzinfo=MSK)


def test_an_escalation_waits_for_the_next_working_morning() -> None:
    order = campaign(dt.datetime(2025, 5, 7, 23, 59, tzinfo=MSK))  # Wednesday
    sent: list[str] = []
    escalations = []
    moment = order.deadline
    while moment < dt.datetime(2025, 5, 14, tzinfo=MSK):
        for slot in due_slots(order, WORKING_DAYS, moment, sent):
            if slot.kind is SlotKind.ESCALATION:
                escalations.append(local(slot.due))
            sent.append(slot.key)
        moment += dt.timedelta(minutes=30)
    # 8-11 May are days off: one escalation on Monday morning, then one each working day.
    assert escalations == [
        dt.datetime(2025, 5, 12, 8, 0, tzinfo=MSK),
        dt.datetime(2025, 5, 13, 8, 0, tzinfo=MSK),
    ]


def test_the_federal_calendar_and_a_regions_own_days() -> None:
    federal = WORKING_DAYS.calendar.work_calendar
    assert not federal.is_working(dt.date(2025, 5, 2))  # moved from 4 January
    assert federal.is_working(dt.date(2025, 11, 1))  # a working Saturday
    assert not federal.is_working(dt.date(2025, 11, 3))
    assert federal.is_working(dt.date(2025, 2, 24))  # 23 February moved to 8 May instead
    assert not federal.is_working(dt.date(2027, 5, 10))  # a year without its decree: 9 May
    assert federal.is_working(dt.date(2025, 3, 31))
    region = CalendarConfig(days_off=(dt.date(2025, 3, 31),), working_days=(dt.date(2025, 5, 3),))
    assert not region.work_calendar.is_working(dt.date(2025, 3, 31))
    assert region.work_calendar.is_working(dt.date(2025, 5, 3))
