"""A closed school (issue 17, point 4): its history is kept, but it leaves every total, its
people get no reminders and are told the school is closed, staff see it closed and cannot
change it, and reopening brings it back with its old answers. Fed through the real rules on a
real SQLite file (`tests.test_understanding.world`)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot import texts
from bot.__main__ import main
from bot.actions import Snackbar
from bot.domain import StepState
from bot.report import write_csv, write_xlsx
from bot.sandbox import ADMIN_CHAT
from tests.conftest import ADMIN, deputy_of, head_of
from tests.test_cli import (
    FIRST_ROSTER,
    GOOD_CONFIG,
    cli,
    db_rows,
    people,
    record_answer,
    schools,
    write,
)
from tests.test_understanding import CAMPAIGN, TWO_SCHOOLS, World, replies, world

TZ = "Europe/Moscow"
MSK = ZoneInfo(TZ)


def _finish(w: World, school_id: str) -> None:
    w.say(ADMIN, f"отметить {school_id} 3.1 выполнено, 3.3 выполнено, 3.4 выполнено")
    w.say(ADMIN, f"отметить {school_id} 3.5 выполнено, 3.2 педагоги 10 из 10 ученики 5/5")


def _close(w: World, school_id: str, reason: str = "") -> None:
    assert w.run(w.app.repos.roster.close_school(school_id, reason, w.clock.now())) == "closed"


def _reopen(w: World, school_id: str) -> None:
    assert w.run(w.app.repos.roster.reopen_school(school_id, w.clock.now())) == "reopened"


def _reminded(w: World) -> set[int]:
    w.run(w.app.flow.notifier.remind())
    pending = w.run(w.app.outbox.repo.pending_messages(limit=10_000))
    return {a.id for r in pending if ":private:" in r.message.key for a in r.message.to}


def test_a_closed_school_leaves_every_total_and_comes_back_when_reopened(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        _finish(w, "s1")
        w.say(head_of(3), "3.1 в работе, 3.2 педагоги 3 из 9 ученики 1/7")
        before = w.run(w.app.service.district_status())
        assert (before.schools, before.finished) == (3, 1)
        _close(w, "s3", "реорганизация")
        _close(w, "s1")
        status = w.run(w.app.service.district_status())
        assert (status.schools, status.finished) == (1, 0)
        first = {s.step.id: s for s in status.steps}
        assert (first["3.1"].done, first["3.1"].in_progress, first["3.1"].none) == (0, 0, 1)
        assert first["3.2"].parts[0].done == 0  # s1's 10 of 10 and s3's 3 of 9 are gone
        # The person of s1 and s2 is still one person of the roster, through s2.
        assert status.people == before.people - 4
        # Debtors, the short list and the full one, and reminders: s2 alone.
        debtors = replies(w.say(ADMIN, "должники", peer=ADMIN_CHAT))[0]
        assert "СОШ №2" in debtors
        assert "СОШ №3" not in debtors
        full = w.run(w.app.service.pending_schools())
        short = w.run(w.app.service.pending_schools(10))
        assert [p.school.id for p in full.schools] == [p.school.id for p in short.schools]
        assert [p.school.id for p in full.schools] == ["s2"]
        assert (full.total, short.total, short.owing) == (1, 1, 1)
        reminded = _reminded(w)
        assert {head_of(2), deputy_of(2), TWO_SCHOOLS} <= reminded
        assert reminded.isdisjoint({head_of(3), deputy_of(3), head_of(1), deputy_of(1)})
        # The reports leave them out (the CSV's columns and states as PRODUCT.md has them);
        # the history sheet keeps their answers.
        out = tmp_path / "report.csv"
        summary = w.run(write_csv(w.app.repos.reports, CAMPAIGN, TZ, out))
        with out.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert {r["school_id"] for r in rows} == {"s2"}
        assert (summary.schools, summary.finished) == (1, 0)
        xlsx = tmp_path / "report.xlsx"
        w.run(write_xlsx(w.app.repos.reports, CAMPAIGN, TZ, xlsx, w.clock.now()))
        book = load_workbook(xlsx)
        summary_ids = {str(r[0].value) for r in book["Сводка"].iter_rows(min_row=3)}
        assert "s1" not in summary_ids
        assert "s3" not in summary_ids
        history = [str(c.value) for row in book["История"].iter_rows() for c in row]
        assert any("СОШ №3" in c for c in history)
        # Progress over time: what changed counts open schools only.
        changes = w.run(
            w.app.repos.progress.changes_since(
                CAMPAIGN.id,
                [s.id for s in CAMPAIGN.steps],
                CAMPAIGN.deadline - dt.timedelta(days=30),
                10,
            )
        )
        assert changes.finished_total == 0
        assert w.run(w.app.repos.counts.recount(repair=False)) == []
        # Reopened, both count again with their old answers.
        _reopen(w, "s3")
        _reopen(w, "s1")
        assert w.run(w.app.service.district_status()) == before
        assert "s3" in {p.school.id for p in w.run(w.app.service.pending_schools()).schools}
        assert head_of(3) in _reminded(w)
        assert w.run(w.app.repos.counts.recount(repair=False)) == []


def test_a_closed_school_is_neither_escalated_nor_reminded_on_its_own_deadline(
    tmp_path: Path,
) -> None:
    # No admin chat: the summaries' pictures are not drawn and uploaded on every tick.
    with world(tmp_path, admin_chats=[]) as w:
        w.say(ADMIN, "продлить s2 25.10")
        assert texts.extended_reminder_name("s2") in replies(w.say(ADMIN, "расписание"))[0]
        _close(w, "s3")
        _close(w, "s2")
        assert texts.extended_reminder_name("s2") not in replies(w.say(ADMIN, "расписание"))[0]
        w.clock.set(CAMPAIGN.deadline - dt.timedelta(hours=2))
        w.tick()
        w.clock.set(dt.datetime(2023, 10, 24, 12, 0, tzinfo=MSK))
        w.tick()
        w.clock.set(dt.datetime(2023, 10, 25, 22, 0, tzinfo=MSK))
        w.tick()
        sent = [r.message for r in w.run(w.app.outbox.repo.pending_messages(limit=10_000))]
        reminded = {a.id for m in sent if ":reminder:" in m.key for a in m.to}
        assert head_of(1) in reminded
        assert reminded.isdisjoint({head_of(3), deputy_of(3), head_of(2), deputy_of(2)})
        assert not [m for m in sent if "extended:s2" in m.key]
        escalations = [m.text for m in sent if ":escalation" in m.key]
        assert escalations
        for escalation in escalations:
            assert "СОШ №1" in escalation
            assert "СОШ №2" not in escalation
            assert "СОШ №3" not in escalation


def test_a_closed_schools_people_are_told_so_instead_of_a_card(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        department = w.app.flow.settings.department
        school = w.run(w.app.repos.roster.school("s3"))
        assert school is not None
        _close(w, "s3", "ремонт")
        closed = texts.school_closed(department, [school.name])
        assert replies(w.say(head_of(3), "3.1 выполнено")) == [closed]
        assert replies(w.say(deputy_of(3), "статус")) == [closed]
        assert replies(w.say(head_of(3), "здравствуйте")) == [closed]  # every time
        press = {"a": "ans", "c": CAMPAIGN.id, "sc": "s3", "s": "3.1", "st": "done"}
        [popup] = w.click(head_of(3), press)
        assert isinstance(popup, Snackbar)
        assert popup.text == texts.school_closed_short(department)
        assert len(popup.text) <= 90
        assert w.current("s3") == {}
        # A person of an open school too answers for it as before.
        _close(w, "s1")
        said = replies(w.say(TWO_SCHOOLS, "3.1 выполнено"))
        assert closed not in said
        assert w.current("s2")["3.1"].state is StepState.DONE
        _reopen(w, "s3")
        w.say(head_of(3), "3.1 выполнено")
        assert w.current("s3")["3.1"].answered_by == head_of(3)


def test_a_closed_schools_code_registers_nobody(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.run(w.app.flow.onboarding.issue_codes(["s3"], w.clock.now()))
        [code] = w.run(w.app.repos.registrations.codes())
        _close(w, "s3")
        department = w.app.flow.settings.department
        said = replies(w.say(777_001, f"регистрация {code.code}"))
        assert said == [texts.reg_revoked(department)]
        _reopen(w, "s3")
        said = replies(w.say(777_001, f"регистрация {code.code}"))
        assert said != [texts.reg_revoked(department)]


def test_staff_see_a_closed_school_and_cannot_change_it(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(head_of(3), "3.4 в работе")
        w.say(ADMIN, "не требуется s3 3.2 нет учеников")
        school = w.run(w.app.repos.roster.school("s3"))
        assert school is not None
        _close(w, "s3", "реорганизация")
        closure = w.run(w.app.repos.roster.closure("s3"))
        assert closure is not None
        line = texts.school_closed_line(closure.closed_at, "реорганизация", TZ)
        people = replies(w.say(ADMIN, "школа s3", peer=ADMIN_CHAT))[0]
        assert line in people
        assert "реорганизация" in people
        card = replies(w.say(ADMIN, "статус s3", peer=ADMIN_CHAT))[0]
        assert card.startswith(line)
        refused = [texts.school_is_closed(school, closure.closed_at, "реорганизация", TZ)]
        for command in (
            "отметить s3 3.1 выполнено",
            "не требуется s3 3.1 ремонт",
            "требуется s3 3.2",
            "продлить s3 25.10",
            "продлить s3 3.1 25.10",
        ):
            assert replies(w.say(ADMIN, command, peer=ADMIN_CHAT)) == refused, command
        assert "reopen-school s3" in refused[0]
        current = w.current("s3")
        assert {k: a.state for k, a in current.items()} == {
            "3.4": StepState.IN_PROGRESS,
            "3.2": StepState.NOT_REQUIRED,
        }
        assert w.run(w.app.repos.extensions.of_campaign(CAMPAIGN.id)) == []
        # An open school is answered for as before; so is s3 once reopened.
        assert "закрыта" not in replies(w.say(ADMIN, "школа s2"))[0]
        _reopen(w, "s3")
        w.say(ADMIN, "отметить s3 3.1 выполнено")
        assert w.current("s3")["3.1"].source.value == "admin"


# --- the command line ----------------------------------------------------------------------------


def test_close_and_reopen_a_school_from_the_command_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path / "config.toml", GOOD_CONFIG)
    db_path = tmp_path / "bot.db"
    everyone = write(tmp_path / "all.csv", FIRST_ROSTER)
    assert cli(capsys, caplog, "roster", "import", everyone, "--config", config)[0] == 0
    record_answer(db_path, "s1", "3.1", 123)
    codes = tmp_path / "codes.csv"
    assert cli(capsys, caplog, "roster", "codes", "--config", config, "-o", codes)[0] == 0

    def run(*args: str) -> tuple[int, str, str]:
        return cli(capsys, caplog, *args, "--config", config)

    code, out, _ = run("roster", "close-school", "s1", "--reason", "  реорганизация ")
    assert code == 0
    assert out.startswith("школа s1 «МКОУ „СОШ №1“» закрыта (причина: реорганизация): ")
    assert "reopen-school s1" in out
    assert set(schools(db_path)) == {"s2"}
    code, _, err = run("roster", "close-school", "s1")
    assert code == 1
    assert "школа s1 уже закрыта" in err
    assert "(причина: реорганизация); ничего не изменено" in err
    code, _, err = run("roster", "close-school", "s9")
    assert (code, "нет школы с id s9" in err) == (1, True)
    assert run("doctor", "--check")[0] == 0
    # Its code stops working: the codes file says so.
    assert run("roster", "codes", "-o", str(codes))[0] == 0
    with codes.open(encoding="utf-8-sig") as f:
        revoked = {r["school_id"]: r["revoked"] for r in csv.DictReader(f)}
    assert revoked == {"s1": "yes", "s2": ""}
    # Its answer and people stay; the CSV report has s2 alone.
    assert db_rows(db_path, "SELECT school_id, step_id FROM answers") == [("s1", "3.1")]
    assert len(db_rows(db_path, "SELECT * FROM people WHERE school_id = 's1'")) == 2
    report = tmp_path / "report.csv"
    code, out, _ = run("report", "-o", str(report))
    assert (code, "закрытые школы в отчёт не вошли: s1" in out) == (0, True)
    with report.open(encoding="utf-8") as f:
        assert {r["school_id"] for r in csv.DictReader(f)} == {"s2"}
    # An import that lists it leaves it closed and says so, in the preview too, and again
    # when the same file comes back with nothing changed.
    closed_line = "закрытые школы в файле: 1 (s1); они остаются закрытыми"
    code, out, _ = run("roster", "import", str(everyone), "--dry-run")
    assert (code, closed_line in out) == (0, True)
    for _ in range(2):
        code, out, _ = run("roster", "import", str(everyone))
        assert (code, closed_line in out) == (0, True)
        assert set(schools(db_path)) == {"s2"}
    # A file without s2 (replace mode) keeps s2 with its people and says how to close it.
    only_s1 = write(tmp_path / "s1.csv", "\r\n".join(FIRST_ROSTER.split("\r\n")[:3]) + "\r\n")
    code, out, _ = run("roster", "import", str(only_s1))
    assert code == 0
    assert "которых нет в файле: 1" in out
    assert "close-school" in out
    assert set(schools(db_path)) == {"s2"}
    assert len(people(db_path)) == 2
    # Asked to, replace mode closes them instead (a preview first); merge refuses to.
    code, _, err = run("roster", "import", str(only_s1), "--mode", "merge", "--close-missing")
    assert (code, "--close-missing" in err) == (2, True)
    closing = "закрыты школы, которых нет в файле: 1 (s2)"
    code, out, _ = run("roster", "import", str(only_s1), "--close-missing", "--dry-run")
    assert (code, closing in out, "ничего не изменено" in out) == (0, True, True)
    assert set(schools(db_path)) == {"s2"}
    code, out, _ = run("roster", "import", str(only_s1), "--close-missing")
    assert (code, closing in out) == (0, True)
    assert schools(db_path) == {}
    [(reason,)] = db_rows(db_path, "SELECT closed_reason FROM schools WHERE id = 's2'")
    assert reason.startswith("нет в списке s1.csv, загруженном ")
    assert len(db_rows(db_path, "SELECT * FROM people WHERE school_id = 's2'")) == 2
    assert run("doctor", "--check")[0] == 0
    assert run("roster", "reopen-school", "s2")[0] == 0
    # An added person of a closed school is warned about.
    code, _, err = run("roster", "add-person", "s1", "130", "Новый Зам", "--role", "deputy")
    assert (code, "школа s1 закрыта" in err) == (0, True)
    code, out, _ = run("roster", "reopen-school", "s1")
    assert code == 0
    assert out.startswith("школа s1 «МКОУ „СОШ №1“» снова открыта")
    assert set(schools(db_path)) == {"s1", "s2"}
    code, _, err = run("roster", "reopen-school", "s1")
    assert (code, "школа s1 не закрыта; ничего не изменено" in err) == (1, True)
    assert run("roster", "reopen-school", "s9")[0] == 1
    assert run("doctor", "--check")[0] == 0
    closures = db_rows(
        db_path, "SELECT school_id, action, reason FROM school_closures WHERE school_id = 's1'"
    )
    assert closures == [("s1", "closed", "реорганизация"), ("s1", "reopened", "")]
    with pytest.raises(SystemExit) as usage:
        main(["roster", "close-school", "--config", str(config)])
    assert usage.value.code == 2
    assert "не хватает аргументов: school_id" in capsys.readouterr().err
