"""bot/TEXTS.md, the mechanical part: every text the bot sends, rendered and checked.

Two kinds of check. The source of `bot/texts.py` is read as Python (string literals only, not
docstrings): no «шаг», no «%» typed by hand, no department name, no «{name}» in quotes. And
every text is rendered from sample data chosen to catch what the source cannot show: school
names that carry their own quotes, counts that end in 1, 2-4, 5 and 11-14, a department that
is not «Управление образования», a school whose items are «в работе».
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.campaign import default_campaign_path, load_campaign, parse_campaign
from bot.config import DepartmentConfig
from bot.domain import (
    Answer,
    AnswerSource,
    Campaign,
    Count,
    Person,
    Role,
    School,
    Step,
    StepKind,
    StepState,
)
from bot.parsing import AnswerError, AnswerProblem
from bot.russian import plural
from bot.status import DistrictStatus, PartProgress, PendingSchool, SchoolStatus, StepSummary

ROOT = Path(__file__).resolve().parent.parent
TEXTS_SOURCE = ROOT / "bot" / "texts.py"
MSK = ZoneInfo("Europe/Moscow")
ORDER_47 = load_campaign(default_campaign_path()).for_heads()
# A department and an order that never say «Управление»: whatever does comes from the code.
ELSEWHERE = DepartmentConfig(
    name="Комитета по образованию", short_name="Комитета", phone="+7 (87231) 5-12-34"
)
NEUTRAL = parse_campaign(
    {
        "campaign": {
            "id": "order_9",
            "title": "О «Цифровой школе»",
            "number": "9",
            "date": "10.01.2024",
            "issuer": "Комитет по образованию",
            "deadline": "2024-01-20T18:00:00",
            "timezone": "Europe/Moscow",
        },
        "steps": [
            {"id": "1.1", "title": "назначить ответственного", "short_title": "Ответственный"},
            {
                "id": "1.2",
                "title": "подключить 100% компьютеров",  # the file's «%» is set on reading
                "short_title": "Компьютеры в сети",
                "kind": "count",
                "parts": [
                    {"key": "pcs", "title": "компьютеры"},
                    {"key": "rooms", "title": "кабинеты"},
                ],
            },
            {"id": "1.3", "title": "провести урок", "short_title": "Открытый урок"},
        ],
    }
)
# Names as rosters have them: their own quotes, «» or "".
SCHOOLS = (
    School(id="001", name="МКОУ «Аксайская СОШ №1»"),
    School(id="002", name='МКОУ "СОШ №2"'),
    School(id="003", name="Гимназия 3"),
)
# Counts whose nouns take every form: 1, 2-4, 5-9/0, 11-14, 21, 1001, and five digits.
NUMBERS = (0, 1, 2, 3, 5, 11, 12, 14, 21, 22, 25, 31, 101, 111, 1001, 40_021)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2023, 10, day, hour, 0, tzinfo=MSK)


def answer(step: Step, state: StepState, **extra: object) -> Answer:
    return Answer.model_validate(
        {
            "campaign_id": "x",
            "school_id": "001",
            "step_id": step.id,
            "state": state,
            "answered_by": 500_001,
            "answered_at": at(17),
            "source": AnswerSource.TEXT,
            **extra,
        }
    )


def answers_of(campaign: Campaign) -> dict[str, Answer]:
    """Every kind of answer: done, in progress with numbers, a problem with its reason, late."""
    out: dict[str, Answer] = {}
    states = [StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM]
    for step, state in zip(campaign.steps, states * 3, strict=False):
        if step.kind is StepKind.COUNT:
            counts = {p.key: Count(done=41 + i, total=45 + i) for i, p in enumerate(step.parts)}
            out[step.id] = answer(step, StepState.IN_PROGRESS, counts=counts)
        elif state is StepState.PROBLEM:
            out[step.id] = answer(step, state, reason="нет интернета.", late=True)
        else:
            out[step.id] = answer(step, state)
    return out


def people_of(school: School) -> tuple[Person, ...]:
    return (
        Person(person_id=500_001, school_id=school.id, full_name="Алиева Патимат", role=Role.HEAD),
        Person(person_id=600_001, school_id=school.id, full_name="Омаров Расул", role=Role.DEPUTY),
    )


def district(campaign: Campaign, schools: int, done: int) -> DistrictStatus:
    summaries = []
    for step in campaign.steps:
        parts = tuple(PartProgress(p.title, done * 40, schools * 45) for p in step.parts)
        rest = schools - done
        summaries.append(
            StepSummary(step, done, rest // 3, rest // 3, rest - 2 * (rest // 3), parts)
        )
    return DistrictStatus(
        campaign=campaign,
        now=at(17),
        schools=schools,
        finished=done,
        steps=tuple(summaries),
        acknowledged_people=done,
        people=schools,
    )


def pending_of(campaign: Campaign) -> list[PendingSchool]:
    states = {s.id: StepState.IN_PROGRESS for s in campaign.steps[1:]}
    return [PendingSchool(school, states, people_of(school)) for school in SCHOOLS]


def rendered(campaign: Campaign, department: DepartmentConfig) -> Iterator[tuple[str, str]]:
    """(what, text) for every text the bot sends, from the sample data."""
    now = campaign.deadline - dt.timedelta(days=2, hours=5)
    late = campaign.deadline + dt.timedelta(days=1, hours=1)
    answers = answers_of(campaign)
    owed_states = [(s.id, answers[s.id].state) for s in campaign.steps if s.id in answers]
    owed_states = [(sid, st) for sid, st in owed_states if st is not StepState.DONE]
    counting = next(s for s in campaign.steps if s.kind is StepKind.COUNT)
    confirm = next(s for s in campaign.steps if s.kind is StepKind.CONFIRM)
    yield "stranger", texts.stranger(department)
    yield "stranger_short", texts.stranger_short(department)
    yield "admin_only", texts.admin_only(department)
    yield "admin_in_heads_chat", texts.admin_in_heads_chat(department)
    yield "unknown_school", texts.unknown_school("МКОУ «Лицей»")
    yield "welcome_chat", texts.welcome_chat(department, campaign.number)
    yield "help_admin", texts.help_admin(department)
    yield "head_help", texts.head_help([SCHOOLS[0].name], campaign)
    yield "head_help two", texts.head_help([s.name for s in SCHOOLS[:2]], campaign)
    yield "announcement", texts.announcement(campaign)
    for error in AnswerError:
        problem = AnswerProblem(error, counting.id, "педагоги: 50 из 45")
        yield f"answer_error {error}", texts.answer_error(problem, campaign)
    for step in campaign.steps:
        yield f"button {step.id}", texts.step_button_label(step)
    for school in SCHOOLS:
        status = SchoolStatus(campaign, school, people_of(school), answers, {500_001: at(16)})
        yield "card", texts.card(status, now)
        yield "card late", texts.card(status, late)
        yield "school_status", texts.school_status(status, {500_001: "Алиева"}, "Europe/Moscow")
        for step in (counting, confirm):
            yield "step_prompt", texts.step_prompt(campaign, school, step)
            yield "receipt", texts.receipt(status, step, answers[step.id], now)
            yield "problem_notice", texts.problem_notice(school, step, "нет сети.", "Алиева")
        done = SchoolStatus(
            campaign, school, (), {s.id: answer(s, StepState.DONE) for s in campaign.steps}
        )
        yield (
            "receipt all done",
            texts.receipt(done, confirm, answer(confirm, StepState.DONE), now),
        )
        yield "all done", texts.ALL_DONE.format(school=school.name, number=campaign.number)
        yield (
            "reg_done",
            texts.REG_DONE.format(school=school.name, role=texts.ROLE_NAME[Role.HEAD]),
        )
        yield "reg_choose_role", texts.REG_CHOOSE_ROLE.format(school=school.name)
    for n in NUMBERS:
        for done in {0, n // 2, n}:
            status = district(campaign, n, done)
            yield f"district_status {done}/{n}", texts.district_status(status)
            yield "report_caption", texts.report_caption(campaign, now, n, done)
            yield "report_step_total", texts.report_step_total(done, n)
            yield "chart_finished", texts.chart_finished(done, n)
            yield "chart_step_counts", texts.chart_step_counts(done, n, n - done, 0)
            yield "chart_value", texts.chart_value(done, n)
        yield "pending", texts.pending(campaign, pending_of(campaign), n + 3, n + 3)
        yield "pending cut", texts.pending(campaign, pending_of(campaign)[:1], n + 3, n + 3)
        yield "escalation", texts.escalation(campaign, pending_of(campaign), n + 3, late, n + 3)
        yield "more_schools", texts.more_schools(n)
        yield "announced", texts.announced(n)
        yield "time_left", texts.time_left(campaign, campaign.deadline - dt.timedelta(minutes=n))
        yield "time_left", texts.time_left(campaign, campaign.deadline - dt.timedelta(hours=n))
    yield "pending none", texts.pending(campaign, [], 31, 0)
    yield "reminder", texts.reminder(campaign, owed_states, now)
    yield "reminder one", texts.reminder(campaign, owed_states[:1], now)
    yield "reminder count", texts.reminder(campaign, [(counting.id, StepState.NONE)], now)
    chat_items = [(item, [500_001]) for item in pending_of(campaign)]
    yield "reminder_in_chat", texts.reminder_in_chat(campaign, chat_items, now)
    yield "schedule", texts.schedule([("напоминание должникам", now)], False, "Europe/Moscow")
    yield "schedule paused", texts.schedule([], True, "Europe/Moscow")
    for reg in (texts.reg_unknown, texts.reg_expired, texts.reg_revoked, texts.reg_too_many):
        yield reg.__name__, reg(department)
    for kind in ("admin", "heads"):
        yield f"bound {kind}", texts.bound(kind, department)
    yield "max_link", texts.max_link("https://max.ru/confirm_bot?start=K7M4PQ")
    yield "max_link_unregistered", texts.MAX_LINK_UNREGISTERED
    yield "max_linked", texts.MAX_LINKED
    yield "max_link_refused", texts.max_link_refused(department)
    registered = [("id1", "Алиева", Role.HEAD, SCHOOLS[0].name, at(16))]
    unresolved = [("001", "Омаров (vk.com/omarov)", texts.SCREEN_NAME_UNKNOWN)]
    yield "registrations", texts.registrations(registered, unresolved, "Europe/Moscow")
    yield "verification", texts.verification_line(confirm, False, ["Омаров"])
    yield "report_title", texts.report_title(campaign, "20.10.2023 23:59", "17.10.2023", "MSK")
    counts = answers[counting.id]
    yield "report_counts", texts.report_counts(counting, counts)
    yield "report_part_total", texts.report_part_total("педагоги", 41, 45)
    yield "chart_part", texts.chart_part("педагоги", 41, 45)
    yield "ask_to_write", texts.ask_to_write("Алиева", 500_001)
    yield "snack", texts.SNACK_SAVED.format(step="3.4", state=texts.STATE_NAME[StepState.DONE])
    yield "ask_reason", texts.ASK_REASON.format(step=confirm.id)
    # Understanding (issue 12): what the bot says about a message it read.
    yield "attachments_only", texts.attachments_only(campaign)
    yield "question_without_step", texts.question_without_step(campaign)
    typed = 'Пункт 3.1 "выполнен", 3.4 «в работе»'
    yield "choose_school_for_answer", texts.choose_school_for_answer(typed)
    yield "choose_school_for_answer long", texts.choose_school_for_answer("я" * 300)
    for step in campaign.steps:
        yield f"about_step {step.id}", texts.about_step(campaign, step)
        yield f"not_done {step.id}", texts.not_done(step)
        yield f"no_state_for_step {step.id}", texts.no_state_for_step(step.id, "может быть")
        yield f"no_state_for_step {step.id} bare", texts.no_state_for_step(step.id, "")
        yield f"state_without_step {step.id}", texts.state_without_step("готово", step)
    for school in SCHOOLS:
        yield "answer_for_school", texts.answer_for_school(typed, school)
        status = SchoolStatus(campaign, school, people_of(school), answers)
        items = [(step, answers[step.id]) for step in campaign.steps if step.id in answers]
        yield "received_many", texts.received_many(status, items, now)
        for because in (texts.NO_REASON, texts.NO_REASON_AFTER_ASKING):
            yield "problem_notice no reason", texts.problem_notice(school, confirm, because, "А")
        # Staff operations (issue 17).
        yield "marked", texts.marked(status, items)
        yield "marked one", texts.marked(status, items[:1])
        yield "marked all done", texts.marked(done_status(campaign, school), items[:1])
        yield "marked_notice", texts.marked_notice(department, status, items)
    yield "mark_usage", texts.mark_usage(campaign)
    yield "not_required_usage", texts.not_required_usage(campaign)
    yield "required_usage", texts.required_usage(campaign)
    yield "unknown_step", texts.unknown_step("7.7", campaign)
    yield "extend_usage", texts.extend_usage(campaign)
    yield (
        "schedule extended",
        texts.schedule([(texts.extended_reminder_name("009"), now)], False, "Europe/Moscow"),
    )
    for step in campaign.steps:
        yield "not_required_for_school", texts.not_required_for_school(step.id)
    later_by_step = {"": campaign.deadline + dt.timedelta(days=3)}
    extended_schools = [
        PendingSchool(p.school, p.states, p.people, later_by_step) for p in pending_of(campaign)
    ]
    yield "pending extended", texts.pending(campaign, extended_schools, 5, 3)
    for n in NUMBERS[1:6]:
        people = [(f"[id{i}|Алиева]", Role.HEAD, SCHOOLS[i % 3].name) for i in range(n)]
        yield f"registered_notice {n}", texts.registered_notice(people)
    yield "bad_date", texts.bad_date("32.10")
    yield "bad_date long", texts.bad_date("я" * 300)
    yield "past_date", texts.past_date(at(1), "Europe/Moscow")
    yield "not_later_than_order", texts.not_later_than_order(campaign)
    later = campaign.deadline + dt.timedelta(days=5)
    for school in SCHOOLS:
        for step in (None, confirm, counting):
            yield "extended", texts.extended(school, step, later, "Europe/Moscow")
            yield "extended_notice", texts.extended_notice(campaign, school, step, later)
        for count in (0, 1, 2):
            yield "extension_cancelled", texts.extension_cancelled(school, campaign, count)
        status = SchoolStatus(campaign, school, people_of(school), answers)
        extended_until = {"": later, confirm.id: later + dt.timedelta(days=1)}
        yield (
            "school_status extended",
            texts.school_status(status, {}, "Europe/Moscow", (None, []), extended_until),
        )
    for school in SCHOOLS:
        status = SchoolStatus(campaign, school, people_of(school), answers)
        exempt = answer(confirm, StepState.NOT_REQUIRED, reason="ремонт.")
        yield "not_required_marked", texts.not_required_marked(status, confirm, exempt)
        yield "not_required_notice", texts.not_required_notice(department, school, confirm)
        yield "required_again", texts.required_again(status, confirm)
        yield "required_already", texts.required_already(school, confirm)
        for reason in ("", "реорганизация «по приказу»"):
            yield "school_closed_line", texts.school_closed_line(at(16), reason, "Europe/Moscow")
            yield "school_is_closed", texts.school_is_closed(school, at(16), reason, "Asia/Omsk")
    yield "no_such_school", texts.no_such_school("МКОУ «Лицей»")
    yield "school_closed", texts.school_closed(department, [SCHOOLS[0].name])
    yield "school_closed two", texts.school_closed(department, [s.name for s in SCHOOLS[:2]])
    yield "school_closed_short", texts.school_closed_short(department)


def done_status(campaign: Campaign, school: School) -> SchoolStatus:
    return SchoolStatus(
        campaign, school, (), {s.id: answer(s, StepState.DONE) for s in campaign.steps}
    )


def constants() -> Iterator[tuple[str, str]]:
    """Every string the module holds as data: str, and the str inside dicts and tuples."""
    for name in dir(texts):
        value = getattr(texts, name)
        if name.startswith("__"):
            continue
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, dict):
            yield from ((f"{name}[{k}]", v) for k, v in value.items() if isinstance(v, str))
        elif isinstance(value, tuple | frozenset):
            yield from ((name, v) for v in value if isinstance(v, str))


ALL = [
    *rendered(ORDER_47, DepartmentConfig()),
    *rendered(NEUTRAL, ELSEWHERE),
    *constants(),
]


def literals() -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in bot/texts.py but the docstrings."""
    tree = ast.parse(TEXTS_SOURCE.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


# --- the source -------------------------------------------------------------------------------


def test_the_order_says_punkt_not_shag() -> None:
    found = [(line, text) for line, text in literals() if re.search(r"(?<!\w)шаг", text, re.I)]
    assert not found, "«пункт», as the order says (bot/TEXTS.md): " + repr(found)


def test_percents_go_through_the_helper() -> None:
    # A «%» in a literal is a strftime directive («%d.%m.%Y») or a percent typed by hand,
    # which bypasses bot.russian.percent (the comma, the no-break space, rounding down).
    found = [(line, text) for line, text in literals() if re.search(r"%(?![dmYHMSz])", text)]
    assert not found, "write percents with russian.percent_of: " + repr(found)


def test_the_department_is_never_named_in_the_code() -> None:
    found = [(line, text) for line, text in literals() if re.search(r"Управлени|УО\b", text)]
    assert not found, "the department's name comes from [department]: " + repr(found)


def test_chats_are_besedy_and_the_department_chat_is_besedа_upravleniya() -> None:
    words = r"(?<![а-яё])чат|администрации"
    found = [(line, text) for line, text in literals() if re.search(words, text, re.I)]
    assert not found, "«беседа», «беседа Управления» (bot/TEXTS.md): " + repr(found)


# Expressions that may sit alone in «»: what the bot builds itself, never a name.
SAFE_IN_QUOTES = {"example", "_answer_example(campaign)", "_answer_example(campaign, owed_steps)"}


def test_names_are_never_put_in_quotes_by_hand() -> None:
    source = TEXTS_SOURCE.read_text(encoding="utf-8")
    found = [m[1] for m in re.finditer(r"«\{([^{}]+)\}»", source) if m[1] not in SAFE_IN_QUOTES]
    assert not found, "a name may carry its own quotes: use russian.quoted() " + repr(found)


# --- every text, rendered --------------------------------------------------------------------


def quote_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "«":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "»":
            depth -= 1
    return deepest


def problems_of(text: str) -> list[str]:
    """What in `text` breaks a mechanical rule of bot/TEXTS.md."""
    problems = []
    if re.search(r"(?<!\w)шаг", text, re.I):
        problems.append("«шаг»: the order says «пункт»")
    if quote_depth(text) > 1:
        problems.append("«…» inside «…»: „…“ inside (russian.quoted)")
    for match in re.finditer(r"%(?![dmYHMSz])", text):  # not a strftime directive of a template
        before = text[: match.start()]
        if not re.search(r"\d[ \u00a0\u202f]$", before):
            problems.append("«%» without a number and a space before it (russian.percent)")
        if re.search(r"\d\.\d+[ \u00a0\u202f]$", before):
            problems.append("a decimal point: Russian takes a comma (russian.number)")
    spellings = re.findall(r"(?:VK|ВК|Vk|Вк)\s*[Мм]ессенджер|Sferum|VK Messenger", text)
    problems += [f"{s!r}: write «VK Мессенджер»" for s in spellings if s != "VK Мессенджер"]
    return problems


def test_every_text_keeps_the_rules() -> None:
    failures = [f"{what}: {p}: {text!r}" for what, text in ALL for p in problems_of(text)]
    assert not failures, "\n".join(failures[:20])
    assert len(ALL) > 900  # every text, rendered from every sample


@pytest.mark.parametrize(
    "text",
    [
        "Выполните шаг 3.1",
        "Школа «МКОУ «СОШ №1»» выполнила",
        "Выполнили 58.3 %",
        "Выполнили 58%",
        "подключено {percent}%",
        "Сферум и ВКМессенджер",
        "Sferum",
    ],
)
def test_the_rules_catch_what_they_are_for(text: str) -> None:
    assert problems_of(text)


def test_nothing_but_the_config_names_the_department() -> None:
    """With a «Комитет по образованию» in the config and in the order, no text says
    «Управление»: the department's name is never written in the code."""
    found = [(what, text) for what, text in rendered(NEUTRAL, ELSEWHERE) if "Управлени" in text]
    assert not found
    texts_with_phone = [text for what, text in rendered(NEUTRAL, ELSEWHERE) if "87231" in text]
    assert len(texts_with_phone) >= 4  # the stranger and the three code refusals


FORMS = {
    "школ": (("школа", "школы", "школ"), ("школы", "школ", "школ")),
    "человек": (("человек", "человека", "человек"), ("человека", "человек", "человек")),
    "бесед": (("беседу", "беседы", "бесед"), None),
    "д": (("день", "дня", "дней"), None),
    "час": (("час", "часа", "часов"), None),
    "минут": (("минута", "минуты", "минут"), None),
}
NUMERAL = re.compile(
    r"(?<![\w,.])(из )?(\d+(?:\u00a0\d{3})*) (школ\w*|человек\w*|бесед\w*|д(?:ень|ня|ней)|"
    r"час\w*|минут\w*)(?!\w)"
)


def test_numerals_agree_with_their_nouns() -> None:
    checked = 0
    for what, text in ALL:
        for match in NUMERAL.finditer(text):
            after_iz, digits, noun = match.groups()
            n = int(digits.replace("\u00a0", ""))
            stem = next(s for s in FORMS if noun.startswith(s))
            nominative, genitive = FORMS[stem]
            forms = genitive if after_iz and genitive else nominative
            assert noun == plural(n, *forms), f"{what}: «{match[0]}» in {text!r}"
            checked += 1
    assert checked > 300  # the check saw the counts it was written for


def test_every_number_says_what_it_counts() -> None:
    status = district(ORDER_47, 31, 7)
    text = texts.district_status(status)
    assert "Выполнили все пункты: 7 из 31 школы (22,5\u00a0%)" in text
    assert "выполнено 7, в работе 8, проблема 8, нет ответа 8" in text
    assert "педагоги: подключено 280 из 1395 (20\u00a0%)" in text
    assert "Ознакомлены с приказом: 7 из 31 человека" in text
    prompt = texts.step_prompt(ORDER_47, SCHOOLS[0], ORDER_47.steps[1])
    assert (
        "«педагоги 45 из 50, ученики 380 из 412» (45 — сколько подключено, 50 — сколько всего)"
        in prompt
    )


def test_a_reminder_says_what_is_not_yet_done_and_where_it_stands() -> None:
    owed = [("3.2", StepState.IN_PROGRESS), ("3.4", StepState.PROBLEM), ("3.5", StepState.NONE)]
    text = texts.reminder(ORDER_47, owed, at(17))
    assert "не отчитал" not in text
    assert "• 3.2 Педагоги и дети в Сферуме — в работе" in text
    assert "• 3.4 Сферум и VK Мессенджер в школе — проблема" in text
    assert "• 3.5 Отказ от иностранных мессенджеров — нет ответа" in text
    assert text.count("нет ответа") == 1
    one = texts.reminder(ORDER_47, [("3.2", StepState.IN_PROGRESS)], at(17))
    assert "Ещё не выполнен пункт 3.2 Педагоги и дети в Сферуме — в работе." in one
    # The example is one this school can use: 3.2 takes numbers, not «выполнено».
    assert "«3.2 педагоги 45 из 50, ученики 380 из 412»" in one


def test_pop_ups_and_buttons_fit_vk() -> None:
    longest = DepartmentConfig(short_name="Я" * 30)
    assert len(texts.stranger_short(longest)) <= 90
    for text in (
        texts.BAD_BUTTON,
        texts.NOT_YOUR_SCHOOL,
        texts.STAFF_NOT_A_HEAD,
        texts.CARD_SENT_PRIVATELY,
        texts.REG_NO_PENDING,
        texts.SNACK_SAVED.format(step="10.10", state="нет ответа"),
    ):
        assert len(text) <= 90, text
    for step in ORDER_47.steps:
        assert texts.step_button_label(step) == f"{step.id} {step.short_title}"  # never cut
    cut = Step(id="2.1", title="x", short_title="Очень длинное название пункта для кнопки ВК")
    assert texts.step_button_label(cut) == "2.1 Очень длинное название пункта для…"


def test_no_placeholder_is_left_unfilled() -> None:
    for what, text in [*rendered(ORDER_47, DepartmentConfig()), *rendered(NEUTRAL, ELSEWHERE)]:
        assert "{" not in text, (what, text)
        assert "}" not in text, (what, text)


def test_the_report_and_the_chart_take_their_words_from_texts() -> None:
    """Every Russian word a person reads is in bot/texts.py (STYLE.md); modules that build
    messages and reports hold none of their own."""
    modules = [
        "bot/report.py",
        "bot/chart.py",
        "bot/notify.py",
        "bot/status.py",
        "bot/outbox.py",
        "bot/flow.py",
        "bot/rules/heads.py",
        "bot/rules/base.py",
        "bot/rules/onboarding.py",
        "bot/rules/chats.py",
        "handlers/admins.py",
        "handlers/heads.py",
        "handlers/chat_events.py",
        "storage/reports.py",
    ]
    for module in modules:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and re.search("[а-яё]", node.value, re.I)
            ):
                pytest.fail(f"{module}:{node.lineno}: {node.value!r} belongs in bot/texts.py")
