"""Staff run the campaign day to day (issue 17): answers on a school's behalf, «не требуется»,
extensions. Each command is fed as an Incoming through the real rules on a real SQLite file
(`tests.test_understanding.world`); the checks are on the actions and on what is stored."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot import texts
from bot.actions import Private, Snackbar
from bot.domain import AnswerSource, Person, Role, StepState
from bot.messages import Outgoing
from bot.report import write_csv, write_xlsx
from bot.sandbox import ADMIN_CHAT
from storage.db import Database, bundled_migrations
from storage.onboarding import RegistrationRepository
from tests.conftest import ADMIN, deputy_of, head_of
from tests.old_schema import roster_in_version_1_shape
from tests.test_understanding import CAMPAIGN, World, replies, world


def test_staff_record_an_answer_for_a_school_as_its_author(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(ADMIN, "/отметить s3 3.1 выполнено", peer=ADMIN_CHAT)
        current = w.current("s3")
        assert current["3.1"].state is StepState.DONE
        assert current["3.1"].answered_by == ADMIN
        assert current["3.1"].source is AnswerSource.ADMIN
        status = w.run(w.app.service.school_status(w.run(w.app.repos.roster.school("s3"))))
        step = CAMPAIGN.step("3.1")
        assert step is not None
        assert replies(actions) == [texts.marked(status, [(step, current["3.1"])])]
        told = {a.user_id for a in actions if isinstance(a, Private)}
        assert told == {head_of(3), deputy_of(3)}


def test_staff_type_every_form_heads_may_type_including_numbers(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(ADMIN, "отметить s1 п. 3,2 педагоги 45 из 50 ученики 380/412, 3.4 в работе")
        current = w.current("s1")
        assert current["3.2"].state is StepState.IN_PROGRESS
        assert current["3.2"].counts["teachers"].done == 45
        assert current["3.2"].counts["pupils"].total == 412
        assert current["3.4"].state is StepState.IN_PROGRESS
        assert {a.answered_by for a in current.values()} == {ADMIN}


def test_staff_may_keep_a_note_with_the_answer(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(ADMIN, "отметить s1 3.1 выполнено, примечание: со слов директора по телефону")
        w.say(ADMIN, "отметить s1 3.4 проблема нет интернета")
        assert w.current("s1")["3.1"].reason == "со слов директора по телефону"
        assert w.current("s1")["3.1"].state is StepState.DONE
        assert w.current("s1")["3.4"].reason == "нет интернета"


def test_a_bad_mark_stores_nothing_and_says_why(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        unknown = replies(w.say(ADMIN, "отметить 999 3.1 выполнено"))
        assert unknown == [texts.no_such_school("999")]
        no_step = replies(w.say(ADMIN, "отметить s1 9.9 выполнено"))
        assert len(no_step) == 1
        assert "Нет пункта 9.9" in no_step[0]
        no_numbers = replies(w.say(ADMIN, "отметить s1 3.2 выполнено"))
        assert len(no_numbers) == 1
        assert "3.2" in no_numbers[0]
        assert replies(w.say(ADMIN, "отметить")) == [texts.mark_usage(CAMPAIGN)]
        assert w.current("s1") == {}


def test_only_staff_may_mark(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(head_of(1), "отметить s2 3.1 выполнено")
        assert replies(actions) == [texts.admin_only(w.app.flow.settings.department)]
        assert w.current("s2") == {}


def test_not_required_counts_as_done_for_the_school_and_leaves_the_totals(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        for step in ("3.1", "3.3", "3.4", "3.5"):
            w.say(ADMIN, f"отметить s3 {step} выполнено")
        w.say(ADMIN, "отметить s1 3.2 педагоги 10 из 10 ученики 5/5")
        before = w.run(w.app.service.district_status())
        actions = w.say(ADMIN, "не требуется s3 3,2 в школе нет учеников", peer=ADMIN_CHAT)
        current = w.current("s3")["3.2"]
        assert (current.state, current.reason, current.answered_by) == (
            StepState.NOT_REQUIRED,
            "в школе нет учеников",
            ADMIN,
        )
        assert current.source is AnswerSource.ADMIN
        assert "не требуется" in replies(actions)[0]
        assert {a.user_id for a in actions if isinstance(a, Private)} == {
            head_of(3),
            deputy_of(3),
        }
        status = w.run(w.app.service.district_status())
        assert (before.finished, status.finished) == (0, 1)
        step = next(s for s in status.steps if s.step.id == "3.2")
        assert (step.done, step.not_required, step.none, step.applies) == (1, 1, 1, 2)
        assert "не требуется 1" in texts.district_status(status)
        pending = w.run(w.app.service.pending_schools())
        assert "s3" not in {p.school.id for p in pending.schools}
        assert w.run(w.app.repos.counts.recount(repair=False)) == []


def test_required_undoes_not_required_back_to_the_answer_before(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(head_of(3), "3.4 в работе")
        w.say(ADMIN, "не требуется s3 3.4")
        w.say(ADMIN, "не требуется s3 3.1 ремонт")
        assert w.current("s3")["3.4"].state is StepState.NOT_REQUIRED
        w.say(ADMIN, "требуется s3 3.4")
        w.say(ADMIN, "требуется s3 3.1")
        assert w.current("s3")["3.4"].state is StepState.IN_PROGRESS
        assert w.current("s3")["3.4"].answered_by == head_of(3)
        assert "3.1" not in w.current("s3")
        again = replies(w.say(ADMIN, "требуется s3 3.1"))
        school = w.run(w.app.repos.roster.school("s3"))
        step = CAMPAIGN.step("3.1")
        assert school is not None
        assert step is not None
        assert again == [texts.required_already(school, step)]
        log = w.run(w.app.repos.staff.of_campaign(CAMPAIGN.id))
        assert [(a.step_id, a.action, a.done_by) for a in log] == [
            ("3.4", "required", ADMIN),
            ("3.1", "required", ADMIN),
        ]
        # The history keeps every answer, «не требуется» included.
        assert [h[1:3] for h in w.history()] == [
            ("3.4", "in_progress"),
            ("3.4", "not_required"),
            ("3.1", "not_required"),
        ]
        assert w.run(w.app.repos.counts.recount(repair=False)) == []


def test_not_required_refuses_bad_input_in_russian(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        assert replies(w.say(ADMIN, "не требуется s3")) == [texts.not_required_usage(CAMPAIGN)]
        assert replies(w.say(ADMIN, "не требуется 999 3.2")) == [texts.no_such_school("999")]
        assert replies(w.say(ADMIN, "не требуется s3 7.7")) == [
            texts.unknown_step("7.7", CAMPAIGN)
        ]
        assert replies(w.say(ADMIN, "требуется")) == [texts.required_usage(CAMPAIGN)]
        assert w.current("s3") == {}


def test_heads_words_are_not_staff_commands(tmp_path: Path) -> None:
    """«Требуется помощь» from a head is a head's message, not a refused staff command."""
    with world(tmp_path) as w:
        said = replies(w.say(head_of(3), "Требуется помощь по 3.2"))
        assert said
        assert texts.admin_only(w.app.flow.settings.department) not in said
        assert replies(w.say(head_of(3), "не требуется s3 3.2")) != [
            texts.admin_only(w.app.flow.settings.department)
        ]
        assert w.current("s3") == {}


def test_reports_show_not_required_and_answers_by_staff(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(ADMIN, "отметить s2 3.1 выполнено")
        w.say(ADMIN, "не требуется s2 3.2 нет учеников")
        out = tmp_path / "report.csv"
        summary = w.run(write_csv(w.app.repos.reports, CAMPAIGN, "Europe/Moscow", out))
        with out.open(encoding="utf-8") as f:
            rows = {(r["school_id"], r["step"]): r for r in csv.DictReader(f)}
        assert rows[("s2", "3.2")]["status"] == "not_required"
        assert rows[("s2", "3.2")]["value"] == ""
        assert rows[("s2", "3.1")]["status"] == "done"
        assert rows[("s2", "3.1")]["answered_by"] == str(ADMIN)
        assert summary.finished == 0
        xlsx = tmp_path / "report.xlsx"
        w.run(write_xlsx(w.app.repos.reports, CAMPAIGN, "Europe/Moscow", xlsx, w.clock.now()))
        sheet = load_workbook(xlsx)["Сводка"]
        cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
        assert any("не требуется" in c for c in cells)
        assert any("выполнили 0 из 2 школ" in c for c in cells)


# --- extensions --------------------------------------------------------------------------------

MSK = ZoneInfo("Europe/Moscow")
# The order's deadline is 20.10.2023 23:59 (Moscow); s3 gets until 25.10.
EXTENDED = dt.datetime(2023, 10, 25, 23, 59, tzinfo=MSK)


def _outbox(w: World) -> list[Outgoing]:
    return [r.message for r in w.run(w.app.outbox.repo.pending_messages(limit=10_000))]


def _reminded(w: World, key_part: str) -> set[int]:
    return {a.id for m in _outbox(w) if key_part in m.key for a in m.to}


def test_an_extension_moves_lateness_and_is_kept_with_its_author(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(ADMIN, "продлить s3 25.10", peer=ADMIN_CHAT)
        school = w.run(w.app.repos.roster.school("s3"))
        assert school is not None
        assert replies(actions) == [texts.extended(school, None, EXTENDED, "Europe/Moscow")]
        assert {a.user_id for a in actions if isinstance(a, Private)} == {
            head_of(3),
            deputy_of(3),
        }
        w.say(ADMIN, "продлить s2 3.1 22.10 18:00")
        w.clock.set(CAMPAIGN.deadline + dt.timedelta(hours=5))
        w.say(head_of(3), "3.1 выполнено")
        w.say(head_of(2), "3.1 выполнено, 3.4 выполнено")
        w.say(head_of(1), "3.1 выполнено")
        assert w.current("s3")["3.1"].late is False
        assert w.current("s2")["3.1"].late is False
        assert w.current("s2")["3.4"].late is True
        assert w.current("s1")["3.1"].late is True
        log = w.run(w.app.repos.staff.of_campaign(CAMPAIGN.id))
        assert [(a.school_id, a.step_id, a.action, a.done_by) for a in log] == [
            ("s3", "", "extended", ADMIN),
            ("s2", "3.1", "extended", ADMIN),
        ]
        card = replies(w.say(ADMIN, "статус s3"))[0]
        assert "Срок продлён до 25.10.2023 23:59: все пункты" in card
        debtors = replies(w.say(ADMIN, "должники"))[0]
        assert "Срок продлён до 25.10.2023 23:59: все пункты" in debtors
        assert "Срок продлён до 22.10.2023 18:00: пункт 3.1" in debtors
        xlsx = tmp_path / "report.xlsx"
        w.run(write_xlsx(w.app.repos.reports, CAMPAIGN, "Europe/Moscow", xlsx, w.clock.now()))
        owed = {
            str(row[0].value): str(row[2].value)
            for row in load_workbook(xlsx)["Должники"].iter_rows(min_row=2)
        }
        assert "Срок продлён до 25.10.2023 23:59: все пункты" in owed["s3"]
        assert "Срок продлён" not in owed["s1"]


def test_an_extension_is_cancelled_and_bad_input_is_refused_in_russian(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        school = w.run(w.app.repos.roster.school("s3"))
        assert school is not None
        usage = texts.extend_usage(CAMPAIGN)
        assert replies(w.say(ADMIN, "продлить")) == [usage]
        assert replies(w.say(ADMIN, "продлить s3")) == [usage]
        assert replies(w.say(ADMIN, "продлить 999 25.10")) == [texts.no_such_school("999")]
        assert replies(w.say(ADMIN, "продлить s3 7.7 25.10")) == [
            texts.unknown_step("7.7", CAMPAIGN)
        ]
        assert replies(w.say(ADMIN, "продлить s3 32.10")) == [texts.bad_date("32.10")]
        assert replies(w.say(ADMIN, "продлить s3 завтра")) == [texts.bad_date("завтра")]
        past = dt.datetime(2023, 10, 1, 23, 59, tzinfo=MSK)
        assert replies(w.say(ADMIN, "продлить s3 3.2 01.10.2023")) == [
            texts.past_date(past, "Europe/Moscow")
        ]
        assert replies(w.say(ADMIN, "продлить s3 19.10")) == [texts.not_later_than_order(CAMPAIGN)]
        assert w.run(w.app.repos.extensions.of_campaign(CAMPAIGN.id)) == []
        w.say(ADMIN, "продлить s3 25.10")
        w.say(ADMIN, "продлить s3 3.2 27.10")
        assert replies(w.say(ADMIN, "продлить s3 3.2 отменить")) == [
            texts.extension_cancelled(school, CAMPAIGN, 1)
        ]
        [left] = w.run(w.app.repos.extensions.of_campaign(CAMPAIGN.id))
        assert (left.step_id, left.deadline) == ("", EXTENDED)
        assert replies(w.say(ADMIN, "продлить s3 отменить")) == [
            texts.extension_cancelled(school, CAMPAIGN, 1)
        ]
        assert replies(w.say(ADMIN, "продлить s3 отменить")) == [
            texts.extension_cancelled(school, CAMPAIGN, 0)
        ]
        assert w.run(w.app.repos.extensions.of_campaign(CAMPAIGN.id)) == []
        actions = [a for _, _, a, _, _ in _log(w)]
        assert actions == ["extended", "extended", "extension_cancelled", "extension_cancelled"]
        # Only staff extend.
        w.say(head_of(3), "продлить s3 25.10")
        assert w.run(w.app.repos.extensions.of_campaign(CAMPAIGN.id)) == []


def _log(w: World) -> list[tuple[str, str, str, int, str]]:
    log = w.run(w.app.repos.staff.of_campaign(CAMPAIGN.id))
    return [(a.school_id, a.step_id, a.action, a.done_by, a.detail) for a in log]


def test_an_extended_school_is_reminded_and_escalated_on_its_own_deadline(
    tmp_path: Path,
) -> None:
    # No admin chat: the summaries' pictures are not drawn and uploaded on every tick.
    with world(tmp_path, admin_chats=[]) as w:
        w.say(ADMIN, "продлить s3 25.10")
        planned = replies(w.say(ADMIN, "расписание"))[0]
        assert texts.extended_reminder_name("s3") in planned
        # The order's last reminder (3 hours before its deadline) skips s3.
        w.clock.set(CAMPAIGN.deadline - dt.timedelta(hours=2))
        w.tick()
        ordered = _reminded(w, ":reminder:")
        assert {head_of(1), head_of(2)} <= ordered
        assert head_of(3) not in ordered
        assert deputy_of(3) not in ordered
        # The controller hears of s1 and s2 after the deadline (on the first working morning
        # after the weekend), not of s3.
        w.clock.set(dt.datetime(2023, 10, 24, 12, 0, tzinfo=MSK))
        w.tick()
        [first] = [m.text for m in _outbox(w) if ":escalation" in m.key]
        assert "СОШ №1" in first
        assert "СОШ №3" not in first
        # s3 is reminded before its own deadline, alone, with its own time left.
        w.clock.set(EXTENDED - dt.timedelta(hours=2))
        w.tick()
        own = [m for m in _outbox(w) if "extended:s3" in m.key]
        assert own
        assert {a.id for m in own for a in m.to} == {head_of(3), deputy_of(3)}
        assert "25.10.2023" in own[0].text
        w.tick()
        assert len([m for m in _outbox(w) if "extended:s3" in m.key]) == len(own)
        # Once its deadline has passed, s3 is overdue like the others.
        w.clock.set(dt.datetime(2023, 10, 27, 12, 0, tzinfo=MSK))
        w.tick()
        latest = [m.text for m in _outbox(w) if ":escalation" in m.key][-1]
        assert "СОШ №3" in latest


# --- notices of registrations ------------------------------------------------------------------


def _registered(w: World, person_id: int, school_id: str, name: str) -> None:
    """What a person's role button leaves after a good code (bot.onboarding.choose_role)."""
    person = Person(person_id=person_id, school_id=school_id, full_name=name, role=Role.DEPUTY)
    w.run(w.app.repos.registrations.register(person, w.clock.now()))


def _registration_notices(w: World) -> list[Outgoing]:
    return [m for m in _outbox(w) if ":registered:" in m.key]


def test_staff_are_told_of_registrations_once_and_together(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.tick()
        assert _registration_notices(w) == []
        _registered(w, 700_001, "s1", "Аминат Гаджиева")
        w.tick()
        [one] = _registration_notices(w)
        assert [a.id for a in one.to] == [ADMIN_CHAT]
        assert one.text == texts.registered_notice(
            [(texts.mention(700_001, "Аминат Гаджиева"), Role.DEPUTY, "МКОУ «СОШ №1»")]
        )
        w.tick()
        assert len(_registration_notices(w)) == 1
        # Three within one tick: one notice naming all three.
        for n, school in ((700_002, "s2"), (700_003, "s3"), (700_004, "s3")):
            w.clock.advance(5)
            _registered(w, n, school, f"Человек {n}")
        w.tick()
        notices = _registration_notices(w)
        assert len(notices) == 2
        assert "Зарегистрировались по коду: 3 человека" in notices[1].text
        assert all(f"Человек {n}" in notices[1].text for n in (700_002, 700_003, 700_004))


async def test_registrations_before_the_upgrade_are_not_news(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    notices = next(m for m in bundled_migrations() if m.name.endswith("_notices.sql"))
    db = await Database.open(
        path, migrations=[m for m in bundled_migrations() if m.version < notices.version]
    )
    try:
        now = CAMPAIGN.deadline - dt.timedelta(days=3)
        await roster_in_version_1_shape(db, {"s1": set()}, now)
        person = Person(person_id=700_001, school_id="s1", full_name="А Б", role=Role.HEAD)
        await RegistrationRepository(db).register(person, now)
    finally:
        await db.close()
    db = await Database.open(path)
    try:
        assert await RegistrationRepository(db).unnoticed(10) == []
    finally:
        await db.close()


def test_a_heads_answer_does_not_undo_not_required(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(ADMIN, "не требуется s3 3.4 ремонт")
        said = replies(w.say(head_of(3), "3.4 в работе, 3.1 выполнено"))
        assert texts.not_required_for_school("3.4") in said
        assert w.current("s3")["3.4"].state is StepState.NOT_REQUIRED
        assert w.current("s3")["3.1"].state is StepState.DONE
        button = {"c": CAMPAIGN.id, "a": "ans", "sc": "s3", "s": "3.4", "st": "in_progress"}
        pressed = w.click(head_of(3), button)
        assert [a.text for a in pressed if isinstance(a, Snackbar)] == [
            texts.not_required_for_school("3.4")
        ]
        assert w.current("s3")["3.4"].state is StepState.NOT_REQUIRED
        # Staff may still enter an answer for it.
        w.say(ADMIN, "отметить s3 3.4 выполнено")
        assert w.current("s3")["3.4"].state is StepState.DONE


def test_school_shows_its_people_and_how_far_each_got(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        _registered(w, 700_001, "s1", "Аминат Гаджиева")
        w.say(head_of(1), "Ознакомлен")  # as the announcement's button would
        w.run(w.app.repos.conversations.mark_unreachable(deputy_of(1), w.clock.now()))
        [text] = replies(w.say(ADMIN, "школа s1"))
        lines = text.split("\n")  # mention tokens hold \x1e, which splitlines() splits on
        assert lines[0] == "🏫 МКОУ «СОШ №1» (№ s1)"
        head = next(line for line in lines if "Директор 1" in line)
        assert "руководитель — из списка" in head
        deputy = next(line for line in lines if "Завуч 1" in line)
        assert "личные сообщения от бота закрыты" in deputy
        newcomer = next(line for line in lines if "Аминат Гаджиева" in line)
        assert "зарегистрировался(ась) по коду" in newcomer
        assert "с приказом не ознакомлен(а)" in newcomer
        [unknown] = replies(w.say(ADMIN, "школа 999"))
        assert "999" in unknown
        # From a head, «Школа …» is an ordinary message, not a refused command.
        said = replies(w.say(head_of(1), "Школа выполнила пункт 3.1"))
        assert not any("сотрудник" in text for text in said)


def test_staff_are_told_once_when_people_leave_a_schools_list(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.tick()
        assert _removal_notices(w) == []
        roster = w.app.repos.roster
        assert w.run(roster.remove_person(deputy_of(1), "s1")) == 1
        w.tick()
        [one] = _removal_notices(w)
        assert [a.id for a in one.to] == [ADMIN_CHAT]
        assert one.text.startswith("➖ Убран(а) из списка школы:")
        assert "Завуч 1" in one.text
        assert "заместитель, МКОУ «СОШ №1»" in one.text
        w.tick()
        assert len(_removal_notices(w)) == 1  # told once
        # Two gone together (a re-import, `отвязать`): one notice naming both.
        w.run(roster.remove_person(head_of(2)))
        w.run(roster.remove_person(deputy_of(2)))
        w.tick()
        notices = _removal_notices(w)
        assert len(notices) == 2
        assert "Убраны из списков школ: 2 человека" in notices[1].text


def _removal_notices(w: World) -> list[Outgoing]:
    return [m for m in _outbox(w) if ":removed:" in m.key]
